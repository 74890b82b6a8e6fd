/**
 * Running `sockform agent` as a real process for kernel tests: spawn it with
 * its log captured, wait (bounded) for its status file to say something, and
 * stop it with a signal, checking how it exited.
 *
 * @module
 */
import { readStatus, type ReconcileStatus } from "../../ops/reconcile_status.ts";
import { programCommand } from "../../providers/system/programs.ts";

const REPO = new URL("../../", import.meta.url).pathname;

/** A running agent. */
export interface AgentProcess {
  pid: number;
  statusFile: string;
  /** Everything it wrote to stderr so far. */
  log(): string;
  /** Sends `signal` and waits (bounded) for the exit; returns the exit code. */
  stop(signal?: Deno.Signal): Promise<number>;
}

/**
 * Starts `deno run -A main.ts agent <args> --status-file <statusFile>`;
 * `prefix` runs it through another program first (e.g. `ip netns exec NS`).
 *
 * @example An agent on a stack file
 * ```ts
 * const agent = spawnAgent(["--stack", file, "--interval", "2s"], `${tmp}/status.json`);
 * ```
 */
export function spawnAgent(
  args: string[],
  statusFile: string,
  prefix: string[] = [],
): AgentProcess {
  const argv = [...prefix, Deno.execPath(), "run", "-A", `${REPO}main.ts`];
  const child = programCommand([...argv, "agent", ...args, "--status-file", statusFile], {
    cwd: REPO,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let text = "";
  const drained = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) text += chunk;
  })();
  let exit: Promise<number> | undefined;
  return {
    pid: child.pid,
    statusFile,
    log: () => text,
    stop(signal: Deno.Signal = "SIGTERM") {
      exit ??= (async () => {
        try {
          child.kill(signal);
        } catch { /* already gone */ }
        const timer = setTimeout(() => {
          try {
            child.kill("SIGKILL");
          } catch { /* gone */ }
        }, 60_000);
        const { code } = await child.status;
        clearTimeout(timer);
        await drained;
        return code;
      })();
      return exit;
    },
  };
}

/**
 * Waits until the status file satisfies `check`, polling; throws with the
 * last status and the agent's log after `ms` (a bound, not a timing claim).
 *
 * @example Wait for the first apply
 * ```ts
 * await statusWhere(agent, "applied", (s) => s.lastResult === "applied");
 * ```
 */
export async function statusWhere(
  agent: AgentProcess,
  what: string,
  check: (s: ReconcileStatus) => boolean,
  ms = 60_000,
): Promise<ReconcileStatus> {
  const deadline = Date.now() + ms;
  for (;;) {
    const s = readStatus(agent.statusFile);
    if (s && check(s)) return s;
    if (Date.now() > deadline) {
      throw new Error(
        `agent ${agent.pid}: still not ${what} after ${ms} ms\n` +
          `status: ${JSON.stringify(s, null, 2)}\nlog:\n${agent.log()}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * A free loopback TCP port (bound and released; good enough for a test).
 *
 * @example A port for --metrics-listen
 * ```ts
 * const port = freePort();
 * ```
 */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}
