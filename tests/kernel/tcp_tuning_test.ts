/**
 * TcpTuning on the real kernel: a private cgroup v2, a private bpffs, a
 * client and a server netns, and real connections whose sockets report what
 * the sock_ops program set (getsockopt, tcp_info, ss).
 */
import assert from "node:assert/strict";
import {
  applyStack,
  destroyStack,
  plan,
  PlanError,
  showStack,
  SpecError,
  Stack,
  StepError,
  TcpTuning,
} from "../../mod.ts";
import * as gen from "../../bpf/gen/sock_ops.ts";
import type { TcpTuningSpecInput } from "../../resources/tcp_tuning.ts";
import { listLinks, listPrograms } from "../../providers/libbpf/info.ts";
import { BpfLink } from "../../providers/libbpf/link.ts";
import { BpfMap } from "../../providers/libbpf/map.ts";
import { readMeta, writeMeta } from "../../providers/meta.ts";
import { readState, RULESET_KEY } from "../../providers/tcp_tuning/kernel.ts";
import { HEADER_SIZE } from "../../providers/tcp_tuning/codec.ts";
import {
  privateCgroup,
  type SocketReport,
  startProbe,
  TT,
  type TtLab,
  withTtLab,
} from "../helpers/tcp_tuning_lab.ts";
import { setupTwoPathLab, type TwoPathLab } from "../helpers/lab.ts";
import { privateBpffs } from "../helpers/bpffs.ts";
import { TestResources } from "../helpers/netns.ts";
import { kernelStore } from "../../providers/kernel_store.ts";
import { run } from "../../providers/lab/command.ts";

const PORT = 5201;

function stackFor(lab: TtLab, rules: TcpTuningSpecInput["rules"], cgroup = lab.cgroup): Stack {
  return new Stack("kt", [new TcpTuning("tune", { cgroup, rules })]);
}

/** The system default in the client netns and an available algorithm that differs from it. */
async function congestionPair(lab: TtLab): Promise<{ base: string; other: string }> {
  const base = (await lab.client.exec(["sysctl", "-n", "net.ipv4.tcp_congestion_control"])).trim();
  const available = Deno.readTextFileSync("/proc/sys/net/ipv4/tcp_available_congestion_control")
    .trim().split(/\s+/);
  const other = ["cubic", "reno", ...available].find((cc) => cc !== base && available.includes(cc));
  assert.ok(other, `need a second congestion control besides ${base}`);
  return { base, other };
}

type Details = {
  rules: { matched: number; applied: number; sampledOut: number; errors: number }[];
};

async function counters(lab: TtLab, stack: Stack): Promise<Details["rules"]> {
  const [shown] = await showStack(stack, lab.store);
  return (shown.details as Details).rules;
}

/** Links attached to the lab's cgroup, as the kernel lists them. */
function linksOn(lab: TtLab): number {
  const id = BigInt(Deno.statSync(lab.cgroup).ino!);
  return listLinks().filter((l) => l.cgroupId === id).length;
}

Deno.test("a connection from the cgroup to a matching prefix gets the rule's congestion control; others keep the default", async () => {
  await withTtLab(async (lab) => {
    const { base, other } = await congestionPair(lab);
    await lab.serve(PORT);
    const stack = stackFor(lab, [{
      match: { remote: "10.88.0.0/16" },
      set: { congestion: other },
    }]);
    await applyStack(stack, lab.store);
    assert.equal(linksOn(lab), 1);

    const [tuned] = await lab.connect(TT.matching, PORT, true);
    assert.equal(tuned.congestion, other, "in the cgroup, matching prefix");
    const [unmatched] = await lab.connect(TT.other, PORT, true);
    assert.equal(unmatched.congestion, base, "in the cgroup, other prefix");
    const [outside] = await lab.connect(TT.matching, PORT, false);
    assert.equal(outside.congestion, base, "outside the cgroup");
    const [rule] = await counters(lab, stack);
    assert.deepEqual(rule, { ...rule, matched: 1, applied: 1, sampledOut: 0, errors: 0 });

    await destroyStack(stack, lab.store);
    assert.equal(linksOn(lab), 0);
    const [after] = await lab.connect(TT.matching, PORT, true);
    assert.equal(after.congestion, base, "after destroy");
  });
});

type SynReport = { rtoUs: number; firstRetransMs: number | null };

