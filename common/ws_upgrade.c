/*
 * ws_upgrade.c -- the opening handshake of a WebSocket server (RFC 6455
 * §4.2) for SIP over WebSocket (RFC 7118 §4).
 *
 * A client opens with an HTTP/1.1 GET carrying Upgrade: websocket and a
 * random Sec-WebSocket-Key; the server proves it read the request by
 * answering 101 with Sec-WebSocket-Accept, the base64 SHA-1 of the key and
 * a fixed GUID (§1.3, §4.2.2).  RFC 7118 §4.1 adds the subprotocol: the
 * client must offer `sip` in Sec-WebSocket-Protocol and the server names
 * it in the answer.  We negotiate no extension (permessage-deflate is
 * ignored, §9.1), so the frames that follow use none of RSV1-3.
 *
 * The parser looks at the front of the caller's buffer and keeps nothing
 * between calls; it never reads past `len` nor past WS_UPGRADE_MAX.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <mbedtls/base64.h>
#include <mbedtls/sha1.h>
#include <mbedtls/version.h>

#include "epsip/ws.h"

/* §1.3: appended to the key before hashing. */
#define WS_GUID		"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_GUID_LEN	(sizeof(WS_GUID) - 1)
/* §4.1: the key is base64 of 16 random bytes: 22 characters and "==". */
#define WS_KEY_LEN	24
#define WS_KEY_BYTES	16
#define SHA1_LEN	20
/* §4.2.1 item 6, §4.4: the only version this server speaks. */
#define WS_VERSION	"13"
/* RFC 7118 §4.1: the subprotocol of SIP over WebSocket. */
#define WS_SUBPROTOCOL	"sip"

/* A header section's line, its CR LF left out. */
struct line {
	const char *p;
	size_t len;
};

/* What the header fields of a request said. */
struct upgrade_fields {
	int hosts;
	int upgrade_websocket;	/* Upgrade lists `websocket` */
	int connection_upgrade;	/* Connection lists `upgrade` */
	int versions;
	int version_13;		/* every Sec-WebSocket-Version is 13 */
	int keys;
	struct line key;
	int sip_offered;	/* Sec-WebSocket-Protocol lists `sip` */
	int origins;
	struct line origin;
};

static int
is_digit(unsigned char c)
{
	return (c >= '0' && c <= '9');
}

static int
is_alpha(unsigned char c)
{
	return ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'));
}

/* RFC 9110 §5.6.2: tchar. */
static int
is_tchar(unsigned char c)
{
	return (is_alpha(c) || is_digit(c) ||
	    (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL));
}

static int
is_ows(unsigned char c)
{
	return (c == ' ' || c == '\t');
}

/* A byte no request line or header may hold: a CTL other than HT. */
static int
is_forbidden(unsigned char c)
{
	return ((c < 0x20 && c != '\t' && c != '\r' && c != '\n') ||
	    c == 0x7f);
}

static unsigned char
to_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c);
}

/* Whether p[0..n) is `lit`, ignoring ASCII case. */
static int
equal_nocase(const char *p, size_t n, const char *lit)
{
	size_t i;

	if (strlen(lit) != n) {
		return (0);
	}
	for (i = 0; i < n; i++) {
		if (to_lower((unsigned char)p[i]) !=
		    to_lower((unsigned char)lit[i])) {
			return (0);
		}
	}
	return (1);
}

static int
all_tchar(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (!is_tchar((unsigned char)p[i])) {
			return (0);
		}
	}
	return (n > 0);
}

static struct line
trim(struct line l)
{
	while (l.len > 0 && is_ows((unsigned char)l.p[0])) {
		l.p++;
		l.len--;
	}
	while (l.len > 0 && is_ows((unsigned char)l.p[l.len - 1])) {
		l.len--;
	}
	return (l);
}

/*
 * Whether the comma-separated list `v` has the element `token`, ignoring
 * case and empty elements (RFC 9110 §5.6.1); `Connection: keep-alive,
 * Upgrade` lists `upgrade`.
 */
static int
list_has(struct line v, const char *token)
{
	struct line el;
	const char *comma;

	while (v.len > 0) {
		comma = memchr(v.p, ',', v.len);
		el.p = v.p;
		el.len = comma != NULL ? (size_t)(comma - v.p) : v.len;
		if (comma == NULL) {
			v.len = 0;
		} else {
			v.len -= el.len + 1;
			v.p = comma + 1;
		}
		el = trim(el);
		if (equal_nocase(el.p, el.len, token)) {
			return (1);
		}
	}
	return (0);
}

