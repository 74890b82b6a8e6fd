/**
 * Plan JSON in the shape of Terraform's plan representation, so PR-comment and
 * policy tools that read `terraform show -json` read sockform plans too.
 *
 * @module
 */
import type { Action, Change, ForeignProgram } from "./types.ts";
import type { Plan, Step } from "./plan.ts";

const TF_ACTIONS: Record<Action, string[]> = {
  create: ["create"],
  update: ["update"],
  delete: ["delete"],
  replace: ["create", "delete"],
  "no-op": ["no-op"],
};

/** One entry of `resource_changes`, as Terraform shapes it plus a `sockform` block. */
export interface ResourceChangeJson {
  address: string;
  mode: "managed";
  type: string;
  name: string;
  provider_name: "sockform";
  change: {
    actions: string[];
    before: unknown;
    after: unknown;
    after_unknown: Record<string, never>;
    before_sensitive: false;
    after_sensitive: false;
  };
  action_reason?: string;
  sockform: {
    hitless: boolean;
    changes: Change[];
    spec_hash: string;
    state_dir: string;
    /** Programs sockform does not own on this resource's hooks (warnings, not changes). */
    foreign_programs: ForeignProgram[];
  };
}

/** The whole plan document (`plan --json`). */
export interface PlanJson {
  format_version: string;
  terraform_version: string;
  sockform: { stack: string; state_dir: string; token: string; warnings: string[] };
  resource_changes: ResourceChangeJson[];
  resource_drift: {
    address: string;
    mode: "managed";
    type: string;
    name: string;
    provider_name: "sockform";
    change: { actions: string[]; before: unknown; after: unknown };
    sockform: { drift: Change[] };
  }[];
  errored: boolean;
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

function actionReason(step: Step): string | undefined {
  if (unfinished(step)) return "replace_because_tainted";
  if (step.action === "replace") return "replace_because_cannot_update";
  if (step.action === "delete") return "delete_because_no_resource_config";
  return undefined;
}

function resourceChange(step: Step): ResourceChangeJson {
  const after = step.action === "delete" ? null : step.spec ?? null;
  const before = step.observed?.state ?? null;
  return {
    address: step.address,
    mode: "managed",
    type: step.kind,
    name: step.name,
    provider_name: "sockform",
    change: {
      actions: actions(step),
      before,
      after,
      after_unknown: {},
      before_sensitive: false,
      after_sensitive: false,
    },
    action_reason: actionReason(step),
    sockform: {
      hitless: step.hitless,
      changes: step.changes,
      spec_hash: step.specHash,
      state_dir: step.dir,
      foreign_programs: step.foreign ?? [],
    },
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

/**
 * The plan as Terraform-shaped JSON.
 *
 * @example
 * ```ts
 * const json = planJson(await plan(stack, store));
 * console.log(json.resource_changes.map((c) => c.change.actions));
 * ```
 */
export function planJson(plan: Plan): PlanJson {
  return {
    format_version: "1.2",
    terraform_version: `sockform ${plan.toolVersion}`,
    sockform: {
      stack: plan.stack,
      state_dir: plan.stackDir,
      token: plan.token,
      warnings: foreignWarnings(plan),
    },
    resource_changes: plan.steps.map(resourceChange),
    resource_drift: plan.steps.filter((s) => s.drift.length > 0).map((s) => ({
      address: s.address,
      mode: "managed",
      type: s.kind,
      name: s.name,
      provider_name: "sockform",
      change: { actions: ["update"], before: s.observed?.state ?? null, after: s.spec ?? null },
      sockform: { drift: s.drift },
    })),
    errored: false,
  };
}
