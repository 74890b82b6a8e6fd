/**
 * The two-path lab for kernel tests. The code lives in
 * providers/lab/two_path_lab.ts because the demo and the benchmark build the
 * same lab; tests import it from here.
 *
 * @module
 */
export {
  LAB_PATHS,
  type LabPath,
  setupTwoPathLab,
  type TwoPathLab,
  type TwoPathLabOptions,
} from "../../providers/lab/two_path_lab.ts";
export {
  runTransfer,
  startIperfServer,
  type SubflowSample,
  type TransferOptions,
  type TransferResult,
} from "../../providers/lab/mptcp_transfer.ts";
export {
  groupByConnection,
  listSubflows,
  readInterfaceCounters,
  type SubflowStat,
} from "../../providers/lab/subflows.ts";
