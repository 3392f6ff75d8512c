/*
 * drain.c -- a flow-manager leaving the set without dropping its phones
 * first.
 *
 * On SIGUSR1 (epsipd scaling down, or `epsipctl drain INSTANCE`) the
 * parent closes its listeners.  The kernel then hands new TCP connections
 * and new UDP flows only to the instance's siblings, which share the
 * ports (SO_REUSEPORT); connections already in our accept queue are taken
 * first, and with net.ipv4.tcp_migrate_req = 1 (deploy/sysctl) the kernel
 * moves the few that arrive in between to a sibling instead of resetting
 * them.  The flows held stay and keep working: TCP connections are the
 * children's, UDP flows have their own connected sockets
 * (udp_flow_socket.c).  As their phones go away or re-register through a
 * sibling, they close; once none is left, or when drain-timeout has
 * passed, the parent stops as on SIGTERM, closing the rest, and the
 * router is told of each (requests for them get 430).
 *
 * With udp-flow-sockets = shared there are no such sockets: the UDP
 * flows' datagrams went through the listener, and from now on reach a
 * sibling, which makes new flows of them.
 *
 * Nothing here is fatal.
 */
#include "epsip/log.h"

#include "parent.h"

#define DRAIN_CHECK_MS	1000

static size_t
flows_held(const struct fm_parent *p)
{
	return (p->open_total);
}

static void
drain_check(struct loop *loop, void *arg)
{
	struct fm_parent *p = arg;
	size_t held = flows_held(p);

	if (held == 0) {
		log_info("drained: no flow left, stopping");
	} else if (loop_now_ms(loop) >= p->drain_deadline_ms) {
		log_info("drain-timeout passed: closing the %zu flow%s left",
		    held, held == 1 ? "" : "s");
	} else {
		return;
	}
	fm_drain_stop(p);
	loop_stop(loop);
}

void
fm_drain_begin(struct fm_parent *p)
{
	if (p->draining || p->stopping) {
		return;
	}
	p->draining = 1;
	p->drain_deadline_ms = loop_now_ms(p->loop) +
	    1000ULL * p->cfg->drain_timeout;
	log_info("draining: no new flows; %zu held, kept up to %u s",
	    flows_held(p), p->cfg->drain_timeout);
	fm_listen_stop_taking(p);
	p->drain_timer = loop_every(p->loop, DRAIN_CHECK_MS, drain_check, p);
	if (p->drain_timer < 0) {
		log_warnx("drain: no timer, stopping now");
		loop_stop(p->loop);
		return;
	}
	drain_check(p->loop, p);
}

void
fm_drain_stop(struct fm_parent *p)
{
	if (p->drain_timer >= 0) {
		loop_cancel(p->loop, p->drain_timer);
		p->drain_timer = -1;
	}
}
