// Five problems in two resources, for cli/load_stack_test.ts: three in "tune"
// (two fields and a dangling dependsOn), two in "web".
import { SocketLookupRedirect, Stack, TcpTuning } from "../../mod.ts";

export default new Stack("five", [
  new TcpTuning("tune", { cgroup: "relative/path", rules: [{ set: { synRtoMs: -1 } }] }, {
    dependsOn: ["ghost"],
  }),
  new SocketLookupRedirect("web", {
    // deno-lint-ignore no-explicit-any
    bindings: [{ protocol: "sctp" as any, prefix: "192.0.2.0/24", ports: 80, to: "a" }],
    // deno-lint-ignore no-explicit-any
    destinations: { a: { listener: 7 as any } },
  }),
]);
