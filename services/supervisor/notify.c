/*
 * notify.c -- the sd_notify(3) datagram, written out.
 *
 * systemd's protocol is one AF_UNIX datagram of newline-separated
 * assignments to the path in $NOTIFY_SOCKET; '@' at its start means the
 * abstract namespace.  Linking libsystemd for this would add a dependency
 * for forty lines (Poettering's own advice; see ecosystem-notes §3).
 *
 * DIAGNOSTICS: none fatal.  A send that fails is logged once at debug
 * level: readiness is a courtesy to the service manager, and with
 * Type=notify systemd will report the timeout itself.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "notify.h"

static struct sockaddr_un notify_addr;
static socklen_t notify_len;	/* 0: no socket, nothing to do */

int
sup_notify_init(void)
{
	const char *path;
	size_t n;

	path = getenv("NOTIFY_SOCKET");
	if (path == NULL) {
		return (0);
	}
	n = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || n < 2 ||
	    n >= sizeof(notify_addr.sun_path)) {
		log_warnx("NOTIFY_SOCKET \"%s\" not usable, ignored", path);
		unsetenv("NOTIFY_SOCKET");
		return (0);
	}
	memset(&notify_addr, 0, sizeof(notify_addr));
	notify_addr.sun_family = AF_UNIX;
	memcpy(notify_addr.sun_path, path, n);
	if (path[0] == '@') {
		notify_addr.sun_path[0] = '\0';
		/* Abstract names are length-delimited, not NUL-terminated. */
		notify_len = (socklen_t)(offsetof(struct sockaddr_un,
		    sun_path) + n);
	} else {
		notify_len = (socklen_t)(offsetof(struct sockaddr_un,
		    sun_path) + n + 1);
	}
	unsetenv("NOTIFY_SOCKET");
	return (1);
}

void
sup_notify(const char *fmt, ...)
{
	static int warned;
	char msg[512];
	va_list ap;
	int fd, n;

	if (notify_len == 0) {
		return;
	}
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(msg)) {
		n = (int)strlen(msg);
	}
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd == -1 || sendto(fd, msg, (size_t)n, MSG_NOSIGNAL,
	    (struct sockaddr *)&notify_addr, notify_len) == -1) {
		if (!warned) {
			log_debug("sd_notify: %s", strerror(errno));
			warned = 1;
		}
	}
	if (fd != -1) {
		close(fd);
	}
}
