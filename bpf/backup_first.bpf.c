// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Scheduler "backupFirst": backup subflows are the first to be left out.
 * While any subflow that is not a backup (by the peer's flag or the local
 * endpoint's) is active, data goes only to such subflows: the lowest-id one
 * with send space, or nowhere until one has space. Only when no non-backup
 * subflow is active does data go to the lowest-id backup subflow with space.
 *
 *   prog bkup_get_send SEC("struct_ops/bkup_get_send")
 *   ops  backup_first  SEC(".struct_ops"), registered as "sf_backup_first"
 */
#include "mptcp_sched.h"

/* Lowest id among active backups (want_backup) or non-backups, requiring send
 * space when need_space; 0 = none. */
static __always_inline __u32 lowest(struct mptcp_sock *msk, bool want_backup, bool need_space)
{
	struct bpf_iter_mptcp_subflow it;
	struct mptcp_subflow_context *sf;
	__u32 found = 0;

	bpf_iter_mptcp_subflow_new(&it, (struct sock *)msk);
	while ((sf = bpf_iter_mptcp_subflow_next(&it))) {
		__u32 id = sf->subflow_id;

		if (!id || sf_is_backup(sf) != want_backup || !mptcp_subflow_active(sf))
			continue;
		if (need_space && !bpf_sk_stream_memory_free(sf))
			continue;
		if (!found || id < found)
			found = id;
	}
	bpf_iter_mptcp_subflow_destroy(&it);
	return found;
}

SEC("struct_ops/bkup_get_send")
int BPF_PROG(bkup_get_send, struct mptcp_sock *msk)
{
	struct bpf_iter_mptcp_subflow it;
	struct mptcp_subflow_context *sf;
	__u32 id = lowest(msk, false, true);

	if (!id) {
		/* A busy active path is waited for, not bypassed. */
		if (lowest(msk, false, false))
			return -1;
		id = lowest(msk, true, true);
	}
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
