/**
 * The library's third-party dependencies, by explicit `npm:` specifier and
 * pinned version, in one place.
 *
 * Modules reachable from `mod.ts` import zod (and diff) from here, never by
 * a bare specifier such as `"zod"`: bare specifiers resolve only through this
 * repo's `deno.json` import map, which Deno does not apply to a script
 * outside the repo that imports `mod.ts` by path or URL. Keep these versions
 * equal to the ones in `deno.json` so both resolve to one package copy.
 *
 * @module
 */
export { z } from "npm:zod@4.6.7";
