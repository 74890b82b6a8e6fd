/**
 * Offline checks for the Kubernetes manifests in deploy/kubernetes (base/ and overlays/), used by
 * deploy/kubernetes_test.ts (no cluster and no kustomize binary on these machines):
 *
 * - {@linkcode renderKustomization} renders a kustomization the way kustomize does for the
 *   subset these files use (`resources`: files and directories, `patches`: RFC 6902 operations
 *   with a kind/name target, applied by `fast-json-patch`); any other field is refused, so a
 *   kustomization cannot grow a feature this check would silently skip.
 * - {@linkcode schemaErrors} validates one object against the Kubernetes API's OpenAPI schema
 *   (the `kubernetes-models` package: its JSON Schema validators per apiVersion/kind).
 * - {@linkcode unknownFieldErrors} is the strict pass that schema lacks (Kubernetes' schemas allow
 *   unknown fields, and the API server drops them): every object is type-checked against the same
 *   package's TypeScript interfaces, whose excess-property check names a misspelt field.
 *
 * @module
 */
// Pinned here rather than in deno.json: only these offline checks use them (lock file committed).
// deno-lint-ignore no-import-prefix
import { parseAllDocuments } from "npm:yaml@2.9.1";
// deno-lint-ignore no-import-prefix
import jsonpatch from "npm:fast-json-patch@3.1.1";
// deno-lint-ignore no-import-prefix
import type { Operation } from "npm:fast-json-patch@3.1.1";
import { programCommand } from "../providers/system/programs.ts";

/** The kubernetes-models release whose schemas and types the checks use. */
export const KUBERNETES_MODELS = "npm:kubernetes-models@5.1.0";

/** A Kubernetes object as parsed from YAML. */
export type K8sObject = Record<string, unknown> & { apiVersion?: unknown; kind?: unknown };

/** One rendered object and the file it came from. */
export interface Manifest {
  source: string;
  object: K8sObject;
}

const KUSTOMIZATION_FIELDS = new Set(["apiVersion", "kind", "resources", "patches"]);

/**
 * Every document of a YAML file; a syntax error throws, naming the file.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function namespaceDocument(): unknown {
 *   const [ns] = readYamlDocuments("deploy/kubernetes/base/namespace.yaml");
 *   return ns;
 * }
 * ```
 */
export function readYamlDocuments(path: string): unknown[] {
  const docs = parseAllDocuments(Deno.readTextFileSync(path));
  if (!Array.isArray(docs)) throw new Error(`${path}: not a YAML stream`);
  return docs.filter((doc) => doc.contents !== null).map((doc) => {
    const [error] = doc.errors;
    if (error) throw new Error(`${path}: ${error.message}`);
    return doc.toJS();
  });
}

/**
 * The objects a kustomization directory renders to, with its patches applied. As kustomize does,
 * it refuses a base that is the directory of a kustomization it came from or one above it ("cycle
 * detected"), and a file resource or patch outside the kustomization's directory.
 *
 * @example Render the git-source overlay
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function gitOverlay(): Manifest[] {
 *   return renderKustomization("deploy/kubernetes/overlays/git");
 * }
 * ```
 */
export function renderKustomization(dir: string, visited: readonly string[] = []): Manifest[] {
  const root = Deno.realPathSync(dir);
  const inside = visited.find((v) => v === root || v.startsWith(`${root}/`));
  if (inside) {
    throw new Error(`cycle detected: candidate root ${root} contains visited root ${inside}`);
  }
  const file = `${root}/kustomization.yaml`;
  const [k] = readYamlDocuments(file) as Record<string, unknown>[];
  const extra = Object.keys(k).filter((key) => !KUSTOMIZATION_FIELDS.has(key));
  if (extra.length > 0) throw new Error(`${file}: fields this check does not render: ${extra}`);
  const manifests = (k.resources as string[] ?? []).flatMap((entry) => {
    const path = Deno.realPathSync(`${root}/${entry}`);
    if (Deno.statSync(path).isDirectory) return renderKustomization(path, [...visited, root]);
    return readYamlDocuments(fileUnder(root, path))
      .map((object) => ({ source: path, object: object as K8sObject }));
  });
  for (const patch of (k.patches as PatchEntry[] ?? [])) applyPatchEntry(root, patch, manifests);
  return manifests;
}

