/*
 * proxy_header.c -- parse and read a PROXY protocol v1 or v2 header
 * (proxy_header.h).  Strict: a header that is not exactly what the spec
 * spells is refused, since whatever follows it could not be trusted to
 * start where we think either.
 *
 * Nothing here logs, counts or is fatal: the caller does (proxy_accept.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "epsip/wire.h"

#include "proxy_header.h"

static const char v1_magic[] = "PROXY ";
#define V1_MAGIC_LEN	(sizeof(v1_magic) - 1)

static const uint8_t v2_sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

/* v2 commands, families and protocols (the spec's numbers). */
#define V2_LOCAL		0x0
#define V2_PROXY		0x1
#define V2_AF_UNSPEC		0x0
#define V2_AF_INET		0x1
#define V2_AF_INET6		0x2
#define V2_AF_UNIX		0x3
#define V2_STREAM		0x1
#define V2_DGRAM		0x2
/* The AF_UNIX address block: two 108-byte paths. */
#define V2_UNIX_LEN		216

/* A decimal port, 0..65535: 0 or -1. */
static int
parse_port(const char *s, uint16_t *port)
{
	unsigned long v = 0;
	size_t n;

	for (n = 0; s[n] != '\0'; n++) {
		if (s[n] < '0' || s[n] > '9' || n == 5) {
			return (-1);
		}
		v = v * 10 + (unsigned long)(s[n] - '0');
	}
	if (n == 0 || v > 65535) {
		return (-1);
	}
	*port = (uint16_t)v;
	return (0);
}

/* An address of exactly `family` with `port`: 0 or -1. */
static int
parse_ip(const char *s, uint8_t family, uint16_t port, struct epsip_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(family, s, a->ip) != 1) {
		return (-1);
	}
	a->family = family;
	a->port = port;
	return (0);
}

/*
 * "PROXY TCP4 SRC DST SPORT DPORT", "PROXY TCP6 ..." or "PROXY UNKNOWN
 * [anything]", the "\r\n" already cut off: single spaces, nothing more.
 */
static enum proxy_status
parse_v1_line(char *line, struct proxy_header *h)
{
	char *field[6], *p = line;
	uint16_t sport, dport;
	uint8_t family;
	size_t n;

	for (n = 0; n < 6 && p != NULL; n++) {
		field[n] = p;
		if ((p = strchr(p, ' ')) != NULL) {
			*p++ = '\0';
		}
	}
	if (n >= 2 && strcmp(field[1], "UNKNOWN") == 0) {
		/* The rest of the line is to be ignored (the spec). */
		h->addresses = 0;
		return (PROXY_OK);
	}
	if (n != 6 || p != NULL) {
		return (PROXY_ESYNTAX);
	}
	if (strcmp(field[1], "TCP4") == 0) {
		family = AF_INET;
	} else if (strcmp(field[1], "TCP6") == 0) {
		family = AF_INET6;
	} else {
		return (PROXY_ESYNTAX);
	}
	if (parse_port(field[4], &sport) == -1 ||
	    parse_port(field[5], &dport) == -1 ||
	    parse_ip(field[2], family, sport, &h->src) == -1 ||
	    parse_ip(field[3], family, dport, &h->dst) == -1) {
		return (PROXY_ESYNTAX);
	}
	h->addresses = 1;
	return (PROXY_OK);
}

/* buf starts with "PROXY ". */
static enum proxy_status
parse_v1(const uint8_t *buf, size_t len, struct proxy_header *h)
{
	char line[PROXY_V1_MAX];
	const uint8_t *cr;
	size_t n, linelen;

	n = len < PROXY_V1_MAX ? len : PROXY_V1_MAX;
	cr = memchr(buf, '\r', n);
	linelen = cr != NULL ? (size_t)(cr - buf) : n;
	if (memchr(buf, '\n', linelen) != NULL ||
	    memchr(buf, '\0', linelen) != NULL) {
		return (PROXY_ESYNTAX);
	}
	if (cr == NULL) {
		return (n == PROXY_V1_MAX ? PROXY_ETOOLONG : PROXY_NEED_MORE);
	}
	if (linelen + 2 > PROXY_V1_MAX) {
		return (PROXY_ETOOLONG);
	}
	if (linelen + 2 > len) {
		return (PROXY_NEED_MORE);
	}
	if (cr[1] != '\n') {
		return (PROXY_ESYNTAX);
	}
	memcpy(line, buf, linelen);
	line[linelen] = '\0';
	h->version = 1;
	h->length = linelen + 2;
	return (parse_v1_line(line, h));
}

/*
 * An INET or INET6 address block of alen bytes: the source and the
 * destination address, iplen bytes each, then their ports; TLVs may
 * follow.  0, with h's addresses filled, or -1 (h untouched) when the
 * block is too short for them.
 */
static int
get_v2_addresses(const uint8_t *block, size_t alen, uint8_t family,
    size_t iplen, struct proxy_header *h)
{
	struct wire_reader r;
	struct epsip_addr src, dst;

	memset(&src, 0, sizeof(src));
	memset(&dst, 0, sizeof(dst));
	wire_reader_init(&r, block, alen);
	wire_get_bytes(&r, src.ip, iplen);
	wire_get_bytes(&r, dst.ip, iplen);
	src.port = wire_get_u16(&r);
	dst.port = wire_get_u16(&r);
	if (wire_read_failed(&r)) {
		return (-1);
	}
	src.family = dst.family = family;
	h->src = src;
	h->dst = dst;
	h->addresses = 1;
	return (0);
}

