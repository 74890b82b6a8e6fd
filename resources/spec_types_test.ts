/**
 * The spec types users see are written out by hand (so docs and editors show
 * each field); these checks fail to type-check when one drifts from its zod
 * schema in either direction.
 */
import assert from "node:assert/strict";
import type { z } from "../deps.ts";
import type {
  MptcpifyHookSpec,
  MptcpifyHookSpecInput,
  PathManagerSpec,
  PathManagerSpecInput,
  SocketLookupRedirectSpec,
  SocketLookupRedirectSpecInput,
  TcpTuningSpec,
} from "../mod.ts";
import type { socketLookupRedirectSchema } from "./socket_lookup_redirect/schema.ts";
import type { mptcpifyHookSchema } from "./mptcpify_hook/schema.ts";
import type { tcpTuningSchema } from "./tcp_tuning/schema.ts";
import type { DECLARABLE_FLAGS, DeclaredFlag, pathManagerSchema } from "./path_manager/schema.ts";

/** true when A and B accept exactly the same values, else false. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

Deno.test("SocketLookupRedirect's spec types match its schema's input and output", () => {
  const input: Same<SocketLookupRedirectSpecInput, z.input<typeof socketLookupRedirectSchema>> =
    true;
  const output: Same<SocketLookupRedirectSpec, z.output<typeof socketLookupRedirectSchema>> = true;
  assert.ok(input && output);
});

Deno.test("MptcpifyHook's spec types match its schema's input and output", () => {
  const input: Same<MptcpifyHookSpecInput, z.input<typeof mptcpifyHookSchema>> = true;
  const output: Same<MptcpifyHookSpec, z.output<typeof mptcpifyHookSchema>> = true;
  assert.ok(input && output);
});

// TcpTuningSpecInput is checked one way in tcp_tuning_test.ts (it is narrower:
// the schema's input type accepts any string where the interface names a pattern).
Deno.test("TcpTuning's normalised spec type matches its schema's output", () => {
  const output: Same<TcpTuningSpec, z.output<typeof tcpTuningSchema>> = true;
  assert.ok(output);
});

Deno.test("PathManager's spec types match its schema's input and output", () => {
  const input: Same<PathManagerSpecInput, z.input<typeof pathManagerSchema>> = true;
  const output: Same<PathManagerSpec, z.output<typeof pathManagerSchema>> = true;
  const flags: Same<DeclaredFlag, typeof DECLARABLE_FLAGS[number]> = true;
  assert.ok(input && output && flags);
});
