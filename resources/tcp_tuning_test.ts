import assert from "node:assert/strict";
import type { z } from "zod";
import { SpecError } from "../engine/errors.ts";
import { Stack } from "../engine/stack.ts";
import type { KindMeta, Observed } from "../engine/types.ts";
import {
  TcpTuning,
  tcpTuningActions,
  type TcpTuningDesired,
  type TcpTuningMetaExtra,
  type TcpTuningSpecInput,
  type TcpTuningState,
} from "./tcp_tuning.ts";
import { normalisePorts, type tcpTuningSchema } from "./tcp_tuning/schema.ts";

// The documented input interface and the schema must accept the same things.
const inputMatchesSchema: TcpTuningSpecInput extends z.input<typeof tcpTuningSchema> ? true
  : never = true;
assert.ok(inputMatchesSchema);

const CG = "/sys/fs/cgroup/unified/web";

function specError(spec: unknown): SpecError {
  try {
    new TcpTuning("dc", spec as TcpTuningSpecInput);
  } catch (e) {
    if (e instanceof SpecError) return e;
    throw e;
  }
  throw new Error("expected a SpecError");
}

Deno.test("TcpTuning normalises the issue's example", () => {
  const r = new TcpTuning("dc", {
    cgroup: `${CG}/`,
    rules: [
      { match: { remote: "10.0.0.0/8" }, set: { synRtoMs: 20, initCwnd: 40, congestion: "bbr" } },
      {
        match: { remote: "2001:DB8::/32", remotePorts: [443] },
        set: { sndBuf: 4_194_304, rcvBuf: 4_194_304 },
      },
      {
        match: { local: "10.1.2.0/24", subflow: true },
        set: { congestion: "cubic", maxPacingRate: "20mbit", mark: 0x2 },
      },
      { match: {}, set: { congestion: "bbr" }, sample: 0.1 },
    ],
  });
  assert.equal(r.spec.cgroup, CG);
  assert.equal(r.spec.rules[1].match.remote, "2001:db8::/32");
  assert.equal(r.spec.rules[2].set.maxPacingRate, 2_500_000);
  assert.equal(r.spec.rules[3].sample, 0.1);
  assert.equal(r.spec.rules[0].sample, 1);
  assert.deepEqual(
    new TcpTuning("x", { cgroup: CG, rules: [{ set: { noDelay: true } }] }).spec.rules[0].match,
    {},
  );
});

Deno.test("TcpTuning errors name the field path", async (t) => {
  const cases: [string, unknown, string][] = [
    ["negative synRtoMs", { set: { synRtoMs: -5 } }, "rules[0].set.synRtoMs: synRtoMs must be"],
    ["absurd initCwnd", { set: { initCwnd: 1e6 } }, "rules[0].set.initCwnd"],
    ["fractional mark", { set: { mark: 1.5 } }, "rules[0].set.mark: mark must be an integer"],
    ["bad congestion name", { set: { congestion: "BBR!" } }, "rules[0].set.congestion"],
    ["empty set", { set: {} }, "rules[0].set: set must name at least one setting"],
    ["unknown setting", { set: { window: 3 } }, "rules[0].set"],
    ["host bits", { match: { remote: "10.0.0.1/8" }, set: { noDelay: true } }, "did you mean"],
    ["bad port", { match: { localPorts: [0] }, set: { noDelay: true } }, "localPorts[0]"],
    ["reversed range", { match: { remotePorts: ["90-80"] }, set: { noDelay: true } }, "90-80"],
    ["sample > 1", { set: { noDelay: true }, sample: 1.5 }, "rules[0].sample: sample must be 0–1"],
    ["pacing too fast", { set: { maxPacingRate: "40gbit" } }, "32-bit SO_MAX_PACING_RATE"],
    ["ecn false", { set: { ecn: false } }, "rules[0].set.ecn"],
    ["rtoMin over 200", { set: { rtoMinMs: 500 } }, "rules[0].set.rtoMinMs"],
  ];
  for (const [name, rule, expected] of cases) {
    await t.step(name, () => {
      const err = specError({ cgroup: CG, rules: [rule] });
      assert.match(err.message, new RegExp(expected.replace(/[[\]().*+?]/g, "\\$&")));
      assert.ok(err.message.startsWith("dc."), err.message);
    });
  }
  await t.step("relative cgroup", () => {
    assert.match(specError({ cgroup: "web", rules: [] }).message, /^dc\.cgroup: .*absolute/);
  });
  await t.step("third rule", () => {
    const rules = [{ set: { noDelay: true } }, { set: { noDelay: true } }, {
      set: { synRtoMs: 0 },
    }];
    assert.match(specError({ cgroup: CG, rules }).message, /^dc\.rules\[2\]\.set\.synRtoMs: /);
  });
  await t.step("too many rules", () => {
    const rules = Array.from({ length: 65 }, () => ({ set: { noDelay: true } }));
    assert.match(specError({ cgroup: CG, rules }).message, /at most 64 rules/);
  });
});

Deno.test("a v4-mapped IPv6 prefix is written as the IPv4 prefix it is", () => {
  const r = new TcpTuning("x", {
    cgroup: CG,
    rules: [{ match: { remote: "::ffff:10.0.0.0/104", local: "::/0" }, set: { noDelay: true } }],
  });
  assert.deepEqual(r.spec.rules[0].match, { remote: "10.0.0.0/8", local: "::/0" });
});

Deno.test("normalisePorts sorts, dedupes and folds one-port ranges", () => {
  assert.deepEqual(normalisePorts([443, "80-80", "8000-8080", 443]), [80, 443, "8000-8080"]);
});

