/**
 * The spec-shaped values of Terraform's plan JSON: the observed spec (what the
 * kernel holds, in the stack's own shape), `planned_values`, `prior_state` and
 * the `configuration` subset sockform can describe.
 *
 * @module
 */
import type { Change } from "./types.ts";
import type { Plan, Step } from "./plan.ts";

/**
 * The provider address Terraform tools expect on every resource. sockform is
 * not on a registry: the host is a placeholder and the namespace is
 * `builtin`, after Terraform's own `terraform.io/builtin/terraform`.
 *
 * @example Every resource change names it
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import { type Plan, planJson } from "../mod.ts";
 *
 * function ours(p: Plan): boolean {
 *   return planJson(p).resource_changes.every((c) => c.provider_name === PROVIDER_NAME); // true
 * }
 * ```
 */
export const PROVIDER_NAME = "sockform.local/builtin/sockform";

/** The fields that name a resource in every Terraform plan JSON record. */
export interface ResourceAddressJson {
  /** `Kind.name`. */
  address: string;
  /** Always `managed`. */
  mode: "managed";
  /** The kind. */
  type: string;
  /** The resource's name. */
  name: string;
  /** The fully qualified provider name. */
  provider_name: string;
}

/**
 * A step's naming fields, shared by `resource_changes`, `resource_drift` and
 * `planned_values` records.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { Step } from "../mod.ts";
 *
 * function record(step: Step) {
 *   return { ...resourceAddress(step), change: { actions: ["create"] } };
 * }
 * ```
 */
export function resourceAddress(step: Step): ResourceAddressJson {
  return {
    address: step.address,
    mode: "managed",
    type: step.kind,
    name: step.name,
    provider_name: PROVIDER_NAME,
  };
}

/**
 * One resource of `planned_values` or `prior_state`, as Terraform shapes it.
 *
 * @example Reading the planned spec of one resource
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { Plan } from "../mod.ts";
 *
 * function first(p: Plan): void {
 *   const r: ValuesResourceJson = plannedValues(p).root_module.resources[0];
 *   console.log(r.address, r.values);
 * }
 * ```
 */
export interface ValuesResourceJson {
  /** `Kind.name`. */
  address: string;
  /** Always `managed`. */
  mode: "managed";
  /** The kind. */
  type: string;
  /** The resource's name. */
  name: string;
  /** The fully qualified provider name. */
  provider_name: string;
  /** Always 0. */
  schema_version: 0;
  /** The spec. */
  values: unknown;
  /** Always `{}`: sockform specs hold no secrets. */
  sensitive_values: Record<string, never>;
}

type Segment = string | number;

/** `bindings[2].ports[0]` → `["bindings", 2, "ports", 0]`; null when a part is not a spec path. */
function segments(path: string): Segment[] | null {
  const out: Segment[] = [];
  for (const part of path.split(".")) {
    const m = /^([A-Za-z_$][\w$]*)((?:\[\d+\])*)$/.exec(part);
    if (!m) return null;
    out.push(m[1], ...[...m[2].matchAll(/\[(\d+)\]/g)].map((i) => Number(i[1])));
  }
  return out;
}

function shapeOf(value: unknown): string {
  return Array.isArray(value) ? "array" : value === null ? "null" : typeof value;
}

/** Puts the kernel's value of one change back into a copy of the spec, when the shapes agree. */
function undo(root: Record<string, unknown>, change: Change, removed: Map<unknown[], number[]>) {
  const path = segments(change.path);
  if (!path) return;
  let parent: unknown = root;
  for (const key of path.slice(0, -1)) {
    parent = (parent as Record<Segment, unknown> | null)?.[key];
    if (typeof parent !== "object" || parent === null) return;
  }
  const leaf = path[path.length - 1];
  const holder = parent as Record<Segment, unknown>;
  // A field the kernel has and the spec no longer sets.
  const fieldGone = !Array.isArray(holder) && change.after === undefined;
  if (change.before === undefined) {
    if (!Array.isArray(holder)) delete holder[leaf];
    else if (typeof leaf === "number") removed.set(holder, [...removed.get(holder) ?? [], leaf]);
  } else if (leaf in holder ? shapeOf(holder[leaf]) === shapeOf(change.before) : fieldGone) {
    holder[leaf] = structuredClone(change.before);
  }
}

/**
 * What the kernel holds, in the spec's shape: the desired spec with every
 * change whose path names a spec field set back to the kernel's value. A
 * no-op's observed spec is its spec. Kernel-only differences (links, pins,
 * map entries without a spec field) stay in the `sockform` extension. Null
 * when nothing spec-shaped is known: creates, deletes (the kernel keeps the
 * spec's hash, not the spec) and unfinished resources.
 *
 * @example A no-op reads back as its spec
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { Step } from "../mod.ts";
 *
 * function before(step: Step): unknown {
 *   return observedSpec(step); // deepEqual to the step's spec for a no-op
 * }
 * ```
 */
