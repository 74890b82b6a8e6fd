/**
 * `deno task test`: every tier in one run — pure and engine tests, kernel
 * tests (real netns, bpffs, cgroups, traffic), the BPF freshness check, and
 * the VM tier (the host tiers and the VM tier side by side) — then one plain
 * closing line for CI: `N passed, N failed, N skipped`.
 *
 * @module
 */

interface Counts {
  passed: number;
  failed: number;
  skipped: number;
}

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
 * The host tier and the VM tier run side by side: the VMs (TCG, CPU-bound) are the long pole,
 * and the host tests spend most of their time waiting on traffic, so together they finish in
 * about the VM tier's time instead of the sum. SOCKFORM_SERIAL_TIERS=1 runs them one after the
 * other (for a quiet log); SOCKFORM_SKIP_VM=1 runs the host tier alone.
 */
async function main(): Promise<number> {
  const total: Counts = { passed: 0, failed: 0, skipped: 0 };
  const skipVm = Deno.env.get("SOCKFORM_SKIP_VM") === "1";
  const serial = Deno.env.get("SOCKFORM_SERIAL_TIERS") === "1";
  const hostTier = () => runStreaming(["test", "-A", "--no-prompt"]);
  // VM lines already carry their suite ("[trixie] …"); the marker tells them from host lines.
  const vmTier = () => runStreaming(["run", "-A", "tests/vm/run.ts"], "vm| ");
  if (skipVm) console.log("VM tier skipped: SOCKFORM_SKIP_VM=1");
  const [host, vm] = skipVm
    ? [await hostTier(), undefined]
    : serial
    ? [await hostTier(), await vmTier()]
    : await Promise.all([hostTier(), vmTier()]);
  add(total, denoCounts(host.text), host.code, "deno test");
  if (vm) add(total, plainCounts(vm.text), vm.code, "VM tier");
  console.log(`${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
  return total.failed > 0 ? 1 : 0;
}

Deno.exit(await main());
