/* The MPTCP BPF packet scheduler API: struct mptcp_sched_ops as a BPF
 * struct_ops, the subflow iterator and the scheduler kfuncs. Only kernels
 * carrying the MPTCP developers' "mptcp packet scheduler struct_ops" series
 * have it (providers/scheduler/support.ts detects them from BTF).
 *
 * Hand-written on purpose instead of a generated vmlinux.h: the schedulers
 * touch a handful of fields, and every struct below carries
 * preserve_access_index, so libbpf relocates each access against the running
 * kernel's BTF (CO-RE). Fields the kernel keeps inside anonymous unions or
 * struct_group()s are declared flat here; libbpf's CO-RE matching descends
 * into anonymous members, so the names are all that must agree. A full
 * vmlinux.h would be tied to one kernel build and would add megabytes to the
 * repository for no gain. */
#ifndef SOCKFORM_MPTCP_SCHED_H
#define SOCKFORM_MPTCP_SCHED_H

#include <stdbool.h>
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#ifndef __ksym
#define __ksym __attribute__((section(".ksyms")))
#endif

/* Defined, not just declared: libbpf 1.1 finds a forward declaration incompatible
 * with the kernel's struct when it checks the kfunc prototypes below. */
struct sock {
} __attribute__((preserve_access_index));

struct mptcp_sock {
	__u32 snd_burst;
} __attribute__((preserve_access_index));

struct mptcp_subflow_context {
	__u32 request_bkup : 1;
	__u32 backup : 1;
	__u32 subflow_id;
} __attribute__((preserve_access_index));

/* The callbacks sockform's schedulers fill in. libbpf matches members by
 * name against the kernel's struct, so the ones left out stay NULL. */
struct mptcp_sched_ops {
	int (*get_send)(struct mptcp_sock *msk);
	int (*get_retrans)(struct mptcp_sock *msk);
	char name[16];
	void (*init)(struct mptcp_sock *msk);
	void (*release)(struct mptcp_sock *msk);
};

/* Open-coded iterator over an msk's subflows (16 opaque bytes). */
struct bpf_iter_mptcp_subflow {
	__u64 __opaque[2];
} __attribute__((aligned(8)));

extern int bpf_iter_mptcp_subflow_new(struct bpf_iter_mptcp_subflow *it,
				      struct sock *sk) __ksym;
extern struct mptcp_subflow_context *
bpf_iter_mptcp_subflow_next(struct bpf_iter_mptcp_subflow *it) __ksym;
extern void bpf_iter_mptcp_subflow_destroy(struct bpf_iter_mptcp_subflow *it) __ksym;

extern void mptcp_subflow_set_scheduled(struct mptcp_subflow_context *subflow,
					bool scheduled) __ksym;
extern bool mptcp_subflow_active(struct mptcp_subflow_context *subflow) __ksym;
extern bool bpf_sk_stream_memory_free(const struct mptcp_subflow_context *subflow) __ksym;

/* A subflow the default scheduler would keep in reserve: backup by the
 * peer's MP_PRIO/MP_JOIN flag or by the local endpoint's request. */
static __always_inline bool sf_is_backup(const struct mptcp_subflow_context *sf)
{
	return BPF_CORE_READ_BITFIELD(sf, backup) || BPF_CORE_READ_BITFIELD(sf, request_bkup);
}

/* A subflow that can take data now. */
static __always_inline bool sf_ready(struct mptcp_subflow_context *sf)
{
	return mptcp_subflow_active(sf) && bpf_sk_stream_memory_free(sf);
}

#endif
