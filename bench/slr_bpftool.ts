/**
 * The bpftool baselines for the no-op plan benchmark: writing the same
 * binding entries into an empty LPM trie of the same shape as the real
 * bindings map, once with one `bpftool map update` exec per entry, once with
 * a single `bpftool batch file`.
 *
 * @module
 */
import { timeExpecting } from "./harness.ts";
import type { Entry } from "../resources/socket_lookup_redirect/entries.ts";
import { KEY_SIZE, MAX_ENTRIES } from "../resources/socket_lookup_redirect/entries.ts";
import { BPF_F_NO_PREALLOC } from "../providers/libbpf/uapi.ts";

/** `aa bb cc` from `aabbcc`, as bpftool's `hex` arguments want. */
function spaced(hex: string): string[] {
  return hex.match(/../g)!;
}

function valueHex(destId: number): string[] {
  return [...new Uint8Array(new Uint32Array([destId]).buffer)].map((b) =>
    b.toString(16).padStart(2, "0")
  );
}

/** The argv tail `key hex … value hex …` for one entry. */
function updateArgs(entry: Entry): string[] {
  return ["key", "hex", ...spaced(entry.key), "value", "hex", ...valueHex(entry.destId)];
}

/** A scratch LPM trie pinned at `path`, recreated empty before each measurement. */
export class ScratchTrie {
  constructor(readonly path: string) {}

  /** Unpins any previous map (freeing it) and creates an empty one. */
  async reset(): Promise<void> {
    this.remove();
    await timeExpecting(0, [
      ..."bpftool map create".split(" "),
      this.path,
      ..."type lpm_trie key".split(" "),
      `${KEY_SIZE}`,
      ..."value 4 entries".split(" "),
      `${MAX_ENTRIES}`,
      ..."name sf_bench flags".split(" "),
      `${BPF_F_NO_PREALLOC}`,
    ]);
  }

  /** Unpins the map; fine when it is not there. */
  remove(): void {
    try {
      Deno.removeSync(this.path);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
  }
}

/**
 * One `bpftool map update pinned` exec per entry, sequentially; returns the
 * seconds for all of `entries`.
 *
 * @example
 * ```ts
 * const s = await bpftoolLoop(trie, entries.slice(0, 500));
 * ```
 */
export async function bpftoolLoop(trie: ScratchTrie, entries: readonly Entry[]): Promise<number> {
  const start = performance.now();
  for (const entry of entries) {
    await timeExpecting(0, ["bpftool", "map", "update", "pinned", trie.path, ...updateArgs(entry)]);
  }
  return (performance.now() - start) / 1000;
}

/**
 * Writes a bpftool batch file holding one update per entry, for `bpftoolBatch`.
 *
 * @example
 * ```ts
 * writeBatchFile(trie, entries, "/tmp/x/updates.batch");
 * ```
 */
export function writeBatchFile(trie: ScratchTrie, entries: readonly Entry[], file: string): void {
  const lines = entries.map((e) => ["map update pinned", trie.path, ...updateArgs(e)].join(" "));
  Deno.writeTextFileSync(file, lines.join("\n") + "\n");
}

/**
 * One `bpftool batch file` exec applying every line; returns its seconds.
 *
 * @example
 * ```ts
 * const s = await bpftoolBatch("/tmp/x/updates.batch");
 * ```
 */
export async function bpftoolBatch(file: string): Promise<number> {
  return (await timeExpecting(0, ["bpftool", "batch", "file", file])).seconds;
}
