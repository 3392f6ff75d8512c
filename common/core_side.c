/*
 * core_side.c -- the name of our core side, see core_side.h.
 *
 * The rules are the sip-router's (self.c, self_init_core): an operator's
 * core-advertise wins, a specific core-listen names itself, and a
 * wildcard one is whatever local address routes to the peer -- the
 * address a reply can actually come back to.  127.0.0.1 is the last
 * resort, as there: a loopback test bed, never a real network.
 *
 * DIAGNOSTICS: none; failures are returned.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <sys/socket.h>

#include "epsip/core_side.h"

int
core_side_source(const struct epsip_addr *peer, struct epsip_addr *out)
{
	struct sockaddr_storage to, me;
	socklen_t tl, ml = sizeof(me);
	int fd, rv = -1;

	if ((tl = epsip_addr_to_sockaddr(peer, &to)) == 0) {
		return (-1);
	}
	if ((fd = socket(peer->family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1) {
		return (-1);
	}
	if (connect(fd, (struct sockaddr *)&to, tl) == 0 &&
	    getsockname(fd, (struct sockaddr *)&me, &ml) == 0 &&
	    epsip_addr_from_sockaddr(out, (struct sockaddr *)&me) == 0) {
		out->port = 0;
		rv = 0;
	}
	close(fd);
	return (rv);
}

/* "host", "host:port", "[v6]", "[v6]:port" or a bare IPv6 address. */
static int
split_hostport(const char *text, char *host, size_t hostcap, long *port)
{
	const char *end, *colon;
	size_t len;

	*port = 0;
	if (text[0] == '[') {
		if ((end = strchr(text, ']')) == NULL) {
			return (-1);
		}
		text++;
		len = (size_t)(end - text);
		if (end[1] == ':') {
			*port = strtol(end + 2, NULL, 10);
		}
	} else if ((colon = strchr(text, ':')) != NULL &&
	    strchr(colon + 1, ':') == NULL) {
		len = (size_t)(colon - text);
		*port = strtol(colon + 1, NULL, 10);
	} else {
		len = strlen(text);
	}
	if (len == 0 || len >= hostcap || *port < 0 || *port > 65535) {
		return (-1);
	}
	memcpy(host, text, len);
	host[len] = '\0';
	return (0);
}

int
core_side_name(const struct epsip_config *cfg, const struct epsip_addr *peer,
    char *host, size_t hostcap, uint16_t *port)
{
	struct epsip_addr a = cfg->core_listen;
	long advertised;

	if (a.family == 0) {
		return (-1);
	}
	*port = a.port;
	if (cfg->core_advertise[0] != '\0') {
		if (split_hostport(cfg->core_advertise, host, hostcap,
		    &advertised) == -1) {
			return (-1);
		}
		if (advertised > 0) {
			*port = (uint16_t)advertised;
		}
		return (0);
	}
	if (epsip_addr_is_any(&a) &&
	    (peer == NULL || core_side_source(peer, &a) == -1)) {
		memset(&a, 0, sizeof(a));
		a.family = AF_INET;
		a.ip[0] = 127;
		a.ip[3] = 1;
	}
	if (hostcap < INET6_ADDRSTRLEN ||
	    inet_ntop(a.family, a.ip, host, (socklen_t)hostcap) == NULL) {
		return (-1);
	}
	return (0);
}
