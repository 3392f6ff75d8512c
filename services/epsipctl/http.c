/*
 * http.c -- one HTTP/1.0 request to epsipd's stats endpoint.
 *
 * A request, the answer read until the server closes (HTTP/1.0) or
 * Content-Length is reached, all within one deadline: epsipctl must
 * never hang in a script or a health check.  No library: the endpoint
 * is epsipd's own, on loopback, and speaks the little this needs.
 * DIAGNOSTICS: every failure is returned with a reason.
 */
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "epsip/loop.h"
#include "epsip/version.h"

#include "ctl.h"

/* A wildcard address means "this host": its family's loopback. */
static void
ctl_sockaddr(const struct epsip_addr *addr, struct sockaddr_storage *ss,
    socklen_t *len)
{
	struct epsip_addr a = *addr;

	if (epsip_addr_is_any(&a)) {
		memset(a.ip, 0, sizeof(a.ip));
		if (a.family == AF_INET) {
			a.ip[0] = 127;
			a.ip[3] = 1;
		} else {
			a.ip[15] = 1;
		}
	}
	*len = epsip_addr_to_sockaddr(&a, ss);
}

/* Wait for `events` on fd until `deadline`: 0, or -1 with errno. */
static int
ctl_wait(int fd, short events, uint64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	uint64_t now;
	int n;

	for (;;) {
		now = monotonic_ms();
		if (now >= deadline) {
			errno = ETIMEDOUT;
			return (-1);
		}
		n = poll(&pfd, 1, (int)(deadline - now));
		if (n > 0) {
			return (0);
		}
		if (n == -1 && errno != EINTR) {
			return (-1);
		}
	}
}

static int
ctl_connect(const struct epsip_addr *addr, uint64_t deadline)
{
	struct sockaddr_storage ss;
	socklen_t len, elen;
	int fd, e;

	ctl_sockaddr(addr, &ss, &len);
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0)) == -1) {
		return (-1);
	}
	if (connect(fd, (struct sockaddr *)&ss, len) == -1 &&
	    errno != EINPROGRESS) {
		goto fail;
	}
	elen = sizeof(e);
	if (ctl_wait(fd, POLLOUT, deadline) == -1 ||
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) == -1) {
		goto fail;
	}
	if (e != 0) {
		errno = e;
		goto fail;
	}
	return (fd);
fail:
	e = errno;
	close(fd);
	errno = e;
	return (-1);
}

static int
ctl_send_all(int fd, const char *buf, size_t len, uint64_t deadline)
{
	ssize_t n;

	while (len > 0) {
		if (ctl_wait(fd, POLLOUT, deadline) == -1) {
			return (-1);
		}
		if ((n = send(fd, buf, len, MSG_NOSIGNAL)) == -1) {
			if (errno == EINTR || errno == EAGAIN) {
				continue;
			}
			return (-1);
		}
		buf += n;
		len -= (size_t)n;
	}
	return (0);
}

/* Read until EOF into *out (malloc'ed, NUL-terminated): its length or -1. */
static ssize_t
ctl_read_all(int fd, char **out, uint64_t deadline)
{
	size_t len = 0, cap = 0;
	char *buf = NULL, *more;
	ssize_t n;

	for (;;) {
		if (cap - len < 4097) {
			cap = cap == 0 ? 16384 : cap * 2;
			if (cap > CTL_REPLY_MAX + 1 ||
			    (more = realloc(buf, cap)) == NULL) {
				free(buf);
				errno = EFBIG;
				return (-1);
			}
			buf = more;
		}
		if (ctl_wait(fd, POLLIN, deadline) == -1) {
			free(buf);
			return (-1);
		}
		n = recv(fd, buf + len, cap - len - 1, 0);
		if (n == 0) {
			break;
		}
		if (n == -1) {
			if (errno == EINTR || errno == EAGAIN) {
				continue;
			}
			free(buf);
			return (-1);
		}
		len += (size_t)n;
	}
	buf[len] = '\0';
	*out = buf;
	return ((ssize_t)len);
}

int
ctl_http(const struct epsip_addr *addr, const char *method,
    const char *path, unsigned timeout_ms, struct ctl_reply *reply,
    char *err, size_t errcap)
{
	uint64_t deadline = monotonic_ms() + timeout_ms;
	char req[512], where[64];
	char *raw = NULL;
	ssize_t len;
	int fd, n;

	epsip_addr_format(addr, where, sizeof(where));
	n = snprintf(req, sizeof(req), "%s %s HTTP/1.0\r\nHost: %s\r\n"
	    "User-Agent: epsipctl/%s\r\nContent-Length: 0\r\n\r\n", method,
	    path, where, EPSIP_VERSION);
	if (n < 0 || (size_t)n >= sizeof(req)) {
		snprintf(err, errcap, "%s %s: request too long", method, path);
		return (-1);
	}
	if ((fd = ctl_connect(addr, deadline)) == -1) {
		snprintf(err, errcap, "cannot connect to %s: %s", where,
		    strerror(errno));
		return (-1);
	}
	if (ctl_send_all(fd, req, (size_t)n, deadline) == -1 ||
	    (len = ctl_read_all(fd, &raw, deadline)) == -1) {
		snprintf(err, errcap, "%s %s at %s: %s", method, path, where,
		    strerror(errno));
		close(fd);
		return (-1);
	}
	close(fd);
	if (ctl_parse_reply(raw, (size_t)len, reply) == -1) {
		snprintf(err, errcap, "%s %s at %s: not an HTTP answer",
		    method, path, where);
		free(raw);
		return (-1);
	}
	return (0);
}
