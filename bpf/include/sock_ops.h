/* TcpTuning's map layout (bpf/sock_ops.bpf.c). Userspace encodes and decodes
 * these structs by hand (providers/tcp_tuning/codec.ts), so their layout is
 * a contract: change it only together with the codec. */
#ifndef SOCK_OPS_H
#define SOCK_OPS_H

#include <linux/types.h>

#define SOL_SOCKET 1
#define SO_SNDBUF 7
#define SO_RCVBUF 8
#define SO_MARK 36
#define SO_MAX_PACING_RATE 47
#define SOL_TCP 6
#define TCP_NODELAY 1
#define TCP_CONGESTION 13
#define CA_NAME_MAX 16

#define TT_MAX_RULES 64
#define TT_MAX_PORT_RANGES 8
#define TT_SAMPLE_ALL 1000000

/* rule.direction and conn.dir */
#define TT_ACTIVE 1
#define TT_PASSIVE 2
/* rule.subflow and conn.subflow (0 = any / unknown) */
#define TT_SUBFLOW 1
#define TT_PLAIN 2

/* rule.flags: an IPv6 prefix never matches IPv4 (v4-mapped) addresses,
 * even when it covers ::ffff:0:0/96 (as ::/0 does). */
#define TT_LOCAL_V6_ONLY (1 << 0)
#define TT_REMOTE_V6_ONLY (1 << 1)

/* rule.set_mask bits */
#define SET_CONGESTION (1 << 0)
#define SET_SYN_RTO (1 << 1)
#define SET_INIT_RWND (1 << 2)
#define SET_INIT_CWND (1 << 3)
#define SET_SND_BUF (1 << 4)
#define SET_RCV_BUF (1 << 5)
#define SET_MAX_PACING_RATE (1 << 6)
#define SET_MARK (1 << 7)
#define SET_RTO_MIN (1 << 8)
#define SET_DELACK_MAX (1 << 9)
#define SET_NO_DELAY (1 << 10)
#define SET_ECN (1 << 11)

struct tt_port_range {
	__u16 lo; /* host order, inclusive */
	__u16 hi;
};

struct tt_rule {
	__u32 local_addr[4];  /* network order; IPv4 as ::ffff:a.b.c.d */
	__u32 remote_addr[4];
	__u8 local_plen;      /* bits of the 128-bit form; 0 = any */
	__u8 remote_plen;
	__u8 direction;       /* 0 any, TT_ACTIVE, TT_PASSIVE */
	__u8 subflow;         /* 0 any, TT_SUBFLOW, TT_PLAIN */
	__u8 local_port_count; /* 0 = any port */
	__u8 remote_port_count;
	__u8 flags;           /* TT_*_V6_ONLY */
	__u8 pad0;
	struct tt_port_range local_ports[TT_MAX_PORT_RANGES];
	struct tt_port_range remote_ports[TT_MAX_PORT_RANGES];
	__u32 sample_ppm;     /* 0 .. TT_SAMPLE_ALL */
	__u32 set_mask;
	char congestion[CA_NAME_MAX]; /* NUL-terminated */
	__u32 syn_rto_ms;
	__u32 init_rwnd;      /* segments */
	__u32 init_cwnd;      /* segments */
	__u32 snd_buf;        /* bytes, as SO_SNDBUF takes them */
	__u32 rcv_buf;
	__u32 max_pacing_rate; /* bytes per second */
	__u32 mark;
	__u32 rto_min_ms;
	__u32 delack_max_ms;
	__u8 no_delay;
	__u8 pad1[3];
};

struct tt_ruleset {
	__u32 count;
	__u32 hz;   /* the kernel's CONFIG_HZ: replies are in jiffies */
	__u32 seed; /* sampling hash key */
	__u32 pad;
	struct tt_rule rules[TT_MAX_RULES];
};

struct tt_counters {
	__u64 matched;     /* connections whose first matching rule is this one */
	__u64 applied;     /* ... and that were in the rule's sample */
	__u64 sampled_out; /* ... and that were not */
	__u64 errors;      /* setsockopt calls the kernel refused */
};

_Static_assert(sizeof(struct tt_rule) == 168, "tt_rule layout is a contract");
_Static_assert(sizeof(struct tt_counters) == 32, "tt_counters layout is a contract");

#endif /* SOCK_OPS_H */
