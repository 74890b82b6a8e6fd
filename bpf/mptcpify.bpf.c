// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * MptcpifyHook: an fmod_ret program on update_socket_protocol() (Linux 6.6+)
 * that turns chosen socket(AF_INET[6], SOCK_STREAM, 0 | IPPROTO_TCP) calls
 * into IPPROTO_MPTCP sockets, for any process, without LD_PRELOAD.
 *
 * Layout (userspace relies on it EXACTLY; see bpf/include/mptcpify.h):
 *
 *   map config   BPF_MAP_TYPE_ARRAY, 1 entry, key __u32 0
 *                value struct mptcpify_config { families, match_all, walk_cgroups, pad }
 *   map cgroups  BPF_MAP_TYPE_HASH, key __u64 cgroup id, value __u32 MPTCPIFY_* bits
 *   map comms    BPF_MAP_TYPE_HASH, key char[16] (task comm, NUL padded), value bits
 *   map uids     BPF_MAP_TYPE_HASH, key __u32 real uid, value bits
 *   map stats    BPF_MAP_TYPE_PERCPU_ARRAY, 1 entry, struct mptcpify_stats
 *   prog mptcpify  SEC("fmod_ret/update_socket_protocol")
 *
 * Decision: a socket outside the families, not a stream, or with another
 * protocol is left alone. Otherwise any EXCLUDE bit (uid, comm, or the task's
 * cgroup or one of its ancestors) leaves it TCP; then match_all or any SCOPE
 * bit makes it MPTCP. Returning 0 lets the kernel keep the caller's protocol.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "sockform.h"
#include "mptcpify.h"

#define SOCK_STREAM 1
/* socket() passes SOCK_NONBLOCK and SOCK_CLOEXEC in `type`; the kind is the low bits. */
#define SOCK_TYPE_MASK 0xf
#define IPPROTO_TCP 6
#define IPPROTO_MPTCP 262

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mptcpify_config);
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MPTCPIFY_MAX_CGROUPS);
	__type(key, __u64);
	__type(value, __u32);
} cgroups SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MPTCPIFY_MAX_COMMS);
	__type(key, char[MPTCPIFY_COMM_LEN]);
	__type(value, __u32);
} comms SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MPTCPIFY_MAX_UIDS);
	__type(key, __u32);
	__type(value, __u32);
} uids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mptcpify_stats);
} stats SEC(".maps");

static __always_inline __u32 bits_of(void *map, const void *key)
{
	__u32 *bits = bpf_map_lookup_elem(map, key);

	return bits ? *bits : 0;
}

/* Bits of the task's cgroup and every ancestor below the root. The helper
 * returns 0 past the task's own level, which ends the walk. */
static __always_inline __u32 cgroup_bits(void)
{
	__u32 found = 0;

	for (int level = 1; level <= MPTCPIFY_MAX_CGROUP_LEVEL; level++) {
		__u64 id = bpf_get_current_ancestor_cgroup_id(level);

		if (!id)
			break;
		found |= bits_of(&cgroups, &id);
	}
	return found;
}

static __always_inline __u32 task_bits(const struct mptcpify_config *cfg)
{
	char comm[MPTCPIFY_COMM_LEN] = {};
	__u32 uid = (__u32)bpf_get_current_uid_gid();
	__u32 found = bits_of(&uids, &uid);

	bpf_get_current_comm(comm, sizeof(comm));
	found |= bits_of(&comms, comm);
	if (cfg->walk_cgroups)
		found |= cgroup_bits();
	return found;
}

static __always_inline int family_bit(int family)
{
	if (family == AF_INET)
		return MPTCPIFY_FAMILY_IPV4;
	if (family == AF_INET6)
		return MPTCPIFY_FAMILY_IPV6;
	return 0;
}

SEC("fmod_ret/update_socket_protocol")
int BPF_PROG(mptcpify, int family, int type, int protocol)
{
	__u32 zero = 0;
	struct mptcpify_config *cfg = bpf_map_lookup_elem(&config, &zero);
	struct mptcpify_stats *st;
	__u32 found;

	if (!cfg || !(cfg->families & family_bit(family)))
		return 0;
	if ((type & SOCK_TYPE_MASK) != SOCK_STREAM)
		return 0;
	if (protocol != 0 && protocol != IPPROTO_TCP)
		return 0;
	st = bpf_map_lookup_elem(&stats, &zero);
	if (st)
		st->considered++;
	found = task_bits(cfg);
	if (found & MPTCPIFY_EXCLUDE)
		return 0;
	if (!cfg->match_all && !(found & MPTCPIFY_SCOPE))
		return 0;
	if (st)
		st->forced++;
	return IPPROTO_MPTCP;
}

char LICENSE[] SEC("license") = "GPL";
