/*
 * overload.c -- the 503 an overloaded edge gives, and the share of new
 * requests the children shed themselves (see overload.h).
 * DIAGNOSTICS: none.
 */
#include <stdio.h>

#include "epsip/overload.h"
#include "epsip/sip_reply.h"

int
overload_is_late(const struct epsip_config *cfg, const struct epsip_msg *msg,
    uint64_t now_ms)
{
	return (msg->transport == EPSIP_TRANSPORT_UDP &&
	    overload_waited_too_long(cfg, msg->stamp_ms, now_ms));
}

int
overload_waited_too_long(const struct epsip_config *cfg, uint64_t since_ms,
    uint64_t now_ms)
{
	return (cfg->overload_delay != 0 && since_ms != 0 &&
	    now_ms > since_ms && now_ms - since_ms > cfg->overload_delay);
}

int
overload_reply(const struct epsip_config *cfg, const char *buf, size_t len,
    char **out, size_t *out_len)
{
	struct sip_reply_header retry = { "Retry-After", NULL };
	struct sip_scan scan;
	char seconds[16];

	if (sip_scan(buf, len, &scan) == -1 ||
	    !sip_request_starts_work(&scan)) {
		return (0);
	}
	snprintf(seconds, sizeof(seconds), "%u", cfg->retry_after);
	retry.value = seconds;
	return (sip_reply_from_request(&scan, 503, NULL, &retry, 1, out,
	    out_len) == 0 ? 1 : 0);
}

uint64_t
overload_wait_ms(const struct epsip_msg *msg, uint64_t now_ms)
{
	return (msg->stamp_ms != 0 && now_ms > msg->stamp_ms ?
	    now_ms - msg->stamp_ms : 0);
}

void
overload_meter_count(struct overload_meter *m, uint64_t wait_ms)
{
	if (m->seen++ == 0 || wait_ms < m->least_wait_ms) {
		m->least_wait_ms = wait_ms;
	}
}

uint32_t
overload_meter_next(struct overload_meter *m, const struct epsip_config *cfg)
{
	uint64_t step, share = m->share;

	if (m->seen > 0 && cfg->overload_delay != 0 &&
	    m->least_wait_ms > cfg->overload_delay) {
		/* A standing queue: shed more at the children. */
		step = (OVERLOAD_SHARE_ONE - share) / 4;
		share += step > OVERLOAD_SHARE_ONE / 16 ? step :
		    OVERLOAD_SHARE_ONE / 16;
		if (share > OVERLOAD_SHARE_MAX) {
			share = OVERLOAD_SHARE_MAX;
		}
	} else {
		share -= share / 8;
		if (share < OVERLOAD_SHARE_ONE / 256) {
			share = 0;
		}
	}
	m->seen = 0;
	m->least_wait_ms = 0;
	m->share = (uint32_t)share;
	return (m->share);
}

void
overload_gate_set(struct overload_gate *g, uint32_t share, uint64_t now_ms)
{
	g->share = share > OVERLOAD_SHARE_MAX ? OVERLOAD_SHARE_MAX : share;
	g->until_ms = now_ms + OVERLOAD_HOLD_MS;
	if (g->share == 0) {
		g->credit = 0;
	}
}

int
overload_gate_turn(struct overload_gate *g, uint64_t now_ms)
{
	if (g->share == 0) {
		return (0);
	}
	if (now_ms >= g->until_ms) {
		g->share = 0;		/* the router went quiet */
		g->credit = 0;
		return (0);
	}
	g->credit += g->share;
	if (g->credit < OVERLOAD_SHARE_ONE) {
		return (0);
	}
	g->credit -= OVERLOAD_SHARE_ONE;
	return (1);
}

void
overload_gate_missed(struct overload_gate *g)
{
	/* Not a request to shed: the next message takes the turn. */
	g->credit += OVERLOAD_SHARE_ONE - 1;
}
