/**
 * The Kubernetes manifests, checked offline (no cluster here): every object of the base and of
 * each overlay against the Kubernetes API schema and types (kubernetes-models), the references
 * between them, the agent's command line against the CLI contract, and the ConfigMap's stack
 * with `sockform validate`. Broken manifests are rejected, so these checks can fail.
 */
import assert from "node:assert/strict";
import {
  type K8sObject,
  type Manifest,
  nameOf,
  referenceErrors,
  renderKustomization,
  schemaErrors,
  unknownFieldErrors,
} from "./manifests.ts";
import { programCommand } from "../providers/system/programs.ts";
import { privateBpffsMount } from "../providers/state/bpffs.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const K8S = `${ROOT}deploy/kubernetes`;
const BASE = `${K8S}/base`;
const KUSTOMIZATIONS = [BASE, `${K8S}/overlays/git`, `${K8S}/overlays/privileged`];

// deno-lint-ignore no-explicit-any
type Loose = any;

function daemonSet(manifests: Manifest[]): Loose {
  const found = manifests.find((m) => m.object.kind === "DaemonSet");
  assert.ok(found, "no DaemonSet rendered");
  return found.object;
}

function agentContainer(manifests: Manifest[]): Loose {
  return daemonSet(manifests).spec.template.spec.containers[0];
}

Deno.test("every object of the base and each overlay matches the Kubernetes API schema", async (t) => {
  for (const dir of KUSTOMIZATIONS) {
    await t.step(dir.slice(ROOT.length), async () => {
      const manifests = renderKustomization(dir);
      assert.deepEqual(
        manifests.map((m) => m.object.kind).sort(),
        ["ConfigMap", "DaemonSet", "Namespace", "ServiceAccount"],
      );
      for (const { source, object } of manifests) {
        assert.deepEqual(await schemaErrors(object), [], `${source}: ${object.kind}`);
      }
      assert.deepEqual(referenceErrors(manifests), []);
    });
  }
});

Deno.test("no object has a field the Kubernetes types lack (the API server would drop it)", async () => {
  const objects = KUSTOMIZATIONS.flatMap((dir) => renderKustomization(dir).map((m) => m.object));
  assert.deepEqual(await unknownFieldErrors(objects), []);
});

Deno.test("every YAML file under deploy/kubernetes is rendered by a kustomization", () => {
  const used = new Set<string>();
  for (const dir of KUSTOMIZATIONS) {
    used.add(Deno.realPathSync(`${dir}/kustomization.yaml`));
    for (const m of renderKustomization(dir)) m.source.split(" + ").forEach((s) => used.add(s));
  }
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of Deno.readDirSync(dir)) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory) walk(path);
      else if (path.endsWith(".yaml")) files.push(Deno.realPathSync(path));
    }
  };
  walk(K8S);
  assert.deepEqual(files.filter((f) => !used.has(f)), []);
});

