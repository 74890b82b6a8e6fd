import assert from "node:assert/strict";
import { ListenerError, parseListenerUrl, rankCandidates } from "./listeners.ts";
import { formatIp, parseIp, type ProcNetSocket, TCP_STATE } from "./proc_net.ts";

function row(address: string, port: number, inode: number): ProcNetSocket {
  const local = parseIp(address)!;
  const remote = new Uint8Array(local.length);
  return { local, localPort: port, remote, remotePort: 0, state: TCP_STATE.LISTEN, inode };
}

Deno.test("parseListenerUrl() decodes tcp and udp URLs of both families", () => {
  const v4 = parseListenerUrl("tcp://127.0.0.1:8080");
  assert.deepEqual([v4.protocol, v4.family, formatIp(v4.address), v4.port], [
    "tcp",
    "ipv4",
    "127.0.0.1",
    8080,
  ]);
  const v6 = parseListenerUrl("udp://[2001:db8::53]:5353");
  assert.deepEqual([v6.protocol, v6.family, formatIp(v6.address), v6.port], [
    "udp",
    "ipv6",
    "2001:db8::53",
    5353,
  ]);
});

Deno.test("parseListenerUrl() rejects anything else with the expected form", () => {
  const bad = [
    "http://127.0.0.1:80",
    "tcp://127.0.0.1",
    "tcp://127.0.0.1:0",
    "tcp://127.0.0.1:65536",
    "tcp://::1:9000",
    "tcp://[127.0.0.1]:80",
    "tcp://localhost:80",
  ];
  for (const url of bad) {
    assert.throws(() => parseListenerUrl(url), (err: Error) => {
      assert.ok(err instanceof ListenerError);
      assert.match(err.message, /expected tcp:\/\/HOST:PORT/);
      return err.message.includes(url);
    }, url);
  }
});

Deno.test("rankCandidates() prefers the exact address, then v4-mapped, then wildcards", () => {
  const want = parseListenerUrl("tcp://127.0.0.1:8080");
  const v4 = [row("0.0.0.0", 8080, 30), row("127.0.0.1", 8080, 40), row("127.0.0.1", 9090, 1)];
  const v6 = [row("::", 8080, 10), row("::ffff:127.0.0.1", 8080, 20), row("::1", 8080, 5)];
  const ranked = rankCandidates(want, v4, v6);
  assert.deepEqual(ranked.map((c) => c.row.inode), [40, 20, 30, 10]);
  assert.deepEqual(ranked.map((c) => c.needsDualStack), [false, false, false, true]);
});

Deno.test("rankCandidates() for IPv6 ignores IPv4 sockets and breaks ties by inode", () => {
  const want = parseListenerUrl("tcp://[::1]:9000");
  const v4 = [row("0.0.0.0", 9000, 1)];
  const v6 = [row("::", 9000, 3), row("::1", 9000, 9), row("::1", 9000, 7)];
  assert.deepEqual(rankCandidates(want, v4, v6).map((c) => c.row.inode), [7, 9, 3]);
});

Deno.test("rankCandidates() finds nothing on another address or port", () => {
  const want = parseListenerUrl("udp://10.0.0.1:53");
  assert.deepEqual(rankCandidates(want, [row("10.0.0.2", 53, 1), row("10.0.0.1", 54, 2)], []), []);
});
