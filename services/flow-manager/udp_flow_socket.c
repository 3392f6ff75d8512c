/*
 * udp_flow_socket.c -- a UDP flow's own socket, and when flows get one.
 *
 * With several flow-managers on one port (SO_REUSEPORT), the kernel picks
 * the listener for a datagram by a hash of its addresses over the
 * listeners present, and that choice changes whenever an instance joins
 * or leaves: a phone's keep-alives would land on an instance that never
 * heard of its flow.  A socket bound to the address the phone wrote to
 * and connected to the phone is matched before any listener (a full
 * four-tuple match scores highest in the kernel's UDP lookup), so the
 * flow's datagrams reach its owner whatever the other instances do.
 * It also lets the child read them itself, one hop fewer than the
 * parent's demultiplexing.
 *
 * The cost is one descriptor per UDP flow, held by its child as a TCP
 * flow's is, and on kernels before 6.13 a lookup that compares every
 * connected socket on the port: 6.13 added a four-tuple hash for
 * connected UDP sockets (docs/architecture.md).  Hence `auto`: connected
 * when more than one flow-manager runs, or when the kernel has the hash.
 *
 * The socket is a member of the port's SO_REUSEPORT group between bind()
 * and connect(); a datagram of another phone may be queued on it then.
 * The parent reads such strays before handing the socket over and deals
 * with them as it does with any datagram (udp_demux.c).
 */
#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <netinet/in.h>

#include "epsip/log.h"

#include "parent.h"
#include "udp_io.h"

/* The first kernel with the four-tuple hash for connected UDP. */
#define HASH4_MAJOR	6
#define HASH4_MINOR	13

static int
kernel_has_udp_hash4(void)
{
	struct utsname u;
	unsigned major, minor;

	if (uname(&u) == -1 ||
	    sscanf(u.release, "%u.%u", &major, &minor) != 2) {
		return (0);
	}
	return (major > HASH4_MAJOR ||
	    (major == HASH4_MAJOR && minor >= HASH4_MINOR));
}

enum udp_flow_sockets
fm_udp_flow_sockets_mode(const struct epsip_config *cfg)
{
	if (cfg->udp_flow_sockets != UDP_FLOW_SOCKETS_AUTO) {
		return (cfg->udp_flow_sockets);
	}
	return (cfg->flow_managers > 1 || kernel_has_udp_hash4() ?
	    UDP_FLOW_SOCKETS_CONNECTED : UDP_FLOW_SOCKETS_SHARED);
}

int
fm_udp_flow_socket_open(const struct epsip_addr *local,
    const struct epsip_addr *remote)
{
	struct sockaddr_storage lss, rss;
	socklen_t llen, rlen;
	int fd, one = 1, saved;

	llen = epsip_addr_to_sockaddr(local, &lss);
	rlen = epsip_addr_to_sockaddr(remote, &rss);
	if (llen == 0 || rlen == 0) {
		errno = EAFNOSUPPORT;
		return (-1);
	}
	fd = socket(local->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1) {
		return (-1);
	}
	if ((local->family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &one, sizeof(one)) == -1) ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one,
	    sizeof(one)) == -1 ||
	    fm_udp_want_pktinfo(fd, local->family) == -1 ||
	    bind(fd, (struct sockaddr *)&lss, llen) == -1 ||
	    connect(fd, (struct sockaddr *)&rss, rlen) == -1) {
		saved = errno;
		(void)close(fd);
		errno = saved;
		return (-1);
	}
	/* Best effort, as on the listeners (listen.c). */
	(void)fm_udp_want_timestamps(fd);
	return (fd);
}
