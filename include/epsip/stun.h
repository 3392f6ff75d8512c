/*
 * stun.h -- the limited STUN server of RFC 5626 §8 on the SIP UDP port.
 *
 * Only Binding is served (RFC 5389 §7.3): requests get a success response
 * with XOR-MAPPED-ADDRESS, indications get nothing, anything malformed is
 * discarded silently.  Pure functions, no allocation, bounds-checked reads.
 */
#ifndef EPSIP_STUN_H
#define EPSIP_STUN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define STUN_HEADER_SIZE	20
#define STUN_MAGIC_COOKIE	0x2112A442u
#define STUN_MAX_RESPONSE	128	/* largest answer stun_answer() builds */

/* What the first octets of a UDP datagram on the SIP port are (KA-05, KA-12). */
enum udp_payload_kind {
	UDP_PAYLOAD_SIP,
	UDP_PAYLOAD_STUN,	/* first octet 0x00 or 0x01 */
	UDP_PAYLOAD_SIGCOMP,	/* first octet 0xF8..0xFF: unsupported, dropped */
	UDP_PAYLOAD_CRLF,	/* only CR and LF: a phone's UDP keep-alive, never answered */
	UDP_PAYLOAD_JUNK,	/* blank, all-zero or too short to be SIP: dropped */
};

enum udp_payload_kind udp_payload_classify(const uint8_t *buf, size_t len);

enum stun_verdict {
	STUN_DISCARD,	/* invalid or needs no answer: send nothing */
	STUN_REPLY,	/* send out[0..*out_len) back to the source */
};

/*
 * Validate `req` as a STUN message and answer a Binding request from `src`
 * (AF_INET or AF_INET6).  Unknown comprehension-required attributes get a
 * 420 error response listing them (KA-06); indications get no answer
 * (KA-07).  `out_cap` must be at least STUN_MAX_RESPONSE.
 */
enum stun_verdict stun_answer(const uint8_t *req, size_t req_len,
    const struct sockaddr *src, uint8_t *out, size_t out_cap,
    size_t *out_len);

#endif /* EPSIP_STUN_H */