// kustomize's default load restrictor: files only from the kustomization's own directory tree.
function fileUnder(root: string, path: string): string {
  if (!path.startsWith(`${root}/`)) {
    throw new Error(`${path} is outside ${root} (kustomize refuses it)`);
  }
  return path;
}

interface PatchEntry {
  path: string;
  target: { kind: string; name: string };
}

function applyPatchEntry(root: string, patch: PatchEntry, manifests: Manifest[]): void {
  const path = fileUnder(root, Deno.realPathSync(`${root}/${patch.path}`));
  const [ops] = readYamlDocuments(path) as Operation[][];
  const targets = manifests.filter(({ object }) =>
    object.kind === patch.target.kind && nameOf(object) === patch.target.name
  );
  if (targets.length !== 1) {
    throw new Error(`${path}: target ${patch.target.kind}/${patch.target.name} matched ${targets}`);
  }
  const [target] = targets;
  try {
    target.object = jsonpatch.applyPatch(structuredClone(target.object), ops, true, false)
      .newDocument;
  } catch (e) {
    throw new Error(`${path}: ${e instanceof Error ? e.message.split("\n")[0] : e}`);
  }
  target.source = `${target.source} + ${path}`;
}

/**
 * `metadata.name` of an object, or `""`.
 *
 * @example
 * ```ts
 * nameOf({ metadata: { name: "sockform-agent" } }); // "sockform-agent"
 * ```
 */
export function nameOf(object: K8sObject): string {
  const metadata = object.metadata as { name?: unknown } | undefined;
  return typeof metadata?.name === "string" ? metadata.name : "";
}

/**
 * The kubernetes-models module of an apiVersion and kind (`apps/v1` + `DaemonSet` →
 * `…/apps/v1/DaemonSet`; the core group's `v1` → `…/v1/ConfigMap`).
 *
 * @example
 * ```ts
 * modelModule("apps/v1", "DaemonSet"); // "npm:kubernetes-models@5.1.0/apps/v1/DaemonSet"
 * ```
 */
export function modelModule(apiVersion: string, kind: string): string {
  return `${KUBERNETES_MODELS}/${apiVersion}/${kind}`;
}

interface ModelClass {
  new (data: unknown): { validate(): void };
}

/**
 * The schema violations of one object (empty when it is valid): an unknown apiVersion/kind, a
 * wrong type, a missing required field, a value outside an enum or format.
 *
 * @example
 * ```ts
 * await schemaErrors({ apiVersion: "v1", kind: "ConfigMap", data: { a: 1 } });
 * // ["data/data/a must be string"]
 * ```
 */
export async function schemaErrors(object: K8sObject): Promise<string[]> {
  const { apiVersion, kind } = object;
  if (typeof apiVersion !== "string" || typeof kind !== "string") {
    return ["apiVersion and kind must be strings"];
  }
  let model: ModelClass | undefined;
  try {
    model = (await import(modelModule(apiVersion, kind)))[kind];
  } catch {
    // No such module: the package has no schema for this apiVersion/kind.
  }
  if (!model) return [`no Kubernetes API schema for ${apiVersion} ${kind}`];
  try {
    new model(object).validate();
    return [];
  } catch (e) {
    return String(e instanceof Error ? e.message : e).split(", ");
  }
}

/**
 * The TypeScript module that types every object with its kubernetes-models interface
 * (`const o0: IDaemonSet = {…}`), one field per line so a checker error names the field's line.
 *
 * @example
 * ```ts
 * typedModule([{ apiVersion: "v1", kind: "Namespace", metadata: { name: "x" } }]);
 * ```
 */
export function typedModule(objects: readonly K8sObject[]): string {
  const lines = objects.flatMap((object, i) => {
    const type = `I${String(object.kind)}`;
    const from = modelModule(String(object.apiVersion), String(object.kind));
    return [
      `import type { ${type} as T${i} } from "${from}";`,
      `export const o${i}: T${i} = ${JSON.stringify(object, null, 2)};`,
    ];
  });
  return lines.join("\n") + "\n";
}

