/**
 * The two-path lab set up for path-manager policy tests: the client (and,
 * when asked, the server) in userspace-PM mode, the server's in-kernel limits
 * raised so it accepts the joins, a holding server, and agents started for
 * real with {@linkcode startAgent} and stopped at the end.
 *
 * @module
 */
import assert from "node:assert/strict";
import { LAB_PATHS, setupTwoPathLab, type TwoPathLab } from "../../lab/two_path_lab.ts";
import { groupByConnection, listSubflows } from "../../lab/subflows.ts";
import type { AgentIdentity, AgentLaunch } from "../../providers/mptcp_agent/identity.ts";
import { startAgent, stopAgent } from "../../providers/mptcp_agent/process.ts";
import { readAgentStatus } from "../../providers/mptcp_agent/status.ts";
import type { PathManagerAgentParams } from "../../providers/mptcp_agent/policy_spec.ts";
import { takeSnapshot } from "../../providers/mptcp_agent/snapshot.ts";
import { setLimits } from "../../providers/netlink/mptcp_pm.ts";
import { runBurst, setUserspacePm, startHoldingServer } from "../../lab/mptcp_burst.ts";
import type { TestResources } from "./netns.ts";

/** A built policy lab. */
export interface PolicyLab {
  lab: TwoPathLab;
  dir: string;
}

/**
 * Builds the lab (torn down by `res`); `serverUserspace` puts the server in
 * userspace-PM mode too (for a server-side agent).
 *
 * @example
 * ```ts
 * const { lab, dir } = await policyLab(res, "sf-pol", { holdPort: 7300 });
 * ```
 */
export async function policyLab(
  res: TestResources,
  prefix: string,
  opts: { holdPort?: number; serverUserspace?: boolean } = {},
): Promise<PolicyLab> {
  const lab = await setupTwoPathLab({ prefix, cleanupOnSigint: false });
  res.defer("lab teardown", () => lab.teardown());
  setUserspacePm(lab.client.path);
  if (opts.serverUserspace) setUserspacePm(lab.server.path);
  else setLimits({ subflows: 8, addAddrAccepted: 8 }, lab.server.path);
  const dir = await Deno.makeTempDir({ prefix: `${prefix}-` });
  res.defer("remove agent dir", () => Deno.remove(dir, { recursive: true }));
  if (opts.holdPort) {
    const server = await startHoldingServer(lab.server, "0.0.0.0", opts.holdPort, 60);
    res.defer("stop holding server", () => server.stop());
  }
  return { lab, dir };
}

/**
 * Starts a `path_manager` agent for real in `netns`, stopped by `res`
 * (`receiveBufferBytes`: its event socket's, default 8 MB).
 *
 * @example
 * ```ts
 * const launch = await pmAgent(res, dir, "client", lab.client.path, { policy, locals: [] });
 * ```
 */
export async function pmAgent(
  res: TestResources,
  dir: string,
  name: string,
  netns: string,
  params: PathManagerAgentParams,
  receiveBufferBytes?: number,
): Promise<AgentLaunch & { id: AgentIdentity }> {
  const launch: AgentLaunch = {
    kind: "path_manager",
    name,
    netns,
    statusFile: `${dir}/${name}.json`,
    params,
    ...(receiveBufferBytes ? { receiveBufferBytes } : {}),
  };
  const id = await startAgent(launch);
  res.defer(`stop agent ${name}`, async () => void await stopAgent(id, 1000));
  return { ...launch, id };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Waits (bounded by `ms`) until every live connection of `netns`, as the
 * kernel's diag lists them, has `want(token)` subflows; returns the
 * subflow count per token (hex) from the last dump.
 *
 * @example
 * ```ts
 * const counts = await subflowsSettle(lab.client.path, 20, () => 3);
 * ```
 */
export async function subflowsSettle(
  netns: string,
  connections: number,
  want: (token: number) => number,
  ms = 15_000,
): Promise<Map<number, number>> {
  const deadline = Date.now() + ms;
  for (;;) {
    const snap = takeSnapshot(netns);
    const counts = new Map([...snap.connections].map(([t, c]) => [t, c.subflows.length]));
    const done = counts.size >= connections && [...counts].every(([t, n]) => n === want(t));
    if (done || Date.now() > deadline) return counts;
    await sleep(200);
  }
}

/** The runner's counters as the agent writes them to its status file. */
export interface StatusRunnerCounters {
  actions: Record<string, number>;
  actionErrors: number;
  policyErrors: number;
  connections: number;
}

/**
 * The runner counters in the agent's status file once `check` holds on them
 * (the agent writes them about once a second), or the last ones read after 5 s.
 *
 * @example
 * ```ts
 * const c = await runnerCounters(launch.statusFile, (c) => c.actions.create_subflow >= 40);
 * ```
 */
export async function runnerCounters(
  statusFile: string,
  check: (c: StatusRunnerCounters) => boolean = () => true,
): Promise<StatusRunnerCounters | undefined> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const c = readAgentStatus(statusFile)?.handlerCounters as StatusRunnerCounters | undefined;
    if ((c && check(c)) || Date.now() > deadline) return c;
    await sleep(100);
  }
}

