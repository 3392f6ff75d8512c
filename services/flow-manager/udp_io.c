/*
 * udp_io.c -- recvmsg/sendmsg with IP_PKTINFO / IPV6_PKTINFO and receive
 * timestamps (see udp_io.h).
 * DIAGNOSTICS: none; errors are returned with errno.
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "epsip/loop.h"

#include "udp_io.h"

/* Room for one IPv4 or IPv6 packet-info control message. */
#define FM_UDP_CMSG_SPACE \
	(CMSG_SPACE(sizeof(struct in6_pktinfo)) > \
	CMSG_SPACE(sizeof(struct in_pktinfo)) ? \
	CMSG_SPACE(sizeof(struct in6_pktinfo)) : \
	CMSG_SPACE(sizeof(struct in_pktinfo)))
/* ... plus the kernel's receive timestamp. */
#define FM_UDP_RECV_CMSG_SPACE \
	(FM_UDP_CMSG_SPACE + CMSG_SPACE(sizeof(struct timespec)) + \
	CMSG_SPACE(sizeof(uint32_t)))
/* A datagram older than this is a clock step, not a queue. */
#define FM_UDP_MAX_AGE_MS	60000

int
fm_udp_want_pktinfo(int fd, int family)
{
	int on = 1;

	if (family == AF_INET6) {
		return (setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on,
		    sizeof(on)));
	}
	return (setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof(on)));
}

int
fm_udp_want_timestamps(int fd)
{
	int on = 1;

	return (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on)));
}

int
fm_udp_want_drop_count(int fd)
{
	int on = 1;

	return (setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &on, sizeof(on)));
}

/*
 * The kernel stamps in CLOCK_REALTIME; the edge's deadlines run on
 * CLOCK_MONOTONIC.  The datagram's age carries across.
 */
static uint64_t
arrival_ms(const struct timespec *stamp)
{
	struct timespec now;
	int64_t age_ms;
	uint64_t mono = monotonic_ms();

	if (clock_gettime(CLOCK_REALTIME, &now) == -1) {
		return (mono);
	}
	age_ms = (int64_t)(now.tv_sec - stamp->tv_sec) * 1000 +
	    (now.tv_nsec - stamp->tv_nsec) / 1000000;
	if (age_ms <= 0 || age_ms > FM_UDP_MAX_AGE_MS ||
	    (uint64_t)age_ms >= mono) {
		return (mono);
	}
	return (mono - (uint64_t)age_ms);
}

ssize_t
fm_udp_recv(int fd, void *buf, size_t cap, const struct epsip_addr *bound,
    struct epsip_addr *remote, struct epsip_addr *local, uint64_t *arrived_ms,
    uint32_t *kernel_drops)
{
	union {
		char buf[FM_UDP_RECV_CMSG_SPACE];
		struct cmsghdr align;
	} control;
	struct sockaddr_storage ss;
	struct iovec iov = { buf, cap };
	struct msghdr mh;
	struct cmsghdr *c;
	ssize_t n;

	memset(&mh, 0, sizeof(mh));
	mh.msg_name = &ss;
	mh.msg_namelen = sizeof(ss);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = control.buf;
	mh.msg_controllen = sizeof(control.buf);
	if ((n = recvmsg(fd, &mh, MSG_DONTWAIT)) == -1) {
		return (-1);
	}
	if (epsip_addr_from_sockaddr(remote, (struct sockaddr *)&ss) == -1) {
		errno = EAFNOSUPPORT;
		return (-1);
	}
	*local = *bound;
	*arrived_ms = 0;
	for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level == SOL_SOCKET &&
		    c->cmsg_type == SCM_TIMESTAMPNS) {
			struct timespec ts;

			memcpy(&ts, CMSG_DATA(c), sizeof(ts));
			*arrived_ms = arrival_ms(&ts);
		} else if (c->cmsg_level == SOL_SOCKET &&
		    c->cmsg_type == SO_RXQ_OVFL) {
			memcpy(kernel_drops, CMSG_DATA(c), sizeof(uint32_t));
		} else if (c->cmsg_level == IPPROTO_IP &&
		    c->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;

			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			memcpy(local->ip, &pi.ipi_addr, 4);
		} else if (c->cmsg_level == IPPROTO_IPV6 &&
		    c->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;

			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			memcpy(local->ip, &pi.ipi6_addr, 16);
		}
	}
	if (*arrived_ms == 0) {
		*arrived_ms = monotonic_ms();
	}
	return (n);
}

/* Fill the control message at c with `data`; the space it takes. */
static size_t
put_cmsg(struct cmsghdr *c, int level, int type, const void *data,
    size_t len)
{
	c->cmsg_level = level;
	c->cmsg_type = type;
	c->cmsg_len = CMSG_LEN(len);
	memcpy(CMSG_DATA(c), data, len);
	return (CMSG_SPACE(len));
}

ssize_t
fm_udp_send(int fd, const void *buf, size_t len,
    const struct epsip_addr *remote, const struct epsip_addr *local)
{
	union {
		char buf[FM_UDP_CMSG_SPACE];
		struct cmsghdr align;
	} control;
	struct sockaddr_storage ss;
	struct iovec iov = { (void *)(uintptr_t)buf, len };
	struct msghdr mh;
	struct cmsghdr *c;
	socklen_t sslen;
	ssize_t n;

	if ((sslen = epsip_addr_to_sockaddr(remote, &ss)) == 0) {
		errno = EAFNOSUPPORT;
		return (-1);
	}
	memset(&mh, 0, sizeof(mh));
	memset(&control, 0, sizeof(control));
	mh.msg_name = &ss;
	mh.msg_namelen = sslen;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (local != NULL && local->family != 0 &&
	    !epsip_addr_is_any(local) && local->family == remote->family) {
		mh.msg_control = control.buf;
		c = (struct cmsghdr *)(void *)control.buf;
		if (local->family == AF_INET) {
			struct in_pktinfo pi;

			memset(&pi, 0, sizeof(pi));
			memcpy(&pi.ipi_spec_dst, local->ip, 4);
			mh.msg_controllen = put_cmsg(c, IPPROTO_IP, IP_PKTINFO,
			    &pi, sizeof(pi));
		} else {
			struct in6_pktinfo pi;

			memset(&pi, 0, sizeof(pi));
			memcpy(&pi.ipi6_addr, local->ip, 16);
			mh.msg_controllen = put_cmsg(c, IPPROTO_IPV6,
			    IPV6_PKTINFO, &pi, sizeof(pi));
		}
	}
	do {
		n = sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	} while (n == -1 && errno == EINTR);
	return (n);
}
