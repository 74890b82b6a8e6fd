/**
 * `sockform metrics` (the node-exporter textfile form) on the real kernel:
 * TcpTuning rule counters equal the connections the test made, and a
 * PathManager's policy agent exports its events and resyncs (from its status
 * file). The output is read with a Prometheus text parser (npm
 * parse-prometheus-text-format) and passes `promtool check metrics`.
 */
import assert from "node:assert/strict";
import parse from "parse-prometheus-text-format";
import { applyStack, destroyStack } from "../../mod.ts";
import { TT, withTtLab } from "../helpers/tcp_tuning_lab.ts";
import { PORT, stackFor } from "../helpers/tcp_tuning_checks.ts";
import { TestResources } from "../helpers/netns.ts";
import { scratch, stackOf } from "../helpers/path_manager.ts";
import { runCli } from "../helpers/sockform_cli.ts";
import { kernelStore } from "../../providers/state/kernel_store.ts";
import { readAgentStatus } from "../../providers/mptcp_agent/status.ts";
import { totalEvents } from "../../providers/mptcp_agent/counters.ts";
import { programCommand } from "../../providers/system/programs.ts";
import { agentStatusFile } from "../../providers/path_manager/agent.ts";

interface Parsed {
  name: string;
  type: string;
  metrics: Array<{ value: string; labels?: Record<string, string> }>;
}

async function metrics(root: string): Promise<Map<string, Parsed>> {
  const r = await runCli(["metrics", "--state-root", root, "--status-file", `${root}/none.json`]);
  assert.equal(r.code, 0, r.stderr);
  const lint = await programCommand(["promtool", "check", "metrics"], {
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = lint.stdin.getWriter();
  await w.write(new TextEncoder().encode(r.stdout));
  await w.close();
  const out = await lint.output();
  assert.ok(out.success, `promtool: ${new TextDecoder().decode(out.stderr)}`);
  return new Map((parse(r.stdout) as Parsed[]).map((f) => [f.name, f]));
}

function value(m: Map<string, Parsed>, name: string, labels: Record<string, string>): number {
  const f = m.get(name);
  const hit = f?.metrics.find((s) => Object.entries(labels).every(([k, v]) => s.labels?.[k] === v));
  assert.ok(hit, `${name} ${JSON.stringify(labels)} in ${JSON.stringify(f)}`);
  return Number(hit.value);
}

Deno.test("metrics: TcpTuning rule counters are the connections the test made", async () => {
  await withTtLab(async (lab) => {
    await lab.serve(PORT);
    const stack = stackFor(lab, [
      { match: { remote: "10.88.0.0/16" }, set: { mark: 7 } },
      { match: {}, set: { mark: 3 } },
    ]);
    await applyStack(stack, lab.store);
    const tuned = await lab.connect(TT.matching, PORT, true, 3);
    assert.deepEqual(tuned.map((s) => s.mark), [7, 7, 7]);
    await lab.connect(TT.other, PORT, true, 2);
    const m = await metrics(lab.root);
    const labels = (rule: string) => ({ resource: `TcpTuning.${stack.resources[0].name}`, rule });
    assert.equal(value(m, "sockform_tcp_tuning_rule_matched_total", labels("0")), 3);
    assert.equal(value(m, "sockform_tcp_tuning_rule_applied_total", labels("0")), 3);
    assert.equal(value(m, "sockform_tcp_tuning_rule_matched_total", labels("1")), 2);
    assert.equal(value(m, "sockform_tcp_tuning_rule_errors_total", labels("0")), 0);
    assert.equal(m.get("sockform_tcp_tuning_rule_matched_total")?.type, "COUNTER");
    await destroyStack(stack, lab.store);
  });
});

const MPTCP_PAIR = `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262)
s.bind(("127.0.0.1", 0)); s.listen(4)
c = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262)
c.connect(s.getsockname()); a, _ = s.accept()
c.sendall(b"x"); assert a.recv(1) == b"x"
c.close(); a.close(); s.close()
print("ok")
`;

Deno.test("metrics: a PathManager agent's events and resyncs, as its status file counts them", async () => {
  await using res = new TestResources();
  const { ns, root } = await scratch(res);
  const stack = stackOf("pmm", {
    netns: ns.path,
    mode: "userspace",
    limits: { subflows: 2 },
    policy: { builtin: "ndiffports", subflows: 2 },
    locals: [],
  });
  const store = kernelStore(root);
  await applyStack(stack, store);
  res.defer("destroy the stack", async () => void await destroyStack(stack, store));
  assert.equal((await ns.exec(["python3", "-c", MPTCP_PAIR])).trim(), "ok");
  const statusFile = agentStatusFile(`${root}/pmm/pm`);
  let counters = readAgentStatus(statusFile)?.counters;
  const deadline = Date.now() + 30_000;
  while (!(counters && totalEvents(counters) >= 2) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    counters = readAgentStatus(statusFile)?.counters;
  }
  assert.ok(counters && totalEvents(counters) >= 2, JSON.stringify(counters));
  const m = await metrics(root);
  const labels = { resource: "PathManager.pm" };
  assert.equal(value(m, "sockform_pm_agent_up", labels), 1);
  assert.equal(value(m, "sockform_pm_agent_resyncs_total", labels), counters.resyncs);
  assert.ok(value(m, "sockform_pm_agent_events_total", labels) >= totalEvents(counters));
  assert.equal(value(m, "sockform_pm_agent_overflows_total", labels), 0);
});
