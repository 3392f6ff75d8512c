/*
 * udp_flow.c -- UDP flows in a child: their datagrams, STUN answers, and
 * sending from the port the phone wrote to (KA-03).
 *
 * With udp-flow-sockets connected (docs/architecture.md, "Several
 * flow-managers"), a flow's first datagram comes from the parent with
 * the flow's own socket, bound to the listener's address and connected
 * to the phone: the kernel delivers the flow's later datagrams on it,
 * here, without the parent, and we send on it.  Otherwise the parent
 * forwards every datagram and we send on the UDP listener we inherited
 * (fd 4 + listener index).
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
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

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
shed_late(struct fm_flow *f, const void *payload, size_t len,
    uint64_t arrived_ms)
{
	struct fm_child *c = f->child;

	if (!overload_waited_too_long(c->cfg, arrived_ms,
	    loop_now_ms(c->loop)) || !answer_overload(f, payload, len)) {
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
refuse_for_overload(struct fm_flow *f, const void *payload, size_t len,
    uint64_t arrived_ms)
{
	if (answer_overload(f, payload, len)) {
		stats_inc(M_OVERLOAD_REFUSED);
	} else if (fm_flow_to_router_at(f, EPSIP_MSG_SIP_FROM_FLOW, 0,
	    payload, len, arrived_ms) == -1) {
		stats_inc(M_UDP_DROPPED_ROUTER_BUSY);
	}
}

/* The socket this flow sends from; -1 (EBADF, counted): none. */
static int
send_fd(const struct fm_flow *f)
{
	if (f->udp_fd >= 0) {
		return (f->udp_fd);
	}
	return (f->listener < f->child->inherited_udp ?
	    FM_FIRST_UDP_FD + f->listener : -1);
}

/* One datagram of flow `f`, however it came. */
static void
udp_flow_input(struct fm_flow *f, const uint8_t *payload, size_t len,
    uint64_t arrived_ms)
{
	f->last_activity_ms = loop_now_ms(f->child->loop);
	stats_add(M_BYTES_IN, (int64_t)len);
	switch (udp_payload_classify(payload, len)) {
	case UDP_PAYLOAD_STUN:
		(void)fm_stun_reply(send_fd(f), payload, len, &f->remote,
		    &f->local);
		break;
	case UDP_PAYLOAD_SIP:
		log_flow(LOG_LEVEL_DEBUG, &f->id, "in %zu bytes", len);
		stats_inc(M_SIP_FROM_FLOW);
		if (shed_late(f, payload, len, arrived_ms) ||
		    shed_early(f, payload, len)) {
			break;
		}
		if (fm_flow_offer_to_router(f, payload, len,
		    arrived_ms) == -1) {
			refuse_for_overload(f, payload, len, arrived_ms);
		}
		break;
	case UDP_PAYLOAD_CRLF:
		/* KA-12: the refresh above is all it is for; no answer. */
		stats_inc(M_KEEPALIVE_UDP_CRLF);
		break;
	case UDP_PAYLOAD_SIGCOMP:
	case UDP_PAYLOAD_JUNK:
		/* Never answered (KA-05, KA-12). */
		stats_inc(M_UDP_DROPPED_JUNK);
		break;
	}
}

/* Datagrams on the flow's own socket: a batch per wake-up, like TCP. */
#define UDP_FLOW_BATCH	16

static void
udp_flow_readable(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct fm_flow *f = arg;
	struct fm_child *c = f->child;
	struct epsip_addr remote, local;
	uint64_t arrived_ms;
	uint32_t drops = 0;
	uint32_t slot = f->id.slot, generation = f->id.generation;
	ssize_t n;
	int i;

	(void)loop;
	(void)events;
	for (i = 0; i < UDP_FLOW_BATCH; i++) {
		n = fm_udp_recv(fd, c->ctl_buf, FM_CTL_MAX_SIZE, &f->local,
		    &remote, &local, &arrived_ms, &drops);
		if (n == -1) {
			if (errno == EINTR) {
				continue;
			}
			if (errno != EAGAIN) {
				/* ICMP unreachable, reported once: the
				 * phone's timers decide, not one error. */
				stats_inc(M_UDP_SEND_ERRORS);
			}
			return;
		}
		if (!epsip_addr_equal(&remote, &f->remote)) {
			/* Queued in the moment before connect(). */
			stats_inc(M_UDP_DROPPED_STRAY);
			continue;
		}
		udp_flow_input(f, c->ctl_buf, (size_t)n, arrived_ms);
		/* Input may have closed the flow (and freed f). */
		if (c->flows[slot] == NULL ||
		    c->flows[slot]->id.generation != generation) {
			return;
		}
	}
	loop_fd_again(c->loop, fd);
}

/* Take the flow's own socket; without a watch on it, we close it. */
static void
adopt_socket(struct fm_flow *f, int fd)
{
	if (f->udp_fd >= 0) {
		/* The parent sends one per flow: keep the first. */
		(void)close(fd);
		return;
	}
	if (loop_add_fd(f->child->loop, fd, EPOLLIN, udp_flow_readable,
	    f) == -1) {
		log_flow(LOG_LEVEL_WARN, &f->id, "cannot watch its socket");
		(void)close(fd);
		return;
	}
	f->udp_fd = fd;
}

void
fm_udp_flow_release(struct fm_flow *f)
{
	if (f->udp_fd >= 0) {
		loop_del_fd(f->child->loop, f->udp_fd);
		(void)close(f->udp_fd);
		f->udp_fd = -1;
	}
}

void
fm_udp_flow_datagram(struct fm_child *c, const struct fm_ctl_msg *m, int fd)
{
	struct fm_flow *f;

	if (m->slot >= c->nslots || m->listener >= c->cfg->listen_count) {
		log_warnx("datagram for slot %" PRIu32 " listener %u out of "
		    "range", m->slot, (unsigned)m->listener);
		stats_inc(M_CONTROL_ERRORS);
		goto drop;
	}
	if (c->closed_gen[m->slot] == m->generation) {
		stats_inc(M_UDP_DROPPED_CLOSED);
		goto drop;
	}
	if (fd == FM_CTL_FD_LOST) {
		/* Out of descriptors: refuse the flow, as for TCP. */
		if ((f = c->flows[m->slot]) != NULL &&
		    f->id.generation == m->generation) {
			fm_flow_close(f, EPSIP_CLOSE_NONE);
		} else {
			fm_child_ctl_send_closed(c, m->slot, m->generation,
			    EPSIP_CLOSE_NONE);
		}
		return;
	}
	f = c->flows[m->slot];
	if (f == NULL || f->id.generation != m->generation) {
		if ((f = fm_flow_new(c, m, EPSIP_TRANSPORT_UDP)) == NULL) {
			goto drop;
		}
	}
	if (fd >= 0) {
		adopt_socket(f, fd);
	}
	udp_flow_input(f, m->payload, m->payload_len, m->arrived_ms);
	return;
drop:
	if (fd >= 0) {
		(void)close(fd);
	}
}

int
fm_udp_flow_send(struct fm_flow *f, const void *buf, size_t len)
{
	ssize_t n;

	/* From the address the phone wrote to (RFC 3581 §4). */
	n = fm_udp_send(send_fd(f), buf, len, &f->remote, &f->local);
	if (n == -1) {
		log_flow(LOG_LEVEL_DEBUG, &f->id, "sendto: errno %d", errno);
		stats_inc(M_UDP_SEND_ERRORS);
		return (-1);
	}
	stats_add(M_BYTES_OUT, (int64_t)n);
	return (0);
}
