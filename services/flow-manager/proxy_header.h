/*
 * proxy_header.h -- the PROXY protocol header a load balancer puts in
 * front of a TCP connection (HAProxy's proxy-protocol.txt, versions 1
 * and 2): what it says, and reading it without taking a byte past it.
 *
 * The parser takes the bytes read so far and says: a whole header (and
 * how long it is), more needed, or why the bytes are not one.  It never
 * asks for more than PROXY_HEADER_MAX bytes, so a peer cannot make it
 * buffer without bound.  Version 1 is the text line
 * "PROXY TCP4|TCP6|UNKNOWN ...\r\n" of at most 107 bytes; version 2 is a
 * 16-byte binary header and an address block whose length it gives.
 *
 * Only stream addresses are taken: the listeners that read a header are
 * TCP listeners, so a version 2 header naming UDP addresses is refused
 * (PROXY_EDGRAM).  A header that carries no address to use -- version 2
 * LOCAL (a balancer's own health check), version 1 UNKNOWN, version 2
 * with an unspecified or AF_UNIX family -- is valid and says so
 * (h->addresses 0): the connection keeps its own addresses.
 */
#ifndef EPSIP_FM_PROXY_HEADER_H
#define EPSIP_FM_PROXY_HEADER_H

#include <stddef.h>
#include <stdint.h>

#include "epsip/ipc.h"

/* The longest version 1 line, "\r\n" included (the spec's limit). */
#define PROXY_V1_MAX		107
/* The version 2 fixed part: signature, version|command, family, length. */
#define PROXY_V2_FIXED		16
/*
 * The longest version 2 header taken: the AF_UNIX address block (216
 * bytes) or an IPv6 one with a few hundred bytes of TLVs (SNI, unique
 * id).  A longer one is refused, not buffered.
 */
#define PROXY_V2_MAX		(PROXY_V2_FIXED + 512)
#define PROXY_HEADER_MAX	PROXY_V2_MAX

enum proxy_status {
	PROXY_OK = 0,		/* a whole header */
	PROXY_NEED_MORE,	/* a valid beginning: read on */
	PROXY_EBADSIG,		/* neither "PROXY " nor the v2 signature */
	PROXY_ETOOLONG,		/* v1 past 107 bytes, v2 past PROXY_V2_MAX */
	PROXY_ESYNTAX,		/* v1: not the line the spec spells */
	PROXY_EVERSION,		/* v2: a version other than 2 */
	PROXY_ECOMMAND,		/* v2: neither LOCAL nor PROXY */
	PROXY_EFAMILY,		/* v2: unknown family or protocol, or an
				 * address block too short for it */
	PROXY_EDGRAM,		/* v2: UDP addresses on a stream */
	PROXY_ECLOSED,		/* proxy_read: the peer closed first */
	PROXY_EIO,		/* proxy_read: recv failed (errno) */
};

struct proxy_header {
	uint8_t version;	/* 1 or 2 */
	uint8_t local;		/* v2 LOCAL: the balancer speaks for itself */
	/* 1: src and dst are the client's and the balancer's front
	 * addresses; 0: LOCAL or UNKNOWN, keep the connection's own. */
	uint8_t addresses;
	struct epsip_addr src;
	struct epsip_addr dst;
	size_t length;		/* bytes of the header, v2 TLVs included */
};

/*
 * Parse buf[0..len), the first bytes of a connection.  PROXY_OK fills *h
 * (h->length may be less than len: what follows is the connection's own
 * data); PROXY_NEED_MORE means every byte so far belongs to a header not
 * yet complete.
 */
enum proxy_status proxy_parse(const uint8_t *buf, size_t len,
    struct proxy_header *h);

/* The bytes of a header read so far from one connection. */
struct proxy_reader {
	size_t len;
	uint8_t buf[PROXY_HEADER_MAX];
};

/*
 * Read from non-blocking stream socket `fd` what it has of the header,
 * and not a byte more: the connection's own data stays in the socket for
 * whoever reads it next.  Call again when `fd` is readable while it says
 * PROXY_NEED_MORE (the socket had no more for now).  Any error leaves
 * the connection to be closed.
 */
enum proxy_status proxy_read(int fd, struct proxy_reader *r,
    struct proxy_header *h);

/* "bad-signature", "too-long", ... for logs. */
const char *proxy_status_name(enum proxy_status st);

#endif /* EPSIP_FM_PROXY_HEADER_H */
