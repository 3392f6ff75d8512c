/*
 * accept.c -- the parent takes TCP connections and hands each to a child.
 *
 * Each accepted connection becomes a flow (child, slot, generation); the
 * descriptor goes to the child with NEW_STREAM_FLOW over SCM_RIGHTS and the
 * parent closes its copy at once, so the parent holds no per-connection
 * descriptor.  A connection that cannot be placed (max-flows,
 * new-flow-rate, no child, child queue full) is reset at once, counted as
 * flows.refused.<why>, and logged at most once a second (issue 8).
 *
 * Out of descriptors, accept() fails and the connection stays in the
 * listener's queue, which a level-triggered loop reports again at once:
 * that is the spin other edges fall into.  The parent keeps a spare
 * descriptor to give back, take the connection and reset it; when even
 * that cannot work (out of memory, or no descriptor at all) it stops
 * watching the listener for ACCEPT_PAUSE_MS.
 *
 * On a proxy-protocol listener the connection first goes through
 * proxy_accept.c, which reads the balancer's PROXY header and hands the
 * connection back here with the client's address as the flow's remote.
 *
 * Nothing here is fatal.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "epsip/log.h"
#include "epsip/loop.h"
#include "epsip/stats.h"

#include "control.h"
#include "flow_manager.h"
#include "parent.h"

#define ACCEPT_BATCH		64
/* One wake-up per pause when nothing can be accepted, not a spin. */
#define ACCEPT_PAUSE_MS		100
#define REFUSAL_LINE_EVERY_MS	1000

void
fm_refused(struct fm_parent *p, struct fm_refusals *r, const char *fmt, ...)
{
	char what[256];
	va_list ap;
	uint64_t now;

	stats_inc(r->counter);
	r->unlogged++;
	now = loop_now_ms(p->loop);
	if (r->last_line_ms != 0 &&
	    now - r->last_line_ms < REFUSAL_LINE_EVERY_MS) {
		return;
	}
	va_start(ap, fmt);
	(void)vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	log_warnx("%s: %" PRIu64 " refused since the last such line (%s)",
	    what, r->unlogged, metric_name(r->counter));
	r->last_line_ms = now;
	r->unlogged = 0;
}

/*
 * A connection nobody will serve ends with a reset: the phone learns at
 * once, and the edge keeps no TIME_WAIT for it -- a reconnect storm at a
 * limit would otherwise leave tens of thousands behind.
 */
void
fm_reset_and_close(int fd)
{
	struct linger lg;

	lg.l_onoff = 1;
	lg.l_linger = 0;
	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	(void)close(fd);
}

/* The two ends of accepted connection `fd`: 0, or -1 (counted, closed). */
static int
addresses(int fd, const struct sockaddr_storage *peer,
    struct epsip_addr *local, struct epsip_addr *remote)
{
	struct sockaddr_storage ss;
	socklen_t sslen;

	sslen = sizeof(ss);
	if (epsip_addr_from_sockaddr(remote, (const struct sockaddr *)peer) ==
	    -1 || getsockname(fd, (struct sockaddr *)&ss, &sslen) == -1 ||
	    epsip_addr_from_sockaddr(local, (struct sockaddr *)&ss) == -1) {
		stats_inc(M_TCP_ACCEPT_ERRORS);
		(void)close(fd);
		return (-1);
	}
	return (0);
}

void
fm_accept_hand_off(struct fm_parent *p, struct fm_listener *l, int fd,
    const struct epsip_addr *local, const struct epsip_addr *remote)
{
	struct fm_ctl_msg m;
	struct fm_pflow *f;
	uint8_t buf[FM_CTL_FLOW_SIZE];
	size_t len;

	f = fm_pflow_alloc(p, l->transport, l->index, local, remote);
	if (f == NULL) {
		fm_reset_and_close(fd);		/* refused and counted */
		return;
	}
	fm_ctl_init(&m, FM_CTL_NEW_STREAM_FLOW);
	m.slot = f->slot;
	m.generation = f->generation;
	m.listener = l->index;
	m.transport = l->transport;
	m.local = *local;
	m.remote = *remote;
	m.arrived_ms = monotonic_ms();
	if (fm_ctl_encode(&m, buf, sizeof(buf), &len) != EPSIP_MSG_OK ||
	    fm_ctl_send(f->child->ctl_fd, buf, len, fd) == -1) {
		fm_refused(p, &p->refused_backpressure, "%s cannot take a new "
		    "connection: %s", f->child->name, errno == EAGAIN ?
		    "its control queue is full" : "it is gone");
		fm_pflow_release(p, f, EPSIP_CLOSE_NONE);
		fm_reset_and_close(fd);
		return;
	}
	/* The child has its own reference now. */
	(void)close(fd);
}

