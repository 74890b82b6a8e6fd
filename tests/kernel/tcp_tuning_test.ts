/**
 * TcpTuning on the real kernel: a private cgroup v2, a private bpffs, a
 * client and a server netns, and real connections whose sockets report what
 * the sock_ops program set (getsockopt, tcp_info).
 */
import assert from "node:assert/strict";
import { applyStack, destroyStack } from "../../mod.ts";
import { type SocketReport, TT, type TtLab, withTtLab } from "../helpers/tcp_tuning_lab.ts";
import { congestionPair, counters, linksOn, PORT, stackFor } from "../helpers/tcp_tuning_checks.ts";

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

Deno.test("IPv6 prefixes match IPv6 connections, and never IPv4 ones", async () => {
  await withTtLab(async (lab) => {
    const { base, other } = await congestionPair(lab);
    await lab.serve(PORT); // dual-stack: takes IPv4 too, as v4-mapped IPv6 sockets
    const stack = stackFor(lab, [
      { match: { remote: "fd88::/64" }, set: { congestion: other } },
      { match: { remote: "::/0" }, set: { mark: 9 } },
      { match: { remote: "10.99.0.0/16" }, set: { mark: 4 } },
    ]);
    await applyStack(stack, lab.store);
    const [v6] = await lab.connect(TT.matchingV6, PORT, true);
    assert.deepEqual([v6.congestion, v6.mark], [other, 0], "fd88::1 takes the first rule");
    const [v6other] = await lab.connect(TT.otherV6, PORT, true);
    assert.deepEqual([v6other.congestion, v6other.mark], [base, 9], "fd99::1 falls to ::/0");
    const [v4] = await lab.connect(TT.other, PORT, true);
    assert.equal(v4.mark, 4, "::/0 does not cover IPv4");
    assert.deepEqual((await counters(lab, stack)).map((r) => r.matched), [1, 1, 1]);
    await destroyStack(stack, lab.store);
  });
});

/** The probe's view of a SYN to a silent address (see tcp_tuning_probe.ts `syn`). */
type SynReport = { rtoUs: number; lastQuietMs: number; firstRetransMs: number | null };

async function synProbe(lab: TtLab, host: string): Promise<SynReport> {
  const p = lab.clientProbe<SynReport>("syn", { host, port: 80, timeoutMs: 3000 }, true);
  const [line] = await p.waitFor(1, 30_000); // a bound: a loaded TCG guest starts python slowly
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
    // Ordering, not timing (~100 ms against ~1000 ms): the tuned SYN had been resent
    // before a moment at which the default one demonstrably had not.
    assert.ok(
      tuned.firstRetransMs < untuned.lastQuietMs,
      `tuned resent by ${tuned.firstRetransMs} ms; default still waiting at ${untuned.lastQuietMs} ms`,
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
