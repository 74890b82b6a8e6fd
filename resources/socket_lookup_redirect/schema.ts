/**
 * The SocketLookupRedirect spec: zod schema plus the cross-field rules
 * (labels, families, overlaps) reported with field paths.
 *
 * @module
 */
import { z } from "../../deps.ts";
import { type Cidr, cidrContains, parseCidr } from "../common/cidr.ts";
import { parseIPv4, parseIPv6 } from "../common/inet.ts";

const port = z.number().int().min(1, "ports must be 1–65535").max(65535, "ports must be 1–65535");

const portsSchema = z.union([
  port,
  z.literal("all"),
  z.tuple([port, port]).refine(([lo, hi]) => lo <= hi, "port range [lo, hi] needs lo ≤ hi"),
], { error: 'ports must be a port (1–65535), a range [lo, hi], or "all"' });

const bindingSchema = z.object({
  protocol: z.enum(["tcp", "udp"]),
  prefix: z.string(),
  ports: portsSchema,
  to: z.string().min(1),
}).strict();

const listenerUrl = /^(tcp|udp):\/\/(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)):(\d{1,5})$/;

/**
 * `fallthrough: true` opts a destination in to falling through to the
 * kernel's normal lookup while it has no socket. By default such connections
 * are refused: falling through hands them to whatever else listens on the port.
 */
const fallthrough = z.boolean({ error: "fallthrough must be true or false" }).optional();

const destinationSchema = z.union([
  z.object({
    listener: z.string().regex(
      listenerUrl,
      "listener must look like tcp://HOST:PORT or udp://[V6]:PORT",
    ),
    fallthrough,
  }).strict(),
  z.object({
    pid: z.number().int().positive(),
    fd: z.number().int().nonnegative(),
    fallthrough,
  }).strict(),
], { error: "a destination is { listener: URL } or { pid, fd }, optionally with fallthrough" });

/** The raw (user) shape of a SocketLookupRedirect spec. */
export const socketLookupRedirectSchema = z.object({
  netns: z.string().startsWith("/", "netns must be an absolute path such as /run/netns/lab")
    .optional(),
  bindings: z.array(bindingSchema),
  destinations: z.record(
    z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, "labels are 1–64 of A-Z a-z 0-9 _ . -"),
    destinationSchema,
  ),
}).strict().superRefine(checkCrossFields);

// Written out (not z.input) so docs and editors show each field; the tests
// check both directions against the schema.
/** What users write; validation keeps this shape. */
export interface SocketLookupRedirectSpecInput {
  /** The netns to steer in, by path (e.g. `/run/netns/lab`); default: the caller's. */
  netns?: string;
  /** Which connections go where: a specific port beats `"all"`, then the longest prefix wins. */
  bindings: Binding[];
  /** Label (1–64 of `A-Z a-z 0-9 _ . -`) → the socket that receives them. */
  destinations: Record<string, Destination>;
}

/** One binding: protocol, local destination prefix and ports, and the label they go to. */
export interface Binding {
  /** `tcp` (new connections) or `udp` (unconnected datagrams). */
  protocol: "tcp" | "udp";
  /** Local destination prefix, e.g. `192.0.2.0/24` or `2001:db8::/64`. */
  prefix: string;
  /** One port, an inclusive range `[lo, hi]`, or `"all"`. */
  ports: number | "all" | [number, number];
  /** The destination label. */
  to: string;
}

/** A destination: a listening socket found by address, or one taken from a process. */
export type Destination = ListenerDestination | ProcessDestination;

/** A socket found by address in the target netns. */
export interface ListenerDestination {
  /** `tcp://HOST:PORT` or `udp://[V6]:PORT`. */
  listener: string;
  /** Fall through to the kernel's normal lookup while it has no socket (default: refuse). */
  fallthrough?: boolean;
}

/** A socket taken from a process (duplicated with `pidfd_getfd`). */
export interface ProcessDestination {
  /** The process's pid. */
  pid: number;
  /** The socket's fd in that process. */
  fd: number;
  /** Fall through to the kernel's normal lookup while it has no socket (default: refuse). */
  fallthrough?: boolean;
}

type Ctx = z.RefinementCtx;

function listenerFamily(url: string): { protocol: string; family: "ipv4" | "ipv6" } | null {
  const m = listenerUrl.exec(url);
  if (!m) return null;
  if (m[2] && parseIPv6(m[2])) return { protocol: m[1], family: "ipv6" };
  if (m[3] && parseIPv4(m[3])) return { protocol: m[1], family: "ipv4" };
  return null;
}

function portSet(ports: Binding["ports"]): [number, number] {
  if (ports === "all") return [0, 0];
  return typeof ports === "number" ? [ports, ports] : ports;
}

