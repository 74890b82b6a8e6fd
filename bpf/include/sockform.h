/* Shared definitions for sockform's BPF programs. Userspace (TypeScript)
 * encodes and decodes these structs by hand, so their layout is a contract:
 * change it only together with the providers that read it. */
#ifndef SOCKFORM_H
#define SOCKFORM_H

#include <linux/types.h>

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif

/* Key of the sk_lookup `bindings` LPM trie (24 bytes). The prefix covers
 * protocol, family and port (32 bits) and then `addr` bit by bit, so every
 * entry pins one protocol, one IP version and one port (0 = all ports) and an
 * address prefix. The family byte keeps IPv6 prefixes such as ::/0 from
 * matching IPv4 lookups, whose addresses share the v4-mapped range.
 * IPv4 addresses are stored v4-mapped (::ffff:a.b.c.d), so an IPv4 /n is a
 * prefixlen of 32 + 96 + n; an IPv6 /n is 32 + n. */
struct binding_key {
	__u32 prefixlen;
	__u8 protocol; /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 family;   /* 4 for IPv4, 6 for IPv6 */
	__u16 port;    /* host byte order; 0 matches every port */
	__u8 addr[16]; /* network byte order */
};

/* Bits of a binding_key after `prefixlen`: 8 + 8 + 16 + 128. */
#define BINDING_KEY_FULL_PREFIX 160

/* Value of the `bindings` trie: the destination id in the low 16 bits, and
 * DEST_FALLTHROUGH when the destination opted in to falling through to the
 * kernel's normal lookup while it has no socket (the default is to refuse). */
#define DEST_ID_MASK 0xffff
#define DEST_FALLTHROUGH (1u << 16)

/* Value of the `counters` array, one slot per destination id. */
struct dest_counters {
	__u64 lookups;    /* lookups that matched a binding to this destination */
	__u64 redirected; /* lookups handed to the destination's socket */
	__u64 no_socket;  /* matched, but the socket was missing or refused:
	                     refused (SK_DROP), or passed on with DEST_FALLTHROUGH */
};

#define MAX_BINDINGS 65536
#define MAX_DESTINATIONS 1024

#endif /* SOCKFORM_H */
