/**
 * The MPTCP agent core, shared by the programmable PathManager (userspace PM,
 * issue 10) and the Scheduler's subflow roles (issue 14). Neither kind is
 * wired to it here; this folder is the part both need.
 *
 * ## Pieces
 * - `events.ts`: the `mptcp_pm_events` vocabulary and a pure decoder into
 *   typed {@linkcode MptcpEvent}s (CREATED … LISTENER_CLOSED; token, family,
 *   addresses, ports, ids, backup, if_idx, error).
 * - `event_socket.ts`: the listener. `SO_RCVBUFFORCE` (8 MB default), never
 *   `NETLINK_NO_ENOBUFS`, ENOBUFS counted as an overflow. It waits with a
 *   `nonblocking: true` poll(2) (Deno's blocking pool, a Promise to the event
 *   loop) and drains with `recvfrom(MSG_DONTWAIT)` on the JS thread, where
 *   the socket was created inside the netns and where errno is readable. A
 *   Worker was not needed: draining never waits, so only the wait has to
 *   leave the JS thread.
 * - `snapshot.ts` / `diag_codec.ts`: the resync source. sock_diag dumps as
 *   `ss -M` does (IPPROTO_MPTCP through `INET_DIAG_REQ_PROTOCOL`, the token in
 *   `struct mptcp_info`) and subflows from the TCP dump's
 *   `INET_DIAG_ULP_INFO` (local token, ids, backup bits), joined by token.
 * - `core.ts`: {@linkcode MptcpAgentCore}, a pull-based stream of signals:
 *   events, and `resync` snapshots at start and after every overflow (the
 *   socket is emptied first, so the view rebuilt from a snapshot and the
 *   events after it converges to the kernel's). `counters.ts` counts events
 *   per type, overflows, resyncs and handler errors for `show`.
 * - `identity.ts`, `status.ts`, `process.ts`, `agent_main.ts`: the agent
 *   process. {@linkcode startAgent} runs `deno run agent_main.ts` detached;
 *   the agent writes a status file (pid, `/proc` start time, version, params
 *   hash, counters, heartbeat). {@linkcode agentHealth} reads dead (gone,
 *   zombie or pid reused), failed, stuck (no heartbeat), outdated (version or
 *   params hash) from `/proc` and that file; {@linkcode stopAgent} sends
 *   SIGTERM, then SIGKILL, each wait bounded.
 *
 * - `pm_commands.ts`: the userspace-PM command sender (SUBFLOW_CREATE,
 *   SUBFLOW_DESTROY, ANNOUNCE, REMOVE, SET_FLAGS with the token).
 * - `policy.ts` (the public policy API, exported from the repo's `mod.ts`),
 *   `connection_views.ts` (per-connection views), `runner.ts`
 *   ({@linkcode PolicyRunner}, the `path_manager` handler), `builtins.ts`
 *   (ndiffports, fullmesh), `load_policy.ts` (builtin or module by path),
 *   `path_manager_agent.ts` (what `agent_main.ts` runs for that kind). The
 *   agent logs to the file next to its status file ({@linkcode agentLogPath}).
 * - `roles_spec.ts` (what a Scheduler hands its agent), `roles.ts`
 *   ({@linkcode RolesHandler}, the `scheduler` handler), `roles_health.ts`
 *   (the failover rule's judgement), `roles_diag.ts` (subflows with their
 *   `tcp_info` from one sock_diag dump).
 *
 * ## How the kinds will use it
 * - **PathManager, client side**: an {@linkcode AgentHandler} keeps per
 *   connection state from the signals and answers ESTABLISHED (and ANNOUNCED,
 *   SUB_CLOSED) with `SUBFLOW_CREATE` (token + local address/id + remote
 *   address/port), `SUBFLOW_DESTROY` for a subflow its policy refuses, and
 *   `SET_FLAGS` for a backup flip. On `resync` it compares each snapshot
 *   connection's subflows with what the policy wants and issues only the
 *   difference; a CLOSED or SUB_CLOSED for an unknown token is a no-op.
 * - **PathManager, server side**: the same handler answers CREATED /
 *   ESTABLISHED with `ANNOUNCE` (the address needs the `signal` flag) and
 *   withdraws with `REMOVE`; a resync re-announces to connections that lack
 *   the announcement.
 * - **Scheduler roles**: the handler tracks subflows (SUB_ESTABLISHED /
 *   SUB_CLOSED, or the snapshot) and applies each path's role with
 *   `SET_FLAGS` (token + the subflow's local and remote address and port,
 *   backup bit). The sender of SET_FLAGS gets no SUB_PRIORITY, so it trusts
 *   the snapshot's `backupLocal` after a resync. Dynamic roles read live
 *   state (RTT, retransmits) from sock_diag on a timer between signals.
 * - **Both**: `apply` calls {@linkcode startAgent} with an {@linkcode AgentLaunch}
 *   (kind, netns, params) and records the returned identity in the resource
 *   metadata; `plan` calls {@linkcode agentHealth} with the desired launch
 *   and reports anything but `running` as drift; `destroy` calls
 *   {@linkcode stopAgent}; `show` reads {@linkcode readAgentStatus} counters.
 *   New params for the same policy reach a running agent without a restart:
 *   {@linkcode reloadAgent} rewrites its launch file and sends SIGHUP, and the
 *   agent reports the new hash; another policy reads as outdated and `apply`
 *   restarts it. The PathManager wiring is `providers/path_manager/agent.ts`.
 *
 * @example Counting the events of a netns, resyncing on loss
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * async function watch(): Promise<void> {
 *   await using core = MptcpAgentCore.open({ netns: "/run/netns/client" });
 *   for await (const s of core) {
 *     if (s.kind === "resync") console.log(s.reason, s.snapshot.connections.size);
 *     else console.log(s.event.type, s.event.token);
 *   }
 * }
 * ```
 *
 * @module
 */