async function synProbe(lab: TtLab, host: string): Promise<SynReport> {
  const p = lab.clientProbe<SynReport>("syn", { host, port: 80, timeoutMs: 3000 }, true);
  const [line] = await p.waitFor(1, 10_000);
  await p.stop();
  return line;
}

Deno.test("synRtoMs: the first SYN retransmission to a silent address comes well before the default 1 s", async () => {
  await withTtLab(async (lab) => {
    const stack = stackFor(lab, [{ match: { remote: "10.66.1.0/24" }, set: { synRtoMs: 100 } }]);
    await applyStack(stack, lab.store);
    const [tuned, untuned] = await Promise.all([
      synProbe(lab, TT.silentTuned),
      synProbe(lab, TT.silentOther),
    ]);
    assert.equal(tuned.rtoUs, 100_000, "the TIMEOUT_INIT reply is the socket's initial RTO");
    assert.equal(untuned.rtoUs, 1_000_000, "the kernel default elsewhere");
    assert.ok(
      tuned.firstRetransMs !== null && untuned.firstRetransMs !== null,
      "both retransmitted",
    );
    // Ordering with a wide margin, not exact timing: ~100 ms against ~1000 ms.
    assert.ok(
      tuned.firstRetransMs * 2 < untuned.firstRetransMs,
      `tuned ${tuned.firstRetransMs} ms vs default ${untuned.firstRetransMs} ms`,
    );
    await destroyStack(stack, lab.store);
  });
});

Deno.test("buffers, mark, pacing, nodelay, IW, rwnd, min RTO and ECN are visible on the client socket", async () => {
  await withTtLab(async (lab) => {
    await lab.serve(PORT, true);
    const [before] = await lab.connect(TT.matching, PORT, true);
    const set = {
      sndBuf: 65_536,
      rcvBuf: 100_000,
      mark: 0x2a,
      maxPacingRate: "8mbit",
      noDelay: true,
      initCwnd: 40,
      initRwnd: 4,
      rtoMinMs: 40,
      delackMaxMs: 10,
      ecn: true,
    } as const;
    const stack = stackFor(lab, [
      { match: { remote: "10.88.0.0/16", remotePorts: [PORT] }, set },
      // The server's side: ECN needs both ends (the SYN is ECT-marked, as DCTCP sends it).
      { match: { direction: "passive" }, set: { ecn: true } },
    ]);
    await applyStack(stack, lab.store);
    const [s] = await lab.connect(TT.matching, PORT, true);
    // The kernel doubles SO_SNDBUF / SO_RCVBUF values, as for setsockopt(2).
    assert.equal(s.sndBuf, 131_072);
    assert.equal(s.rcvBuf, 200_000);
    assert.equal(s.mark, 0x2a);
    assert.equal(s.maxPacingRate, 1_000_000);
    assert.equal(s.noDelay, true);
    assert.equal(s.sndCwnd, 40, "TCP_BPF_IW before any data");
    assert.ok(s.rcvSsthresh <= 4 * 1460, `initial window capped at 4 segments: ${s.rcvSsthresh}`);
    assert.ok(s.rtoUs < 150_000, `RTO follows the 40 ms minimum: ${s.rtoUs} us`);
    assert.equal(s.ecn, true, "ECN negotiated with the tuned server");
    // The same connection before the tuning, for contrast.
    assert.notEqual(before.mark, 0x2a);
    assert.equal(before.sndCwnd, 10);
    assert.ok(before.rcvSsthresh > 4 * 1460);
    assert.ok(before.rtoUs >= 200_000, `default RTO floor: ${before.rtoUs} us`);
    assert.equal(before.ecn, false);
    await lab.serve(PORT + 1);
    const [otherPort] = await lab.connect(TT.matching, PORT + 1, true);
    assert.equal(otherPort.mark, 0, "the rule is for one remote port");
    const [rule, passive] = await counters(lab, stack);
    assert.equal(rule.errors, 0, "every setsockopt (incl. delackMaxMs) was accepted");
    assert.equal(rule.applied, 1);
    assert.equal(passive.matched, 1, "the server's accepted connection");
    await destroyStack(stack, lab.store);
  });
});

