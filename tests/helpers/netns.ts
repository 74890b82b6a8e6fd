/**
 * Test helpers for throw-away network namespaces and veth pairs. The code
 * lives in lab/netns_kit.ts (the demo and the benchmark use it too);
 * this module adds a registry a test disposes of in `finally` or with
 * `await using`.
 *
 * @module
 */
import {
  CleanupStack,
  createNetns,
  createVethPair,
  type ScratchNetns,
  type VethEnd,
  type VethPair,
} from "../../lab/netns_kit.ts";

export {
  CleanupStack,
  createNetns,
  createVethPair,
  deleteNetns,
  type ScratchNetns,
  type VethEnd,
  type VethPair,
} from "../../lab/netns_kit.ts";

/**
 * Everything one test creates, removed newest-first when the test ends,
 * whether it passed or threw.
 *
 * @example A netns with one veth pair to a peer netns
 * ```ts
 * await using res = new TestResources();
 * const a = await res.netns("sf-pm");
 * const b = await res.netns("sf-pm-peer");
 * await res.veth({ netns: a, name: "veth0", addresses: ["10.9.0.1/24"] }, {
 *   netns: b,
 *   name: "veth0",
 *   addresses: ["10.9.0.2/24"],
 * });
 * ```
 */
export class TestResources extends CleanupStack {
  /** Creates a netns (`<prefix>-<random>`, lo up) that is deleted at the end. */
  async netns(prefix = "sf-test"): Promise<ScratchNetns> {
    const ns = await createNetns(prefix);
    return this.track(ns, `delete netns ${ns.name}`);
  }

  /** Creates a veth pair that is deleted at the end. */
  async veth(a: VethEnd, b: VethEnd): Promise<VethPair> {
    return this.track(await createVethPair(a, b), `delete veth ${a.name}`);
  }
}

/**
 * A netns joined to a peer by two veths: veth0 carries 10.9.0.1/24 and
 * fd00:9::1/64, veth1 10.9.1.1/24 (the peer has .2). Shared by the mptcp_pm
 * and PathManager kernel tests; `res` tears everything down.
 *
 * @example
 * ```ts
 * await using res = new TestResources();
 * const ns = await netnsWithTwoVeths(res, "sf-pm");
 * ```
 */
export async function netnsWithTwoVeths(res: TestResources, prefix: string): Promise<ScratchNetns> {
  const ns = await res.netns(prefix);
  const peer = await res.netns(`${prefix}-peer`);
  await res.veth(
    { netns: ns, name: "veth0", addresses: ["10.9.0.1/24", "fd00:9::1/64"] },
    { netns: peer, name: "veth0", addresses: ["10.9.0.2/24"] },
  );
  await res.veth(
    { netns: ns, name: "veth1", addresses: ["10.9.1.1/24"] },
    { netns: peer, name: "veth1", addresses: ["10.9.1.2/24"] },
  );
  return ns;
}
