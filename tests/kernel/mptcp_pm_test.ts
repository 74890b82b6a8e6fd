// The mptcp_pm netlink provider against a real kernel, read back independently
// with iproute2 (`ip mptcp ...` run through `ip netns exec`).
import assert from "node:assert/strict";
import { KernelCallError } from "../../providers/system/errno.ts";
import { listInterfaces } from "../../providers/system/interfaces.ts";
import {
  getLimits,
  listEndpoints,
  type MptcpEndpoint,
  MptcpPm,
  probeLimitMax,
  UPSTREAM_LIMIT_MAX,
  withMptcpPm,
} from "../../providers/netlink/mptcp_pm.ts";
import { readSysctl, writeSysctl } from "../../providers/system/sysctl.ts";
import { netnsWithTwoVeths, type ScratchNetns, TestResources } from "../helpers/netns.ts";

/** What iproute2 6.1 prints per endpoint with `-j`; unknown flag bits go to rawflags. */
interface IpEndpoint {
  address: string;
  id: number;
  port?: number;
  dev?: string;
  rawflags?: string;
  [flag: string]: unknown;
}

const KNOWN_IP_FLAGS = ["signal", "subflow", "backup", "fullmesh", "implicit"];

async function ipEndpoints(ns: ScratchNetns): Promise<IpEndpoint[]> {
  return JSON.parse(await ns.exec(["ip", "-j", "mptcp", "endpoint", "show"]) || "[]");
}

/** Our endpoint as iproute2 shows it, so the two can be compared field by field. */
function asIpSees(ep: MptcpEndpoint, devByIndex: Map<number, string>): IpEndpoint {
  const seen: IpEndpoint = { address: ep.address, id: ep.id };
  if (ep.port) seen.port = ep.port;
  for (const f of ep.flags.filter((f) => KNOWN_IP_FLAGS.includes(f))) seen[f] = true;
  if (ep.ifindex) seen.dev = devByIndex.get(ep.ifindex);
  if (ep.flags.includes("laminar")) seen.rawflags = "20";
  return seen;
}

async function ipLimits(ns: ScratchNetns): Promise<{ subflows: number; addAddrAccepted: number }> {
  const text = await ns.exec(["ip", "mptcp", "limits", "show"]);
  const read = (key: string) => Number(new RegExp(`${key} (\\d+)`).exec(text)?.[1]);
  return { subflows: read("subflows"), addAddrAccepted: read("add_addr_accepted") };
}

function kernelAtLeast(major: number, minor: number): boolean {
  const [maj, min] = Deno.osRelease().split(/[.-]/).map(Number);
  return maj > major || (maj === major && min >= minor);
}

async function twoNetnsWithVeths(res: TestResources) {
  const ns = await netnsWithTwoVeths(res, "sf-pm");
  const devByIndex = new Map((await listInterfaces(ns.path)).map((i) => [i.ifindex, i.name]));
  return { ns, devByIndex };
}

