import assert from "node:assert/strict";
import { PathManager, type PathManagerSpecInput } from "../path_manager.ts";
import { SpecError } from "../../engine/errors.ts";
import { whileLoadingStack } from "../../engine/stack_file.ts";
import { resolveModulePath } from "./policy.ts";
import { agentAction, policyKey, policyLabel } from "./agent_diff.ts";
import type { PmAgentDesired, PmAgentState } from "./types.ts";
const AGENT_VERSION = "mptcp-agent/1";

function issuesOf(spec: PathManagerSpecInput): { path: string; message: string }[] {
  try {
    new PathManager("pm", spec);
  } catch (e) {
    if (e instanceof SpecError) return e.issues;
    throw e;
  }
  return [];
}

const userspace = { netns: "/run/netns/c", mode: "userspace" } as const;

Deno.test("policy and locals: bad input names the field", () => {
  const paths = (spec: PathManagerSpecInput) => issuesOf(spec).map((i) => i.path);
  assert.deepEqual(paths({ netns: "/run/netns/c", policy: { builtin: "fullmesh" } }), ["policy"]);
  assert.deepEqual(paths({ ...userspace, policy: { builtin: "ndiffports", subflows: 0 } }), [
    "policy.subflows",
  ]);
  assert.deepEqual(paths({ ...userspace, policy: { builtin: "ndiffports", subflows: 9 } }), [
    "policy.subflows",
  ]);
  assert.deepEqual(paths({ ...userspace, locals: [{ address: "10.0.0.1", id: 1 }] }), ["locals"]);
  const twice = paths({
    ...userspace,
    policy: { builtin: "fullmesh" },
    locals: [{ address: "10.0.0.1", id: 2 }, { address: "10.0.0.1", id: 2 }],
  });
  assert.deepEqual(twice, ["locals[1].id", "locals[1].address"]);
  assert.deepEqual(paths({ ...userspace, policy: { module: "" } }), ["policy.module"]);
  assert.deepEqual(
    paths({ ...userspace, policy: { builtin: "fullmesh" }, locals: [{ address: "x", id: 0 }] }),
    ["locals[0].address", "locals[0].id"],
  );
  assert.deepEqual(paths({ ...userspace, policy: { builtin: "ndiffports", subflows: 2 } }), []);
});

Deno.test("a policy module is resolved against the stack file's directory", async () => {
  assert.equal(resolveModulePath("./p/x.ts", "/srv/stacks"), "/srv/stacks/p/x.ts");
  assert.equal(resolveModulePath("../x.ts", "/srv/stacks/"), "/srv/x.ts");
  assert.equal(resolveModulePath("/abs/x.ts", "/srv"), "/abs/x.ts");
  assert.equal(resolveModulePath("file:///abs/y.ts", "/srv"), "/abs/y.ts");
  const pm = await whileLoadingStack("/srv/stacks/stack.ts", () =>
    Promise.resolve(
      new PathManager("pm", { ...userspace, policy: { module: "./policies/p.ts", params: {} } }),
    ));
  assert.deepEqual(pm.spec.policy, { module: "/srv/stacks/policies/p.ts", params: {} });
});

const want: PmAgentDesired = {
  launch: { kind: "path_manager", name: "s/pm", params: {} },
  hash: "h1",
  version: AGENT_VERSION,
  label: "ndiffports(3)",
  policyKey: "builtin:ndiffports",
};
const running: PmAgentState = {
  pid: 4242,
  health: "running",
  version: AGENT_VERSION,
  paramsHash: "h1",
};

Deno.test("agentAction: a dead, stuck, failed or outdated agent is drift naming its pid", () => {
  assert.equal(agentAction(running, want), null);
  assert.equal(agentAction(null, want)?.op, "start");
  for (const health of ["dead", "stuck", "failed"] as const) {
    const a = agentAction({ ...running, health, reason: "why" }, want);
    assert.equal(a?.op, "restart");
    assert.match(a!.change.reason, new RegExp(`agent pid 4242 is ${health}: why`));
  }
  const outdated = agentAction({ ...running, paramsHash: "h0" }, want);
  assert.equal(outdated?.op, "restart", "no policyKey recorded: restart");
  assert.match(outdated!.change.reason, /pid 4242 is outdated/);
  const old = agentAction({ ...running, version: "mptcp-agent/0" }, want);
  assert.match(old!.change.reason, /runs mptcp-agent\/0/);
  assert.equal(agentAction(running, null)?.op, "stop");
  assert.equal(agentAction({ ...running, health: "dead" }, null), null);
});

Deno.test("agentAction: new params for the same policy are a reload, another policy a restart", () => {
  const same = { ...running, paramsHash: "h0", policyKey: "builtin:ndiffports" };
  const reload = agentAction(same, want);
  assert.equal(reload?.op, "reload");
  assert.match(reload!.change.reason, /agent pid 4242 runs other params/);
  assert.equal(agentAction({ ...same, policyKey: "builtin:fullmesh" }, want)?.op, "restart");
  assert.equal(agentAction({ ...same, health: "stuck" }, want)?.op, "restart");
  assert.equal(agentAction({ ...same, version: "mptcp-agent/0" }, want)?.op, "restart");
  assert.equal(policyKey({ module: "/p.ts" }), "module:/p.ts");
});

Deno.test("policyLabel() names builtins with their count and modules by path", () => {
  assert.equal(policyLabel({ builtin: "ndiffports", subflows: 3 }), "ndiffports(3)");
  assert.equal(policyLabel({ builtin: "fullmesh" }), "fullmesh");
  assert.equal(policyLabel({ module: "/p.ts" }), "module /p.ts");
});
