/**
 * A generic netlink socket over libc FFI: requests with NLM_F_ACK, multi-part
 * dumps, family and multicast-group lookup through nlctrl, and kernel errors
 * as `KernelCallError`s carrying the kernel's extended-ack text.
 *
 * Every call is synchronous (blocking FFI with a receive timeout), so a socket
 * can be opened inside `inNetns`. A netlink socket belongs to the netns it was
 * created in for its whole life; later sends and receives may run anywhere.
 *
 * @module
 */
import { KernelCallError } from "../system/errno.ts";
import { check, errno, libc, strerror } from "../libc/ffi.ts";
import { inNetns } from "../system/netns.ts";
import {
  attrMap,
  attrString,
  decodeAttrs,
  decodeDone,
  decodeError,
  decodeGenl,
  decodeMessages,
  encodeGenl,
  encodeMessage,
  type GenlPayload,
  NLM_F,
  NLMSG,
  type NlStatus,
  readString,
  readU16,
  readU32,
} from "./codec.ts";

const AF_NETLINK = 16;
const NETLINK_GENERIC = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_RCVTIMEO = 20;
const SOL_NETLINK = 270;
const NETLINK_ADD_MEMBERSHIP = 1;
const NETLINK_CAP_ACK = 10;
const NETLINK_EXT_ACK = 11;
const MSG_TRUNC = 0x20;
const EINTR = 4;

/** nlctrl, the family that names the others (uapi linux/genetlink.h). */
const GENL_ID_CTRL = 0x10;
const CTRL_CMD_GETFAMILY = 3;
const CTRL_ATTR = { FAMILY_ID: 1, FAMILY_NAME: 2, VERSION: 3, MAXATTR: 5, MCAST_GROUPS: 7 };
const CTRL_ATTR_MCAST_GRP = { NAME: 1, ID: 2 };

/** Large enough for any datagram the kernel builds for a dump of this size. */
const RECV_BUFFER_BYTES = 64 * 1024;
/** A kernel that does not answer within this time is treated as a failure, not a hang. */
const RECV_TIMEOUT_SECONDS = 5;

/** A resolved generic netlink family. */
export interface GenlFamily {
  name: string;
  id: number;
  version: number;
  /** 0 for families with per-command policies (mptcp_pm on 6.x reports 0). */
  maxAttr: number;
  /** Multicast group name → group id. */
  groups: Record<string, number>;
}

/** Options for one request. */
export interface GenlRequestOptions {
  /** The genlmsghdr version; defaults to the family's version. */
  version?: number;
  /** Ask for a dump (NLM_F_DUMP) and read until NLMSG_DONE. */
  dump?: boolean;
  /** Name used in errors, e.g. `mptcp_pm ADD_ADDR`. */
  call?: string;
}

function setIntOption(fd: number, level: number, name: number, value: number, call: string) {
  const v = new Uint8Array(new Int32Array([value]).buffer);
  check(call, libc().setsockopt(fd, level, name, v, 4));
}

function kernelError(call: string, status: NlStatus): KernelCallError {
  const text = strerror(status.errno);
  const detail = status.extAckMessage ? `${text}: ${status.extAckMessage}` : text;
  return new KernelCallError(call, status.errno, detail);
}

/**
 * A NETLINK_GENERIC socket. Close it when done (or use `withGenlSocket`).
 *
 * @example Resolving the MPTCP path-manager family inside a netns
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function showFamilyId(): void {
 *   const sock = GenlSocket.open("/run/netns/lab");
 *   try {
 *     console.log(sock.family("mptcp_pm").id);
 *   } finally {
 *     sock.close();
 *   }
 * }
 * ```
 */
export class GenlSocket {
  #fd: number;
  #seq = Math.floor(Math.random() * 0x7fff_ffff);
  readonly #families = new Map<string, GenlFamily>();
  readonly #recvBuffer = new Uint8Array(RECV_BUFFER_BYTES);

  private constructor(fd: number) {
    this.#fd = fd;
  }

