import assert from "node:assert/strict";
import { canonicalJson, hashJson } from "./hash.ts";

Deno.test("canonicalJson: keys sorted at every depth, undefined dropped, bigint as text", () => {
  assert.equal(
    canonicalJson({ b: 1, a: { d: [{ z: 1, y: 2 }], c: undefined }, n: 10n }),
    '{"a":{"d":[{"y":2,"z":1}]},"b":1,"n":"10"}',
  );
  assert.equal(canonicalJson([3, "x", null]), '[3,"x",null]');
  assert.equal(canonicalJson("s"), '"s"');
});

Deno.test("hashJson: equal specs hash equally whatever their key order", () => {
  assert.equal(hashJson({ a: 1, b: [1, 2] }), hashJson({ b: [1, 2], a: 1 }));
  assert.notEqual(hashJson({ b: [1, 2] }), hashJson({ b: [2, 1] }), "array order matters");
  assert.match(hashJson(null), /^[0-9a-f]{64}$/);
  assert.equal(hashJson({}), "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
});
