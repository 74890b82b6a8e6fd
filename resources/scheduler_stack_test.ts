// A Scheduler follows the PathManager of its netns without `dependsOn`:
// the role mode and the endpoints are the PathManager's, so plan applies it
// first (and destroys it after).
import assert from "node:assert/strict";
import { Scheduler } from "./scheduler.ts";
import { PathManager } from "./path_manager.ts";
import { Stack } from "../engine/stack.ts";

Deno.test("a Scheduler follows the PathManager of the same netns, and only that one", () => {
  const pm = (name: string, netns?: string) =>
    new PathManager(name, { ...(netns ? { netns } : {}), mode: "userspace", endpoints: [] });
  const sched = (netns?: string, dependsOn: string[] = []) =>
    new Scheduler("s", { ...(netns ? { netns } : {}) }, { dependsOn });
  const order = (...r: (Scheduler | PathManager)[]) =>
    new Stack("x", r).ordered().map((x) => x.name);
  assert.deepEqual(order(sched("/run/netns/c"), pm("pm", "/run/netns/c")), ["pm", "s"]);
  assert.deepEqual(order(sched(), pm("pm")), ["pm", "s"], "both in the caller's netns");
  assert.deepEqual(order(sched("/run/netns/c"), pm("other", "/run/netns/d")), ["s", "other"]);
  assert.throws(
    () =>
      order(
        sched("/run/netns/c"),
        new PathManager("pm", {
          netns: "/run/netns/c",
          endpoints: [],
        }, { dependsOn: ["s"] }),
      ),
    /cycle: /,
    "an implied dependency closes a cycle",
  );
});