/**
 * Fields that the Kubernetes types do not have (a misspelt `hostNetwrok`), found by type-checking
 * {@linkcode typedModule} with `deno check`: one message per error, empty when all are known.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * async function misspelt(): Promise<string[]> {
 *   return await unknownFieldErrors([{ apiVersion: "v1", kind: "Namespace", metdata: {} }]);
 *   // ["… 'metdata' does not exist in type 'INamespace' …"]
 * }
 * ```
 */
export async function unknownFieldErrors(objects: readonly K8sObject[]): Promise<string[]> {
  const dir = await Deno.makeTempDir({ prefix: "sf-k8s-types-" });
  try {
    const file = `${dir}/manifests.ts`;
    await Deno.writeTextFile(file, typedModule(objects));
    const root = new URL("..", import.meta.url).pathname;
    const out = await programCommand(
      [Deno.execPath(), "check", "--quiet", `--config=${root}deno.json`, file],
      { stdout: "piped", stderr: "piped", env: { NO_COLOR: "1" } },
    ).output();
    if (out.success) return [];
    const text = new TextDecoder().decode(out.stderr);
    const errors = text.split("\n").filter((line) => /^(TS\d+ )?\[ERROR\]|^TS\d+/.test(line));
    return errors.length > 0 ? errors : [text.trim()];
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

// deno-lint-ignore no-explicit-any
type Loose = any;

/**
 * What the API server or the kubelet would refuse across objects, which no per-object schema
 * sees: a selector that does not match the pod template's labels, a namespaced object outside the
 * namespace the manifests declare, a missing ServiceAccount or ConfigMap, a volume mount or probe
 * port that names nothing.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * function baseReferences(): string[] {
 *   return referenceErrors(renderKustomization("deploy/kubernetes/base")); // []
 * }
 * ```
 */
export function referenceErrors(manifests: readonly Manifest[]): string[] {
  const objects = manifests.map((m) => m.object as Loose);
  const named = (kind: string) => new Set(objects.filter((o) => o.kind === kind).map(nameOf));
  const namespaces = named("Namespace");
  const errors: string[] = [];
  for (const o of objects) {
    const where = `${o.kind}/${nameOf(o)}`;
    if (o.kind !== "Namespace" && !namespaces.has(o.metadata?.namespace)) {
      errors.push(`${where}: namespace ${o.metadata?.namespace} is not declared`);
    }
    if (o.kind === "DaemonSet") errors.push(...podErrors(where, o.spec, named));
  }
  return errors;
}

function podErrors(where: string, spec: Loose, named: (kind: string) => Set<string>): string[] {
  const errors: string[] = [];
  const labels = spec.template?.metadata?.labels ?? {};
  for (const [key, value] of Object.entries(spec.selector?.matchLabels ?? {})) {
    if (labels[key] !== value) errors.push(`${where}: selector ${key}=${value} not in labels`);
  }
  const pod = spec.template?.spec ?? {};
  if (pod.serviceAccountName && !named("ServiceAccount").has(pod.serviceAccountName)) {
    errors.push(`${where}: ServiceAccount ${pod.serviceAccountName} is not declared`);
  }
  const volumes = new Set<string>();
  for (const volume of pod.volumes ?? []) {
    volumes.add(volume.name);
    const map = volume.configMap?.name;
    if (map && !named("ConfigMap").has(map)) errors.push(`${where}: ConfigMap ${map} missing`);
  }
  for (const c of [...(pod.initContainers ?? []), ...(pod.containers ?? [])]) {
    for (const mount of c.volumeMounts ?? []) {
      if (!volumes.has(mount.name)) {
        errors.push(`${where}: ${c.name} mounts no volume ${mount.name}`);
      }
    }
    const ports = new Set((c.ports ?? []).map((p: Loose) => p.name));
    for (const probe of [c.startupProbe, c.livenessProbe, c.readinessProbe]) {
      const port = probe?.httpGet?.port;
      if (typeof port === "string" && !ports.has(port)) {
        errors.push(`${where}: ${c.name} probe port ${port} is not a named port`);
      }
    }
  }
  return errors;
}
