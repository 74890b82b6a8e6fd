// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Congestion control "sfReno": TCP Reno (RFC 5681) as a BPF struct_ops
 * tcp_congestion_ops, registered under the name "sf_reno". Slow start doubles
 * the window per round trip up to ssthresh, congestion avoidance adds one
 * segment per window of ACKed segments, a loss halves the window (never
 * below 2 segments), and an undone loss restores the window from before it.
 *
 *   prog sf_reno_ssthresh   SEC("struct_ops/sf_reno_ssthresh")
 *   prog sf_reno_cong_avoid SEC("struct_ops/sf_reno_cong_avoid")
 *   prog sf_reno_undo_cwnd  SEC("struct_ops/sf_reno_undo_cwnd")
 *   ops  sf_reno            SEC(".struct_ops"), registered as "sf_reno"
 *
 * The kernel hands callbacks a struct sock that bpf_tcp_ca lets us read as
 * the struct tcp_sock it is, and write the window fields of. The structs
 * below name only the fields used; preserve_access_index makes libbpf
 * relocate each access against the running kernel's BTF (CO-RE).
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

struct sock {
} __attribute__((preserve_access_index));

struct tcp_sock {
	__u32 snd_cwnd;
	__u32 snd_cwnd_cnt;
	__u32 snd_cwnd_clamp;
	__u32 snd_ssthresh;
	__u32 prior_cwnd;
	__u32 max_packets_out;
	__u8 is_cwnd_limited : 1;
} __attribute__((preserve_access_index));

/* libbpf matches members by name against the kernel's struct: the callbacks
 * left out stay NULL, which the kernel accepts for all but these three. */
struct tcp_congestion_ops {
	__u32 (*ssthresh)(struct sock *sk);
	void (*cong_avoid)(struct sock *sk, __u32 ack, __u32 acked);
	__u32 (*undo_cwnd)(struct sock *sk);
	char name[16];
} __attribute__((preserve_access_index));

static __always_inline struct tcp_sock *tcp_of(struct sock *sk)
{
	return (struct tcp_sock *)sk;
}

/* Whether the sender used the window it had: growing a window the
 * application does not fill would only store up a burst. In slow start the
 * window may grow to twice what is in flight. */
static __always_inline int cwnd_limited(struct tcp_sock *tp)
{
	if (BPF_CORE_READ_BITFIELD(tp, is_cwnd_limited))
		return 1;
	if (tp->snd_cwnd < tp->snd_ssthresh)
		return tp->snd_cwnd < 2 * tp->max_packets_out;
	return 0;
}

SEC("struct_ops/sf_reno_ssthresh")
__u32 BPF_PROG(sf_reno_ssthresh, struct sock *sk)
{
	__u32 half = tcp_of(sk)->snd_cwnd >> 1;

	return half > 2 ? half : 2;
}

SEC("struct_ops/sf_reno_cong_avoid")
void BPF_PROG(sf_reno_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
	struct tcp_sock *tp = tcp_of(sk);
	__u32 cwnd = tp->snd_cwnd, clamp = tp->snd_cwnd_clamp;
	__u32 ssthresh = tp->snd_ssthresh, cnt;

	if (!cwnd_limited(tp))
		return;
	if (cwnd < ssthresh) {
		/* Slow start: one segment per segment ACKed, up to ssthresh; the
		 * ACKed segments left over count towards congestion avoidance. */
		__u32 grown = cwnd + acked < ssthresh ? cwnd + acked : ssthresh;

		acked -= grown - cwnd;
		cwnd = grown;
		if (!acked) {
			tp->snd_cwnd = cwnd < clamp ? cwnd : clamp;
			return;
		}
	}
	/* Congestion avoidance: one segment per window's worth of ACKed segments. */
	cnt = tp->snd_cwnd_cnt + acked;
	if (cwnd && cnt >= cwnd) {
		__u32 delta = cnt / cwnd;

		cnt -= delta * cwnd;
		cwnd += delta;
	}
	tp->snd_cwnd_cnt = cnt;
	tp->snd_cwnd = cwnd < clamp ? cwnd : clamp;
}

SEC("struct_ops/sf_reno_undo_cwnd")
__u32 BPF_PROG(sf_reno_undo_cwnd, struct sock *sk)
{
	struct tcp_sock *tp = tcp_of(sk);

	return tp->snd_cwnd > tp->prior_cwnd ? tp->snd_cwnd : tp->prior_cwnd;
}

SEC(".struct_ops")
struct tcp_congestion_ops sf_reno = {
	.ssthresh = (void *)sf_reno_ssthresh,
	.cong_avoid = (void *)sf_reno_cong_avoid,
	.undo_cwnd = (void *)sf_reno_undo_cwnd,
	.name = "sf_reno",
};

char LICENSE[] SEC("license") = "GPL";
