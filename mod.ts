/**
 * sockform: declarative eBPF for the Linux transport layer.
 *
 * Declare resources in a stack, then plan and apply them against the live
 * kernel, from the CLI (`deno run -A main.ts plan`) or from your own script.
 *
 * @example Applying a stack from a script
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import { applyStack, kernelStore, SocketLookupRedirect, Stack } from "./mod.ts";
 *
 * async function deploy(): Promise<void> {
 *   const stack = new Stack("edge", [
 *     new SocketLookupRedirect("web", {
 *       bindings: [{ protocol: "tcp", prefix: "127.1.0.0/16", ports: "all", to: "proxy" }],
 *       destinations: { proxy: { listener: "tcp://127.0.0.1:9000" } },
 *     }),
 *   ]);
 *   await applyStack(stack, kernelStore());
 * }
 * ```
 *
 * @module
 */
export { defineStack, Stack } from "./engine/stack.ts";
export { SocketLookupRedirect } from "./resources/socket_lookup_redirect.ts";
export { PathManager } from "./resources/path_manager.ts";
export { Scheduler } from "./resources/scheduler.ts";
export { MptcpifyHook } from "./resources/mptcpify_hook.ts";
export { TcpTuning } from "./resources/tcp_tuning.ts";
export { CongestionControl } from "./resources/congestion_control.ts";
export type {
  CongestionControlDesired,
  CongestionControlMetaExtra,
  CongestionControlSpec,
  CongestionControlSpecInput,
  CongestionControlState,
} from "./resources/congestion_control.ts";
export { PolicyChain } from "./resources/policy_chain.ts";
export { plan } from "./engine/plan.ts";
export { applyStack, destroyStack, showStack } from "./engine/session.ts";
export { kernelStore } from "./providers/state/kernel_store.ts";
export { renderPlan } from "./engine/render_human.ts";
export { planJson } from "./engine/render_json.ts";
export { PlanError, SpecError, StepError, UserError } from "./engine/errors.ts";
export { type Problem, StackProblems } from "./engine/diagnostics.ts";
export type {
  Action,
  Change,
  ForeignProgram,
  KindMeta,
  Observed,
  Reporter,
  Resource,
  ResourceMeta,
  StackRule,
  StackRuleProblem,
} from "./engine/types.ts";
export type { Plan, PlanOptions, Step } from "./engine/plan.ts";
export type { SlrMetaExtra } from "./resources/socket_lookup_redirect/ids.ts";
export type { LimitKey, PmMemory, PmOriginal } from "./resources/path_manager/types.ts";
export type { MptcpifyMetaExtra } from "./resources/mptcpify_hook/desired.ts";
export type { TcpTuningMetaExtra } from "./resources/tcp_tuning/diff.ts";
export type { CorruptResource } from "./engine/corrupt.ts";
export type { SavedPlan } from "./engine/saved_plan.ts";
export type { StateStore, StoredResource } from "./engine/store.ts";
export type { ApplyOutcome, SessionOptions, ShownResource } from "./engine/session.ts";
export type { RenderOptions } from "./engine/render_human.ts";
export type { PlanJson, ResourceChangeJson, ResourceDriftJson } from "./engine/render_json.ts";
export type { ResourceAddressJson } from "./engine/render_json_values.ts";
export type {
  ConfigurationJson,
  ConfigurationResourceJson,
  PriorStateJson,
  ValuesJson,
  ValuesResourceJson,
} from "./engine/render_json_values.ts";
export type {
  Binding,
  Destination,
  ListenerDestination,
  ProcessDestination,
  SlrDesired,
  SlrState,
  SocketLookupRedirectSpec,
  SocketLookupRedirectSpecInput,
} from "./resources/socket_lookup_redirect.ts";
export type { Entry } from "./resources/socket_lookup_redirect/entries.ts";
export type {
  EndpointInput,
  EndpointSpec,
  FromInterfacesInput,
  FromInterfacesSpec,
  PmSysctlsSpec,
} from "./resources/path_manager/spec.ts";
export type { DeclaredFlag } from "./resources/path_manager/schema.ts";
export type {
  FailoverSpec,
  FailoverSpecInput,
  PathMatch,
  SchedulerChoice,
  SchedulerObjectSpec,
  SchedulerPathSpec,
  SchedulerSpec,
  SchedulerSpecInput,
} from "./resources/scheduler/spec.ts";
export type {
  BpfSchedulerDesired,
  BpfSource,
  EndpointRole,
  RoleMode,
  SchedDesired,
  SchedEndpoint,
  SchedLink,
  SchedMemory,
  SchedResolved,
  SchedState,
} from "./resources/scheduler/types.ts";
export type {
  PathManagerSpec,
  PathManagerSpecInput,
  PmDesired,
  PmEndpoint,
  PmResolved,
  PmState,
} from "./resources/path_manager.ts";
export type {
  DesiredEndpoint,
  PmAgentDesired,
  PmAgentState,
  PmLimits,
} from "./resources/path_manager/types.ts";
export type {
  PortEntry,
  TcpMatch,
  TcpMatchInput,
  TcpRule,
  TcpRuleInput,
  TcpSet,
  TcpSetInput,
  TcpTuningDesired,
  TcpTuningPins,
  TcpTuningSpec,
  TcpTuningSpecInput,
  TcpTuningState,
} from "./resources/tcp_tuning.ts";
export type {
  Actions,
  ActorInput,
  ChainSelectorInput,
  Clause,
  ClauseInput,
  DesiredLink,
  Hook,
  KernelClause,
  KernelRule,
  MptcpOption,
  ObservedLink,
  PolicyChainDesired,
  PolicyChainMetaExtra,
  PolicyChainSpec,
  PolicyChainSpecInput,
  PolicyChainState,
  PolicyRule,
  PortSelector,
} from "./resources/policy_chain.ts";
export type {
  MptcpifyConfig,
  MptcpifyDesired,
  MptcpifyEntries,
  MptcpifyHookSpec,
  MptcpifyHookSpecInput,
  MptcpifyState,
  Selector,
  SelectorInput,
} from "./resources/mptcpify_hook.ts";
export {
  announceSignalLocals,
  type ConnectionView,
  type CreatePolicy,
  type Endpoint,
  localFor,
  type Policy,
  type PolicyAction,
  type PolicyEvent,
  type PolicyInit,
  type RemoteAddress,
  type SubflowView,
} from "./providers/mptcp_agent/policy.ts";
export { fullmesh, ndiffports } from "./providers/mptcp_agent/builtins.ts";
export type {
  BuiltinPolicySpec,
  ModulePolicySpec,
  PolicyLocal,
  PolicySpec,
} from "./providers/mptcp_agent/policy_spec.ts";
export type { AgentIdentity, AgentKind, AgentLaunch } from "./providers/mptcp_agent/identity.ts";
