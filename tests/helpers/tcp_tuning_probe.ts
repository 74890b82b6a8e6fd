/**
 * A socket probe run as a subprocess inside a test netns (and cgroup): it
 * opens real TCP (or MPTCP) connections with libc and prints, one JSON line
 * per socket, what getsockopt reports. Commands:
 *
 *   serve  {"host","port","mptcp"?,"greet"?}  listen ("::" takes IPv4 too);
 *          per accepted socket print
 *          its options; greet: write "hi\n" and read to EOF before closing
 *   connect {"host","port","count"?,"bind"?,"mptcp"?,"hold"?}  connect `count`
 *          times, print each socket's options; hold: read the greeting, keep
 *          the sockets open until stdin closes
 *   syn    {"host","port","timeoutMs"}  non-blocking connect to a silent
 *          address; print the initial RTO and when the first SYN
 *          retransmission happened
 *
 * @module
 */
import { check, errno, libc } from "../../providers/libc/ffi.ts";
import { parseIPv4, parseIPv6 } from "../../resources/common/inet.ts";

const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_STREAM = 1;
const SOCK_NONBLOCK = 0o4000;
const IPPROTO_TCP = 6;
const IPPROTO_MPTCP = 262;
const SOL_SOCKET = 1;
const SO = { SNDBUF: 7, RCVBUF: 8, MARK: 36, MAX_PACING_RATE: 47 } as const;
const TCP = { NODELAY: 1, INFO: 11, CONGESTION: 13 } as const;
const EINPROGRESS = 115;
const TCPI_OPT_ECN = 8;

/** What the probe prints for one socket. */
export interface SocketReport {
  localPort: number;
  remotePort: number;
  congestion: string;
  sndBuf: number;
  rcvBuf: number;
  mark: number;
  noDelay: boolean;
  maxPacingRate: number;
  /** tcp_info: RTO, usec. */
  rtoUs: number;
  sndCwnd: number;
  rcvSsthresh: number;
  ecn: boolean;
}

/** sockaddr_in (16 bytes) or, for an address with a colon, sockaddr_in6 (28 bytes). */
function sockaddr(host: string, port: number): Uint8Array<ArrayBuffer> {
  const v6 = host.includes(":");
  const buf = new Uint8Array(v6 ? 28 : 16);
  const view = new DataView(buf.buffer);
  view.setUint16(0, v6 ? AF_INET6 : AF_INET, true);
  view.setUint16(2, port, false);
  if (v6) buf.set(parseIPv6(host)!, 8);
  else buf.set(parseIPv4(host)!, 4);
  return buf;
}

function family(host: string): number {
  return host.includes(":") ? AF_INET6 : AF_INET;
}

function getopt(fd: number, level: number, name: number, size: number): Uint8Array<ArrayBuffer> {
  const value = new Uint8Array(size);
  const len = new Uint32Array([size]);
  check(
    `getsockopt(${level}, ${name})`,
    libc().getsockopt(fd, level, name, value, new Uint8Array(len.buffer)),
  );
  return value;
}

function intOpt(fd: number, level: number, name: number): number {
  return new DataView(getopt(fd, level, name, 4).buffer).getUint32(0, true);
}

function port(fd: number, peer: boolean): number {
  const addr = new Uint8Array(28);
  const len = new Uint8Array(new Uint32Array([28]).buffer);
  const call = peer ? libc().getpeername : libc().getsockname;
  check("getsockname", call(fd, addr, len));
  return new DataView(addr.buffer).getUint16(2, false);
}

function report(fd: number): SocketReport {
  const cc = getopt(fd, IPPROTO_TCP, TCP.CONGESTION, 16);
  const info = new DataView(getopt(fd, IPPROTO_TCP, TCP.INFO, 232).buffer);
  return {
    localPort: port(fd, false),
    remotePort: port(fd, true),
    congestion: new TextDecoder().decode(cc.subarray(0, cc.indexOf(0))),
    sndBuf: intOpt(fd, SOL_SOCKET, SO.SNDBUF),
    rcvBuf: intOpt(fd, SOL_SOCKET, SO.RCVBUF),
    mark: intOpt(fd, SOL_SOCKET, SO.MARK),
    noDelay: intOpt(fd, IPPROTO_TCP, TCP.NODELAY) !== 0,
    maxPacingRate: intOpt(fd, SOL_SOCKET, SO.MAX_PACING_RATE),
    rtoUs: info.getUint32(8, true),
    sndCwnd: info.getUint32(80, true),
    rcvSsthresh: info.getUint32(64, true),
    ecn: (info.getUint8(5) & TCPI_OPT_ECN) !== 0,
  };
}

