/**
 * Plan JSON in the shape of Terraform's plan representation, so PR-comment and
 * policy tools that read `terraform show -json` read sockform plans too. What
 * maps and what differs is in the README's "From Terraform" section.
 *
 * @module
 */
import type { Action, Change, ForeignProgram } from "./types.ts";
import type { Plan, Step } from "./plan.ts";
import {
  configuration,
  type ConfigurationJson,
  observedSpec,
  plannedValues,
  priorState,
  type PriorStateJson,
  PROVIDER_NAME,
  resourceAddress,
  type ResourceAddressJson,
  type ValuesJson,
} from "./render_json_values.ts";

export { PROVIDER_NAME };

const TF_ACTIONS: Record<Action, string[]> = {
  create: ["create"],
  update: ["update"],
  delete: ["delete"],
  replace: ["create", "delete"],
  "no-op": ["no-op"],
};

/** One entry of `resource_changes`, as Terraform shapes it plus a `sockform` block. */
export interface ResourceChangeJson extends ResourceAddressJson {
  /** What changes: Terraform's actions, and the spec before and after. */
  change: {
    actions: string[];
    /** The observed spec: what the kernel holds, in the stack's shape (null: none known). */
    before: unknown;
    /** The desired spec (null for a delete). */
    after: unknown;
    after_unknown: Record<string, never>;
    before_sensitive: Record<string, never> | false;
    after_sensitive: Record<string, never> | false;
  };
  /** Terraform's reason for a replace or delete, when there is one. */
  action_reason?: string;
  /** sockform's own detail: each change, whether it is hitless, and what the kernel holds. */
  sockform: {
    hitless: boolean;
    changes: Change[];
    spec_hash: string;
    state_dir: string;
    /** What the kind's driver read from the kernel (maps, links, ids), not spec-shaped. */
    observed: unknown;
    /** Programs sockform does not own on this resource's hooks (warnings, not changes). */
    foreign_programs: ForeignProgram[];
  };
}

/**
 * One entry of `resource_drift`: `before` as last applied, `after` as the kernel has it now.
 *
 * @example Listing what changed outside sockform
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { Plan } from "../mod.ts";
 *
 * function drifted(p: Plan): void {
 *   for (const d of planJson(p).resource_drift ?? []) console.log(d.address, d.sockform.drift);
 * }
 * ```
 */
export interface ResourceDriftJson extends ResourceAddressJson {
  /** The spec as last applied (`before`) and as the kernel has it now (`after`). */
  change: {
    actions: ["update"];
    before: unknown;
    after: unknown;
    after_unknown: Record<string, never>;
    before_sensitive: Record<string, never>;
    after_sensitive: Record<string, never>;
  };
  /** Each field the kernel changed, with the reason. */
  sockform: { drift: Change[] };
}

/** The whole plan document (`plan --json`). */
export interface PlanJson {
  /** The plan format's version, as Terraform's. */
  format_version: string;
  /** The tool's version (sockform's, in Terraform's field). */
  terraform_version: string;
  /** Each declared resource as the plan would leave it. */
  planned_values: ValuesJson;
  /** Changes made outside sockform since the last apply (absent when none). */
  resource_drift?: ResourceDriftJson[];
  /** One entry per resource: what apply does to it. */
  resource_changes: ResourceChangeJson[];
  /** The resources the kernel holds now. */
  prior_state: PriorStateJson;
  /** The stack as declared. */
  configuration: ConfigurationJson;
  /** When the plan was made (RFC 3339). */
  timestamp: string;
  /** True when apply has something to do. */
  applyable: boolean;
  /** True when the plan covers every resource of the stack. */
  complete: boolean;
  /** False: a plan that failed is `erroredPlanJson`'s document instead. */
  errored: boolean;
  /** sockform's own detail: the stack, its state directory, the staleness token, warnings. */
  sockform: {
    stack: string;
    state_dir: string;
    token: string;
    warnings: string[];
    /** The tool, since `terraform_version` is a bare version string. */
    tool: string;
  };
}

/**
 * A directory without metadata is what Terraform calls tainted (a create that
 * did not finish), and it is removed before the new one is created: Terraform
 * writes that order as ["delete", "create"].
 */
function unfinished(step: Step): boolean {
  return step.action === "replace" && step.observed !== null && !step.observed.meta;
}

function actions(step: Step): string[] {
  return unfinished(step) ? ["delete", "create"] : TF_ACTIONS[step.action];
}

/** Terraform's reasons; a destroy plan's deletes carry none, as in Terraform. */
function actionReason(step: Step, destroying: boolean): string | undefined {
  if (unfinished(step)) return "replace_because_tainted";
  if (step.action === "replace") return "replace_because_cannot_update";
  if (step.action === "delete" && !destroying) return "delete_because_no_resource_config";
  return undefined;
}