Deno.test("a passive rule tunes connections accepted inside the cgroup", async () => {
  await withTtLab(async (lab) => {
    const { base, other } = await congestionPair(lab);
    const server = await lab.serve(PORT, true);
    const stack = stackFor(lab, [
      { match: { direction: "active" }, set: { mark: 1 } },
      { match: { direction: "passive", localPorts: [PORT] }, set: { congestion: other, mark: 7 } },
    ]);
    await applyStack(stack, lab.store);
    const [client] = await lab.connect(TT.matching, PORT, false);
    const [, accepted] = await server.waitFor(2) as [unknown, SocketReport];
    assert.equal(accepted.congestion, other);
    assert.equal(accepted.mark, 7);
    assert.equal(client.congestion, base, "the client is outside the cgroup");
    const rules = await counters(lab, stack);
    assert.deepEqual(rules.map((r) => r.matched), [0, 1]);
    await destroyStack(stack, lab.store);
  });
});

Deno.test("sample: 0.1 over 1,000 connections applies to 10 % ± 3 %, the same connections at every callback", async () => {
  await withTtLab(async (lab) => {
    const { base, other } = await congestionPair(lab);
    await lab.serve(PORT);
    const stack = stackFor(lab, [{
      match: { remote: "10.88.0.0/16" },
      set: { congestion: other, rcvBuf: 100_000 },
      sample: 0.1,
    }]);
    await applyStack(stack, lab.store);
    const sockets = await lab.connect(TT.matching, PORT, true, 1000);
    const [rule] = await counters(lab, stack);
    assert.equal(rule.matched, 1000);
    assert.equal(rule.applied + rule.sampledOut, 1000);
    assert.ok(rule.applied >= 70 && rule.applied <= 130, `applied to ${rule.applied} of 1000`);
    // Every socket reported back: the counters and the sockets agree exactly.
    const tuned = sockets.filter((s) => s.congestion === other);
    assert.equal(tuned.length, rule.applied);
    assert.ok(sockets.every((s) => s.congestion === other || s.congestion === base));
    // rcvBuf is set before the SYN, congestion at establishment: one decision per connection.
    for (const s of sockets) {
      assert.equal(s.rcvBuf === 200_000, s.congestion === other, `port ${s.localPort}`);
    }
    await destroyStack(stack, lab.store);
  });
});

/** One TCP socket as `ss -tinHe` lists it. */
interface SsSocket {
  local: string;
  mark: number;
  congestion: string | undefined;
  subflow: boolean;
}

function parseSs(text: string, algorithms: string[]): SsSocket[] {
  const lines = text.split("\n").filter((l) => l.trim());
  const out: SsSocket[] = [];
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const [head, info] = [lines[i], lines[i + 1]];
    const local = head.trim().split(/\s+/)[3].replace(/%[^:]+/, "");
    const mark = /fwmark:(0x[0-9a-f]+)/.exec(head);
    out.push({
      local,
      mark: mark ? Number(mark[1]) : 0,
      congestion: info.trim().split(/\s+/).find((t) => algorithms.includes(t)),
      subflow: info.includes("tcp-ulp-mptcp"),
    });
  }
  return out;
}

async function mptcpLab(res: TestResources): Promise<TwoPathLab> {
  const lab = await setupTwoPathLab({ prefix: "sf-ttm", cleanupOnSigint: false });
  res.defer("tear down the two-path lab", () => lab.teardown());
  for (const ns of [lab.client, lab.server]) {
    await ns.exec(["ip", "mptcp", "limits", "set", "subflows", "2", "add_addr_accepted", "2"]);
  }
  const b = lab.paths[1];
  await lab.client.exec([
    "ip",
    "mptcp",
    "endpoint",
    "add",
    b.clientAddress,
    "dev",
    b.dev,
    "subflow",
  ]);
  return lab;
}

