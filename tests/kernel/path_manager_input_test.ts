// PathManager's plan-time refusals on a real kernel, each naming the field:
// addresses no interface carries, unknown devs, limits above the kernel's
// maximum, a missing netns, duplicates, fullmesh+signal, and the laminar flag
// (applied on Linux ≥ 6.18, refused with the requirement before). Also run in
// the Debian 6.12 VM (tests/vm/guest/path_manager_stock_test.ts).
import assert from "node:assert/strict";
import { applyStack, destroyStack, kernelStore } from "../../mod.ts";
import type { PathManagerSpecInput } from "../../resources/path_manager.ts";
import { SpecError } from "../../engine/errors.ts";
import { TestResources } from "../helpers/netns.ts";
import { ipEndpoints, planError, scratch, stackOf } from "../helpers/path_manager.ts";

Deno.test("PathManager: bad input is refused at plan time naming the field", async (t) => {
  await using res = new TestResources();
  const { ns, root } = await scratch(res);
  const at = (spec: Omit<PathManagerSpecInput, "netns">) =>
    stackOf("bad", { netns: ns.path, ...spec });
  await t.step(
    "an address no interface carries",
    () =>
      planError(
        at({ endpoints: [{ address: "10.9.7.7" }] }),
        root,
        "endpoints[0].address",
        /no interface in .* carries 10\.9\.7\.7/,
      ),
  );
  await t.step(
    "a dev that does not exist",
    () =>
      planError(
        at({ endpoints: [{ address: "10.9.0.1", dev: "veth9" }] }),
        root,
        "endpoints[0].dev",
        /no interface veth9 .*veth0, veth1/,
      ),
  );
  await t.step(
    "limits above the kernel's maximum",
    () =>
      planError(
        at({ limits: { subflows: 9 } }),
        root,
        "limits.subflows",
        /9 is above the kernel's maximum \(8\)/,
      ),
  );
  await t.step(
    "a netns that does not exist",
    () =>
      planError(
        stackOf("bad", { netns: "/run/netns/sf-no-such-netns" }),
        root,
        "netns",
        /does not exist/,
      ),
  );
  await t.step("duplicates and fullmesh+signal are spec errors", () => {
    assert.throws(
      () => at({ endpoints: [{ address: "10.9.0.1" }, { address: "10.9.0.1" }] }),
      SpecError,
    );
    assert.throws(
      () => at({ endpoints: [{ address: "10.9.0.1", id: 3 }, { address: "10.9.1.1", id: 3 }] }),
      SpecError,
    );
    assert.throws(
      () => at({ endpoints: [{ address: "10.9.0.1", flags: ["signal", "fullmesh"] }] }),
      SpecError,
    );
  });
  await t.step(
    "laminar: applied on Linux ≥ 6.18, refused with the requirement before",
    async () => {
      const [major, minor] = Deno.osRelease().split(".").map(Number);
      const stack = at({ endpoints: [{ address: "10.9.0.1", flags: ["signal", "laminar"] }] });
      if (major < 6 || (major === 6 && minor < 18)) {
        return planError(stack, root, "endpoints[0].flags", /laminar .*Linux ≥ 6\.18/);
      }
      await applyStack(stack, kernelStore(root));
      assert.deepEqual((await ipEndpoints(ns)).map((e) => e.flags), [["signal", "raw:20"]]);
      await destroyStack(stack, kernelStore(root));
    },
  );
});
