import assert from "node:assert/strict";
import type { z } from "../deps.ts";
import { SpecError } from "../engine/errors.ts";
import { PolicyChain, type PolicyChainSpec } from "./policy_chain.ts";
import type { policyChainSchema } from "./policy_chain/schema.ts";

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

const attach = [{ dev: "eth1", hooks: ["ingress" as const, "egress" as const] }, {
  dev: "wwan0",
  hooks: ["ingress" as const],
}];

Deno.test("PolicyChainSpec is the schema's output type", () => {
  const output: Same<PolicyChainSpec, z.output<typeof policyChainSchema>> = true;
  assert.ok(output);
});

Deno.test("a selector with all-of and any-of flattens to one clause per alternative", () => {
  const chain = new PolicyChain("edge", {
    attach,
    rules: [{
      select: {
        remote: "198.51.100.7",
        all: [{ direction: "egress" }],
        any: [{ remotePort: 22 }, { remotePort: "443-443" }],
      },
      act: [{ mark: 16 }, { record: "vip" }],
    }],
  });
  assert.deepEqual(chain.spec.rules[0], {
    clauses: [
      { remote: "198.51.100.7/32", direction: "egress", remotePort: 22 },
      { remote: "198.51.100.7/32", direction: "egress", remotePort: 443 },
    ],
    act: { mark: 16, record: true },
  });
});

Deno.test("the spec refuses what the kernel could never do", async (t) => {
  const refuse = (rules: unknown, why: RegExp) =>
    assert.throws(
      () => new PolicyChain("edge", { attach, rules } as never),
      (e: unknown) => e instanceof SpecError && why.test(e.message),
    );
  await t.step(
    "a dev the chain is not attached to",
    () => refuse([{ select: { dev: "eth9" }, act: [{ drop: true }] }], /not in attach/),
  );
  await t.step(
    "one field twice with different values",
    () =>
      refuse(
        [{ select: { remotePort: 1, all: [{ remotePort: 2 }] }, act: [{ drop: true }] }],
        /twice/,
      ),
  );
  await t.step(
    "an actor that is not implemented",
    () => refuse([{ select: {}, act: [{ stripAddAddr: true }] }], /an actor is/),
  );
  await t.step(
    "more than 64 rules",
    () => refuse(Array.from({ length: 65 }, () => ({ act: [{ drop: true }] })), /at most 64/),
  );
});
