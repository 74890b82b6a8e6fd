/**
 * The `path_manager` agent's handler: the policy named in the launch's
 * {@linkcode PathManagerAgentParams}, run by a {@linkcode PolicyRunner} that
 * sends userspace-PM commands in the agent's netns.
 *
 * @module
 */
import type { AgentLaunch } from "./identity.ts";
import { loadPolicy } from "./load_policy.ts";
import { PmCommands } from "./pm_commands.ts";
import type { PathManagerAgentParams } from "./policy_spec.ts";
import { PolicyRunner } from "./runner.ts";

/**
 * Loads the launch's policy and opens the command socket; `close()` releases it.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { AgentLaunch } from "./identity.ts";
 *
 * async function handlerFor(launch: AgentLaunch) {
 *   const { handler, close } = await pathManagerHandler(launch, console.error);
 *   return { handler, close };
 * }
 * ```
 */
export async function pathManagerHandler(
  launch: AgentLaunch,
  log: (message: string) => void,
): Promise<{ handler: PolicyRunner; close(): void }> {
  const params = launch.params as PathManagerAgentParams;
  const policy = await loadPolicy(params, launch.netns, log);
  const pm = PmCommands.open(launch.netns);
  log(`agent ${launch.name}: serving policy ${policy.name}`);
  return { handler: new PolicyRunner(policy, pm, log), close: () => pm.close() };
}
