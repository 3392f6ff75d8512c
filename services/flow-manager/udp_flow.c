/*
 * udp_flow.c -- UDP flows in a child: datagrams the parent forwards, STUN
 * answers, and sending on the shared listener socket.
 *
 * The child sends on the UDP listener it inherited (fd 4 + listener
 * index), so the phone sees replies from the port it sent to (KA-03).
 * A datagram for a generation this child has just closed is dropped
 * rather than reviving the flow: the parent may forward a few more before
 * it reads our FLOW_CLOSED, and a revived flow would be one the parent no
 * longer knows.  Overload (overload.h): a new request that already
 * waited past overload-delay since it reached the host, and the share of
 * new requests the router asked us to shed, are answered 503 here, before
 * any IPC, and so is a request the router's full link cannot take;
 * anything else the link cannot take is dropped and counted, since UDP
 * senders retransmit.
 *
 * Nothing here is fatal.
 */
#include <errno.h>
#include <inttypes.h>
#include <sys/socket.h>

#include <stdlib.h>

#include "epsip/log.h"
#include "epsip/overload.h"
#include "epsip/stats.h"
#include "epsip/stun.h"

#include "child.h"
#include "udp_io.h"
#include "flow_manager.h"

/* 503 + Retry-After for a new request, from its own lines; 0: not one. */
static int
answer_overload(struct fm_flow *f, const void *payload, size_t len)
{
	char *out;
	size_t out_len;

	if (overload_reply(f->child->cfg, payload, len, &out, &out_len) == 0) {
		return (0);
	}
	(void)fm_udp_flow_send(f, out, out_len);
	free(out);
	return (1);
}

/* The router's share of new requests, shed before they cost IPC. */
static int
shed_early(struct fm_flow *f, const void *payload, size_t len)
{
	struct fm_child *c = f->child;

	if (!overload_gate_turn(&c->overload, loop_now_ms(c->loop))) {
		return (0);
	}
	if (!answer_overload(f, payload, len)) {
		overload_gate_missed(&c->overload);
		return (0);
	}
	stats_inc(M_OVERLOAD_SHED_EARLY);
	return (1);
}

/*
 * Waited past overload-delay before it reached us (the listener's buffer,
 * the control socket, a busy child): a new request gets its 503 here,
 * before it costs IPC; anything else still passes (overload.h).
 */
static int
shed_late(struct fm_flow *f, const struct fm_ctl_msg *m)
{
	struct fm_child *c = f->child;

	if (!overload_waited_too_long(c->cfg, m->arrived_ms,
	    loop_now_ms(c->loop)) ||
	    !answer_overload(f, m->payload, m->payload_len)) {
		return (0);
	}
	stats_inc(M_OVERLOAD_SHED_LATE);
	return (1);
}

/*
 * The router's link is backed up: a new request gets 503 + Retry-After;
 * anything else finishes work and waits its turn (overload.h).
 */
static void
refuse_for_overload(struct fm_flow *f, const struct fm_ctl_msg *m)
{
	if (answer_overload(f, m->payload, m->payload_len)) {
		stats_inc(M_OVERLOAD_REFUSED);
	} else if (fm_flow_to_router_at(f, EPSIP_MSG_SIP_FROM_FLOW, 0,
	    m->payload, m->payload_len, m->arrived_ms) == -1) {
		stats_inc(M_UDP_DROPPED_ROUTER_BUSY);
	}
}

void
fm_udp_flow_datagram(struct fm_child *c, const struct fm_ctl_msg *m)
{
	struct fm_flow *f;

	if (m->slot >= c->nslots || m->listener >= c->nlisteners) {
		log_warnx("datagram for slot %" PRIu32 " listener %u out of "
		    "range", m->slot, (unsigned)m->listener);
		stats_inc(M_CONTROL_ERRORS);
		return;
	}
	if (c->closed_gen[m->slot] == m->generation) {
		stats_inc(M_UDP_DROPPED_CLOSED);
		return;
	}
	f = c->flows[m->slot];
	if (f == NULL || f->id.generation != m->generation) {
		if ((f = fm_flow_new(c, m, EPSIP_TRANSPORT_UDP)) == NULL) {
			return;
		}
	}
	f->last_activity_ms = loop_now_ms(c->loop);
	stats_add(M_BYTES_IN, (int64_t)m->payload_len);
	switch (udp_payload_classify(m->payload, m->payload_len)) {
	case UDP_PAYLOAD_STUN:
		(void)fm_stun_reply(FM_FIRST_UDP_FD + m->listener, m->payload,
		    m->payload_len, &f->remote, &f->local);
		break;
	case UDP_PAYLOAD_SIP:
		log_flow(LOG_LEVEL_DEBUG, &f->id, "in %zu bytes",
		    m->payload_len);
		stats_inc(M_SIP_FROM_FLOW);
		if (shed_late(f, m) ||
		    shed_early(f, m->payload, m->payload_len)) {
			break;
		}
		if (fm_flow_offer_to_router(f, m->payload, m->payload_len,
		    m->arrived_ms) == -1) {
			refuse_for_overload(f, m);
		}
		break;
	case UDP_PAYLOAD_CRLF:
		/* KA-12: the refresh above is all it is for; no answer. */
		stats_inc(M_KEEPALIVE_UDP_CRLF);
		break;
	case UDP_PAYLOAD_SIGCOMP:
	case UDP_PAYLOAD_JUNK:
		/* The parent filters these; count, never answer. */
		stats_inc(M_UDP_DROPPED_JUNK);
		break;
	}
}

int
fm_udp_flow_send(struct fm_flow *f, const void *buf, size_t len)
{
	ssize_t n;

	/* From the address the phone wrote to (RFC 3581 §4). */
	n = fm_udp_send(FM_FIRST_UDP_FD + f->listener, buf, len, &f->remote,
	    &f->local);
	if (n == -1) {
		log_flow(LOG_LEVEL_DEBUG, &f->id, "sendto: errno %d", errno);
		stats_inc(M_UDP_SEND_ERRORS);
		return (-1);
	}
	stats_add(M_BYTES_OUT, (int64_t)n);
	return (0);
}
