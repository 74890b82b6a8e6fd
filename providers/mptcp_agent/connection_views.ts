/**
 * The runner's per-connection views: built from events, rebuilt from a
 * resync snapshot, and updated with the actions the runner sent, so the
 * policy sees pending creates and its own announcements. Pure bookkeeping,
 * no I/O.
 *
 * @module
 */
import type { MptcpEvent } from "./events.ts";
import type { MptcpConnection, MptcpSnapshot } from "./snapshot.ts";
import type { DiagSubflow } from "./diag_codec.ts";
import type {
  ConnectionView,
  PolicyAction,
  PolicyEvent,
  RemoteAddress,
  SubflowView,
} from "./policy.ts";

/** How many closed tokens the views remember, to drop their late events. */
const CLOSED_REMEMBERED = 4096;

/** A create not answered by SUB_ESTABLISHED / SUB_CLOSED within this is dropped from the view. */
export const PENDING_CREATE_MS = 5000;
/**
 * msk states after the owner's close() (FIN_WAIT1, FIN_WAIT2, TIME_WAIT,
 * CLOSE, LAST_ACK, CLOSING). The kernel sends CLOSED at close(), but the
 * msk stays in the diag dump until its subflows are done, so a snapshot can
 * list a connection whose CLOSED already went by: a resync leaves it out.
 */
const CLOSED_STATES: ReadonlySet<number> = new Set([4, 5, 6, 7, 9, 11]);
/** `MPTCP_PM_EV_FLAG_SERVER_SIDE`. */
const EV_FLAG_SERVER_SIDE = 1;
/** `MPTCP_SUBFLOW_FLAG_MCAP_REM`: the peer's SYN asked for MPTCP (we accepted). */
const SUBFLOW_MCAP_REM = 1 << 0;
/** `MPTCP_SUBFLOW_FLAG_MCAP_LOC`: our SYN asked for MPTCP (we connected; ss prints `m`). */
const SUBFLOW_MCAP_LOC = 1 << 1;

/**
 * Which side a connection met in a snapshot is on, from its initial
 * subflow's MP_CAPABLE flags: the connecting side's carries MCAP_LOC, the
 * accepting side's only MCAP_REM. Undefined when the initial subflow is
 * gone (only joins left): then what the view knew stays.
 *
 * @example A connection accepted here (`ss -ti` shows `flags:Mec`)
 * ```ts
 * diagServerSide({ subflows: [{ flags: 0xc1 }] }); // true
 * ```
 */
export function diagServerSide(c: { subflows: readonly { flags: number }[] }): boolean | undefined {
  if (c.subflows.some((s) => s.flags & SUBFLOW_MCAP_LOC)) return false;
  if (c.subflows.some((s) => s.flags & SUBFLOW_MCAP_REM)) return true;
  return undefined;
}

interface Tracked extends ConnectionView {
  subflows: SubflowView[];
  remotes: RemoteAddress[];
  announced: number[];
  /** When each pending create was sent (same order as the pending subflows). */
  pendingSince: Map<SubflowView, number>;
}

function subflowOf(e: MptcpEvent): SubflowView {
  return {
    local: e.saddr ?? "",
    localPort: e.sport ?? 0,
    localId: e.locId ?? 0,
    remote: e.daddr ?? "",
    remotePort: e.dport ?? 0,
    remoteId: e.remId ?? 0,
    backup: !!e.backup,
    state: "established",
  };
}

function diagSubflow(s: DiagSubflow): SubflowView {
  return {
    local: s.local,
    localPort: s.localPort,
    localId: s.localId,
    remote: s.remote,
    remotePort: s.remotePort,
    remoteId: s.remoteId,
    backup: s.backupLocal,
    state: "established",
  };
}

const sameEnds = (a: SubflowView, b: SubflowView) =>
  a.local === b.local && a.remote === b.remote && a.remotePort === b.remotePort;

function addRemote(view: Tracked, remote: RemoteAddress): void {
  if (!view.remotes.some((r) => r.address === remote.address)) view.remotes.push(remote);
}

/**
 * Every live connection's view, keyed by token.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { MptcpEvent } from "./events.ts";
 * import type { Policy } from "./policy.ts";
 *
 * function feed(views: ConnectionViews, policy: Policy, event: MptcpEvent): void {
 *   const hit = views.apply(event);
 *   if (hit) policy.onEvent(hit.event, hit.view);
 * }
 * ```
 */
