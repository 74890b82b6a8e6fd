// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * PolicyChain: eMPTCP-style selector → actor rules on TCP packets, one
 * map-driven program per tc hook (tcx ingress and egress on 6.6+).
 *
 * Layout (bpf/include/policy_chain.h; providers/policy_chain/codec.ts encodes it EXACTLY):
 *
 *   map ruleset   BPF_MAP_TYPE_HASH, BPF_F_NO_PREALLOC, max 1, key __u32 0
 *                 value struct pc_ruleset: the rules' actions and their
 *                 clauses in rule order. The whole rule set is ONE element:
 *                 userspace replaces it with one update, and a hash map
 *                 without preallocation swaps elements under RCU, so every
 *                 packet sees the old or the new rule set, never a mix
 *                 (hitless edits, no program reload).
 *   map counters  BPF_MAP_TYPE_PERCPU_ARRAY, max PC_MAX_RULES, key rule index
 *                 value struct pc_counters { packets, bytes } per CPU, for
 *                 rules with the record actor.
 *   map flows     per-subflow record entries (bpf/include/policy_chain_flows.h).
 *   prog chain_ingress, chain_egress  SEC("tc"): the same code, told its
 *                 direction. Returns TCX_NEXT (== TC_ACT_UNSPEC) or
 *                 TCX_DROP (== TC_ACT_SHOT), so it runs on a tcx link and
 *                 as a classic cls_bpf filter alike.
 *   prog chain_xdp  SEC("xdp") (bpf/include/policy_chain_xdp.h): the same
 *                 rules on received frames, drop and record only.
 *
 * Packets: IPv4 and IPv6 TCP (an IPv6 packet with extension headers before
 * TCP, or an IPv4 fragment after the first, is not TCP here: it passes).
 * "local" is the source on egress and the destination on ingress.
 *
 * MPTCP options are found by walking the TCP options with bpf_loop (5.17+):
 * an unrolled 40-byte walk is explored option by option by the verifier and
 * blows its 1M-instruction budget. The walk runs only when some clause asks.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "policy_chain.h"
#include "policy_chain_flows.h"
#include "policy_chain_clamp.h"

#define TCX_NEXT -1
#define TCX_DROP 2
#define IPV6_HDR_LEN 40
#define IP_MF 0x2000
#define IP_OFFSET 0x1fff

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pc_ruleset);
} ruleset SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PC_MAX_RULES);
	__type(key, __u32);
	__type(value, struct pc_counters);
} counters SEC(".maps");

#include "policy_chain_match.h"

/* Offsets from the network header: the same code on Ethernet and L3 devices. */
static __always_inline int load_net(struct __sk_buff *skb, __u32 off, void *to, __u32 len)
{
	return bpf_skb_load_bytes_relative(skb, off, to, len, BPF_HDR_START_NET);
}

static __always_inline __u16 mptcp_subtypes(struct __sk_buff *skb, __u32 at, __u32 len)
{
	struct opt_walk w = {};

	if (len == 0 || len > TCP_MAX_OPTIONS)
		return 0;
	if (load_net(skb, at, w.buf, len))
		return 0;
	w.len = len;
	bpf_loop(TCP_MAX_OPTIONS, option_step, &w, 0);
	return w.mask;
}

static __always_inline void put_v4(__u32 *addr, __u32 a)
{
	addr[0] = 0;
	addr[1] = 0;
	addr[2] = bpf_htonl(0xffff);
	addr[3] = a;
}

/* The offset of the TCP header, or -1 when the packet is not TCP we read. */
static __always_inline int load_ip(struct __sk_buff *skb, struct pkt *p)
{
	__u32 src[4], dst[4];
	__u8 vihl;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		__u8 hdr[20];
		__u16 frag;

		if (load_net(skb, 0, hdr, sizeof(hdr)))
			return -1;
		vihl = hdr[0];
		__builtin_memcpy(&frag, &hdr[6], 2);
		if (hdr[9] != IPPROTO_TCP || (bpf_ntohs(frag) & IP_OFFSET))
			return -1;
		put_v4(src, *(__u32 *)&hdr[12]);
		put_v4(dst, *(__u32 *)&hdr[16]);
		p->v4 = 1;
		vihl = (vihl & 0xf) * 4;
		if (vihl < 20)
			return -1;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		__u8 hdr[IPV6_HDR_LEN];

		if (load_net(skb, 0, hdr, sizeof(hdr)))
			return -1;
		if (hdr[6] != IPPROTO_TCP)
			return -1;
		__builtin_memcpy(src, &hdr[8], 16);
		__builtin_memcpy(dst, &hdr[24], 16);
		p->v4 = !src[0] && !src[1] && src[2] == bpf_htonl(0xffff);
		vihl = IPV6_HDR_LEN;
	} else {
		return -1;
	}
	__builtin_memcpy(p->local, p->dir == PC_EGRESS ? src : dst, 16);
	__builtin_memcpy(p->remote, p->dir == PC_EGRESS ? dst : src, 16);
	return vihl;
}