const desired: TcpTuningDesired = {
  cgroup: CG,
  cgroupId: "1234",
  objectHash: "a".repeat(64),
  hz: 250,
  rules: new TcpTuning("dc", { cgroup: CG, rules: [{ set: { synRtoMs: 20 } }] }).spec.rules,
  specHash: "s",
};

function observed(
  patch: Partial<TcpTuningState> = {},
  meta: Partial<KindMeta<TcpTuningMetaExtra>> = {},
): Observed<TcpTuningState, TcpTuningMetaExtra> {
  const state: TcpTuningState = {
    pins: { link: true, prog: true, ruleset: true, counters: true },
    link: { id: 7, progId: 9, cgroupId: "1234" },
    program: { id: 9, tag: "0011223344556677" },
    ruleset: { hz: 250, rules: structuredClone(desired.rules) },
    ...patch,
  };
  const m: KindMeta<TcpTuningMetaExtra> = {
    kind: "TcpTuning",
    name: "dc",
    specHash: "s",
    objectHash: desired.objectHash,
    toolVersion: "0",
    extra: { cgroup: CG, cgroupId: null },
    ...meta,
  };
  return { meta: m, state };
}

const diff = (o: Observed<TcpTuningState, TcpTuningMetaExtra> | null, d = desired) =>
  new TcpTuning("dc", { cgroup: CG, rules: [] }).diff(o, d);

Deno.test("diff() is empty when the kernel matches", () => {
  assert.deepEqual(diff(observed()), []);
});

Deno.test("diff() reports a rule edit as a hitless map update", () => {
  const edited = observed();
  edited.state.ruleset!.rules[0].set.synRtoMs = 30;
  const [change] = diff(edited);
  assert.equal(change.path, "rules[0]");
  assert.match(change.reason, /set\.synRtoMs/);
  assert.equal(change.hitless, true);
  const added = diff(observed(), { ...desired, rules: [...desired.rules, desired.rules[0]] });
  assert.deepEqual(added.map((c) => [c.path, c.reason.split(" (")[0]]), [[
    "rules[1]",
    "rule added",
  ]]);
});

Deno.test("diff() repairs a detached or missing link", () => {
  const detached = diff(observed({ link: { id: 7, progId: 9, cgroupId: "0" } }));
  assert.deepEqual(detached.map((c) => [c.path, c.before]), [["link", "detached"]]);
  const missing = diff(observed({ link: null }));
  assert.deepEqual(missing.map((c) => [c.path, c.before]), [["link", "missing"]]);
});

Deno.test("diff() moves to a new cgroup create-before-destroy", () => {
  const [c] = diff(observed(), { ...desired, cgroup: `${CG}2`, cgroupId: "99" });
  assert.equal(c.path, "cgroup");
  assert.equal(c.hitless, true);
  assert.equal(c.forcesReplace, undefined);
});

Deno.test("diff() swaps a new program build atomically, and a foreign one back", () => {
  const [build] = diff(observed({}, { objectHash: "b".repeat(64) }));
  assert.equal(build.path, "program");
  assert.equal(build.hitless, true);
  const [foreign] = diff(observed({ link: { id: 7, progId: 10, cgroupId: "1234" } }));
  assert.match(foreign.reason, /other than the pinned one/);
});

Deno.test("diff() rebuilds when a map or program pin is gone", () => {
  const changes = diff(
    observed({ pins: { link: true, prog: true, ruleset: false, counters: true } }),
  );
  assert.deepEqual(changes.map((c) => [c.path, c.forcesReplace]), [["ruleset", true]]);
});

Deno.test("diff() reports an emptied ruleset and a wrong HZ", () => {
  assert.equal(diff(observed({ ruleset: null }))[0].path, "rules");
  assert.equal(diff(observed({ ruleset: { hz: 100, rules: desired.rules } }))[0].path, "hz");
});

Deno.test("diff() of nothing deployed is one creation", () => {
  const [c] = diff(null);
  assert.match(c.reason, /not deployed/);
});

Deno.test("a stack refuses two TcpTuning on one cgroup", () => {
  const a = new TcpTuning("a", { cgroup: CG, rules: [] });
  const b = new TcpTuning("b", { cgroup: `${CG}/`, rules: [] });
  assert.throws(
    () => new Stack("s", [a, b]).ordered(),
    /^SpecError: b\.cgroup: .* already has TcpTuning "a"/,
  );
});

Deno.test("tcpTuningActions() pairs each change with the operation apply runs", () => {
  const ops = (o: Observed<TcpTuningState, TcpTuningMetaExtra> | null, d = desired) =>
    tcpTuningActions(o, d).map((a) => [a.change.path, a.op]);
  assert.deepEqual(ops(observed()), []);
  assert.deepEqual(ops(null), [["", "build"]]);
  assert.deepEqual(ops(observed({ link: null })), [["link", "attach-link"]]);
  assert.deepEqual(ops(observed(), { ...desired, cgroupId: "99" }), [["cgroup", "attach-link"]]);
  assert.deepEqual(ops(observed({}, { objectHash: "b".repeat(64) })), [[
    "program",
    "load-program",
  ]]);
  assert.deepEqual(ops(observed({ link: { id: 7, progId: 10, cgroupId: "1234" } })), [[
    "program",
    "swap-program",
  ]]);
  assert.deepEqual(ops(observed({ ruleset: null })), [["rules", "write-rules"]]);
  const gone = observed({ pins: { link: true, prog: false, ruleset: true, counters: true } });
  assert.deepEqual(ops(gone), [["prog", "build"]]);
  // The plan shows exactly the changes of these actions.
  const edited = observed({}, { objectHash: "b".repeat(64) });
  assert.deepEqual(diff(edited), tcpTuningActions(edited, desired).map((a) => a.change));
});
