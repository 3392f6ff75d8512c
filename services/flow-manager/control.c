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

#include "epsip/stats.h"
#include "epsip/wire.h"

#include "control.h"

static int
family_ok(uint8_t family)
{
	return (family == AF_INET || family == AF_INET6);
}

void
fm_ctl_init(struct fm_ctl_msg *msg, enum fm_ctl_type type)
{
	memset(msg, 0, sizeof(*msg));
	msg->version = FM_CTL_VERSION;
	msg->type = (uint8_t)type;
	/* The usual transport of each; a TLS or WebSocket flow says so. */
	if (type == FM_CTL_UDP_DATAGRAM) {
		msg->transport = EPSIP_TRANSPORT_UDP;
	} else if (type == FM_CTL_NEW_STREAM_FLOW) {
		msg->transport = EPSIP_TRANSPORT_TCP;
	}
}

size_t
fm_ctl_encoded_size(const struct fm_ctl_msg *msg)
{
	switch (msg->type) {
	case FM_CTL_NEW_STREAM_FLOW:
		return (FM_CTL_FLOW_SIZE);
	case FM_CTL_UDP_DATAGRAM:
		return (FM_CTL_FLOW_SIZE + msg->payload_len);
	case FM_CTL_FLOW_CLOSED:
		return (FM_CTL_CLOSED_SIZE);
	default:
		return (0);
	}
}

static enum epsip_msg_error
check_flow_fields(const struct fm_ctl_msg *msg)
{
	if (msg->listener >= FM_CTL_MAX_LISTENER ||
	    !family_ok(msg->local.family) || !family_ok(msg->remote.family)) {
		return (EPSIP_MSG_EFIELD);
	}
	return (EPSIP_MSG_OK);
}

static enum epsip_msg_error
check_fields(const struct fm_ctl_msg *msg)
{
	switch (msg->type) {
	case FM_CTL_UDP_DATAGRAM:
		if (msg->payload_len == 0 ||
		    msg->payload_len > FM_CTL_MAX_DATAGRAM) {
			return (EPSIP_MSG_ELENGTH);
		}
		if (msg->transport != EPSIP_TRANSPORT_UDP) {
			return (EPSIP_MSG_EFIELD);
		}
		return (check_flow_fields(msg));
	case FM_CTL_NEW_STREAM_FLOW:
		if (!epsip_transport_is_stream(msg->transport)) {
			return (EPSIP_MSG_EFIELD);
		}
		return (check_flow_fields(msg));
	case FM_CTL_FLOW_CLOSED:
		/* NONE: the child never had the flow (FM_CTL_FD_LOST). */
		if (msg->reason > EPSIP_CLOSE_REASON_MAX) {
			return (EPSIP_MSG_EFIELD);
		}
		return (EPSIP_MSG_OK);
	default:
		return (EPSIP_MSG_ETYPE);
	}
}

enum epsip_msg_error
fm_ctl_encode(const struct fm_ctl_msg *msg, uint8_t *out, size_t cap,
    size_t *len)
{
	struct wire_writer w;
	enum epsip_msg_error err;
	uint8_t *payload;

	*len = 0;
	if ((err = check_fields(msg)) != EPSIP_MSG_OK) {
		return (err);
	}
	/* Checked first so that nothing is written when it does not fit. */
	if (fm_ctl_encoded_size(msg) > cap) {
		return (EPSIP_MSG_ESPACE);
	}
	wire_writer_init(&w, out, cap);
	wire_put_u8(&w, FM_CTL_VERSION);
	wire_put_u8(&w, msg->type);
	wire_put_u32(&w, msg->slot);
	wire_put_u32(&w, msg->generation);
	if (msg->type == FM_CTL_FLOW_CLOSED) {
		wire_put_u32(&w, msg->reason);
	} else {
		wire_put_u16(&w, msg->listener);
		wire_put_u8(&w, msg->transport);
		wire_put_addr(&w, &msg->local);
		wire_put_addr(&w, &msg->remote);
		wire_put_u64(&w, msg->arrived_ms);
	}
	if (msg->type == FM_CTL_UDP_DATAGRAM &&
	    (payload = wire_put_ptr(&w, msg->payload_len)) != NULL &&
	    payload != msg->payload) {
		/* memmove: the payload may overlap the output. */
		memmove(payload, msg->payload, msg->payload_len);
	}
	if (wire_write_end(&w) == -1) {
		return (EPSIP_MSG_ESPACE);
	}
	*len = wire_written(&w);
	return (EPSIP_MSG_OK);
}

enum epsip_msg_error
fm_ctl_decode(const uint8_t *in, size_t len, struct fm_ctl_msg *msg)
{
	struct wire_reader r;

	memset(msg, 0, sizeof(*msg));
	if (len < FM_CTL_BASE_SIZE) {
		return (EPSIP_MSG_ETRUNCATED);
	}
	wire_reader_init(&r, in, len);
	msg->version = wire_get_u8(&r);
	if (msg->version != FM_CTL_VERSION) {
		return (EPSIP_MSG_EVERSION);
	}
	msg->type = wire_get_u8(&r);
	msg->slot = wire_get_u32(&r);
	msg->generation = wire_get_u32(&r);
	switch (msg->type) {
	case FM_CTL_FLOW_CLOSED:
		msg->reason = wire_get_u32(&r);
		break;
	case FM_CTL_NEW_STREAM_FLOW:
	case FM_CTL_UDP_DATAGRAM:
		msg->listener = wire_get_u16(&r);
		msg->transport = wire_get_u8(&r);
		wire_get_addr(&r, &msg->local);
		wire_get_addr(&r, &msg->remote);
		msg->arrived_ms = wire_get_u64(&r);
		if (msg->type == FM_CTL_UDP_DATAGRAM) {
			msg->payload_len = wire_remaining(&r);
			msg->payload = wire_get_ptr(&r, msg->payload_len);
		}
		break;
	default:
		return (EPSIP_MSG_ETYPE);
	}
	if (wire_read_failed(&r)) {
		return (EPSIP_MSG_ETRUNCATED);
	}
	if (wire_read_end(&r) == -1) {
		return (EPSIP_MSG_ELENGTH);
	}
	return (check_fields(msg));
}

const char *
fm_ctl_type_name(uint8_t type)
{
	switch (type) {
	case FM_CTL_NEW_STREAM_FLOW:
		return ("NEW_STREAM_FLOW");
	case FM_CTL_UDP_DATAGRAM:
		return ("UDP_DATAGRAM");
	case FM_CTL_FLOW_CLOSED:
		return ("FLOW_CLOSED");
	default:
		return ("unknown");
	}
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

ssize_t
fm_ctl_read(int fd, uint8_t *buf, size_t cap, int *passed_fd)
{
	ssize_t n;

	/* A message that did not fit is lost either way: count it, go on. */
	while ((n = fm_ctl_recv(fd, buf, cap, passed_fd)) == -1 &&
	    errno == EMSGSIZE) {
		stats_inc(M_CONTROL_ERRORS);
	}
	if (n == -1 && errno == EAGAIN) {
		return (FM_CTL_DRAINED);
	}
	return (n);
}