export function observedSpec(step: Step, changes: Change[] = step.changes): unknown {
  if (!step.observed?.meta || step.spec === undefined || step.action === "delete") return null;
  if (step.observed.meta.kind !== step.kind) return null;
  const copy = structuredClone(step.spec) as Record<string, unknown>;
  if (typeof copy !== "object" || copy === null) return copy;
  const removed = new Map<unknown[], number[]>();
  for (const change of changes) undo(copy, change, removed);
  for (const [array, indexes] of removed) {
    for (const i of [...new Set(indexes)].sort((a, b) => b - a)) array.splice(i, 1);
  }
  return copy;
}

function valuesResource(step: Step, values: unknown): ValuesResourceJson {
  return {
    ...resourceAddress(step),
    schema_version: 0,
    values,
    sensitive_values: {},
  };
}

/** `planned_values`: each declared resource as the plan would leave it. */
export interface ValuesJson {
  /** Terraform's root module; sockform stacks have no child modules. */
  root_module: { resources: ValuesResourceJson[] };
}

/** `prior_state`: the resources the kernel holds now, spec-shaped. */
export interface PriorStateJson {
  /** The state format's version. */
  format_version: string;
  /** The tool's version, as in the plan. */
  terraform_version: string;
  /** The resources, as in `planned_values`. */
  values: ValuesJson;
}

/** `configuration`: the provider and each declared resource's fields as written. */
export interface ConfigurationJson {
  /** The one provider, `sockform`. */
  provider_config: Record<string, { name: string; full_name: string }>;
  /** The declared resources, top-level spec fields as `constant_value` expressions. */
  root_module: { resources: ConfigurationResourceJson[] };
}

/** One declared resource in `configuration`. */
export interface ConfigurationResourceJson {
  /** `Kind.name`. */
  address: string;
  /** Always `managed`. */
  mode: "managed";
  /** The kind. */
  type: string;
  /** The resource's name. */
  name: string;
  /** The key of its provider in `provider_config`. */
  provider_config_key: string;
  /** Always 0. */
  schema_version: 0;
  /** Top-level spec field → its value as written. */
  expressions: Record<string, { constant_value: unknown }>;
}

/**
 * `planned_values`: every resource that exists after apply, with its spec.
 *
 * @example The addresses that exist after apply
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { Plan } from "../mod.ts";
 *
 * function addresses(p: Plan): string[] {
 *   return plannedValues(p).root_module.resources.map((r) => r.address);
 * }
 * ```
 */
export function plannedValues(plan: Plan): ValuesJson {
  const kept = plan.steps.filter((s) => s.action !== "delete" && s.spec !== undefined);
  return { root_module: { resources: kept.map((s) => valuesResource(s, s.spec)) } };
}

/**
 * `prior_state`: what the kernel holds before apply, in the spec's shape (only
 * resources whose observed spec is known, see {@link observedSpec}).
 *
 * @example What the kernel holds before apply
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { Plan } from "../mod.ts";
 *
 * function held(p: Plan): ValuesResourceJson[] {
 *   return priorState(p, "0.1.0").values.root_module.resources;
 * }
 * ```
 */
export function priorState(plan: Plan, version: string): PriorStateJson {
  const known = plan.steps.map((s) => [s, observedSpec(s)] as const).filter(([, v]) => v !== null);
  return {
    format_version: "1.0",
    terraform_version: version,
    values: { root_module: { resources: known.map(([s, v]) => valuesResource(s, v)) } },
  };
}

/**
 * `configuration`, the subset sockform has: one provider, and each declared
 * resource's top-level spec fields as `constant_value` expressions (a stack
 * file is code that has already run, so there are no references to show).
 *
 * @example A resource field as written in the stack
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { Plan } from "../mod.ts";
 *
 * function netnsOf(p: Plan): unknown {
 *   return configuration(p).root_module.resources[0].expressions.netns.constant_value;
 * }
 * ```
 */
export function configuration(plan: Plan): ConfigurationJson {
  const declared = plan.steps.filter((s) => s.action !== "delete" && s.spec !== undefined);
  return {
    provider_config: { sockform: { name: "sockform", full_name: PROVIDER_NAME } },
    root_module: {
      resources: declared.map((s) => ({
        address: s.address,
        mode: "managed",
        type: s.kind,
        name: s.name,
        provider_config_key: "sockform",
        schema_version: 0,
        expressions: Object.fromEntries(
          Object.entries(s.spec as Record<string, unknown>).map((
            [k, v],
          ) => [k, { constant_value: v }]),
        ),
      })),
    },
  };
}