Deno.test("a subflow rule tunes the MPTCP subflows of one path only", async () => {
  await using res = new TestResources();
  const lab = await mptcpLab(res);
  const fs = privateBpffs();
  res.defer("unmount bpffs", () => fs.cleanup());
  const cgroup = privateCgroup();
  res.defer("remove cgroup", () => cgroup.remove());
  const store = kernelStore(fs.root);
  const algorithms = Deno.readTextFileSync("/proc/sys/net/ipv4/tcp_available_congestion_control")
    .trim().split(/\s+/);
  const base = (await lab.client.exec(["sysctl", "-n", "net.ipv4.tcp_congestion_control"])).trim();
  const other = algorithms.find((a) => a !== base)!;
  const [a, b] = lab.paths;
  const stack = new Stack("kt", [
    new TcpTuning("paths", {
      cgroup: cgroup.path,
      rules: [{ match: { local: b.subnet, subflow: true }, set: { congestion: other, mark: 0x2 } }],
    }),
  ]);
  await applyStack(stack, store);
  res.defer("destroy", async () => void await destroyStack(stack, store));

  const start = (ns: string, cg: string | null, cmd: string, o: object) => {
    const p = startProbe<unknown>(ns, cg, cmd, o);
    res.defer(`stop ${cmd}`, () => p.stop());
    return p;
  };
  await start(lab.server.name, null, "serve", {
    host: "0.0.0.0",
    port: PORT,
    mptcp: true,
    greet: true,
  })
    .waitFor(1);
  await start(lab.server.name, null, "serve", { host: "0.0.0.0", port: PORT + 1, greet: true })
    .waitFor(1);
  const mptcp = { host: a.serverAddress, port: PORT, mptcp: true, hold: true };
  await start(lab.client.name, cgroup.path, "connect", mptcp).waitFor(2);
  // Plain TCP from path b's address: not a subflow, so the rule must not apply.
  const plain = { host: a.serverAddress, port: PORT + 1, bind: b.clientAddress, hold: true };
  await start(lab.client.name, cgroup.path, "connect", plain).waitFor(2);

  let sockets: SsSocket[] = [];
  for (let i = 0; i < 100 && sockets.filter((s) => s.subflow).length < 2; i++) {
    await new Promise((r) => setTimeout(r, 50));
    sockets = parseSs(await lab.client.exec(["ss", "-tinHe"]), algorithms);
  }
  const subflowA = sockets.find((s) => s.subflow && s.local.startsWith(`${a.clientAddress}:`));
  const subflowB = sockets.find((s) => s.subflow && s.local.startsWith(`${b.clientAddress}:`));
  const plainB = sockets.find((s) => !s.subflow && s.local.startsWith(`${b.clientAddress}:`));
  assert.ok(subflowA && subflowB && plainB, JSON.stringify(sockets));
  assert.deepEqual([subflowB.congestion, subflowB.mark], [other, 0x2], "path b's subflow");
  assert.deepEqual([subflowA.congestion, subflowA.mark], [base, 0], "path a's subflow");
  assert.deepEqual([plainB.congestion, plainB.mark], [base, 0], "plain TCP on path b");
});

async function planError(stack: Stack, lab: TtLab): Promise<string> {
  try {
    await plan(stack, lab.store);
  } catch (e) {
    assert.ok(e instanceof PlanError, String(e));
    return e.message;
  }
  throw new Error("expected a PlanError");
}

Deno.test("bad input is refused with one clear line naming the field", async (t) => {
  await withTtLab(async (lab) => {
    await t.step("an unknown congestion algorithm", async () => {
      const available = Deno.readTextFileSync(
        "/proc/sys/net/ipv4/tcp_available_congestion_control",
      ).trim();
      const msg = await planError(stackFor(lab, [{ set: { congestion: "nosuchcc" } }]), lab);
      assert.ok(msg.startsWith("tune.rules[0].set.congestion: "), msg);
      assert.ok(msg.includes('"nosuchcc"') && msg.includes(available), msg);
    });
    await t.step("negative and absurd values", () => {
      for (
        const set of [{ synRtoMs: -1 }, { synRtoMs: 3_600_000 }, { initCwnd: 0 }, { mark: -2 }]
      ) {
        assert.throws(
          () => new TcpTuning("tune", { cgroup: lab.cgroup, rules: [{ set }] }),
          (e: Error) => e instanceof SpecError && e.message.startsWith("tune.rules[0].set."),
        );
      }
    });
    await t.step("a timer below 2 jiffies", async () => {
      const msg = await planError(stackFor(lab, [{ set: { rtoMinMs: 1 } }]), lab);
      assert.match(msg, /^tune\.rules\[0\]\.set\.rtoMinMs: 1 ms is under .* 2 jiffies/);
    });
    await t.step("a missing cgroup", async () => {
      const missing = `${lab.cgroup}/nope`;
      const msg = await planError(stackFor(lab, [], missing), lab);
      assert.equal(msg, `tune.cgroup: ${missing} does not exist (create it: mkdir ${missing})`);
    });
    await t.step("a cgroup v1 path", async () => {
      // A private named v1 hierarchy (no controllers), so the step runs on any host.
      const v1 = Deno.makeTempDirSync({ prefix: "sf-cgv1-" });
      await run(["mount", "-t", "cgroup", "-o", `none,name=${v1.slice(-12)}`, "cgroup", v1]);
      try {
        const msg = await planError(stackFor(lab, [], v1), lab);
        assert.match(
          msg,
          /^tune\.cgroup: .* is in a cgroup v1 hierarchy; sock_ops attaches only to cgroup v2/,
        );
      } finally {
        await run(["umount", v1]);
        Deno.removeSync(v1);
      }
    });
    await t.step("a file that is not a cgroup", async () => {
      const msg = await planError(stackFor(lab, [], "/proc"), lab);
      assert.match(msg, /^tune\.cgroup: \/proc is not a cgroup v2 directory/);
    });
  });
});

