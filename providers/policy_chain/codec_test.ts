import assert from "node:assert/strict";
import { compileRules, PolicyChain } from "../../resources/policy_chain.ts";
import { decodeRuleset, encodeRuleset } from "./codec.ts";

const attach = [{ dev: "eth1", hooks: ["ingress" as const, "egress" as const] }, {
  dev: "wwan0",
  hooks: ["ingress" as const],
}];

Deno.test("the ruleset element decodes to the rules it was encoded from", () => {
  const chain = new PolicyChain("edge", {
    attach,
    rules: [
      { select: { remote: "2001:db8::/32", mptcp: ["join", "addAddr"] }, act: [{ drop: true }] },
      { select: { dev: "wwan0", mptcp: "any", localPort: "8000-8080" }, act: [{ record: true }] },
      { select: { local: "10.0.0.0/8" }, act: [{ mark: 0xffffffff }] },
      {
        select: { remotePort: 443 },
        act: [{ clampWindow: 65535 }, { stripAddAddr: true, allowFallback: true }],
      },
    ],
  });
  const rules = compileRules(chain.spec.rules, { eth1: 3, wwan0: 7 });
  assert.deepEqual(decodeRuleset(encodeRuleset(rules)), rules);
  assert.equal(rules[1].clauses[0].ifindex, 7);
});

Deno.test("the ruleset header tells the program when to parse options and look up clamped connections", () => {
  const header = (rules: Parameters<typeof encodeRuleset>[0]) =>
    new DataView(encodeRuleset(rules).buffer).getBigUint64(8, true);
  assert.equal(header([{ clauses: [{}], act: { record: true } }]), 0n);
  assert.equal(header([{ clauses: [{}], act: { stripAddAddr: true } }]), 1n, "options parsed");
  assert.equal(header([{ clauses: [{}], act: { clampWindow: 4096 } }]), 1n << 32n, "clamp");
});
