/* MptcpifyHook's map layouts. Userspace (providers/mptcpify_hook/kernel.ts)
 * encodes and decodes these structs by hand, so their layout is a contract:
 * change it only together with that file. */
#ifndef SOCKFORM_MPTCPIFY_H
#define SOCKFORM_MPTCPIFY_H

#include <linux/types.h>

/* Bits of a cgroups/comms/uids map value. */
#define MPTCPIFY_SCOPE 1u   /* the socket is in scope */
#define MPTCPIFY_EXCLUDE 2u /* the socket stays TCP, whatever else matches */

/* Bits of mptcpify_config.families. */
#define MPTCPIFY_FAMILY_IPV4 1u
#define MPTCPIFY_FAMILY_IPV6 2u

/* Value of the one-entry `config` array (16 bytes). */
struct mptcpify_config {
	__u32 families;     /* MPTCPIFY_FAMILY_* bits */
	__u32 match_all;    /* 1: an empty scope, every TCP socket not excluded */
	__u32 walk_cgroups; /* 1: the cgroups map has entries, look up the task's cgroups */
	__u32 pad;          /* always 0 */
};

/* Value of the per-CPU `stats` array (16 bytes per CPU). */
struct mptcpify_stats {
	__u64 considered; /* TCP sockets of a chosen family the hook saw */
	__u64 forced;     /* of those, created as MPTCP */
};

#define MPTCPIFY_COMM_LEN 16 /* TASK_COMM_LEN: 15 bytes and a NUL */
#define MPTCPIFY_MAX_CGROUPS 1024
#define MPTCPIFY_MAX_COMMS 1024
#define MPTCPIFY_MAX_UIDS 1024
/* Deepest cgroup level the hook looks at (the root is level 0). */
#define MPTCPIFY_MAX_CGROUP_LEVEL 32

#endif /* SOCKFORM_MPTCPIFY_H */
