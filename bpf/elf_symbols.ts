/**
 * Reads program and map names out of a BPF ELF object, for `bpf/build.ts`.
 *
 * Only what the generator needs is parsed: the section headers, the symbol
 * table and its string table of a 64-bit little-endian ELF, which is what
 * `clang -target bpf` emits on x86_64.
 *
 * @module
 */

/** The names libbpf will know an object's programs and maps by. */
export interface ElfNames {
  /** Entry-point programs: global functions in executable sections other than `.text`. */
  programs: string[];
  /** BTF-defined maps (objects in `.maps`) and struct_ops maps (`.struct_ops`, `.struct_ops.link`). */
  maps: string[];
}

interface Section {
  name: string;
  type: number;
  flags: bigint;
  offset: number;
  size: number;
  link: number;
  entrySize: number;
}

const SHT_SYMTAB = 2;
const SHF_EXECINSTR = 0x4n;
const STB_GLOBAL = 1;
const STT_OBJECT = 1;
const STT_FUNC = 2;
/** Sections whose objects libbpf turns into maps, named after the object. */
const MAP_SECTIONS = [".maps", ".struct_ops", ".struct_ops.link"];

/**
 * Lists the programs and maps defined in a BPF object, each sorted by name.
 *
 * @example Names of the sk_lookup object
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * async function programs(path: string): Promise<void> {
 *   const names = elfNames(await Deno.readFile(path)); // e.g. path "/tmp/sk_lookup.o"
 *   console.log(names.programs); // ["dispatch"]
 * }
 * ```
 */
export function elfNames(bytes: Uint8Array): ElfNames {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  assertBpfElf(bytes, view);
  const sections = readSections(bytes, view);
  const symtab = sections.find((s) => s.type === SHT_SYMTAB);
  if (!symtab) throw new Error("BPF object has no symbol table");
  const strtab = sections[symtab.link];
  const programs: string[] = [];
  const maps: string[] = [];
  for (let at = symtab.offset; at < symtab.offset + symtab.size; at += symtab.entrySize) {
    const info = view.getUint8(at + 4);
    const sectionIndex = view.getUint16(at + 6, true);
    const section = sections[sectionIndex];
    if (info >> 4 !== STB_GLOBAL || !section) continue;
    const name = cString(bytes, strtab.offset + view.getUint32(at, true));
    const type = info & 0xf;
    if (type === STT_FUNC && isProgramSection(section)) programs.push(name);
    if (type === STT_OBJECT && MAP_SECTIONS.includes(section.name)) maps.push(name);
  }
  return { programs: programs.sort(), maps: maps.sort() };
}

/** A struct_ops variable of a BPF object: its map name and the bytes it starts with. */
export interface StructOpsVariable {
  /** The variable's name, which libbpf gives its struct_ops map. */
  name: string;
  /** Its initial value, laid out as the object's BTF describes its type. */
  data: Uint8Array;
}

/**
 * The struct_ops variables (`.struct_ops` and `.struct_ops.link`) of a BPF
 * object, with their initial bytes, e.g. to read the name a congestion control
 * will register under without loading it.
 *
 * @example The shipped Reno
 * ```ts
 * import * as reno from "./gen/sf_reno.ts";
 * structOpsVariables(reno.object).map((v) => v.name); // ["sf_reno"]
 * ```
 */
export function structOpsVariables(bytes: Uint8Array): StructOpsVariable[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  assertBpfElf(bytes, view);
  const sections = readSections(bytes, view);
  const symtab = sections.find((s) => s.type === SHT_SYMTAB);
  if (!symtab) throw new Error("BPF object has no symbol table");
  const strtab = sections[symtab.link];
  const out: StructOpsVariable[] = [];
  for (let at = symtab.offset; at < symtab.offset + symtab.size; at += symtab.entrySize) {
    const section = sections[view.getUint16(at + 6, true)];
    if ((view.getUint8(at + 4) & 0xf) !== STT_OBJECT || !section) continue;
    if (section.name !== ".struct_ops" && section.name !== ".struct_ops.link") continue;
    const start = section.offset + Number(view.getBigUint64(at + 8, true));
    const size = Number(view.getBigUint64(at + 16, true));
    if (start + size > section.offset + section.size) throw new Error("truncated struct_ops data");
    const name = cString(bytes, strtab.offset + view.getUint32(at, true));
    out.push({ name, data: bytes.subarray(start, start + size) });
  }
  return out;
}

/**
 * The bytes of section `name` of a BPF object, or null when it has none.
 *
 * @example The object's own BTF
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * async function btfOf(path: string): Promise<Uint8Array | null> {
 *   return elfSection(await Deno.readFile(path), ".BTF"); // e.g. path "my_cc.bpf.o"
 * }
 * ```
 */
export function elfSection(bytes: Uint8Array, name: string): Uint8Array | null {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  assertBpfElf(bytes, view);
  const section = readSections(bytes, view).find((s) => s.name === name);
  return section ? bytes.subarray(section.offset, section.offset + section.size) : null;
}

// Global functions in `.text` are BPF subprograms (callable, not loadable alone).
function isProgramSection(section: Section): boolean {
  return (section.flags & SHF_EXECINSTR) !== 0n && section.name !== ".text";
}

function assertBpfElf(bytes: Uint8Array, view: DataView): void {
  const magic = bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46;
  const elf64LittleEndian = bytes[4] === 2 && bytes[5] === 1;
  const EM_BPF = 247;
  if (!magic || !elf64LittleEndian || view.getUint16(18, true) !== EM_BPF) {
    throw new Error("not a 64-bit little-endian BPF ELF object");
  }
}

function readSections(bytes: Uint8Array, view: DataView): Section[] {
  const tableOffset = Number(view.getBigUint64(0x28, true));
  const entrySize = view.getUint16(0x3a, true);
  const count = view.getUint16(0x3c, true);
  const namesIndex = view.getUint16(0x3e, true);
  const raw = Array.from({ length: count }, (_, i) => {
    const at = tableOffset + i * entrySize;
    return {
      nameOffset: view.getUint32(at, true),
      type: view.getUint32(at + 4, true),
      flags: view.getBigUint64(at + 8, true),
      offset: Number(view.getBigUint64(at + 0x18, true)),
      size: Number(view.getBigUint64(at + 0x20, true)),
      link: view.getUint32(at + 0x28, true),
      entrySize: Number(view.getBigUint64(at + 0x38, true)),
    };
  });
  const names = raw[namesIndex];
  return raw.map((s) => ({ ...s, name: cString(bytes, names.offset + s.nameOffset) }));
}

function cString(bytes: Uint8Array, start: number): string {
  const end = bytes.indexOf(0, start);
  return new TextDecoder().decode(bytes.subarray(start, end < 0 ? bytes.length : end));
}
