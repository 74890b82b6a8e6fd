/* TcpTuning's rule matching (bpf/sock_ops.bpf.c): what a callback knows about
 * its connection, and the first-match search over the rule list with
 * bpf_loop, plus the per-connection sampling hash. Included once, by
 * sock_ops.bpf.c; split out so each file stays readable. */
#ifndef SOCK_OPS_MATCH_H
#define SOCK_OPS_MATCH_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "sock_ops.h"

/* What a callback knows about its connection, addresses in the 128-bit form. */
struct conn {
	__u32 local[4];
	__u32 remote[4];
	__u16 lport;
	__u16 rport;
	__u8 dir;
	__u8 subflow;
	__u8 v4; /* IPv4, or an IPv6 socket talking to a v4-mapped peer */
};

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

static __always_inline int port_match(__u16 port, const struct tt_port_range *ranges, __u8 count)
{
	if (!count)
		return 1;
	for (int i = 0; i < TT_MAX_PORT_RANGES; i++) {
		if (i >= count)
			break;
		if (port >= ranges[i].lo && port <= ranges[i].hi)
			return 1;
	}
	return 0;
}

#define NO_MATCH 0
#define MATCH 1
#define UNDECIDABLE 2

static __always_inline int rule_match(const struct tt_rule *r, const struct conn *c)
{
	if (r->direction && r->direction != c->dir)
		return NO_MATCH;
	if (c->v4 && (r->flags & (TT_LOCAL_V6_ONLY | TT_REMOTE_V6_ONLY)))
		return NO_MATCH;
	if (!addr_match(c->local, r->local_addr, r->local_plen) ||
	    !addr_match(c->remote, r->remote_addr, r->remote_plen))
		return NO_MATCH;
	if (!port_match(c->lport, r->local_ports, r->local_port_count) ||
	    !port_match(c->rport, r->remote_ports, r->remote_port_count))
		return NO_MATCH;
	if (r->subflow) {
		if (!c->subflow)
			return UNDECIDABLE;
		if (r->subflow != c->subflow)
			return NO_MATCH;
	}
	return MATCH;
}

struct find_ctx {
	struct conn c;
	struct tt_ruleset *rs;
	int found;
};

/* A rule index the verifier can bound wherever clang keeps it. Kernels before
 * 6.2 lose a range check on a value clang spilled to the stack before the
 * check (seen on 6.1), and clang drops a plain AND it can prove redundant;
 * an AND written in asm stays, and bounds the value where it is used. */
static __always_inline __u64 rule_index(__u64 index)
{
	asm volatile("%[i] &= %[mask]" : [i] "+r"(index) : [mask] "i"(TT_MAX_RULES - 1));
	return index;
}

/* One bpf_loop step: stop at the first rule that matches or cannot be decided. */
static long match_step(__u64 index, void *data)
{
	struct find_ctx *f = data;
	struct tt_ruleset *rs = f->rs;
	int m;

	if (!rs || index >= TT_MAX_RULES)
		return 1;
	m = rule_match(&rs->rules[rule_index(index)], &f->c);
	if (m == NO_MATCH)
		return 0;
	if (m == MATCH)
		f->found = (int)index;
	return 1;
}

/* Index of the first matching rule, or -1. */
static __always_inline int find_rule(struct find_ctx *f)
{
	__u32 count = f->rs->count;

	f->found = -1;
	bpf_loop(count < TT_MAX_RULES ? count : TT_MAX_RULES, match_step, f, 0);
	return f->found;
}

static __always_inline __u32 mix32(__u32 h)
{
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h;
}

static __always_inline int in_sample(const struct tt_rule *r, const struct conn *c, __u32 seed)
{
	__u32 h = seed;

	if (r->sample_ppm >= TT_SAMPLE_ALL)
		return 1;
	for (int w = 0; w < 4; w++)
		h = mix32(h ^ c->local[w]) ^ mix32(h + c->remote[w]);
	h = mix32(h ^ (((__u32)c->lport << 16) | c->rport));
	return h % TT_SAMPLE_ALL < r->sample_ppm;
}

#endif /* SOCK_OPS_MATCH_H */
