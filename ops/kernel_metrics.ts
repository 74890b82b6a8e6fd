/**
 * Counters read from the kernel for every resource under a state root: what
 * `show` prints, as metric samples. Reads only; takes no lock (as `plan`).
 *
 * @module
 */
import type { DriverContext, Observed, Reporter } from "../engine/types.ts";
import type { StateStore } from "../engine/store.ts";
import { TOOL_VERSION } from "../engine/version.ts";
import { recordedLabels, type SlrMetaExtra } from "../resources/socket_lookup_redirect/ids.ts";
import type { SlrState } from "../resources/socket_lookup_redirect/diff.ts";
import type { Sample } from "./prom_text.ts";

/** Samples per metric family name (without the `sockform_` prefix). */
export type KernelSamples = Record<string, Sample[]>;

const quiet: Reporter = { progress() {}, warn() {} };

function stackNames(root: string): string[] {
  try {
    return [...Deno.readDirSync(root)].filter((e) => e.isDirectory).map((e) => e.name).sort();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}

function push(out: KernelSamples, name: string, labels: Record<string, string>, value: number) {
  (out[name] ??= []).push({ labels, value });
}

type Counts = Record<string, Record<string, number>>;

function slrSamples(out: KernelSamples, base: Record<string, string>, obs: Observed, d: unknown) {
  const observed = obs as Observed<SlrState, SlrMetaExtra>;
  const counters = (d as { counters?: Counts }).counters ?? {};
  const labels = recordedLabels(observed);
  const withSocket = new Set(
    Object.keys(observed.state.destinations).map((id) => labels[id]).filter(Boolean),
  );
  for (const [destination, c] of Object.entries(counters)) {
    const l = { ...base, destination };
    push(out, "slr_lookups_total", l, c.lookups ?? 0);
    push(out, "slr_redirects_total", l, c.redirected ?? 0);
    push(out, "slr_no_socket_total", l, c.noSocket ?? 0);
    push(out, "slr_refused_total", l, c.refused ?? 0);
    push(out, "slr_destination_has_socket", l, withSocket.has(destination) ? 1 : 0);
  }
}

function tcpTuningSamples(out: KernelSamples, base: Record<string, string>, d: unknown) {
  const rules = (d as { rules?: Array<Record<string, number | string>> }).rules ?? [];
  for (const r of rules) {
    const l = { ...base, rule: String(r.index) };
    push(out, "tcp_tuning_rule_matched_total", l, Number(r.matched ?? 0));
    push(out, "tcp_tuning_rule_applied_total", l, Number(r.applied ?? 0));
    push(out, "tcp_tuning_rule_sampled_out_total", l, Number(r.sampledOut ?? 0));
    push(out, "tcp_tuning_rule_errors_total", l, Number(r.errors ?? 0));
  }
}

interface PmAgentDetails {
  agent?: { pid: number; health: string; counters: Record<string, number> | null } | null;
}

function pmSamples(out: KernelSamples, base: Record<string, string>, d: unknown) {
  const agent = (d as PmAgentDetails | null)?.agent;
  if (!agent) return;
  push(out, "pm_agent_up", base, agent.health === "running" ? 1 : 0);
  if (!agent.counters) return;
  push(out, "pm_agent_events_total", base, agent.counters.events ?? 0);
  push(out, "pm_agent_overflows_total", base, agent.counters.overflows ?? 0);
  push(out, "pm_agent_resyncs_total", base, agent.counters.resyncs ?? 0);
  push(out, "pm_agent_handler_errors_total", base, agent.counters.handlerErrors ?? 0);
}

interface ChainFlowDetails {
  local: string;
  localPort: number;
  remote: string;
  remotePort: number;
  token: string | null;
  sent: { packets: number; bytes: number };
  received: { packets: number; bytes: number };
  rttUs: number | null;
}

interface ChainRuleDetails {
  index: number;
  packets?: number;
  bytes?: number;
  flows?: ChainFlowDetails[];
}

/** PolicyChain `record` rules: per-rule counters and, per recorded subflow, bytes, packets, RTT. */
function policyChainSamples(out: KernelSamples, base: Record<string, string>, d: unknown) {
  const rules = (d as { rules?: ChainRuleDetails[] }).rules ?? [];
  for (const r of rules.filter((r) => r.packets !== undefined)) {
    const l = { ...base, rule: String(r.index) };
    push(out, "policy_chain_rule_packets_total", l, r.packets ?? 0);
    push(out, "policy_chain_rule_bytes_total", l, r.bytes ?? 0);
    for (const f of r.flows ?? []) {
      const flow = {
        ...l,
        local: `${f.local}:${f.localPort}`,
        remote: `${f.remote}:${f.remotePort}`,
        token: f.token ?? "",
      };
      for (const direction of ["sent", "received"] as const) {
        push(out, "policy_chain_flow_bytes_total", { ...flow, direction }, f[direction].bytes);
        push(out, "policy_chain_flow_packets_total", { ...flow, direction }, f[direction].packets);
      }
      if (f.rttUs !== null) push(out, "policy_chain_flow_rtt_seconds", flow, f.rttUs / 1e6);
    }
  }
}

async function resourceSamples(
  out: KernelSamples,
  store: StateStore,
  ctx: DriverContext,
  found: { name: string; dir: string; kind: string },
) {
  const driver = store.driver(found.kind);
  const ref = { kind: found.kind, name: found.name, dir: found.dir };
  const observed = await driver.observe(ctx, ref);
  const details = observed && driver.describe ? await driver.describe(ctx, ref, observed) : null;
  const base = { stack: ctx.stackName, resource: `${found.kind}.${found.name}` };
  push(out, "resource_deployed", { ...base, kind: found.kind }, observed?.meta ? 1 : 0);
  if (!observed || !details) return;
  if (found.kind === "SocketLookupRedirect") slrSamples(out, base, observed, details);
  if (found.kind === "TcpTuning") tcpTuningSamples(out, base, details);
  if (found.kind === "PathManager") pmSamples(out, base, details);
  if (found.kind === "PolicyChain") policyChainSamples(out, base, details);
}

/**
 * Reads every stack's resources under the store's root and returns their
 * counters as samples. A resource that cannot be read counts in
 * `scrape_errors` (by resource) instead of failing the whole scrape.
 *
 * @example Counters of every stack under a root
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import { kernelStore } from "../providers/state/kernel_store.ts";
 *
 * async function lookups() {
 *   const samples = await kernelSamples(kernelStore("/sys/fs/bpf/sockform"));
 *   return samples.slr_lookups_total; // [{ labels: { stack, resource, destination }, value }]
 * }
 * ```
 */
export async function kernelSamples(store: StateStore): Promise<KernelSamples> {
  const out: KernelSamples = {};
  for (const stackName of stackNames(store.root)) {
    const stackDir = store.openStack(stackName, false);
    const ctx = { stackName, stackDir, toolVersion: TOOL_VERSION, reporter: quiet };
    for (const found of store.list(stackDir)) {
      const kind = found.meta?.kind;
      if (!kind) continue;
      try {
        await resourceSamples(out, store, ctx, { ...found, kind });
      } catch {
        push(out, "scrape_errors", { stack: stackName, resource: `${kind}.${found.name}` }, 1);
      }
    }
  }
  return out;
}