function linksOnPath(cgroup: string): number {
  const id = BigInt(Deno.statSync(cgroup).ino!);
  return listLinks().filter((l) => l.cgroupId === id).length;
}

async function connectFrom(lab: TtLab, cgroup: string, host: string): Promise<SocketReport> {
  const p = startProbe(lab.client.name, cgroup, "connect", { host, port: PORT });
  const [line] = await p.waitFor(1);
  await p.stop();
  return line;
}

Deno.test("the loop: no-op re-plan, drift repaired, hitless edits, program swap, cgroup move, destroy", async (t) => {
  await withTtLab(async (lab) => {
    const { base, other } = await congestionPair(lab);
    await lab.serve(PORT);
    const rule = { match: { remote: "10.88.0.0/16" }, set: { congestion: other, synRtoMs: 200 } };
    let stack = stackFor(lab, [rule]);
    await applyStack(stack, lab.store);
    const dir = `${lab.root}/kt/tune`;
    const onlyStep = async () => (await plan(stack, lab.store)).steps[0];
    const tunedNow = async (host: string = TT.matching, cgroup = lab.cgroup) =>
      (await connectFrom(lab, cgroup, host)).congestion === other;

    await t.step("a second plan changes nothing", async () => {
      assert.equal((await onlyStep()).action, "no-op");
    });
    await t.step("a detached link is drift; apply attaches a new one", async () => {
      const link = BpfLink.openPinned(`${dir}/link`)!;
      try {
        link.detach();
      } finally {
        link.close();
      }
      assert.equal(linksOn(lab), 0);
      assert.equal(await tunedNow(), false, "nothing tunes while detached");
      const step = await onlyStep();
      assert.equal(step.action, "update");
      assert.deepEqual(step.drift.map((c) => c.path), ["link"]);
      await applyStack(stack, lab.store);
      assert.equal(linksOn(lab), 1);
      assert.equal(await tunedNow(), true);
      assert.equal((await onlyStep()).action, "no-op");
    });
    await t.step("an edited rule entry is drift; apply writes the rules back", async () => {
      const map = BpfMap.openPinned(`${dir}/ruleset`)!;
      try {
        const value = map.lookup(RULESET_KEY)!;
        new DataView(value.buffer).setUint32(HEADER_SIZE + 128, 999, true); // rules[0].syn_rto_ms
        map.update(RULESET_KEY, value);
      } finally {
        map.close();
      }
      const step = await onlyStep();
      assert.deepEqual(step.drift.map((c) => c.path), ["rules[0]"]);
      assert.match(step.drift[0].reason, /set\.synRtoMs/);
      await applyStack(stack, lab.store);
      assert.equal(readState(dir).ruleset?.rules[0].set.synRtoMs, 200);
      assert.equal((await onlyStep()).action, "no-op");
    });
    await t.step("a rule edit is one hitless map update: same link, same program", async () => {
      const before = readState(dir);
      stack = stackFor(lab, [{ ...rule, match: { remote: "10.99.0.0/16" } }]);
      const step = await onlyStep();
      assert.deepEqual([step.action, step.hitless, step.changes.map((c) => c.path)], [
        "update",
        true,
        ["rules[0]"],
      ]);
      await applyStack(stack, lab.store);
      const after = readState(dir);
      assert.deepEqual([after.link?.id, after.program?.id], [before.link?.id, before.program?.id]);
      assert.equal(await tunedNow(TT.other), true);
      assert.equal(await tunedNow(TT.matching), false);
    });
    await t.step("a new program build is swapped atomically on the same link", async () => {
      const before = readState(dir);
      writeMeta(dir, { ...readMeta(dir)!, objectHash: "0".repeat(64) }); // as if built by an older release
      const step = await onlyStep();
      assert.deepEqual([step.action, step.hitless, step.changes.map((c) => c.path)], [
        "update",
        true,
        ["program"],
      ]);
      await applyStack(stack, lab.store);
      const after = readState(dir);
      assert.equal(after.link?.id, before.link?.id, "the same link");
      assert.notEqual(after.program?.id, before.program?.id, "a new program");
      assert.equal(after.link?.progId, after.program?.id, "now running the pinned program");
      assert.equal(await tunedNow(TT.other), true);
    });
    const second = privateCgroup();
    try {
      await t.step("a new cgroup is attached before the old one is detached", async () => {
        stack = stackFor(lab, [{ ...rule, match: { remote: "10.99.0.0/16" } }], second.path);
        const step = await onlyStep();
        assert.deepEqual([step.action, step.hitless, step.changes.map((c) => c.path)], [
          "update",
          true,
          ["cgroup"],
        ]);
        await applyStack(stack, lab.store);
        assert.deepEqual([linksOnPath(second.path), linksOn(lab)], [1, 0]);
        assert.equal(await tunedNow(TT.other, second.path), true);
        assert.equal(await tunedNow(TT.other, lab.cgroup), false);
        assert.equal((await onlyStep()).action, "no-op");
      });
      await t.step("destroy leaves no link, program, pin or directory", async () => {
        const progId = readState(dir).program!.id;
        await destroyStack(stack, lab.store);
        assert.equal(linksOnPath(second.path), 0);
        assert.deepEqual([...Deno.readDirSync(lab.root)], []);
        let alive = true;
        for (let i = 0; i < 50 && alive; i++) {
          alive = listPrograms().some((p) => p.id === progId); // freed after an RCU grace period
          if (alive) await new Promise((r) => setTimeout(r, 20));
        }
        assert.equal(alive, false, `program ${progId} is still loaded`);
        assert.equal((await connectFrom(lab, second.path, TT.other)).congestion, base);
      });
    } finally {
      await destroyStack(stack, lab.store);
      await second.remove();
    }
  });
});

