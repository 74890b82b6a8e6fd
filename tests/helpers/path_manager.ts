/**
 * Helpers for PathManager kernel tests: a scratch netns, iproute2's view of
 * a netns's MPTCP state (the independent read-back), plan-time refusals,
 * stack files for the CLI, and running the CLI itself.
 *
 * @module
 */
import assert from "node:assert/strict";
import { kernelStore, PathManager, plan, Stack } from "../../mod.ts";
import { PlanError } from "../../engine/errors.ts";
import { privateBpffs } from "../../lab/bpffs.ts";
import { netnsWithTwoVeths, type ScratchNetns, type TestResources } from "./netns.ts";
import type { PathManagerSpecInput } from "../../resources/path_manager.ts";
import { cliInProcess, runCliInProcess } from "./in_process_cli.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const MOD = new URL("../../mod.ts", import.meta.url).href;
const IP_FLAGS = ["signal", "subflow", "backup", "fullmesh", "implicit"];

/** An endpoint as `ip -j mptcp endpoint show` prints it, flags gathered into a list. */
export interface IpEndpoint {
  id: number;
  address: string;
  port?: number;
  dev?: string;
  flags: string[];
}

/**
 * Endpoints of a netns as iproute2 reports them, sorted by address then port.
 *
 * @example Reading a netns back independently
 * ```ts
 * const eps = await ipEndpoints(ns);
 * ```
 */
export async function ipEndpoints(ns: ScratchNetns): Promise<IpEndpoint[]> {
  const rows = JSON.parse(await ns.exec(["ip", "-j", "mptcp", "endpoint", "show"]) || "[]");
  return (rows as Record<string, unknown>[]).map((r) => ({
    id: r.id as number,
    address: r.address as string,
    ...(r.port ? { port: r.port as number } : {}),
    ...(r.dev ? { dev: r.dev as string } : {}),
    flags: [
      ...IP_FLAGS.filter((f) => r[f] === true),
      ...(r.rawflags ? [`raw:${r.rawflags}`] : []),
    ],
  })).sort((a, b) => a.address.localeCompare(b.address) || (a.port ?? 0) - (b.port ?? 0));
}

/**
 * The same without ids, for comparing with a spec.
 *
 * @example Comparing with a spec
 * ```ts
 * assert.deepEqual(await ipEndpointsNoId(ns), [{ address: "10.9.0.1", flags: ["subflow"] }]);
 * ```
 */
export async function ipEndpointsNoId(ns: ScratchNetns): Promise<Omit<IpEndpoint, "id">[]> {
  return (await ipEndpoints(ns)).map(({ id: _id, ...rest }) => rest);
}

/**
 * `ip mptcp limits show`, parsed.
 *
 * @example Checking applied limits
 * ```ts
 * assert.deepEqual(await ipLimits(ns), { subflows: 3, addAddrAccepted: 2 });
 * ```
 */
export async function ipLimits(
  ns: ScratchNetns,
): Promise<{ subflows: number; addAddrAccepted: number }> {
  const text = await ns.exec(["ip", "mptcp", "limits", "show"]);
  const read = (key: string) => Number(new RegExp(`${key} (\\d+)`).exec(text)?.[1]);
  return { subflows: read("subflows"), addAddrAccepted: read("add_addr_accepted") };
}

/**
 * `sysctl -n NAME` inside the netns.
 *
 * @example Checking a per-netns sysctl
 * ```ts
 * assert.equal(await ipSysctl(ns, "net.mptcp.enabled"), "1");
 * ```
 */
export async function ipSysctl(ns: ScratchNetns, name: string): Promise<string> {
  return (await ns.exec(["sysctl", "-n", name])).trim();
}

/**
 * The netns's path manager as iproute2's sysctl reads it: `net.mptcp.path_manager`
 * on Linux ≥ 6.15, else the older `net.mptcp.pm_type` (0 kernel, 1 userspace).
 *
 * @example
 * ```ts
 * assert.equal(await ipPathManagerMode(ns), "userspace");
 * ```
 */
export async function ipPathManagerMode(ns: ScratchNetns): Promise<string> {
  try {
    return await ipSysctl(ns, "net.mptcp.path_manager");
  } catch {
    const pmType = await ipSysctl(ns, "net.mptcp.pm_type");
    return pmType === "1" ? "userspace" : pmType === "0" ? "kernel" : `pm_type ${pmType}`;
  }
}

/**
 * Writes a stack file holding PathManagers with the given specs; returns its
 * path. The caller removes it.
 *
 * @example A one-resource stack for the CLI
 * ```ts
 * const file = await writeStackFile("t1", { pm: { netns: ns.path, endpoints: [] } });
 * ```
 */
export async function writeStackFile(
  stack: string,
  resources: Record<string, PathManagerSpecInput>,
): Promise<string> {
  const file = await Deno.makeTempFile({ prefix: "sf-pm-stack-", suffix: ".ts" });
  const list = Object.entries(resources)
    .map(([name, spec]) => `new PathManager(${JSON.stringify(name)}, ${JSON.stringify(spec)})`);
  await Deno.writeTextFile(
    file,
    `import { PathManager, Stack } from "${MOD}";\n` +
      `export default new Stack(${JSON.stringify(stack)}, [${list.join(", ")}]);\n`,
  );
  return file;
}

/** What one CLI run printed and its exit code. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `deno run -A main.ts ARGS --no-color` with extra env.
 *
 * @example A detailed-exitcode plan
 * ```ts
 * const r = await cli(["plan", "--detailed-exitcode", "-s", file, "--state-root", root]);
 * ```
 */
export async function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  // In the VM tier, a run that needs no environment of its own stays in-process.
  if (cliInProcess() && Object.keys(env).length === 0) return await runCliInProcess(args);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args, "--no-color"],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

/** A netns with two veths (IPv4 on both, IPv6 on veth0) and everything torn down at the end. */
export async function scratch(res: TestResources): Promise<{ ns: ScratchNetns; root: string }> {
  const fs = privateBpffs();
  res.defer("unmount bpffs", () => fs.cleanup());
  const ns = await netnsWithTwoVeths(res, "sf-pmk");
  return { ns, root: fs.root };
}

/** A stack `name` with one PathManager `pm`. */
export function stackOf(name: string, spec: PathManagerSpecInput): Stack {
  return new Stack(name, [new PathManager("pm", spec)]);
}

/** plan() must refuse `stack` with a PlanError on `field` whose message matches. */
export async function planError(stack: Stack, root: string, field: string, message: RegExp) {
  await assert.rejects(plan(stack, kernelStore(root)), (e: unknown) => {
    assert.ok(e instanceof PlanError, String(e));
    assert.equal(e.field, field, e.message);
    assert.match(e.message, message);
    return true;
  });
}
