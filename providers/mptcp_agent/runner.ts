/**
 * The policy runner: an {@linkcode AgentHandler} that folds the core's
 * signals into per-connection views, asks the policy what each connection
 * wants, and sends those actions as userspace-PM commands with the token.
 *
 * - An event goes to the policy with the view of its connection; a
 *   `resync` rebuilds every view from the kernel's snapshot and hands each
 *   live connection to the policy once (event `resync`), so an idempotent
 *   policy brings every connection to what it wants after a start or an
 *   overflow.
 * - A policy that throws, or a command the kernel refuses, is logged and
 *   counted for that connection only; the others are served on.
 * - `tick` (called by the agent loop about once a second) drops pending
 *   creates the kernel never answered (the answer may have been lost in an
 *   overflow) and hands their connections to the policy again as `resync`,
 *   and calls the policy's `onTick` for each connection when its `tickMs`
 *   has passed.
 *
 * @module
 */
import type { AgentSignal } from "./core.ts";
import { tokenHex } from "./events.ts";
import { ConnectionViews } from "./connection_views.ts";
import type { ConnectionView, Policy, PolicyAction } from "./policy.ts";
import type { PmCommands } from "./pm_commands.ts";

/** The runner's counters, written to the status file next to the core's. */
export interface RunnerCounters {
  /** Actions the kernel accepted, per kind. */
  actions: Record<PolicyAction["kind"], number>;
  /** Actions the kernel refused. */
  actionErrors: number;
  /** Calls into the policy that threw. */
  policyErrors: number;
  /** Connections the runner tracks now. */
  connections: number;
}

/** Where the runner sends commands: {@linkcode PmCommands} in the agent. */
export type PmSender = Pick<
  PmCommands,
  "subflowCreate" | "subflowDestroy" | "announce" | "remove" | "setBackup"
>;

/** Sends one action with the connection's token. */
export function sendAction(pm: PmSender, token: number, a: PolicyAction): void {
  switch (a.kind) {
    case "create_subflow":
      return pm.subflowCreate(token, a.local, a.remote);
    case "destroy_subflow":
      return pm.subflowDestroy(token, a.local, a.remote);
    case "announce":
      return pm.announce(token, a.local);
    case "remove":
      return pm.remove(token, a.id);
    case "set_backup":
      return pm.setBackup(token, a.local, a.remote, a.backup);
  }
}

const DEFAULT_TICK_MS = 1000;

/**
 * Runs a policy over the agent's signals.
 *
 * @example Serving a policy in-process (tests, or an embedding program)
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { AgentLaunch } from "./identity.ts";
 * import { PmCommands } from "./pm_commands.ts";
 * import { ndiffports } from "./builtins.ts";
 * import { serveAgent } from "./agent_main.ts";
 *
 * async function serveNdiffports(launch: AgentLaunch, netns: string): Promise<void> {
 *   using pm = PmCommands.open(netns);
 *   const runner = new PolicyRunner(ndiffports({ locals: [], params: { subflows: 3 }, log: console.error }), pm);
 *   await serveAgent(launch, runner);
 * }
 * ```
 */
export class PolicyRunner {
  readonly #policy: Policy;
  readonly #pm: PmSender;
  readonly #log: (message: string) => void;
  readonly #views = new ConnectionViews();
  #lastTick = 0;
  readonly #counters: RunnerCounters = {
    actions: { create_subflow: 0, destroy_subflow: 0, announce: 0, remove: 0, set_backup: 0 },
    actionErrors: 0,
    policyErrors: 0,
    connections: 0,
  };

  constructor(policy: Policy, pm: PmSender, log: (message: string) => void = console.error) {
    this.#policy = policy;
    this.#pm = pm;
    this.#log = log;
  }

  /** The live connections as the runner sees them. */
  get connections(): ReadonlyMap<number, ConnectionView> {
    return this.#views.views;
  }

  /** A copy of the counters. */
  counters(): RunnerCounters {
    return structuredClone({ ...this.#counters, connections: this.#views.views.size });
  }

  /** {@linkcode AgentHandler.handle}. */
  handle(signal: AgentSignal): void {
    if (signal.kind === "resync") {
      for (const view of this.#views.resync(signal.snapshot)) {
        this.#serve(view, (p) => p.onEvent({ type: "resync" }, view));
      }
      return;
    }
    const hit = this.#views.apply(signal.event);
    if (!hit || hit.event.type === "closed") {
      if (hit) this.#call(hit.view, (p) => p.onEvent(hit.event, hit.view));
      return;
    }
    this.#serve(hit.view, (p) => p.onEvent(hit.event, hit.view));
  }

  /**
   * {@linkcode AgentHandler.tick}: stale pending creates out (their
   * connections go to the policy again as `resync`), `onTick` when due. A
   * create is stale when no answer came within `PENDING_CREATE_MS` (5 s) of
   * it *as of `caughtUpAt`*, the last time every queued event was read:
   * an agent behind a backlog has not seen its answers yet, and re-asking
   * then would open one subflow too many.
   */
  tick(caughtUpAt = Date.now(), now = Date.now()): void {
    for (const view of this.#views.expirePending(caughtUpAt)) {
      this.#serve(view, (p) => p.onEvent({ type: "resync" }, view));
    }
    const onTick = this.#policy.onTick;
    if (!onTick || now - this.#lastTick < (this.#policy.tickMs ?? DEFAULT_TICK_MS)) return;
    this.#lastTick = now;
    for (const view of [...this.#views.views.values()]) {
      this.#serve(view, (p) => onTick.call(p, view));
    }
  }

  #call(view: ConnectionView, ask: (p: Policy) => PolicyAction[] | void): PolicyAction[] {
    try {
      return ask(this.#policy) ?? [];
    } catch (err) {
      this.#counters.policyErrors++;
      const message = err instanceof Error ? err.message : String(err);
      this.#log(`policy ${this.#policy.name} threw on ${tokenHex(view.token)}: ${message}`);
      return [];
    }
  }

  #serve(view: ConnectionView, ask: (p: Policy) => PolicyAction[] | void): void {
    for (const action of this.#call(view, ask)) {
      try {
        sendAction(this.#pm, view.token, action);
        this.#counters.actions[action.kind]++;
        this.#views.record(view.token, action);
      } catch (err) {
        this.#counters.actionErrors++;
        this.#log(`${action.kind}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }
}
