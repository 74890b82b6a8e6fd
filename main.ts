/**
 * The sockform CLI: `deno run -A main.ts plan|apply|destroy|show|validate|demo`.
 *
 * @module
 */
import { buildCli } from "./cli/commands.ts";
import { terraformFlags } from "./cli/target.ts";

if (import.meta.main) {
  const demo = async () => (await import("./examples/demo.ts")).runDemo();
  await buildCli(demo).parseAsync(terraformFlags(Deno.args), { from: "user" });
}
