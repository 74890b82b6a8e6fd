import assert from "node:assert/strict";
import { completeSummary, renderPlan, summarize } from "./render_human.ts";
import type { Plan, Step } from "./plan.ts";
import type { Action, Change, ForeignProgram } from "./types.ts";

const ESC = "\x1b[";

function step(action: Action, name: string, changes: Change[] = [], drift: Change[] = []): Step {
  return {
    address: `FakeThing.${name}`,
    kind: "FakeThing",
    name,
    dir: `/fake/sockform/demo/${name}`,
    action,
    changes,
    drift,
    hitless: changes.every((c) => c.hitless),
    specHash: action === "delete" ? "" : "f00d",
    observed: null,
  };
}

const plainPlan = (steps: Step[]): Plan => ({
  stack: "demo",
  stackDir: "/fake/sockform/demo",
  steps,
  token: "t",
  toolVersion: "0.1.0",
});

const sizeChange: Change = {
  path: "size",
  before: 1,
  after: 2,
  reason: "size differs",
  hitless: false,
};
const labelAdd: Change = { path: "label", after: "web", reason: "label not set", hitless: true };
const gone: Change = { path: "", before: "abc123", reason: "no longer declared", hitless: false };
const flavor: Change = {
  path: "flavor",
  before: "x",
  after: "y",
  reason: "flavor differs",
  hitless: false,
  forcesReplace: true,
};

const mixed = () =>
  plainPlan([
    step("no-op", "same"),
    step("create", "new", [labelAdd]),
    step("update", "grow", [sizeChange, labelAdd], [sizeChange]),
    step("replace", "swap", [flavor]),
    step("delete", "old", [gone]),
  ]);

Deno.test("render human: symbols, notes and change lines without colour", () => {
  const text = renderPlan(mixed(), { color: false });
  assert.ok(!text.includes(ESC), "no ANSI escapes with color:false");
  assert.deepEqual(text.split("\n"), [
    'sockform plan for stack "demo" (/fake/sockform/demo)',
    "",
    "sockform will perform the following actions:",
    "",
    "  # FakeThing.new will be created",
    "  + FakeThing.new  (hitless)",
    "      + label: web  # label not set",
    "",
    "  # FakeThing.grow will be updated in-place",
    "  ~ FakeThing.grow  (NOT hitless)",
    "      drift ~ size: 1 → 2  # size differs [not hitless]",
    "      + label: web  # label not set",
    "",
    "  # FakeThing.swap must be replaced",
    "  -/+ FakeThing.swap  (NOT hitless)",
    "      ~ flavor: x → y  # flavor differs [not hitless]",
    "",
    "  # FakeThing.old will be destroyed",
    "  - FakeThing.old  (NOT hitless)",
    "      - abc123  # no longer declared [not hitless]",
    "",
    "Plan: 2 to add, 1 to change, 2 to destroy.",
    "3 step(s) not hitless.",
  ]);
});

Deno.test("render human: colour codes per action when color:true", () => {
  const text = renderPlan(mixed(), { color: true });
  assert.ok(text.includes(`${ESC}32m+${ESC}0m FakeThing.new`), "create is green");
  assert.ok(text.includes(`${ESC}33m~${ESC}0m FakeThing.grow`), "update is yellow");
  assert.ok(text.includes(`${ESC}35m-/+${ESC}0m FakeThing.swap`), "replace is magenta");
  assert.ok(text.includes(`${ESC}31m-${ESC}0m FakeThing.old`), "delete is red");
  assert.ok(text.includes(`${ESC}31m(NOT hitless)${ESC}0m`));
  assert.ok(text.includes(`${ESC}35mdrift ${ESC}0m`));
  const sgr = new RegExp(String.fromCharCode(27) + "\\[\\d+m", "g"); // ESC [ n m
  const stripped = text.replace(sgr, "");
  assert.equal(stripped, renderPlan(mixed(), { color: false }), "same text under the colour");
});

Deno.test("render human: no changes", () => {
  const text = renderPlan(plainPlan([step("no-op", "a"), step("no-op", "b")]), { color: false });
  assert.equal(text.split("\n").at(-1), "No changes. The kernel matches the stack.");
  assert.ok(!text.includes("Plan:"));
  const empty = renderPlan(plainPlan([]), { color: false });
  assert.equal(empty.split("\n").at(-1), "No changes. The kernel matches the stack.");
});

