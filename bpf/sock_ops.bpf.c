// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * TcpTuning: per-connection TCP (and MPTCP subflow) parameters, chosen by
 * first-match rules, set from a sock_ops program attached to a cgroup v2.
 *
 * Layout (bpf/include/sock_ops.h; providers/tcp_tuning/codec.ts encodes it EXACTLY):
 *
 *   map ruleset   BPF_MAP_TYPE_HASH, BPF_F_NO_PREALLOC, max 1, key __u32 0
 *                 value struct tt_ruleset (16 + 168 * TT_MAX_RULES bytes)
 *                 The whole rule list is ONE element: userspace replaces it
 *                 with one update, and a hash map without preallocation swaps
 *                 elements under RCU, so every callback sees either the old
 *                 or the new list, never a mix (hitless rule edits).
 *   map counters  BPF_MAP_TYPE_ARRAY, max TT_MAX_RULES, key rule index
 *                 value struct tt_counters { matched, applied, sampled_out, errors }
 *   prog tune     SEC("sockops")
 *
 * Where each setting is applied (the callback where the kernel honours it):
 *   TIMEOUT_INIT            synRtoMs (reply, jiffies): SYN RTO when active,
 *                           SYN-ACK RTO when passive (request socket)
 *   RWND_INIT               initRwnd (reply, segments)
 *   NEEDS_ECN               ecn (reply 1): active, request ECN in the SYN;
 *                           passive, accept it (even from an ECT SYN, as
 *                           DCTCP peers send) and ECT-mark the SYN-ACK
 *   TCP_CONNECT_CB          active, before the SYN: sndBuf, rcvBuf, mark,
 *                           maxPacingRate, noDelay, rtoMinMs, delackMaxMs
 *   ACTIVE_ESTABLISHED_CB   congestion, then initCwnd (TCP_BPF_IW)
 *   PASSIVE_ESTABLISHED_CB  everything a full socket takes (both lists above)
 * All of these callbacks run without bpf_sock_ops_cb_flags_set, so no flags
 * are enabled.
 *
 * Counting: each connection counts once per rule, at its first full-socket
 * callback (TCP_CONNECT_CB when active, PASSIVE_ESTABLISHED_CB when passive).
 * setsockopt failures count at whichever callback they happen.
 *
 * Sampling: a connection is in a rule's sample when a keyed hash of its
 * 4-tuple (the seed is in the ruleset) falls below the rule's fraction. The
 * passive side's first callbacks run on request sockets, which carry no
 * socket storage, so a random draw could not be remembered from the SYN to
 * the established socket; the hash gives the same answer at every callback.
 * A sampled-out connection gets nothing from later rules either (first match
 * wins), so it is a clean control group.
 *
 * MPTCP subflows: bpf_skc_to_mptcp_sock() (Linux 5.19+, needs CAP_PERFMON
 * for sock_ops) returns the MPTCP socket of a subflow and NULL for plain TCP.
 * It needs a full socket: at request-socket callbacks (passive TIMEOUT_INIT,
 * RWND_INIT and NEEDS_ECN) whether the connection is a subflow is unknown, so matching
 * stops at the first rule that has a `subflow` condition.
 *
 * Rules are walked with bpf_loop (5.17+): the verifier checks the callback
 * once, where an open-coded loop over 64 rules is explored rule by rule and
 * runs past its 1M-instruction budget.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "sockform.h"
#include "sock_ops.h"
#include "sock_ops_match.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tt_ruleset);
} ruleset SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TT_MAX_RULES);
	__type(key, __u32);
	__type(value, struct tt_counters);
} counters SEC(".maps");

/* See sk_lookup.bpf.c: stops clang from merging ctx loads of both families
 * into one load at a computed offset, which the verifier refuses. */
#define compiler_barrier() asm volatile("" ::: "memory")

/* Which side opened the connection, or 0 when this callback is not ours. */
static __always_inline __u8 conn_direction(struct bpf_sock_ops *skops, __u32 op)
{
	switch (op) {
	case BPF_SOCK_OPS_TCP_CONNECT_CB:
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
		return TT_ACTIVE;
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		return TT_PASSIVE;
	case BPF_SOCK_OPS_TIMEOUT_INIT:
	case BPF_SOCK_OPS_RWND_INIT:
	case BPF_SOCK_OPS_NEEDS_ECN:
		/* Active: the connecting full socket. Passive: a request socket.
		 * Other full sockets (a SYN-ACK resent by a Fast Open child)
		 * are skipped. */
		if (!skops->is_fullsock)
			return TT_PASSIVE;
		return skops->state == BPF_TCP_SYN_SENT ? TT_ACTIVE : 0;
	}
	return 0;
}

static __always_inline __u8 conn_subflow(struct bpf_sock_ops *skops)
{
	struct bpf_sock *sk;

	if (!skops->is_fullsock)
		return 0;
	sk = skops->sk;
	if (!sk)
		return 0;
	return bpf_skc_to_mptcp_sock(sk) ? TT_SUBFLOW : TT_PLAIN;
}

