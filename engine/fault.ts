/**
 * Fault injection for tests: `SOCKFORM_FAULT=fail-after:N` makes apply fail
 * (and roll back) right after its Nth step; `kill-after:N` SIGKILLs the
 * process there, to prove a re-run converges from any point.
 *
 * @module
 */

/** Parses SOCKFORM_FAULT; null when unset. */
export function faultSetting(): { mode: "fail" | "kill"; after: number } | null {
  const raw = Deno.env.get("SOCKFORM_FAULT");
  const m = raw?.match(/^(fail|kill)-after:(\d+)$/);
  return m ? { mode: m[1] as "fail" | "kill", after: Number(m[2]) } : null;
}

/** Called after each completed step with the count so far. */
export async function faultAfter(stepsDone: number, fail: () => Promise<void>): Promise<void> {
  const fault = faultSetting();
  if (!fault || fault.after !== stepsDone) return;
  if (fault.mode === "kill") Deno.kill(Deno.pid, "SIGKILL");
  await fail();
}
