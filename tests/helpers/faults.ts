/**
 * Walking a fault through every kernel change of a command (engine/fault.ts):
 * `fail-at-change:N` in this process, where the rollback must restore
 * exactly what was there, and `kill-at-change:N` in a CLI subprocess, where a
 * re-run must converge. N goes 1, 2, … until a run makes fewer than N changes
 * and completes; the walk returns how many changes it found.
 *
 * @module
 */
import assert from "node:assert/strict";
import { StepError } from "../../engine/errors.ts";
import type { CliResult } from "./sockform_cli.ts";

/** A walk that has not ended by this N is a bug (a command that never completes). */
const MAX_CHANGES = 200;

/**
 * Runs `fn` with SOCKFORM_FAULT set in this process, and always unsets it.
 *
 * @example
 * ```ts
 * await withFault("fail-after:1", () => applyStack(stack, store)).catch(() => {});
 * ```
 */
export async function withFault<T>(fault: string, fn: () => Promise<T>): Promise<T> {
  Deno.env.set("SOCKFORM_FAULT", fault);
  try {
    return await fn();
  } finally {
    Deno.env.delete("SOCKFORM_FAULT");
  }
}

/**
 * Runs `command` (an in-process apply or destroy) with `fail-at-change:N` for
 * every N. Each failing run must throw a `StepError` naming the injected
 * fault; `unchanged(n)` then checks that the kernel is as before.
 *
 * @example
 * ```ts
 * const changes = await failAtEveryChange(() => applyStack(stack, store), async () => {
 *   assert.equal(linksOn(lab), 0);
 * });
 * ```
 */
export async function failAtEveryChange(
  command: () => Promise<unknown>,
  unchanged: (n: number) => Promise<void> | void,
): Promise<number> {
  for (let n = 1; n <= MAX_CHANGES; n++) {
    const error = await withFault(`fail-at-change:${n}`, command).then(() => null, (e) => e);
    if (error === null) return n - 1;
    assert.ok(error instanceof StepError, `fail-at-change:${n}: ${error}`);
    assert.match(error.message, new RegExp(`injected fault \\(SOCKFORM_FAULT\\) at change ${n} `));
    assert.deepEqual(error.rollbackFailures, [], `fail-at-change:${n}: every undo ran`);
    await unchanged(n);
  }
  throw new Error(`still failing at change ${MAX_CHANGES}: the command never completes`);
}

/** What a kill walk does after each killed run. */
export interface KillWalkSteps {
  /** Re-runs the command and checks that it converged. */
  converge(n: number): Promise<void>;
  /** Goes back to the state the command starts from. */
  reset(n: number): Promise<void>;
}

/**
 * Runs the CLI (`run(fault)`) with `kill-at-change:N` for every N; each
 * killed run is followed by `converge` and `reset`.
 *
 * @example
 * ```ts
 * const changes = await killAtEveryChange((fault) => cli(["apply"], fault), { converge, reset });
 * ```
 */
export async function killAtEveryChange(
  run: (fault: string) => Promise<CliResult>,
  steps: KillWalkSteps,
): Promise<number> {
  for (let n = 1; n <= MAX_CHANGES; n++) {
    const r = await run(`kill-at-change:${n}`);
    if (r.code === 0) return n - 1;
    assert.equal(r.signal, "SIGKILL", `kill-at-change:${n}: exit ${r.code}\n${r.stderr}`);
    await steps.converge(n);
    await steps.reset(n);
  }
  throw new Error(`still killed at change ${MAX_CHANGES}: the command never completes`);
}