export {
  type AgentCoreOptions,
  type AgentSignal,
  MptcpAgentCore,
  type ResyncReason,
} from "./core.ts";
export { type AgentCounters, totalEvents } from "./counters.ts";
export {
  DEFAULT_RECEIVE_BUFFER_BYTES,
  type EventBatch,
  type EventSocketOptions,
  MptcpEventSocket,
} from "./event_socket.ts";
export {
  decodeMptcpEvent,
  MPTCP_EVENT,
  type MptcpEvent,
  type MptcpEventType,
  tokenHex,
} from "./events.ts";
export {
  type DiagConnection,
  type DiagSubflow,
  dumpMptcpConnections,
  dumpMptcpSubflows,
  type MptcpConnection,
  type MptcpSnapshot,
  takeSnapshot,
} from "./snapshot.ts";
export {
  AGENT_VERSION,
  type AgentIdentity,
  type AgentKind,
  type AgentLaunch,
  launchHash,
  processAlive,
} from "./identity.ts";
export { type AgentStatus, readAgentStatus } from "./status.ts";
export {
  type AgentHealth,
  agentHealth,
  AgentStartError,
  reloadAgent,
  startAgent,
  stopAgent,
} from "./process.ts";
export { type AgentHandler, runAgent, serveAgent, type ServeOptions } from "./agent_main.ts";
export { agentLogPath } from "./status.ts";
export { PM_COMMAND, type PmAddress, type PmCommandName, PmCommands } from "./pm_commands.ts";
export * from "./policy.ts";
export { builtinPolicy, fullmesh, ndiffports } from "./builtins.ts";
export { loadPolicy, PolicyLoadError } from "./load_policy.ts";
export { type PmSender, PolicyRunner, type RunnerCounters, sendAction } from "./runner.ts";
export { ConnectionViews, PENDING_CREATE_MS } from "./connection_views.ts";
export { pathManagerHandler } from "./path_manager_agent.ts";
export {
  type BackupSender,
  type PathStatus,
  type RolesCounters,
  RolesHandler,
  schedulerHandler,
} from "./roles.ts";
export * from "./roles_spec.ts";
