// A valid stack, for cli/load_stack_test.ts.
import { Stack, TcpTuning } from "../../mod.ts";

export default new Stack("good", [
  new TcpTuning("tune", { cgroup: "/sys/fs/cgroup/x", rules: [{ set: { noDelay: true } }] }),
]);
