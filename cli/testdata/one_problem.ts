// One bad field, for cli/load_stack_test.ts.
import { Stack, TcpTuning } from "../../mod.ts";

export default new Stack("one", [new TcpTuning("tune", { cgroup: "x", rules: [] })]);
