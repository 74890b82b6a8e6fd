import assert from "node:assert/strict";
import {
  decodeSockaddr,
  formatIp,
  isWildcard,
  parseIp,
  parseProcNet,
  TCP_STATE,
  v4Mapped,
} from "./proc_net.ts";

const TCP = [
  "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
  "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0",
  "   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 0 1 0000000000000000 20 4 0 10 -1",
  "",
].join("\n");

const TCP6 = [
  "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
  "   0: 00000000000000000000000001000000:2328 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1 0000000000000000 100 0 0 10 0",
].join("\n");

Deno.test("parseProcNet() decodes IPv4 rows: address, port, state and inode", () => {
  const [listener, established] = parseProcNet(TCP);
  assert.equal(formatIp(listener.local), "127.0.0.1");
  assert.equal(listener.localPort, 8080);
  assert.equal(listener.state, TCP_STATE.LISTEN);
  assert.equal(listener.inode, 4242);
  assert.ok(isWildcard(listener.remote));
  assert.equal(established.state, TCP_STATE.ESTABLISHED);
  assert.equal(established.remotePort, 50000);
});

Deno.test("parseProcNet() undoes the per-word byte order of IPv6 rows", () => {
  const [row] = parseProcNet(TCP6);
  assert.equal(formatIp(row.local), "::1");
  assert.equal(row.localPort, 9000);
  assert.equal(row.inode, 777);
});

Deno.test("parseIp() takes either family and refuses anything else", () => {
  assert.deepEqual(Array.from(parseIp("192.0.2.10")!), [192, 0, 2, 10]);
  assert.equal(formatIp(parseIp("2001:DB8:0:0:0:0:0:1")!), "2001:db8::1");
  assert.equal(parseIp("localhost"), undefined);
});

Deno.test("v4Mapped() prefixes ::ffff:", () => {
  assert.equal(formatIp(v4Mapped(parseIp("10.1.2.3")!)), "::ffff:10.1.2.3");
});

Deno.test("decodeSockaddr() reads sockaddr_in and sockaddr_in6", () => {
  const in4 = Uint8Array.from([2, 0, 0x1f, 0x90, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(decodeSockaddr(in4), {
    family: "ipv4",
    address: Uint8Array.from([127, 0, 0, 1]),
    port: 8080,
  });
  const in6 = new Uint8Array(28);
  in6.set([10, 0, 0x23, 0x28]);
  in6[23] = 1;
  const decoded = decodeSockaddr(in6)!;
  assert.equal(decoded.family, "ipv6");
  assert.equal(formatIp(decoded.address), "::1");
  assert.equal(decoded.port, 9000);
  assert.equal(decodeSockaddr(Uint8Array.from([1, 0, 0, 0])), undefined, "AF_UNIX");
});
