import assert from "node:assert/strict";
import { schemaFiles } from "./generate.ts";
import { KINDS } from "../providers/kinds.ts";

const STALE = "stale JSON Schema: run deno task schema";
const root = new URL("../", import.meta.url);

Deno.test("schema/*.schema.json match the kinds' zod schemas", () => {
  for (const file of schemaFiles()) {
    let committed = "";
    try {
      committed = Deno.readTextFileSync(new URL(file.path, root));
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    assert.ok(committed === file.text, `${STALE} (${file.path} differs)`);
  }
});

Deno.test("every kind has a generated JSON Schema", () => {
  const generated = schemaFiles().map((f) => f.kind).sort();
  assert.deepEqual(generated, KINDS.map((k) => k.name).sort());
});

Deno.test("a JSON Schema describes the spec a user writes: required fields and enums", () => {
  const slr = JSON.parse(
    schemaFiles().find((f) => f.kind === "SocketLookupRedirect")!.text,
  );
  assert.deepEqual(slr.required, ["bindings", "destinations"]);
  assert.deepEqual(slr.properties.bindings.items.properties.protocol.enum, ["tcp", "udp"]);
  assert.equal(slr.additionalProperties, false);
});
