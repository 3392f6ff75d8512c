/*
 * router_link.c -- the parent's FLOW_CLOSED messages to the router, with a
 * local backlog so that a burst is delayed, not lost.
 *
 * Flows end in bursts: a child that dies takes all its flows with it
 * (EP-20), an idle sweep closes thousands at once.  nng's send queue holds
 * only so many, and a FLOW_CLOSED that is lost leaves the registrar with a
 * binding that only a 430 will clean up.  So what nng cannot take now
 * waits here, in order, and is retried every few milliseconds until the
 * router takes it.  The backlog is bounded (every open flow can be closed
 * once, plus room for churn); past that a message is dropped and counted.
 *
 * Nothing here is fatal.
 */
#include <stdlib.h>
#include <string.h>

#include "epsip/ipc_socket.h"
#include "epsip/log.h"
#include "epsip/stats.h"

#include "parent.h"

#define RETRY_MS	10
#define BACKLOG_SLACK	4096
#define WARN_EVERY_MS	1000

static size_t
backlog_max(const struct fm_parent *p)
{
	return ((size_t)p->max_flows + BACKLOG_SLACK);
}

static int
backlog_push(struct fm_parent *p, const struct epsip_msg *m)
{
	struct epsip_msg *nq;
	size_t ncap, i;

	if (p->bl_count == p->bl_cap) {
		ncap = p->bl_cap != 0 ? p->bl_cap * 2 : 256;
		if ((nq = calloc(ncap, sizeof(*nq))) == NULL) {
			return (-1);
		}
		/* Unwrap the ring into the new array, oldest first. */
		for (i = 0; i < p->bl_count; i++) {
			nq[i] = p->backlog[(p->bl_head + i) % p->bl_cap];
		}
		free(p->backlog);
		p->backlog = nq;
		p->bl_cap = ncap;
		p->bl_head = 0;
	}
	p->backlog[(p->bl_head + p->bl_count) % p->bl_cap] = *m;
	p->bl_count++;
	return (0);
}

static void
retry_cb(struct loop *loop, void *arg)
{
	struct fm_parent *p = arg;

	(void)loop;
	p->bl_timer = -1;
	fm_router_flush(p);
}

void
fm_router_flush(struct fm_parent *p)
{
	while (p->bl_count > 0 && p->router != NULL &&
	    ipc_send(p->router, &p->backlog[p->bl_head]) == 0) {
		p->bl_head = (p->bl_head + 1) % p->bl_cap;
		p->bl_count--;
	}
	stats_set("router.backlog", (int64_t)p->bl_count);
	if (p->bl_count > 0 && p->bl_timer == -1 && !p->stopping) {
		p->bl_timer = loop_after(p->loop, RETRY_MS, retry_cb, p);
	}
}

void
fm_router_flow_closed(struct fm_parent *p, const struct epsip_msg *m)
{
	uint64_t now;

	/* Behind anything already waiting: the router sees them in order. */
	if (p->bl_count == 0 && p->router != NULL &&
	    ipc_send(p->router, m) == 0) {
		return;
	}
	if (p->bl_count >= backlog_max(p) || backlog_push(p, m) == -1) {
		stats_inc("router.flow_closed_dropped");
		now = loop_now_ms(p->loop);
		if (now - p->bl_last_warn >= WARN_EVERY_MS) {
			p->bl_last_warn = now;
			log_warnx("router not taking FLOW_CLOSED: %zu waiting, "
			    "dropping", p->bl_count);
		}
		return;
	}
	fm_router_flush(p);
}

void
fm_router_free(struct fm_parent *p)
{
	if (p->bl_timer != -1) {
		loop_cancel(p->loop, p->bl_timer);
		p->bl_timer = -1;
	}
	if (p->bl_count > 0) {
		log_warnx("stopping with %zu FLOW_CLOSED not sent to the router",
		    p->bl_count);
	}
	free(p->backlog);
	p->backlog = NULL;
	p->bl_head = p->bl_count = p->bl_cap = 0;
}
