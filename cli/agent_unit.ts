/**
 * `sockform agent-unit <name>`: the systemd unit that supervises a
 * PathManager's policy agent. The unit runs the very command line `apply`
 * spawns, with the same status file, so `plan` reads the supervised agent's
 * liveness as it reads its own (see providers/path_manager/agent.ts).
 *
 * @module
 */
import type { Command } from "commander";
import { kernelStore } from "../providers/state/kernel_store.ts";
import { loadStack } from "./load_stack.ts";
import { driverContext } from "../engine/plan.ts";
import { UserError } from "../engine/errors.ts";
import { PathManager } from "../resources/path_manager.ts";
import { pathManagerDriver } from "../providers/path_manager/driver.ts";
import { agentStatusFile } from "../providers/path_manager/agent.ts";
import { agentCommandLine } from "../providers/mptcp_agent/process.ts";
import type { AgentLaunch } from "../providers/mptcp_agent/identity.ts";

/** One ExecStart word: single-quoted, with systemd's `%` and `$` expansions escaped. */
function unitWord(word: string): string {
  const escaped = word.replaceAll("\\", "\\\\").replaceAll("'", "\\'")
    .replaceAll("%", "%%").replaceAll("$", "$$$$");
  return `'${escaped}'`;
}

/**
 * The text of a systemd service unit running the agent of `launch`.
 *
 * @example The unit of a lab's client agent
 * ```ts
 * import type { AgentLaunch } from "../mod.ts";
 *
 * const launch: AgentLaunch = {
 *   kind: "path_manager", name: "client-pm", statusFile: "/run/sockform/client-pm.json", params: {},
 * };
 * console.log(agentUnit(launch, "sockform stack lab resource client-pm"));
 * ```
 */
export function agentUnit(launch: AgentLaunch, what: string): string {
  return [
    "[Unit]",
    `Description=sockform MPTCP policy agent (${what})`,
    "After=network-online.target",
    "",
    "[Service]",
    "Type=simple",
    `ExecStart=${agentCommandLine(launch).map(unitWord).join(" ")}`,
    "Restart=always",
    "RestartSec=1",
    "KillSignal=SIGTERM",
    "TimeoutStopSec=10",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}

/**
 * The CLI action: resolves resource `name` of the stack (a PathManager with a
 * policy) as `plan` would and prints its agent's unit.
 *
 * @example Printing a resource's unit
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { Command } from "commander";
 *
 * async function printUnit(cmd: Command): Promise<number> {
 *   return await agentUnitCommand("client-pm", { stack: "./stack.ts" }, cmd);
 * }
 * ```
 */
export async function agentUnitCommand(
  name: string,
  opts: Record<string, unknown>,
  cmd: Command,
): Promise<number> {
  const { stateRoot } = cmd.optsWithGlobals() as { stateRoot?: string };
  const stack = await loadStack(String(opts.stack));
  const resource = stack.resources.find((r) => r.name === name);
  if (!(resource instanceof PathManager)) {
    throw new UserError(`stack ${stack.name} has no PathManager named ${name}`);
  }
  const store = kernelStore(stateRoot);
  const stackDir = `${store.root}/${stack.name}`;
  const desired = await pathManagerDriver.resolve(driverContext(stack, stackDir), resource);
  if (!desired.agent) {
    throw new UserError(`${name} runs no agent: it needs mode: "userspace" and a policy`);
  }
  const statusFile = agentStatusFile(`${stackDir}/${name}`);
  console.log(agentUnit({ ...desired.agent.launch, statusFile }, `stack ${stack.name} ${name}`));
  return 0;
}
