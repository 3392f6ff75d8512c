/*
 * rate.c -- a token bucket in integer milli-tokens (see rate.h).
 * DIAGNOSTICS: none.
 */
#include "epsip/rate.h"

void
rate_limit_init(struct rate_limit *rl, unsigned rate, unsigned burst,
    uint64_t now_ms)
{
	rl->rate = rate;
	rl->burst = burst > 0 ? burst : (rate > 0 ? rate : 1);
	rl->tokens_milli = (uint64_t)rl->burst * 1000;
	rl->last_ms = now_ms;
}

int
rate_limit_take(struct rate_limit *rl, uint64_t now_ms)
{
	uint64_t cap = (uint64_t)rl->burst * 1000;

	if (rl->rate == 0) {
		return (1);
	}
	if (now_ms > rl->last_ms) {
		/* rate tokens/s = rate milli-tokens/ms */
		rl->tokens_milli += (now_ms - rl->last_ms) * rl->rate;
		if (rl->tokens_milli > cap) {
			rl->tokens_milli = cap;
		}
		rl->last_ms = now_ms;
	}
	if (rl->tokens_milli < 1000) {
		return (0);
	}
	rl->tokens_milli -= 1000;
	return (1);
}
