// A duplicate name, a one-per-cgroup rule and a bad spec, for cli/load_stack_test.ts.
import { SocketLookupRedirect, Stack, TcpTuning } from "../../mod.ts";

const rules = [{ set: { noDelay: true } }];
export default new Stack("dup", [
  new TcpTuning("a", { cgroup: "/sys/fs/cgroup/x", rules }),
  new TcpTuning("b", { cgroup: "/sys/fs/cgroup/x", rules }),
  new TcpTuning("a", { cgroup: "/sys/fs/cgroup/y", rules }),
  // deno-lint-ignore no-explicit-any
  new SocketLookupRedirect("web", { bindings: [], destinations: 3 as any }),
]);
