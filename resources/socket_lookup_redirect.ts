/**
 * SocketLookupRedirect: steer new connections and unconnected UDP datagrams to
 * chosen sockets within one network namespace, with BPF sk_lookup.
 *
 * @module
 */
import type { Change, Observed, Resource } from "../engine/types.ts";
import type { SlrMetaExtra } from "./socket_lookup_redirect/ids.ts";
import { onePerTarget, type StackRule } from "../engine/stack.ts";
import { SpecError } from "../engine/errors.ts";
import { checkedSpec } from "../engine/diagnostics.ts";
import { parseSpec } from "./common/zod_errors.ts";
import {
  socketLookupRedirectSchema,
  type SocketLookupRedirectSpecInput,
} from "./socket_lookup_redirect/schema.ts";
import {
  bindingEntries,
  destinationIds,
  type Entry,
  MAX_DESTINATIONS,
  MAX_ENTRIES,
} from "./socket_lookup_redirect/entries.ts";
import {
  diffSocketLookupRedirect,
  type SlrDesired,
  type SlrState,
} from "./socket_lookup_redirect/diff.ts";

export type { SlrDesired, SlrState } from "./socket_lookup_redirect/diff.ts";
export type {
  Binding,
  Destination,
  ListenerDestination,
  ProcessDestination,
  SocketLookupRedirectSpecInput,
} from "./socket_lookup_redirect/schema.ts";

/** The validated spec: the same shape as written. */
export type SocketLookupRedirectSpec = SocketLookupRedirectSpecInput;

/**
 * Declares how connections to local addresses are dispatched in one netns.
 * Bindings match protocol + destination prefix + port; a specific port beats
 * `"all"`, and within that the longest prefix wins. Destinations are listening
 * sockets found by address (`listener`) or taken from a process (`pid`, `fd`).
 * A connection bound to a destination that has no socket is refused, unless
 * the destination says `fallthrough: true` (then the kernel's normal lookup
 * takes it, and with it anyone else listening on the port).
 *
 * @example Port sharing on disjoint prefixes
 * ```ts
 * new SocketLookupRedirect("web", {
 *   netns: "/run/netns/lab",
 *   bindings: [
 *     { protocol: "tcp", prefix: "192.0.2.0/24", ports: 80, to: "nginx" },
 *     { protocol: "tcp", prefix: "198.51.100.0/24", ports: 80, to: "apache" },
 *   ],
 *   destinations: {
 *     nginx: { listener: "tcp://127.0.0.1:8080" },
 *     apache: { listener: "tcp://127.0.0.1:8081" },
 *   },
 * });
 * ```
 */
export class SocketLookupRedirect
  implements Resource<SocketLookupRedirectSpec, SlrDesired, SlrState, SlrMetaExtra> {
  /** The kind's name, as plans and state directories spell it. */
  static readonly kind = "SocketLookupRedirect";
  /** The kind's rules across a stack's resources, checked by `Stack.validate`. */
  static readonly stackRules: readonly StackRule[] = [
    onePerTarget(
      SocketLookupRedirect,
      "netns",
      (r) => r.spec.netns ?? "(caller's netns)",
      "one sk_lookup program per netns",
    ),
  ];
  readonly kind: "SocketLookupRedirect" = SocketLookupRedirect.kind;
  readonly stackRules: readonly StackRule[] = SocketLookupRedirect.stackRules;
  readonly spec: SocketLookupRedirectSpec;
  readonly dependsOn: readonly string[];

  /** `name` is unique in the stack; `spec` is validated here (a bad one throws `SpecError`); `dependsOn` names resources to apply first. */
  constructor(
    readonly name: string,
    spec: SocketLookupRedirectSpecInput,
    opts: { dependsOn?: string[] } = {},
  ) {
    this.dependsOn = opts.dependsOn ?? [];
    this.spec = checkedSpec(this, spec, () => this.#checked(spec));
  }

  /** The parsed spec, refused when it exceeds what the maps hold. */
  #checked(input: SocketLookupRedirectSpecInput): SocketLookupRedirectSpec {
    const spec = parseSpec(socketLookupRedirectSchema, input, this.name);
    const labels = Object.keys(spec.destinations);
    if (labels.length > MAX_DESTINATIONS) {
      throw new SpecError(this.name, [{
        path: "destinations",
        message: `at most ${MAX_DESTINATIONS} destinations`,
      }]);
    }
    this.#entries = this.#entriesOf(spec);
    const count = this.#entries.length;
    if (count > MAX_ENTRIES) {
      throw new SpecError(this.name, [{
        path: "bindings",
        message: `expand to ${count} map entries; the map holds ${MAX_ENTRIES}`,
      }]);
    }
    return spec;
  }

  /** Destination label → SOCKHASH key. */
  destinationIds(): Map<string, number> {
    return destinationIds(Object.keys(this.spec.destinations));
  }

  #entries?: Entry[];

  /** The LPM trie entries the bindings expand to (computed once: the spec is immutable). */
  entries(): Entry[] {
    return this.#entries ??= this.#entriesOf(this.spec);
  }

  #entriesOf(spec: SocketLookupRedirectSpec): Entry[] {
    const fallthrough = Object.entries(spec.destinations)
      .filter(([, d]) => d.fallthrough).map(([label]) => label);
    const ids = destinationIds(Object.keys(spec.destinations));
    return bindingEntries(spec.bindings, ids, new Set(fallthrough));
  }

  /** Pure diff between the kernel and the resolved desired state. */
  diff(observed: Observed<SlrState, SlrMetaExtra> | null, desired: SlrDesired): Change[] {
    return diffSocketLookupRedirect(observed, desired);
  }
}
