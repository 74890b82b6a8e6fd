// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Scheduler "backupFirst": backup subflows are the first to be left out.
 * Data goes to the lowest-id ready subflow that is not a backup (by the
 * peer's flag or the local endpoint's); only when no such subflow is ready
 * does it go to the lowest-id ready backup subflow.
 *
 *   prog bkup_get_send SEC("struct_ops/bkup_get_send")
 *   ops  backup_first  SEC(".struct_ops"), registered as "sf_backup_first"
 */
#include "mptcp_sched.h"

/* Lowest ready subflow id among backups (want_backup) or non-backups; 0 = none. */
static __always_inline __u32 lowest_ready(struct mptcp_sock *msk, bool want_backup)
{
	struct bpf_iter_mptcp_subflow it;
	struct mptcp_subflow_context *sf;
	__u32 lowest = 0;

	bpf_iter_mptcp_subflow_new(&it, (struct sock *)msk);
	while ((sf = bpf_iter_mptcp_subflow_next(&it))) {
		__u32 id = sf->subflow_id;

		if (!id || sf_is_backup(sf) != want_backup || !sf_ready(sf))
			continue;
		if (!lowest || id < lowest)
			lowest = id;
	}
	bpf_iter_mptcp_subflow_destroy(&it);
	return lowest;
}

SEC("struct_ops/bkup_get_send")
int BPF_PROG(bkup_get_send, struct mptcp_sock *msk)
{
	struct bpf_iter_mptcp_subflow it;
	struct mptcp_subflow_context *sf;
	__u32 id = lowest_ready(msk, false);

	if (!id)
		id = lowest_ready(msk, true);
	if (!id)
		return -1;
	bpf_iter_mptcp_subflow_new(&it, (struct sock *)msk);
	while ((sf = bpf_iter_mptcp_subflow_next(&it))) {
		if (sf->subflow_id == id) {
			mptcp_subflow_set_scheduled(sf, true);
			break;
		}
	}
	bpf_iter_mptcp_subflow_destroy(&it);
	return 0;
}

SEC(".struct_ops")
struct mptcp_sched_ops backup_first = {
	.get_send = (void *)bkup_get_send,
	.name = "sf_backup_first",
};

char LICENSE[] SEC("license") = "GPL";
