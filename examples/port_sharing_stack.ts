/**
 * Example stack: two services share port 80 on disjoint prefixes, and a
 * proxy takes every port of a third prefix. Apply it with
 * `SOCKFORM_DEMO_NETNS=/run/netns/NAME deno run -A main.ts apply -s examples/port_sharing_stack.ts`.
 *
 * @module
 */
import { SocketLookupRedirect, Stack } from "../mod.ts";

/**
 * The demo's redirect: 192.0.2.0/24:80 → "blue", 198.51.100.0/24:80 → "green",
 * 203.0.113.0/24 on any port → "blue" too.
 *
 * @example
 * ```ts
 * const stack = portSharingStack("/run/netns/lab");
 * ```
 */
export function portSharingStack(netns: string): Stack {
  return new Stack("demo", [
    new SocketLookupRedirect("web", {
      netns,
      bindings: [
        { protocol: "tcp", prefix: "192.0.2.0/24", ports: 80, to: "blue" },
        { protocol: "tcp", prefix: "198.51.100.0/24", ports: 80, to: "green" },
        { protocol: "tcp", prefix: "203.0.113.0/24", ports: "all", to: "blue" },
      ],
      destinations: {
        blue: { listener: "tcp://127.0.0.1:8001" },
        green: { listener: "tcp://127.0.0.1:8002" },
      },
    }),
  ]);
}

export default portSharingStack(Deno.env.get("SOCKFORM_DEMO_NETNS") ?? "/run/netns/sockform-demo");
