/*
 * udp_demux.c -- the parent reads UDP datagrams and forwards each to the
 * child that owns its (listener, remote address) flow.
 *
 * The paper's figure: the main process receives, the owner answers.  The
 * first octet decides (KA-05): SigComp and junk (blank, zeros, too short)
 * are dropped here and counted (KA-12).  A STUN request from an address
 * with no flow is answered here and creates no flow, so spoofed STUN
 * cannot make us spawn children; STUN on a known flow goes to its child,
 * where it refreshes the flow.  A CRLF-only datagram (linphone's UDP
 * keep-alive) is never answered: on a known flow it goes to the child,
 * which refreshes the flow as for STUN; from any other address it is
 * junk.  Only SIP opens a flow.
 *
 * Back-pressure, not loss (issue 8): a datagram whose child's control
 * socket is full is kept, and the listener is not read until that child
 * takes it.  What arrives meanwhile waits in the kernel's receive buffer,
 * in order; only a buffer that overflows drops, in the kernel, as the
 * network would -- counted from SO_RXQ_OVFL as udp.dropped.kernel.  (One
 * slow child holds up the listener for every child, but children share
 * the host's cores: a child too slow to drain its socket means the host
 * is saturated, and then the overload shedding in the children answers
 * what waited too long, overload.h.)
 *
 * Own sockets (udp_flow_socket.c): in `connected` mode a new flow's
 * first datagram goes to its child with the flow's own socket attached;
 * its later datagrams reach the child on that socket, and only what was
 * already queued on the listener still comes through here.
 *
 * Nothing here is fatal.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "epsip/log.h"
#include "epsip/stats.h"
#include "epsip/stun.h"

#include "control.h"
#include "flow_manager.h"
#include "parent.h"
#include "udp_io.h"

#define UDP_BATCH	64

static struct fm_pflow *
pflow_of(struct fm_udp_node *n)
{
	return ((struct fm_pflow *)(void *)((char *)n -
	    offsetof(struct fm_pflow, udp)));
}

/* The child's control socket is watched for room while it holds any. */
static void
watch_for_room(struct fm_parent *p, struct fm_child_rec *c)
{
	if (c->ctl_watched) {
		(void)loop_mod_fd(p->loop, c->ctl_fd, EPOLLIN |
		    (c->holding != 0 ? EPOLLOUT : 0));
	}
}

/* Keep the encoded datagram for `c` and stop reading the listener. */
static int
hold(struct fm_parent *p, struct fm_listener *l, struct fm_child_rec *c,
    size_t len, int pass_fd)
{
	if (l->held_buf == NULL &&
	    (l->held_buf = malloc(FM_CTL_MAX_SIZE)) == NULL) {
		return (-1);
	}
	memcpy(l->held_buf, p->udp_buf, len);
	l->held_len = len;
	l->held_fd = pass_fd;
	l->held_for = c;
	c->holding |= 1u << l->index;
	(void)loop_mod_fd(p->loop, l->udp_fd, 0);
	watch_for_room(p, c);
	stats_inc(M_UDP_BACKPRESSURE);
	return (0);
}

/* The held datagram went (or was dropped): read the listener again. */
static void
release(struct fm_parent *p, struct fm_listener *l)
{
	struct fm_child_rec *c = l->held_for;

	l->held_len = 0;
	l->held_for = NULL;
	if (l->held_fd >= 0) {
		(void)close(l->held_fd);	/* the child has its copy */
		l->held_fd = -1;
	}
	c->holding &= ~(1u << l->index);
	if (l->udp_fd != -1) {
		(void)loop_mod_fd(p->loop, l->udp_fd, EPOLLIN);
	}
	watch_for_room(p, c);
}

