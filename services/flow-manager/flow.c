/*
 * flow.c -- a child's flows: the slot table, opening and closing flows,
 * the router envelope, and reaping silent flows.
 *
 * A flow lives in slot `id.slot` of its child.  Closing one is always the
 * same: release its socket and buffers, tell the parent FLOW_CLOSED (the
 * parent tells the router), remember the generation so a datagram still
 * in flight cannot bring the flow back, and free it.
 *
 * Nothing here is fatal.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "epsip/ipc_socket.h"
#include "epsip/log.h"
#include "epsip/stats.h"

#include "child.h"
#include "flow_manager.h"

void
fm_flow_describe(const struct fm_flow *f, char *buf, size_t cap)
{
	char local[64], remote[64];

	(void)epsip_addr_format(&f->local, local, sizeof(local));
	(void)epsip_addr_format(&f->remote, remote, sizeof(remote));
	(void)snprintf(buf, cap, "%s %s -> %s",
	    epsip_transport_name(f->transport), remote, local);
}

void
fm_flow_set_aor(struct fm_flow *f, const uint8_t *aor, size_t len)
{
	char text[EPSIP_AOR_MAX + 1], *copy;

	if (len == 0) {
		return;
	}
	(void)epsip_aor_copy(text, aor, len);
	if (f->aor != NULL && strcmp(f->aor, text) == 0) {
		return;		/* the usual re-REGISTER */
	}
	if ((copy = strdup(text)) == NULL) {
		log_warn("AoR of a flow");
		return;
	}
	free(f->aor);
	f->aor = copy;
}

void
fm_flow_gauges(struct fm_child *c)
{
	/* "flows.open.*" is the parent's: totals must not count a flow twice. */
	for (uint8_t t = EPSIP_TRANSPORT_UDP; t <= EPSIP_TRANSPORT_MAX; t++) {
		stats_set(metric_label_find(MF_FLOWS_OWNED,
		    epsip_transport_name(t)), (int64_t)c->nopen[t]);
	}
}

struct fm_flow *
fm_flow_new(struct fm_child *c, const struct fm_ctl_msg *m, uint8_t transport)
{
	struct fm_flow *f;
	char what[160];

	if (m->slot >= c->nslots || m->listener >= c->nlisteners) {
		log_warnx("flow for slot %" PRIu32 " listener %u out of range",
		    m->slot, (unsigned)m->listener);
		stats_inc(M_CONTROL_ERRORS);
		return (NULL);
	}
	if ((f = c->flows[m->slot]) != NULL) {
		/* The parent thinks the slot free: ours is stale. */
		log_flow(LOG_LEVEL_WARN, &f->id,
		    "slot reused by generation %" PRIu32, m->generation);
		fm_flow_close(f, EPSIP_CLOSE_RESET);
	}
	if ((f = calloc(1, sizeof(*f))) == NULL) {
		log_warn("flow for slot %" PRIu32, m->slot);
		return (NULL);
	}
	f->child = c;
	f->udp_fd = -1;
	f->id.instance = c->instance;
	f->id.child = c->id;
	f->id.slot = m->slot;
	f->id.generation = m->generation;
	f->transport = transport;
	f->listener = m->listener;
	f->local = m->local;
	f->remote = m->remote;
	f->opened_ms = f->last_activity_ms = loop_now_ms(c->loop);
	c->flows[m->slot] = f;
	c->nflows++;
	c->nopen[transport]++;
	c->had_flow = 1;
	fm_flow_describe(f, what, sizeof(what));
	log_flow(LOG_LEVEL_INFO, &f->id, "opened %s", what);
	fm_flow_gauges(c);
	return (f);
}

