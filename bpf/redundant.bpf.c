// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Scheduler "redundant": every chunk of data is scheduled on every active
 * subflow that has send space, and the receiver keeps whichever copy arrives
 * first. Kernels whose push path duplicates data on every scheduled subflow
 * send it on each path; the mptcp-next test kernel (mainline push path)
 * duplicates only retransmissions and splits fresh data between the paths.
 *
 *   prog red_get_send SEC("struct_ops/red_get_send")
 *   ops  redundant    SEC(".struct_ops"), registered as "sf_redundant"
 */
#include "mptcp_sched.h"

SEC("struct_ops/red_get_send")
int BPF_PROG(red_get_send, struct mptcp_sock *msk)
{
	struct bpf_iter_mptcp_subflow it;
	struct mptcp_subflow_context *sf;
	bool any = false;

	bpf_iter_mptcp_subflow_new(&it, (struct sock *)msk);
	while ((sf = bpf_iter_mptcp_subflow_next(&it))) {
		if (!sf_ready(sf))
			continue;
		mptcp_subflow_set_scheduled(sf, true);
		any = true;
	}
	bpf_iter_mptcp_subflow_destroy(&it);
	return any ? 0 : -1;
}

SEC(".struct_ops")
struct mptcp_sched_ops redundant = {
	.get_send = (void *)red_get_send,
	.name = "sf_redundant",
};

char LICENSE[] SEC("license") = "GPL";