Deno.test("mptcp_pm endpoints and limits agree with iproute2 in a fresh netns", async (t) => {
  await using res = new TestResources();
  const hostBefore = listEndpoints();
  const { ns, devByIndex } = await twoNetnsWithVeths(res);
  const veth0 = [...devByIndex].find(([, name]) => name === "veth0")![0];
  using pm = MptcpPm.open(ns.path);

  let added: MptcpEndpoint[] = [];
  await t.step("added endpoints read back the same through iproute2", async () => {
    const requests = [
      { address: "10.9.0.1", flags: ["subflow"], ifindex: veth0 },
      { id: 7, address: "10.9.1.1", port: 8443, flags: ["signal"] },
      { address: "fd00:9::1", flags: ["signal", "backup"] },
    ];
    added = requests.map((r) => pm.addEndpoint(r));
    assert.deepEqual(pm.listEndpoints(), added);
    // Expected from the requests, not from what the kernel returned, so an
    // encoding bug that decodes back symmetrically still fails here.
    const expected = requests.map((r, i) =>
      asIpSees({ ...r, id: added[i].id, family: "ipv4" }, devByIndex)
    );
    const byId = (a: { id: number }, b: { id: number }) => a.id - b.id;
    assert.deepEqual((await ipEndpoints(ns)).sort(byId), expected.sort(byId));
    assert.equal(added[1].id, 7);
    assert.equal((await ipEndpoints(ns)).find((e) => e.id === 7)?.port, 8443);
    assert.equal((await ipEndpoints(ns)).find((e) => e.id === added[0].id)?.dev, "veth0");
  });

  await t.step("an endpoint added by iproute2 shows up in listEndpoints()", async () => {
    await ns.exec(["ip", "mptcp", "endpoint", "add", "10.9.1.1", "id", "20", "subflow"]);
    const found = listEndpoints(ns.path).find((ep) => ep.id === 20);
    assert.deepEqual(found, { id: 20, address: "10.9.1.1", family: "ipv4", flags: ["subflow"] });
  });

  await t.step("setEndpointFlags() toggles backup in place, keeping the id", async () => {
    pm.setEndpointFlags({ id: 20 }, ["subflow", "backup"]);
    const shown = (await ipEndpoints(ns)).find((ep) => ep.id === 20);
    assert.equal(shown?.backup, true);
    pm.setEndpointFlags({ address: "10.9.1.1" }, ["subflow"]);
    assert.deepEqual(pm.listEndpoints().find((ep) => ep.id === 20)?.flags, ["subflow"]);
  });

  await t.step("deleteEndpoint() removes exactly that endpoint", async () => {
    pm.deleteEndpoint(20);
    pm.deleteEndpoint({ id: 7 });
    const remaining = (await ipEndpoints(ns)).map((ep) => ep.id).sort();
    assert.deepEqual(remaining, [added[0].id, added[2].id].sort());
  });

  await t.step("limits round-trip through SET_LIMITS, GET_LIMITS and iproute2", async () => {
    pm.setLimits({ subflows: 3, addAddrAccepted: 5 });
    assert.deepEqual(getLimits(ns.path), { subflows: 3, addAddrAccepted: 5 });
    assert.deepEqual(await ipLimits(ns), { subflows: 3, addAddrAccepted: 5 });
    pm.setLimits({ subflows: 1 });
    assert.deepEqual(await ipLimits(ns), { subflows: 1, addAddrAccepted: 5 });
  });

  await t.step("probeLimitMax() reads the kernel maximum and changes nothing", () => {
    assert.equal(probeLimitMax(ns.path), UPSTREAM_LIMIT_MAX);
    assert.deepEqual(pm.getLimits(), { subflows: 1, addAddrAccepted: 5 });
  });

  await t.step("kernel refusals carry the extended-ack text", () => {
    assert.throws(
      () => pm.addEndpoint({ address: "10.9.0.1", flags: ["subflow"] }),
      (err: unknown) =>
        err instanceof KernelCallError && err.errno === 17 &&
        /^mptcp_pm ADD_ADDR: EEXIST \(File exists: .*duplicate/.test(err.message),
    );
    assert.throws(
      () => pm.setLimits({ subflows: UPSTREAM_LIMIT_MAX + 1 }),
      (err: unknown) =>
        err instanceof KernelCallError && err.errno === 22 &&
        err.message.includes("limit greater than maximum (8)"),
    );
  });

  await t.step("the laminar flag (Linux 6.18) round-trips", async (st) => {
    if (!kernelAtLeast(6, 18)) {
      await st.step({ name: "skipped: laminar needs Linux ≥ 6.18", ignore: true, fn: () => {} });
      return;
    }
    const ep = pm.addEndpoint({
      id: 30,
      address: "10.9.0.1",
      port: 9000,
      flags: ["signal", "laminar"],
    });
    assert.deepEqual(ep.flags, ["signal", "laminar"]);
    assert.equal((await ipEndpoints(ns)).find((e) => e.id === 30)?.rawflags, "20");
  });

  await t.step("nothing leaked into the caller's netns", () => {
    assert.deepEqual(listEndpoints(), hostBefore);
  });
});

Deno.test("sysctls are read and written per netns", async () => {
  await using res = new TestResources();
  const ns = await res.netns("sf-sysctl");
  const hostValue = readSysctl("net.mptcp.enabled");
  writeSysctl("net.mptcp.enabled", false, ns.path);
  assert.equal(readSysctl("net.mptcp.enabled", ns.path), "0");
  assert.equal((await ns.exec(["sysctl", "-n", "net.mptcp.enabled"])).trim(), "0");
  assert.equal(readSysctl("net.mptcp.enabled"), hostValue);
  writeSysctl("net.mptcp.add_addr_timeout", 42, ns.path);
  assert.equal((await ns.exec(["sysctl", "-n", "net.mptcp.add_addr_timeout"])).trim(), "42");
});

Deno.test("a genl socket opened in a netns stays there when used from outside", async () => {
  await using res = new TestResources();
  const ns = await res.netns("sf-genl");
  const host = getLimits();
  const target = host.subflows === 4 ? 5 : 4;
  await ns.exec(["ip", "mptcp", "limits", "set", "subflows", String(target)]);
  assert.equal(withMptcpPm(ns.path, (pm) => pm.getLimits()).subflows, target);
  assert.deepEqual(getLimits(), host);
});
