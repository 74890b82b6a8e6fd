/**
 * `deno task test`: every tier in one run — pure and engine tests, kernel
 * tests (real netns, bpffs, cgroups, traffic), the BPF freshness check, and
 * the VM tier — then one plain closing line for CI: `N passed, N failed, N skipped`.
 *
 * @module
 */

interface Counts {
  passed: number;
  failed: number;
  skipped: number;
}

const decoder = new TextDecoder();

async function runStreaming(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; text: string }> {
  const child = new Deno.Command(Deno.execPath(), { args, env, stdout: "piped", stderr: "inherit" })
    .spawn();
  let text = "";
  for await (const chunk of child.stdout) {
    const s = decoder.decode(chunk);
    text += s;
    await Deno.stdout.write(chunk);
  }
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

const total: Counts = { passed: 0, failed: 0, skipped: 0 };
const host = await runStreaming(["test", "-A", "--no-prompt"]);
add(total, denoCounts(host.text), host.code, "deno test");
if (Deno.env.get("SOCKFORM_SKIP_VM") === "1") {
  console.log("VM tier skipped: SOCKFORM_SKIP_VM=1");
} else {
  const vm = await runStreaming(["run", "-A", "tests/vm/run.ts"]);
  add(total, plainCounts(vm.text), vm.code, "VM tier");
}
console.log(`${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
Deno.exit(total.failed > 0 ? 1 : 0);
