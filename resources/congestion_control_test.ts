import assert from "node:assert/strict";
import { CongestionControl } from "./congestion_control.ts";
import { TcpTuning } from "./tcp_tuning.ts";
import { Stack } from "../engine/stack.ts";
import { SpecError } from "../engine/errors.ts";
import type {
  CongestionControlDesired,
  CongestionControlMetaExtra,
  CongestionControlState,
} from "./congestion_control/diff.ts";
import type { Observed } from "../engine/types.ts";

const desired: CongestionControlDesired = {
  ccName: "sf_reno",
  source: "sfReno",
  objectHash: "a".repeat(64),
  mapName: "sf_reno",
  specHash: "s",
};

function deployed(
  state: Partial<CongestionControlState>,
  meta: { objectHash?: string; specHash?: string; ccName?: string } = {},
): Observed<CongestionControlState, CongestionControlMetaExtra> {
  return {
    meta: {
      schema: 1,
      kind: "CongestionControl",
      name: "reno",
      specHash: meta.specHash ?? "s",
      objectHash: meta.objectHash ?? desired.objectHash,
      toolVersion: "t",
      extra: { ccName: meta.ccName ?? "sf_reno" },
    },
    state: { link: { mapId: 7 }, available: ["reno", "sf_reno"], ...state },
  };
}

const cc = new CongestionControl("reno", { program: "sfReno" });
const summary = (o: Observed<CongestionControlState, CongestionControlMetaExtra> | null) =>
  cc.diff(o, desired).map((c) => [c.path, c.before, c.hitless, Boolean(c.forcesReplace)]);

Deno.test("CongestionControl.diff() names the one change each kernel state needs", async (t) => {
  await t.step("nothing there: register", () => {
    assert.deepEqual(summary(null), [["name", undefined, true, false]]);
  });
  await t.step("as declared: no change", () => assert.deepEqual(summary(deployed({})), []));
  await t.step("link pin missing, detached, or the name unlisted: register again", () => {
    assert.deepEqual(summary(deployed({ link: null })), [["link", "missing", true, false]]);
    assert.deepEqual(summary(deployed({ link: { mapId: 0 } })), [[
      "link",
      "detached",
      true,
      false,
    ]]);
    assert.deepEqual(summary(deployed({ available: ["reno"] })), [[
      "link",
      "unlisted",
      true,
      false,
    ]]);
  });
  await t.step("a new build: one link update, hitless", () => {
    const old = deployed({}, { objectHash: "b".repeat(64) });
    assert.deepEqual(summary(old), [["program", "b".repeat(64), true, false]]);
  });
  await t.step("another registered name: replace, not hitless", () => {
    assert.deepEqual(summary(deployed({}, { ccName: "old_cc" })), [[
      "name",
      "old_cc",
      false,
      true,
    ]]);
  });
});

Deno.test("CongestionControl spec: a shipped name or an object path, made absolute", () => {
  assert.equal(cc.registers, "sf_reno");
  const user = new CongestionControl("mine", { program: { object: "cc/my.bpf.o" } });
  assert.deepEqual(user.spec, { program: { object: `${Deno.cwd()}/cc/my.bpf.o` } });
  assert.equal(user.registers, null);
  assert.throws(
    () => new CongestionControl("bad", { program: "cubic" as "sfReno" }),
    (e: Error) => e instanceof SpecError && e.message.startsWith("bad.program"),
  );
});

Deno.test("a TcpTuning that names a congestion follows the CongestionControls that may register it", () => {
  const tune = (congestion: string) =>
    new TcpTuning("tune", { cgroup: "/sys/fs/cgroup/x", rules: [{ set: { congestion } }] });
  const user = new CongestionControl("mine", { program: { object: "/x.bpf.o" } });
  const order = (...r: (TcpTuning | CongestionControl)[]) =>
    new Stack("s", r).ordered().map((x) => x.name);
  assert.deepEqual(order(tune("sf_reno"), cc), ["reno", "tune"]);
  assert.deepEqual(order(tune("bbr"), cc), ["tune", "reno"], "bbr is not sf_reno");
  assert.deepEqual(order(tune("bbr"), user), ["mine", "tune"], "its name is unknown until plan");
  const loop = new CongestionControl("reno", { program: "sfReno" }, { dependsOn: ["tune"] });
  assert.throws(
    () => order(tune("sf_reno"), loop),
    /cycle: /,
    "an implied dependency closes a cycle",
  );
});
