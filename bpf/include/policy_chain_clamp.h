/* PolicyChain's clampWindow and stripAddAddr actors (bpf/policy_chain.bpf.c).
 *
 * clampWindow. The receive window of an MPTCP connection is shared by its
 * subflows (MPTcpExtSndWndShared): the peer sends up to the largest window
 * any subflow advertised, so clamping one subflow does nothing. The clamp is
 * therefore kept per CONNECTION: when an egress packet matches a clamp rule,
 * its socket's connection (the MPTCP msk of a subflow, by token; or the TCP
 * socket itself, by cookie) is remembered in the `clamped` LRU map with the
 * rule's index. Then every egress packet whose socket belongs to a remembered
 * connection, on ANY subflow and any attached device, has its advertised
 * window rewritten to min(window, clamp >> rcv_wscale), the TCP checksum
 * fixed with bpf_l4_csum_replace. The rule's clamp is read from the live rule
 * set on each packet, so editing or removing the rule acts at once; an entry
 * whose rule no longer clamps is dropped.
 *
 * Kernel helpers: bpf_sk_fullsock (4.18), bpf_skc_to_tcp_sock (5.9),
 * bpf_skc_to_mptcp_sock (5.19), CO-RE reads of tcp_sock and mptcp_sock. The
 * MPTCP lookup is guarded by bpf_core_enum_value_exists and
 * bpf_core_field_exists, so the object still loads (without it) where the
 * helper or MPTCP is missing; the plan refuses
 * clampWindow there (providers/policy_chain/driver.ts, CLAMP_WINDOW).
 *
 * stripAddAddr. The ADD_ADDR options of a matching packet are overwritten
 * with NOPs (kind 1) and the TCP checksum fixed. The peer never learns the
 * address; on the kernels measured the connection then falls back to plain
 * TCP, which is why the spec demands allowFallback. */
#ifndef POLICY_CHAIN_CLAMP_H
#define POLICY_CHAIN_CLAMP_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>
#include "policy_chain.h"
#include "policy_chain_flows.h"

#define PC_CLAMPED_MAX 4096
#define PC_TCP_WINDOW 14
#define PC_TCP_CHECK 16
#define PC_TCP_SYN 0x02
#define PC_ETH_HLEN 14
#define PC_MPTCP_ADD_ADDR 3

/* Only the fields read here; libbpf relocates them against the kernel (CO-RE). */
struct tcp_options_received {
	__u16 snd_wscale : 4, rcv_wscale : 4;
} __attribute__((preserve_access_index));

struct tcp_sock {
	struct tcp_options_received rx_opt;
} __attribute__((preserve_access_index));

/* struct mptcp_sock (token) comes from policy_chain_flows.h. */

/* A connection: an MPTCP token (mptcp = 1) or a TCP socket's cookie. */
struct pc_conn {
	__u64 id;
	__u32 mptcp;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PC_CLAMPED_MAX);
	__type(key, struct pc_conn);
	__type(value, __u32); /* the rule that clamps it */
} clamped SEC(".maps");

/* The connection of the packet's socket; 0 when it has no full TCP socket. */
static __always_inline int pc_conn_of(struct __sk_buff *skb, struct pc_conn *conn,
				      struct tcp_sock **tp)
{
	struct bpf_sock *sk = skb->sk;

	if (!sk)
		return 0;
	sk = bpf_sk_fullsock(sk);
	if (!pc_stream_sock(sk))
		return 0;
	*tp = bpf_skc_to_tcp_sock(sk);
	if (!*tp)
		return 0;
	/* Both known at load time: where either is missing, the verifier never sees the call. */
	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_skc_to_mptcp_sock) &&
	    bpf_core_field_exists(struct mptcp_sock, token)) {
		struct mptcp_sock *msk = bpf_skc_to_mptcp_sock(sk);

		if (msk) {
			conn->id = msk->token;
			conn->mptcp = 1;
			return 1;
		}
	}
	conn->id = bpf_get_socket_cookie(skb);
	return 1;
}

/* Offset of the network header from skb->data: 0 on L3 devices, ETH_HLEN on
 * Ethernet. Found by comparing bytes, as __sk_buff does not expose it. */
static __always_inline int pc_l2_len(struct __sk_buff *skb, __u32 tcp_off)
{
	__u32 rel[3], at[3];

	if (bpf_skb_load_bytes_relative(skb, tcp_off, rel, sizeof(rel), BPF_HDR_START_NET))
		return -1;
	if (!bpf_skb_load_bytes(skb, tcp_off + PC_ETH_HLEN, at, sizeof(at)) &&
	    !__builtin_memcmp(rel, at, sizeof(rel)))
		return PC_ETH_HLEN;
	if (!bpf_skb_load_bytes(skb, tcp_off, at, sizeof(at)) && !__builtin_memcmp(rel, at, sizeof(rel)))
		return 0;
	return -1;
}

/* The TCP header's offset from the network header, or -1. */
static __always_inline int pc_tcp_off(struct __sk_buff *skb)
{
	__u8 vihl;

	if (bpf_skb_load_bytes_relative(skb, 0, &vihl, 1, BPF_HDR_START_NET))
		return -1;
	if (vihl >> 4 == 4)
		return (vihl & 0xf) * 4;
	return vihl >> 4 == 6 ? 40 : -1;
}