/**
 * The ndiffports check shared by the host's kernel test and the VM guest
 * test: an agent with `ndiffports(subflows)` in the lab's client, then
 * `connections` held-open MPTCP connections; each must end with `subflows`
 * subflows in the kernel's diag and in `ss -ti`, over the same address pair
 * with distinct source ports, and the agent must count the creates.
 *
 * @example
 * ```ts
 * await ndiffportsScenario(res, { prefix: "sf-ndp", port: 7301, subflows: 3, connections: 20 });
 * ```
 */
export async function ndiffportsScenario(
  res: TestResources,
  o: { prefix: string; port: number; subflows: number; connections: number },
): Promise<void> {
  const { lab, dir } = await policyLab(res, o.prefix, { holdPort: o.port });
  const agent = await pmAgent(res, dir, "client", lab.client.path, {
    policy: { builtin: "ndiffports", subflows: o.subflows },
    locals: [],
  });
  const [path] = LAB_PATHS;
  const bounds = { count: o.connections, keepEvery: 1, seconds: 20 };
  const burst = await runBurst(lab.client, path.serverAddress, o.port, bounds);
  res.defer("stop burst", () => burst.stop());
  assert.equal(burst.made, o.connections);
  const counts = await subflowsSettle(lab.client.path, o.connections, () => o.subflows);
  const each = Array(o.connections).fill(o.subflows);
  assert.deepEqual([...counts.values()], each, `${o.subflows} subflows each (diag)`);
  const subflows = await listSubflows(lab.client.name);
  const perConnection = groupByConnection(subflows).map((c) => c.subflows.length);
  assert.deepEqual(perConnection, each, `${o.subflows} subflows each (ss -ti)`);
  assert.ok(subflows.every((s) => s.local === path.clientAddress), "same address pair");
  const ports = new Set(subflows.map((s) => s.localPort)).size;
  assert.equal(ports, o.connections * o.subflows, "distinct source ports");
  const creates = o.connections * (o.subflows - 1);
  const counters = await runnerCounters(
    agent.statusFile,
    (c) => c.actions.create_subflow >= creates,
  );
  assert.ok((counters?.actions.create_subflow ?? 0) >= creates, JSON.stringify(counters));
}

/**
 * fullmesh on both ends: the server's agent announces its second address
 * (ANNOUNCE, signal), the client's opens a subflow per local × remote pair,
 * so each of `connections` held-open connections ends with 2 × 2 = 4
 * subflows (diag), over 4 distinct address pairs (`ss -ti`).
 *
 * @example
 * ```ts
 * await fullmeshScenario(res, { prefix: "sf-fm", port: 7302, connections: 10 });
 * ```
 */
export async function fullmeshScenario(
  res: TestResources,
  o: { prefix: string; port: number; connections: number },
): Promise<void> {
  const [pathA, pathB] = LAB_PATHS;
  const { lab, dir } = await policyLab(res, o.prefix, { holdPort: o.port, serverUserspace: true });
  const server = await pmAgent(res, dir, "server", lab.server.path, {
    policy: { builtin: "fullmesh" },
    locals: [{ address: pathB.serverAddress, id: 2, signal: true }],
  });
  await pmAgent(res, dir, "client", lab.client.path, {
    policy: { builtin: "fullmesh" },
    locals: [{ address: pathB.clientAddress, id: 2 }],
  });
  const bounds = { count: o.connections, keepEvery: 1, seconds: 20 };
  const burst = await runBurst(lab.client, pathA.serverAddress, o.port, bounds);
  res.defer("stop burst", () => burst.stop());
  const counts = await subflowsSettle(lab.client.path, o.connections, () => 4);
  assert.deepEqual([...counts.values()], Array(o.connections).fill(4), "4 subflows each (diag)");
  const pairs = new Set((await listSubflows(lab.client.name)).map((s) => `${s.local}>${s.remote}`));
  assert.equal(pairs.size, 4, `every local × remote pair: ${[...pairs]}`);
  const announced = await runnerCounters(
    server.statusFile,
    (c) => c.actions.announce >= o.connections,
  );
  assert.ok(
    (announced?.actions.announce ?? 0) >= o.connections,
    `server announced: ${JSON.stringify(announced)}`,
  );
}