static void
refuse(struct ws_upgrade *up, int status, const char *reason)
{
	up->status = status;
	up->reason = reason;
	up->accept[0] = '\0';
}

/*
 * Where the request ends: the byte after its empty line, in *end.
 * Returns 1 when found, 0 when more bytes are needed, -1 when the bytes
 * seen cannot be an HTTP request (a CTL, or a CR not before LF: RFC 9112
 * §2.2), which is refused at once rather than after 8 KB of waiting.
 * Only the first WS_UPGRADE_MAX bytes are looked at.
 */
static int
find_end(const char *buf, size_t len, size_t *end)
{
	size_t i, line = 0, n = len < WS_UPGRADE_MAX ? len : WS_UPGRADE_MAX;
	unsigned char c;

	for (i = 0; i < n; i++) {
		c = (unsigned char)buf[i];
		/* A CR is judged by the byte after it, inside the window
		 * too: the answer must not depend on how the bytes came. */
		if (is_forbidden(c) ||
		    (c == '\r' && i + 1 < n && buf[i + 1] != '\n')) {
			return (-1);
		}
		if (c != '\n') {
			continue;
		}
		if (i == line || (i == line + 1 && buf[line] == '\r')) {
			*end = i + 1;
			return (1);
		}
		line = i + 1;
	}
	return (0);
}

/* The line at *pos of buf[0..end), which holds whole lines; moves *pos on. */
static struct line
next_line(const char *buf, size_t end, size_t *pos)
{
	struct line l;
	const char *lf;

	l.p = buf + *pos;
	lf = memchr(l.p, '\n', end - *pos);
	/* find_end() saw the LF that ends every line before `end`. */
	l.len = lf != NULL ? (size_t)(lf - l.p) : end - *pos;
	*pos += l.len + 1;
	if (l.len > 0 && l.p[l.len - 1] == '\r') {
		l.len--;
	}
	return (l);
}

/*
 * The request line (RFC 9112 §3): method SP request-target SP
 * HTTP-version.  Any request-target is accepted: the URI a SIP client
 * connects to says nothing we need (RFC 7118 §4).
 */
static int
request_line(struct line l, struct ws_upgrade *up)
{
	const char *sp1, *sp2, *v;
	size_t mlen, tlen;

	sp1 = memchr(l.p, ' ', l.len);
	if (sp1 == NULL) {
		refuse(up, 400, "malformed request line");
		return (-1);
	}
	mlen = (size_t)(sp1 - l.p);
	sp2 = memchr(sp1 + 1, ' ', l.len - mlen - 1);
	if (sp2 == NULL || !all_tchar(l.p, mlen)) {
		refuse(up, 400, "malformed request line");
		return (-1);
	}
	tlen = (size_t)(sp2 - sp1 - 1);
	v = sp2 + 1;
	/* HTTP-version = "HTTP" "/" DIGIT "." DIGIT, case-sensitive. */
	if (tlen == 0 || memchr(sp1 + 1, '\t', tlen) != NULL ||
	    (size_t)(l.p + l.len - v) != 8 || memcmp(v, "HTTP/", 5) != 0 ||
	    !is_digit((unsigned char)v[5]) || v[6] != '.' ||
	    !is_digit((unsigned char)v[7])) {
		refuse(up, 400, "malformed request line");
		return (-1);
	}
	/* §4.1: "The method of the request MUST be GET". */
	if (mlen != 3 || memcmp(l.p, "GET", 3) != 0) {
		refuse(up, 405, "method must be GET");
		return (-1);
	}
	/* §4.1: "the HTTP version MUST be at least 1.1". */
	if (v[5] == '0' || (v[5] == '1' && v[7] == '0')) {
		refuse(up, 400, "HTTP/1.1 or later required");
		return (-1);
	}
	return (0);
}