function resourceChange(step: Step, destroying: boolean): ResourceChangeJson {
  const deleting = step.action === "delete";
  const before = observedSpec(step);
  const after = deleting ? null : step.spec ?? null;
  return {
    ...resourceAddress(step),
    change: {
      actions: actions(step),
      before,
      after,
      after_unknown: {},
      before_sensitive: before === null ? false : {},
      after_sensitive: after === null ? false : {},
    },
    action_reason: actionReason(step, destroying),
    sockform: {
      hitless: step.hitless,
      changes: step.changes,
      spec_hash: step.specHash,
      state_dir: step.dir,
      observed: step.observed?.state ?? null,
      foreign_programs: step.foreign ?? [],
    },
  };
}

/**
 * Terraform's meaning: what changed outside the tool since the last apply.
 * Only a resource whose spec is unchanged since its last apply has a known
 * last-applied spec (the kernel keeps the spec's hash), so only those appear.
 */
function resourceDrift(step: Step): ResourceDriftJson | null {
  if (step.drift.length === 0 || step.observed?.meta?.specHash !== step.specHash) return null;
  return {
    ...resourceAddress(step),
    change: {
      actions: ["update"],
      before: step.spec ?? null,
      after: observedSpec(step, step.drift),
      after_unknown: {},
      before_sensitive: {},
      after_sensitive: {},
    },
    sockform: { drift: step.drift },
  };
}

function foreignWarnings(plan: Plan): string[] {
  return plan.steps.flatMap((s) =>
    (s.foreign ?? []).map((f) =>
      `${s.address}: foreign ${f.hook} program id ${f.progId} "${f.name}" ` +
      `(${f.owner ?? "not sockform's"}) on ${f.target}: ${f.effect}`
    )
  );
}

/** Terraform's timestamp format: RFC 3339 in UTC, whole seconds. */
function rfc3339(at: Date): string {
  return at.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/**
 * The plan as Terraform-shaped JSON.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import { plan, type Stack, type StateStore } from "../mod.ts";
 *
 * async function actions(stack: Stack, store: StateStore): Promise<void> {
 *   const json = planJson(await plan(stack, store));
 *   console.log(json.resource_changes.map((c) => c.change.actions));
 * }
 * ```
 */
export function planJson(plan: Plan, at: Date = new Date()): PlanJson {
  const drift = plan.steps.map(resourceDrift).filter((d) => d !== null);
  return {
    format_version: "1.2",
    terraform_version: plan.toolVersion,
    planned_values: plannedValues(plan),
    ...(drift.length ? { resource_drift: drift } : {}),
    resource_changes: plan.steps.map((s) => resourceChange(s, Boolean(plan.destroy))),
    prior_state: priorState(plan, plan.toolVersion),
    configuration: configuration(plan),
    timestamp: rfc3339(at),
    applyable: plan.steps.some((s) => s.action !== "no-op"),
    complete: true,
    errored: false,
    sockform: {
      stack: plan.stack,
      state_dir: plan.stackDir,
      token: plan.token,
      warnings: foreignWarnings(plan),
      tool: `sockform ${plan.toolVersion}`,
    },
  };
}

/**
 * One diagnostic, as Terraform's `validate -json` writes it.
 *
 * @example A spec error
 * ```ts
 * const d: DiagnosticJson = { severity: "error", summary: "web.netns: does not exist", detail: "" };
 * ```
 */
export interface DiagnosticJson {
  severity: "error" | "warning";
  summary: string;
  detail: string;
  /** The resource's address, `Kind.name`, when the problem belongs to one. */
  address?: string;
  /** The field path inside the resource's spec, when the problem is about one field. */
  path?: string;
}

/**
 * The document `plan --json` prints when planning fails: Terraform's
 * `errored: true` plan, plus the diagnostics that stopped it.
 *
 * @example The document of a failed plan
 * ```ts
 * const diagnostics: DiagnosticJson[] = [{ severity: "error", summary: "x", detail: "" }];
 * console.log(JSON.stringify(erroredPlanJson(diagnostics, "0.1.0")));
 * ```
 */
export function erroredPlanJson(diagnostics: DiagnosticJson[], version: string, at = new Date()): {
  format_version: string;
  terraform_version: string;
  planned_values: { root_module: Record<string, never> };
  prior_state: Record<string, never>;
  timestamp: string;
  applyable: false;
  complete: false;
  errored: true;
  diagnostics: DiagnosticJson[];
} {
  return {
    format_version: "1.2",
    terraform_version: version,
    planned_values: { root_module: {} },
    prior_state: {},
    timestamp: rfc3339(at),
    applyable: false,
    complete: false,
    errored: true,
    diagnostics,
  };
}