function overlaps(a: [number, number], b: [number, number]): boolean {
  if (a[0] === 0 || b[0] === 0) return a[0] === 0 && b[0] === 0;
  return a[0] <= b[1] && b[0] <= a[1];
}

const MAPPED_V4 = parseCidr("::ffff:0:0/96") as Cidr;

/**
 * IPv4 connections are looked up as IPv4 (the key's family byte), so an IPv6
 * prefix inside ::ffff:0:0/96 could never match anything: say so instead.
 */
function insideMappedV4(cidr: Cidr): boolean {
  return cidr.family === "ipv6" && cidrContains(MAPPED_V4, cidr);
}

/** The regex admits shapes such as tcp://999.1.1.1:99999; refuse them here, with their path. */
function checkListenerUrls(destinations: Record<string, Destination>, ctx: Ctx) {
  for (const [label, dest] of Object.entries(destinations)) {
    const m = "listener" in dest ? listenerUrl.exec(dest.listener) : null;
    if (!m || !("listener" in dest)) continue; // no listener, or the regex already complained
    const port = Number(m[4]);
    const problem = !listenerFamily(dest.listener)
      ? "is not a valid IPv4 address (or bracketed IPv6 address)"
      : port < 1 || port > 65535
      ? "has a port outside 1–65535"
      : null;
    if (problem) {
      ctx.addIssue({
        code: "custom",
        path: ["destinations", label, "listener"],
        message: `${dest.listener} ${problem}`,
      });
    }
  }
}

/** Each destination's listener family, parsed once per destination, not once per binding. */
function listenerFamilies(destinations: Record<string, Destination>) {
  return new Map(
    Object.entries(destinations).map(([label, dest]) => {
      return [label, "listener" in dest ? listenerFamily(dest.listener) : null];
    }),
  );
}

function checkCrossFields(
  spec: { bindings: Binding[]; destinations: Record<string, Destination> },
  ctx: Ctx,
) {
  checkListenerUrls(spec.destinations, ctx);
  const labels = Object.keys(spec.destinations);
  const listeners = listenerFamilies(spec.destinations);
  // Bindings grouped by protocol and prefix: only those can collide, so each
  // binding is compared with its own group, not with every earlier binding.
  const seen = new Map<string, { ports: [number, number]; index: number }[]>();
  spec.bindings.forEach((b, i) => {
    const cidr = parseCidr(b.prefix);
    if ("error" in cidr) {
      ctx.addIssue({ code: "custom", path: ["bindings", i, "prefix"], message: cidr.error });
      return;
    }
    if (insideMappedV4(cidr)) {
      ctx.addIssue({
        code: "custom",
        path: ["bindings", i, "prefix"],
        message: `${cidr.text} is a v4-mapped IPv6 prefix, which never matches: IPv4 ` +
          `connections are looked up as IPv4, so write the IPv4 prefix instead`,
      });
      return;
    }
    // Own labels only: "constructor" and friends are not destinations.
    const dest = Object.hasOwn(spec.destinations, b.to) ? spec.destinations[b.to] : undefined;
    if (!dest) {
      const known = labels.length ? labels.join(", ") : "none declared";
      ctx.addIssue({
        code: "custom",
        path: ["bindings", i, "to"],
        message: `unknown destination label "${b.to}" (known: ${known})`,
      });
    } else if ("listener" in dest) {
      checkListenerFits(b, cidr, dest.listener, listeners.get(b.to) ?? null, i, ctx);
    }
    const ports = portSet(b.ports);
    const group = `${b.protocol} ${cidr.text}`;
    const earlier = seen.get(group) ?? [];
    const twin = earlier.find((s) => overlaps(s.ports, ports));
    if (twin) {
      ctx.addIssue({
        code: "custom",
        path: ["bindings", i],
        message: `overlaps bindings[${twin.index}] (same protocol, prefix ${cidr.text} and ports)`,
      });
    }
    earlier.push({ ports, index: i });
    seen.set(group, earlier);
  });
}

function checkListenerFits(
  b: Binding,
  cidr: Cidr,
  url: string,
  l: ReturnType<typeof listenerFamily>,
  i: number,
  ctx: Ctx,
) {
  if (!l) return;
  if (l.protocol !== b.protocol) {
    ctx.addIssue({
      code: "custom",
      path: ["bindings", i, "to"],
      message: `a ${b.protocol} binding cannot go to ${url} (a ${l.protocol} listener)`,
    });
  }
  if (l.family !== cidr.family) {
    ctx.addIssue({
      code: "custom",
      path: ["bindings", i, "to"],
      message:
        `mixed families: ${cidr.family} prefix ${cidr.text} with ${l.family} listener ${url}`,
    });
  }
}
