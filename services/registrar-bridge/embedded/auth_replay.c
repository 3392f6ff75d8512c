/*
 * auth_replay.c -- the nonce-count table (see auth_replay.h).
 *
 * A ring of entries in the order they were first used, which is the
 * order they are evicted in at the bound, and a chained hash over the
 * nonce's sequence number (unique within the epoch) to find them.  Both
 * are allocated once: calloc's pages stay untouched, and cost no memory,
 * until that many nonces are in use.
 * DIAGNOSTICS: none.
 */
#include <stdlib.h>

#include "epsip/stats.h"

#include "auth_replay.h"

struct replay_entry {
	uint64_t seq;
	int64_t expires;	/* Unix seconds: issued + lifetime */
	uint32_t nc;		/* the highest count used */
	uint32_t next;		/* index + 1 of the next in its bucket; 0 */
};

struct auth_replay {
	uint32_t epoch;
	uint64_t floor;		/* highest seq evicted before expiry */
	int evicted;		/* floor means something */
	size_t capacity, head, count;
	struct replay_entry *ring;
	uint32_t *bucket;	/* index + 1 of the first entry; 0: empty */
	size_t nbuckets;	/* a power of two */
};

struct auth_replay *
auth_replay_new(size_t capacity, uint32_t epoch)
{
	struct auth_replay *r;

	if (capacity == 0 || capacity >= UINT32_MAX ||
	    (r = calloc(1, sizeof(*r))) == NULL) {
		return (NULL);
	}
	r->epoch = epoch;
	r->capacity = capacity;
	for (r->nbuckets = 1; r->nbuckets < capacity; r->nbuckets <<= 1) {
		continue;
	}
	r->ring = calloc(capacity, sizeof(*r->ring));
	r->bucket = calloc(r->nbuckets, sizeof(*r->bucket));
	if (r->ring == NULL || r->bucket == NULL) {
		auth_replay_free(r);
		return (NULL);
	}
	return (r);
}

void
auth_replay_free(struct auth_replay *r)
{
	if (r == NULL) {
		return;
	}
	free(r->ring);
	free(r->bucket);
	free(r);
}

size_t
auth_replay_count(const struct auth_replay *r)
{
	return (r->count);
}

static size_t
bucket_of(const struct auth_replay *r, uint64_t seq)
{
	/* Fibonacci hashing: sequence numbers are consecutive. */
	return ((size_t)((seq * 0x9e3779b97f4a7c15ull) >> 32) &
	    (r->nbuckets - 1));
}

static struct replay_entry *
find(struct auth_replay *r, uint64_t seq)
{
	uint32_t i = r->bucket[bucket_of(r, seq)];

	while (i != 0) {
		struct replay_entry *e = &r->ring[i - 1];

		if (e->seq == seq) {
			return (e);
		}
		i = e->next;
	}
	return (NULL);
}

/* Take the oldest entry out of the ring and its bucket. */
static void
drop_oldest(struct auth_replay *r)
{
	struct replay_entry *e = &r->ring[r->head];
	uint32_t *link = &r->bucket[bucket_of(r, e->seq)];
	uint32_t self = (uint32_t)r->head + 1;

	while (*link != self) {
		link = &r->ring[*link - 1].next;
	}
	*link = e->next;
	r->head = (r->head + 1) % r->capacity;
	r->count--;
}

enum auth_replay_verdict
auth_replay_use(struct auth_replay *r, const struct digest_nonce *n,
    uint32_t nc, int64_t now, unsigned lifetime)
{
	struct replay_entry *e;
	size_t at;

	while (r->count > 0 && r->ring[r->head].expires <= now) {
		drop_oldest(r);
	}
	if (n->epoch != r->epoch) {
		return (AUTH_REPLAY_FORGOTTEN);
	}
	if ((e = find(r, n->seq)) != NULL) {
		if (nc <= e->nc) {
			return (AUTH_REPLAY_SEEN);
		}
		e->nc = nc;
		return (AUTH_REPLAY_OK);
	}
	if (r->evicted && n->seq <= r->floor) {
		return (AUTH_REPLAY_FORGOTTEN);
	}
	if (r->count == r->capacity) {
		e = &r->ring[r->head];
		if (!r->evicted || e->seq > r->floor) {
			r->floor = e->seq;
		}
		r->evicted = 1;
		stats_inc(M_AUTH_NONCES_EVICTED);
		drop_oldest(r);
		/* A seq at or under the new floor is forgotten, this one too
		 * when it is not above it. */
		if (n->seq <= r->floor) {
			return (AUTH_REPLAY_FORGOTTEN);
		}
	}
	at = (r->head + r->count) % r->capacity;
	e = &r->ring[at];
	e->seq = n->seq;
	e->expires = n->issued + (int64_t)lifetime;
	e->nc = nc;
	e->next = r->bucket[bucket_of(r, n->seq)];
	r->bucket[bucket_of(r, n->seq)] = (uint32_t)at + 1;
	r->count++;
	return (AUTH_REPLAY_OK);
}
