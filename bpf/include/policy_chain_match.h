/* PolicyChain's packet matching, shared by its tc programs and its XDP
 * program (bpf/policy_chain.bpf.c): what a program knows about a packet, the
 * TCP option walk over a copied option buffer, and the first-match search
 * over the clauses with bpf_loop. Pure functions of their arguments: each
 * program fills `struct pkt` its own way (skb loads or direct packet access). */
#ifndef POLICY_CHAIN_MATCH_H
#define POLICY_CHAIN_MATCH_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "policy_chain.h"

#define TCP_MAX_OPTIONS 40

/* What the program knows about a packet, addresses in the 128-bit form. */
struct pkt {
	__u32 local[4];
	__u32 remote[4];
	__u16 lport;
	__u16 rport;
	__u32 ifindex;
	__u16 mptcp; /* bits of the MPTCP subtypes its options carry */
	__u8 dir;
	__u8 v4;
};

struct opt_walk {
	__u8 buf[64]; /* the options, 40 bytes at most; room so an index & 63 stays inside */
	__u32 off;
	__u32 len;
	__u16 mask;
};

struct find_ctx {
	struct pkt p;
	struct pc_ruleset *rs;
	int found;
};

/* An index the verifier can bound wherever clang keeps it (see sock_ops_match.h). */
static __always_inline __u64 bounded(__u64 index, __u64 mask)
{
	asm volatile("%[i] &= %[m]" : [i] "+r"(index) : [m] "r"(mask));
	return index;
}

/* One bpf_loop step over the TCP options: one option per step. */
static long option_step(__u64 _i, void *data)
{
	struct opt_walk *w = data;
	__u32 off = w->off;
	__u8 kind, len;

	if (off >= w->len || off >= TCP_MAX_OPTIONS)
		return 1;
	kind = w->buf[bounded(off, 63)];
	if (kind == 0)
		return 1;
	if (kind == 1) {
		w->off = off + 1;
		return 0;
	}
	if (off + 1 >= w->len)
		return 1;
	len = w->buf[bounded(off + 1, 63)];
	if (len < 2)
		return 1;
	if (kind == MPTCPOPT_KIND && len >= 3 && off + 2 < w->len) {
		__u8 subtype = w->buf[bounded(off + 2, 63)] >> 4;

		if (subtype < PC_MPTCP_SUBTYPES)
			w->mask |= 1 << subtype;
	}
	w->off = off + len;
	return 0;
}

static __always_inline int addr_match(const __u32 *addr, const __u32 *want, __u32 plen)
{
	for (int w = 0; w < 4; w++) {
		int bits = (int)plen - w * 32;
		__u32 mask;

		if (bits <= 0)
			break;
		mask = bits >= 32 ? 0xffffffff : bpf_htonl(0xffffffffU << (32 - bits));
		if ((addr[w] ^ want[w]) & mask)
			return 0;
	}
	return 1;
}

static __always_inline int port_match(__u16 port, __u16 lo, __u16 hi)
{
	return (!lo && !hi) || (port >= lo && port <= hi);
}

static __always_inline int clause_match(const struct pc_clause *c, const struct pkt *p)
{
	if (c->direction && c->direction != p->dir)
		return 0;
	if (c->ifindex && c->ifindex != p->ifindex)
		return 0;
	if (c->mptcp_mask && !(c->mptcp_mask & p->mptcp))
		return 0;
	if (p->v4 && (c->flags & (PC_LOCAL_V6_ONLY | PC_REMOTE_V6_ONLY)))
		return 0;
	if (!port_match(p->lport, c->lport_lo, c->lport_hi) ||
	    !port_match(p->rport, c->rport_lo, c->rport_hi))
		return 0;
	return addr_match(p->local, c->local_addr, c->local_plen) &&
	       addr_match(p->remote, c->remote_addr, c->remote_plen);
}

/* One bpf_loop step over the clauses: stop at the first that matches. */
static long clause_step(__u64 index, void *data)
{
	struct find_ctx *f = data;
	struct pc_ruleset *rs = f->rs;
	const struct pc_clause *c;

	if (!rs || index >= PC_MAX_CLAUSES)
		return 1;
	c = &rs->clauses[bounded(index, PC_MAX_CLAUSES - 1)];
	if (!clause_match(c, &f->p))
		return 0;
	f->found = c->rule;
	return 1;
}

#endif /* POLICY_CHAIN_MATCH_H */
