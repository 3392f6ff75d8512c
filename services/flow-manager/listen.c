/*
 * listen.c -- the parent's phone-facing sockets: for every cfg.listen
 * address one UDP socket and one TCP listener on the same port (TR-01).
 * A proxy-protocol address reads a PROXY header first on TCP
 * (proxy_accept.c); its UDP socket is an ordinary one.
 *
 * Every socket is bound with SO_REUSEPORT, so that the edge's other
 * flow-managers bind the same addresses and the kernel spreads new TCP
 * connections and new UDP flows among them (docs/architecture.md,
 * "Several flow-managers"), also when one joins later.  The kernel lets
 * any process of our user share such a port, so a port that someone
 * holds is shared only when a sibling says it has bound it
 * (instance_lock.c): two edges started on one port by mistake must fail,
 * not split the phones between them.
 *
 * Fatal: any socket, bind or listen failure at start -- an edge that
 * silently listens on fewer addresses than configured is worse than one
 * that does not start.
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>

#include "epsip/log.h"

#include "parent.h"
#include "udp_io.h"

/*
 * A reconnect storm after a network blip (thousands of phones at once)
 * overflowed a 1024 backlog in docs/performance.md; ask for the most and
 * let net.core.somaxconn cap it.
 */
#define LISTEN_BACKLOG	65535
/* Absorbs bursts while the loop is busy; the kernel caps it at rmem_max. */
#define UDP_RCVBUF	(4 * 1024 * 1024)
/*
 * A starting sibling's port check holds the port for a moment without
 * SO_REUSEPORT, and a sibling says it has bound only after its last
 * listener: waits for either are this short, this many times.
 */
#define BIND_RETRY_MS	10
#define BIND_RETRIES	100

static void
set_int(int fd, int level, int name, int value, const char *what,
    const char *addr)
{
	if (setsockopt(fd, level, name, &value, sizeof(value)) == -1) {
		fatal("listen %s: %s", addr, what);
	}
}

/*
 * 1 when another program holds `a` for `type`: a socket without
 * SO_REUSEPORT cannot bind it.  Only asked with no sibling running.
 */
static int
port_taken(const struct epsip_addr *a, int type)
{
	struct sockaddr_storage ss;
	socklen_t sslen = epsip_addr_to_sockaddr(a, &ss);
	int fd, one = 1, taken;

	if (sslen == 0 || a->port == 0 ||
	    (fd = socket(a->family, type | SOCK_CLOEXEC, 0)) == -1) {
		return (0);
	}
	if (a->family == AF_INET6) {
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
		    sizeof(one));
	}
	if (type == SOCK_STREAM) {
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
		    sizeof(one));
	}
	taken = bind(fd, (struct sockaddr *)&ss, sslen) == -1 &&
	    errno == EADDRINUSE;
	(void)close(fd);
	return (taken);
}

static void
pause_briefly(void)
{
	struct timespec pause = { 0, BIND_RETRY_MS * 1000000L };

	(void)nanosleep(&pause, NULL);
}

/* A sibling's check may hold the port for a moment: try again then. */
static int
bind_shared(int fd, const struct sockaddr_storage *ss, socklen_t sslen)
{
	int tries = BIND_RETRIES;

	while (bind(fd, (const struct sockaddr *)ss, sslen) == -1) {
		if (errno != EADDRINUSE || --tries <= 0) {
			return (-1);
		}
		pause_briefly();
	}
	return (0);
}

/*
 * Nobody but our siblings holds `a`: it is free, or a sibling has bound
 * its listeners.  A sibling still binding says so within moments, so a
 * taken port is asked about again for a while before it counts as
 * someone else's.
 */
static int
only_siblings_hold(const struct fm_parent *p, const struct epsip_addr *a,
    int type, int *siblings)
{
	int tries;

	for (tries = 0; tries < BIND_RETRIES; tries++) {
		if (*siblings || !port_taken(a, type)) {
			return (1);
		}
		*siblings = fm_instance_siblings_bound(p->cfg->run_dir,
		    p->cfg->flow_manager) > 0;
		if (*siblings) {
			return (1);
		}
		pause_briefly();
	}
	return (0);
}

static int
open_socket(const struct fm_parent *p, const struct epsip_addr *a, int type,
    const char *addr, const char *proto, int *siblings)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	int fd, big;

	sslen = epsip_addr_to_sockaddr(a, &ss);
	if (sslen == 0) {
		fatalx("listen %s: not an IPv4 or IPv6 address", addr);
	}
	fd = socket(a->family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		fatal("listen %s: %s socket", addr, proto);
	}
	if (a->family == AF_INET6) {
		/* One listener per configured address, nothing implicit. */
		set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1, "IPV6_V6ONLY", addr);
	}
	set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT", addr);
	if (type == SOCK_STREAM) {
		/* Restart while old connections sit in TIME_WAIT. */
		set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR", addr);
	} else {
		/*
		 * No SO_REUSEADDR on UDP: on Linux it lets a process of any
		 * user bind the same port and steal datagrams (SO_REUSEPORT
		 * is limited to ours).  A larger receive buffer is best
		 * effort.
		 */
		big = UDP_RCVBUF;
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
		if (fm_udp_want_pktinfo(fd, a->family) == -1) {
			fatal("listen %s: udp packet info", addr);
		}
		/* Best effort: without it a wait starts when we read. */
		(void)fm_udp_want_timestamps(fd);
		(void)fm_udp_want_drop_count(fd);
	}
	if (!only_siblings_hold(p, a, type, siblings)) {
		fatalx("listen %s: cannot bind %s: %s", addr, proto,
		    strerror(EADDRINUSE));
	}
	if (bind_shared(fd, &ss, sslen) == -1) {
		fatal("listen %s: cannot bind %s", addr, proto);
	}
	return (fd);
}

