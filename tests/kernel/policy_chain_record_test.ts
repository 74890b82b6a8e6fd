// PolicyChain's `record` per subflow, on real MPTCP traffic in the two-path
// lab (2 subflows): the chain's per-flow bytes agree with the kernel's own
// subflow counters (`ss -ti`: bytes_sent, bytes_received) within 5 %, a
// phase where the client only ACKs adds packets but no bytes (payload is
// counted, not headers), every subflow has an RTT sample near ss's rtt, and
// both subflows carry their connection's token as ss prints it.
import assert from "node:assert/strict";
import { applyStack, destroyStack, plan, showStack, type Stack } from "../../mod.ts";
import { LAB_PATHS } from "../../lab/two_path_lab.ts";
import { inNetnsArgv, run } from "../../lab/command.ts";
import type { ScratchNetns } from "../../lab/netns_kit.ts";
import { parseSsSubflows, type SubflowStat } from "../../lab/subflows.ts";
import { addEndpoint, setLimits } from "../../providers/netlink/mptcp_pm.ts";
import { type FlowRecord, readFlows } from "../../providers/policy_chain/flows.ts";
import { readState } from "../../providers/policy_chain/kernel.ts";
import { unpin } from "../../providers/libbpf/pins.ts";
import { kernelSamples } from "../../ops/kernel_metrics.ts";
import { spawnHelper } from "../helpers/python_helper.ts";
import {
  chainDir,
  type ChainLab,
  chainStack,
  sleep,
  withChainLab,
} from "../helpers/policy_chain_lab.ts";

const [PATH_A, PATH_B] = LAB_PATHS;
const PORT = 7401;
const UP = 4 * 1024 * 1024; // client → server
const DOWN = 3 * 1024 * 1024; // server → client, after the test says so
const LIMIT_S = 60; // every python helper gives up after this

// Receives UP bytes, waits for a line on stdin, sends DOWN, holds until the client closes.
const SERVER = `
import socket, sys
port, up, down, limit = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", port))
srv.listen(4)
srv.settimeout(limit)
print("listening", flush=True)
conn, _ = srv.accept()
conn.settimeout(limit)
got = 0
while got < up:
    data = conn.recv(65536)
    if not data:
        sys.exit(1)
    got += len(data)
sys.stdin.readline()
conn.sendall(b"y" * down)
while conn.recv(65536):
    pass
`;

// Connects (1 byte, so the MPTCP handshake completes and the join starts),
// prints its port, sends the rest of UP on a stdin line, reads DOWN, holds until stdin closes.
const CLIENT = `
import socket, sys
addr, port, up, down, limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262)
s.settimeout(limit)
s.connect((addr, port))
s.sendall(b"x")
print(s.getsockname()[1], flush=True)
sys.stdin.readline()
s.sendall(b"x" * (up - 1))
got = 0
while got < down:
    data = s.recv(65536)
    if not data:
        sys.exit(1)
    got += len(data)
print("done", flush=True)
sys.stdin.read()
`;

/** The client's subflows of the connection from `localPort`, with ss's rtt (ms) each. */
async function ssConnection(ns: ScratchNetns, localPort: number) {
  const text = await run(inNetnsArgv(ns.name, ["ss", "-tinH", "state", "established"]));
  const all = parseSsSubflows(text);
  const token = all.find((s) => s.localPort === localPort)?.token;
  const subflows = all.filter((s) => token !== undefined && s.token === token);
  const rtt = (sf: SubflowStat) => {
    const lines = text.split("\n");
    const head = lines.findIndex((l) => l.includes(`${sf.local}:${sf.localPort} `));
    const m = /\brtt:([\d.]+)\//.exec(lines[head + 1] ?? "");
    return m ? Number(m[1]) : NaN;
  };
  return { token, subflows: subflows.map((sf) => ({ ...sf, rttMs: rtt(sf) })) };
}

/** Polls (bounded) until `ok` holds for the client's connection; returns it. */
async function until(
  ns: ScratchNetns,
  localPort: number,
  ok: (c: Awaited<ReturnType<typeof ssConnection>>) => boolean,
  what: string,
) {
  const deadline = Date.now() + 20_000;
  let last = await ssConnection(ns, localPort);
  while (!ok(last)) {
    if (Date.now() > deadline) throw new Error(`${what}: ${JSON.stringify(last)}`);
    await sleep(200);
    last = await ssConnection(ns, localPort);
  }
  return last;
}

/** The record rule's flows as `show` reports them. */
async function shownFlows(stack: Parameters<typeof showStack>[0], c: { store: never }) {
  const [shown] = await showStack(stack, c.store);
  assert.ok(shown.inSync, "recorded flows are not drift: the chain is in sync");
  const rules = (shown.details as { rules: { flows?: Omit<FlowRecord, "rule">[] }[] }).rules;
  return rules[0].flows ?? [];
}

function within5(recorded: number, kernel: number, what: string) {
  assert.ok(kernel > 0, `${what}: the kernel counted bytes`);
  const off = Math.abs(recorded - kernel) / kernel;
  assert.ok(
    off <= 0.05,
    `${what}: recorded ${recorded}, kernel ${kernel} (${(off * 100).toFixed(1)} % off)`,
  );
}

function flowOf(flows: Omit<FlowRecord, "rule">[], sf: SubflowStat) {
  const found = flows.find((f) =>
    f.local === sf.local && f.localPort === sf.localPort && f.remote === sf.remote &&
    f.remotePort === sf.remotePort
  );
  assert.ok(found, `a recorded flow for ${sf.local}:${sf.localPort}: ${JSON.stringify(flows)}`);
  return found;
}