Deno.test("broken manifests are rejected", async (t) => {
  const base = () => structuredClone(daemonSet(renderKustomization(BASE))) as Loose;
  await t.step("a wrong type and a missing required field fail the schema", async () => {
    const wrongType = base();
    wrongType.spec.template.spec.containers = "agent";
    assert.match((await schemaErrors(wrongType)).join("\n"), /containers must be array/);
    const noSelector = base();
    delete noSelector.spec.selector;
    assert.match((await schemaErrors(noSelector)).join("\n"), /required property selector/);
  });
  await t.step("an unknown apiVersion/kind has no schema", async () => {
    const object: K8sObject = { apiVersion: "apps/v1", kind: "DeamonSet" };
    assert.deepEqual(await schemaErrors(object), [
      "no Kubernetes API schema for apps/v1 DeamonSet",
    ]);
  });
  await t.step("a misspelt field fails the type check", async () => {
    const typo = base();
    typo.spec.template.spec.hostNetwrok = true;
    assert.match((await unknownFieldErrors([typo])).join("\n"), /hostNetwrok/);
  });
  await t.step("an overlay inside its own base is refused, as kustomize does", () => {
    const dir = Deno.makeTempDirSync({ prefix: "sf-k8s-cycle-" });
    try {
      Deno.mkdirSync(`${dir}/overlays/x`, { recursive: true });
      Deno.writeTextFileSync(`${dir}/kustomization.yaml`, "resources: [ns.yaml]\n");
      Deno.writeTextFileSync(`${dir}/ns.yaml`, "apiVersion: v1\nkind: Namespace\n");
      Deno.writeTextFileSync(`${dir}/overlays/x/kustomization.yaml`, "resources: [../..]\n");
      assert.throws(() => renderKustomization(`${dir}/overlays/x`), /cycle detected/);
      Deno.writeTextFileSync(
        `${dir}/overlays/x/kustomization.yaml`,
        "resources: [../../ns.yaml]\n",
      );
      assert.throws(() => renderKustomization(`${dir}/overlays/x`), /outside/);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  });
  await t.step("a selector that misses the template's labels fails the reference check", () => {
    const ds = base();
    ds.spec.selector.matchLabels["app.kubernetes.io/component"] = "other";
    const manifests = renderKustomization(BASE).map((m) =>
      m.object.kind === "DaemonSet" ? { ...m, object: ds } : m
    );
    assert.match(referenceErrors(manifests).join("\n"), /selector app.kubernetes.io\/component/);
  });
});

Deno.test("the DaemonSet runs the agent as the CLI contract says", async (t) => {
  await t.step("base: the ConfigMap's stack, metrics on 9464, /healthz, no privileged", () => {
    const manifests = renderKustomization(BASE);
    const c = agentContainer(manifests);
    assert.deepEqual(c.args, [
      "--stack",
      "/etc/sockform/stack.ts",
      "--metrics-listen",
      "0.0.0.0:9464",
    ]);
    assert.equal(c.livenessProbe.httpGet.path, "/healthz");
    assert.equal(c.ports[0].containerPort, 9464);
    const annotations = daemonSet(manifests).spec.template.metadata.annotations;
    assert.equal(annotations["prometheus.io/port"], "9464");
    assert.equal(c.securityContext.privileged, false);
    assert.deepEqual(c.securityContext.capabilities.drop, ["ALL"]);
    const stack = manifests.find((m) => nameOf(m.object) === "sockform-stack")?.object as Loose;
    const mount = c.volumeMounts.find((v: Loose) => v.name === "stack");
    assert.equal(`${mount.mountPath}/stack.ts`, "/etc/sockform/stack.ts");
    assert.ok(stack.data["stack.ts"]);
  });
  await t.step("git overlay: --git with --ref and --path, no ConfigMap mount", () => {
    const c = agentContainer(renderKustomization(`${K8S}/overlays/git`));
    assert.deepEqual(c.args.filter((a: string) => a.startsWith("--")), [
      "--git",
      "--ref",
      "--path",
      "--metrics-listen",
    ]);
    assert.ok(!c.volumeMounts.some((v: Loose) => v.name === "stack"));
  });
  await t.step("privileged overlay: privileged", () => {
    const c = agentContainer(renderKustomization(`${K8S}/overlays/privileged`));
    assert.deepEqual(c.securityContext, { privileged: true });
  });
});

Deno.test("the ConfigMap's stack passes `sockform validate`", async () => {
  const manifests = renderKustomization(BASE);
  const map = manifests.find((m) => nameOf(m.object) === "sockform-stack")?.object as Loose;
  const dir = await Deno.makeTempDir({ prefix: "sf-k8s-stack-" });
  try {
    // In the image the repository is /opt/sockform; here it is this checkout.
    const text = String(map.data["stack.ts"]).replaceAll("/opt/sockform/", ROOT);
    await Deno.writeTextFile(`${dir}/stack.ts`, text);
    const out = await programCommand(
      [Deno.execPath(), "run", "-A", `${ROOT}main.ts`, "validate", "-s", `${dir}/stack.ts`],
      { stdout: "piped", stderr: "piped", env: { NO_COLOR: "1" } },
    ).output();
    const said = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.ok(out.success, said);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the init container starts the agent only on a host bpffs (run as root)", async (t) => {
  const [init] = daemonSet(renderKustomization(BASE)).spec.template.spec.initContainers;
  assert.deepEqual(init.command.slice(0, 2), ["sh", "-c"]);
  const run = async (dir: string) => {
    const script = String(init.command[2]).replaceAll("/sys/fs/bpf", dir);
    return await programCommand(["sh", "-c", script], { stdout: "piped" }).output();
  };
  await t.step("a bpffs mount passes", async () => {
    const bpffs = privateBpffsMount();
    try {
      assert.equal((await run(bpffs.mount)).code, 0);
    } finally {
      bpffs.cleanup();
    }
  });
  await t.step("a plain directory fails, saying how to mount bpffs", async () => {
    const dir = await Deno.makeTempDir({ prefix: "sf-not-bpffs-" });
    try {
      const out = await run(dir);
      assert.equal(out.code, 1);
      assert.match(new TextDecoder().decode(out.stdout), /is not bpffs: mount -t bpf bpf/);
    } finally {
      await Deno.remove(dir);
    }
  });
});
