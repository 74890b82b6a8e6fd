/**
 * The `scheduler` agent's handler: subflow roles per path, kept with the
 * userspace PM's SET_FLAGS, and the failover rule that flips them from live
 * subflow state ({@linkcode SchedulerAgentParams}).
 *
 * - **Static roles.** A subflow whose local address is on a declared path
 *   gets that path's role: at its SUB_ESTABLISHED (or the connection's
 *   ESTABLISHED for the initial subflow), at every resync (start, overflow,
 *   reload), and at every sample. SET_FLAGS goes out only when the kernel's
 *   local backup flag differs from the wanted one, so nothing flaps; a
 *   refused command is retried after {@linkcode RETRY_AFTER_MS}, not at
 *   every sample.
 * - **The kernel is the truth.** Each tick dumps the subflows with their
 *   `tcp_info` (one sock_diag walk, as `ss -ti`) and takes each one's local
 *   backup flag from it: a flag flipped by hand, or a subflow whose event was
 *   lost, is corrected at the next sample. The side that sends SET_FLAGS gets
 *   no SUB_PRIORITY event, so the dump is the only way to see the flag.
 * - **Failover.** With a rule, ticks come every {@linkcode FAILOVER_SAMPLE_MS}
 *   and each sample is judged ({@linkcode FailoverState}); a flip is logged
 *   with its reason, counted, and applied at once to every subflow of the
 *   promoted path and of the failed paths it demotes (held down, then back
 *   on probation).
 *
 * @module
 */
import type { AgentSignal } from "./core.ts";
import type { AgentHandler } from "./agent_main.ts";
import type { AgentLaunch } from "./identity.ts";
import { PmCommands } from "./pm_commands.ts";
import type { DiagSubflow } from "./diag_codec.ts";
import type { MptcpEvent } from "./events.ts";
import {
  dumpLiveSubflows,
  type LiveSubflow,
  subflowKey,
  type SubflowTcpInfo,
} from "./roles_diag.ts";
import {
  FailoverState,
  judgeSubflow,
  type PathHealth,
  pathHealth,
  type SubflowVerdict,
} from "./roles_health.ts";
import type {
  FailoverPhase,
  FailoverWhen,
  RolePath,
  SchedulerAgentParams,
  SubflowRole,
} from "./roles_spec.ts";

/** How often the failover rule samples subflow state. */
export const FAILOVER_SAMPLE_MS = 250;
/** How often roles alone are checked against the kernel. */
export const ROLES_SAMPLE_MS = 1000;
/** A subflow whose SET_FLAGS the kernel refused is not asked again before this. */
export const RETRY_AFTER_MS = 5000;

/** One path as the status file shows it. */
export interface PathStatus {
  /** The role the stack declared. */
  declared: SubflowRole;
  /** The role its subflows get now (the declared one unless the rule promoted it). */
  effective: SubflowRole;
  /** Subflows on it now. */
  subflows: number;
  /** The last sample's worst RTT, ms (with a failover rule). */
  rttMs?: number;
  /** The last sample's worst loss (with a failover rule). */
  loss?: number;
  /** The last sample's send rate, bytes/s, over its busy subflows (with a failover rule; absent when none was busy). */
  sendRate?: number;
  /** Whether the last sample found the path failing (with a failover rule). */
  failing?: boolean;
}

/**
 * The handler's counters, written to the status file as `handlerCounters`.
 * They count from the handler's start: a reload (SIGHUP) builds a new
 * handler, so they start again from 0 (the rule starts unpromoted).
 */
export interface RolesCounters {
  /** SET_FLAGS the kernel accepted. */
  flagsSet: number;
  /** SET_FLAGS the kernel refused. */
  flagErrors: number;
  /** Failover flips (promotions, and returns to the declared roles on probation). */
  flips: number;
  /** Subflows on declared paths, as last seen. */
  subflows: number;
  /** The last flip: when (`Date.now()`), which way, and why. */
  lastFlip?: { at: number; to: "promoted" | "declared"; reason: string };
  /** Each declared path by name. */
  paths: Record<string, PathStatus>;
  /** With a failover rule: its phase, and the hold-down a failure starts now (doubled by re-failures on probation). */
  failover?: { phase: FailoverPhase; holdMs: number };
}

/** Where SET_FLAGS goes: {@linkcode PmCommands} in the agent. */
export type BackupSender = Pick<PmCommands, "setBackup">;

