import assert from "node:assert/strict";
import { groupByConnection, parseProcNetDev, parseSsSubflows } from "./subflows.ts";

// Captured from `ss -tinH` in a lab client during an MPTCP iperf3 run, trimmed.
const SS_OUTPUT = [
  "ESTAB 0      965120 10.1.3.1:45553 10.1.2.2:5201",
  "\t bbr wscale:10,10 mss:1448 bytes_sent:8528197 bytes_acked:8496870 segs_out:6085 " +
  "tcp-ulp-mptcp flags:Jjec token:e8c607a7(id:0)/13162d27(id:1) seq:c5e1 sfseq:0 maplen:0",
  "ESTAB 0      0      10.1.2.1:37334 10.1.2.2:5201",
  "\t bbr bytes_sent:41 bytes_acked:42 bytes_received:2 " +
  "tcp-ulp-mptcp flags:Mmec token:0000(id:0)/be514a15(id:0) seq:22df sfseq:2 maplen:1",
  "ESTAB 0      165040 10.1.2.1:37346 10.1.2.2:5201",
  "\t bbr bytes_sent:8631536 bytes_acked:8598785 " +
  "tcp-ulp-mptcp flags:Mmec token:0000(id:0)/13162d27(id:0) seq:c5e1 sfseq:1 maplen:0",
  "ESTAB 0      0      [::ffff:127.0.0.1]:22 [::ffff:127.0.0.1]:5000",
  "\t cubic bytes_sent:100 bytes_acked:100",
  "",
].join("\n");

Deno.test("parseSsSubflows() keeps MPTCP subflows and skips plain TCP", () => {
  const subflows = parseSsSubflows(SS_OUTPUT);
  assert.equal(subflows.length, 3);
  assert.deepEqual(subflows[0], {
    local: "10.1.3.1",
    localPort: 45553,
    remote: "10.1.2.2",
    remotePort: 5201,
    token: "13162d27",
    bytesSent: 8528197,
    bytesAcked: 8496870,
    bytesReceived: 0,
  });
});

Deno.test("parseSsSubflows() reads lines without the State column (ss state filter)", () => {
  const noState = SS_OUTPUT.replaceAll("ESTAB ", "");
  assert.equal(parseSsSubflows(noState).length, 3);
});

Deno.test("groupByConnection() puts the busiest connection first with its subflows", () => {
  const [data, control] = groupByConnection(parseSsSubflows(SS_OUTPUT));
  assert.equal(data.token, "13162d27");
  assert.deepEqual(data.subflows.map((s) => s.local), ["10.1.3.1", "10.1.2.1"]);
  assert.equal(data.bytesAcked, 8496870 + 8598785);
  assert.equal(control.token, "be514a15");
  assert.equal(control.subflows.length, 1);
});

Deno.test("parseProcNetDev() reads rx and tx bytes per interface", () => {
  const text = [
    "Inter-|   Receive                                                |  Transmit",
    " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs",
    "    lo:    3193      29    0    0    0     0          0         0     3194      29    0",
    "veth-a: 1000 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0",
  ].join("\n");
  assert.deepEqual(parseProcNetDev(text), {
    lo: { rxBytes: 3193, txBytes: 3194 },
    "veth-a": { rxBytes: 1000, txBytes: 2000 },
  });
});

Deno.test("parseSsSubflows() drops the %device ss adds to a device-bound local address", () => {
  const text = [
    "ESTAB 0 0 10.1.3.1%veth-b:41234 10.1.2.2:5201",
    "\t tcp-ulp-mptcp flags:Jjecv token:0000(id:2)/5b0c5c4e(id:0) seq:1 bytes_acked:42",
  ].join("\n") + "\n";
  const [sf] = parseSsSubflows(text);
  assert.equal(sf.local, "10.1.3.1");
  assert.equal(sf.localPort, 41234);
  assert.equal(sf.bytesAcked, 42);
});
