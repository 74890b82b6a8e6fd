/**
 * A writer in its own process for the lock tests: takes the stack lock the
 * way apply does (`openStack` + `lock`), logs `enter <tag>`, holds the lock
 * until `<release>` exists, logs `exit <tag>` and unlocks.
 *
 * Usage: `deno run -A lock_holder.ts <stateRoot> <stack> <log> <release> <tag>`
 *
 * @module
 */
import { kernelStore } from "../../providers/state/kernel_store.ts";
import { pathExists } from "../../providers/state/pin_dir.ts";

const [root, stackName, log, release, tag] = Deno.args;
const store = kernelStore(root);
const unlock = await store.lock(store.openStack(stackName));
Deno.writeTextFileSync(log, `enter ${tag}\n`, { append: true });
console.log("entered");
// Bounded: a test that never releases still ends.
for (let i = 0; i < 600 && !pathExists(release); i++) {
  await new Promise((r) => setTimeout(r, 50));
}
Deno.writeTextFileSync(log, `exit ${tag}\n`, { append: true });
unlock();