void
fm_flow_close(struct fm_flow *f, uint32_t reason)
{
	struct fm_child *c;
	char what[160];

	c = f->child;
	fm_flow_describe(f, what, sizeof(what));
	log_flow(LOG_LEVEL_INFO, &f->id, "closed %s: %s", what,
	    epsip_close_reason_name(reason));
	if (epsip_transport_is_stream(f->transport)) {
		fm_stream_flow_release(f);
	} else {
		fm_udp_flow_release(f);
	}
	c->nopen[f->transport]--;
	/* The parent counts flows.closed.<reason>: every close reaches it. */
	if (c->orphaned) {
		(void)fm_flow_to_router(f, EPSIP_MSG_FLOW_CLOSED, reason, NULL,
		    0);
	} else {
		fm_child_ctl_send_closed(c, f->id.slot, f->id.generation,
		    reason);
	}
	c->flows[f->id.slot] = NULL;
	c->closed_gen[f->id.slot] = f->id.generation;
	c->nflows--;
	free(f->aor);
	free(f);
	fm_flow_gauges(c);
	fm_child_maybe_exit(c);
}

struct fm_flow *
fm_flow_find(struct fm_child *c, const struct epsip_flow_id *id)
{
	struct fm_flow *f;

	if (id->instance != c->instance || id->child != c->id ||
	    id->slot >= c->nslots) {
		return (NULL);
	}
	f = c->flows[id->slot];
	if (f == NULL || f->id.generation != id->generation) {
		return (NULL);
	}
	return (f);
}

int
fm_flow_to_router(struct fm_flow *f, uint16_t type, uint32_t arg,
    const void *payload, size_t len)
{
	return (fm_flow_to_router_at(f, type, arg, payload, len,
	    loop_now_ms(f->child->loop)));
}

static void
flow_envelope(struct fm_flow *f, struct epsip_msg *m, uint16_t type,
    uint32_t arg, const void *payload, size_t len, uint64_t arrived_ms)
{
	epsip_msg_init(m, (enum epsip_msg_type)type);
	m->arg = arg;
	m->flow = f->id;
	m->transport = f->transport;
	m->local = f->local;
	m->remote = f->remote;
	/* When the bytes arrived: later hops shed what waited too long. */
	m->stamp_ms = arrived_ms;
	m->payload = payload;
	m->payload_len = len;
}

int
fm_flow_to_router_at(struct fm_flow *f, uint16_t type, uint32_t arg,
    const void *payload, size_t len, uint64_t arrived_ms)
{
	struct epsip_msg m;

	if (f->child->router == NULL) {
		return (-1);
	}
	flow_envelope(f, &m, type, arg, payload, len, arrived_ms);
	/* ipc_send counts what it cannot keep. */
	return (ipc_send(f->child->router, &m));
}

int
fm_flow_offer_to_router(struct fm_flow *f, const void *sip, size_t len,
    uint64_t arrived_ms)
{
	struct epsip_msg m;

	if (f->child->router == NULL) {
		return (-1);
	}
	flow_envelope(f, &m, EPSIP_MSG_SIP_FROM_FLOW, 0, sip, len,
	    arrived_ms);
	return (ipc_offer(f->child->router, &m));
}

/*
 * Once a second, not on the message path: a flow is dead when it has been
 * silent longer than Flow-Timer + grace (EP-19), or, with no Flow-Timer
 * advertised, longer than idle-timeout, which must cover the default UA
 * keep-alive intervals (KA-15).  Flows past their close deadline (a
 * framing error whose answer never went out) are closed here too.
 */
void
fm_flow_reap(struct fm_child *c)
{
	struct fm_flow *f;
	uint64_t now, limit_ms;
	uint32_t s;

	now = loop_now_ms(c->loop);
	for (s = 0; s < c->nslots; s++) {
		if ((f = c->flows[s]) == NULL) {
			continue;
		}
		if (f->close_deadline_ms != 0 &&
		    now >= f->close_deadline_ms) {
			/* The answer to a framing error never came out. */
			fm_flow_close(f, EPSIP_CLOSE_FRAMING);
			continue;
		}
		if (epsip_transport_is_stream(f->transport) &&
		    fm_stream_flow_tick(f, now) == -1) {
			continue;
		}
		limit_ms = 1000ULL * (f->timer_s != 0 ?
		    (uint64_t)f->timer_s + c->cfg->flow_grace :
		    (uint64_t)c->cfg->idle_timeout);
		if (limit_ms != 0 && now - f->last_activity_ms > limit_ms) {
			fm_flow_close(f, EPSIP_CLOSE_TIMEOUT);
		}
	}
}