interface Tracked {
  sf: Pick<DiagSubflow, "token" | "local" | "localPort" | "remote" | "remotePort">;
  path: RolePath;
  /** The kernel's local backup flag as last known (undefined: a new subflow, not sampled yet). */
  backup?: boolean;
  /** The last sample's `tcp_info`, and the one before (the rule judges the change). */
  tcp?: SubflowTcpInfo;
  prevTcp?: SubflowTcpInfo;
  refusedAt?: number;
}

/**
 * Keeps every subflow's backup flag on its path's (effective) role.
 *
 * @example Serving roles in-process
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { AgentLaunch } from "./identity.ts";
 * import type { SchedulerAgentParams } from "./roles_spec.ts";
 * import { PmCommands } from "./pm_commands.ts";
 * import { serveAgent } from "./agent_main.ts";
 *
 * async function serveRoles(launch: AgentLaunch, netns: string): Promise<void> {
 *   using pm = PmCommands.open(netns);
 *   await serveAgent(launch, new RolesHandler(launch.params as SchedulerAgentParams, pm, netns));
 * }
 * ```
 */
export class RolesHandler implements AgentHandler {
  /** How often the agent loop should call {@linkcode RolesHandler.tick}. */
  readonly tickMs: number;
  readonly #paths: readonly RolePath[];
  readonly #byAddress = new Map<string, RolePath>();
  readonly #pm: BackupSender;
  readonly #netns: string | undefined;
  readonly #log: (message: string) => void;
  readonly #failover: FailoverState | undefined;
  readonly #promote: string | undefined;
  readonly #when: FailoverWhen | undefined;
  readonly #tracked = new Map<string, Tracked>();
  #healths: PathHealth[] = [];
  /** When the previous sample was taken (the send rate's window). */
  #sampledAt: number | undefined;
  readonly #counters: Omit<RolesCounters, "paths" | "subflows" | "failover"> = {
    flagsSet: 0,
    flagErrors: 0,
    flips: 0,
  };

  /** `tickMs` follows from whether there is a failover rule. */
  constructor(
    params: SchedulerAgentParams,
    pm: BackupSender,
    netns: string | undefined,
    log: (message: string) => void = console.error,
  ) {
    this.#paths = params.paths;
    for (const p of params.paths) for (const a of p.locals) this.#byAddress.set(a, p);
    this.#pm = pm;
    this.#netns = netns;
    this.#log = log;
    this.#promote = params.failover?.promote;
    this.#when = params.failover?.when;
    this.#failover = params.failover && new FailoverState(params.failover, params.paths);
    this.tickMs = this.#failover ? FAILOVER_SAMPLE_MS : ROLES_SAMPLE_MS;
  }

  /** The role a path's subflows get now: the declared one, unless the rule promoted it or demoted it. */
  effectiveRole(path: RolePath): SubflowRole {
    if (!this.#failover?.promoted) return path.role;
    if (path.name === this.#promote) return "active";
    return this.#failover.demoted(path.name) ? "backup" : path.role;
  }

  /** {@linkcode AgentHandler.handle}: tracks subflows and gives new ones their role. */
  handle(signal: AgentSignal): void {
    if (signal.kind === "resync") {
      const { connections, orphanSubflows } = signal.snapshot;
      const all = [...connections.values()].flatMap((c) => c.subflows).concat(orphanSubflows);
      this.#adoptAll(all);
      return this.#reconcile();
    }
    const e = signal.event;
    if (e.token === undefined) return;
    if (e.type === "CLOSED") {
      for (const [key, t] of this.#tracked) if (t.sf.token === e.token) this.#tracked.delete(key);
    } else if (e.type === "SUB_CLOSED") this.#tracked.delete(subflowKey(endsOf(e)));
    else if (e.type === "ESTABLISHED" || e.type === "SUB_ESTABLISHED") {
      const t = this.#track(endsOf(e));
      if (t) this.#ensure(t, Date.now());
    }
  }

  /** {@linkcode AgentHandler.tick}: one sample of the kernel; the rule judges it; roles follow. */
  tick(now = Date.now()): void {
    const live = dumpLiveSubflows(this.#netns);
    this.#adoptAll(live);
    if (this.#failover && this.#when) this.#judge(this.#failover, this.#when, now);
    this.#reconcile(now);
  }

  /** {@linkcode AgentHandler.counters}. */
  counters(): RolesCounters {
    const paths: Record<string, PathStatus> = {};
    for (const p of this.#paths) {
      const h = this.#healths.find((x) => x.name === p.name);
      const subflows = [...this.#tracked.values()].filter((t) => t.path === p).length;
      paths[p.name] = { declared: p.role, effective: this.effectiveRole(p), subflows };
      if (h) {
        const { rttMs, loss, sendRate, failing } = h;
        Object.assign(paths[p.name], { rttMs, loss, failing });
        if (sendRate !== undefined) paths[p.name].sendRate = sendRate;
      }
    }
    const failover = this.#failover &&
      { phase: this.#failover.phase, holdMs: this.#failover.holdMs };
    return structuredClone({ ...this.#counters, subflows: this.#tracked.size, paths, failover });
  }

  /** Replaces the tracked set with the kernel's list, keeping each subflow's previous sample. */
  #adoptAll(subflows: readonly (DiagSubflow | LiveSubflow)[]): void {
    const seen = new Set<string>();
    for (const s of subflows) {
      const t = this.#track(s);
      if (!t) continue;
      seen.add(subflowKey(s));
      t.backup = s.backupLocal;
      if ("tcp" in s && s.tcp) t.prevTcp = t.tcp, t.tcp = s.tcp;
    }
    for (const key of this.#tracked.keys()) if (!seen.has(key)) this.#tracked.delete(key);
  }

  #track(sf: Tracked["sf"]): Tracked | undefined {
    const path = this.#byAddress.get(sf.local);
    if (!path) return undefined;
    const key = subflowKey(sf);
    const known = this.#tracked.get(key);
    if (known) return known;
    const t: Tracked = { sf, path };
    this.#tracked.set(key, t);
    return t;
  }

  /** Judges the sample against the previous one and applies a flip the rule decides. */
  #judge(failover: FailoverState, when: FailoverWhen, now: number): void {
    const verdicts = new Map(this.#paths.map((p) => [p.name, [] as SubflowVerdict[]]));
    const elapsed = now - (this.#sampledAt ?? now);
    this.#sampledAt = now;
    for (const t of this.#tracked.values()) {
      if (t.tcp) verdicts.get(t.path.name)!.push(judgeSubflow(t.prevTcp, t.tcp, when, elapsed));
    }
    this.#healths = [...verdicts].map(([name, v]) => pathHealth(name, v, when));
    const flip = failover.step(this.#healths, now);
    if (!flip) return;
    this.#counters.flips++;
    this.#counters.lastFlip = { at: now, ...flip };
    this.#log(`failover: ${flip.to}: ${flip.reason}`);
  }

  #reconcile(now = Date.now()): void {
    for (const t of this.#tracked.values()) this.#ensure(t, now);
  }

  /** SET_FLAGS when the kernel's flag (a new subflow: active) differs from the role's. */
  #ensure(t: Tracked, now: number): void {
    const want = this.effectiveRole(t.path) === "backup";
    if ((t.backup ?? false) === want) return;
    if (t.refusedAt !== undefined && now - t.refusedAt < RETRY_AFTER_MS) return;
    const { token, local, localPort, remote, remotePort } = t.sf;
    try {
      this.#pm.setBackup(token, { address: local, port: localPort }, {
        address: remote,
        port: remotePort,
      }, want);
      t.backup = want;
      t.refusedAt = undefined;
      this.#counters.flagsSet++;
    } catch (err) {
      t.refusedAt = now;
      this.#counters.flagErrors++;
      this.#log(
        `set ${t.path.name} ${want ? "backup" : "active"} on ${subflowKey(t.sf)}: ${
          err instanceof Error ? err.message : String(err)
        }`,
      );
    }
  }
}

function endsOf(e: MptcpEvent): Tracked["sf"] {
  return {
    token: e.token!,
    local: e.saddr ?? "",
    localPort: e.sport ?? 0,
    remote: e.daddr ?? "",
    remotePort: e.dport ?? 0,
  };
}

/**
 * Builds the `scheduler` agent's handler from its launch and opens the
 * command socket; `close()` releases it.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { AgentLaunch } from "./identity.ts";
 *
 * function handlerFor(launch: AgentLaunch) {
 *   const { handler, close } = schedulerHandler(launch, console.error);
 *   return { handler, close };
 * }
 * ```
 */
export function schedulerHandler(
  launch: AgentLaunch,
  log: (message: string) => void,
): { handler: RolesHandler; close(): void } {
  const params = launch.params as SchedulerAgentParams;
  const promote = params.failover?.promote;
  if (promote !== undefined && !params.paths.some((p) => p.name === promote)) {
    throw new RangeError(`failover.promote: no declared path is named ${JSON.stringify(promote)}`);
  }
  const pm = PmCommands.open(launch.netns);
  const paths = params.paths.map((p) => `${p.name} ${p.role}`).join(", ");
  log(
    `agent ${launch.name}: roles ${paths}${
      params.failover ? `, failover to ${params.failover.promote}` : ""
    }`,
  );
  return { handler: new RolesHandler(params, pm, launch.netns, log), close: () => pm.close() };
}