export class ConnectionViews {
  readonly #views = new Map<number, Tracked>();
  /**
   * Tokens whose CLOSED went by, oldest first (bounded): the kernel queues
   * ESTABLISHED from its PM worker, so a connection closed at once can send
   * it after CLOSED, and it must not revive the view. A CREATED (a reused
   * token) takes its token out.
   */
  readonly #closed = new Set<number>();

  /** The live views. */
  get views(): ReadonlyMap<number, ConnectionView> {
    return this.#views;
  }

  #create(token: number, e: Partial<MptcpEvent>, serverSide: boolean): Tracked {
    const view: Tracked = {
      token,
      serverSide,
      local: e.saddr ?? "",
      localPort: e.sport ?? 0,
      remote: e.daddr ?? "",
      remotePort: e.dport ?? 0,
      subflows: [],
      remotes: [],
      announced: [],
      state: {},
      pendingSince: new Map(),
    };
    this.#views.set(token, view);
    return view;
  }

  /** Folds one kernel event into the views; returns the policy's event, or undefined for none. */
  apply(e: MptcpEvent): { view: ConnectionView; event: PolicyEvent } | undefined {
    if (e.token === undefined) return undefined;
    if (e.type === "CLOSED") return this.#closedConnection(e.token);
    if (e.type === "CREATED") this.#closed.delete(e.token);
    else if (this.#closed.has(e.token)) return undefined;
    if (e.type === "CREATED" || e.type === "ESTABLISHED") return this.#connection(e);
    const view = this.#views.get(e.token);
    if (!view) return undefined;
    if (e.type === "ANNOUNCED" || e.type === "REMOVED") return this.#address(view, e);
    if (e.type === "SUB_ESTABLISHED") return this.#subEstablished(view, subflowOf(e));
    if (e.type === "SUB_CLOSED") return this.#subClosed(view, subflowOf(e), e.error);
    return undefined;
  }

  #closedConnection(token: number) {
    const view = this.#views.get(token);
    this.#views.delete(token);
    this.#closed.delete(token);
    this.#closed.add(token);
    if (this.#closed.size > CLOSED_REMEMBERED) {
      this.#closed.delete(this.#closed.values().next().value!);
    }
    return view && { view, event: { type: "closed" } as PolicyEvent };
  }

  #connection(e: MptcpEvent) {
    const serverSide = !!e.serverSide || ((e.flags ?? 0) & EV_FLAG_SERVER_SIDE) !== 0;
    const view = this.#views.get(e.token!) ?? this.#create(e.token!, e, serverSide);
    Object.assign(view, {
      serverSide: view.serverSide || serverSide,
      local: e.saddr ?? view.local,
      localPort: e.sport ?? view.localPort,
      remote: e.daddr ?? view.remote,
      remotePort: e.dport ?? view.remotePort,
    });
    const initial = subflowOf(e);
    if (initial.local && !view.subflows.some((s) => s.localPort === initial.localPort)) {
      view.subflows.unshift(initial);
    }
    if (view.remote) addRemote(view, { address: view.remote, id: 0, port: view.remotePort });
    const type = e.type === "CREATED" ? "created" : "established";
    return { view, event: { type } as PolicyEvent };
  }

  #address(view: Tracked, e: MptcpEvent) {
    const remote = { address: e.daddr ?? "", id: e.remId ?? 0, port: e.dport || view.remotePort };
    if (e.type === "ANNOUNCED") addRemote(view, remote);
    else {
      const gone = view.remotes.find((r) => r.id === remote.id && r.id !== 0);
      view.remotes = view.remotes.filter((r) => r !== gone);
      if (gone) remote.address = gone.address;
    }
    const type = e.type === "ANNOUNCED" ? "announced" : "removed";
    return { view, event: { type, remote } as PolicyEvent };
  }

  #subEstablished(view: Tracked, sf: SubflowView) {
    if (!view.subflows.some((s) => s.state === "established" && s.localPort === sf.localPort)) {
      const pending = view.subflows.find((s) => s.state === "pending" && sameEnds(s, sf));
      if (pending) this.#dropPending(view, pending);
      view.subflows.push(sf);
    }
    return { view, event: { type: "subflow_established", subflow: sf } as PolicyEvent };
  }

  #subClosed(view: Tracked, sf: SubflowView, error?: number) {
    const known = view.subflows.find((s) =>
      s.state === "established" && s.localPort === sf.localPort
    );
    const pending = view.subflows.find((s) => s.state === "pending" && sameEnds(s, sf));
    if (known) view.subflows = view.subflows.filter((s) => s !== known);
    else if (pending) this.#dropPending(view, pending);
    return { view, event: { type: "subflow_closed", subflow: sf, error } as PolicyEvent };
  }

  #dropPending(view: Tracked, sf: SubflowView): void {
    view.subflows = view.subflows.filter((s) => s !== sf);
    view.pendingSince.delete(sf);
  }

  /**
   * Rebuilds the views from a snapshot: connections gone (or closed by
   * their owner and only lingering in the dump) are dropped, live
   * ones get the kernel's subflows plus their still-fresh pending creates;
   * per-connection policy state, announcements and remotes are kept.
   */
  resync(snapshot: MptcpSnapshot, now = Date.now()): ConnectionView[] {
    const live = [...snapshot.connections.values()].filter((c) => !CLOSED_STATES.has(c.state));
    const tokens = new Set(live.map((c) => c.token));
    for (const token of this.#views.keys()) {
      if (!tokens.has(token)) this.#views.delete(token);
    }
    return live.map((c) => this.#fromDiag(c, now));
  }

  #fromDiag(c: MptcpConnection, now: number): ConnectionView {
    const old = this.#views.get(c.token);
    const view = this.#create(c.token, {
      saddr: c.local,
      sport: c.localPort,
      daddr: c.remote,
      dport: c.remotePort,
    }, diagServerSide(c) ?? old?.serverSide ?? false);
    view.subflows = c.subflows.map(diagSubflow);
    view.state = old?.state ?? {};
    view.announced = old?.announced ?? [];
    for (const r of old?.remotes ?? []) addRemote(view, r);
    addRemote(view, { address: c.remote, id: 0, port: c.remotePort });
    for (const s of view.subflows) {
      addRemote(view, { address: s.remote, id: s.remoteId, port: s.remotePort });
    }
    this.#carryPending(view, old, now);
    return view;
  }

  /**
   * Keeps the old view's fresh pending creates that the snapshot does not
   * answer. A snapshot subflow answers one when it has the same ends and the
   * old view did not know it as established (ndiffports' subflows all share
   * their ends, so matching ends alone would drop a create still in flight).
   */
  #carryPending(view: Tracked, old: Tracked | undefined, now: number): void {
    if (!old) return;
    const known = new Set(
      old.subflows.filter((s) => s.state === "established").map((s) => s.localPort),
    );
    const answers = view.subflows.filter((s) => !known.has(s.localPort));
    for (const [sf, since] of old.pendingSince) {
      if (now - since >= PENDING_CREATE_MS) continue;
      const answer = answers.findIndex((s) => sameEnds(s, sf));
      if (answer >= 0) answers.splice(answer, 1);
      else {
        view.subflows.push(sf);
        view.pendingSince.set(sf, since);
      }
    }
  }

  /**
   * Drops pending creates older than {@linkcode PENDING_CREATE_MS} (an
   * answer lost, e.g. in an overflow); returns the views that lost one, for
   * the policy to look at again.
   */
  expirePending(now = Date.now()): ConnectionView[] {
    const touched: ConnectionView[] = [];
    for (const view of this.#views.values()) {
      const stale = [...view.pendingSince].filter(([, since]) => now - since >= PENDING_CREATE_MS);
      for (const [sf] of stale) this.#dropPending(view, sf);
      if (stale.length) touched.push(view);
    }
    return touched;
  }

  /** Records an action the kernel accepted, so the next look at the view includes it. */
  record(token: number, action: PolicyAction, now = Date.now()): void {
    const view = this.#views.get(token);
    if (!view) return;
    if (action.kind === "create_subflow") {
      const sf: SubflowView = {
        local: action.local.address,
        localPort: 0,
        localId: action.local.id,
        remote: action.remote.address,
        remotePort: action.remote.port,
        remoteId: 0,
        backup: false,
        state: "pending",
      };
      view.subflows.push(sf);
      view.pendingSince.set(sf, now);
    } else if (action.kind === "announce") view.announced.push(action.local.id);
    else if (action.kind === "remove") {
      view.announced = view.announced.filter((i) => i !== action.id);
    } else if (action.kind === "set_backup") {
      const sf = view.subflows.find((s) =>
        s.local === action.local.address && s.localPort === action.local.port &&
        s.remote === action.remote.address && s.remotePort === action.remote.port
      );
      if (sf) sf.backup = action.backup;
    }
  }
}
