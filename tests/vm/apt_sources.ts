/**
 * The host's Debian sources, in deb822 form, whichever way the machine keeps
 * them: cloud images have `/etc/apt/sources.list.d/debian.sources` (deb822),
 * while an installer or debootstrap root has one-line `/etc/apt/sources.list`.
 *
 * @module
 */

/** Where a deb822 host keeps its sources. */
export const DEB822_SOURCES = "/etc/apt/sources.list.d/debian.sources";
/** Where a classic host keeps its one-line sources. */
export const ONE_LINE_SOURCES = "/etc/apt/sources.list";

/**
 * Converts one-line `deb [options] URI suite component...` entries to deb822
 * stanzas (`deb-src`, comments and blank lines are dropped; a `signed-by`
 * option is kept).
 *
 * @example A debootstrap root's sources
 * ```ts
 * oneLineToDeb822("deb http://deb.debian.org/debian bookworm main\n");
 * // "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main\n"
 * ```
 */
export function oneLineToDeb822(text: string): string {
  const stanzas: string[] = [];
  for (const raw of text.split("\n")) {
    const m = raw.replace(/#.*$/, "").trim().match(
      /^deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)$/,
    );
    if (!m) continue;
    const [, options = "", uri, suite, components] = m;
    const lines = ["Types: deb", `URIs: ${uri}`, `Suites: ${suite}`];
    lines.push(`Components: ${components.trim() || "main"}`);
    const signedBy = options.match(/signed-by=(\S+)/);
    if (signedBy) lines.push(`Signed-By: ${signedBy[1]}`);
    stanzas.push(lines.join("\n") + "\n");
  }
  return stanzas.join("\n");
}

/**
 * The host's sources as deb822 text, from whichever file it has.
 *
 * @example
 * ```ts
 * const sources = await readHostSources();
 * ```
 */
export async function readHostSources(): Promise<string> {
  try {
    return await Deno.readTextFile(DEB822_SOURCES);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  try {
    return oneLineToDeb822(await Deno.readTextFile(ONE_LINE_SOURCES));
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
    throw new Error(
      `VM harness needs ${DEB822_SOURCES} or ${ONE_LINE_SOURCES} (a Debian host) to derive a mirror`,
    );
  }
}
