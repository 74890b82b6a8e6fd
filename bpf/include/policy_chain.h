/* PolicyChain's map layout (bpf/policy_chain.bpf.c). Userspace encodes and
 * decodes these structs by hand (providers/policy_chain/codec.ts), so their
 * layout is a contract: change it only together with the codec. */
#ifndef POLICY_CHAIN_H
#define POLICY_CHAIN_H

#include <linux/types.h>

#define PC_MAX_RULES 64
#define PC_MAX_CLAUSES 128

/* clause.direction and the program's own hook */
#define PC_INGRESS 1
#define PC_EGRESS 2

/* clause.flags: an IPv6 prefix never matches IPv4 (v4-mapped) addresses. */
#define PC_LOCAL_V6_ONLY (1 << 0)
#define PC_REMOTE_V6_ONLY (1 << 1)

/* MPTCP option subtypes (RFC 8684), as bits of clause.mptcp_mask and of the
 * mask a packet's options produce: bit (1 << subtype). */
#define MPTCPOPT_KIND 30
#define PC_MPTCP_SUBTYPES 9 /* MP_CAPABLE .. MP_TCPRST */

/* rule.actions bits */
#define PC_ACT_DROP (1 << 0)
#define PC_ACT_MARK (1 << 1)
#define PC_ACT_RECORD (1 << 2)
#define PC_ACT_CLAMP (1 << 3)          /* clampWindow: rule.clamp, every subflow */
#define PC_ACT_STRIP_ADD_ADDR (1 << 4) /* ADD_ADDR options become NOPs */

/* One conjunction of conditions; a field left 0 matches everything. A rule
 * holds one clause per alternative of its any-of, and matches when one of
 * them does. */
struct pc_clause {
	__u32 local_addr[4];  /* network order; IPv4 as ::ffff:a.b.c.d */
	__u32 remote_addr[4];
	__u8 local_plen;      /* bits of the 128-bit form; 0 = any */
	__u8 remote_plen;
	__u8 direction;       /* 0 any, PC_INGRESS, PC_EGRESS */
	__u8 flags;           /* PC_*_V6_ONLY */
	__u16 lport_lo;       /* host order, inclusive; 0..0 = any */
	__u16 lport_hi;
	__u16 rport_lo;
	__u16 rport_hi;
	__u32 ifindex;        /* 0 = any device */
	__u16 mptcp_mask;     /* 0 = any packet; else one of these subtypes seen */
	__u16 rule;           /* index into pc_ruleset.rules */
};

struct pc_rule {
	__u32 actions; /* PC_ACT_* */
	__u32 mark;    /* skb->mark for PC_ACT_MARK */
	__u32 clamp;   /* bytes, for PC_ACT_CLAMP (policy_chain_clamp.h) */
	__u32 pad;
};

struct pc_ruleset {
	__u32 rule_count;
	__u32 clause_count;
	__u32 mptcp_needed; /* some clause or actor looks at MPTCP options: parse them */
	__u32 clamp_needed; /* some rule clamps: look egress packets' connections up */
	struct pc_rule rules[PC_MAX_RULES];
	struct pc_clause clauses[PC_MAX_CLAUSES]; /* rule order: first match wins */
};

/* Per-CPU value of the `counters` array, one slot per rule. */
struct pc_counters {
	__u64 packets;
	__u64 bytes;
};

_Static_assert(sizeof(struct pc_clause) == 52, "pc_clause layout is a contract");
_Static_assert(sizeof(struct pc_ruleset) == 16 + 16 * PC_MAX_RULES + 52 * PC_MAX_CLAUSES,
	       "pc_ruleset layout is a contract");

#endif /* POLICY_CHAIN_H */