/* One header field into *f; a field we do not know is ignored. */
static void
header_field(struct line name, struct line value, struct upgrade_fields *f)
{
	if (equal_nocase(name.p, name.len, "host")) {
		f->hosts++;
	} else if (equal_nocase(name.p, name.len, "upgrade")) {
		f->upgrade_websocket |= list_has(value, "websocket");
	} else if (equal_nocase(name.p, name.len, "connection")) {
		f->connection_upgrade |= list_has(value, "upgrade");
	} else if (equal_nocase(name.p, name.len, "sec-websocket-version")) {
		if (f->versions++ == 0) {
			f->version_13 = 1;
		}
		f->version_13 &= equal_nocase(value.p, value.len, WS_VERSION);
	} else if (equal_nocase(name.p, name.len, "sec-websocket-key")) {
		f->keys++;
		f->key = value;
	} else if (equal_nocase(name.p, name.len, "sec-websocket-protocol")) {
		f->sip_offered |= list_has(value, WS_SUBPROTOCOL);
	} else if (equal_nocase(name.p, name.len, "origin")) {
		f->origins++;
		f->origin = value;
	}
}

/*
 * The header fields, up to the empty line.  RFC 9112 §5.1: no whitespace
 * between a field's name and its colon; §5.2: a server may refuse
 * obsolete line folding with 400, and we do.
 */
static int
header_fields(const char *buf, size_t end, size_t pos,
    struct upgrade_fields *f, struct ws_upgrade *up)
{
	struct line l, name, value;
	const char *colon;

	for (;;) {
		l = next_line(buf, end, &pos);
		if (l.len == 0) {
			return (0);
		}
		if (is_ows((unsigned char)l.p[0])) {
			refuse(up, 400, "obsolete line folding");
			return (-1);
		}
		colon = memchr(l.p, ':', l.len);
		if (colon == NULL || !all_tchar(l.p, (size_t)(colon - l.p))) {
			refuse(up, 400, "malformed header field");
			return (-1);
		}
		name.p = l.p;
		name.len = (size_t)(colon - l.p);
		value.p = colon + 1;
		value.len = l.len - name.len - 1;
		header_field(name, trim(value), f);
	}
}

static int
is_base64(unsigned char c)
{
	return (is_alpha(c) || is_digit(c) || c == '+' || c == '/');
}

/* §4.2.1 item 5: base64 that decodes to 16 bytes. */
static int
key_ok(struct line key)
{
	unsigned char raw[WS_KEY_BYTES + 2];
	size_t i, olen;

	if (key.len != WS_KEY_LEN || key.p[22] != '=' || key.p[23] != '=') {
		return (0);
	}
	for (i = 0; i < 22; i++) {
		if (!is_base64((unsigned char)key.p[i])) {
			return (0);
		}
	}
	return (mbedtls_base64_decode(raw, sizeof(raw), &olen,
	    (const unsigned char *)key.p, key.len) == 0 &&
	    olen == WS_KEY_BYTES);
}

/*
 * §10.2: a server that serves only some sites' pages checks Origin.  The
 * serialization of an origin (RFC 6454 §6.2) lowercases scheme and host,
 * so a configured value differing only in case is the same origin.
 */
static int
origin_ok(const struct upgrade_fields *f,
    const struct ws_upgrade_policy *policy)
{
	size_t i;

	if (policy == NULL || policy->norigins == 0) {
		return (1);
	}
	if (f->origins != 1) {
		return (0);
	}
	for (i = 0; i < policy->norigins; i++) {
		if (policy->origins[i] != NULL &&
		    equal_nocase(f->origin.p, f->origin.len,
		    policy->origins[i])) {
			return (1);
		}
	}
	return (0);
}

