/**
 * `deno task test`: every tier in one run — pure and engine tests, kernel
 * tests (real netns, bpffs, cgroups, traffic), the BPF freshness check, and
 * the VM tier (the host tiers and two VM lanes side by side) — then one plain
 * closing line for CI: `N passed, N failed, N skipped`.
 *
 * @module
 */

interface Counts {
  passed: number;
  failed: number;
  skipped: number;
}

import { MATRIX } from "./vm/run.ts";

const decoder = new TextDecoder();

/**
 * Runs `deno ARGS`, copying its stdout to ours line by line (so two tiers running side by side
 * interleave whole lines), each line after `prefix`, and keeps the text for the counts.
 */
async function runStreaming(
  args: string[],
  prefix = "",
): Promise<{ code: number; text: string }> {
  const child = new Deno.Command(Deno.execPath(), { args, stdout: "piped", stderr: "inherit" })
    .spawn();
  let text = "";
  let partial = "";
  const encoder = new TextEncoder();
  for await (const chunk of child.stdout) {
    const s = decoder.decode(chunk, { stream: true });
    text += s;
    const lines = (partial + s).split("\n");
    partial = lines.pop() ?? "";
    if (lines.length) {
      await Deno.stdout.write(encoder.encode(lines.map((l) => prefix + l + "\n").join("")));
    }
  }
  if (partial) await Deno.stdout.write(encoder.encode(prefix + partial + "\n"));
  const { code } = await child.status;
  return { code, text };
}

// deno test's summary: "ok | 12 passed (3 steps) | 0 failed | 1 ignored (2ms)"
function denoCounts(text: string): Counts | null {
  // deno-lint-ignore no-control-regex
  const plain = text.replace(/\x1b\[[0-9;]*m/g, "");
  const m = plain.match(
    /(?:ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed(?: \(\d+ steps?\))?(?: \| (\d+) ignored)?/,
  );
  return m ? { passed: Number(m[1]), failed: Number(m[2]), skipped: Number(m[3] ?? 0) } : null;
}

// The VM runner closes with the plain line "N passed, N failed[, N skipped]".
function plainCounts(text: string): Counts | null {
  const lines = text.trim().split("\n").reverse();
  for (const line of lines) {
    const m = line.match(/^(?:\w+: )?(\d+) passed, (\d+) failed(?:, (\d+) skipped)?$/);
    if (m) return { passed: Number(m[1]), failed: Number(m[2]), skipped: Number(m[3] ?? 0) };
  }
  return null;
}

function add(total: Counts, part: Counts | null, code: number, label: string): void {
  if (part) {
    total.passed += part.passed;
    total.failed += part.failed;
    total.skipped += part.skipped;
  }
  // A runner that failed without counting a failure (crash, boot failure) is still a failure.
  if (code !== 0 && (!part || part.failed === 0)) {
    console.error(`${label} exited ${code} without a counted failure: counting it as one`);
    total.failed += 1;
  }
}

/**
 * The VM suites: one lane, every suite of the matrix in turn. SOCKFORM_VM_LANES=2 runs trixie
 * (the longest) in a lane of its own beside the others: faster on an idle machine, but with the
 * host tier beside them three loads share two CPUs, and a pristine-root run saw bounded waits in
 * the guests run out, so it is not the default.
 */
function vmLanes(): string[][] {
  const suites = MATRIX.map((e) => e.suite as string);
  if (Deno.env.get("SOCKFORM_VM_LANES") !== "2") return [suites];
  return [["trixie"], suites.filter((s) => s !== "trixie")];
}

function vmLane(suites: string[], index: number) {
  const args = ["run", "-A", "tests/vm/run.ts", ...suites.flatMap((s) => ["--suite", s])];
  // VM lines already carry their suite ("[trixie] …"); the marker tells them from host lines.
  return runStreaming(args, `vm${index + 1}| `);
}

/**
 * The host tier and the VM lanes run side by side: the VMs (TCG, CPU-bound) are the long pole,
 * and the host tests spend most of their time waiting on traffic, so together they finish in
 * about the longest lane's time instead of the sum. SOCKFORM_SERIAL_TIERS=1 runs everything one
 * after the other (for a quiet log); SOCKFORM_SKIP_VM=1 runs the host tier alone.
 */
async function main(): Promise<number> {
  const total: Counts = { passed: 0, failed: 0, skipped: 0 };
  const skipVm = Deno.env.get("SOCKFORM_SKIP_VM") === "1";
  const serial = Deno.env.get("SOCKFORM_SERIAL_TIERS") === "1";
  const tiers = [() => runStreaming(["test", "-A", "--no-prompt"])];
  if (skipVm) console.log("VM tier skipped: SOCKFORM_SKIP_VM=1");
  else tiers.push(...vmLanes().map((lane, i) => () => vmLane(lane, i)));
  const results: { code: number; text: string }[] = [];
  if (serial) { for (const run of tiers) results.push(await run()); }
  else results.push(...await Promise.all(tiers.map((run) => run())));
  const [host, ...lanes] = results;
  add(total, denoCounts(host.text), host.code, "deno test");
  lanes.forEach((vm, i) => add(total, plainCounts(vm.text), vm.code, `VM lane ${i + 1}`));
  console.log(`${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
  return total.failed > 0 ? 1 : 0;
}

Deno.exit(await main());
