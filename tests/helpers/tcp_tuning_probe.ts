/**
 * A socket probe run as a subprocess inside a test netns (and cgroup): it
 * opens real TCP (or MPTCP) connections with libc and prints, one JSON line
 * per socket, what getsockopt reports. Commands:
 *
 *   serve  {"host","port","mptcp"?,"greet"?}  listen; per accepted socket print
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

const AF_INET = 2;
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

function sockaddr(host: string, port: number): Uint8Array<ArrayBuffer> {
  const buf = new Uint8Array(16);
  const view = new DataView(buf.buffer);
  view.setUint16(0, AF_INET, true);
  view.setUint16(2, port, false);
  buf.set(host.split(".").map(Number), 4);
  return buf;
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
  const addr = new Uint8Array(16);
  const len = new Uint8Array(new Uint32Array([16]).buffer);
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

function stream(mptcp?: boolean, flags = 0): number {
  return check("socket", libc().socket(AF_INET, SOCK_STREAM | flags, mptcp ? IPPROTO_MPTCP : 0));
}

function serve(o: { host: string; port: number; mptcp?: boolean; greet?: boolean }): void {
  const fd = stream(o.mptcp);
  const one = new Uint8Array(new Int32Array([1]).buffer);
  check("SO_REUSEADDR", libc().setsockopt(fd, SOL_SOCKET, 2, one, 4));
  check("bind", libc().bind(fd, sockaddr(o.host, o.port), 16));
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
    const fd = stream(o.mptcp);
    if (o.bind) check("bind", libc().bind(fd, sockaddr(o.bind, 0), 16));
    check(`connect(${o.host}:${o.port})`, libc().connect(fd, sockaddr(o.host, o.port), 16));
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
  const fd = stream(false, SOCK_NONBLOCK);
  retransmits(fd); // warm the FFI call up before the clock starts
  const start = performance.now();
  if (libc().connect(fd, sockaddr(o.host, o.port), 16) === 0 || errno() !== EINPROGRESS) {
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
