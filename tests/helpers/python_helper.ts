/**
 * Python helper processes for kernel tests: a short script in a netns, driven line by line.
 *
 * @module
 */
import { inNetnsArgv } from "../../lab/command.ts";
import type { ScratchNetns } from "../../lab/netns_kit.ts";
import { programCommand } from "../../providers/system/programs.ts";

/**
 * A python3 script run in a netns as a test's helper process: it talks in lines (stdout out,
 * stdin in) and `stop()` kills it.
 *
 * @example A client that connects, reports its port and waits for a line before sending
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * async function connectThenSend(ns: ScratchNetns, script: string): Promise<void> {
 *   const cli = spawnHelper(ns, script, ["10.1.1.2", 7401]);
 *   try {
 *     await cli.line(); // "connected"
 *     await cli.say("go");
 *   } finally {
 *     await cli.stop();
 *   }
 * }
 * ```
 */
export function spawnHelper(ns: ScratchNetns, script: string, args: (string | number)[]) {
  const argv = inNetnsArgv(ns.name, ["python3", "-c", script, ...args.map(String)]);
  const child = programCommand(argv, { stdin: "piped", stdout: "piped", stderr: "piped" }).spawn();
  const stderr = new Response(child.stderr).text();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const writer = child.stdin.getWriter();
  let buffered = "";
  return {
    async line(): Promise<string> {
      while (!buffered.includes("\n")) {
        const { value, done } = await lines.read();
        if (done) throw new Error(`helper ended: ${await stderr}`);
        buffered += value;
      }
      const at = buffered.indexOf("\n");
      const out = buffered.slice(0, at);
      buffered = buffered.slice(at + 1);
      return out;
    },
    say: (text: string) => writer.write(new TextEncoder().encode(`${text}\n`)),
    async stop() {
      try {
        child.kill("SIGKILL");
      } catch { /* exited */ }
      await child.status;
      await stderr.catch(() => "");
      await lines.cancel().catch(() => {});
      await writer.close().catch(() => {});
    },
  };
}
