/**
 * The userspace path manager's commands (uapi linux/mptcp_pm.h): ANNOUNCE,
 * REMOVE, SUBFLOW_CREATE, SUBFLOW_DESTROY and SET_FLAGS, each addressed to a
 * connection by its token. A small typed sender over the shared
 * {@linkcode GenlSocket}; a kernel refusal throws a `BpfError` whose call
 * names the command and the token (`mptcp_pm SUBFLOW_CREATE token 1a2b3c4d:
 * EINVAL (...)`), with the kernel's extended-ack text.
 *
 * ## Why a blocking receive is fine in the agent loop
 * `GenlSocket.request` sends and then reads the ACK with a blocking `recv`
 * (5 s `SO_RCVTIMEO`). Generic netlink runs a command's `doit` synchronously
 * inside the sender's `sendmsg`, so by the time `send` returns the ACK (or
 * the error) is already queued on the socket: the `recv` never waits on the
 * network or on a peer. SUBFLOW_CREATE only starts the join (the SYN goes
 * out; the result arrives later as SUB_ESTABLISHED or SUB_CLOSED), so no
 * command holds the JS thread for a round trip. The timeout only bounds a
 * kernel bug. Running it on the JS thread also keeps the socket in the
 * agent's netns and errno readable, as the event socket does.
 *
 * @module
 */
import { attr, attrNested, attrU16, attrU32, attrU8, concatBytes } from "../netlink/codec.ts";
import { GenlSocket } from "../netlink/genl.ts";
import { MPTCP_PM_FAMILY } from "../netlink/mptcp_pm_codec.ts";
import { addressBytes, AF, inetFamily } from "../../resources/common/inet.ts";
import { tokenHex } from "./events.ts";

/** `MPTCP_PM_CMD_*` of the userspace path manager. */
export const PM_COMMAND = {
  SET_FLAGS: 7,
  ANNOUNCE: 8,
  REMOVE: 9,
  SUBFLOW_CREATE: 10,
  SUBFLOW_DESTROY: 11,
} as const;

/** A userspace-PM command name. */
export type PmCommandName = keyof typeof PM_COMMAND;

const ATTR = { ADDR: 1, TOKEN: 4, LOC_ID: 5, ADDR_REMOTE: 6 } as const;
const ADDR_ATTR = { FAMILY: 1, ID: 2, ADDR4: 3, ADDR6: 4, PORT: 5, FLAGS: 6 } as const;
const FLAG_SIGNAL = 1;
const FLAG_BACKUP = 4;

/** An address in a command: the IP, and where the command needs them, its id, port and flags. */
export interface PmAddress {
  address: string;
  id?: number;
  port?: number;
  /** `MPTCP_PM_ADDR_FLAG_*` bits. */
  flags?: number;
}

/**
 * Encodes one nested address attribute (MPTCP_PM_ATTR_ADDR or _ADDR_REMOTE).
 *
 * @example
 * ```ts
 * const local = encodePmAddress(1, { address: "10.1.3.1", id: 2 });
 * ```
 */
export function encodePmAddress(type: number, a: PmAddress): Uint8Array {
  const family = inetFamily(a.address);
  if (!family) throw new RangeError(`not an IP address: ${a.address}`);
  const parts = [
    attrU16(ADDR_ATTR.FAMILY, AF[family]),
    attr(family === "ipv4" ? ADDR_ATTR.ADDR4 : ADDR_ATTR.ADDR6, addressBytes(a.address, family)),
  ];
  if (a.id !== undefined) parts.push(attrU8(ADDR_ATTR.ID, a.id));
  if (a.port !== undefined) parts.push(attrU16(ADDR_ATTR.PORT, a.port));
  if (a.flags !== undefined) parts.push(attrU32(ADDR_ATTR.FLAGS, a.flags));
  return attrNested(type, parts);
}

/**
 * The userspace-PM command sender of one netns. Close it when done.
 *
 * @example Opening a second subflow of a connection
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function secondSubflow(token: number): void {
 *   using pm = PmCommands.open("/run/netns/client");
 *   pm.subflowCreate(token, { address: "10.1.3.1", id: 2 }, { address: "10.1.2.2", port: 443 });
 * }
 * ```
 */
export class PmCommands {
  readonly #sock: GenlSocket;
  readonly #familyId: number;

  private constructor(sock: GenlSocket) {
    this.#sock = sock;
    this.#familyId = sock.family(MPTCP_PM_FAMILY).id;
  }

  /** Opens a genl socket in `netns` and resolves the `mptcp_pm` family. */
  static open(netns?: string): PmCommands {
    const sock = GenlSocket.open(netns);
    try {
      return new PmCommands(sock);
    } catch (err) {
      sock.close();
      throw err;
    }
  }

  #send(name: PmCommandName, token: number, parts: Uint8Array[]): void {
    const attrs = concatBytes([attrU32(ATTR.TOKEN, token), ...parts]);
    const call = `mptcp_pm ${name} token ${tokenHex(token)}`;
    this.#sock.request(this.#familyId, PM_COMMAND[name], attrs, { call });
  }

  /** Opens a subflow from `local` (address + id) to `remote` (address + port). */
  subflowCreate(token: number, local: PmAddress, remote: PmAddress): void {
    this.#send("SUBFLOW_CREATE", token, [
      encodePmAddress(ATTR.ADDR, local),
      encodePmAddress(ATTR.ADDR_REMOTE, remote),
    ]);
  }

  /** Closes the subflow with these ends (addresses and ports). */
  subflowDestroy(token: number, local: PmAddress, remote: PmAddress): void {
    this.#send("SUBFLOW_DESTROY", token, [
      encodePmAddress(ATTR.ADDR, local),
      encodePmAddress(ATTR.ADDR_REMOTE, remote),
    ]);
  }

  /** Announces a local address (with its id) to the peer; the kernel needs the signal flag. */
  announce(token: number, local: PmAddress): void {
    const flags = (local.flags ?? 0) | FLAG_SIGNAL;
    this.#send("ANNOUNCE", token, [encodePmAddress(ATTR.ADDR, { ...local, flags })]);
  }

  /** Withdraws the address announced with `id`. */
  remove(token: number, id: number): void {
    this.#send("REMOVE", token, [attrU8(ATTR.LOC_ID, id)]);
  }

  /** Sets or clears the backup flag of the subflow from `local` to `remote`. */
  setBackup(token: number, local: PmAddress, remote: PmAddress, backup: boolean): void {
    const flags = backup ? FLAG_BACKUP : 0;
    this.#send("SET_FLAGS", token, [
      encodePmAddress(ATTR.ADDR, { ...local, flags }),
      encodePmAddress(ATTR.ADDR_REMOTE, remote),
    ]);
  }

  /** Closes the socket; safe to call twice. */
  close(): void {
    this.#sock.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
