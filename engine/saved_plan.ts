/**
 * Saved plans: `plan -o plan.json` writes one; `apply plan.json` re-reads the
 * kernel and refuses when anything observed changed since.
 *
 * @module
 */
import type { Plan, Step } from "./plan.ts";
import type { Action } from "./types.ts";
import { z } from "../deps.ts";
import { UserError } from "./errors.ts";
import { type PlanJson, planJson } from "./render_json.ts";
import { hashJson } from "./hash.ts";

/** The file format of a saved plan. */
export interface SavedPlan {
  /** The format and its version. */
  format: "sockform-plan/1";
  /** The stack file the plan was made from. */
  stackFile: string;
  /** The stack's name. */
  stack: string;
  /** The state root it was planned against. */
  stateRoot: string;
  /** The staleness token: apply refuses when the kernel no longer matches it. */
  token: string;
  /** Each step's address, action, spec hash and digest of its changes, for apply to match. */
  steps: { address: string; action: string; specHash: string; changes: string }[];
  /** The plan as `plan --json` prints it. */
  plan: ReturnType<typeof planJson>;
  /** The `-target` addresses the plan was narrowed to; apply narrows its re-plan the same way. */
  targets?: string[];
}

/**
 * What identifies a plan's steps, so a re-plan can be compared with a saved
 * one: the spec each step applies and a digest of the changes it showed. The
 * drivers run the operations of exactly these changes, so equal digests mean
 * apply does what the saved plan showed.
 */
export function stepSignature(plan: Plan): SavedPlan["steps"] {
  return plan.steps.map((s) => ({
    address: s.address,
    action: s.action,
    specHash: s.specHash,
    changes: hashJson(s.changes),
  }));
}

/**
 * Serialises a plan for later `apply plan.json`.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { Plan } from "../mod.ts";
 *
 * async function save(p: Plan, root: string): Promise<void> {
 *   await Deno.writeTextFile("plan.json", JSON.stringify(toSavedPlan(p, "stack.ts", root)));
 * }
 * ```
 */
export function toSavedPlan(
  plan: Plan,
  stackFile: string,
  stateRoot: string,
  targets: readonly string[] = [],
): SavedPlan {
  return {
    ...(targets.length ? { targets: [...targets] } : {}),
    format: "sockform-plan/1",
    stackFile,
    stack: plan.stack,
    stateRoot,
    token: plan.token,
    steps: stepSignature(plan),
    plan: planJson(plan),
  };
}

/**
 * True when `path` names a saved plan, whatever its name: a `.json` name (as
 * before) or a file whose content is one (`plan -o p1.tfplan`).
 *
 * @example Telling a saved plan from a stack file
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function load(target: string): SavedPlan | undefined {
 *   return isSavedPlanFile(target) ? readSavedPlan(target) : undefined;
 * }
 * ```
 */
export function isSavedPlanFile(path: string): boolean {
  if (path.endsWith(".json")) return true;
  try {
    return JSON.parse(Deno.readTextFileSync(path))?.format === "sockform-plan/1";
  } catch {
    return false;
  }
}

function actionOf(actions: string[]): Action {
  return actions.length === 2 ? "replace" : actions[0] as Action;
}

/**
 * The plan a saved plan file shows, rebuilt from its plan JSON for `show
 * <file>` (the kernel state is not re-read: it is the plan as reviewed).
 *
 * @example Rendering a saved plan
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import { renderPlan } from "../mod.ts";
 *
 * function show(path: string): void {
 *   console.log(renderPlan(planFromSaved(readSavedPlan(path)), { color: false }));
 * }
 * ```
 */
