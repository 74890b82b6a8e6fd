/**
 * One Scheduler per netns across stacks: the state root is read for another
 * stack's Scheduler whose metadata names the same netns inode.
 *
 * @module
 */
import type { DriverContext } from "../../engine/types.ts";
import { PlanError } from "../../engine/errors.ts";
import type { Scheduler } from "../../resources/scheduler.ts";
import { upgradeSchedExtra } from "../../resources/scheduler/types.ts";
import { readMeta } from "../state/meta.ts";

function dirNames(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].filter((e) => e.isDirectory).map((e) => e.name);
  } catch {
    return [];
  }
}

/**
 * Throws when a Scheduler of another stack under the same state root manages
 * the netns with inode `netnsIno`.
 *
 * @example
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { DriverContext } from "../../engine/types.ts";
 * import type { Scheduler } from "../../resources/scheduler.ts";
 * import { netnsInode } from "../system/netns.ts";
 *
 * function check(ctx: DriverContext, resource: Scheduler): void {
 *   checkForeignOwner(ctx, resource, netnsInode("/run/netns/client"));
 * }
 * ```
 */
export function checkForeignOwner(ctx: DriverContext, r: Scheduler, netnsIno: number): void {
  const cut = ctx.stackDir.lastIndexOf("/");
  const root = ctx.stackDir.slice(0, cut);
  const ours = ctx.stackDir.slice(cut + 1);
  for (const stack of dirNames(root)) {
    if (stack === ours) continue;
    for (const name of dirNames(`${root}/${stack}`)) {
      const meta = readMeta(`${root}/${stack}/${name}`);
      if (meta?.kind !== r.kind) continue;
      if (upgradeSchedExtra(meta.extra, meta.schema ?? 0)?.netnsIno !== netnsIno) continue;
      throw new PlanError(
        r.name,
        "netns",
        `already managed by Scheduler "${name}" of stack "${stack}" (one scheduler per netns)`,
      );
    }
  }
}