static __always_inline void pc_rewrite_window(struct __sk_buff *skb, __u32 clamp, __u8 wscale)
{
	int tcp = pc_tcp_off(skb), l2;
	__u16 win, want;
	__u8 flags;
	__u32 max = clamp >> wscale;

	if (tcp < 20)
		return;
	l2 = pc_l2_len(skb, (__u32)tcp);
	if (l2 < 0)
		return;
	__u32 at = (__u32)(l2 + tcp);
	if (bpf_skb_load_bytes(skb, at + 13, &flags, 1) || (flags & PC_TCP_SYN))
		return; /* a SYN's window is never scaled */
	if (bpf_skb_load_bytes(skb, at + PC_TCP_WINDOW, &win, 2))
		return;
	want = (__u16)(max > 0xffff ? 0xffff : max ? max : 1);
	if (bpf_ntohs(win) <= want)
		return;
	want = bpf_htons(want);
	if (bpf_l4_csum_replace(skb, at + PC_TCP_CHECK, win, want, sizeof(want)))
		return;
	bpf_skb_store_bytes(skb, at + PC_TCP_WINDOW, &want, sizeof(want), 0);
}

/* A packet matched a clamp rule: remember its connection. */
static __always_inline void pc_clamp_remember(struct __sk_buff *skb, __u32 rule)
{
	struct pc_conn conn = {};
	struct tcp_sock *tp;

	if (pc_conn_of(skb, &conn, &tp))
		bpf_map_update_elem(&clamped, &conn, &rule, BPF_ANY);
}

/* Every egress packet: clamp it when its connection is remembered. */
static __always_inline void pc_clamp_apply(struct __sk_buff *skb, struct pc_ruleset *rs)
{
	struct pc_conn conn = {};
	struct tcp_sock *tp = 0;
	__u32 *rule, idx;

	if (!rs->clamp_needed || !pc_conn_of(skb, &conn, &tp) || !tp)
		return;
	rule = bpf_map_lookup_elem(&clamped, &conn);
	if (!rule)
		return;
	idx = *rule & (PC_MAX_RULES - 1);
	if (!(rs->rules[idx].actions & PC_ACT_CLAMP)) {
		bpf_map_delete_elem(&clamped, &conn);
		return;
	}
	pc_rewrite_window(skb, rs->rules[idx].clamp, BPF_CORE_READ_BITFIELD(tp, rx_opt.rcv_wscale));
}

/* Where the first ADD_ADDR option lies in a packet's TCP options. */
struct pc_addaddr_walk {
	__u8 buf[64];
	__u32 off;
	__u32 len;
	__u32 at;  /* its offset in the options; PC_NONE when there is none */
	__u32 olen;
};

#define PC_NONE 0xff
#define PC_STRIP_SPAN 40 /* 4-aligned span around an option of up to 30 bytes */

static long pc_addaddr_step(__u64 _i, void *data)
{
	struct pc_addaddr_walk *w = data;
	__u32 off = w->off;
	__u8 kind, len;

	if (off >= w->len || off >= 40)
		return 1;
	kind = w->buf[off & 63];
	if (kind == 0)
		return 1;
	if (kind == 1) {
		w->off = off + 1;
		return 0;
	}
	if (off + 2 >= w->len)
		return 1;
	len = w->buf[(off + 1) & 63];
	if (len < 2 || off + len > w->len)
		return 1;
	if (kind == MPTCPOPT_KIND && (w->buf[(off + 2) & 63] >> 4) == PC_MPTCP_ADD_ADDR) {
		w->at = off;
		w->olen = len;
		return 1;
	}
	w->off = off + len;
	return 0;
}

/* Overwrites the 4-byte-aligned span [from, from + n) of the TCP header at
 * `tcp` (from skb->data) word by word: its bytes [s, e) become NOPs, the
 * checksum fixed per word (fixed-size loads keep the verifier simple). */
static __always_inline void pc_nop_span(struct __sk_buff *skb, __u32 tcp, __u32 from, __u32 n,
					__u32 s, __u32 e)
{
	for (__u32 i = 0; i < PC_STRIP_SPAN; i += 4) {
		__u32 old, new;
		__u8 *b = (__u8 *)&new;

		if (i >= n || bpf_skb_load_bytes(skb, tcp + from + i, &old, 4))
			return;
		new = old;
		for (__u32 j = 0; j < 4; j++)
			if (i + j >= s && i + j < e)
				b[j] = 1;
		if (new == old)
			continue;
		if (bpf_l4_csum_replace(skb, tcp + PC_TCP_CHECK, old, new, 4) ||
		    bpf_skb_store_bytes(skb, tcp + from + i, &new, 4, 0))
			return;
	}
}

/* stripAddAddr: the packet's ADD_ADDR option becomes NOPs. */
static __always_inline void pc_strip_add_addr(struct __sk_buff *skb)
{
	struct pc_addaddr_walk w = {.at = PC_NONE};
	int tcp = pc_tcp_off(skb), l2;
	__u8 doff;
	__u32 s, e, from;

	if (tcp < 20 || bpf_skb_load_bytes_relative(skb, tcp + 12, &doff, 1, BPF_HDR_START_NET))
		return;
	w.len = (doff >> 4) * 4;
	if (w.len <= 20 || w.len > 60)
		return;
	w.len -= 20;
	if (bpf_skb_load_bytes_relative(skb, tcp + 20, w.buf, w.len, BPF_HDR_START_NET))
		return;
	bpf_loop(40, pc_addaddr_step, &w, 0);
	l2 = pc_l2_len(skb, (__u32)tcp);
	if (w.at == PC_NONE || l2 < 0)
		return;
	s = 20 + w.at;
	e = s + w.olen;
	from = s & ~3U;
	pc_nop_span(skb, (__u32)(l2 + tcp), from, ((e + 3) & ~3U) - from, s - from, e - from);
}

#endif /* POLICY_CHAIN_CLAMP_H */
