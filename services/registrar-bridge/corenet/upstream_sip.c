/*
 * upstream_sip.c -- SIP helpers of the core-side network, see
 * upstream_sip.h.
 *
 * A relay forwards the bytes it got (the router already made them what
 * the upstream should see), so the two edits it does make -- TR-09's
 * transport token, and the Via scan of an ICMP payload -- work on the
 * text itself: finding the top Via by hand, never re-serialising.  Only
 * requests from the core go through libosip2, to stamp their Via.
 *
 * DIAGNOSTICS: none; every function returns an error instead.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>

#include "epsip/hash.h"
#include "epsip/sip_frame.h"

#include "epsip/sip_util.h"
#include "epsip/stats.h"

#include "upstream_sip.h"

/* FNV-1a of the Call-ID: one dialog, one pool connection, in order. */
uint32_t
up_callid_hash(const osip_message_t *msg)
{
	const char *parts[2] = { NULL, NULL };
	uint32_t h = FNV1A_BASIS;

	if (msg->call_id != NULL) {
		parts[0] = msg->call_id->number;
		parts[1] = msg->call_id->host;
	}
	for (int i = 0; i < 2; i++) {
		if (parts[i] != NULL) {
			h = fnv1a_add(h, parts[i], strlen(parts[i]));
		}
		h = fnv1a_add(h, "@", 1);
	}
	return (h);
}

static int
is_lws(char c)
{
	return (c == ' ' || c == '\t');
}

static const char *
skip_lws(const char *p, const char *eol)
{
	while (p < eol && is_lws(*p)) {
		p++;
	}
	return (p);
}

/*
 * The first Via header of buf[0..len): *value is where its value starts,
 * *eol where its line ends.  0, or -1 when the headers have none.  Text
 * only, no parser: it also works on a message cut short (ICMP's copy).
 */
static int
find_top_via(const char *buf, size_t len, const char **value,
    const char **eol)
{
	const char *end = buf + len, *p, *e, *colon, *name_end;

	if ((p = memchr(buf, '\n', len)) == NULL) {
		return (-1);
	}
	for (p++; p < end; p = e + 1) {
		if ((e = memchr(p, '\n', (size_t)(end - p))) == NULL) {
			e = end;
		}
		if (p == e || *p == '\r') {
			return (-1);		/* the blank line: no Via */
		}
		if (is_lws(*p) || (colon = memchr(p, ':', (size_t)(e - p))) ==
		    NULL) {
			continue;		/* a folded line */
		}
		for (name_end = colon; name_end > p && is_lws(name_end[-1]);
		    name_end--) {
		}
		if ((name_end - p == 3 && strncasecmp(p, "via", 3) == 0) ||
		    (name_end - p == 1 && (*p == 'v' || *p == 'V'))) {
			*value = colon + 1;
			*eol = e;
			return (0);
		}
	}
	return (-1);
}

/* Past "SIP / 2.0 /" (LWS allowed around the slashes), or NULL. */
static const char *
via_transport(const char *p, const char *eol)
{
	static const char *const parts[] = { "SIP", "/", "2.0", "/" };
	size_t n;

	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		n = strlen(parts[i]);
		p = skip_lws(p, eol);
		if ((size_t)(eol - p) < n || strncasecmp(p, parts[i], n) != 0) {
			return (NULL);
		}
		p += n;
	}
	return (skip_lws(p, eol));
}

/*
 * TR-09: turn the top Via's "SIP/2.0/UDP" into "SIP/2.0/TCP" in place.
 * The upstream sends its response by that Via (§18.2.2): left as UDP it
 * would answer a request that came over TCP with a datagram the size we
 * just avoided.  Both tokens have three letters, so no other byte moves
 * and Content-Length stays right.  0, or -1 when the top Via is not UDP.
 */
int
up_via_udp_to_tcp(char *buf, size_t len)
{
	const char *value, *eol, *t;

	if (find_top_via(buf, len, &value, &eol) != 0 ||
	    (t = via_transport(value, eol)) == NULL || eol - t < 4 ||
	    strncasecmp(t, "UDP", 3) != 0 || !is_lws(t[3])) {
		return (-1);
	}
	memcpy(buf + (t - buf), "TCP", 3);
	return (0);
}