static __always_inline int load_conn(struct bpf_sock_ops *skops, __u32 op, struct conn *c)
{
	c->dir = conn_direction(skops, op);
	if (!c->dir)
		return -1;
	if (skops->family == AF_INET) {
		c->local[2] = bpf_htonl(0xffff);
		c->remote[2] = bpf_htonl(0xffff);
		c->local[3] = skops->local_ip4;
		c->remote[3] = skops->remote_ip4;
		compiler_barrier();
	} else if (skops->family == AF_INET6) {
		c->local[0] = skops->local_ip6[0];
		c->local[1] = skops->local_ip6[1];
		c->local[2] = skops->local_ip6[2];
		c->local[3] = skops->local_ip6[3];
		c->remote[0] = skops->remote_ip6[0];
		c->remote[1] = skops->remote_ip6[1];
		c->remote[2] = skops->remote_ip6[2];
		c->remote[3] = skops->remote_ip6[3];
		compiler_barrier();
	} else {
		return -1;
	}
	c->v4 = !c->remote[0] && !c->remote[1] && c->remote[2] == bpf_htonl(0xffff);
	c->lport = (__u16)skops->local_port;
	c->rport = (__u16)bpf_ntohl(skops->remote_port);
	c->subflow = conn_subflow(skops);
	return 0;
}

static __always_inline void count_error(struct tt_counters *cnt)
{
	if (cnt)
		__sync_fetch_and_add(&cnt->errors, 1);
}

static __always_inline void set_int(struct bpf_sock_ops *skops, int level, int opt, __u32 value,
				    struct tt_counters *cnt)
{
	int v = (int)value;

	if (bpf_setsockopt(skops, level, opt, &v, sizeof(v)))
		count_error(cnt);
}

/* Socket options a full socket takes at any time; set before the SYN when active. */
static __always_inline void set_socket_options(struct bpf_sock_ops *skops, const struct tt_rule *r,
					       struct tt_counters *cnt)
{
	__u32 mask = r->set_mask;

	if (mask & SET_SND_BUF)
		set_int(skops, SOL_SOCKET, SO_SNDBUF, r->snd_buf, cnt);
	if (mask & SET_RCV_BUF)
		set_int(skops, SOL_SOCKET, SO_RCVBUF, r->rcv_buf, cnt);
	if (mask & SET_MARK)
		set_int(skops, SOL_SOCKET, SO_MARK, r->mark, cnt);
	if (mask & SET_MAX_PACING_RATE)
		set_int(skops, SOL_SOCKET, SO_MAX_PACING_RATE, r->max_pacing_rate, cnt);
	if (mask & SET_NO_DELAY)
		set_int(skops, SOL_TCP, TCP_NODELAY, r->no_delay, cnt);
	if (mask & SET_RTO_MIN)
		set_int(skops, SOL_TCP, TCP_BPF_RTO_MIN, r->rto_min_ms * 1000, cnt);
	if (mask & SET_DELACK_MAX)
		set_int(skops, SOL_TCP, TCP_BPF_DELACK_MAX, r->delack_max_ms * 1000, cnt);
}

/* At establishment: the congestion control is initialised right after this
 * callback, and TCP_BPF_IW is refused once data has been sent. */
static __always_inline void set_established(struct bpf_sock_ops *skops, const struct tt_rule *r,
					    struct tt_counters *cnt)
{
	if (r->set_mask & SET_CONGESTION) {
		char name[CA_NAME_MAX];

		__builtin_memcpy(name, r->congestion, CA_NAME_MAX);
		name[CA_NAME_MAX - 1] = 0;
		if (bpf_setsockopt(skops, SOL_TCP, TCP_CONGESTION, name, sizeof(name)))
			count_error(cnt);
	}
	if (r->set_mask & SET_INIT_CWND)
		set_int(skops, SOL_TCP, TCP_BPF_IW, r->init_cwnd, cnt);
}

static __always_inline void count_decision(struct tt_counters *cnt, int in)
{
	if (!cnt)
		return;
	__sync_fetch_and_add(&cnt->matched, 1);
	__sync_fetch_and_add(in ? &cnt->applied : &cnt->sampled_out, 1);
}

static __always_inline void apply_rule(struct bpf_sock_ops *skops, __u32 op,
				       const struct tt_rule *r, __u32 hz,
				       struct tt_counters *cnt)
{
	switch (op) {
	case BPF_SOCK_OPS_TIMEOUT_INIT:
		if (r->set_mask & SET_SYN_RTO)
			skops->reply = (r->syn_rto_ms * hz + 999) / 1000;
		break;
	case BPF_SOCK_OPS_RWND_INIT:
		if (r->set_mask & SET_INIT_RWND)
			skops->reply = r->init_rwnd;
		break;
	case BPF_SOCK_OPS_NEEDS_ECN:
		if (r->set_mask & SET_ECN)
			skops->reply = 1;
		break;
	case BPF_SOCK_OPS_TCP_CONNECT_CB:
		set_socket_options(skops, r, cnt);
		break;
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
		set_established(skops, r, cnt);
		break;
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		set_socket_options(skops, r, cnt);
		set_established(skops, r, cnt);
		break;
	}
}

SEC("sockops")
int tune(struct bpf_sock_ops *skops)
{
	__u32 op = skops->op;
	struct find_ctx f = {};
	struct tt_ruleset *rs;
	struct tt_counters *cnt;
	struct tt_rule *r;
	__u32 key = 0;
	int idx, in;

	if (load_conn(skops, op, &f.c))
		return 1;
	rs = bpf_map_lookup_elem(&ruleset, &key);
	if (!rs)
		return 1;
	f.rs = rs;
	idx = find_rule(&f);
	if (idx < 0 || idx >= TT_MAX_RULES)
		return 1;
	r = &rs->rules[rule_index(idx)];
	key = idx;
	cnt = bpf_map_lookup_elem(&counters, &key);
	in = in_sample(r, &f.c, rs->seed);
	if (op == BPF_SOCK_OPS_TCP_CONNECT_CB || op == BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB)
		count_decision(cnt, in);
	if (in)
		apply_rule(skops, op, r, rs->hz, cnt);
	/* 1 = carry on; leaving `reply` alone keeps other programs' answers. */
	return 1;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