Deno.test("render human: an all-hitless plan says so", () => {
  const text = renderPlan(plainPlan([step("create", "a", [labelAdd])]), { color: false });
  assert.deepEqual(text.split("\n").slice(-2), [
    "Plan: 1 to add, 0 to change, 0 to destroy.",
    "All steps hitless.",
  ]);
});

Deno.test("render human: values that are not strings are shown as JSON", () => {
  const change: Change = {
    path: "bindings[0]",
    before: { port: 80 },
    after: [1, 2],
    reason: "edited",
    hitless: true,
  };
  const text = renderPlan(plainPlan([step("update", "a", [change])]), { color: false });
  assert.ok(text.includes('      ~ bindings[0]: {"port":80} → [1,2]  # edited\n'));
});

Deno.test("summarize: counts each action, ignoring no-ops", () => {
  assert.deepEqual(summarize(mixed()), { create: 1, update: 1, replace: 1, delete: 1 });
  assert.deepEqual(summarize(plainPlan([step("no-op", "a")])), {
    create: 0,
    update: 0,
    replace: 0,
    delete: 0,
  });
});

Deno.test("render human: foreign programs are listed under their resource and warned about", () => {
  const foreign: ForeignProgram = {
    hook: "sock_ops",
    target: "cgroup /sys/fs/cgroup/unified/web (inherited)",
    progId: 9,
    linkId: null,
    name: "reno",
    tag: "aa",
    owner: "sockform stack other resource tune",
    runs: "after",
    canOverride: true,
    effect: "runs after ours on each callback: options it sets replace ours",
  };
  const out = renderPlan(plainPlan([{ ...step("no-op", "same"), foreign: [foreign] }]), {
    color: false,
  });
  assert.match(
    out,
    /FakeThing\.same {2}up to date\n {6}! foreign sock_ops program id 9 "reno" \(no link, sockform stack other resource tune\) on cgroup \/sys\/fs\/cgroup\/unified\/web \(inherited\): runs after ours/,
  );
  assert.match(
    out,
    /No changes\. The kernel matches the stack\.\nWarning: 1 foreign program\(s\) share hooks with this stack, 1 of which can override it/,
  );
});

/**
 * tfcmt's plan parser regexes (suzuki-shunsuke/tfcmt pkg/terraform/parser.go,
 * NewPlanParser), applied per line as tfcmt does.
 */
const TFCMT = {
  pass: /^(Plan: \d|No changes.)/m,
  fail: /^([│|] )?(Error: )/m,
  hasDestroy: /([1-9][0-9]* to destroy.)/m,
  create: /^ *# (.*) will be created$/,
  update: /^ *# (.*) will be updated in-place$/,
  delete: /^ *# (.*) will be destroyed$/,
  replace: /^ *# (.*?)(?: is tainted, so)? must be replaced$/,
};

function tfcmtParse(body: string) {
  const lines = body.split("\n");
  const pick = (re: RegExp) => lines.map((l) => re.exec(l)?.[1]).filter((a) => a !== undefined);
  return {
    pass: TFCMT.pass.test(body),
    hasDestroy: TFCMT.hasDestroy.test(body),
    created: pick(TFCMT.create),
    updated: pick(TFCMT.update),
    deleted: pick(TFCMT.delete),
    replaced: pick(TFCMT.replace),
  };
}

Deno.test("render human: tfcmt's header and summary regexes read the plan text", () => {
  assert.deepEqual(tfcmtParse(renderPlan(mixed(), { color: false })), {
    pass: true,
    hasDestroy: true,
    created: ["FakeThing.new"],
    updated: ["FakeThing.grow"],
    deleted: ["FakeThing.old"],
    replaced: ["FakeThing.swap"],
  });
  const none = tfcmtParse(renderPlan(plainPlan([step("no-op", "a")]), { color: false }));
  assert.deepEqual(none, {
    pass: true,
    hasDestroy: false,
    created: [],
    updated: [],
    deleted: [],
    replaced: [],
  });
});

Deno.test("completeSummary: Terraform's closing lines of apply and destroy", () => {
  assert.equal(
    completeSummary(mixed(), "apply"),
    "Apply complete! Resources: 2 added, 1 changed, 2 destroyed.",
  );
  assert.equal(
    completeSummary(plainPlan([step("no-op", "a")]), "apply"),
    "Apply complete! Resources: 0 added, 0 changed, 0 destroyed.",
  );
  const destroy = plainPlan([step("delete", "a", [gone]), step("delete", "b", [gone])]);
  assert.equal(completeSummary(destroy, "destroy"), "Destroy complete! Resources: 2 destroyed.");
});
