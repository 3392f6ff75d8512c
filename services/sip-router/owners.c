/*
 * owners.c -- a hash table of push sockets to flow-manager children.
 * DIAGNOSTICS: none; a failed dial is reported as NULL (the flow is gone).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "epsip/config.h"
#include "epsip/flow_token.h"
#include "epsip/stats.h"
#include "owners.h"

#define OWNERS_BUCKETS	4096	/* power of two */
/*
 * Batches queued per child while it is busy (nng allows up to 8192).  A
 * batch refused here drops SIP a TCP sender will not retransmit, so the
 * queue is deep; it fills only while a child is stalled, and then holds at
 * most this many of the router's batches (small unless the child was).
 */
#define OWNERS_QUEUE	1024

struct owner {
	SLIST_ENTRY(owner) next;
	uint16_t instance;
	uint32_t child;
	struct ipc_socket *sock;
};

struct owners {
	char run_dir[CONFIG_PATH_MAX];
	SLIST_HEAD(owner_chain, owner) buckets[OWNERS_BUCKETS];
	size_t count;
};

struct owners *
owners_new(const char *run_dir)
{
	struct owners *o = calloc(1, sizeof(*o));

	if (o != NULL) {
		strncpy(o->run_dir, run_dir, sizeof(o->run_dir) - 1);
	}
	return (o);
}

static struct owner_chain *
owners_chain(struct owners *o, uint16_t instance, uint32_t child)
{
	uint32_t h = (child * 2654435761u) ^ instance;

	return (&o->buckets[h & (OWNERS_BUCKETS - 1)]);
}

static struct owner *
owners_find(struct owners *o, uint16_t instance, uint32_t child)
{
	struct owner *e;

	SLIST_FOREACH(e, owners_chain(o, instance, child), next) {
		if (e->child == child && e->instance == instance) {
			break;
		}
	}
	return (e);
}

void
owners_drop(struct owners *o, uint16_t instance, uint32_t child)
{
	struct owner *e = owners_find(o, instance, child);

	if (e != NULL) {
		SLIST_REMOVE(owners_chain(o, instance, child), e, owner, next);
		ipc_close(e->sock);
		free(e);
		o->count--;
	}
}

struct ipc_socket *
owners_get(struct owners *o, uint16_t instance, uint32_t child)
{
	struct owner *e = owners_find(o, instance, child);
	char url[CONFIG_PATH_MAX + 64];
	struct ipc_socket *sock;

	if (e != NULL && !ipc_peer_lost(e->sock)) {
		return (e->sock);
	}
	if (e != NULL) {
		owners_drop(o, instance, child);
	}
	/* Integers from a verified token only (FT-07). */
	if (flow_owner_ipc_url(o->run_dir, instance, child, url,
	    sizeof(url)) == -1 ||
	    ipc_push_dial(&sock, url, 1, OWNERS_QUEUE) == -1) {
		stats_inc(M_IPC_OWNER_DIAL_FAILED);
		return (NULL);
	}
	if ((e = calloc(1, sizeof(*e))) == NULL) {
		ipc_close(sock);
		return (NULL);
	}
	e->instance = instance;
	e->child = child;
	e->sock = sock;
	SLIST_INSERT_HEAD(owners_chain(o, instance, child), e, next);
	o->count++;
	return (sock);
}

size_t
owners_sweep(struct owners *o)
{
	struct owner *e, *next;
	size_t i, n = 0;

	for (i = 0; i < OWNERS_BUCKETS; i++) {
		for (e = SLIST_FIRST(&o->buckets[i]); e != NULL; e = next) {
			next = SLIST_NEXT(e, next);
			if (!ipc_peer_lost(e->sock)) {
				continue;
			}
			/* Chains are short: a bucket per child number. */
			SLIST_REMOVE(&o->buckets[i], e, owner, next);
			ipc_close(e->sock);
			free(e);
			o->count--;
			n++;
		}
	}
	return (n);
}

size_t
owners_count(const struct owners *o)
{
	return (o->count);
}

void
owners_foreach(struct owners *o,
    void (*fn)(struct ipc_socket *sock, void *arg), void *arg)
{
	struct owner *e;

	for (size_t i = 0; i < OWNERS_BUCKETS; i++) {
		SLIST_FOREACH(e, &o->buckets[i], next) {
			fn(e->sock, arg);
		}
	}
}

void
owners_free(struct owners *o)
{
	struct owner *e;

	if (o == NULL) {
		return;
	}
	for (size_t i = 0; i < OWNERS_BUCKETS; i++) {
		while ((e = SLIST_FIRST(&o->buckets[i])) != NULL) {
			SLIST_REMOVE_HEAD(&o->buckets[i], next);
			ipc_close(e->sock);
			free(e);
		}
	}
	free(o);
}
