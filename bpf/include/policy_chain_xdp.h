/* PolicyChain's XDP program (included once, at the end of
 * bpf/policy_chain.bpf.c, so it shares the object's ruleset and counters
 * maps: a rule edit stays one map update for every hook).
 *
 * chain_xdp runs the same first-match search as the tc programs on received
 * Ethernet frames, parsed with direct packet access (data/data_end), as
 * direction PC_INGRESS on ctx->ingress_ifindex. There is no skb yet, so only
 * actors without socket or skb state act here: drop (XDP_DROP) and record
 * (per-rule counters; bytes are the frame's, as tc ingress counts them). The
 * spec refuses any other actor on a rule that can match on an XDP device
 * (resources/policy_chain/schema.ts); a mark bit reaching this program is
 * ignored. A frame it cannot parse (VLAN-tagged, not IPv4/IPv6 TCP, IPv6
 * extension headers, a later fragment) passes. */
#ifndef POLICY_CHAIN_XDP_H
#define POLICY_CHAIN_XDP_H

#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>

static __always_inline __u16 xdp_mptcp_subtypes(struct xdp_md *ctx, __u32 at, __u32 len)
{
	struct opt_walk w = {};

	if (len == 0 || len > TCP_MAX_OPTIONS)
		return 0;
	if (bpf_xdp_load_bytes(ctx, at, w.buf, len))
		return 0;
	w.len = len;
	bpf_loop(TCP_MAX_OPTIONS, option_step, &w, 0);
	return w.mask;
}

/* The TCP header's offset from data, or -1; fills the addresses (ingress: local = destination). */
static __always_inline int xdp_load_ip(void *data, void *end, struct pkt *p)
{
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > end)
		return -1;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > end || ip->ihl < 5)
			return -1;
		if (ip->protocol != IPPROTO_TCP || (bpf_ntohs(ip->frag_off) & IP_OFFSET))
			return -1;
		put_v4(p->remote, ip->saddr);
		put_v4(p->local, ip->daddr);
		p->v4 = 1;
		return (int)sizeof(*eth) + ip->ihl * 4;
	}
	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > end || ip6->nexthdr != IPPROTO_TCP)
			return -1;
		__builtin_memcpy(p->remote, &ip6->saddr, 16);
		__builtin_memcpy(p->local, &ip6->daddr, 16);
		p->v4 = !p->remote[0] && !p->remote[1] && p->remote[2] == bpf_htonl(0xffff);
		return (int)sizeof(*eth) + IPV6_HDR_LEN;
	}
	return -1;
}

static __always_inline int xdp_load_pkt(struct xdp_md *ctx, struct pkt *p, int want_options)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	int off = xdp_load_ip(data, end, p);
	__u8 *tcp;
	__u32 doff;

	if (off < 0 || off > 128)
		return -1;
	tcp = data + off;
	if ((void *)(tcp + 20) > end)
		return -1;
	p->lport = (__u16)(tcp[2] << 8 | tcp[3]);
	p->rport = (__u16)(tcp[0] << 8 | tcp[1]);
	doff = (tcp[12] >> 4) * 4;
	if (want_options && doff > 20)
		p->mptcp = xdp_mptcp_subtypes(ctx, (__u32)off + 20, doff - 20);
	p->ifindex = ctx->ingress_ifindex;
	return 0;
}

static __always_inline void xdp_record(__u32 rule, __u64 len)
{
	struct pc_counters *cnt = bpf_map_lookup_elem(&counters, &rule);

	if (!cnt)
		return;
	cnt->packets++; /* per-CPU: no atomics needed */
	cnt->bytes += len;
}

SEC("xdp")
int chain_xdp(struct xdp_md *ctx)
{
	struct find_ctx f = {};
	struct pc_ruleset *rs;
	const struct pc_rule *r;
	__u32 key = 0, count, idx;

	rs = bpf_map_lookup_elem(&ruleset, &key);
	if (!rs)
		return XDP_PASS;
	f.p.dir = PC_INGRESS;
	if (xdp_load_pkt(ctx, &f.p, rs->mptcp_needed))
		return XDP_PASS;
	f.rs = rs;
	f.found = -1;
	count = rs->clause_count;
	bpf_loop(count < PC_MAX_CLAUSES ? count : PC_MAX_CLAUSES, clause_step, &f, 0);
	if (f.found < 0 || f.found >= PC_MAX_RULES)
		return XDP_PASS;
	idx = (__u32)bounded((__u64)f.found, PC_MAX_RULES - 1);
	r = &rs->rules[idx];
	if (r->actions & PC_ACT_RECORD)
		xdp_record(idx, (__u64)(ctx->data_end - ctx->data));
	if (r->actions & PC_ACT_DROP)
		return XDP_DROP;
	return XDP_PASS;
}

#endif /* POLICY_CHAIN_XDP_H */
