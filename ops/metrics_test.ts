import assert from "node:assert/strict";
import parse from "parse-prometheus-text-format";
import { metricsText } from "./metrics.ts";
import { renderFamilies } from "./prom_text.ts";
import { newStatus } from "./reconcile_status.ts";
import { kernelStore } from "../providers/state/kernel_store.ts";

interface Parsed {
  name: string;
  help: string;
  type: string;
  metrics: Array<{ value: string; labels?: Record<string, string> }>;
}

function sampleStatus() {
  const s = newStatus('git:file:///srv/"repo"\\x#HEAD:stack.ts', "apply", true);
  s.loops = 7;
  s.commit = "0123abc";
  s.stack = "edge";
  s.lastResult = "awaiting-approval";
  s.awaitingApproval = ["SocketLookupRedirect.web"];
  s.lastSuccessAt = "2026-11-27T23:00:00.000Z";
  s.lastLoopAt = "2026-11-27T23:00:02.000Z";
  s.totals = { applies: 2, errors: 1, locked: 1, driftFound: 3, driftRepaired: 2 };
  s.resources = { "SocketLookupRedirect.web": "drifted", "TcpTuning.dc": "in_sync" };
  s.durations = { planSeconds: 0.25, applySeconds: 1.5 };
  return s;
}

Deno.test("metricsText() is valid exposition text a Prometheus parser reads back", async () => {
  // No stack under a missing root: only the agent's own families.
  const text = await metricsText(kernelStore("/nonexistent-sockform-root"), sampleStatus());
  const families = parse(text) as Parsed[];
  const byName = new Map(families.map((f) => [f.name, f]));
  for (const f of families) {
    assert.match(f.name, /^sockform_[a-z_]+$/);
    assert.ok(f.help.length > 0, `${f.name} has help`);
    assert.equal(f.name.endsWith("_total"), f.type === "COUNTER", `${f.name} is ${f.type}`);
  }
  assert.equal(byName.get("sockform_reconcile_loops_total")?.metrics[0].value, "7");
  assert.equal(byName.get("sockform_reconcile_drift_repaired_total")?.metrics[0].value, "2");
  assert.equal(byName.get("sockform_apply_duration_seconds")?.metrics[0].value, "1.5");
  assert.equal(byName.get("sockform_reconcile_awaiting_approval")?.metrics[0].value, "1");
  assert.equal(
    byName.get("sockform_reconcile_last_success_timestamp_seconds")?.metrics[0].value,
    String(Date.parse("2026-11-27T23:00:00.000Z") / 1000),
  );
  const info = byName.get("sockform_reconcile_info")?.metrics[0].labels;
  assert.equal(info?.source, 'git:file:///srv/"repo"\\x#HEAD:stack.ts', "escaped and read back");
  const status = byName.get("sockform_resource_status")!.metrics;
  const current = status.filter((m) => m.value === "1").map((m) => m.labels);
  assert.deepEqual(current, [
    { stack: "edge", resource: "SocketLookupRedirect.web", status: "drifted" },
    { stack: "edge", resource: "TcpTuning.dc", status: "in_sync" },
  ]);
  assert.equal(status.length, 6, "one sample per resource and status");
});

Deno.test("metricsText() without an agent status has no reconcile families", async () => {
  const text = await metricsText(kernelStore("/nonexistent-sockform-root"));
  assert.equal(text, "");
});

Deno.test("renderFamilies() refuses names Prometheus would reject", async (t) => {
  await t.step("a counter without _total", () => {
    assert.throws(
      () => renderFamilies([{ name: "x", help: "h", type: "counter", samples: [] }]),
      /must end in _total/,
    );
  });
  await t.step("a bad label name", () => {
    const samples = [{ labels: { "a-b": "1" }, value: 1 }];
    assert.throws(
      () => renderFamilies([{ name: "x", help: "h", type: "gauge", samples }]),
      /bad label name/,
    );
  });
  await t.step("a family twice", () => {
    const f = { name: "x", help: "h", type: "gauge" as const, samples: [] };
    assert.throws(() => renderFamilies([f, f]), /rendered twice/);
  });
});
