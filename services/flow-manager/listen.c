/*
 * listen.c -- the parent's phone-facing sockets: for every cfg.listen
 * address one UDP socket and one TCP listener on the same port (TR-01).
 * A proxy-protocol address reads a PROXY header first on TCP
 * (proxy_accept.c); its UDP socket is an ordinary one.
 *
 * Fatal: any socket, bind or listen failure at start -- an edge that
 * silently listens on fewer addresses than configured is worse than one
 * that does not start.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
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

static void
set_int(int fd, int level, int name, int value, const char *what,
    const char *addr)
{
	if (setsockopt(fd, level, name, &value, sizeof(value)) == -1) {
		fatal("listen %s: %s", addr, what);
	}
}

static int
open_socket(const struct epsip_addr *a, int type, const char *addr,
    const char *proto)
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
	if (type == SOCK_STREAM) {
		/* Restart while old connections sit in TIME_WAIT. */
		set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR", addr);
	} else {
		/*
		 * No SO_REUSEADDR on UDP: on Linux it lets a second process
		 * bind the same port and steal half the datagrams.  A
		 * larger receive buffer is best effort.
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
	if (bind(fd, (struct sockaddr *)&ss, sslen) == -1) {
		fatal("listen %s: cannot bind %s", addr, proto);
	}
	return (fd);
}

void
fm_listen_open(struct fm_parent *p)
{
	struct fm_listener *l;
	struct sockaddr_storage ss;
	socklen_t sslen;
	char text[64];
	size_t i;

	for (i = 0; i < p->cfg->listen_count && i < CONFIG_MAX_LISTEN; i++) {
		l = &p->listeners[i];
		l->parent = p;
		l->index = (uint16_t)i;
		l->addr = p->cfg->listen[i];
		l->proxy = config_proxy_protocol_on(p->cfg, &l->addr);
		l->accept_pause_timer = -1;
		(void)epsip_addr_format(&l->addr, text, sizeof(text));

		/* TCP first: with port 0 its port is reused for UDP. */
		l->tcp_fd = open_socket(&l->addr, SOCK_STREAM, text, "tcp");
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
		l->udp_fd = open_socket(&l->addr, SOCK_DGRAM, text, "udp");
		(void)epsip_addr_format(&l->addr, text, sizeof(text));
		log_info("listening on %s udp+tcp%s", text, l->proxy ?
		    " (tcp behind a load balancer: PROXY protocol)" : "");
		p->nlisteners = i + 1;
	}
	if (p->nlisteners == 0) {
		fatalx("no listen address configured");
	}
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
