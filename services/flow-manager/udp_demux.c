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
 * Nothing here is fatal.
 */
#include <errno.h>
#include <stddef.h>
#include <sys/socket.h>

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

static void
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
	int fresh;

	data = p->udp_buf + FM_CTL_FLOW_SIZE;
	kind = udp_payload_classify(data, n);
	if (kind == UDP_PAYLOAD_JUNK) {
		stats_inc("udp.dropped.junk");
		return;
	}
	if (kind == UDP_PAYLOAD_SIGCOMP) {
		stats_inc("udp.dropped.sigcomp");
		return;
	}
	fresh = 0;
	if ((node = fm_udp_table_find(&p->udp, l->index, &remote)) != NULL) {
		f = pflow_of(node);
	} else if (kind == UDP_PAYLOAD_STUN) {
		(void)fm_stun_reply(l->udp_fd, data, n, &remote, local);
		return;
	} else if (kind == UDP_PAYLOAD_CRLF) {
		/* Keeps no flow alive that is not there, and opens none. */
		stats_inc("udp.dropped.junk");
		return;
	} else {
		/* The address the phone wrote to: the flow's local side. */
		f = fm_pflow_alloc(p, EPSIP_TRANSPORT_UDP, l->index, local,
		    &remote);
		if (f == NULL) {
			return;		/* counted */
		}
		fm_udp_node_set_key(&f->udp, l->index, &remote);
		if (fm_udp_table_insert(&p->udp, &f->udp) == 0) {
			f->in_table = 1;
		}
		fresh = 1;
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
	if (fm_ctl_encode(&m, p->udp_buf, FM_CTL_MAX_SIZE, &len) == FM_CTL_OK &&
	    fm_ctl_send(f->child->ctl_fd, p->udp_buf, len, -1) == 0) {
		return;
	}
	stats_inc(errno == EAGAIN ? "udp.dropped.backpressure" :
	    "udp.dropped.child");
	if (fresh) {
		/* The child never saw it: nothing to tell the router. */
		fm_pflow_release(p, f, EPSIP_CLOSE_NONE);
	}
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
	for (i = 0; i < UDP_BATCH; i++) {
		n = fm_udp_recv(fd, l->parent->udp_buf + FM_CTL_FLOW_SIZE,
		    FM_CTL_MAX_DATAGRAM, &l->addr, &remote, &local,
		    &arrived_ms);
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
		forward(l->parent, l, (size_t)n, &remote, &local,
		    arrived_ms);
	}
}