void
fm_udp_demux_writable(struct fm_parent *p, struct fm_child_rec *c)
{
	struct fm_listener *l;

	for (size_t i = 0; i < p->nlisteners && c->holding != 0; i++) {
		l = &p->listeners[i];
		if (l->held_for != c) {
			continue;
		}
		if (fm_ctl_send(c->ctl_fd, l->held_buf, l->held_len,
		    l->held_fd) == -1) {
			if (errno == EAGAIN) {
				return;		/* still full */
			}
			stats_inc(M_UDP_DROPPED_CHILD);
		}
		release(p, l);
	}
}

void
fm_udp_demux_child_gone(struct fm_parent *p, struct fm_child_rec *c)
{
	for (size_t i = 0; i < p->nlisteners && c->holding != 0; i++) {
		if (p->listeners[i].held_for == c) {
			stats_inc(M_UDP_DROPPED_CHILD);
			release(p, &p->listeners[i]);
		}
	}
}

void
fm_udp_demux_gauges(struct fm_parent *p)
{
	int64_t drops = 0;

	for (size_t i = 0; i < p->nlisteners; i++) {
		drops += p->listeners[i].kernel_drops;
	}
	stats_set(M_UDP_DROPPED_KERNEL, drops);
}

void
fm_udp_demux_close(struct fm_parent *p, struct fm_listener *l)
{
	if (l->held_for != NULL) {
		stats_inc(M_UDP_DROPPED_CHILD);
		release(p, l);
	}
	free(l->held_buf);
	l->held_buf = NULL;
}

static int forward(struct fm_parent *p, struct fm_listener *l, size_t n,
    const struct epsip_addr *remote_addr, const struct epsip_addr *local,
    uint64_t arrived_ms);

/*
 * Another phone's datagram queued on a new flow's socket before it was
 * connected (udp_flow_socket.c) is ours to deal with, as if it came on
 * the listener; the flow's own are left for its child, and so is what
 * queued behind them (the child drops it, counted as stray).  1 when one
 * of them made the listener wait for a child, as forward() says.
 */
static int
take_strays(struct fm_parent *p, struct fm_listener *l, int fd,
    const struct epsip_addr *remote)
{
	struct sockaddr_storage ss;
	struct epsip_addr from, local;
	socklen_t sslen;
	uint64_t arrived_ms;
	uint32_t drops = 0;
	uint8_t peek;
	ssize_t n;

	for (;;) {
		sslen = sizeof(ss);
		if (recvfrom(fd, &peek, 1, MSG_PEEK | MSG_DONTWAIT,
		    (struct sockaddr *)&ss, &sslen) == -1 ||
		    epsip_addr_from_sockaddr(&from,
		    (struct sockaddr *)&ss) == -1 ||
		    epsip_addr_equal(&from, remote)) {
			return (0);
		}
		n = fm_udp_recv(fd, p->udp_buf + FM_CTL_FLOW_SIZE,
		    FM_CTL_MAX_DATAGRAM, &l->addr, &from, &local, &arrived_ms,
		    &drops);
		if (n == -1) {
			return (0);
		}
		if (forward(p, l, (size_t)n, &from, &local, arrived_ms)) {
			return (1);	/* held: the listener waits */
		}
	}
}

/* A new flow's own socket, or -1 (counted: the flow is refused). */
static int
open_flow_socket(struct fm_parent *p, const struct fm_pflow *f)
{
	int fd;

	if ((fd = fm_udp_flow_socket_open(&f->local, &f->remote)) == -1) {
		fm_refused(p, &p->refused_fds, "cannot open a UDP flow's "
		    "socket (errno %d)", errno);
	}
	return (fd);
}

