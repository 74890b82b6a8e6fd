/**
 * The PathManager spec types, written out (not `z.input`/`z.output`) so docs
 * and editors show each field; resources/spec_types_test.ts checks them
 * against the zod schema in resources/path_manager/schema.ts both ways.
 *
 * @module
 */
import type { DeclaredFlag } from "./schema.ts";
import type { PolicyLocal, PolicySpec } from "../../providers/mptcp_agent/policy_spec.ts";

/** One MPTCP endpoint as written. */
export interface EndpointInput {
  /** The local IPv4 or IPv6 address. */
  address: string;
  /** Bind it to this interface. */
  dev?: string;
  /** Endpoint flags (default none; `implicit` is the kernel's own). */
  flags?: DeclaredFlag[];
  /** A port, for `signal` endpoints that announce one. */
  port?: number;
  /** A fixed endpoint id, 1–255. */
  id?: number;
}

/** One declared endpoint, normalised: canonical address, flags in kernel order. */
export interface EndpointSpec extends Omit<EndpointInput, "flags"> {
  /** Endpoint flags, in the kernel's bit order. */
  flags: DeclaredFlag[];
}

/** Endpoints made from the netns's interfaces' addresses, as written. */
export interface FromInterfacesInput {
  /** Interface names or globs (`eth*`). */
  include: string[];
  /** Interface names or globs to leave out. */
  exclude?: string[];
  /** Address families to use (default both). */
  families?: ("ipv4" | "ipv6")[];
  /** Flags for each endpoint (default `subflow`). */
  flags?: DeclaredFlag[];
  /** Skip link-local addresses (default true). */
  skipLinkLocal?: boolean;
}

/** The fromInterfaces block, normalised: every default filled in. */
export type FromInterfacesSpec = Required<FromInterfacesInput>;

/** The `net.mptcp.*` sysctls a PathManager can set in its netns. */
export interface PmSysctlsSpec {
  /** `net.mptcp.enabled`. */
  enabled?: boolean;
  /** `net.mptcp.checksum_enabled`. */
  checksumEnabled?: boolean;
  /** `net.mptcp.allow_join_initial_addr_port`. */
  allowJoinInitialAddrPort?: boolean;
  /** `net.mptcp.add_addr_timeout`, seconds. */
  addAddrTimeout?: number;
  /** `net.mptcp.close_timeout`, seconds. */
  closeTimeout?: number;
  /** `net.mptcp.blackhole_timeout`, seconds. */
  blackholeTimeout?: number;
  /** `net.mptcp.stale_loss_cnt`. */
  staleLossCnt?: number;
  /** `net.mptcp.syn_retrans_before_tcp_fallback`. */
  synRetransBeforeTcpFallback?: number;
}

/** What users write for a PathManager. */
export interface PathManagerSpecInput {
  /** The netns, by path (e.g. `/run/netns/client`); default: the caller's. */
  netns?: string;
  /** The path manager: `kernel` (in-kernel PM) or `userspace` (an agent runs the policy). */
  mode?: "kernel" | "userspace";
  /** Per-netns limits, 0–255 each. */
  limits?: { subflows?: number; addAddrAccepted?: number };
  /** Endpoints to declare. */
  endpoints?: EndpointInput[];
  /** Endpoints made from interfaces' addresses. */
  fromInterfaces?: FromInterfacesInput;
  /** `net.mptcp.*` sysctls. */
  sysctls?: PmSysctlsSpec;
  /** Remove endpoints the stack does not declare (default true). */
  exclusive?: boolean;
  /** The userspace PM's policy: a builtin or a module of yours. */
  policy?: PolicySpec;
  /** Local addresses the policy may use. */
  locals?: PolicyLocal[];
}

/** The validated, normalised PathManager spec: defaults filled in. */
export interface PathManagerSpec extends
  Omit<
    PathManagerSpecInput,
    "endpoints" | "fromInterfaces" | "sysctls" | "exclusive" | "locals"
  > {
  /** Endpoints to declare, normalised. */
  endpoints: EndpointSpec[];
  /** Endpoints made from interfaces' addresses, normalised. */
  fromInterfaces?: FromInterfacesSpec;
  /** `net.mptcp.*` sysctls. */
  sysctls: PmSysctlsSpec;
  /** Remove endpoints the stack does not declare. */
  exclusive: boolean;
  /** Local addresses the policy may use (canonical addresses). */
  locals: PolicyLocal[];
}