/* The next listener, for `a` and `transport`, its TCP socket open. */
static struct fm_listener *
open_stream_listener(struct fm_parent *p, const struct epsip_addr *a,
    uint8_t transport, int *siblings)
{
	struct fm_listener *l;
	struct sockaddr_storage ss;
	socklen_t sslen;
	char text[64];

	if (p->nlisteners == FM_MAX_LISTENERS) {
		fatalx("more than %d listen addresses", FM_MAX_LISTENERS);
	}
	l = &p->listeners[p->nlisteners];
	l->parent = p;
	l->index = (uint16_t)p->nlisteners;
	l->transport = transport;
	l->addr = *a;
	l->accept_pause_timer = -1;
	l->held_fd = -1;
	l->udp_fd = -1;
	(void)epsip_addr_format(&l->addr, text, sizeof(text));
	l->tcp_fd = open_socket(p, &l->addr, SOCK_STREAM, text,
	    transport == EPSIP_TRANSPORT_TCP ? "tcp" :
	    epsip_transport_name(transport), siblings);
	if (listen(l->tcp_fd, LISTEN_BACKLOG) == -1) {
		fatal("listen %s: tcp listen", text);
	}
	if (l->addr.port == 0) {
		sslen = sizeof(ss);
		if (getsockname(l->tcp_fd, (struct sockaddr *)&ss,
		    &sslen) == -1 || epsip_addr_from_sockaddr(&l->addr,
		    (struct sockaddr *)&ss) == -1) {
			fatal("listen %s: getsockname", text);
		}
	}
	p->nlisteners++;
	return (l);
}

void
fm_listen_open(struct fm_parent *p)
{
	struct fm_listener *l;
	const struct epsip_addr *addrs;
	char text[64];
	size_t i, n;
	int siblings;

	siblings = fm_instance_siblings_bound(p->cfg->run_dir,
	    p->cfg->flow_manager) > 0;
	for (i = 0; i < p->cfg->listen_count && i < CONFIG_MAX_LISTEN; i++) {
		/* TCP first: with port 0 its port is reused for UDP. */
		l = open_stream_listener(p, &p->cfg->listen[i],
		    EPSIP_TRANSPORT_TCP, &siblings);
		l->proxy = config_proxy_protocol_on(p->cfg, &p->cfg->listen[i]);
		(void)epsip_addr_format(&l->addr, text, sizeof(text));
		l->udp_fd = open_socket(p, &l->addr, SOCK_DGRAM, text,
		    "udp", &siblings);
		log_info("listening on %s udp+tcp%s", text, l->proxy ?
		    " (tcp behind a load balancer: PROXY protocol)" : "");
		p->nudp_listeners = p->nlisteners;
	}
	if (p->nlisteners == 0) {
		fatalx("no listen address configured");
	}
	for (uint8_t t = EPSIP_TRANSPORT_TLS; t <= EPSIP_TRANSPORT_MAX; t++) {
		addrs = config_listeners(p->cfg, t, &n);
		for (i = 0; i < n && i < CONFIG_MAX_LISTEN; i++) {
			l = open_stream_listener(p, &addrs[i], t, &siblings);
			(void)epsip_addr_format(&l->addr, text, sizeof(text));
			log_info("listening on %s %s", text,
			    epsip_transport_name(t));
		}
	}
	if (fm_instance_mark_bound(p->lock_fd) == -1) {
		fatal("listen: cannot say so in fm-%u.lock",
		    p->cfg->flow_manager);
	}
}

void
fm_listen_stop_taking(struct fm_parent *p)
{
	struct fm_listener *l;
	size_t i;

	for (i = 0; i < p->nlisteners; i++) {
		l = &p->listeners[i];
		/* What the kernel queued for us is ours to serve. */
		if (l->tcp_fd != -1 && l->accept_pause_timer == -1) {
			fm_accept_cb(p->loop, l->tcp_fd, EPOLLIN, l);
		}
	}
	fm_listen_close(p);
}

void
fm_listen_close(struct fm_parent *p)
{
	struct fm_listener *l;
	size_t i;

	for (i = 0; i < p->nlisteners; i++) {
		l = &p->listeners[i];
		fm_accept_unpause(p, l);
		if (l->tcp_fd != -1) {
			loop_del_fd(p->loop, l->tcp_fd);
			(void)close(l->tcp_fd);
			l->tcp_fd = -1;
		}
		fm_udp_demux_close(p, l);
		if (l->udp_fd != -1) {
			loop_del_fd(p->loop, l->udp_fd);
			(void)close(l->udp_fd);
			l->udp_fd = -1;
		}
	}
	p->nlisteners = 0;
}
