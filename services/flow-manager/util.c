/*
 * util.c -- small helpers shared by the flow-manager parent and child:
 * child names, the STUN answer.
 *
 * Nothing here is fatal.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "epsip/stats.h"
#include "epsip/stun.h"

#include "flow_manager.h"
#include "udp_io.h"

int
fm_child_name(char *buf, size_t cap, unsigned instance, uint32_t id)
{
	return (snprintf(buf, cap, "fm%u-c%" PRIu32, instance, id));
}

int
fm_parse_child_id(const char *text, uint32_t *id)
{
	unsigned long long v;
	char *end;

	if (text == NULL || *text < '0' || *text > '9') {
		return (-1);
	}
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno != 0 || *end != '\0' || v == 0 || v > UINT32_MAX) {
		return (-1);
	}
	*id = (uint32_t)v;
	return (0);
}

int
fm_stun_reply(int fd, const uint8_t *req, size_t len,
    const struct epsip_addr *remote, const struct epsip_addr *local)
{
	struct sockaddr_storage ss;
	uint8_t out[STUN_MAX_RESPONSE];
	socklen_t sslen;
	size_t outlen;
	ssize_t n;

	sslen = epsip_addr_to_sockaddr(remote, &ss);
	if (sslen == 0 || stun_answer(req, len, (struct sockaddr *)&ss, out,
	    sizeof(out), &outlen) != STUN_REPLY) {
		stats_inc(M_KEEPALIVE_STUN_DISCARDED);
		return (0);
	}
	/* From the socket and address the request hit (KA-03). */
	n = fm_udp_send(fd, out, outlen, remote, local);
	if (n == -1) {
		stats_inc(M_UDP_SEND_ERRORS);
		return (-1);
	}
	stats_inc(M_KEEPALIVE_STUN_ANSWERED);
	stats_add(M_BYTES_OUT, (int64_t)n);
	return (1);
}
