/*
 * udp_table.c -- chained hash table of UDP flows keyed by (listener, remote
 * ip:port), hashed with keyed SipHash-1-3 (see udp_table.h).
 *
 * Nothing here is fatal.  If doubling the buckets fails for lack of memory
 * the table keeps its old size and only gets slower.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <netinet/in.h>

#include "epsip/hash.h"

#include "udp_table.h"

#define MIN_BUCKETS	64

static size_t
ip_len(uint8_t family)
{
	return (family == AF_INET ? 4 : 16);
}

/* `out` may be `in` (a node re-keyed with its own address). */
static void
normalise(struct epsip_addr *out, const struct epsip_addr *in)
{
	struct epsip_addr a;

	memset(&a, 0, sizeof(a));
	a.family = in->family;
	a.port = in->port;
	memcpy(a.ip, in->ip, ip_len(in->family));
	*out = a;
}

static uint64_t
key_hash(const struct fm_udp_table *t, uint16_t listener,
    const struct epsip_addr *remote)
{
	uint8_t key[21];
	size_t n;

	/* Serialised so struct padding never reaches the hash. */
	key[0] = (uint8_t)(listener >> 8);
	key[1] = (uint8_t)listener;
	key[2] = remote->family;
	key[3] = (uint8_t)(remote->port >> 8);
	key[4] = (uint8_t)remote->port;
	n = ip_len(remote->family);
	memcpy(key + 5, remote->ip, n);
	return (siphash13(t->k0, t->k1, key, 5 + n));
}

static int
key_equal(const struct fm_udp_node *n, uint64_t hash, uint16_t listener,
    const struct epsip_addr *remote)
{
	return (n->hash == hash && n->listener == listener &&
	    n->remote.family == remote->family &&
	    n->remote.port == remote->port &&
	    memcmp(n->remote.ip, remote->ip, ip_len(remote->family)) == 0);
}

static size_t
round_pow2(size_t n)
{
	size_t v;

	v = MIN_BUCKETS;
	while (v < n && v < ((size_t)1 << (sizeof(size_t) * 8 - 2))) {
		v <<= 1;
	}
	return (v);
}

int
fm_udp_table_init(struct fm_udp_table *t, size_t expect)
{
	uint64_t key[2];
	size_t n;

	memset(t, 0, sizeof(*t));
	n = round_pow2(expect);
	t->buckets = calloc(n, sizeof(*t->buckets));
	if (t->buckets == NULL) {
		return (-1);
	}
	t->mask = n - 1;
	if (getrandom(key, sizeof(key), GRND_NONBLOCK) != sizeof(key)) {
		/*
		 * Only before the entropy pool is ready at boot: a weaker
		 * key still beats none.
		 */
		key[0] = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ULL;
		key[1] = (uint64_t)(uintptr_t)t ^ (uint64_t)clock();
	}
	t->k0 = key[0];
	t->k1 = key[1];
	return (0);
}

void
fm_udp_table_free(struct fm_udp_table *t)
{
	free(t->buckets);
	t->buckets = NULL;
	t->mask = 0;
	t->count = 0;
}

void
fm_udp_node_set_key(struct fm_udp_node *n, uint16_t listener,
    const struct epsip_addr *remote)
{
	SLIST_NEXT(n, next) = NULL;
	n->hash = 0;
	n->listener = listener;
	normalise(&n->remote, remote);
}

struct fm_udp_node *
fm_udp_table_find(const struct fm_udp_table *t, uint16_t listener,
    const struct epsip_addr *remote)
{
	struct fm_udp_node *n;
	uint64_t h;

	h = key_hash(t, listener, remote);
	SLIST_FOREACH(n, &t->buckets[h & t->mask], next) {
		if (key_equal(n, h, listener, remote)) {
			return (n);
		}
	}
	return (NULL);
}

static void
grow(struct fm_udp_table *t)
{
	struct fm_udp_chain *nb;
	struct fm_udp_node *n;
	size_t i, nsize;

	nsize = (t->mask + 1) * 2;
	if (nsize <= t->mask + 1) {
		return;
	}
	if ((nb = calloc(nsize, sizeof(*nb))) == NULL) {
		return;		/* longer chains, still correct */
	}
	for (i = 0; i <= t->mask; i++) {
		while ((n = SLIST_FIRST(&t->buckets[i])) != NULL) {
			SLIST_REMOVE_HEAD(&t->buckets[i], next);
			SLIST_INSERT_HEAD(&nb[n->hash & (nsize - 1)], n, next);
		}
	}
	free(t->buckets);
	t->buckets = nb;
	t->mask = nsize - 1;
}

int
fm_udp_table_insert(struct fm_udp_table *t, struct fm_udp_node *n)
{
	n->hash = key_hash(t, n->listener, &n->remote);
	if (fm_udp_table_find(t, n->listener, &n->remote) != NULL) {
		errno = EEXIST;
		return (-1);
	}
	if (t->count >= t->mask + 1) {
		grow(t);
	}
	SLIST_INSERT_HEAD(&t->buckets[n->hash & t->mask], n, next);
	t->count++;
	return (0);
}

void
fm_udp_table_remove(struct fm_udp_table *t, struct fm_udp_node *n)
{
	SLIST_REMOVE(&t->buckets[n->hash & t->mask], n, fm_udp_node, next);
	SLIST_NEXT(n, next) = NULL;
	t->count--;
}
