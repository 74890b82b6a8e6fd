/**
 * A path-manager policy the kernel's own PM cannot express: open a second
 * path only for connections to some destination ports (say 443, where a
 * big download is worth a second path), and leave every other connection on
 * the single path it started on. The in-kernel PM applies its endpoints to
 * every connection alike.
 *
 * Use it in a stack (`params.ports` default `[443]`; the second path joins
 * from every `locals` address that is not the connection's own):
 *
 * ```ts
 * import { PathManager } from "../../mod.ts";
 *
 * new PathManager("client", {
 *   netns: "/run/netns/client",
 *   mode: "userspace",
 *   policy: { module: "/srv/policies/second_path_for_ports.ts", params: { ports: [443] } },
 *   locals: [{ address: "10.1.3.1", id: 2 }],
 * });
 * ```
 *
 * @module
 */
import type { CreatePolicy, PolicyAction } from "../../mod.ts";

/**
 * The policy's factory, as the agent loads it.
 *
 * @example
 * ```ts
 * const locals = [{ address: "10.1.3.1", id: 2 }];
 * const policy = createPolicy({ locals, params: { ports: [443] }, log: console.error });
 * ```
 */
export const createPolicy: CreatePolicy = ({ locals, params }) => {
  const ports = new Set((params.ports as number[] | undefined) ?? [443]);
  return {
    name: `second-path-for-ports(${[...ports].join(",")})`,
    onEvent(event, conn) {
      const ready = event.type === "established" || event.type === "resync" ||
        event.type === "subflow_closed";
      if (!ready || conn.serverSide || !ports.has(conn.remotePort)) return [];
      const actions: PolicyAction[] = [];
      for (const local of locals) {
        if (local.address === conn.local) continue;
        if (conn.subflows.some((s) => s.local === local.address)) continue;
        actions.push({
          kind: "create_subflow",
          local: { address: local.address, id: local.id },
          remote: { address: conn.remote, port: conn.remotePort },
        });
      }
      return actions;
    },
  };
};
