/*
 * control.c -- encode, decode, send and receive flow-manager control
 * messages (see control.h for the layout).
 *
 * Decoding trusts nothing: every length, the version, the type and every
 * enum-like field are checked before a message is returned.  Nothing here
 * is fatal; the callers decide what a bad message means.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <netinet/in.h>

#include "control.h"

static void
put8(uint8_t **p, uint8_t v)
{
	*(*p)++ = v;
}

static void
put16(uint8_t **p, uint16_t v)
{
	put8(p, (uint8_t)(v >> 8));
	put8(p, (uint8_t)v);
}

static void
put32(uint8_t **p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p, (uint16_t)v);
}

static void
put64(uint8_t **p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p, (uint32_t)v);
}

static uint8_t
get8(const uint8_t **p)
{
	return (*(*p)++);
}

static uint16_t
get16(const uint8_t **p)
{
	uint16_t v;

	v = (uint16_t)(get8(p) << 8);
	return ((uint16_t)(v | get8(p)));
}

static uint32_t
get32(const uint8_t **p)
{
	uint32_t v;

	v = (uint32_t)get16(p) << 16;
	return (v | get16(p));
}

static uint64_t
get64(const uint8_t **p)
{
	uint64_t v;

	v = (uint64_t)get32(p) << 32;
	return (v | get32(p));
}

static int
family_ok(uint8_t family)
{
	return (family == AF_INET || family == AF_INET6);
}

static void
put_addr(uint8_t **p, const struct epsip_addr *a)
{
	size_t n;

	put8(p, a->family);
	put16(p, a->port);
	/* Only the bytes the family uses: the rest go out as zero. */
	n = a->family == AF_INET ? 4 : 16;
	memset(*p, 0, 16);
	memcpy(*p, a->ip, n);
	*p += 16;
}

static void
get_addr(const uint8_t **p, struct epsip_addr *a)
{
	memset(a, 0, sizeof(*a));
	a->family = get8(p);
	a->port = get16(p);
	memcpy(a->ip, *p, a->family == AF_INET ? 4 : 16);
	*p += 16;
}

void
fm_ctl_init(struct fm_ctl_msg *msg, enum fm_ctl_type type)
{
	memset(msg, 0, sizeof(*msg));
	msg->version = FM_CTL_VERSION;
	msg->type = (uint8_t)type;
}

size_t
fm_ctl_encoded_size(const struct fm_ctl_msg *msg)
{
	switch (msg->type) {
	case FM_CTL_NEW_TCP_FLOW:
		return (FM_CTL_FLOW_SIZE);
	case FM_CTL_UDP_DATAGRAM:
		return (FM_CTL_FLOW_SIZE + msg->payload_len);
	case FM_CTL_FLOW_CLOSED:
		return (FM_CTL_CLOSED_SIZE);
	default:
		return (0);
	}
}

static enum fm_ctl_error
check_fields(const struct fm_ctl_msg *msg)
{
	switch (msg->type) {
	case FM_CTL_UDP_DATAGRAM:
		if (msg->payload_len == 0 ||
		    msg->payload_len > FM_CTL_MAX_DATAGRAM) {
			return (FM_CTL_ELENGTH);
		}
		/* FALLTHROUGH */
	case FM_CTL_NEW_TCP_FLOW:
		if (msg->listener >= FM_CTL_MAX_LISTENER ||
		    !family_ok(msg->local.family) ||
		    !family_ok(msg->remote.family)) {
			return (FM_CTL_EFIELD);
		}
		return (FM_CTL_OK);
	case FM_CTL_FLOW_CLOSED:
		/* NONE: the child never had the flow (FM_CTL_FD_LOST). */
		if (msg->reason > EPSIP_CLOSE_REASON_MAX) {
			return (FM_CTL_EFIELD);
		}
		return (FM_CTL_OK);
	default:
		return (FM_CTL_ETYPE);
	}
}

enum fm_ctl_error
fm_ctl_encode(const struct fm_ctl_msg *msg, uint8_t *out, size_t cap,
    size_t *len)
{
	enum fm_ctl_error err;
	uint8_t *p;
	size_t need;

	*len = 0;
	if ((err = check_fields(msg)) != FM_CTL_OK) {
		return (err);
	}
	need = fm_ctl_encoded_size(msg);
	if (need > cap) {
		return (FM_CTL_ESPACE);
	}
	p = out;
	put8(&p, FM_CTL_VERSION);
	put8(&p, msg->type);
	put32(&p, msg->slot);
	put32(&p, msg->generation);
	if (msg->type == FM_CTL_FLOW_CLOSED) {
		put32(&p, msg->reason);
		*len = need;
		return (FM_CTL_OK);
	}
	put16(&p, msg->listener);
	put_addr(&p, &msg->local);
	put_addr(&p, &msg->remote);
	put64(&p, msg->arrived_ms);
	if (msg->type == FM_CTL_UDP_DATAGRAM && msg->payload != p) {
		/* memmove: the payload may overlap the output. */
		memmove(p, msg->payload, msg->payload_len);
	}
	*len = need;
	return (FM_CTL_OK);
}

