/**
 * Every resource kind sockform knows: one line per kind, pairing its
 * resource class with its kernel driver.
 *
 * @module
 */
import { defineKind, type Kind } from "../engine/kind.ts";
import type { KindDriver } from "../engine/types.ts";
import { SocketLookupRedirect } from "../resources/socket_lookup_redirect.ts";
import { TcpTuning } from "../resources/tcp_tuning.ts";
import { MptcpifyHook } from "../resources/mptcpify_hook.ts";
import { PathManager } from "../resources/path_manager.ts";
import { CongestionControl } from "../resources/congestion_control.ts";
import { PolicyChain } from "../resources/policy_chain.ts";
import { Scheduler } from "../resources/scheduler.ts";
import { socketLookupRedirectDriver } from "./socket_lookup_redirect/driver.ts";
import { tcpTuningDriver } from "./tcp_tuning/driver.ts";
import { mptcpifyHookDriver } from "./mptcpify_hook/driver.ts";
import { pathManagerDriver } from "./path_manager/driver.ts";
import { congestionControlDriver } from "./congestion_control/driver.ts";
import { policyChainDriver } from "./policy_chain/driver.ts";
import { schedulerDriver } from "./scheduler/driver.ts";

/** The kinds, in the order they were added. */
export const KINDS: readonly Kind[] = [
  defineKind(SocketLookupRedirect, socketLookupRedirectDriver),
  defineKind(TcpTuning, tcpTuningDriver),
  defineKind(MptcpifyHook, mptcpifyHookDriver),
  defineKind(PathManager, pathManagerDriver),
  defineKind(CongestionControl, congestionControlDriver),
  defineKind(PolicyChain, policyChainDriver),
  defineKind(Scheduler, schedulerDriver),
];

/**
 * The kernel driver for `kind`, or undefined.
 *
 * @example
 * ```ts
 * import { tcpTuningDriver } from "./tcp_tuning/driver.ts";
 *
 * kernelDriver("TcpTuning") === tcpTuningDriver; // true
 * ```
 */
export function kernelDriver(kind: string): KindDriver | undefined {
  return KINDS.find((k) => k.name === kind)?.driver;
}
