import assert from "node:assert/strict";
import { planJson, PROVIDER_NAME } from "./render_json.ts";
import type { Plan, Step } from "./plan.ts";
import type { Action, Change, ForeignProgram, Observed } from "./types.ts";

const meta = {
  kind: "FakeThing",
  name: "x",
  specHash: "h",
  objectHash: "",
  toolVersion: "0.1.0",
  extra: {},
};
/** Metadata saying the kernel was last made to match step `name`'s current spec. */
const appliedMeta = (name: string) => ({ ...meta, specHash: `hash-${name}` });

function step(
  action: Action,
  name: string,
  opts: { observed?: Observed | null; spec?: unknown; changes?: Change[]; drift?: Change[] } = {},
): Step {
  const changes = opts.changes ?? [];
  return {
    address: `FakeThing.${name}`,
    kind: "FakeThing",
    name,
    dir: `/fake/sockform/demo/${name}`,
    action,
    changes,
    drift: opts.drift ?? [],
    hitless: changes.every((c) => c.hitless),
    specHash: action === "delete" ? "" : `hash-${name}`,
    observed: opts.observed ?? null,
    spec: action === "delete" ? undefined : opts.spec ?? { size: 1 },
  };
}

const size: Change = { path: "size", before: 7, after: 1, reason: "size differs", hitless: false };

const plan: Plan = {
  stack: "demo",
  stackDir: "/fake/sockform/demo",
  token: "tok",
  toolVersion: "0.1.0",
  steps: [
    step("create", "new"),
    step("update", "grow", { observed: { meta, state: { size: 7 } }, changes: [size] }),
    step("replace", "swap", { observed: { meta, state: { size: 1, flavor: "x" } } }),
    step("delete", "old", { observed: { meta, state: { size: 3 } } }),
    step("no-op", "same", { observed: { meta, state: { size: 1 } } }),
    step("update", "drifted", {
      observed: { meta: appliedMeta("drifted"), state: { size: 7 } },
      changes: [size],
      drift: [size],
    }),
  ],
};

/** What a consumer sees: the JSON text parsed back. */
const json = () => JSON.parse(JSON.stringify(planJson(plan)));

Deno.test("render json: top level follows Terraform's plan representation", () => {
  const out = json();
  assert.equal(out.format_version, "1.2");
  assert.equal(out.terraform_version, "0.1.0");
  assert.equal(out.errored, false);
  assert.equal(out.applyable, true);
  assert.equal(out.complete, true);
  assert.match(out.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.deepEqual(out.sockform, {
    stack: "demo",
    state_dir: "/fake/sockform/demo",
    token: "tok",
    warnings: [],
    tool: "sockform 0.1.0",
  });
  assert.equal(out.resource_changes.length, plan.steps.length);
});

Deno.test("render json: change.actions per step, replace as create then delete", () => {
  const actions = json().resource_changes.map((c: { change: { actions: string[] } }) =>
    c.change.actions
  );
  assert.deepEqual(actions, [
    ["create"],
    ["update"],
    ["create", "delete"],
    ["delete"],
    ["no-op"],
    ["update"],
  ]);
});

Deno.test("render json: action_reason only for replace and delete", () => {
  const reasons = json().resource_changes.map((c: Record<string, unknown>) => [
    c.name,
    "action_reason" in c ? c.action_reason : "(absent)",
  ]);
  assert.deepEqual(reasons, [
    ["new", "(absent)"],
    ["grow", "(absent)"],
    ["swap", "replace_because_cannot_update"],
    ["old", "delete_because_no_resource_config"],
    ["same", "(absent)"],
    ["drifted", "(absent)"],
  ]);
});

Deno.test("render json: addresses, before/after and sockform details", () => {
  const [create, update, , del] = json().resource_changes;
  assert.deepEqual(
    [create.address, create.mode, create.type, create.name, create.provider_name],
    ["FakeThing.new", "managed", "FakeThing", "new", PROVIDER_NAME],
  );
  assert.deepEqual([create.change.before, create.change.after], [null, { size: 1 }]);
  assert.deepEqual([update.change.before, update.change.after], [{ size: 7 }, { size: 1 }]);
  // The kernel keeps the spec's hash, not the spec: a delete's observed spec is unknown.
  assert.deepEqual([del.change.before, del.change.after], [null, null]);
  assert.deepEqual(create.change.after_unknown, {});
  assert.equal(create.change.before_sensitive, false);
  assert.deepEqual(create.change.after_sensitive, {});
  assert.deepEqual(update.sockform, {
    hitless: false,
    changes: [size],
    spec_hash: "hash-grow",
    state_dir: "/fake/sockform/demo/grow",
    observed: { size: 7 },
    foreign_programs: [],
  });
  assert.equal(create.sockform.hitless, true);
  assert.equal(del.sockform.spec_hash, "");
});

Deno.test("render json: resource_drift lists only drifted resources with what differs", () => {
  const out = json();
  assert.equal(out.resource_drift.length, 1);
  const [drift] = out.resource_drift;
  assert.deepEqual(
    [drift.address, drift.mode, drift.type, drift.name, drift.provider_name],
    ["FakeThing.drifted", "managed", "FakeThing", "drifted", PROVIDER_NAME],
  );
  // Terraform's meaning: before = last applied (the spec, unchanged), after = the kernel now.
  assert.deepEqual(drift.change, {
    actions: ["update"],
    before: { size: 1 },
    after: { size: 7 },
    after_unknown: {},
    before_sensitive: {},
    after_sensitive: {},
  });
  assert.deepEqual(drift.sockform, { drift: [size] });
});

Deno.test("render json: an empty plan has empty lists and no resource_drift key", () => {
  const out = planJson({ ...plan, steps: [] });
  assert.deepEqual(out.resource_changes, []);
  assert.ok(!("resource_drift" in out));
  assert.equal(out.applyable, false);
});

const thief: ForeignProgram = {
  hook: "sk_lookup",
  target: "netns /run/netns/lab",
  progId: 42,
  linkId: 7,
  name: "steal80",
  tag: "0011223344556677",
  owner: null,
  runs: "before",
  canOverride: true,
  effect: "runs before ours: a socket it assigns wins",
};

Deno.test("render json: foreign programs go in the sockform block and warnings, not in actions", () => {
  const same = { ...step("no-op", "same", { observed: { meta, state: { size: 1 } } }) };
  const out = planJson({ ...plan, steps: [{ ...same, foreign: [thief] }] });
  const [change] = out.resource_changes;
  assert.deepEqual(change.change.actions, ["no-op"]);
  assert.deepEqual(change.sockform.foreign_programs, [thief]);
  assert.deepEqual(out.sockform.warnings, [
    'FakeThing.same: foreign sk_lookup program id 42 "steal80" (not sockform\'s) on netns /run/netns/lab: runs before ours: a socket it assigns wins',
  ]);
});

Deno.test("render json: replacing an unfinished resource is delete-then-create, tainted", () => {
  const partial = step("replace", "half", { observed: { meta: null, state: null } });
  const out = JSON.parse(JSON.stringify(planJson({ ...plan, steps: [partial] })));
  const [change] = out.resource_changes;
  assert.deepEqual(
    change.change.actions,
    ["delete", "create"],
    "Terraform's destroy-before-create",
  );
  assert.equal(change.action_reason, "replace_because_tainted");
});
