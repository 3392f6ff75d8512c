/*
 * rate.h -- a token bucket: at most `rate` events a second on average,
 * `burst` at once.  Used to bound how fast new flows are created, so a
 * flood of connections or spoofed datagrams cannot make the flow-manager
 * spawn children and allocate slots faster than an operator allows.
 */
#ifndef EPSIP_RATE_H
#define EPSIP_RATE_H

#include <stdint.h>

struct rate_limit {
	unsigned rate;		/* tokens per second; 0: unlimited */
	unsigned burst;		/* bucket size */
	uint64_t tokens_milli;	/* thousandths of a token */
	uint64_t last_ms;
};

void rate_limit_init(struct rate_limit *rl, unsigned rate, unsigned burst,
    uint64_t now_ms);
/* 1: take one token and go ahead; 0: over the limit. */
int rate_limit_take(struct rate_limit *rl, uint64_t now_ms);

#endif /* EPSIP_RATE_H */
