/**
 * Example stack for the two-path lab with a programmable path manager: the
 * client's netns runs the userspace PM, and a sockform agent opens three
 * subflows per connection (ndiffports) from its path-A address. The server
 * keeps the in-kernel PM and accepts the joins. Apply it with
 * `SOCKFORM_LAB_CLIENT=/run/netns/C SOCKFORM_LAB_SERVER=/run/netns/S
 * deno run -A main.ts apply -s examples/programmable_pm_stack.ts`; supervise
 * the agent with `deno run -A main.ts agent-unit client -s examples/programmable_pm_stack.ts`.
 *
 * @module
 */
import { PathManager, Stack } from "../mod.ts";
import { LAB_PATHS } from "../lab/two_path_lab.ts";

/**
 * The lab stack: ndiffports(3) on the client, joins accepted by the server.
 * Swap the policy for `{ builtin: "fullmesh" }` (with both paths in
 * `locals`) or `{ module: "./policies/mine.ts", params: { … } }`, a path
 * relative to this file.
 *
 * @example Building it for a lab from setupTwoPathLab()
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { TwoPathLab } from "../lab/two_path_lab.ts";
 *
 * function labStack(lab: TwoPathLab) {
 *   return programmablePmStack(lab.client.path, lab.server.path);
 * }
 * ```
 */
export function programmablePmStack(
  clientNetns: string,
  serverNetns: string,
  name = "mptcp-agent-lab",
): Stack {
  const [pathA, pathB] = LAB_PATHS;
  return new Stack(name, [
    new PathManager("client", {
      netns: clientNetns,
      mode: "userspace",
      policy: { builtin: "ndiffports", subflows: 3 },
      locals: [
        { address: pathA.clientAddress, id: 1, dev: pathA.dev },
        { address: pathB.clientAddress, id: 2, dev: pathB.dev, backup: true },
      ],
      sysctls: { enabled: true },
    }),
    new PathManager("server", {
      netns: serverNetns,
      mode: "kernel",
      limits: { subflows: 8, addAddrAccepted: 0 },
      sysctls: { enabled: true },
    }),
  ]);
}

export default programmablePmStack(
  Deno.env.get("SOCKFORM_LAB_CLIENT") ?? "/run/netns/sockform-lab-client",
  Deno.env.get("SOCKFORM_LAB_SERVER") ?? "/run/netns/sockform-lab-server",
);
