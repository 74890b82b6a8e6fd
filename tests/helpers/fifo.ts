/**
 * A FIFO for tests that feed sockform paths which must never be opened
 * blocking (Deno has no mkfifo, so python3 makes it).
 *
 * @module
 */
import assert from "node:assert/strict";
import { programCommand } from "../../providers/system/programs.ts";

/**
 * Makes `${dir}/fifo` and returns its path.
 *
 * @example
 * ```ts
 * const fifo = await makeFifo(Deno.makeTempDirSync());
 * ```
 */
export async function makeFifo(dir: string): Promise<string> {
  const fifo = `${dir}/fifo`;
  const made = await programCommand([
    "python3",
    "-c",
    "import os, sys; os.mkfifo(sys.argv[1])",
    fifo,
  ])
    .output();
  assert.equal(made.code, 0, "making the FIFO failed");
  return fifo;
}
