import assert from "node:assert/strict";
import { loadStack } from "./load_stack.ts";
import { StackProblems } from "../engine/diagnostics.ts";
import { SpecError } from "../engine/errors.ts";
import { errorDiagnostics, validateJson } from "./plan_errors.ts";

const MOD = new URL("../mod.ts", import.meta.url).href;

/** Five problems in two resources, across the schema and the stack's checks. */
const FIVE = `import { SocketLookupRedirect, Stack, TcpTuning } from "${MOD}";
export default new Stack("five", [
  new TcpTuning("tune", { cgroup: "relative/path", rules: [{ set: { synRtoMs: -1 } }] }, {
    dependsOn: ["ghost"],
  }),
  new SocketLookupRedirect("web", {
    bindings: [{ protocol: "sctp", prefix: "192.0.2.0/24", ports: 80, to: "a" }],
    destinations: { a: { listener: 7 } },
  }),
]);
`;

async function loadBody(body: string): Promise<unknown> {
  const dir = Deno.makeTempDirSync({ prefix: "sf-load-" });
  try {
    Deno.writeTextFileSync(`${dir}/stack.ts`, body);
    return await loadStack(`${dir}/stack.ts`).then(() => undefined, (e) => e);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test("a stack with five problems in two resources reports all five in one load", async () => {
  const e = await loadBody(FIVE);
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
  const body = `import { Stack, TcpTuning } from "${MOD}";
export default new Stack("one", [new TcpTuning("tune", { cgroup: "x", rules: [] })]);
`;
  const e = await loadBody(body);
  assert.ok(e instanceof SpecError, String(e));
  const [d] = errorDiagnostics(e);
  assert.equal(d.address, "TcpTuning.tune");
  assert.equal(d.path, "cgroup");
});

Deno.test("a good stack's validate document is valid with no diagnostics", async () => {
  const body = `import { Stack, TcpTuning } from "${MOD}";
export default new Stack("good", [
  new TcpTuning("tune", { cgroup: "/sys/fs/cgroup/x", rules: [{ set: { noDelay: true } }] }),
]);
`;
  assert.equal(await loadBody(body), undefined);
  assert.deepEqual(validateJson(undefined), {
    format_version: "1.0",
    valid: true,
    error_count: 0,
    warning_count: 0,
    diagnostics: [],
  });
});

Deno.test("a duplicate name and a stack rule are reported with a bad spec in the same load", async () => {
  const body = `import { SocketLookupRedirect, Stack, TcpTuning } from "${MOD}";
const rules = [{ set: { noDelay: true } }];
export default new Stack("dup", [
  new TcpTuning("a", { cgroup: "/sys/fs/cgroup/x", rules }),
  new TcpTuning("b", { cgroup: "/sys/fs/cgroup/x", rules }),
  new TcpTuning("a", { cgroup: "/sys/fs/cgroup/y", rules }),
  new SocketLookupRedirect("web", { bindings: [], destinations: 3 }),
]);
`;
  const e = await loadBody(body);
  assert.ok(e instanceof StackProblems, String(e));
  assert.deepEqual(e.problems.map((p) => `${p.resource}.${p.path}`), [
    "web.destinations", // constructors run before the Stack's
    "a.name",
    "b.cgroup",
  ]);
});
