/**
 * A netns path that is not a network namespace (a directory, a device, a
 * regular file, a FIFO, another kind of namespace) is refused at plan time as
 * `<resource>.netns: … is not a network namespace`, for every kind that takes
 * a netns, and a FIFO never hangs plan or apply. Black-box CLI runs against a
 * private bpffs; each run is bounded so a hang fails instead of blocking.
 */
import assert from "node:assert/strict";
import { privateBpffs } from "../../lab/bpffs.ts";
import { makeFifo } from "../helpers/fifo.ts";

const REPO = new URL("../../", import.meta.url).pathname;
/** A bound on one CLI run: far above a normal run, so only a hang reaches it. */
const HANG_BOUND_MS = 60_000;

const KINDS: Record<string, (netns: string) => string> = {
  SocketLookupRedirect: (netns) =>
    `new SocketLookupRedirect("web", ${
      JSON.stringify({
        netns,
        bindings: [{ protocol: "tcp", prefix: "192.0.2.0/24", ports: 80, to: "A" }],
        destinations: { A: { listener: "tcp://127.0.0.1:8080" } },
      })
    })`,
  PathManager: (netns) =>
    `new PathManager("web", ${JSON.stringify({ netns, limits: { subflows: 2 } })})`,
};

/** Runs the CLI; a run still going after HANG_BOUND_MS is killed and reported as hung. */
async function cli(args: string[]): Promise<{ code: number; stderr: string; hung: boolean }> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), HANG_BOUND_MS);
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${REPO}main.ts`, ...args],
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: ac.signal,
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    return { code: out.code, stderr, hung: ac.signal.aborted };
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("a netns path that is not a network namespace is refused naming <resource>.netns", async (t) => {
  const fs = privateBpffs();
  const tmp = Deno.makeTempDirSync({ prefix: "sf-netns-path-" });
  const fifo = await makeFifo(tmp);
  try {
    const bad: [string, RegExp][] = [
      ["/tmp", /is not a network namespace \(expected a file like \/run\/netns\/NAME/],
      ["/dev/zero", /is not a network namespace/],
      ["/etc/passwd", /is not a network namespace/],
      [fifo, /is not a network namespace/],
      ["/proc/self/ns/mnt", /is a mount namespace, not a network namespace/],
    ];
    for (const [kind, make] of Object.entries(KINDS)) {
      for (const [path, why] of bad) {
        await t.step(`${kind} with netns ${path}`, async () => {
          const file = `${tmp}/stack.ts`;
          Deno.writeTextFileSync(
            file,
            `import { ${kind}, Stack } from "${REPO}mod.ts";\n` +
              `export default new Stack("np", [${make(path)}]);\n`,
          );
          const cmd = path === fifo && kind === "SocketLookupRedirect"
            ? ["apply", "--auto-approve"]
            : ["plan"];
          const r = await cli([...cmd, "-s", file, "--state-root", fs.root]);
          assert.equal(r.hung, false, `${cmd[0]} hung on ${path}`);
          assert.equal(r.code, 1, r.stderr);
          const line = r.stderr.split("\n").find((l) => l.startsWith("Error: ")) ?? r.stderr;
          assert.ok(line.startsWith(`Error: web.netns: ${path} `), line);
          assert.match(line, why);
        });
      }
    }
  } finally {
    fs.cleanup();
    Deno.removeSync(tmp, { recursive: true });
  }
});
