/* PolicyChain's per-flow record (bpf/policy_chain.bpf.c): every packet a
 * `record` rule matches also counts in its subflow's entry of the `flows`
 * map. Userspace decodes the entries by hand (providers/policy_chain/flows.ts),
 * so the layout is a contract: change it only together with that codec.
 *
 *   map flows  BPF_MAP_TYPE_LRU_HASH, max PC_MAX_FLOWS
 *              key   struct pc_flow_key: the subflow's 4-tuple (local/remote
 *                    as the chain sees them: local is the source on egress)
 *                    and the rule index, so a subflow two rules record
 *                    counts under each.
 *              value struct pc_flow: packets and TCP payload bytes per
 *                    direction (payload, so they compare with the kernel's
 *                    tcp_info bytes_sent / bytes_received), first and last
 *                    seen, the last and the smallest smoothed RTT of the
 *                    subflow's socket, and the MPTCP connection's token.
 *
 * Full map: the LRU evicts the flows not seen for longest, so a busy chain
 * keeps its most recent PC_MAX_FLOWS subflows; the per-rule `counters`
 * still count every packet.
 *
 * RTT and token come from the sending socket (skb->sk), which exists on
 * egress only: a flow seen only on ingress has neither. The srtt is the
 * kernel's own smoothed RTT of the subflow at the time of the packet.
 */
#ifndef POLICY_CHAIN_FLOWS_H
#define POLICY_CHAIN_FLOWS_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>

#define PC_MAX_FLOWS 4096

/* pc_flow.packets / bytes index */
#define PC_FLOW_OUT 0 /* egress: sent by the local end */
#define PC_FLOW_IN 1  /* ingress: received */

struct pc_flow_key {
	__u32 local[4]; /* network order; IPv4 as ::ffff:a.b.c.d */
	__u32 remote[4];
	__u16 lport;    /* host order */
	__u16 rport;
	__u32 rule;
};

struct pc_flow {
	__u64 packets[2];  /* TCP segments (a GSO packet counts its segments) */
	__u64 bytes[2];    /* TCP payload bytes */
	__u64 first_ns;    /* bpf_ktime_get_ns (CLOCK_MONOTONIC) */
	__u64 last_ns;
	__u32 rtt_us;      /* last srtt sample, µs (0: none yet) */
	__u32 rtt_min_us;  /* smallest srtt sample, µs (0: none yet) */
	__u32 token;       /* the MPTCP connection's local token (0: not known) */
	__u32 mptcp;       /* MPTCP subtypes seen, when the chain parses options */
};

_Static_assert(sizeof(struct pc_flow_key) == 40, "pc_flow_key layout is a contract");
_Static_assert(sizeof(struct pc_flow) == 64, "pc_flow layout is a contract");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PC_MAX_FLOWS);
	__type(key, struct pc_flow_key);
	__type(value, struct pc_flow);
} flows SEC(".maps");

/* Only the field read: libbpf relocates its offset against the kernel's BTF. */
struct mptcp_sock {
	__u32 token;
} __attribute__((preserve_access_index));

/* TCP payload bytes of the packet: IP length minus the IP and TCP headers
 * (a GSO packet carries its whole length there); 0 when unreadable. */
static __always_inline __u32 pc_payload(struct __sk_buff *skb)
{
	__u8 ip[6], tcp_off;
	__u32 total, l3;

	if (bpf_skb_load_bytes_relative(skb, 0, ip, sizeof(ip), BPF_HDR_START_NET))
		return 0;
	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		l3 = (ip[0] & 0xf) * 4;
		total = (__u32)ip[2] << 8 | ip[3];
	} else {
		l3 = 40;
		total = ((__u32)ip[4] << 8 | ip[5]) + 40;
	}
	if (bpf_skb_load_bytes_relative(skb, l3 + 12, &tcp_off, 1, BPF_HDR_START_NET))
		return 0;
	l3 += (tcp_off >> 4) * 4;
	return total > l3 ? total - l3 : 0;
}

#define PC_SOCK_STREAM 1
#define PC_IPPROTO_TCP 6

/*
 * True for a full TCP stream socket. Checked before any TCP/MPTCP socket
 * helper: TCP's per-CPU control socket (RSTs and ACKs sent on behalf of
 * TIME_WAIT or unknown connections) is a SOCK_RAW socket of protocol TCP,
 * and on 6.1 bpf_skc_to_mptcp_sock took it for a subflow and dereferenced
 * a NULL context (kernel NULL pointer dereference in
 * bpf_mptcp_sock_from_subflow, seen in the 6.1 VM).
 */
static __always_inline int pc_stream_sock(struct bpf_sock *sk)
{
	return sk && sk->type == PC_SOCK_STREAM && sk->protocol == PC_IPPROTO_TCP;
}

/* The sending subflow's srtt and MPTCP token, when the packet has a full socket. */
static __always_inline void pc_flow_sock(struct __sk_buff *skb, struct pc_flow *fl)
{
	struct bpf_sock *sk = skb->sk;
	struct bpf_tcp_sock *tp;
	struct mptcp_sock *msk;
	__u32 srtt;

	if (!sk)
		return;
	sk = bpf_sk_fullsock(sk);
	if (!pc_stream_sock(sk))
		return;
	tp = bpf_tcp_sock(sk);
	if (tp && tp->srtt_us) {
		srtt = tp->srtt_us >> 3; /* the kernel keeps it scaled by 8 */
		fl->rtt_us = srtt;
		if (!fl->rtt_min_us || srtt < fl->rtt_min_us)
			fl->rtt_min_us = srtt;
	}
	/* A kernel without MPTCP has no such type: the verifier then skips the call as dead code. */
	if (!bpf_core_type_exists(struct mptcp_sock))
		return;
	msk = bpf_skc_to_mptcp_sock(sk);
	if (msk)
		fl->token = msk->token;
}

/* Counts one packet of a record rule in its flow's entry. */
static __always_inline void pc_flow_record(struct __sk_buff *skb, __u32 rule, __u8 egress,
					   const __u32 *local, const __u32 *remote,
					   __u16 lport, __u16 rport, __u16 mptcp)
{
	struct pc_flow_key key = { .lport = lport, .rport = rport, .rule = rule };
	struct pc_flow *fl, fresh = {};
	__u32 dir = egress ? PC_FLOW_OUT : PC_FLOW_IN;
	__u64 now = bpf_ktime_get_ns();

	__builtin_memcpy(key.local, local, 16);
	__builtin_memcpy(key.remote, remote, 16);
	fl = bpf_map_lookup_elem(&flows, &key);
	if (!fl) {
		fresh.first_ns = now;
		/* NOEXIST: another CPU's insert of the same flow wins, we count in it. */
		bpf_map_update_elem(&flows, &key, &fresh, BPF_NOEXIST);
		fl = bpf_map_lookup_elem(&flows, &key);
		if (!fl)
			return;
	}
	__sync_fetch_and_add(&fl->packets[dir], skb->gso_segs ? skb->gso_segs : 1);
	__sync_fetch_and_add(&fl->bytes[dir], pc_payload(skb));
	if (mptcp & ~fl->mptcp)
		fl->mptcp |= mptcp; /* bits only ever added: a lost race loses a bit, not a count */
	fl->last_ns = now;
	if (egress)
		pc_flow_sock(skb, fl);
}

#endif /* POLICY_CHAIN_FLOWS_H */
