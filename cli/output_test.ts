import assert from "node:assert/strict";
import { tickingReporter, useColor } from "./output.ts";
import { shownBlock } from "./show_output.ts";
import type { ShownResource } from "../engine/session.ts";

Deno.test("progress: a running apply step is repeated with its elapsed time, others are not", () => {
  const lines: string[] = [];
  let clock = 1_000;
  const r = tickingReporter((l) => lines.push(l), () => clock);
  r.progress("reading FakeThing.a");
  r.tick();
  r.progress("[1/2] create FakeThing.a");
  clock += 10_400;
  r.tick();
  clock += 10_000;
  r.tick();
  r.stop();
  r.tick();
  assert.deepEqual(lines, [
    "… reading FakeThing.a",
    "… [1/2] create FakeThing.a",
    "… [1/2] create FakeThing.a: still running… [10s elapsed]",
    "… [1/2] create FakeThing.a: still running… [20s elapsed]",
  ]);
});

function withEnv(vars: Record<string, string | undefined>, fn: () => void) {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, Deno.env.get(k)]));
  const put = (k: string, v: string | undefined) =>
    v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
  try {
    for (const [k, v] of Object.entries(vars)) put(k, v);
    fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) put(k, v);
  }
}

Deno.test("colour: FORCE_COLOR turns it on without a TTY; NO_COLOR and --no-color turn it off", () => {
  withEnv({ FORCE_COLOR: "1", NO_COLOR: undefined }, () => {
    assert.equal(useColor(undefined), true);
    assert.equal(useColor(false), false, "--no-color wins");
  });
  withEnv({ FORCE_COLOR: "0", NO_COLOR: "1" }, () => assert.equal(useColor(undefined), false));
  withEnv(
    { FORCE_COLOR: undefined, NO_COLOR: "1" },
    () => assert.equal(useColor(undefined), false),
  );
});

Deno.test("show: one Terraform-like block per resource instead of raw JSON", () => {
  const r: ShownResource = {
    address: "SocketLookupRedirect.web",
    deployed: true,
    inSync: true,
    meta: null,
    state: null,
    details: {
      netns: "/run/netns/lab",
      counters: { a: { lookups: 1, noSocket: 0 } },
      ports: [80, 443],
      bindings: [{ prefix: "192.0.2.0/24", to: "a" }],
    },
  };
  assert.deepEqual(shownBlock(r, false), [
    "# SocketLookupRedirect.web: in sync",
    'resource "SocketLookupRedirect" "web" {',
    '    netns    = "/run/netns/lab"',
    "    counters = {",
    "        a = {",
    "            lookups  = 1",
    "            noSocket = 0",
    "        }",
    "    }",
    "    ports    = [80, 443]",
    "    bindings = [",
    "        {",
    '            prefix = "192.0.2.0/24"',
    '            to     = "a"',
    "        },",
    "    ]",
    "}",
    "",
  ]);
  const gone = { ...r, deployed: false, inSync: false, details: undefined };
  assert.deepEqual(shownBlock(gone, false), ["# SocketLookupRedirect.web: not deployed", ""]);
});