  /** Opens a socket in the netns at `netns` (default: the caller's). */
  static open(netns?: string): GenlSocket {
    const fd = inNetns(netns, () =>
      check(
        "socket(AF_NETLINK, NETLINK_GENERIC)",
        libc().socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC),
      ));
    try {
      GenlSocket.#configure(fd);
    } catch (err) {
      libc().close(fd);
      throw err;
    }
    return new GenlSocket(fd);
  }

  static #configure(fd: number): void {
    setIntOption(fd, SOL_NETLINK, NETLINK_EXT_ACK, 1, "setsockopt(NETLINK_EXT_ACK)");
    // Capped ACKs echo only the request header, so ACKs stay small.
    setIntOption(fd, SOL_NETLINK, NETLINK_CAP_ACK, 1, "setsockopt(NETLINK_CAP_ACK)");
    const timeval = new BigInt64Array([BigInt(RECV_TIMEOUT_SECONDS), 0n]);
    const tv = new Uint8Array(timeval.buffer);
    check("setsockopt(SO_RCVTIMEO)", libc().setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, 16));
    // sockaddr_nl { nl_family, nl_pad, nl_pid = 0 (kernel assigns), nl_groups = 0 }
    const addr = new Uint8Array(12);
    new DataView(addr.buffer).setUint16(0, AF_NETLINK, true);
    check("bind(AF_NETLINK)", libc().bind(fd, addr, addr.length));
  }

  /** Closes the socket; safe to call twice. */
  close(): void {
    if (this.#fd >= 0) libc().close(this.#fd);
    this.#fd = -1;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** Resolves a family by name through nlctrl (cached per socket). */
  family(name: string): GenlFamily {
    const known = this.#families.get(name);
    if (known) return known;
    const [reply] = this.request(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, attrString(2, name), {
      version: 1,
      call: `nlctrl GETFAMILY ${name}`,
    });
    if (!reply) throw new KernelCallError(`nlctrl GETFAMILY ${name}`, 2, "no reply from nlctrl");
    const family = parseFamily(reply.attrs);
    this.#families.set(name, family);
    return family;
  }

  /**
   * Sends one generic netlink request and returns the replies. A plain request
   * is sent with NLM_F_ACK and ends at the ACK; a dump ends at NLMSG_DONE.
   * A kernel error throws `KernelCallError` with the extended-ack text.
   */
  request(
    familyId: number,
    cmd: number,
    attrs: Uint8Array,
    options: GenlRequestOptions = {},
  ): GenlPayload[] {
    const call = options.call ?? `genl family ${familyId} cmd ${cmd}`;
    const seq = this.#seq = (this.#seq + 1) >>> 0;
    const flags = NLM_F.REQUEST | (options.dump ? NLM_F.DUMP : NLM_F.ACK);
    const body = encodeGenl(cmd, options.version ?? 1, attrs);
    this.#send(encodeMessage({ type: familyId, flags, seq, pid: 0 }, body), call);
    return this.#collect(seq, call);
  }

  /** Joins a multicast group (e.g. `mptcp_pm_events`) so `receive()` sees its messages. */
  joinGroup(groupId: number): void {
    setIntOption(
      this.#fd,
      SOL_NETLINK,
      NETLINK_ADD_MEMBERSHIP,
      groupId,
      "setsockopt(NETLINK_ADD_MEMBERSHIP)",
    );
  }

  /** Reads one datagram (waiting up to the receive timeout) and returns its genl messages. */
  receive(call = "recv(netlink)"): GenlPayload[] {
    return this.#recv(call)
      .filter((m) => m.type !== NLMSG.ERROR && m.type !== NLMSG.DONE && m.type !== NLMSG.NOOP)
      .map((m) => decodeGenl(m.payload));
  }

  #collect(seq: number, call: string): GenlPayload[] {
    const replies: GenlPayload[] = [];
    for (;;) {
      for (const msg of this.#recv(call)) {
        if (msg.seq !== seq || msg.type === NLMSG.NOOP) continue;
        if (msg.type === NLMSG.ERROR) {
          const status = decodeError(msg);
          if (status.errno) throw kernelError(call, status);
          return replies;
        }
        if (msg.type === NLMSG.DONE) {
          const status = decodeDone(msg);
          if (status.errno) throw kernelError(call, status);
          return replies;
        }
        if (msg.type === NLMSG.OVERRUN) throw new KernelCallError(call, 105, "netlink overrun");
        replies.push(decodeGenl(msg.payload));
      }
    }
  }

  #send(message: Uint8Array<ArrayBuffer>, call: string): void {
    const kernel = new Uint8Array(12);
    new DataView(kernel.buffer).setUint16(0, AF_NETLINK, true);
    const sent = check(
      `sendto(${call})`,
      libc().sendto(this.#fd, message, BigInt(message.length), 0, kernel, kernel.length),
    );
    if (sent !== message.length) {
      throw new KernelCallError(`sendto(${call})`, 5, "short netlink send");
    }
  }

  #recv(call: string) {
    for (;;) {
      const n = Number(
        libc().recvfrom(
          this.#fd,
          this.#recvBuffer,
          BigInt(this.#recvBuffer.length),
          MSG_TRUNC,
          null,
          null,
        ),
      );
      if (n < 0 && errno() === EINTR) continue;
      check(`recv(${call})`, n);
      if (n > this.#recvBuffer.length) {
        throw new KernelCallError(`recv(${call})`, 90, `netlink datagram of ${n} bytes truncated`);
      }
      // Copy: the buffer is reused by the next receive.
      return decodeMessages(this.#recvBuffer.slice(0, n));
    }
  }
}

function parseGroups(nested: Uint8Array | undefined): Record<string, number> {
  const groups: Record<string, number> = {};
  for (const entry of nested ? decodeAttrs(nested) : []) {
    const fields = attrMap(entry.value);
    const name = fields.get(CTRL_ATTR_MCAST_GRP.NAME);
    const id = fields.get(CTRL_ATTR_MCAST_GRP.ID);
    if (name && id) groups[readString(name)] = readU32(id);
  }
  return groups;
}

function parseFamily(attrs: Uint8Array): GenlFamily {
  const byType = attrMap(attrs);
  const get = (type: number, what: string) => {
    const value = byType.get(type);
    if (!value) throw new KernelCallError("nlctrl GETFAMILY", 71, `reply lacks ${what}`);
    return value;
  };
  return {
    name: readString(get(CTRL_ATTR.FAMILY_NAME, "CTRL_ATTR_FAMILY_NAME")),
    id: readU16(get(CTRL_ATTR.FAMILY_ID, "CTRL_ATTR_FAMILY_ID")),
    version: readU32(get(CTRL_ATTR.VERSION, "CTRL_ATTR_VERSION")),
    maxAttr: byType.has(CTRL_ATTR.MAXATTR) ? readU32(byType.get(CTRL_ATTR.MAXATTR)!) : 0,
    groups: parseGroups(byType.get(CTRL_ATTR.MCAST_GROUPS)),
  };
}

/**
 * Opens a socket in `netns`, runs `fn`, and always closes the socket.
 *
 * @example Listing the mptcp_pm multicast groups
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function mptcpGroups(): void {
 *   const groups = withGenlSocket(undefined, (sock) => sock.family("mptcp_pm").groups);
 * }
 * ```
 */
export function withGenlSocket<T>(netns: string | undefined, fn: (sock: GenlSocket) => T): T {
  const sock = GenlSocket.open(netns);
  try {
    return fn(sock);
  } finally {
    sock.close();
  }
}
