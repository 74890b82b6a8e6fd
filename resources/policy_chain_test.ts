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
    "stripAddAddr without allowFallback, naming the field",
    () =>
      refuse(
        [{ act: [{ drop: true }] }, { act: [{ record: true }, { stripAddAddr: true }] }],
        /rules\[1\]\.act\[1\]\.allowFallback: stripAddAddr pushes MPTCP connections back to plain TCP/,
      ),
  );
  await t.step(
    "clampWindow with no egress hook to rewrite",
    () =>
      assert.throws(
        () =>
          new PolicyChain("edge", {
            attach: [{ dev: "eth1", hooks: ["ingress"] }],
            rules: [{ act: [{ clampWindow: 65535 }] }],
          }),
        /rules\[0\]\.act: clampWindow rewrites the window of sent packets/,
      ),
  );
  await t.step(
    "a clampWindow under 1024 bytes",
    () =>
      refuse(
        [{ act: [{ clampWindow: 100 }] }],
        /act\[0\]\.clampWindow: clampWindow is at least 1024/,
      ),
  );
  await t.step(
    "more than 64 rules",
    () => refuse(Array.from({ length: 65 }, () => ({ act: [{ drop: true }] })), /at most 64/),
  );
});

Deno.test("at XDP only drop and record: other actors and xdp beside tc ingress are refused", async (t) => {
  const xdp = [{ dev: "eth1", hooks: ["xdp" as const] }, {
    dev: "wwan0",
    hooks: ["egress" as const],
  }];
  const spec = (rules: unknown, a: unknown = xdp) => ({ attach: a, rules } as never);
  const refused = (s: never) => {
    try {
      new PolicyChain("edge", s);
    } catch (e) {
      if (e instanceof SpecError) return e.message;
      throw e;
    }
    return "";
  };
  await t.step("mark on a rule that can match on an XDP device names the rule", () => {
    const why = refused(
      spec([{ act: [{ drop: true }] }, { act: [{ mark: 1 }, { record: true }] }]),
    );
    assert.match(why, /rules\[1\]\.act: mark cannot run at XDP \(no skb yet\).*eth1 \(xdp\)/);
  });
  await t.step("mark limited to egress or to a tc device is fine", () => {
    assert.equal(refused(spec([{ select: { direction: "egress" }, act: [{ mark: 1 }] }])), "");
    assert.equal(refused(spec([{ select: { dev: "wwan0" }, act: [{ mark: 1 }] }])), "");
    assert.match(
      refused(spec([{ select: { any: [{ dev: "wwan0" }, { dev: "eth1" }] }, act: [{ mark: 1 }] }])),
      /rules\[0\]\.act: mark cannot run at XDP/,
    );
  });
  await t.step("xdp and ingress on one device", () => {
    const both = [{ dev: "eth1", hooks: ["xdp", "ingress"] }];
    assert.match(refused(spec([], both)), /attach\[0\]\.hooks: eth1: choose xdp or ingress/);
  });
});

Deno.test("stripAddAddr is accepted with allowFallback on the actor or on the rule", () => {
  const chain = new PolicyChain("edge", {
    attach,
    rules: [
      { act: [{ stripAddAddr: true, allowFallback: true }] },
      { act: [{ stripAddAddr: true }, { clampWindow: 65535 }], allowFallback: true },
    ],
  });
  assert.deepEqual(chain.spec.rules.map((r) => r.act), [
    { stripAddAddr: true },
    { stripAddAddr: true, clampWindow: 65535 },
  ]);
});
