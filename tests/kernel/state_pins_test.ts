/**
 * Tampered pins of a real SocketLookupRedirect, through the CLI: a foreign map
 * at a sockform pin name is drift naming the path and the shape difference
 * (apply replaces it), and pins or a directory whose mode or owner someone
 * changed are drift that apply repairs. Traffic is steered after each repair.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  applyOk,
  assertOneLinkEach,
  assertSteered,
  type Env,
  planClean,
  withEnv,
} from "../helpers/slr_loop.ts";
import { expectCode } from "../helpers/sockform_cli.ts";
import { BpfMap } from "../../providers/libbpf/map.ts";
import { BPF_MAP_TYPE_HASH } from "../../providers/libbpf/uapi.ts";
import { unpin } from "../../providers/libbpf/pins.ts";

async function planDrift(env: Env): Promise<string> {
  const r = await env.cli(["plan", "--detailed-exitcode"]);
  expectCode(r, 2, "plan with tampered pins");
  return r.stdout;
}

Deno.test("pins: a foreign map at a sockform pin name is drift that apply replaces", async () => {
  await withEnv(1, async (env) => {
    await applyOk(env, "first apply");
    const path = `${env.stackDir}/web/destinations`;
    unpin(path);
    const foreign = BpfMap.create(BPF_MAP_TYPE_HASH, "foreign", 8, 4, 4);
    try {
      // One entry: reading it as a destination (u64 cookie) overran the value.
      foreign.update(new Uint8Array(8), new Uint8Array(4));
      foreign.pin(path);
    } finally {
      foreign.close();
    }
    const out = await planDrift(env);
    assert.ok(out.includes(`${path} is a foreign map`), out);
    assert.match(out, /Type: SOCKHASH changed to HASH, KeySize: 4 changed to 8/);
    assert.match(out, /ValueSize: 8 changed to 4/);
    const show = await env.cli(["show"]);
    expectCode(show, 0, "show with a foreign map");
    await applyOk(env, "apply replaces the resource");
    await planClean(env);
    await assertSteered(env);
    await assertOneLinkEach(env);
  });
});

Deno.test("pins: changed pin and directory modes and owners are drift that apply repairs", async () => {
  await withEnv(1, async (env) => {
    await applyOk(env, "first apply");
    const dir = `${env.stackDir}/web`;
    Deno.chmodSync(`${dir}/bindings`, 0o666);
    Deno.chmodSync(`${dir}/meta`, 0o644);
    Deno.chownSync(`${dir}/link`, 65534, 65534);
    Deno.chmodSync(dir, 0o755);
    const out = await planDrift(env);
    assert.ok(out.includes(`${dir}/bindings has mode 0666`), out);
    assert.ok(out.includes(`${dir}/meta has mode 0644`), out);
    assert.ok(out.includes(`${dir}/link has mode 0600, owner uid 65534`), out);
    assert.ok(out.includes(`${dir} has mode 0755`), out);
    await applyOk(env, "apply repairs the modes");
    await planClean(env);
    for (const pin of ["bindings", "meta", "link"]) {
      const info = Deno.lstatSync(`${dir}/${pin}`);
      assert.equal((info.mode ?? 0) & 0o7777, 0o600, pin);
      assert.equal(info.uid, 0, pin);
    }
    assert.equal((Deno.lstatSync(dir).mode ?? 0) & 0o7777, 0o700);
    await assertSteered(env);
  });
});
