/**
 * `plan --json` against a plan JSON written by a real `terraform show -json`
 * (engine/testdata/terraform/, see its README): key sets, value types and
 * action names, on create, update, delete, no-op and drift plans made by the
 * real planner over the fake store.
 */
import assert from "node:assert/strict";
import { type Plan, plan } from "./plan.ts";
import { erroredPlanJson, planJson } from "./render_json.ts";
import { applyStack } from "./session.ts";
import { Stack } from "./stack.ts";
import { fakeStore } from "./testing/fake.ts";
import { FakeThing, type FakeThingSpec } from "../tests/helpers/fake_resource.ts";

const fixture = (name: string) =>
  JSON.parse(Deno.readTextFileSync(new URL(`./testdata/terraform/${name}`, import.meta.url)));
const TF = fixture("show_json_drift.json");
const TF_ERROR = fixture("show_json_plan_error.json");

/** Terraform's action names (jsonplan's `actions`: no-op, create, read, update, delete). */
const TF_ACTION_NAMES = new Set(["no-op", "create", "read", "update", "delete"]);

/** In Terraform's format but absent from its golden files (its test harness strips them). */
const DOCUMENTED = {
  terraform_version: "string",
  timestamp: "string",
  applyable: "boolean",
  complete: "boolean",
  errored: "boolean",
} as const;

type Json = Record<string, unknown>;

function typeOf(v: unknown): string {
  return Array.isArray(v) ? "array" : v === null ? "null" : typeof v;
}

/**
 * `{key: type}` of an object. For `nullable` keys, null (a missing side) and
 * false (its `*_sensitive` flag, as Terraform writes it) count as "object".
 */
function shape(o: Json, nullable: string[] = []): Record<string, string> {
  const absent = (k: string, v: unknown) => nullable.includes(k) && (v === null || v === false);
  return Object.fromEntries(
    Object.entries(o).map(([k, v]) => [k, absent(k, v) ? "object" : typeOf(v)]),
  );
}

/** Every key Terraform writes is there with Terraform's type; extra keys are only the listed ones. */
function assertShape(
  ours: Json,
  theirs: Json,
  extra: string[],
  where: string,
  nullable?: string[],
) {
  const a = shape(ours, nullable);
  const b = shape(theirs, nullable);
  for (const [k, t] of Object.entries(b)) assert.equal(a[k], t, `${where}.${k}`);
  const unknown = Object.keys(a).filter((k) => !(k in b) && !extra.includes(k));
  assert.deepEqual(unknown, [], `${where}: keys Terraform does not have`);
}

const thing = (name: string, spec: FakeThingSpec) => new FakeThing(name, spec);

async function scenarios(): Promise<Record<string, Plan>> {
  const store = fakeStore();
  const v1 = new Stack("demo", [thing("a", { size: 1, label: "x" }), thing("b", { size: 2 })]);
  const create = await plan(v1, store);
  await applyStack(v1, store);
  const noop = await plan(v1, store);
  const update = await plan(
    new Stack("demo", [thing("a", { size: 3, label: "x" }), thing("b", { size: 2 })]),
    store,
  );
  const del = await plan(new Stack("demo", [thing("a", { size: 1, label: "x" })]), store);
  store.editState("demo", "a", (s) => ({ ...(s as FakeThingSpec), size: 7 }));
  const drift = await plan(v1, store);
  return { create, noop, update, delete: del, drift };
}

const TOP_EXTRA = [...Object.keys(DOCUMENTED), "sockform"];

Deno.test("terraform shape: top level, planned_values, prior_state, configuration", async () => {
  for (const [name, p] of Object.entries(await scenarios())) {
    const ours = JSON.parse(JSON.stringify(planJson(p))) as Json;
    const theirs = name === "drift" ? TF : { ...TF, resource_drift: undefined };
    assertShape(ours, JSON.parse(JSON.stringify(theirs)), TOP_EXTRA, name);
    for (const [k, t] of Object.entries(DOCUMENTED)) {
      assert.equal(typeOf(ours[k]), t, `${name}.${k}`);
    }
    assert.match(ours.terraform_version as string, /^\d+\.\d+\.\d+/);
    assert.ok(!Number.isNaN(Date.parse(ours.timestamp as string)), "RFC 3339 timestamp");
    const pv = (ours.planned_values as { root_module: { resources: Json[] } }).root_module;
    const tfPv = TF.planned_values.root_module.resources[0];
    for (const r of pv.resources) assertShape(r, tfPv, [], `${name}.planned_values`);
    const prior = ours.prior_state as { values: { root_module: { resources: Json[] } } };
    assertShape(prior as unknown as Json, TF.prior_state, ["terraform_version"], "prior_state");
    const tfPrior = TF.prior_state.values.root_module.resources[0];
    for (const r of prior.values.root_module.resources) assertShape(r, tfPrior, [], "prior res");
    const conf = ours.configuration as {
      provider_config: Json;
      root_module: { resources: Json[] };
    };
    assertShape(
      conf.provider_config.sockform as Json,
      TF.configuration.provider_config.test,
      [],
      "",
    );
    const tfConf = TF.configuration.root_module.resources[0];
    for (const r of conf.root_module.resources) assertShape(r, tfConf, [], `${name}.configuration`);
  }
});

