/**
 * The metrics text the agent serves on /metrics and `sockform metrics`
 * prints once: the reconcile agent's status (from its status file) plus the
 * counters every resource under the state root holds in the kernel.
 *
 * @module
 */
import type { StateStore } from "../engine/store.ts";
import { TOOL_VERSION } from "../engine/version.ts";
import { kernelSamples } from "./kernel_metrics.ts";
import { type Family, renderFamilies, type Sample } from "./prom_text.ts";
import { type ReconcileStatus, RESOURCE_STATUSES } from "./reconcile_status.ts";

type Def = [name: string, type: Family["type"], help: string];

/** Kernel-side families, in output order (names without the `sockform_` prefix). */
const KERNEL_DEFS: readonly Def[] = [
  ["resource_deployed", "gauge", "1 when the resource's state directory has readable metadata."],
  ["slr_lookups_total", "counter", "SocketLookupRedirect lookups that matched a binding."],
  ["slr_redirects_total", "counter", "Lookups assigned to the destination's socket."],
  ["slr_no_socket_total", "counter", "Lookups whose destination had no socket."],
  ["slr_refused_total", "counter", "Connections refused because the destination had no socket."],
  ["slr_destination_has_socket", "gauge", "1 when the destination's socket is in the map."],
  ["tcp_tuning_rule_matched_total", "counter", "Connections a TcpTuning rule matched."],
  ["tcp_tuning_rule_applied_total", "counter", "Connections a TcpTuning rule was applied to."],
  ["tcp_tuning_rule_sampled_out_total", "counter", "Matches skipped by the rule's sample."],
  ["tcp_tuning_rule_errors_total", "counter", "setsockopt errors while applying the rule."],
  ["pm_agent_up", "gauge", "1 when the PathManager's policy agent is running and healthy."],
  ["pm_agent_events_total", "counter", "MPTCP path-manager events the agent received."],
  ["pm_agent_overflows_total", "counter", "Event socket overflows (ENOBUFS) the agent saw."],
  ["pm_agent_resyncs_total", "counter", "Resyncs from the kernel's dumps the agent made."],
  ["pm_agent_handler_errors_total", "counter", "Events the agent's policy handler threw on."],
  ["policy_chain_rule_packets_total", "counter", "Packets a PolicyChain record rule matched."],
  ["policy_chain_rule_bytes_total", "counter", "Bytes of the packets a record rule matched."],
  ["policy_chain_flow_bytes_total", "counter", "TCP payload bytes of one recorded subflow."],
  ["policy_chain_flow_packets_total", "counter", "Packets of one recorded subflow."],
  ["policy_chain_flow_rtt_seconds", "gauge", "The recorded subflow's last smoothed RTT."],
  ["scrape_errors", "gauge", "1 for a resource whose kernel state could not be read."],
];

function family(def: Def, samples: Sample[]): Family {
  return { name: `sockform_${def[0]}`, type: def[1], help: def[2], samples };
}

function one(value: number | null, labels: Record<string, string> = {}): Sample[] {
  return value === null ? [] : [{ labels, value }];
}

function seconds(iso: string | null): number | null {
  return iso === null ? null : Date.parse(iso) / 1000;
}

function resourceSamples(s: ReconcileStatus): Sample[] {
  const stack = s.stack ?? "";
  return Object.entries(s.resources).flatMap(([resource, current]) =>
    RESOURCE_STATUSES.map((status) => ({
      labels: { stack, resource, status },
      value: status === current ? 1 : 0,
    }))
  );
}

type StatusDef = [...Def, (s: ReconcileStatus) => Sample[]];

function okValue(s: ReconcileStatus): number | null {
  return s.lastResult === null ? null : s.lastResult === "error" ? 0 : 1;
}

/** The agent's own families, from its status (names without the `sockform_` prefix). */
const STATUS_DEFS: readonly StatusDef[] = [
  [
    "reconcile_info",
    "gauge",
    "The agent's source, commit and mode (value 1).",
    (s) =>
      one(1, { source: s.source, commit: s.commit ?? "", mode: s.mode, version: TOOL_VERSION }),
  ],
  ["reconcile_loops_total", "counter", "Reconcile loops run.", (s) => one(s.loops)],
  [
    "reconcile_applies_total",
    "counter",
    "Loops that applied changes.",
    (s) => one(s.totals.applies),
  ],
  ["reconcile_errors_total", "counter", "Loops that failed.", (s) => one(s.totals.errors)],
  [
    "reconcile_locked_total",
    "counter",
    "Loops skipped: the state lock was held.",
    (s) => one(s.totals.locked),
  ],
  [
    "reconcile_drift_found_total",
    "counter",
    "Drifted resources seen, counted per loop.",
    (s) => one(s.totals.driftFound),
  ],
  [
    "reconcile_drift_repaired_total",
    "counter",
    "Drifted resources repaired.",
    (s) => one(s.totals.driftRepaired),
  ],
  [
    "reconcile_last_loop_ok",
    "gauge",
    "1 when the last loop ended without error.",
    (s) => one(okValue(s)),
  ],
  [
    "reconcile_awaiting_approval",
    "gauge",
    "Steps held back by --require-hitless.",
    (s) => one(s.awaitingApproval.length),
  ],
  [
    "reconcile_last_success_timestamp_seconds",
    "gauge",
    "Unix time of the last good loop.",
    (s) => one(seconds(s.lastSuccessAt)),
  ],
  [
    "reconcile_last_loop_timestamp_seconds",
    "gauge",
    "Unix time of the last loop.",
    (s) => one(seconds(s.lastLoopAt)),
  ],
  [
    "plan_duration_seconds",
    "gauge",
    "How long the last plan took.",
    (s) => one(s.durations.planSeconds),
  ],
  [
    "apply_duration_seconds",
    "gauge",
    "How long the last apply took.",
    (s) => one(s.durations.applySeconds),
  ],
  [
    "resource_status",
    "gauge",
    "Each resource's status in the last plan (1: current).",
    (s) => resourceSamples(s),
  ],
];

/**
 * The full metrics text: the agent's status (when there is one) and the
 * kernel's counters for every resource under the store's root.
 *
 * @example Print what /metrics serves
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import { kernelStore } from "../providers/state/kernel_store.ts";
 * import { readStatus } from "./reconcile_status.ts";
 *
 * async function printMetrics(root: string, statusFile: string): Promise<void> {
 *   console.log(await metricsText(kernelStore(root), readStatus(statusFile)));
 * }
 * ```
 */
export async function metricsText(store: StateStore, status?: ReconcileStatus): Promise<string> {
  const kernel = await kernelSamples(store);
  const families = [
    ...(status ? STATUS_DEFS.map(([n, t, h, get]) => family([n, t, h], get(status))) : []),
    ...KERNEL_DEFS.map((def) => family(def, kernel[def[0]] ?? [])),
  ];
  return renderFamilies(families);
}
