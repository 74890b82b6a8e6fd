/**
 * The Scheduler's roles agent in userspace-PM mode: the launch a spec
 * resolves to (`kind: "scheduler"` with {@linkcode SchedulerAgentParams}).
 * Starting, observing and stopping it is the PathManager's agent code: an
 * agent is an agent, whatever its kind.
 *
 * @module
 */
import type { DriverContext } from "../../engine/types.ts";
import type { Scheduler } from "../../resources/scheduler.ts";
import { pathName } from "../../resources/scheduler/schema.ts";
import type { PmAgentDesired } from "../../resources/path_manager/types.ts";
import { AGENT_VERSION, type AgentLaunch, launchHash } from "../mptcp_agent/identity.ts";
import type { SchedulerAgentParams } from "../mptcp_agent/roles_spec.ts";

/**
 * The params of a Scheduler's agent: each path with its local addresses
 * (`locals[i]` for `paths[i]`, resolved from its device) and the failover rule.
 *
 * @example
 * ```ts
 * import { Scheduler } from "../../resources/scheduler.ts";
 *
 * const resource = new Scheduler("uplinks", {
 *   netns: "/run/netns/client",
 *   paths: [{ match: { dev: "veth-a" }, role: "active" }, { match: { dev: "veth-b" }, role: "backup" }],
 * });
 * rolesParams(resource, [["10.1.2.1"], ["10.1.3.1"]]); // { paths: [...], failover }
 * ```
 */
export function rolesParams(r: Scheduler, locals: string[][]): SchedulerAgentParams {
  return {
    paths: r.spec.paths.map((p, i) => ({
      name: pathName(p.match),
      locals: locals[i],
      role: p.role,
    })),
    ...(r.spec.failover ? { failover: r.spec.failover } : {}),
  };
}

/**
 * The roles agent a spec wants in userspace-PM mode; null without paths.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { DriverContext } from "../../engine/types.ts";
 * import type { Scheduler } from "../../resources/scheduler.ts";
 *
 * async function agentOf(ctx: DriverContext, resource: Scheduler, locals: string[][]) {
 *   return await resolveRolesAgent(ctx, resource, locals);
 * }
 * ```
 */
export async function resolveRolesAgent(
  ctx: DriverContext,
  r: Scheduler,
  locals: string[][],
): Promise<PmAgentDesired | null> {
  if (!r.spec.paths.length) return null;
  const params = rolesParams(r, locals);
  const launch: Omit<AgentLaunch, "statusFile"> = {
    kind: "scheduler",
    name: `${ctx.stackName}/${r.name}`,
    ...(r.spec.netns ? { netns: r.spec.netns } : {}),
    params,
  };
  const hash = await launchHash({ ...launch, statusFile: "" });
  const label = `roles ${params.paths.map((p) => `${p.name}=${p.role}`).join(", ")}` +
    (params.failover ? `, failover to ${params.failover.promote}` : "");
  return {
    launch,
    hash,
    version: AGENT_VERSION,
    label,
    policyKey: "scheduler-roles",
    startField: "paths",
  };
}
