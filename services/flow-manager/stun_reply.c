/*
 * stun_reply.c -- the flow-manager's answer to a STUN keep-alive (RFC 5626
 * §4.4.2, KA-03): sent from the socket and address the request hit.  The
 * parent's UDP demux answers for a source with no flow yet, a child for
 * its own flows.
 * DIAGNOSTICS: none; counted (keepalive.stun_*, udp.send_errors).
 */
#include <sys/socket.h>

#include "epsip/stats.h"
#include "epsip/stun.h"

#include "flow_manager.h"
#include "udp_io.h"

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