function print(value: unknown): void {
  Deno.stdout.writeSync(new TextEncoder().encode(JSON.stringify(value) + "\n"));
}

function readAll(fd: number): void {
  const buf = new Uint8Array(4096);
  while (Number(libc().read(fd, buf, BigInt(buf.length))) > 0) { /* drain */ }
}

function stream(host: string, mptcp?: boolean, flags = 0): number {
  const protocol = mptcp ? IPPROTO_MPTCP : 0;
  return check("socket", libc().socket(family(host), SOCK_STREAM | flags, protocol));
}

function bindTo(fd: number, host: string, port: number): void {
  const addr = sockaddr(host, port);
  check(`bind(${host})`, libc().bind(fd, addr, addr.length));
}

function serve(o: { host: string; port: number; mptcp?: boolean; greet?: boolean }): void {
  const fd = stream(o.host, o.mptcp);
  const one = new Uint8Array(new Int32Array([1]).buffer);
  check("SO_REUSEADDR", libc().setsockopt(fd, SOL_SOCKET, 2, one, 4));
  bindTo(fd, o.host, o.port);
  check("listen", libc().listen(fd, 4096));
  print({ ready: true });
  for (;;) {
    const conn = check("accept", libc().accept(fd, null, null));
    print(report(conn));
    if (o.greet) {
      libc().write(conn, new TextEncoder().encode("hi\n"), 3n);
      readAll(conn);
    }
    libc().close(conn);
  }
}

async function connect(o: {
  host: string;
  port: number;
  count?: number;
  bind?: string;
  mptcp?: boolean;
  hold?: boolean;
}): Promise<void> {
  const open: number[] = [];
  for (let i = 0; i < (o.count ?? 1); i++) {
    const fd = stream(o.host, o.mptcp);
    if (o.bind) bindTo(fd, o.bind, 0);
    const to = sockaddr(o.host, o.port);
    check(`connect(${o.host}:${o.port})`, libc().connect(fd, to, to.length));
    if (o.hold) libc().read(fd, new Uint8Array(3), 3n);
    print(report(fd));
    if (o.hold) open.push(fd);
    else libc().close(fd);
  }
  if (!o.hold) return;
  print({ holding: open.length });
  for await (const _ of Deno.stdin.readable) { /* until the test closes stdin */ }
  open.forEach((fd) => libc().close(fd));
}

function retransmits(fd: number): number {
  return getopt(fd, IPPROTO_TCP, TCP.INFO, 232)[2]; // tcpi_retransmits: RTO expiries so far
}

/** Blocks this (probe) process for `ms` without going through the event loop. */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Times the first SYN retransmission by polling. A slow poll (an emulated
 * VM) only widens the window, so both ends are reported: the last poll that
 * saw no retransmission and the first that saw one.
 */
function syn(o: { host: string; port: number; timeoutMs: number }): void {
  const fd = stream(o.host, false, SOCK_NONBLOCK);
  retransmits(fd); // warm the FFI call up before the clock starts
  const start = performance.now();
  const to = sockaddr(o.host, o.port);
  if (libc().connect(fd, to, to.length) === 0 || errno() !== EINPROGRESS) {
    throw new Error(`connect to ${o.host} did not wait: the address must be silent`);
  }
  const rtoUs = new DataView(getopt(fd, IPPROTO_TCP, TCP.INFO, 232).buffer).getUint32(8, true);
  let lastQuietMs = 0;
  let firstRetransMs: number | null = null;
  while (performance.now() - start < o.timeoutMs) {
    const now = performance.now() - start;
    if (retransmits(fd) > 0) {
      firstRetransMs = now;
      break;
    }
    lastQuietMs = now;
    sleepSync(2);
  }
  libc().close(fd);
  print({ rtoUs, lastQuietMs, firstRetransMs });
}

if (import.meta.main) {
  const [command, json] = Deno.args;
  const options = JSON.parse(json ?? "{}");
  if (command === "serve") serve(options);
  else if (command === "connect") await connect(options);
  else if (command === "syn") syn(options);
  else throw new Error(`unknown command ${command}`);
}
