/*
 * source_rate.h -- a token bucket per source address: how fast one
 * address may open flows (flow-manager) or send requests (sip-router),
 * so that one flooding host cannot take the edge's share of everyone.
 *
 * The table is fixed in size and holds the addresses seen lately; an
 * address not in it starts with a full bucket.  When every slot an
 * address may take is held by another, the one idle longest gives way:
 * a bucket it had refilled meanwhile is no loss, so eviction only costs
 * a flooder that rotates through more addresses than there are slots
 * one burst per address -- which a per-source limit cannot stop anyway.
 * The slot is chosen by SipHash under a random key, so nobody can aim
 * many addresses at one slot.  The port does not count: phones behind
 * one NAT share an address, which is what the burst is sized for.
 */
#ifndef EPSIP_SOURCE_RATE_H
#define EPSIP_SOURCE_RATE_H

#include <stddef.h>
#include <stdint.h>

#include "epsip/ipc.h"

struct source_rate;

/*
 * `rate` per second per address on average, `burst` at once (0: rate);
 * rate 0 takes everything.  `slots` is rounded up to a power of two.
 * NULL without memory.
 */
struct source_rate *source_rate_new(unsigned rate, unsigned burst,
    size_t slots);
void source_rate_free(struct source_rate *sr);
/* New limits (reload); buckets start again full. */
void source_rate_set(struct source_rate *sr, unsigned rate, unsigned burst);
/* 1: `src` may go ahead (one token taken); 0: it is over its limit. */
int source_rate_take(struct source_rate *sr, const struct epsip_addr *src,
    uint64_t now_ms);

#endif /* EPSIP_SOURCE_RATE_H */
