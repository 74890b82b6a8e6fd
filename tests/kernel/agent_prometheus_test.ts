/**
 * The reconcile agent on the real kernel, scraped by a real Prometheus: the
 * agent applies a SocketLookupRedirect stack, the test makes real connections
 * through it, and a PromQL query over Prometheus's HTTP API returns the
 * lookups those connections caused. The metrics also pass `promtool check
 * metrics` (Prometheus's own linter). SIGTERM stops the agent with exit 0 and
 * leaves the link attached: the kernel is the state.
 */
import assert from "node:assert/strict";
import { privateBpffs } from "../../lab/bpffs.ts";
import { withSlrLab } from "../helpers/slr_lab.ts";
import { eventually, linksOnNetns, writeStackFile } from "../helpers/sockform_cli.ts";
import { freePort, spawnAgent, statusWhere } from "../helpers/reconcile_agent.ts";
import { startPrometheus } from "../helpers/prometheus.ts";
import { programCommand } from "../../providers/system/programs.ts";

const CONNECTIONS = 5;

async function promtoolCheck(text: string): Promise<string> {
  const child = programCommand(["promtool", "check", "metrics"], {
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(text));
  await w.close();
  const out = await child.output();
  const dec = new TextDecoder();
  return `${out.code} ${dec.decode(out.stdout)}${dec.decode(out.stderr)}`.trim();
}

Deno.test("agent: applies the stack, serves metrics Prometheus scrapes, and PromQL returns the lookups the test caused", async () => {
  await withSlrLab(async (lab) => {
    await lab.serve("tcp", "127.0.0.1", 8080, "A");
    const fs = privateBpffs();
    const tmp = Deno.makeTempDirSync({ prefix: "sf-agent-" });
    const port = freePort();
    const stack = writeStackFile(tmp, "agent", [{
      name: "web",
      spec: {
        netns: lab.path,
        bindings: [{ protocol: "tcp", prefix: "192.0.2.0/24", ports: 80, to: "a" }],
        destinations: { a: { listener: "tcp://127.0.0.1:8080" } },
      },
    }]);
    const agent = spawnAgent([
      "--stack",
      stack,
      "--interval",
      "2s",
      "--metrics-listen",
      `127.0.0.1:${port}`,
      "--state-root",
      fs.root,
    ], `${tmp}/status.json`);
    const prom = startPrometheus(`127.0.0.1:${port}`);
    try {
      const applied = await statusWhere(agent, "applied", (s) => s.lastGoodCommit !== null);
      assert.equal(applied.lastResult, "applied", agent.log());
      assert.deepEqual(applied.resources, { "SocketLookupRedirect.web": "in_sync" });
      for (let i = 0; i < CONNECTIONS; i++) {
        assert.equal(await lab.ask("tcp", "192.0.2.10", 80), "A");
      }

      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      assert.equal(health.status, 200, await health.text());
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      assert.match(
        text,
        new RegExp(`sockform_slr_lookups_total\\{[^}]*destination="a"\\} ${CONNECTIONS}\\n`),
      );
      assert.equal(await promtoolCheck(text), "0", "promtool check metrics: no problems");
      for (const d of ["plan", "apply"]) {
        const m = new RegExp(`^sockform_${d}_duration_seconds (\\S+)$`, "m").exec(text);
        assert.ok(m && Number(m[1]) > 0, `${d} duration in seconds`);
      }

      const q = 'sockform_slr_lookups_total{job="sockform",resource="SocketLookupRedirect.web"}';
      let seen = "";
      await eventually(`Prometheus answers ${q} with ${CONNECTIONS}`, () => {
        prom.query(q).then((r) => seen = r[0]?.value[1] ?? "", () => {});
        return seen === String(CONNECTIONS);
      }, 60_000);
      const hasSocket = await prom.query("sockform_slr_destination_has_socket");
      assert.equal(hasSocket[0]?.value[1], "1");
      const status = await prom.query(
        'sockform_resource_status{resource="SocketLookupRedirect.web",status="in_sync"}',
      );
      assert.equal(status[0]?.value[1], "1");

      assert.equal(await agent.stop("SIGTERM"), 0, agent.log());
      assert.equal(linksOnNetns(lab.ino), 1, "the agent left the link attached on exit");
      assert.equal(await lab.ask("tcp", "192.0.2.10", 80), "A");
    } finally {
      await agent.stop("SIGKILL");
      await prom.stop();
      fs.cleanup();
      Deno.removeSync(tmp, { recursive: true });
    }
  }, "agent");
});