/** Runs `fn` with apply set to fail right after its first step (engine/fault.ts). */
async function failingAfterFirstStep(fn: () => Promise<unknown>): Promise<string> {
  Deno.env.set("SOCKFORM_FAULT", "fail-after:1");
  try {
    await fn();
  } catch (e) {
    assert.ok(e instanceof StepError, String(e));
    return e.message;
  } finally {
    Deno.env.delete("SOCKFORM_FAULT");
  }
  throw new Error("expected a StepError");
}

Deno.test("a failed apply rolls create, update and delete back", async (t) => {
  await withTtLab(async (lab) => {
    const { other } = await congestionPair(lab);
    await lab.serve(PORT);
    const rule = { match: { remote: "10.88.0.0/16" }, set: { congestion: other } };
    const stack = stackFor(lab, [rule]);
    const dir = `${lab.root}/kt/tune`;
    await t.step("create", async () => {
      assert.match(await failingAfterFirstStep(() => applyStack(stack, lab.store)), /rolled back/);
      assert.equal(linksOn(lab), 0);
      assert.deepEqual([...Deno.readDirSync(`${lab.root}/kt`)], []);
    });
    await applyStack(stack, lab.store);
    const deployed = readState(dir);
    const second = privateCgroup();
    try {
      await t.step("update (rules, program build and cgroup at once)", async () => {
        writeMeta(dir, { ...readMeta(dir)!, objectHash: "0".repeat(64) });
        const moved = stackFor(lab, [{ ...rule, match: { remote: "10.99.0.0/16" } }], second.path);
        await failingAfterFirstStep(() => applyStack(moved, lab.store));
        assert.deepEqual(readState(dir), deployed);
        assert.deepEqual([linksOn(lab), linksOnPath(second.path)], [1, 0]);
        assert.equal((await lab.connect(TT.matching, PORT, true))[0].congestion, other);
        writeMeta(dir, { ...readMeta(dir)!, objectHash: gen.objectHash });
      });
      await t.step("delete", async () => {
        await failingAfterFirstStep(() => destroyStack(stack, lab.store));
        assert.deepEqual(readState(dir), deployed);
        assert.equal((await plan(stack, lab.store)).steps[0].action, "no-op");
        assert.equal((await lab.connect(TT.matching, PORT, true))[0].congestion, other);
      });
    } finally {
      await destroyStack(stack, lab.store);
      await second.remove();
    }
    assert.equal(linksOn(lab), 0);
  });
});
