// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * SocketLookupRedirect: one sk_lookup program per network namespace that
 * steers new TCP connections and unconnected UDP datagrams to chosen sockets.
 *
 * Layout (userspace relies on it EXACTLY; see bpf/include/sockform.h):
 *
 *   map bindings      BPF_MAP_TYPE_LPM_TRIE, BPF_F_NO_PREALLOC, max 65536
 *                     key   struct binding_key {            (24 bytes)
 *                             __u32 prefixlen;
 *                             __u8  protocol;               IPPROTO_TCP/UDP
 *                             __u8  family;                 4 or 6
 *                             __u16 port;                   HOST order, 0 = all
 *                             __u8  addr[16];               IPv6, or ::ffff:a.b.c.d
 *                           }
 *                     prefixlen = 8 + 8 + 16 + (IPv4 ? 96 + plen : plen)
 *                     value __u32 destination id (0 .. 1023) in the low
 *                           16 bits, | DEST_FALLTHROUGH (1 << 16) to opt in
 *                           to falling through
 *   map destinations  BPF_MAP_TYPE_SOCKHASH, max 1024
 *                     key __u32 destination id, value __u64
 *                     (write a socket fd; reads back as the socket cookie)
 *   map counters      BPF_MAP_TYPE_ARRAY, max 1024, key __u32 destination id
 *                     value struct dest_counters { __u64 lookups, redirected, no_socket; }
 *   prog dispatch     SEC("sk_lookup")
 *
 * Precedence: the exact local port is looked up first, then port 0 ("all
 * ports"), so a specific port beats "all"; within each, the LPM trie's
 * longest prefix wins. No binding: the kernel's normal lookup (SK_PASS).
 * A binding whose destination has no socket (its service crashed or is
 * restarting), or whose socket refuses the assignment, is REFUSED (SK_DROP:
 * the client gets a reset): falling through would hand the connection to
 * whatever else listens on the port, e.g. a squatter on 0.0.0.0. A
 * destination that opted in (DEST_FALLTHROUGH) falls through instead.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "sockform.h"

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, MAX_BINDINGS);
	__type(key, struct binding_key);
	__type(value, __u32);
} bindings SEC(".maps");

/* Sizes rather than BTF types: sockmaps reject BTF key/value types on older
 * kernels, and libbpf would otherwise warn and retry without BTF. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, MAX_DESTINATIONS);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u64));
} destinations SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_DESTINATIONS);
	__type(key, __u32);
	__type(value, struct dest_counters);
} counters SEC(".maps");

/* The verifier refuses ctx loads at a computed offset. Without a barrier,
 * clang merges the IPv4 and IPv6 stores to addr[12] into one load from
 * `ctx + (v4 ? 40 : 56)`, which the verifier then rejects. */
#define compiler_barrier() asm volatile("" ::: "memory")

/* Fills `key` with the full-length key of the connection's local end. */
static __always_inline int local_key(struct bpf_sk_lookup *ctx, struct binding_key *key)
{
	key->prefixlen = BINDING_KEY_FULL_PREFIX;
	key->protocol = (__u8)ctx->protocol;
	key->port = (__u16)ctx->local_port;
	if (ctx->family == AF_INET) {
		key->family = 4;
		key->addr[10] = 0xff;
		key->addr[11] = 0xff;
		*(__u32 *)&key->addr[12] = ctx->local_ip4;
		compiler_barrier();
		return 0;
	}
	if (ctx->family == AF_INET6) {
		key->family = 6;
		*(__u32 *)&key->addr[0] = ctx->local_ip6[0];
		*(__u32 *)&key->addr[4] = ctx->local_ip6[1];
		*(__u32 *)&key->addr[8] = ctx->local_ip6[2];
		*(__u32 *)&key->addr[12] = ctx->local_ip6[3];
		compiler_barrier();
		return 0;
	}
	return -1;
}

/* Counts a lookup that found no usable socket; refuses it unless opted out. */
static __always_inline int no_socket(struct dest_counters *count, __u32 value)
{
	if (count)
		__sync_fetch_and_add(&count->no_socket, 1);
	return (value & DEST_FALLTHROUGH) ? SK_PASS : SK_DROP;
}

SEC("sk_lookup")
int dispatch(struct bpf_sk_lookup *ctx)
{
	struct binding_key key = {};
	struct dest_counters *count;
	struct bpf_sock *sk;
	__u32 *found;
	__u32 value;
	__u32 id;
	long err;

	if (local_key(ctx, &key))
		return SK_PASS;
	found = bpf_map_lookup_elem(&bindings, &key);
	if (!found) {
		key.port = 0;
		found = bpf_map_lookup_elem(&bindings, &key);
	}
	if (!found)
		return SK_PASS;

	value = *found;
	id = value & DEST_ID_MASK;
	count = bpf_map_lookup_elem(&counters, &id);
	if (count)
		__sync_fetch_and_add(&count->lookups, 1);

	sk = bpf_map_lookup_elem(&destinations, &id);
	if (!sk)
		return no_socket(count, value);
	err = bpf_sk_assign(ctx, sk, 0);
	bpf_sk_release(sk);
	if (err)
		return no_socket(count, value);
	if (count)
		__sync_fetch_and_add(&count->redirected, 1);
	return SK_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
