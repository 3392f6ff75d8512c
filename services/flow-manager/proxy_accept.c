/*
 * proxy_accept.c -- TCP connections to a listener behind a load balancer:
 * the balancer's PROXY protocol header (v1 or v2) comes first, and the
 * client it names becomes the flow's remote address -- in the flow token,
 * in Via received/rport, in every log line about the flow.
 *
 * The parent reads the header itself, before the connection goes to a
 * child: then the flow is born with the client's address everywhere at
 * once (the parent's flow table, NEW_STREAM_FLOW, the child, the router) and
 * nothing downstream needs to learn of the PROXY protocol.  The parent
 * takes only the header's bytes (proxy_read() peeks first), so the SIP
 * bytes behind it wait in the socket for the child.
 *
 * Trust: a header is read only from a proxy-from address.  A connection
 * from anywhere else is reset unread, counted and logged at most once a
 * second -- not served as a plain connection: a proxy-protocol listener is
 * the balancer's, a phone that reaches it directly is bypassing the
 * balancer, and a balancer missing from proxy-from would otherwise have
 * every one of its phones' headers read as SIP (or, were it taken as the
 * remote address, every phone would share the balancer's).  The way to
 * serve phones directly as well is another listen address.
 *
 * Bounds: a header must be whole within PROXY_WAIT_S of the accept; at
 * most PROXY_WAIT_MAX connections wait for one at a time, each holding a
 * descriptor and a PROXY_HEADER_MAX buffer in the parent.  A balancer
 * sends its header at once, so nearly every header is read right after
 * accept() and never waits at all.
 *
 * A v2 LOCAL header (the balancer's own health check), v1 UNKNOWN and v2
 * with no IP family keep the balancer's address.  A v4 client on a v6
 * listener becomes a v4-mapped v6 address (a token holds one family); a
 * v6 client on a v4 listener cannot be written into a token and is
 * dropped (counted as `family`): listen on IPv6 for such a balancer.
 *
 * Nothing here is fatal.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <netinet/in.h>

#include "epsip/log.h"
#include "epsip/loop.h"
#include "epsip/stats.h"

#include "parent.h"
#include "proxy_header.h"

/* The longest wait for a whole header after accept(), in seconds. */
#define PROXY_WAIT_S		3
#define PROXY_WAIT_MS		(PROXY_WAIT_S * 1000)
/* Connections waiting for their header at once, at most. */
#define PROXY_WAIT_MAX		4096
#define TEXT(n)			TEXT_(n)
#define TEXT_(n)		#n

struct fm_proxy_wait {
	struct fm_listener *listener;
	int fd;
	int timer;			/* -1: none */
	struct epsip_addr local;
	struct epsip_addr balancer;
	LIST_ENTRY(fm_proxy_wait) link;
	struct proxy_reader reader;
};

static const enum metric_id drop_counter[FM_PROXY_DROP_KINDS] = {
	[FM_PROXY_UNTRUSTED] = M_PROXY_DROPPED_UNTRUSTED,
	[FM_PROXY_MALFORMED] = M_PROXY_DROPPED_MALFORMED,
	[FM_PROXY_UNSUPPORTED] = M_PROXY_DROPPED_UNSUPPORTED,
	[FM_PROXY_FAMILY] = M_PROXY_DROPPED_FAMILY,
	[FM_PROXY_TIMEOUT] = M_PROXY_DROPPED_TIMEOUT,
	[FM_PROXY_CLOSED] = M_PROXY_DROPPED_CLOSED,
	[FM_PROXY_PENDING] = M_PROXY_DROPPED_PENDING,
};

void
fm_proxy_init(struct fm_parent *p)
{
	size_t i;

	LIST_INIT(&p->proxy_waiting);
	p->nproxy_waiting = 0;
	for (i = 0; i < FM_PROXY_DROP_KINDS; i++) {
		p->proxy_dropped[i].counter = drop_counter[i];
	}
}

/* Close a connection unserved: counted, logged at most once a second. */
static void
drop(struct fm_parent *p, enum fm_proxy_drop kind, int fd,
    const struct epsip_addr *peer, const char *why)
{
	char text[64];

	(void)epsip_addr_format(peer, text, sizeof(text));
	fm_refused(p, &p->proxy_dropped[kind], "PROXY protocol: connection "
	    "from %s closed: %s", text, why);
	fm_reset_and_close(fd);
}

/*
 * The client the header names, as the flow's remote address for a
 * connection to `local`: 0, or -1 if a token cannot hold it.
 */
static int
client_address(const struct epsip_addr *local, const struct epsip_addr *src,
    struct epsip_addr *remote)
{
	*remote = *src;
	if (src->family == local->family) {
		return (0);
	}
	if (src->family == AF_INET && local->family == AF_INET6) {
		memset(remote->ip, 0, sizeof(remote->ip));
		remote->ip[10] = remote->ip[11] = 0xff;
		memcpy(remote->ip + 12, src->ip, 4);
		remote->family = AF_INET6;
		return (0);
	}
	return (-1);
}

/* The proxy_protocol.headers counter of a header. */
static enum metric_id
header_kind(const struct proxy_header *h)
{
	if (h->local) {
		return (M_PROXY_HEADERS_LOCAL);
	}
	if (!h->addresses) {
		return (M_PROXY_HEADERS_UNKNOWN);
	}
	return (h->version == 1 ? M_PROXY_HEADERS_V1 : M_PROXY_HEADERS_V2);
}

