/**
 * Pure helpers of the VM harness: reading `deno test`'s summary out of a console log,
 * choosing which guest test files a kernel runs, and the closing summary lines.
 *
 * @module
 */

/** Test counts from `deno test`'s closing line. */
export interface TestCounts {
  passed: number;
  failed: number;
  ignored: number;
}

/**
 * Finds the last `deno test` summary line (`ok | 3 passed | 0 failed (2s)` or
 * `FAILED | 2 passed (4 steps) | 1 failed | 1 ignored (9s)`) and returns its counts,
 * or `undefined` when the output has none (deno never got that far).
 *
 * @example
 * ```ts
 * parseDenoSummary("ok | 3 passed | 0 failed (2s)\n"); // { passed: 3, failed: 0, ignored: 0 }
 * ```
 */
export function parseDenoSummary(output: string): TestCounts | undefined {
  const lines = output.split("\n").filter((l) => /^(ok|FAILED) \| \d+ passed\b/.test(l.trim()));
  const line = lines.at(-1);
  if (!line) return undefined;
  const count = (word: string) => Number(line.match(new RegExp(`(\\d+) ${word}\\b`))?.[1] ?? 0);
  return { passed: count("passed"), failed: count("failed"), ignored: count("ignored") };
}

/**
 * The kernel series a guest test file asks for with a `// @vm-kernels 6.12 6.1` line near
 * its top, or `undefined` when it has none (it then runs on every kernel of the matrix).
 *
 * @example
 * ```ts
 * declaredKernels("// @vm-kernels 6.12\nDeno.test(...)"); // ["6.12"]
 * ```
 */
export function declaredKernels(source: string): string[] | undefined {
  const head = source.split("\n").slice(0, 30);
  const tag = head.map((l) => l.match(/^\s*\/\/\s*@vm-kernels\s+(.+)$/)).find(Boolean);
  return tag ? tag[1].trim().split(/[\s,]+/) : undefined;
}

/**
 * Whether a guest test file with the given source runs on a kernel series.
 *
 * @example
 * ```ts
 * runsOn("// @vm-kernels 6.12\n", "6.1"); // false
 * ```
 */
export function runsOn(source: string, series: string): boolean {
  const kernels = declaredKernels(source);
  return kernels === undefined || kernels.includes(series);
}

/** One matrix entry's outcome, as the closing report needs it. */
export interface KernelOutcome extends TestCounts {
  label: string;
  /** Why the boot counts as failed beyond its failed tests (timeout, boot failure...). */
  failure?: string;
  durationMs: number;
}

/**
 * The report's closing lines: one per kernel, then the plain `N passed, N failed` CI expects.
 * A boot that failed outright counts as one more failure, so it can never read as a pass.
 *
 * @example
 * ```ts
 * summaryLines([{ label: "trixie 6.12", passed: 3, failed: 0, ignored: 0, durationMs: 15000 }]);
 * // ["vm trixie 6.12: 3 passed, 0 failed (15.0 s)", "3 passed, 0 failed"]
 * ```
 */
export function summaryLines(outcomes: readonly KernelOutcome[]): string[] {
  const lines: string[] = [];
  let passed = 0, failed = 0, ignored = 0;
  for (const o of outcomes) {
    const extra = o.failure ? 1 : 0;
    passed += o.passed;
    failed += o.failed + extra;
    ignored += o.ignored;
    const why = o.failure ? ` FAILURE: ${o.failure}` : "";
    const skipped = o.ignored ? `, ${o.ignored} skipped` : "";
    const secs = (o.durationMs / 1000).toFixed(1);
    lines.push(
      `vm ${o.label}: ${o.passed} passed, ${o.failed + extra} failed${skipped} (${secs} s)${why}`,
    );
  }
  lines.push(`${passed} passed, ${failed} failed${ignored ? `, ${ignored} skipped` : ""}`);
  return lines;
}
