/*
 * accept.c -- the parent takes TCP connections and hands each to a child.
 *
 * Each accepted connection becomes a flow (child, slot, generation); the
 * descriptor goes to the child with NEW_TCP_FLOW over SCM_RIGHTS and the
 * parent closes its copy at once, so the parent holds no per-connection
 * descriptor.  A connection that cannot be placed (limit, no child, child
 * queue full) is closed.
 *
 * Nothing here is fatal.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "epsip/log.h"
#include "epsip/loop.h"
#include "epsip/stats.h"

#include "control.h"
#include "flow_manager.h"
#include "parent.h"

#define ACCEPT_BATCH	64

static void
hand_off(struct fm_parent *p, struct fm_listener *l, int fd,
    const struct sockaddr_storage *peer)
{
	struct sockaddr_storage ss;
	struct epsip_addr local, remote;
	struct fm_ctl_msg m;
	struct fm_pflow *f;
	uint8_t buf[FM_CTL_FLOW_SIZE];
	socklen_t sslen;
	size_t len;

	sslen = sizeof(ss);
	if (epsip_addr_from_sockaddr(&remote, (const struct sockaddr *)peer) ==
	    -1 || getsockname(fd, (struct sockaddr *)&ss, &sslen) == -1 ||
	    epsip_addr_from_sockaddr(&local, (struct sockaddr *)&ss) == -1) {
		stats_inc("tcp.accept_errors");
		(void)close(fd);
		return;
	}
	f = fm_pflow_alloc(p, EPSIP_TRANSPORT_TCP, l->index, &local, &remote);
	if (f == NULL) {
		(void)close(fd);
		return;
	}
	fm_ctl_init(&m, FM_CTL_NEW_TCP_FLOW);
	m.slot = f->slot;
	m.generation = f->generation;
	m.listener = l->index;
	m.local = local;
	m.remote = remote;
	m.arrived_ms = monotonic_ms();
	if (fm_ctl_encode(&m, buf, sizeof(buf), &len) != FM_CTL_OK ||
	    fm_ctl_send(f->child->ctl_fd, buf, len, fd) == -1) {
		log_debug("%s: NEW_TCP_FLOW not sent: %s", f->child->name,
		    errno == EAGAIN ? "queue full" : "child gone");
		stats_inc("flows.refused.backpressure");
		fm_pflow_release(p, f, EPSIP_CLOSE_NONE);
	}
	/* The child has its own reference now, or nobody needs one. */
	(void)close(fd);
}

/*
 * Out of descriptors: a level-triggered listener would wake us forever.
 * Give back the spare descriptor, take the connection, close it, and take
 * the spare again -- the phone sees a closed connection and retries.
 */
static void
shed(struct fm_parent *p, int lfd)
{
	static uint64_t last_warn;
	uint64_t now;
	int fd;

	stats_inc("flows.refused.fds");
	now = loop_now_ms(p->loop);
	if (now - last_warn >= 1000) {
		last_warn = now;
		log_warnx("out of file descriptors: refusing connections");
	}
	if (p->spare_fd != -1) {
		(void)close(p->spare_fd);
		p->spare_fd = -1;
	}
	if ((fd = accept(lfd, NULL, NULL)) != -1) {
		(void)close(fd);
	}
	p->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

void
fm_accept_cb(struct loop *loop, int lfd, uint32_t events, void *arg)
{
	struct fm_listener *l = arg;
	struct sockaddr_storage ss;
	socklen_t sslen;
	int i, fd;

	(void)loop;
	(void)events;
	for (i = 0; i < ACCEPT_BATCH; i++) {
		sslen = sizeof(ss);
		fd = accept4(lfd, (struct sockaddr *)&ss, &sslen,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd != -1) {
			hand_off(l->parent, l, fd, &ss);
			continue;
		}
		switch (errno) {
		case EAGAIN:
			return;
		case EINTR:
		case ECONNABORTED:
		case EPROTO:
			continue;
		case EMFILE:
		case ENFILE:
		case ENOBUFS:
		case ENOMEM:
			shed(l->parent, lfd);
			return;
		default:
			log_warn("accept on listener %u", (unsigned)l->index);
			return;
		}
	}
}