/* §4.2.2 item 5.4: base64(SHA-1(key GUID)). */
static int
compute_accept(struct line key, char accept[32])
{
	unsigned char in[WS_KEY_LEN + WS_GUID_LEN], sha[SHA1_LEN];
	size_t olen;

	memcpy(in, key.p, WS_KEY_LEN);
	memcpy(in + WS_KEY_LEN, WS_GUID, WS_GUID_LEN);
#if MBEDTLS_VERSION_MAJOR >= 3
	if (mbedtls_sha1(in, sizeof(in), sha) != 0) {
#else
	if (mbedtls_sha1_ret(in, sizeof(in), sha) != 0) {
#endif
		return (-1);
	}
	return (mbedtls_base64_encode((unsigned char *)accept, 32, &olen, sha,
	    sizeof(sha)) == 0 ? 0 : -1);
}

/*
 * The rules of §4.2.1 in the order a refusal is most useful: a plain
 * browser GET learns it needs an Upgrade (426), an old client the version
 * we speak (426, §4.4).
 */
static int
check_fields(const struct upgrade_fields *f,
    const struct ws_upgrade_policy *policy, struct ws_upgrade *up)
{
	/* RFC 9112 §3.2: exactly one Host in an HTTP/1.1 request. */
	if (f->hosts != 1) {
		refuse(up, 400, "Host missing or repeated");
	} else if (!f->upgrade_websocket) {
		/* RFC 9110 §15.5.22: a 426 names the protocol wanted. */
		refuse(up, 426, "Upgrade: websocket required");
	} else if (!f->connection_upgrade) {
		refuse(up, 400, "Connection must list upgrade");
	} else if (f->versions == 0 || !f->version_13) {
		refuse(up, 426, "Sec-WebSocket-Version must be 13");
	} else if (f->keys != 1 || !key_ok(f->key)) {
		refuse(up, 400, "Sec-WebSocket-Key missing or malformed");
	} else if (!f->sip_offered) {
		refuse(up, 400, "Sec-WebSocket-Protocol must offer sip");
	} else if (!origin_ok(f, policy)) {
		refuse(up, 403, "origin not allowed");
	} else {
		return (0);
	}
	return (-1);
}

enum ws_upgrade_result
ws_upgrade_parse(const char *buf, size_t len,
    const struct ws_upgrade_policy *policy, struct ws_upgrade *up)
{
	struct upgrade_fields f;
	size_t end = 0, pos = 0;
	int found;

	memset(up, 0, sizeof(*up));
	found = find_end(buf, len, &end);
	if (found == -1) {
		refuse(up, 400, "malformed request");
		return (WS_UPGRADE_REFUSED);
	}
	if (found == 0) {
		if (len < WS_UPGRADE_MAX) {
			return (WS_UPGRADE_NEED_MORE);
		}
		refuse(up, 431, "request headers too long");
		return (WS_UPGRADE_REFUSED);
	}
	up->consumed = end;
	memset(&f, 0, sizeof(f));
	if (request_line(next_line(buf, end, &pos), up) == -1 ||
	    header_fields(buf, end, pos, &f, up) == -1 ||
	    check_fields(&f, policy, up) == -1) {
		return (WS_UPGRADE_REFUSED);
	}
	if (compute_accept(f.key, up->accept) == -1) {
		refuse(up, 400, "cannot compute Sec-WebSocket-Accept");
		return (WS_UPGRADE_REFUSED);
	}
	up->status = 101;
	up->reason = "upgraded to WebSocket";
	return (WS_UPGRADE_OK);
}

static const char *
status_text(int status)
{
	switch (status) {
	case 400:
		return ("Bad Request");
	case 403:
		return ("Forbidden");
	case 405:
		return ("Method Not Allowed");
	case 426:
		return ("Upgrade Required");
	case 431:
		return ("Request Header Fields Too Large");
	default:
		return (NULL);
	}
}

/* The headers a refusal adds for its status. */
static const char *
status_headers(int status)
{
	switch (status) {
	case 405:
		/* RFC 9110 §15.5.6: a 405 lists the allowed methods. */
		return ("Allow: GET\r\n");
	case 426:
		/* RFC 9110 §15.5.22, RFC 6455 §4.4. */
		return ("Upgrade: websocket\r\n"
		    "Sec-WebSocket-Version: " WS_VERSION "\r\n");
	default:
		return ("");
	}
}

int
ws_upgrade_response(const struct ws_upgrade *up, char *out, size_t cap)
{
	const char *text, *reason;
	int n;

	if (up->status == 101) {
		if (up->accept[0] == '\0') {
			return (-1);
		}
		/* §4.2.2 item 5; RFC 7118 §4.1: the subprotocol chosen. */
		n = snprintf(out, cap, "HTTP/1.1 101 Switching Protocols\r\n"
		    "Upgrade: websocket\r\n"
		    "Connection: Upgrade\r\n"
		    "Sec-WebSocket-Accept: %s\r\n"
		    "Sec-WebSocket-Protocol: " WS_SUBPROTOCOL "\r\n"
		    "\r\n", up->accept);
	} else {
		if ((text = status_text(up->status)) == NULL) {
			return (-1);
		}
		reason = up->reason != NULL ? up->reason : text;
		n = snprintf(out, cap, "HTTP/1.1 %d %s\r\n"
		    "%s"
		    "Content-Type: text/plain; charset=utf-8\r\n"
		    "Content-Length: %zu\r\n"
		    "Connection: close\r\n"
		    "\r\n"
		    "%s\n", up->status, text, status_headers(up->status),
		    strlen(reason) + 1, reason);
	}
	if (n < 0 || (size_t)n >= cap) {
		return (-1);
	}
	return (n);
}