enum fm_ctl_error
fm_ctl_decode(const uint8_t *in, size_t len, struct fm_ctl_msg *msg)
{
	const uint8_t *p;

	memset(msg, 0, sizeof(*msg));
	if (len < FM_CTL_BASE_SIZE) {
		return (FM_CTL_ETRUNCATED);
	}
	p = in;
	msg->version = get8(&p);
	if (msg->version != FM_CTL_VERSION) {
		return (FM_CTL_EVERSION);
	}
	msg->type = get8(&p);
	msg->slot = get32(&p);
	msg->generation = get32(&p);
	switch (msg->type) {
	case FM_CTL_FLOW_CLOSED:
		if (len < FM_CTL_CLOSED_SIZE) {
			return (FM_CTL_ETRUNCATED);
		}
		if (len > FM_CTL_CLOSED_SIZE) {
			return (FM_CTL_ELENGTH);
		}
		msg->reason = get32(&p);
		return (check_fields(msg));
	case FM_CTL_NEW_TCP_FLOW:
	case FM_CTL_UDP_DATAGRAM:
		if (len < FM_CTL_FLOW_SIZE) {
			return (FM_CTL_ETRUNCATED);
		}
		if (msg->type == FM_CTL_NEW_TCP_FLOW &&
		    len > FM_CTL_FLOW_SIZE) {
			return (FM_CTL_ELENGTH);
		}
		msg->listener = get16(&p);
		get_addr(&p, &msg->local);
		get_addr(&p, &msg->remote);
		msg->arrived_ms = get64(&p);
		if (msg->type == FM_CTL_UDP_DATAGRAM) {
			msg->payload = p;
			msg->payload_len = len - FM_CTL_FLOW_SIZE;
		}
		return (check_fields(msg));
	default:
		return (FM_CTL_ETYPE);
	}
}

const char *
fm_ctl_type_name(uint8_t type)
{
	switch (type) {
	case FM_CTL_NEW_TCP_FLOW:
		return ("NEW_TCP_FLOW");
	case FM_CTL_UDP_DATAGRAM:
		return ("UDP_DATAGRAM");
	case FM_CTL_FLOW_CLOSED:
		return ("FLOW_CLOSED");
	default:
		return ("unknown");
	}
}

const char *
fm_ctl_error_name(enum fm_ctl_error error)
{
	switch (error) {
	case FM_CTL_OK:
		return ("ok");
	case FM_CTL_ETRUNCATED:
		return ("truncated");
	case FM_CTL_EVERSION:
		return ("version");
	case FM_CTL_ETYPE:
		return ("type");
	case FM_CTL_EFIELD:
		return ("field");
	case FM_CTL_ELENGTH:
		return ("length");
	case FM_CTL_ESPACE:
		return ("space");
	}
	return ("unknown");
}

int
fm_ctl_send(int fd, const uint8_t *buf, size_t len, int pass_fd)
{
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int))];
	} cmsg;
	struct cmsghdr *c;
	struct msghdr mh;
	struct iovec iov;
	ssize_t n;

	memset(&mh, 0, sizeof(mh));
	iov.iov_base = (void *)(uintptr_t)buf;
	iov.iov_len = len;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (pass_fd >= 0) {
		memset(&cmsg, 0, sizeof(cmsg));
		mh.msg_control = cmsg.buf;
		mh.msg_controllen = sizeof(cmsg.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
	}
	do {
		n = sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	} while (n == -1 && errno == EINTR);
	if (n == -1) {
		return (-1);
	}
	/* SEQPACKET sends all or nothing; anything else is a kernel bug. */
	if ((size_t)n != len) {
		errno = EMSGSIZE;
		return (-1);
	}
	return (0);
}

ssize_t
fm_ctl_recv(int fd, uint8_t *buf, size_t cap, int *passed_fd)
{
	union {
		struct cmsghdr hdr;
		/* Room for a few: extra descriptors are closed, not leaked. */
		char buf[CMSG_SPACE(4 * sizeof(int))];
	} cmsg;
	struct cmsghdr *c;
	struct msghdr mh;
	struct iovec iov;
	ssize_t n;
	size_t i, nfds;
	int got, bad, lost;

	*passed_fd = -1;
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = buf;
	iov.iov_len = cap;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cmsg.buf;
	mh.msg_controllen = sizeof(cmsg.buf);
	do {
		n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	} while (n == -1 && errno == EINTR);
	if (n <= 0) {
		return (n);
	}
	bad = (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0;
	/*
	 * A complete message whose descriptor did not fit: with room for
	 * four, only EMFILE does that, and the kernel has dropped it.
	 */
	lost = (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) == MSG_CTRUNC;
	for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
			continue;
		}
		nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < nfds; i++) {
			memcpy(&got, CMSG_DATA(c) + i * sizeof(int),
			    sizeof(int));
			if (*passed_fd == -1 && !bad) {
				*passed_fd = got;
			} else {
				(void)close(got);
				bad = 1;
			}
		}
	}
	if (bad) {
		if (*passed_fd != -1) {
			(void)close(*passed_fd);
			*passed_fd = -1;
		}
		if (lost) {
			*passed_fd = FM_CTL_FD_LOST;
			return (n);
		}
		errno = EMSGSIZE;
		return (-1);
	}
	return (n);
}
