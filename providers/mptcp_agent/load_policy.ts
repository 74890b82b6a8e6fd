/**
 * Turns a {@linkcode PolicySpec} into a running {@linkcode Policy}: a builtin
 * by name, or a module by absolute path that exports `createPolicy`. Every
 * failure is a {@linkcode PolicyLoadError} naming the spec field
 * (`policy.module`, `policy.builtin`), which the agent writes as its
 * `failed` state so `startAgent` reports it.
 *
 * @module
 */
import { builtinPolicy } from "./builtins.ts";
import type { Policy, PolicyInit } from "./policy.ts";
import { isModulePolicy, type PathManagerAgentParams } from "./policy_spec.ts";

/** A policy that could not be loaded; the message names the field. */
export class PolicyLoadError extends Error {
  override name = "PolicyLoadError";
}

function isPolicy(value: unknown): value is Policy {
  const p = value as Policy | undefined;
  return typeof p?.onEvent === "function" && typeof p.name === "string";
}

async function importModule(path: string): Promise<Record<string, unknown>> {
  if (!path.startsWith("/")) {
    throw new PolicyLoadError(`policy.module: ${path} is not an absolute path`);
  }
  try {
    Deno.statSync(path);
  } catch {
    throw new PolicyLoadError(`policy.module: ${path} does not exist`);
  }
  try {
    return await import(new URL(path, "file:///").href);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new PolicyLoadError(`policy.module: ${path} failed to load: ${message}`);
  }
}

/**
 * Loads the policy of a `path_manager` agent's params.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { PolicyLocal } from "./policy_spec.ts";
 *
 * async function fullmesh(locals: PolicyLocal[], netns: string) {
 *   return await loadPolicy({ policy: { builtin: "fullmesh" }, locals }, netns, console.error);
 * }
 * ```
 */
export async function loadPolicy(
  params: PathManagerAgentParams,
  netns: string | undefined,
  log: (message: string) => void,
): Promise<Policy> {
  const spec = params?.policy;
  if (!spec) throw new PolicyLoadError("policy: missing from the agent's params");
  const base = { locals: params.locals ?? [], netns, log };
  if (!isModulePolicy(spec)) return builtinPolicy(spec, { ...base, params: { ...spec } });
  const mod = await importModule(spec.module);
  if (typeof mod.createPolicy !== "function") {
    throw new PolicyLoadError(
      `policy.module: ${spec.module} does not export createPolicy(init) (the policy API)`,
    );
  }
  const init: PolicyInit = { ...base, params: spec.params ?? {} };
  const policy = await (mod.createPolicy as (i: PolicyInit) => unknown)(init);
  if (!isPolicy(policy)) {
    throw new PolicyLoadError(
      `policy.module: ${spec.module} createPolicy() did not return a policy (name, onEvent)`,
    );
  }
  return policy;
}