/*
 * Out of descriptors (EMFILE, or ENFILE for the whole host): give back
 * the spare descriptor, take the connection, reset it, take the spare
 * again.  1: one connection refused, go on; 0: none was waiting; -1 with
 * errno: this cannot work now.
 */
static int
shed(struct fm_parent *p, int lfd, int why)
{
	int fd, err;

	if (p->spare_fd != -1) {
		(void)close(p->spare_fd);
		p->spare_fd = -1;
	}
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	err = errno;
	if (fd != -1) {
		fm_reset_and_close(fd);
	}
	p->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd != -1) {
		fm_refused(p, &p->refused_fds, "out of file descriptors "
		    "(%s): new connections are reset at once", strerror(why));
		return (1);
	}
	if (err == EAGAIN) {
		return (0);
	}
	errno = err;
	return (-1);
}

static void
resume_accepting(struct loop *loop, void *arg)
{
	struct fm_listener *l = arg;
	struct fm_parent *p = l->parent;

	l->accept_pause_timer = -1;
	if (l->tcp_fd == -1) {
		return;
	}
	if (p->spare_fd == -1) {
		p->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	if (loop_mod_fd(loop, l->tcp_fd, EPOLLIN) == -1 &&
	    (l->accept_pause_timer = loop_after(loop, ACCEPT_PAUSE_MS,
	    resume_accepting, l)) < 0) {
		l->accept_pause_timer = -1;
		log_warn("listener %u: cannot watch it again",
		    (unsigned)l->index);
	}
}

/*
 * accept() fails and retrying at once cannot help: stop watching the
 * listener for a moment.  Connections wait in its queue meanwhile -- with
 * no descriptor at all there is no way to even reset them.
 */
static void
pause_accepting(struct fm_parent *p, struct fm_listener *l, int err)
{
	uint64_t now;

	stats_inc(M_TCP_ACCEPT_PAUSED);
	now = loop_now_ms(p->loop);
	if (p->accept_pause_last_warn == 0 ||
	    now - p->accept_pause_last_warn >= REFUSAL_LINE_EVERY_MS) {
		p->accept_pause_last_warn = now;
		errno = err;
		log_warn("accept on listener %u failed: not accepting for "
		    "%d ms (tcp.accept_paused)", (unsigned)l->index,
		    ACCEPT_PAUSE_MS);
	}
	if (l->accept_pause_timer != -1 ||
	    loop_mod_fd(p->loop, l->tcp_fd, 0) == -1) {
		return;
	}
	l->accept_pause_timer = loop_after(p->loop, ACCEPT_PAUSE_MS,
	    resume_accepting, l);
	if (l->accept_pause_timer < 0) {
		/* No timer to resume: keep watching rather than go deaf. */
		l->accept_pause_timer = -1;
		(void)loop_mod_fd(p->loop, l->tcp_fd, EPOLLIN);
	}
}

void
fm_accept_unpause(struct fm_parent *p, struct fm_listener *l)
{
	if (l->accept_pause_timer != -1) {
		loop_cancel(p->loop, l->accept_pause_timer);
		l->accept_pause_timer = -1;
	}
}

/* Errors about the one connection accept() was taking: take the next. */
static int
connection_error(int err)
{
	switch (err) {
	case EINTR:
	case ECONNABORTED:
	case EPROTO:
	case EPERM:		/* a firewall rule refused it */
	case ENETDOWN:
	case ENETUNREACH:
	case EHOSTDOWN:
	case EHOSTUNREACH:
	case ENONET:
	case ENOPROTOOPT:
	case EOPNOTSUPP:
		return (1);
	default:
		return (0);
	}
}

void
fm_accept_cb(struct loop *loop, int lfd, uint32_t events, void *arg)
{
	struct fm_listener *l = arg;
	struct sockaddr_storage ss;
	struct epsip_addr local, remote;
	socklen_t sslen;
	int i, fd, shed_one;

	(void)loop;
	(void)events;
	for (i = 0; i < ACCEPT_BATCH; i++) {
		sslen = sizeof(ss);
		fd = accept4(lfd, (struct sockaddr *)&ss, &sslen,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd != -1) {
			if (addresses(fd, &ss, &local, &remote) == -1) {
				continue;
			}
			if (l->proxy) {
				fm_proxy_accept(l->parent, l, fd, &local,
				    &remote);
			} else {
				fm_accept_hand_off(l->parent, l, fd, &local,
				    &remote);
			}
			continue;
		}
		if (errno == EAGAIN) {
			return;
		}
		if (connection_error(errno)) {
			continue;
		}
		shed_one = -1;
		if (errno == EMFILE || errno == ENFILE) {
			shed_one = shed(l->parent, lfd, errno);
		}
		if (shed_one == 0) {
			return;
		}
		if (shed_one == -1) {
			/* ENOBUFS, ENOMEM, no spare to give back, ... */
			pause_accepting(l->parent, l, errno);
			return;
		}
	}
}
