// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Scheduler "roundRobin": each call of get_send hands the next chunk of data
 * to the next subflow that can take it, in subflow-id order, wrapping around.
 * The last subflow used is remembered per connection in socket storage.
 *
 *   map  rr_last     BPF_MAP_TYPE_SK_STORAGE on the MPTCP socket, value __u32
 *                    subflow id last scheduled
 *   prog rr_get_send SEC("struct_ops/rr_get_send"), also used for retransmits
 *   ops  round_robin SEC(".struct_ops"), registered as "sf_round_robin"
 *
 * Two passes over the subflows keep the verifier's job simple: the first
 * only compares ids (no pointer outlives the loop), the second marks the
 * chosen one.
 */
#include "mptcp_sched.h"

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u32);
} rr_last SEC(".maps");

/* The id to use after `last`: the smallest ready id above it, else the
 * smallest ready id; 0 when no subflow is ready (ids start at 1). */
static __always_inline __u32 rr_pick(struct mptcp_sock *msk, __u32 last)
{
	struct bpf_iter_mptcp_subflow it;
	struct mptcp_subflow_context *sf;
	__u32 lowest = 0, above = 0;

	bpf_iter_mptcp_subflow_new(&it, (struct sock *)msk);
	while ((sf = bpf_iter_mptcp_subflow_next(&it))) {
		__u32 id = sf->subflow_id;

		if (!id || !sf_ready(sf))
			continue;
		if (!lowest || id < lowest)
			lowest = id;
		if (id > last && (!above || id < above))
			above = id;
	}
	bpf_iter_mptcp_subflow_destroy(&it);
	return above ? above : lowest;
}

static __always_inline void mark_id(struct mptcp_sock *msk, __u32 id)
{
	struct bpf_iter_mptcp_subflow it;
	struct mptcp_subflow_context *sf;

	bpf_iter_mptcp_subflow_new(&it, (struct sock *)msk);
	while ((sf = bpf_iter_mptcp_subflow_next(&it))) {
		if (sf->subflow_id == id) {
			mptcp_subflow_set_scheduled(sf, true);
			break;
		}
	}
	bpf_iter_mptcp_subflow_destroy(&it);
}

SEC("struct_ops/rr_get_send")
int BPF_PROG(rr_get_send, struct mptcp_sock *msk)
{
	__u32 *last = bpf_sk_storage_get(&rr_last, msk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	__u32 id = rr_pick(msk, last ? *last : 0);

	if (!id)
		return -1;
	mark_id(msk, id);
	if (last)
		*last = id;
	return 0;
}

SEC(".struct_ops")
struct mptcp_sched_ops round_robin = {
	.get_send = (void *)rr_get_send,
	.name = "sf_round_robin",
};

char LICENSE[] SEC("license") = "GPL";