/* Fills `p`: addresses, ports, device and (when asked) the MPTCP subtypes. */
static __always_inline int load_pkt(struct __sk_buff *skb, struct pkt *p, int want_options)
{
	__u8 tcp[20];
	int l3;
	__u32 doff;

	l3 = load_ip(skb, p);
	if (l3 < 0)
		return -1;
	if (load_net(skb, (__u32)l3, tcp, sizeof(tcp)))
		return -1;
	if (p->dir == PC_EGRESS) {
		p->lport = (__u16)(tcp[0] << 8 | tcp[1]);
		p->rport = (__u16)(tcp[2] << 8 | tcp[3]);
	} else {
		p->lport = (__u16)(tcp[2] << 8 | tcp[3]);
		p->rport = (__u16)(tcp[0] << 8 | tcp[1]);
	}
	doff = (tcp[12] >> 4) * 4;
	if (want_options && doff > 20)
		p->mptcp = mptcp_subtypes(skb, (__u32)l3 + 20, doff - 20);
	p->ifindex = skb->ifindex;
	return 0;
}

static __always_inline void record(__u32 rule, struct __sk_buff *skb)
{
	struct pc_counters *cnt = bpf_map_lookup_elem(&counters, &rule);

	if (!cnt)
		return;
	cnt->packets++; /* per-CPU: no atomics needed */
	cnt->bytes += skb->len;
}

static __always_inline int chain(struct __sk_buff *skb, __u8 dir)
{
	struct find_ctx f = {};
	struct pc_ruleset *rs;
	const struct pc_rule *r;
	__u32 key = 0, count, idx;

	rs = bpf_map_lookup_elem(&ruleset, &key);
	if (!rs)
		return TCX_NEXT;
	f.p.dir = dir;
	if (load_pkt(skb, &f.p, rs->mptcp_needed))
		return TCX_NEXT;
	f.rs = rs;
	f.found = -1;
	count = rs->clause_count;
	bpf_loop(count < PC_MAX_CLAUSES ? count : PC_MAX_CLAUSES, clause_step, &f, 0);
	if (f.found < 0 || f.found >= PC_MAX_RULES) {
		if (dir == PC_EGRESS)
			pc_clamp_apply(skb, rs);
		return TCX_NEXT;
	}
	idx = (__u32)bounded((__u64)f.found, PC_MAX_RULES - 1);
	r = &rs->rules[idx];
	if (r->actions & PC_ACT_RECORD) {
		record(idx, skb);
		pc_flow_record(skb, idx, dir == PC_EGRESS, f.p.local, f.p.remote, f.p.lport,
			       f.p.rport, f.p.mptcp);
	}
	if (r->actions & PC_ACT_MARK)
		skb->mark = r->mark;
	if (r->actions & PC_ACT_DROP)
		return TCX_DROP;
	if ((r->actions & PC_ACT_STRIP_ADD_ADDR) && (f.p.mptcp & (1 << PC_MPTCP_ADD_ADDR)))
		pc_strip_add_addr(skb);
	if (dir == PC_EGRESS) {
		if (r->actions & PC_ACT_CLAMP)
			pc_clamp_remember(skb, idx);
		pc_clamp_apply(skb, rs);
	}
	/* Next, not pass: programs after ours on the hook still run. */
	return TCX_NEXT;
}

SEC("tc")
int chain_ingress(struct __sk_buff *skb)
{
	return chain(skb, PC_INGRESS);
}

SEC("tc")
int chain_egress(struct __sk_buff *skb)
{
	return chain(skb, PC_EGRESS);
}

#include "policy_chain_xdp.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";