/* 1 when the listener now waits for a child (stop reading it). */
static int
forward(struct fm_parent *p, struct fm_listener *l, size_t n,
    const struct epsip_addr *remote_addr, const struct epsip_addr *local,
    uint64_t arrived_ms)
{
	struct epsip_addr remote = *remote_addr;
	struct fm_udp_node *node;
	struct fm_pflow *f;
	struct fm_ctl_msg m;
	enum udp_payload_kind kind;
	uint8_t *data;
	size_t len;
	int fresh, fd = -1;

	data = p->udp_buf + FM_CTL_FLOW_SIZE;
	kind = udp_payload_classify(data, n);
	if (kind == UDP_PAYLOAD_JUNK) {
		stats_inc(M_UDP_DROPPED_JUNK);
		return (0);
	}
	if (kind == UDP_PAYLOAD_SIGCOMP) {
		stats_inc(M_UDP_DROPPED_SIGCOMP);
		return (0);
	}
	fresh = 0;
	if ((node = fm_udp_table_find(&p->udp, l->index, &remote)) != NULL) {
		f = pflow_of(node);
	} else if (kind == UDP_PAYLOAD_STUN) {
		(void)fm_stun_reply(l->udp_fd, data, n, &remote, local);
		return (0);
	} else if (kind == UDP_PAYLOAD_CRLF) {
		/* Keeps no flow alive that is not there, and opens none. */
		stats_inc(M_UDP_DROPPED_JUNK);
		return (0);
	} else {
		/* The address the phone wrote to: the flow's local side. */
		f = fm_pflow_alloc(p, EPSIP_TRANSPORT_UDP, l->index, local,
		    &remote);
		if (f == NULL) {
			return (0);	/* counted */
		}
		fm_udp_node_set_key(&f->udp, l->index, &remote);
		if (fm_udp_table_insert(&p->udp, &f->udp) == 0) {
			f->in_table = 1;
		}
		fresh = 1;
		if (p->udp_connected &&
		    (fd = open_flow_socket(p, f)) == -1) {
			fm_pflow_release(p, f, EPSIP_CLOSE_NONE);
			return (0);
		}
	}
	fm_ctl_init(&m, FM_CTL_UDP_DATAGRAM);
	m.slot = f->slot;
	m.generation = f->generation;
	m.listener = l->index;
	m.local = f->local;
	m.remote = f->remote;
	m.arrived_ms = arrived_ms;
	m.payload = data;		/* already in place: not copied */
	m.payload_len = n;
	if (fm_ctl_encode(&m, p->udp_buf, FM_CTL_MAX_SIZE, &len) !=
	    EPSIP_MSG_OK) {
		stats_inc(M_CONTROL_ERRORS);
	} else if (fm_ctl_send(f->child->ctl_fd, p->udp_buf, len, fd) == 0) {
		int held = 0;

		if (fd >= 0) {
			held = take_strays(p, l, fd, &remote);
			(void)close(fd);
		}
		return (held);
	} else if (errno == EAGAIN && hold(p, l, f->child, len, fd) == 0) {
		return (1);
	} else {
		stats_inc(M_UDP_DROPPED_CHILD);
	}
	if (fd >= 0) {
		(void)close(fd);
	}
	if (fresh) {
		/* The child never saw it: nothing to tell the router. */
		fm_pflow_release(p, f, EPSIP_CLOSE_NONE);
	}
	return (0);
}

void
fm_udp_demux_cb(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct fm_listener *l = arg;
	struct epsip_addr remote, local;
	uint64_t arrived_ms;
	ssize_t n;
	int i;

	(void)loop;
	(void)events;
	if (l->held_len > 0) {
		return;		/* an event from before it was held */
	}
	for (i = 0; i < UDP_BATCH; i++) {
		n = fm_udp_recv(fd, l->parent->udp_buf + FM_CTL_FLOW_SIZE,
		    FM_CTL_MAX_DATAGRAM, &l->addr, &remote, &local,
		    &arrived_ms, &l->kernel_drops);
		if (n == -1) {
			if (errno == EINTR) {
				continue;
			}
			if (errno != EAGAIN) {
				log_debug("recvfrom on listener %u: %d",
				    (unsigned)l->index, errno);
			}
			return;
		}
		if (forward(l->parent, l, (size_t)n, &remote, &local,
		    arrived_ms)) {
			return;		/* held: read on once it went */
		}
	}
}
