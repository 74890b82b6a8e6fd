import assert from "node:assert/strict";
import { btfFunctionIds, btfFunctionNames, kernelHasBtfFunction } from "./btf.ts";

/** A tiny BTF blob: INT "int", FUNC_PROTO (1 param), FUNC "update_socket_protocol", STRUCT "s" (2 members). */
function sampleBlob(): Uint8Array {
  const strings = "\0int\0update_socket_protocol\0s\0a\0b\0";
  const off = (s: string) => strings.indexOf(`\0${s}\0`) + 1;
  const words: number[] = [
    ...[off("int"), 1 << 24, 4, 0x01000020], // INT: name, kind 1, size 4, encoding word
    ...[0, (13 << 24) | 1, 1, 0, 1], // FUNC_PROTO returning type 1, one param (name 0, type 1)
    ...[off("update_socket_protocol"), 12 << 24, 2], // FUNC of proto 2
    ...[off("s"), (4 << 24) | 2, 8, off("a"), 1, 0, off("b"), 1, 32], // STRUCT, 2 members
  ];
  const types = new Uint8Array(new Uint32Array(words).buffer);
  const str = new TextEncoder().encode(strings);
  const blob = new Uint8Array(24 + types.length + str.length);
  const v = new DataView(blob.buffer);
  v.setUint16(0, 0xeb9f, true);
  v.setUint8(2, 1);
  v.setUint32(4, 24, true);
  v.setUint32(8, 0, true);
  v.setUint32(12, types.length, true);
  v.setUint32(16, types.length, true);
  v.setUint32(20, str.length, true);
  blob.set(types, 24);
  blob.set(str, 24 + types.length);
  return blob;
}

Deno.test("btfFunctionNames() finds FUNC types and walks past the others", () => {
  assert.deepEqual([...btfFunctionNames(sampleBlob())], ["update_socket_protocol"]);
});

Deno.test("btfFunctionNames() refuses a blob that is not BTF", () => {
  assert.throws(() => btfFunctionNames(new Uint8Array(32)), /bad magic/);
});

Deno.test("btfFunctionNames() refuses a truncated blob", () => {
  assert.throws(() => btfFunctionNames(sampleBlob().subarray(0, 40)), /truncated/);
});

Deno.test("kernelHasBtfFunction() is false when the BTF file does not exist", () => {
  assert.equal(kernelHasBtfFunction("update_socket_protocol", "/nonexistent/btf"), false);
});

Deno.test("btfFunctionIds() numbers types from 1 in the order they appear", () => {
  assert.deepEqual(btfFunctionIds(sampleBlob(), "update_socket_protocol"), [3]);
  assert.deepEqual(btfFunctionIds(sampleBlob(), "int"), [], "an INT is not a FUNC");
});