Deno.test("terraform shape: resource_changes and resource_drift entries, action names", async () => {
  const tfChange = TF.resource_changes[0];
  for (const [name, p] of Object.entries(await scenarios())) {
    const ours = JSON.parse(JSON.stringify(planJson(p)));
    for (const c of [...ours.resource_changes, ...(ours.resource_drift ?? [])]) {
      assertShape(c, tfChange, ["sockform", "action_reason"], `${name} ${c.address}`);
      const sides = ["before", "after", "before_sensitive", "after_sensitive"];
      assertShape(c.change, tfChange.change, [], `${name} ${c.address}.change`, sides);
      for (const a of c.change.actions) assert.ok(TF_ACTION_NAMES.has(a), `${name}: ${a}`);
      assert.match(c.provider_name, /^[^/]+\/[^/]+\/[^/]+$/, "hostname/namespace/type");
    }
  }
});

Deno.test("terraform shape: a no-op has before == after; an update differs only where it changes", async () => {
  const { noop, update, delete: del } = await scenarios();
  for (const c of planJson(noop).resource_changes) {
    assert.deepEqual(c.change.actions, ["no-op"]);
    assert.deepEqual(c.change.before, c.change.after);
  }
  const [a, b] = planJson(update).resource_changes;
  assert.deepEqual([a.change.before, a.change.after], [{ size: 1, label: "x" }, {
    size: 3,
    label: "x",
  }]);
  assert.deepEqual(b.change.actions, ["no-op"]);
  const gone = planJson(del).resource_changes.find((c) => c.name === "b")!;
  assert.deepEqual(
    [gone.change.actions, gone.action_reason],
    [["delete"], "delete_because_no_resource_config"],
  );
});

Deno.test("terraform shape: resource_drift is last applied → kernel now; omitted without drift", async () => {
  const all = await scenarios();
  for (const name of ["create", "noop", "update", "delete"]) {
    assert.ok(!("resource_drift" in planJson(all[name])), `${name}: no resource_drift key`);
  }
  const out = planJson(all.drift);
  assert.equal(out.resource_drift?.length, 1);
  const [d] = out.resource_drift!;
  assert.deepEqual([d.address, d.change.actions], ["FakeThing.a", ["update"]]);
  assert.deepEqual([d.change.before, d.change.after], [{ size: 1, label: "x" }, {
    size: 7,
    label: "x",
  }]);
  const fix = out.resource_changes.find((c) => c.name === "a")!;
  assert.deepEqual([fix.change.before, fix.change.after], [d.change.after, d.change.before]);
});

Deno.test("terraform shape: a destroy plan's deletes carry no action_reason, as Terraform's", async () => {
  const store = fakeStore();
  const stack = new Stack("demo", [thing("a", { size: 1 })]);
  await applyStack(stack, store);
  const [c] = planJson(await plan(stack, store, { destroy: true })).resource_changes;
  assert.deepEqual(c.change.actions, ["delete"]);
  assert.ok(!("action_reason" in JSON.parse(JSON.stringify(c))));
});

Deno.test("terraform shape: a failed plan is an errored document with diagnostics", () => {
  const diag = { severity: "error" as const, summary: "bad spec", detail: "size: must be …" };
  const ours = JSON.parse(JSON.stringify(erroredPlanJson([diag], "0.1.0")));
  const theirs = { ...TF_ERROR, configuration: undefined };
  assertShape(ours, JSON.parse(JSON.stringify(theirs)), [...TOP_EXTRA, "diagnostics"], "errored");
  assert.equal(ours.errored, true);
  assert.deepEqual(ours.diagnostics, [diag]);
});
