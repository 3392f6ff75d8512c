/*
 * router_link.c -- the parent's FLOW_CLOSED messages to the router.
 *
 * Flows end in bursts: a child that dies takes all its flows with it
 * (EP-20), an idle sweep or a network outage closes tens of thousands at
 * once.  A FLOW_CLOSED that is lost leaves the registrar with a binding
 * that only a 430 will clean up, so they go with ipc_send(): what the
 * router cannot take now waits in the link's outbox, in order, and leaves
 * as it drains (ipc_socket.h).  Only a router that takes nothing for a
 * whole ipc-backlog loses one, counted there and here.
 *
 * Nothing here is fatal.
 */
#include "epsip/ipc_socket.h"
#include "epsip/log.h"
#include "epsip/stats.h"

#include "parent.h"

void
fm_router_flow_closed(struct fm_parent *p, const struct epsip_msg *m)
{
	if (p->router == NULL || ipc_send(p->router, m) == -1) {
		stats_inc(M_ROUTER_FLOW_CLOSED_DROPPED);
	}
}

void
fm_router_flush(struct fm_parent *p)
{
	(void)p;
	ipc_flush_all();
}

size_t
fm_router_waiting(const struct fm_parent *p)
{
	return (p->router != NULL ? ipc_waiting(p->router) : 0);
}

void
fm_router_free(struct fm_parent *p)
{
	size_t waiting = fm_router_waiting(p);

	if (waiting > 0) {
		log_warnx("stopping with %zu messages not yet taken by the "
		    "router", waiting);
	}
}
