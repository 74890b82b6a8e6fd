import assert from "node:assert/strict";
import type { Observed } from "../../engine/types.ts";
import {
  policyChainActions,
  type PolicyChainDesired,
  type PolicyChainMetaExtra,
  type PolicyChainState,
} from "./diff.ts";

const desired: PolicyChainDesired = {
  netns: "/run/netns/edge",
  netnsIno: "4026532",
  mode: "tcx",
  links: [
    { pin: "link-ingress-eth1", dev: "eth1", ifindex: 3, hook: "ingress" },
    { pin: "link-egress-eth1", dev: "eth1", ifindex: 3, hook: "egress" },
  ],
  rules: [{ clauses: [{ mptcp: ["addAddr"] }], act: { drop: true } }],
  objectHash: "a".repeat(64),
  specHash: "s".repeat(64),
};

function deployed(edit: (s: PolicyChainState) => void = () => {}) {
  const state: PolicyChainState = {
    pins: { ingress: true, egress: true, xdp: true, ruleset: true, counters: true, flows: true },
    programs: { ingress: 11, egress: 12, xdp: 13 },
    links: [
      { pin: "link-egress-eth1", id: 2, progId: 12, ifindex: 3, hook: "egress" },
      { pin: "link-ingress-eth1", id: 1, progId: 11, ifindex: 3, hook: "ingress" },
    ],
    rules: structuredClone(desired.rules),
  };
  edit(state);
  const meta = {
    kind: "PolicyChain",
    name: "edge",
    specHash: desired.specHash,
    objectHash: desired.objectHash,
    toolVersion: "test",
    extra: { netns: desired.netns, netnsIno: desired.netnsIno },
  };
  return { meta, state } as unknown as Observed<PolicyChainState, PolicyChainMetaExtra>;
}

const ops = (o: ReturnType<typeof deployed> | null, d = desired) =>
  policyChainActions(o, d).map((a) => [a.op, a.pin ?? a.change.path]);

Deno.test("policyChainActions() names each kernel difference and the operation that fixes it", async (t) => {
  await t.step("nothing deployed: one build", () => {
    assert.deepEqual(ops(null), [["build", ""]]);
  });
  await t.step("the same: nothing", () => {
    assert.deepEqual(ops(deployed()), []);
  });
  await t.step("a rule edited: one hitless map write per rule position", () => {
    const edited = { ...desired, rules: [...desired.rules, { clauses: [{}], act: { mark: 1 } }] };
    const actions = policyChainActions(deployed(), edited);
    assert.deepEqual(actions.map((a) => [a.op, a.change.path]), [["write-rules", "rules[1]"]]);
    assert.ok(actions.every((a) => a.change.hitless));
  });
  await t.step("a detached link and a link running a foreign program", () => {
    const o = deployed((s) => {
      s.links[0].progId = 99;
      s.links[1].ifindex = 0;
    });
    assert.deepEqual(ops(o), [
      ["attach-link", "link-ingress-eth1"],
      ["swap-program", "link-egress-eth1"],
    ]);
  });
  await t.step("a link no longer declared is removed", () => {
    const fewer = { ...desired, links: desired.links.slice(0, 1) };
    assert.deepEqual(ops(deployed(), fewer), [["detach-link", "link-egress-eth1"]]);
  });
  await t.step("a new build swaps programs, not links", () => {
    assert.deepEqual(ops(deployed(), { ...desired, objectHash: "b".repeat(64) }), [
      ["load-program", "program"],
    ]);
  });
  await t.step(
    "a missing flows pin reloads the programs hitlessly; flow entries are no drift",
    () => {
      const noFlows = policyChainActions(deployed((s) => (s.pins.flows = false)), desired);
      assert.deepEqual(noFlows.map((a) => [a.op, a.change.path, a.change.hitless]), [
        ["load-program", "flows", true],
      ]);
    },
  );
  await t.step("a missing map pin or another netns forces a rebuild", () => {
    const noMap = deployed((s) => (s.pins.ruleset = false));
    assert.deepEqual(ops(noMap), [["build", "ruleset"]]);
    const moved = policyChainActions(deployed(), { ...desired, netnsIno: "1" });
    assert.deepEqual(moved.map((a) => [a.op, a.change.forcesReplace]), [["build", true]]);
  });
  await t.step("a build from before chain_xdp (no xdp pin) gets it with its new build", () => {
    const old = deployed((s) => {
      s.pins.xdp = false;
      s.programs.xdp = null;
    });
    assert.deepEqual(ops(old, { ...desired, objectHash: "b".repeat(64) }), [
      ["load-program", "program"],
    ]);
    assert.deepEqual(ops(old), [["build", "xdp"]], "the current build always pins it");
  });
  await t.step("an XDP link: the plan says so", () => {
    const xdp = { pin: "link-xdp-eth2", dev: "eth2", ifindex: 5, hook: "xdp" as const };
    const withXdp = { ...desired, links: [...desired.links, xdp] };
    const [attach] = policyChainActions(deployed(), withXdp);
    assert.equal(attach.change.after, "xdp link on eth2 (ifindex 5)");
    assert.match(attach.change.reason, /before tc and the skb \(drop and record only\)/);
    const [build] = policyChainActions(null, withXdp);
    assert.match(
      String(build.change.after),
      /^tcx on eth1\/ingress, eth1\/egress, eth2\/xdp \(xdp link\)/,
    );
  });
});

Deno.test("policyChainActions() warns wherever stripAddAddr comes into force", () => {
  const strip = {
    ...desired,
    rules: [{ clauses: [{ mptcp: ["addAddr" as const] }], act: { stripAddAddr: true as const } }],
  };
  const [build] = policyChainActions(null, strip);
  assert.match(build.change.reason, /push the MPTCP connections it matches back to plain TCP/);
  const [edit] = policyChainActions(deployed(), strip);
  assert.equal(edit.op, "write-rules");
  assert.match(edit.change.reason, /back to plain TCP/);
  assert.doesNotMatch(policyChainActions(null, desired)[0].change.reason, /plain TCP/);
});