/* buf starts with the 12-byte signature. */
static enum proxy_status
parse_v2(const uint8_t *buf, size_t len, struct proxy_header *h)
{
	unsigned version, command, family, proto;
	size_t alen, iplen;
	uint8_t af;

	if (len < PROXY_V2_FIXED) {
		return (PROXY_NEED_MORE);
	}
	version = buf[12] >> 4;
	command = buf[12] & 0x0f;
	family = buf[13] >> 4;
	proto = buf[13] & 0x0f;
	alen = wire_load_u16(buf + 14);
	if (version != 2) {
		return (PROXY_EVERSION);
	}
	if (command != V2_LOCAL && command != V2_PROXY) {
		return (PROXY_ECOMMAND);
	}
	if (PROXY_V2_FIXED + alen > PROXY_V2_MAX) {
		return (PROXY_ETOOLONG);
	}
	if (len < PROXY_V2_FIXED + alen) {
		return (PROXY_NEED_MORE);
	}
	h->version = 2;
	h->length = PROXY_V2_FIXED + alen;
	h->addresses = 0;
	h->local = command == V2_LOCAL;
	/* LOCAL: the balancer speaks for itself; the block is skipped. */
	if (command == V2_LOCAL || family == V2_AF_UNSPEC) {
		return (PROXY_OK);
	}
	if (family > V2_AF_UNIX || (proto != V2_STREAM && proto != V2_DGRAM)) {
		return (PROXY_EFAMILY);
	}
	if (proto == V2_DGRAM) {
		return (PROXY_EDGRAM);
	}
	switch (family) {
	case V2_AF_INET:
		af = AF_INET;
		iplen = 4;
		break;
	case V2_AF_INET6:
		af = AF_INET6;
		iplen = 16;
		break;
	default:
		/* AF_UNIX: no IP address to give; keep the connection's. */
		return (alen < V2_UNIX_LEN ? PROXY_EFAMILY : PROXY_OK);
	}
	if (get_v2_addresses(buf + PROXY_V2_FIXED, alen, af, iplen, h) == -1) {
		return (PROXY_EFAMILY);
	}
	return (PROXY_OK);
}

enum proxy_status
proxy_parse(const uint8_t *buf, size_t len, struct proxy_header *h)
{
	size_t n;

	memset(h, 0, sizeof(*h));
	if (len == 0) {
		return (PROXY_NEED_MORE);
	}
	if (buf[0] == v2_sig[0]) {
		n = len < sizeof(v2_sig) ? len : sizeof(v2_sig);
		if (memcmp(buf, v2_sig, n) != 0) {
			return (PROXY_EBADSIG);
		}
		return (parse_v2(buf, len, h));
	}
	n = len < V1_MAGIC_LEN ? len : V1_MAGIC_LEN;
	if (memcmp(buf, v1_magic, n) != 0) {
		return (PROXY_EBADSIG);
	}
	if (len < V1_MAGIC_LEN) {
		return (PROXY_NEED_MORE);
	}
	return (parse_v1(buf, len, h));
}

/*
 * Peek at what the socket holds, then take only the bytes that belong to
 * the header: all of them while it is incomplete (every byte so far is
 * part of it), up to its end once it is whole.  Taking the incomplete
 * beginning matters as much as leaving what follows: bytes left unread
 * would keep a level-triggered loop waking up for nothing.
 */
enum proxy_status
proxy_read(int fd, struct proxy_reader *r, struct proxy_header *h)
{
	enum proxy_status st;
	ssize_t n, got;
	size_t take;

	for (;;) {
		if (r->len == sizeof(r->buf)) {
			return (PROXY_ETOOLONG);	/* cannot happen */
		}
		n = recv(fd, r->buf + r->len, sizeof(r->buf) - r->len,
		    MSG_PEEK);
		if (n == 0) {
			return (PROXY_ECLOSED);
		}
		if (n == -1) {
			if (errno == EINTR) {
				continue;
			}
			return (errno == EAGAIN || errno == EWOULDBLOCK ?
			    PROXY_NEED_MORE : PROXY_EIO);
		}
		st = proxy_parse(r->buf, r->len + (size_t)n, h);
		if (st == PROXY_OK) {
			take = h->length - r->len;
		} else if (st == PROXY_NEED_MORE) {
			take = (size_t)n;
		} else {
			return (st);
		}
		do {
			got = recv(fd, r->buf + r->len, take, 0);
		} while (got == -1 && errno == EINTR);
		if (got != (ssize_t)take) {
			return (PROXY_EIO);	/* what we peeked is gone */
		}
		r->len += take;
		if (st == PROXY_OK) {
			return (PROXY_OK);
		}
	}
}

const char *
proxy_status_name(enum proxy_status st)
{
	switch (st) {
	case PROXY_OK:
		return ("ok");
	case PROXY_NEED_MORE:
		return ("incomplete");
	case PROXY_EBADSIG:
		return ("bad-signature");
	case PROXY_ETOOLONG:
		return ("too-long");
	case PROXY_ESYNTAX:
		return ("syntax");
	case PROXY_EVERSION:
		return ("version");
	case PROXY_ECOMMAND:
		return ("command");
	case PROXY_EFAMILY:
		return ("family");
	case PROXY_EDGRAM:
		return ("udp");
	case PROXY_ECLOSED:
		return ("closed");
	case PROXY_EIO:
		return ("io");
	}
	return ("unknown");
}