/* 1 if buf[0..len) is exactly one message a stream peer can frame. */
int
up_stream_framed(const char *buf, size_t len)
{
	struct sip_frame fr;

	return (sip_frame_stream_next(buf, len, len + 1, &fr) ==
	    SIP_FRAME_MESSAGE && fr.offset == 0 && fr.length == len);
}

/*
 * §18.2.2 with RFC 3581: a response goes back where its request came
 * from.  Every request from the core side got received (and over TCP
 * rport) stamped by sip_via_stamp_received(), so a sent-by name without
 * received would need RFC 3263 §5 and is refused instead.
 */
int
up_response_dest(const osip_message_t *resp, uint8_t *transport,
    struct epsip_addr *conn_peer, struct epsip_addr *dest)
{
	osip_via_t *via = osip_list_get(&resp->vias, 0);
	const char *received = NULL, *rport = NULL;
	osip_generic_param_t *p;
	long port = 5060, rp;
	char *end;

	if (via == NULL || via->protocol == NULL || via->host == NULL) {
		return (-1);
	}
	if (strcasecmp(via->protocol, "UDP") == 0) {
		*transport = EPSIP_TRANSPORT_UDP;
	} else if (strcasecmp(via->protocol, "TCP") == 0) {
		*transport = EPSIP_TRANSPORT_TCP;
	} else if (strcasecmp(via->protocol, "TLS") == 0) {
		*transport = EPSIP_TRANSPORT_TLS;
	} else {
		return (-1);
	}
	if ((p = sip_via_param(via, "received")) != NULL) {
		received = p->gvalue;
	}
	if ((p = sip_via_param(via, "rport")) != NULL) {
		rport = p->gvalue;
	}
	if (via->port != NULL && via->port[0] != '\0') {
		port = strtol(via->port, &end, 10);
		if (*end != '\0' || port <= 0 || port > 65535) {
			return (-1);
		}
	}
	if (sip_ip_literal(received != NULL && received[0] != '\0' ? received :
	    via->host, dest) != 0) {
		return (-1);
	}
	dest->port = (uint16_t)port;
	*conn_peer = *dest;
	if (rport != NULL && rport[0] != '\0') {
		rp = strtol(rport, &end, 10);
		if (*end == '\0' && rp > 0 && rp <= 65535) {
			conn_peer->port = (uint16_t)rp;
		}
	}
	/* UDP: received:rport, the address the request came from. */
	if (*transport == EPSIP_TRANSPORT_UDP) {
		*dest = *conn_peer;
	}
	return (0);
}

int
up_response_send(const osip_message_t *resp, const char *buf, size_t len,
    up_send_response_fn *send, void *arg)
{
	struct epsip_addr dest, conn_peer;
	uint8_t transport;

	if (up_response_dest(resp, &transport, &conn_peer, &dest) != 0 ||
	    send(arg, transport, &conn_peer, &dest, buf, len) != 0) {
		stats_inc(M_CORE_RESPONSES_UNDELIVERABLE);
		return (-1);
	}
	stats_inc(M_CORE_RESPONSES_SENT);
	return (0);
}

/*
 * Find method and top Via branch in the start of a datagram (what ICMP
 * gave back may stop anywhere, so no parser).  0 or -1.
 */
int
up_scan_request(const char *buf, size_t len, char *method, size_t mcap,
    char *branch, size_t bcap)
{
	const char *p, *eol, *b;
	size_t n;

	for (n = 0; n < len && buf[n] > ' ' && buf[n] < 127; n++) {
	}
	if (n == 0 || n >= mcap || n == len || buf[n] != ' ' ||
	    strncmp(buf, "SIP/", 4) == 0) {
		return (-1);
	}
	memcpy(method, buf, n);
	method[n] = '\0';
	if (find_top_via(buf, len, &p, &eol) != 0) {
		return (-1);
	}
	for (b = p; b + 8 <= eol; b++) {
		if (strncasecmp(b, ";branch=", 8) == 0) {
			break;
		}
	}
	if (b + 8 > eol) {
		return (-1);
	}
	b += 8;
	for (n = 0; b + n < eol && strchr(";, \t\r", b[n]) == NULL; n++) {
	}
	if (n == 0 || n >= bcap) {
		return (-1);
	}
	memcpy(branch, b, n);
	branch[n] = '\0';
	return (0);
}