/* The header is read, or reading it failed: a flow, or a drop. */
static void
finish(struct fm_parent *p, struct fm_listener *l, int fd,
    const struct epsip_addr *local, const struct epsip_addr *balancer,
    enum proxy_status st, const struct proxy_header *h)
{
	struct epsip_addr remote;
	char why[64];

	switch (st) {
	case PROXY_OK:
		break;
	case PROXY_ECLOSED:
	case PROXY_EIO:
		drop(p, FM_PROXY_CLOSED, fd, balancer, "closed or reset "
		    "before its PROXY header was complete");
		return;
	case PROXY_EDGRAM:
		drop(p, FM_PROXY_UNSUPPORTED, fd, balancer, "a PROXY v2 "
		    "header for UDP on a TCP listener");
		return;
	default:
		(void)snprintf(why, sizeof(why), "not a PROXY protocol "
		    "header (%s)", proxy_status_name(st));
		drop(p, FM_PROXY_MALFORMED, fd, balancer, why);
		return;
	}
	stats_inc(header_kind(h));
	if (!h->addresses) {
		remote = *balancer;
	} else if (client_address(local, &h->src, &remote) == -1) {
		drop(p, FM_PROXY_FAMILY, fd, balancer, "an IPv6 client on an "
		    "IPv4 listener (a flow token holds one address family)");
		return;
	}
	fm_accept_hand_off(p, l, fd, local, &remote);
}

/* Stop waiting: out of the loop and the list, timer cancelled, freed. */
static void
unwait(struct fm_parent *p, struct fm_proxy_wait *w)
{
	loop_del_fd(p->loop, w->fd);
	if (w->timer != -1) {
		loop_cancel(p->loop, w->timer);
	}
	LIST_REMOVE(w, link);
	p->nproxy_waiting--;
	free(w);
}

static void
readable_cb(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct fm_proxy_wait *w = arg;
	struct fm_listener *l = w->listener;
	struct fm_parent *p = l->parent;
	struct epsip_addr local, balancer;
	struct proxy_header h;
	enum proxy_status st;

	(void)loop;
	(void)events;
	if ((st = proxy_read(fd, &w->reader, &h)) == PROXY_NEED_MORE) {
		return;
	}
	local = w->local;
	balancer = w->balancer;
	unwait(p, w);
	finish(p, l, fd, &local, &balancer, st, &h);
}

static void
timeout_cb(struct loop *loop, void *arg)
{
	struct fm_proxy_wait *w = arg;
	struct fm_parent *p = w->listener->parent;
	struct epsip_addr balancer;
	int fd;

	(void)loop;
	w->timer = -1;
	fd = w->fd;
	balancer = w->balancer;
	unwait(p, w);
	drop(p, FM_PROXY_TIMEOUT, fd, &balancer, "no whole PROXY header "
	    "within " TEXT(PROXY_WAIT_S) " s");
}

/* The header is not all in yet: wait for the rest, within bounds. */
static void
wait_for_rest(struct fm_parent *p, struct fm_listener *l, int fd,
    const struct epsip_addr *local, const struct epsip_addr *balancer,
    const struct proxy_reader *r)
{
	struct fm_proxy_wait *w;

	if (p->nproxy_waiting >= PROXY_WAIT_MAX) {
		drop(p, FM_PROXY_PENDING, fd, balancer, TEXT(PROXY_WAIT_MAX)
		    " connections already wait for their PROXY header");
		return;
	}
	if ((w = malloc(sizeof(*w))) == NULL) {
		drop(p, FM_PROXY_PENDING, fd, balancer, "no memory to wait "
		    "for its PROXY header");
		return;
	}
	w->listener = l;
	w->fd = fd;
	w->local = *local;
	w->balancer = *balancer;
	w->reader = *r;
	if (loop_add_fd(p->loop, fd, EPOLLIN, readable_cb, w) == -1) {
		free(w);
		drop(p, FM_PROXY_PENDING, fd, balancer, "cannot watch it");
		return;
	}
	if ((w->timer = loop_after(p->loop, PROXY_WAIT_MS, timeout_cb, w)) <
	    0) {
		loop_del_fd(p->loop, fd);
		free(w);
		drop(p, FM_PROXY_PENDING, fd, balancer, "no timer for it");
		return;
	}
	LIST_INSERT_HEAD(&p->proxy_waiting, w, link);
	p->nproxy_waiting++;
}

void
fm_proxy_accept(struct fm_parent *p, struct fm_listener *l, int fd,
    const struct epsip_addr *local, const struct epsip_addr *peer)
{
	struct proxy_reader r;
	struct proxy_header h;
	enum proxy_status st;

	if (!config_proxy_trusted(p->cfg, peer)) {
		drop(p, FM_PROXY_UNTRUSTED, fd, peer, "not a proxy-from "
		    "address, nothing read");
		return;
	}
	r.len = 0;
	if ((st = proxy_read(fd, &r, &h)) == PROXY_NEED_MORE) {
		wait_for_rest(p, l, fd, local, peer, &r);
		return;
	}
	finish(p, l, fd, local, peer, st, &h);
}

void
fm_proxy_close_all(struct fm_parent *p)
{
	struct fm_proxy_wait *w;
	int fd;

	while ((w = LIST_FIRST(&p->proxy_waiting)) != NULL) {
		fd = w->fd;
		unwait(p, w);
		(void)close(fd);
	}
}