export function planFromSaved(saved: SavedPlan): Plan {
  const doc = saved.plan as unknown as PlanJson;
  if (!Array.isArray(doc.resource_changes)) {
    throw new UserError(`saved plan for stack "${saved.stack}" has no resource_changes`);
  }
  const drift = new Map((doc.resource_drift ?? []).map((d) => [d.address, d.sockform.drift]));
  const steps: Step[] = doc.resource_changes.map((c) => ({
    address: c.address,
    kind: c.type,
    name: c.name,
    dir: c.sockform.state_dir,
    action: actionOf(c.change.actions),
    changes: c.sockform.changes,
    drift: drift.get(c.address) ?? [],
    hitless: c.sockform.hitless,
    specHash: c.sockform.spec_hash,
    observed: null,
    spec: c.change.after ?? undefined,
    foreign: c.sockform.foreign_programs ?? [],
  }));
  return {
    stack: saved.stack,
    stackDir: doc.sockform?.state_dir ?? `${saved.stateRoot}/${saved.stack}`,
    steps,
    token: saved.token,
    toolVersion: doc.terraform_version,
  };
}

/** Reads and checks a saved plan file. */
export function readSavedPlan(path: string): SavedPlan {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    throw new UserError(`cannot read saved plan ${path}: ${e instanceof Error ? e.message : e}`);
  }
  return parseSavedPlan(text, path);
}

/**
 * Parses a saved plan's text and checks every field apply relies on, so a
 * hand-edited or foreign file is a one-line error naming the field.
 *
 * @example
 * ```ts
 * try {
 *   parseSavedPlan('{"format":"sockform-plan/1","stackFile":7}', "p.json");
 * } catch (e) {
 *   console.log((e as Error).message); // "saved plan p.json is malformed: stackFile: …"
 * }
 * ```
 */
export function parseSavedPlan(text: string, path: string): SavedPlan {
  let parsed: SavedPlan;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new UserError(`cannot read saved plan ${path}: ${e instanceof Error ? e.message : e}`);
  }
  if (parsed?.format !== "sockform-plan/1") {
    throw new UserError(`${path} is not a sockform saved plan (format sockform-plan/1)`);
  }
  const checked = SAVED_PLAN_SHAPE.safeParse(parsed);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    const field = issue.path.map((p) => typeof p === "number" ? `[${p}]` : `.${String(p)}`)
      .join("").replace(/^\./, "");
    throw new UserError(
      `saved plan ${path} is malformed: ${field || "(top level)"}: ${issue.message} ` +
        "(make a new one with plan -o)",
    );
  }
  return parsed;
}

/** The fields apply reads from a saved plan; the embedded plan JSON is for people and tools. */
const SAVED_PLAN_SHAPE = z.object({
  format: z.literal("sockform-plan/1"),
  stackFile: z.string().min(1),
  stack: z.string().min(1),
  stateRoot: z.string().min(1),
  token: z.string().regex(/^[0-9a-f]{64}$/, "expected a sha256 hex digest"),
  steps: z.array(
    z.object({
      address: z.string(),
      action: z.string(),
      specHash: z.string(),
      changes: z.string(),
    }),
  ),
  plan: z.record(z.string(), z.unknown()),
  targets: z.array(z.string()).optional(),
});

/** Throws unless a fresh plan is exactly what was saved and reviewed. */
export function assertFresh(saved: SavedPlan, fresh: Plan): void {
  if (saved.token !== fresh.token) {
    throw new UserError(
      `saved plan is stale: the kernel state of stack "${saved.stack}" changed since the plan was made; run plan again`,
    );
  }
  const now = stepSignature(fresh);
  const specs = (steps: SavedPlan["steps"]) =>
    JSON.stringify(steps.map(({ address, action, specHash }) => [address, action, specHash]));
  if (specs(saved.steps) !== specs(now)) {
    throw new UserError(
      `saved plan is stale: the stack file ${saved.stackFile} changed since the plan was made; run plan again`,
    );
  }
  const moved = now.find((s, i) => s.changes !== saved.steps[i].changes);
  if (moved) {
    throw new UserError(
      `saved plan is stale: ${moved.address} now resolves to other changes than the plan showed ` +
        "(e.g. a cgroup re-created or another sockform build); run plan again",
    );
  }
}
