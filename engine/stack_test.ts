import assert from "node:assert/strict";
import { onePerTarget, Stack, type StackRule } from "./stack.ts";
import { SpecError, UserError } from "./errors.ts";
import { FakeThing } from "../tests/helpers/fake_resource.ts";

const thing = (name: string, dependsOn: string[] = []) =>
  new FakeThing(name, { size: 1 }, { dependsOn });

Deno.test("stack: resources follow everything they depend on", () => {
  const stack = new Stack("demo", [
    thing("app", ["db", "net"]),
    thing("db", ["net"]),
    thing("net"),
    thing("log"),
  ]);
  const order = stack.ordered().map((r) => r.name);
  assert.deepEqual(order, ["net", "db", "app", "log"]);
});

Deno.test("stack: without dependencies the declared order is kept", () => {
  const stack = new Stack("demo", [thing("c"), thing("a"), thing("b")]);
  assert.deepEqual(stack.ordered().map((r) => r.name), ["c", "a", "b"]);
});

Deno.test("stack: a cycle is a SpecError on dependsOn naming the whole cycle", () => {
  const stack = new Stack("demo", [thing("a", ["b"]), thing("b", ["c"]), thing("c", ["a"])]);
  assert.throws(() => stack.ordered(), (e: unknown) => {
    assert.ok(e instanceof SpecError);
    assert.equal(e.message, "a.dependsOn: cycle: a → b → c → a");
    assert.deepEqual(e.issues, [{ path: "dependsOn", message: "cycle: a → b → c → a" }]);
    return true;
  });
});

Deno.test("stack: a resource depending on itself is a cycle", () => {
  const stack = new Stack("demo", [thing("a", ["a"])]);
  assert.throws(() => stack.ordered(), { message: "a.dependsOn: cycle: a → a" });
});

Deno.test("stack: an unknown dependency names its index in dependsOn", () => {
  const stack = new Stack("demo", [thing("b"), thing("a", ["b", "ghost"])]);
  assert.throws(
    () => stack.ordered(),
    { name: "SpecError", message: 'a.dependsOn[1]: no resource named "ghost" in the stack' },
  );
});

Deno.test("stack: duplicate names are refused with the name field", () => {
  assert.throws(
    () => new Stack("demo", [thing("a"), thing("a")]),
    { name: "SpecError", message: "a.name: is declared twice in the stack" },
  );
  const stack = new Stack("demo", [thing("a")]);
  assert.throws(() => stack.add(thing("a")), /a\.name: is declared twice/);
  assert.equal(stack.resources.length, 1);
});

Deno.test("stack: names must be usable as directory names", () => {
  assert.throws(() => new Stack("../etc"), (e: unknown) => e instanceof UserError);
  assert.throws(() => new Stack("Demo"), /stack name "Demo" must match/);
  assert.throws(() => new Stack("demo", [thing("a/b")]), { message: /^a\/b\.name: must match/ });
  assert.throws(() => new Stack("demo", [thing(".hidden")]), /\.hidden\.name: must match/);
});

Deno.test("stack: a kind's rules run on validate with their field path", () => {
  const rule: StackRule = (resources) => {
    const big = resources.find((r) =>
      r.name.startsWith("rule-test-") && (r.spec as { size: number }).size > 1000
    );
    return big ? { resource: big.name, path: "size", message: "too big for this stack" } : null;
  };
  // Two resources of one kind carry the same rules: they run once.
  const ruled = (name: string, size: number) =>
    Object.assign(new FakeThing(name, { size }), { stackRules: [rule] });
  const stack = new Stack("demo", [
    thing("a"),
    ruled("rule-test-a", 5),
    ruled("rule-test-huge", 5000),
  ]);
  assert.throws(() => stack.validate(), { message: "rule-test-huge.size: too big for this stack" });
  new Stack("demo", [thing("a"), ruled("rule-test-small", 5)]).validate();
});

Deno.test("stack: every cycle is reported in one validate, each once, with the other problems", () => {
  const stack = new Stack("demo", [
    thing("a", ["b"]),
    thing("b", ["a"]),
    thing("c", ["d", "ghost"]),
    thing("d", ["c"]),
  ]);
  const messages = stack.problems().map((p) => `${p.address} ${p.path}: ${p.message}`);
  assert.deepEqual(
    messages.sort(),
    [
      'FakeThing.c dependsOn[1]: no resource named "ghost" in the stack',
      "FakeThing.a dependsOn: cycle: a → b → a",
      "FakeThing.c dependsOn: cycle: c → d → c",
    ].sort(),
  );
});

Deno.test("stack: a one-per-target rule reports every extra resource on a target", () => {
  class Ruled extends FakeThing {
    static readonly kind = "FakeThing";
    readonly stackRules: readonly StackRule[] = [sameTarget];
  }
  const sameTarget: StackRule = onePerTarget(Ruled, "size", () => "one", "demo rule");
  const stack = new Stack("demo", [
    new Ruled("a", { size: 1 }),
    new Ruled("b", { size: 1 }),
    new Ruled("c", { size: 1 }),
  ]);
  assert.deepEqual(stack.problems().map((p) => `${p.resource}: ${p.message}`), [
    'b: one already has FakeThing "a" in this stack (demo rule)',
    'c: one already has FakeThing "a" in this stack (demo rule)',
  ]);
});
