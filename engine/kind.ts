/**
 * A resource kind as one typed definition: the resource class (pure: spec,
 * diff, stack rules) paired with the driver that makes it so in the kernel.
 * providers/kinds.ts lists every kind; nothing registers itself on import.
 *
 * @module
 */
import type { KindDriver, Resource, StackRule } from "./types.ts";

/** A resource class as a kind needs it: its instances, kind name and stack rules. */
export interface ResourceClass<R extends Resource> {
  readonly kind: string;
  readonly stackRules?: readonly StackRule[];
  readonly prototype: R;
}

/** One kind: a resource class and its driver, typed together. */
export interface Kind<
  R extends Resource<unknown, Desired, State, Extra> = Resource,
  Desired = unknown,
  State = unknown,
  Extra = unknown,
> {
  readonly name: string;
  readonly resource: ResourceClass<R>;
  readonly driver: KindDriver<R, Desired, State, Extra>;
  readonly stackRules: readonly StackRule[];
}

/**
 * Pairs a resource class with its driver; both must name the same kind.
 *
 * @example The TcpTuning kind
 * ```ts
 * import { TcpTuning } from "../mod.ts";
 * import { tcpTuningDriver } from "../providers/tcp_tuning/driver.ts";
 *
 * const tcpTuningKind = defineKind(TcpTuning, tcpTuningDriver);
 * ```
 */
export function defineKind<
  R extends Resource<unknown, Desired, State, Extra>,
  Desired,
  State,
  Extra,
>(
  resource: ResourceClass<R>,
  driver: KindDriver<R, Desired, State, Extra>,
): Kind<R, Desired, State, Extra> {
  if (resource.kind !== driver.kind) {
    throw new Error(`kind ${resource.kind} paired with the driver of ${driver.kind}`);
  }
  return { name: resource.kind, resource, driver, stackRules: resource.stackRules ?? [] };
}