/** The flows pin's lifecycle: a rule edit forgets its flows, a lost pin is a hitless reload, destroy removes it. */
async function afterTraffic(c: ChainLab, stack: Stack) {
  const dir = chainDir(c);
  const edited = chainStack(c, {
    attach: [{ dev: PATH_A.dev, hooks: ["egress"] }],
    rules: [{ select: { remotePort: PORT + 1 }, act: [{ record: true }] }],
  });
  await applyStack(edited, c.store);
  assert.deepEqual(readFlows(dir), [], "the edited rule's position starts with no flows");
  unpin(`${dir}/flows`);
  const [step] = (await plan(edited, c.store)).steps;
  assert.deepEqual(step.changes.map((x) => [x.path, x.hitless]), [["flows", true]]);
  await applyStack(edited, c.store);
  assert.ok(readState(dir).pins.flows, "the flows map is pinned again");
  assert.equal((await plan(edited, c.store)).steps[0].action, "no-op");
  await destroyStack(stack, c.store);
  assert.throws(() => Deno.statSync(dir), Deno.errors.NotFound, "destroy removed every pin");
}

/** The metrics exporter (`main.ts metrics`, the agent's /metrics) carries the same bytes. */
async function exportedFlowsAgree(
  store: Parameters<typeof kernelSamples>[0],
  subflows: SubflowStat[],
) {
  const samples = (await kernelSamples(store)).policy_chain_flow_bytes_total ?? [];
  for (const sf of subflows) {
    const sample = samples.find((s) =>
      s.labels.direction === "received" && s.labels.local === `${sf.local}:${sf.localPort}` &&
      s.labels.remote === `${sf.remote}:${sf.remotePort}`
    );
    assert.ok(sample, `an exported flow for ${sf.local} (${JSON.stringify(samples)})`);
    within5(sample.value, sf.bytesReceived, `exported bytes received on ${sf.local}`);
  }
}

Deno.test("record: per-subflow bytes agree with the kernel's subflow counters, RTT sampled, token shared", async () => {
  await withChainLab("sf-pc-rec", async (c) => {
    const { client, server } = c.lab;
    setLimits({ subflows: 2, addAddrAccepted: 0 }, client.path);
    setLimits({ subflows: 2, addAddrAccepted: 0 }, server.path);
    addEndpoint({ address: PATH_B.clientAddress, flags: ["subflow"] }, client.path);
    const both = ["ingress" as const, "egress" as const];
    const stack = chainStack(c, {
      attach: [{ dev: PATH_A.dev, hooks: both }, { dev: PATH_B.dev, hooks: both }],
      rules: [{ select: { remotePort: PORT }, act: [{ record: "transfer" }] }],
    });
    await applyStack(stack, c.store);
    const srv = spawnHelper(server, SERVER, [PORT, UP, DOWN, LIMIT_S]);
    let cli: ReturnType<typeof spawnHelper> | null = null;
    try {
      assert.equal(await srv.line(), "listening");
      cli = spawnHelper(client, CLIENT, [PATH_A.serverAddress, PORT, UP, DOWN, LIMIT_S]);
      const port = Number(await cli.line());
      await until(client, port, (x) => x.subflows.length === 2, "2 subflows");
      await cli.say("go");
      const up = await until(
        client,
        port,
        (x) => x.subflows.reduce((n, s) => n + s.bytesAcked, 0) >= UP,
        "every byte up acked",
      );
      const sent = await shownFlows(stack, c as never);
      for (const sf of up.subflows) {
        within5(flowOf(sent, sf).sent.bytes, sf.bytesSent, `bytes sent on ${sf.local}`);
      }
      await srv.say("go");
      assert.equal(await cli.line(), "done");
      const down = await until(
        client,
        port,
        (x) => x.subflows.reduce((n, s) => n + s.bytesReceived, 0) >= DOWN,
        "every byte down received",
      );
      const flows = await shownFlows(stack, c as never);
      assert.equal(flows.length, 2, "one flow per subflow");
      for (const sf of down.subflows) {
        const before = flowOf(sent, sf);
        const f = flowOf(flows, sf);
        within5(f.received.bytes, sf.bytesReceived, `bytes received on ${sf.local}`);
        assert.equal(f.sent.bytes, before.sent.bytes, `${sf.local}: ACKs add no payload bytes`);
        assert.ok(f.sent.packets > before.sent.packets, `${sf.local}: the ACKs were counted`);
        assert.equal(f.token && parseInt(f.token, 16), parseInt(sf.token, 16), "ss's local token");
        assert.ok(f.rttUs !== null && f.rttMinUs !== null, `${sf.local}: an RTT sample`);
        assert.ok(f.rttMinUs! <= f.rttUs!, "the smallest sample is not above the last");
        const ms = Math.max(sf.rttMs, 1);
        assert.ok(
          f.rttUs! / 1000 <= ms * 10 + 50 && f.rttUs! / 1000 >= ms / 10 - 1,
          `${sf.local}: RTT ${f.rttUs} µs vs ss ${sf.rttMs} ms`,
        );
      }
      await exportedFlowsAgree(c.store as never, down.subflows);
      await afterTraffic(c, stack);
    } finally {
      await cli?.stop();
      await srv.stop();
    }
  });
});
