/*
 * udp_table.h -- the parent's map from (listener, remote address) to the
 * UDP flow that owns it.
 *
 * Every datagram the parent receives is looked up here, so lookups are O(1)
 * on average whatever the number of flows (designed for 100k and more).
 * The table is intrusive: the caller embeds a struct fm_udp_node in its own
 * flow record, so an insert never allocates per flow.  Buckets double when
 * the load passes one.  Remote addresses are chosen by the network, so the
 * hash is SipHash-1-3 keyed from getrandom(): nobody can aim datagrams at
 * one bucket.
 */
#ifndef EPSIP_FM_UDP_TABLE_H
#define EPSIP_FM_UDP_TABLE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "epsip/ipc.h"

struct fm_udp_node {
	SLIST_ENTRY(fm_udp_node) next;	/* bucket chain */
	uint64_t hash;
	uint16_t listener;
	struct epsip_addr remote;	/* normalised: unused ip bytes zero */
};

SLIST_HEAD(fm_udp_chain, fm_udp_node);

struct fm_udp_table {
	struct fm_udp_chain *buckets;
	size_t mask;			/* bucket count - 1 (a power of two) */
	size_t count;
	uint64_t k0, k1;		/* hash key */
};

/* Empty table sized for `expect` entries; 0 or -1 (ENOMEM). */
int fm_udp_table_init(struct fm_udp_table *t, size_t expect);
/* Frees the buckets, not the nodes (they belong to the caller). */
void fm_udp_table_free(struct fm_udp_table *t);

/* Set a node's key before inserting it. */
void fm_udp_node_set_key(struct fm_udp_node *n, uint16_t listener,
    const struct epsip_addr *remote);

struct fm_udp_node *fm_udp_table_find(const struct fm_udp_table *t,
    uint16_t listener, const struct epsip_addr *remote);
/* 0, or -1 if the key is already present.  Never fails for memory. */
int fm_udp_table_insert(struct fm_udp_table *t, struct fm_udp_node *n);
/* `n` must be in the table. */
void fm_udp_table_remove(struct fm_udp_table *t, struct fm_udp_node *n);

#endif /* EPSIP_FM_UDP_TABLE_H */
