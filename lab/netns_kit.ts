/**
 * Throw-away network namespaces and veth pairs for labs and kernel tests,
 * plus a cleanup stack that undoes everything in reverse order.
 *
 * Veth ends are created directly inside their namespaces, so their names only
 * have to be unique there and parallel labs can reuse `veth-a`, `veth-b`.
 *
 * @module
 */
import { CommandError, inNetnsArgv, randomSuffix, run } from "./command.ts";

/** A network namespace this process created. */
export interface ScratchNetns {
  name: string;
  /** `/run/netns/<name>`, what `inNetns` and specs take. */
  path: string;
  /** Runs `argv` inside the netns (`ip netns exec`) and returns its stdout. */
  exec(argv: readonly string[]): Promise<string>;
  /** Kills what runs inside and deletes the netns; safe to call twice. */
  cleanup(): Promise<void>;
}

function netnsExists(name: string): boolean {
  try {
    Deno.statSync(`/run/netns/${name}`);
    return true;
  } catch {
    return false;
  }
}

/**
 * Kills every process inside the named netns (they would keep it alive after
 * `ip netns del`) and deletes it. No-op when it does not exist.
 *
 * @example Removing a lab netns left by a killed run
 * ```ts
 * await deleteNetns("sf-lab-c-1a2b3c");
 * ```
 */
export async function deleteNetns(name: string): Promise<void> {
  if (!netnsExists(name)) return;
  const pids = (await run(["ip", "netns", "pids", name])).split(/\s+/).filter(Boolean);
  for (const pid of pids) {
    try {
      Deno.kill(Number(pid), "SIGKILL");
    } catch {
      // Already gone.
    }
  }
  try {
    await run(["ip", "netns", "del", name]);
  } catch (err) {
    if (netnsExists(name)) throw err;
  }
}

/**
 * Creates a netns named `<prefix>-<random>` with `lo` up.
 *
 * @example A netns for one test
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * async function links(): Promise<void> {
 *   const ns = await createNetns("sf-pm");
 *   try {
 *     console.log(await ns.exec(["ip", "-j", "link"]));
 *   } finally {
 *     await ns.cleanup();
 *   }
 * }
 * ```
 */
export async function createNetns(prefix = "sf"): Promise<ScratchNetns> {
  const name = `${prefix}-${randomSuffix()}`;
  await run(["ip", "netns", "add", name]);
  const ns: ScratchNetns = {
    name,
    path: `/run/netns/${name}`,
    exec: (argv) => run(inNetnsArgv(name, argv)),
    cleanup: () => deleteNetns(name),
  };
  try {
    await run(["ip", "-n", name, "link", "set", "lo", "up"]);
  } catch (err) {
    await ns.cleanup();
    throw err;
  }
  return ns;
}

/** One end of a veth pair: its netns, its name there, and addresses (CIDR) to add. */
export interface VethEnd {
  netns: { name: string };
  name: string;
  addresses?: readonly string[];
}

/** A veth pair; deleting one end deletes both. */
export interface VethPair {
  a: VethEnd;
  b: VethEnd;
  /** Deletes the pair; safe to call twice and after its netns is gone. */
  cleanup(): Promise<void>;
}

async function configureEnd(end: VethEnd): Promise<void> {
  for (const cidr of end.addresses ?? []) {
    // nodad: IPv6 addresses are usable at once instead of after duplicate detection.
    const extra = cidr.includes(":") ? ["nodad"] : [];
    await run(["ip", "-n", end.netns.name, "addr", "add", cidr, "dev", end.name, ...extra]);
  }
  await run(["ip", "-n", end.netns.name, "link", "set", end.name, "up"]);
}

/**
 * Creates a veth pair between two netns, adds the addresses and brings both
 * ends up.
 *
 * @example Path A of a lab
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * async function pathA(client: ScratchNetns, server: ScratchNetns): Promise<VethPair> {
 *   return await createVethPair(
 *     { netns: client, name: "veth-a", addresses: ["10.1.2.1/24"] },
 *     { netns: server, name: "veth-a", addresses: ["10.1.2.2/24"] },
 *   );
 * }
 * ```
 */
export async function createVethPair(a: VethEnd, b: VethEnd): Promise<VethPair> {
  await run([
    ..."ip link add".split(" "),
    a.name,
    "netns",
    a.netns.name,
    "type",
    "veth",
    "peer",
    "name",
    b.name,
    "netns",
    b.netns.name,
  ]);
  const pair: VethPair = {
    a,
    b,
    cleanup: async () => {
      if (!netnsExists(a.netns.name)) return;
      try {
        await run(["ip", "-n", a.netns.name, "link", "del", a.name]);
      } catch (err) {
        // Already gone is fine; anything else is a leak worth reporting.
        if (!(err instanceof CommandError && /Cannot find device/.test(err.stderr))) throw err;
      }
    },
  };
  try {
    await configureEnd(a);
    await configureEnd(b);
  } catch (err) {
    await pair.cleanup();
    throw err;
  }
  return pair;
}

/**
 * Undo actions run last-in, first-out. Every action runs even when an
 * earlier one fails; the failures are reported together at the end.
 *
 * @example Everything a test creates goes away in `finally`
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * async function scenario(server: Deno.ChildProcess): Promise<void> {
 *   await using stack = new CleanupStack();
 *   const ns = stack.track(await createNetns("sf-t"));
 *   stack.defer("kill iperf3", () => server.kill());
 * }
 * ```
 */
export class CleanupStack {
  readonly #actions: { label: string; undo: () => Promise<void> | void }[] = [];

  /** Registers an undo action. */
  defer(label: string, undo: () => Promise<void> | void): void {
    this.#actions.push({ label, undo });
  }

  /** Registers anything with a `cleanup()` method and returns it. */
  track<T extends { cleanup(): Promise<void> | void }>(thing: T, label = "cleanup"): T {
    this.defer(label, () => thing.cleanup());
    return thing;
  }

  #running?: Promise<void>;

  /**
   * Runs every action once, newest first; throws an AggregateError if any
   * failed. Concurrent callers (a Ctrl-C handler and a `finally`) share one
   * run, so neither returns while the other is still removing things.
   */
  cleanup(): Promise<void> {
    this.#running ??= this.#drain().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #drain(): Promise<void> {
    const failures: unknown[] = [];
    for (let action = this.#actions.pop(); action; action = this.#actions.pop()) {
      try {
        await action.undo();
      } catch (err) {
        failures.push(new Error(`${action.label}: ${err instanceof Error ? err.message : err}`));
      }
    }
    if (failures.length) throw new AggregateError(failures, "cleanup failed");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.cleanup();
  }
}
