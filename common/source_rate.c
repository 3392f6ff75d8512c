/*
 * source_rate.c -- token buckets per source address in a fixed table
 * (see source_rate.h).  Open addressing over a window of PROBE slots.
 * DIAGNOSTICS: none.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "epsip/hash.h"
#include "epsip/rate.h"
#include "epsip/source_rate.h"

/* Slots an address may take, from its hash on. */
#define PROBE	8

struct source_slot {
	uint8_t family;			/* 0: free */
	uint8_t ip[16];
	struct rate_limit bucket;
};

struct source_rate {
	unsigned rate, burst;
	uint64_t k0, k1;		/* SipHash key */
	size_t mask;
	struct source_slot *slots;
};

struct source_rate *
source_rate_new(unsigned rate, unsigned burst, size_t slots)
{
	struct source_rate *sr;
	size_t n = PROBE;

	while (n < slots) {
		n *= 2;
	}
	if ((sr = calloc(1, sizeof(*sr))) == NULL ||
	    (sr->slots = calloc(n, sizeof(*sr->slots))) == NULL) {
		free(sr);
		return (NULL);
	}
	sr->mask = n - 1;
	if (getrandom(&sr->k0, sizeof(sr->k0), 0) != sizeof(sr->k0) ||
	    getrandom(&sr->k1, sizeof(sr->k1), 0) != sizeof(sr->k1)) {
		/* Not secret then, but still a spread. */
		sr->k0 = (uint64_t)(uintptr_t)sr;
		sr->k1 = (uint64_t)(uintptr_t)sr->slots;
	}
	source_rate_set(sr, rate, burst);
	return (sr);
}

void
source_rate_free(struct source_rate *sr)
{
	if (sr != NULL) {
		free(sr->slots);
		free(sr);
	}
}

void
source_rate_set(struct source_rate *sr, unsigned rate, unsigned burst)
{
	sr->rate = rate;
	sr->burst = burst;
	memset(sr->slots, 0, (sr->mask + 1) * sizeof(*sr->slots));
}

static size_t
ip_len(uint8_t family)
{
	return (family == AF_INET6 ? 16 : 4);
}

/* The address's slot: its own, a free one, or the one idle longest. */
static struct source_slot *
find_slot(struct source_rate *sr, const struct epsip_addr *src)
{
	struct source_slot *s, *oldest = NULL;
	size_t n = ip_len(src->family), at;

	at = (size_t)siphash13(sr->k0, sr->k1, src->ip, n);
	for (size_t i = 0; i < PROBE; i++) {
		s = &sr->slots[(at + i) & sr->mask];
		if (s->family == src->family && memcmp(s->ip, src->ip, n) ==
		    0) {
			return (s);
		}
		if (s->family == 0) {
			oldest = s;
			break;
		}
		if (oldest == NULL ||
		    s->bucket.last_ms < oldest->bucket.last_ms) {
			oldest = s;
		}
	}
	return (oldest);
}

int
source_rate_take(struct source_rate *sr, const struct epsip_addr *src,
    uint64_t now_ms)
{
	struct source_slot *s;

	if (sr == NULL || sr->rate == 0 || src->family == 0) {
		return (1);
	}
	s = find_slot(sr, src);
	if (s->family != src->family ||
	    memcmp(s->ip, src->ip, ip_len(src->family)) != 0) {
		s->family = src->family;
		memcpy(s->ip, src->ip, sizeof(s->ip));
		rate_limit_init(&s->bucket, sr->rate, sr->burst, now_ms);
	}
	return (rate_limit_take(&s->bucket, now_ms));
}
