import assert from "node:assert/strict";
import { loadStack } from "./load_stack.ts";
import { StackProblems } from "../engine/diagnostics.ts";
import { SpecError } from "../engine/errors.ts";
import { errorDiagnostics, validateJson } from "./plan_errors.ts";

/** What loading the fixture `cli/testdata/<name>` threw, or undefined. */
function loadFixture(name: string): Promise<unknown> {
  const path = new URL(`./testdata/${name}`, import.meta.url).pathname;
  return loadStack(path).then(() => undefined, (e) => e);
}

Deno.test("a stack with five problems in two resources reports all five in one load", async () => {
  const e = await loadFixture("five_problems.ts");
  assert.ok(e instanceof StackProblems, String(e));
  assert.deepEqual(e.problems.map((p) => `${p.address}|${p.path}`).sort(), [
    "SocketLookupRedirect.web|bindings[0].protocol",
    "SocketLookupRedirect.web|destinations.a",
    "TcpTuning.tune|cgroup",
    "TcpTuning.tune|dependsOn[0]",
    "TcpTuning.tune|rules[0].set.synRtoMs",
  ]);
  const doc = validateJson(e);
  assert.equal(doc.valid, false);
  assert.equal(doc.error_count, 5);
  assert.equal(doc.warning_count, 0);
  for (const d of doc.diagnostics) {
    assert.equal(d.severity, "error");
    assert.ok(d.summary && d.detail && d.path, JSON.stringify(d));
  }
});

Deno.test("one bad field is still a SpecError, and its diagnostic names the resource's address", async () => {
  const e = await loadFixture("one_problem.ts");
  assert.ok(e instanceof SpecError, String(e));
  const [d] = errorDiagnostics(e);
  assert.equal(d.address, "TcpTuning.tune");
  assert.equal(d.path, "cgroup");
});

Deno.test("a good stack's validate document is valid with no diagnostics", async () => {
  assert.equal(await loadFixture("good.ts"), undefined);
  assert.deepEqual(validateJson(undefined), {
    format_version: "1.0",
    valid: true,
    error_count: 0,
    warning_count: 0,
    diagnostics: [],
  });
});

Deno.test("a duplicate name and a stack rule are reported with a bad spec in the same load", async () => {
  const e = await loadFixture("duplicate.ts");
  assert.ok(e instanceof StackProblems, String(e));
  assert.deepEqual(e.problems.map((p) => `${p.resource}.${p.path}`), [
    "web.destinations", // constructors run before the Stack's
    "a.name",
    "b.cgroup",
  ]);
});
