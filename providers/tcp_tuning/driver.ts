/**
 * The kernel driver for TcpTuning: resolve the cgroup and the machine facts,
 * read pins back, create/update/delete, and per-rule counters for `show`.
 *
 * @module
 */
import type { DriverContext, KindDriver, Observed, ResourceRef } from "../../engine/types.ts";
import {
  type TcpRule,
  TcpTuning,
  type TcpTuningDesired,
  type TcpTuningMetaExtra,
  type TcpTuningState,
  upgradeTcpTuningExtra,
} from "../../resources/tcp_tuning.ts";
import { PlanError } from "../../engine/errors.ts";
import { CongestionControl } from "../../resources/congestion_control.ts";
import { congestionObject } from "../congestion_control/object.ts";
import { hashJson } from "../../engine/hash.ts";
import * as gen from "../../bpf/gen/sock_ops.ts";
import { requireFeature } from "../system/features.ts";
import { cgroupV2Id } from "../system/cgroup.ts";
import { PIN, readCounters, readState } from "./kernel.ts";
import { foreignOnCgroup } from "../libbpf/attachments.ts";
import { createTcpTuning, updateTcpTuning } from "./ops.ts";
import { pinDirKind } from "../bpf_kind/pin_dir_kind.ts";
import {
  availableCongestionControls,
  kernelHz,
  socketBufferCaps,
  TCP_TUNING_KERNEL,
} from "./system.ts";

/** TCP_TIMEOUT_MIN: the kernel refuses TCP_BPF_RTO_MIN / DELACK_MAX below 2 jiffies. */
const MIN_TIMER_JIFFIES = 2;

/** The names the stack's CongestionControls register (read from their objects). */
function declaredCongestion(ctx: DriverContext): string[] {
  return (ctx.resources ?? []).filter((r) => r instanceof CongestionControl).flatMap((r) => {
    try {
      return [congestionObject(r.name, r.spec).ccName];
    } catch {
      return []; // its own plan reports why
    }
  });
}

function checkCongestion(ctx: DriverContext, name: string, rules: TcpRule[]): void {
  const known = [...availableCongestionControls(), ...declaredCongestion(ctx)];
  rules.forEach((rule, i) => {
    const cc = rule.set.congestion;
    if (cc === undefined || known.includes(cc)) return;
    throw new PlanError(
      name,
      `rules[${i}].set.congestion`,
      `congestion ${cc} is neither available in the kernel nor declared by a CongestionControl ` +
        `in this stack (net.ipv4.tcp_available_congestion_control: ${
          availableCongestionControls().join(" ")
        }); a kernel module loads with modprobe tcp_${cc}`,
    );
  });
}

function checkTimers(name: string, rules: TcpRule[], hz: number): void {
  const minMs = Math.ceil((MIN_TIMER_JIFFIES * 1000) / hz);
  rules.forEach((rule, i) => {
    for (const field of ["rtoMinMs", "delackMaxMs"] as const) {
      const ms = rule.set[field];
      if (ms === undefined || Math.ceil((ms * hz) / 1000) >= MIN_TIMER_JIFFIES) continue;
      throw new PlanError(
        name,
        `rules[${i}].set.${field}`,
        `${ms} ms is under the kernel's minimum of 2 jiffies (${minMs} ms at HZ=${hz})`,
      );
    }
  });
}

function warnBufferCaps(ctx: DriverContext, name: string, rules: TcpRule[]): void {
  const { wmemMax, rmemMax } = socketBufferCaps();
  rules.forEach((rule, i) => {
    const { sndBuf, rcvBuf } = rule.set;
    if (sndBuf !== undefined && sndBuf > wmemMax) {
      ctx.reporter.warn(
        `${name}.rules[${i}].set.sndBuf: the kernel caps ${sndBuf} at net.core.wmem_max (${wmemMax})`,
      );
    }
    if (rcvBuf !== undefined && rcvBuf > rmemMax) {
      ctx.reporter.warn(
        `${name}.rules[${i}].set.rcvBuf: the kernel caps ${rcvBuf} at net.core.rmem_max (${rmemMax})`,
      );
    }
  });
}

async function resolve(ctx: DriverContext, resource: TcpTuning): Promise<TcpTuningDesired> {
  const { name, spec } = resource;
  requireFeature(TCP_TUNING_KERNEL, name, TcpTuning.kind);
  const cgroupId = cgroupV2Id(name, "cgroup", spec.cgroup, "sock_ops attaches only to cgroup v2");
  checkCongestion(ctx, name, spec.rules);
  const hz = await kernelHz(name);
  checkTimers(name, spec.rules, hz);
  warnBufferCaps(ctx, name, spec.rules);
  return {
    cgroup: spec.cgroup,
    cgroupId,
    objectHash: gen.objectHash,
    hz,
    rules: spec.rules,
    specHash: hashJson(spec),
  };
}

/**
 * A one-line summary of a rule for `show`.
 *
 * @example Summarising a subflow rule
 * ```ts
 * describeRule({ match: { subflow: true }, set: { mark: 2 }, sample: 1 }); // "subflows → mark=2"
 * ```
 */
export function describeRule(rule: TcpRule): string {
  const m = rule.match;
  const parts = [
    m.direction,
    m.local && `local ${m.local}`,
    m.remote && `remote ${m.remote}`,
    m.localPorts && `lport ${m.localPorts.join(",")}`,
    m.remotePorts && `rport ${m.remotePorts.join(",")}`,
    m.subflow !== undefined && (m.subflow ? "subflows" : "plain TCP"),
  ].filter(Boolean);
  const set = Object.entries(rule.set).map(([k, v]) => `${k}=${v}`).join(" ");
  const sample = rule.sample < 1 ? ` (sample ${rule.sample})` : "";
  return `${parts.length ? parts.join(" ") : "any"} → ${set}${sample}`;
}

function describe(
  _ctx: DriverContext,
  ref: ResourceRef,
  observed: Observed<TcpTuningState, TcpTuningMetaExtra>,
) {
  const rules = observed.state?.ruleset?.rules ?? [];
  const counters = readCounters(ref.dir, rules.length);
  return Promise.resolve({
    cgroup: observed.meta?.extra.cgroup ?? null,
    link: observed.state?.link ?? null,
    rules: rules.map((rule, i) => ({ index: i, rule: describeRule(rule), ...counters[i] })),
  });
}

/**
 * The TcpTuning kernel driver.
 *
 * @example Looking it up the way the state store does
 * ```ts
 * import { kernelDriver } from "../kinds.ts";
 * kernelDriver("TcpTuning") === tcpTuningDriver; // true
 * ```
 */
export const tcpTuningDriver: KindDriver<
  TcpTuning,
  TcpTuningDesired,
  TcpTuningState,
  TcpTuningMetaExtra
> = {
  kind: TcpTuning.kind,
  resolve,
  ...pinDirKind({
    readState,
    upgrade: upgradeTcpTuningExtra,
    pins: [PIN.link, PIN.prog, PIN.ruleset, PIN.counters],
  }),
  create: createTcpTuning,
  update: updateTcpTuning,
  describe,
  foreign: (ctx, ref, desired) => Promise.resolve(foreignOnCgroup(ctx, ref, desired.cgroup)),
};
