/**
 * One-resource SocketLookupRedirect stacks on a lab netns, for kernel tests
 * that apply several versions of the same resource.
 *
 * @module
 */
import { SocketLookupRedirect, Stack } from "../../mod.ts";
import type { SocketLookupRedirectSpecInput } from "../../resources/socket_lookup_redirect.ts";
import type { SlrLab } from "./slr_lab.ts";

/** A spec without its netns (the lab's is filled in). */
export type SlrStackSpec = Omit<SocketLookupRedirectSpecInput, "netns">;

/**
 * Stack `name` holding one SocketLookupRedirect `resource` on the lab's netns.
 *
 * @example An empty resource on a lab
 * ```ts
 * const s = slrStack(lab, { bindings: [], destinations: {} });
 * ```
 */
export function slrStack(lab: SlrLab, spec: SlrStackSpec, name = "hit", resource = "web"): Stack {
  return new Stack(name, [new SocketLookupRedirect(resource, { ...spec, netns: lab.path })]);
}
