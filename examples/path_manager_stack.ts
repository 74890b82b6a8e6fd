/**
 * Example stack for the two-path lab: the client gets a subflow endpoint on
 * its second path, and both sides allow the extra subflow. Apply it with
 * `SOCKFORM_LAB_CLIENT=/run/netns/C SOCKFORM_LAB_SERVER=/run/netns/S
 * deno run -A main.ts apply -s examples/path_manager_stack.ts`.
 *
 * @module
 */
import { PathManager, Stack } from "../mod.ts";
import { LAB_PATHS } from "../lab/two_path_lab.ts";

/**
 * The MPTCP lab stack: a connection from the client over path A (veth-a)
 * adds a second subflow from the client's path-B address (veth-b).
 *
 * @example Building it for a lab from setupTwoPathLab()
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { TwoPathLab } from "../lab/two_path_lab.ts";
 *
 * function labStack(lab: TwoPathLab) {
 *   return mptcpLabStack(lab.client.path, lab.server.path);
 * }
 * ```
 */
export function mptcpLabStack(clientNetns: string, serverNetns: string, name = "mptcp-lab"): Stack {
  const pathB = LAB_PATHS[1];
  return new Stack(name, [
    new PathManager("client", {
      netns: clientNetns,
      mode: "kernel",
      limits: { subflows: 2, addAddrAccepted: 2 },
      endpoints: [{ address: pathB.clientAddress, dev: pathB.dev, flags: ["subflow"] }],
      sysctls: { enabled: true },
    }),
    new PathManager("server", {
      netns: serverNetns,
      mode: "kernel",
      // The server accepts the joining subflow; it announces nothing itself.
      limits: { subflows: 2, addAddrAccepted: 0 },
      sysctls: { enabled: true },
    }),
  ]);
}

export default mptcpLabStack(
  Deno.env.get("SOCKFORM_LAB_CLIENT") ?? "/run/netns/sockform-lab-client",
  Deno.env.get("SOCKFORM_LAB_SERVER") ?? "/run/netns/sockform-lab-server",
);
