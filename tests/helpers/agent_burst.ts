/**
 * The policy agent under a burst, shared by the host's kernel test and the
 * VM guest test: the agent process runs ndiffports(2) in the two-path lab's
 * client (started for real, so it waits the way the agent process does), a
 * burst of short MPTCP connections keeps every `keepEvery`-th open, and the
 * results come from the kernel's MPTCP diag and the agent's status file.
 *
 * - **lossless**: the default 8 MB event buffer; the agent counts a CREATED
 *   for every connection made and sees no overflow.
 * - **overflow**: a 4 KB buffer, and the agent stopped (SIGSTOP) for the
 *   whole burst, as a busy policy would be: the kernel must drop events. The
 *   agent counts the overflow and resyncs from the kernel's dump.
 *
 * Either way the runner's view ends equal to the kernel's (as many
 * connections as the dump lists) and every surviving connection has its 2
 * subflows.
 *
 * @module
 */
import assert from "node:assert/strict";
import { LAB_PATHS } from "../../lab/two_path_lab.ts";
import { runBurst } from "../../lab/mptcp_burst.ts";
import { readAgentStatus } from "../../providers/mptcp_agent/status.ts";
import { takeSnapshot } from "../../providers/mptcp_agent/snapshot.ts";
import { pmAgent, policyLab, subflowsSettle } from "./policy_lab.ts";
import type { TestResources } from "./netns.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Options of {@linkcode agentBurstScenario}. */
export interface AgentBurstOptions {
  prefix: string;
  port: number;
  /** Connections in the burst. */
  count: number;
  /** Every n-th connection stays open. */
  keepEvery: number;
  /** `lossless` (8 MB buffer, agent reading) or `overflow` (4 KB buffer, agent stopped). */
  mode: "lossless" | "overflow";
}

/**
 * Waits (bounded by `ms`) until the agent's status file says its runner
 * tracks as many connections as the kernel's dump lists, its counters
 * satisfy `check`, and it wrote after `since`; returns the last status read.
 */
async function statusSettles(
  statusFile: string,
  netns: string,
  check: (s: NonNullable<ReturnType<typeof readAgentStatus>>) => boolean,
  since: number,
  ms = 20_000,
) {
  const deadline = Date.now() + ms;
  for (;;) {
    const status = readAgentStatus(statusFile);
    const live = takeSnapshot(netns).connections.size;
    const tracked = (status?.handlerCounters as { connections?: number } | undefined)?.connections;
    const fresh = (status?.heartbeatAt ?? 0) > since;
    if ((status && fresh && tracked === live && check(status)) || Date.now() > deadline) {
      return { status, live, tracked };
    }
    await sleep(200);
  }
}

/**
 * Runs one burst against a real agent process and checks what the module
 * doc says.
 *
 * @example
 * ```ts
 * await agentBurstScenario(res, { prefix: "sf-abl", port: 7420, count: 3000, keepEvery: 100, mode: "lossless" });
 * ```
 */
export async function agentBurstScenario(res: TestResources, o: AgentBurstOptions): Promise<void> {
  const { lab, dir } = await policyLab(res, o.prefix, { holdPort: o.port });
  const netns = lab.client.path;
  const small = o.mode === "overflow";
  const agent = await pmAgent(res, dir, "client", netns, {
    policy: { builtin: "ndiffports", subflows: 2 },
    locals: [],
  }, small ? 4096 : undefined);
  if (small) {
    Deno.kill(agent.id.pid, "SIGSTOP");
    res.defer("resume the agent", () => Deno.kill(agent.id.pid, "SIGCONT"));
  }
  const bounds = { count: o.count, keepEvery: o.keepEvery, seconds: 40 };
  const burst = await runBurst(lab.client, LAB_PATHS[0].serverAddress, o.port, bounds);
  res.defer("stop burst", () => burst.stop());
  if (small) Deno.kill(agent.id.pid, "SIGCONT");
  const ended = Date.now();
  assert.ok(burst.made >= o.count * 0.95, `burst made ${burst.made} of ${o.count}`);
  const kept = burst.keptPorts.length;
  const counts = await subflowsSettle(netns, kept, () => 2, 20_000);
  assert.deepEqual([...counts.values()], Array(kept).fill(2), "2 subflows each (diag)");
  const done = await statusSettles(agent.statusFile, netns, (s) => {
    const c = s.counters!;
    return small ? c.overflows > 0 && c.resyncs >= 2 : c.events.CREATED >= burst.made;
  }, ended);
  const c = done.status?.counters;
  assert.ok(c, "the agent wrote its counters");
  assert.equal(done.tracked, done.live, "the runner's connections = the kernel's dump");
  if (small) {
    assert.ok(c.overflows > 0, `the 4 KB buffer overflowed: ${JSON.stringify(c)}`);
    assert.ok(c.resyncs >= 2, `start + at least one overflow resync: ${c.resyncs}`);
    assert.ok(c.events.CREATED < burst.made, "events really were lost");
  } else {
    assert.equal(c.overflows, 0, "no overflow with the 8 MB buffer");
    const created = c.events.CREATED;
    const expected = `${burst.made} made, ${burst.failed} failed`;
    assert.ok(created >= burst.made, `a CREATED per connection: ${created} (${expected})`);
    assert.ok(created <= burst.made + burst.failed, `no extra CREATED: ${created} (${expected})`);
    assert.equal(c.resyncs, 1, "only the start resync");
  }
}
