import assert from "node:assert/strict";
import { buildCli } from "./commands.ts";
import { TARGET_WARNING, terraformFlags } from "./target.ts";

Deno.test("target: -target and -target= are read as --target, repeatable", () => {
  const args = terraformFlags(["plan", "-target", "A.a", "-target=B.b", "--target", "C.c"]);
  assert.deepEqual(args, ["plan", "--target", "A.a", "--target=B.b", "--target", "C.c"]);
  const cli = buildCli();
  const planCmd = cli.commands.find((c) => c.name() === "plan")!;
  planCmd.action(() => {});
  cli.parse(args, { from: "user" });
  assert.deepEqual(planCmd.opts().target, ["A.a", "B.b", "C.c"]);
});

Deno.test("target: Terraform's warning heading", () => {
  assert.match(TARGET_WARNING, /^Warning: Resource targeting is in effect\n/);
});
