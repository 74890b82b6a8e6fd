/**
 * Who else traces the function a tracing resource hooks (MptcpifyHook's
 * fmod_ret on update_socket_protocol): every tracing link whose target is
 * that function's BTF id, except the resource's own.
 *
 * @module
 */
import { listLinks } from "./info.ts";
import { BPF_LINK_TYPE_TRACING, BPF_MODIFY_RETURN, traceAttachName } from "./uapi.ts";
import { classify, type HookView, orWarn } from "./attachments.ts";
import { btfFunctionIds, VMLINUX_BTF } from "../system/btf.ts";
import type { DriverContext, ForeignProgram, ResourceRef } from "../../engine/types.ts";

function traceEffect(attachType: number) {
  return (): { canOverride: boolean; effect: string } =>
    attachType === BPF_MODIFY_RETURN
      ? {
        canOverride: true,
        effect:
          "fmod_ret on the same function: the first program returning non-zero decides the protocol and skips the rest",
      }
      : {
        canOverride: false,
        effect: `${
          traceAttachName(attachType)
        } on the same function: it observes sockets but cannot change the protocol`,
      };
}

/**
 * Foreign tracing programs on kernel function `fn` (default
 * update_socket_protocol), as the kernel lists its tracing links.
 *
 * @example From MptcpifyHook's `foreign` hook
 * ```ts
 * // needs a kernel: type-checked by deno test --doc, not run
 * import type { DriverContext, ResourceRef } from "../../engine/types.ts";
 *
 * function hookForeign(ctx: DriverContext, ref: ResourceRef) {
 *   return foreignOnFunction(ctx, ref);
 * }
 * ```
 */
export function foreignOnFunction(
  ctx: DriverContext,
  ref: ResourceRef,
  fn = "update_socket_protocol",
  btfPath = VMLINUX_BTF,
): ForeignProgram[] {
  let ids: number[];
  try {
    ids = btfFunctionIds(Deno.readFileSync(btfPath), fn);
  } catch {
    return []; // no BTF: nothing can trace it
  }
  return orWarn(ctx, `function ${fn}`, () => tracers(ctx, ref, fn, ids));
}

function tracers(ctx: DriverContext, ref: ResourceRef, fn: string, ids: number[]) {
  const links = listLinks().filter((l) =>
    l.type === BPF_LINK_TYPE_TRACING && ids.includes(l.targetBtfId)
  );
  const out: ForeignProgram[] = [];
  // The trampoline's run order is the kernel's to choose: "unknown" for all.
  for (const l of links) {
    const view: HookView = {
      hook: "fmod_ret",
      progs: [{ id: l.progId, target: `function ${fn}`, runs: "unknown" }],
      effect: traceEffect(l.attachType),
    };
    out.push(
      ...classify(ctx, ref, view).map((f) => ({
        ...f,
        hook: traceAttachName(l.attachType),
      })),
    );
  }
  return out;
}
