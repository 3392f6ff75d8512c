/*
 * ws_upgrade_test.c -- unit tests for the WebSocket opening handshake
 * (common/ws_upgrade.c, RFC 6455 §4.2, RFC 7118 §4).
 *
 * Every request is copied into a heap buffer of exactly its length, so
 * under AddressSanitizer (and valgrind) a read past `len` fails the test.
 * Sec-WebSocket-Accept is checked against OpenSSL's SHA-1 and base64, not
 * the mbedcrypto calls the code under test makes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "epsip/ws.h"

#define RESPONSE_MAX	1024

/* What Chromium sent for `new WebSocket("ws://127.0.0.1:8080/", "sip")`. */
#define CHROMIUM_KEY	"x3JJHMbDL1EzLkh9GBhXDw=="
#define CHROMIUM_REQUEST						\
	"GET / HTTP/1.1\r\n"						\
	"Host: 127.0.0.1:8080\r\n"					\
	"Connection: Upgrade\r\n"					\
	"Pragma: no-cache\r\n"						\
	"Cache-Control: no-cache\r\n"					\
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 " \
	"(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36\r\n"	\
	"Upgrade: websocket\r\n"					\
	"Origin: http://127.0.0.1:8080\r\n"				\
	"Sec-WebSocket-Version: 13\r\n"					\
	"Accept-Encoding: gzip, deflate, br\r\n"			\
	"Accept-Language: en-US,en;q=0.9\r\n"				\
	"Sec-WebSocket-Key: " CHROMIUM_KEY "\r\n"			\
	"Sec-WebSocket-Extensions: permessage-deflate; "		\
	"client_max_window_bits\r\n"					\
	"Sec-WebSocket-Protocol: sip\r\n"				\
	"\r\n"

/* The least a request must say; tests add or replace lines. */
#define REQ_LINE	"GET /ws HTTP/1.1\r\n"
#define REQ_HOST	"Host: edge.example.com\r\n"
#define REQ_UPGRADE	"Upgrade: websocket\r\n"
#define REQ_CONNECTION	"Connection: Upgrade\r\n"
#define REQ_VERSION	"Sec-WebSocket-Version: 13\r\n"
#define REQ_KEY		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
#define REQ_PROTOCOL	"Sec-WebSocket-Protocol: sip\r\n"
#define REQ_END		"\r\n"

/* The RFC 6455 §1.3 example. */
#define SAMPLE_ACCEPT	"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

/* Parse `len` bytes held in a heap buffer of exactly that size. */
static enum ws_upgrade_result
parse_bytes(const char *req, size_t len, const struct ws_upgrade_policy *p,
    struct ws_upgrade *up)
{
	enum ws_upgrade_result res;
	char *copy;

	copy = malloc(len > 0 ? len : 1);
	assert_non_null(copy);
	if (len > 0) {
		memcpy(copy, req, len);
	}
	res = ws_upgrade_parse(copy, len, p, up);
	free(copy);
	return (res);
}

static enum ws_upgrade_result
parse(const char *req, const struct ws_upgrade_policy *p,
    struct ws_upgrade *up)
{
	return (parse_bytes(req, strlen(req), p, up));
}

/* Sec-WebSocket-Accept for `key`, the other library's way. */
static void
oracle_accept(const char *key, size_t key_len, char out[32])
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	EVP_MD_CTX *ctx;

	ctx = EVP_MD_CTX_new();
	assert_non_null(ctx);
	assert_int_equal(EVP_DigestInit_ex(ctx, EVP_sha1(), NULL), 1);
	assert_int_equal(EVP_DigestUpdate(ctx, key, key_len), 1);
	assert_int_equal(EVP_DigestUpdate(ctx, guid, sizeof(guid) - 1), 1);
	assert_int_equal(EVP_DigestFinal_ex(ctx, md, &mdlen), 1);
	EVP_MD_CTX_free(ctx);
	assert_int_equal(mdlen, 20);
	assert_int_equal(EVP_EncodeBlock((unsigned char *)out, md, 20), 28);
}

/* The response for `up`, NUL-terminated. */
static int
response(const struct ws_upgrade *up, char out[RESPONSE_MAX])
{
	int n;

	n = ws_upgrade_response(up, out, RESPONSE_MAX);
	assert_true(n > 0 && n < RESPONSE_MAX);
	assert_int_equal(strlen(out), (size_t)n);
	return (n);
}

/*
 * A refusal's response: its status line, Connection: close, and a
 * Content-Length that is the body's length.
 */
static void
check_refusal_response(const struct ws_upgrade *up, char out[RESPONSE_MAX])
{
	char status[32];
	const char *cl, *body;
	int n;

	n = response(up, out);
	snprintf(status, sizeof(status), "HTTP/1.1 %d ", up->status);
	assert_memory_equal(out, status, strlen(status));
	assert_non_null(strstr(out, "\r\nConnection: close\r\n"));
	assert_null(strstr(out, "Sec-WebSocket-Accept"));
	cl = strstr(out, "\r\nContent-Length: ");
	body = strstr(out, "\r\n\r\n");
	assert_non_null(cl);
	assert_non_null(body);
	body += 4;
	assert_int_equal(strtoul(cl + 18, NULL, 10),
	    (unsigned long)(out + n - body));
	assert_non_null(strstr(body, up->reason));
}

static void
expect_refused(const char *req, const struct ws_upgrade_policy *p,
    int status, const char *reason)
{
	char out[RESPONSE_MAX];
	struct ws_upgrade up;

	assert_int_equal(parse(req, p, &up), WS_UPGRADE_REFUSED);
	assert_int_equal(up.status, status);
	assert_non_null(up.reason);
	if (reason != NULL) {
		assert_string_equal(up.reason, reason);
	}
	check_refusal_response(&up, out);
}

static void
expect_accepted(const char *req, const struct ws_upgrade_policy *p)
{
	struct ws_upgrade up;

	assert_int_equal(parse(req, p, &up), WS_UPGRADE_OK);
	assert_int_equal(up.status, 101);
	assert_int_equal(up.consumed, strlen(req));
	assert_string_equal(up.accept, SAMPLE_ACCEPT);
}

/* ---- accepted ---- */

static void
test_rfc6455_sample_key_gives_the_sample_accept(void **state)
{
	char accept[32];

	(void)state;
	expect_accepted(REQ_LINE REQ_HOST REQ_UPGRADE REQ_CONNECTION
	    REQ_VERSION REQ_KEY REQ_PROTOCOL REQ_END, NULL);
	/* And OpenSSL agrees, so the oracle of the random test is sound. */
	oracle_accept("dGhlIHNhbXBsZSBub25jZQ==", 24, accept);
	assert_string_equal(accept, SAMPLE_ACCEPT);
}

static void
test_chromium_upgrade_gets_101_with_sip_and_no_extensions(void **state)
{
	static const char *const origins[] = { "http://127.0.0.1:8080" };
	struct ws_upgrade_policy policy = { origins, 1 };
	char out[RESPONSE_MAX], accept[32], line[64];
	struct ws_upgrade up;
	int n;

	(void)state;
	assert_int_equal(parse(CHROMIUM_REQUEST, &policy, &up),
	    WS_UPGRADE_OK);
	assert_int_equal(up.status, 101);
	assert_int_equal(up.consumed, strlen(CHROMIUM_REQUEST));
	oracle_accept(CHROMIUM_KEY, strlen(CHROMIUM_KEY), accept);
	assert_string_equal(up.accept, accept);
	n = response(&up, out);
	assert_memory_equal(out, "HTTP/1.1 101 Switching Protocols\r\n", 34);
	assert_non_null(strstr(out, "\r\nUpgrade: websocket\r\n"));
	assert_non_null(strstr(out, "\r\nConnection: Upgrade\r\n"));
	snprintf(line, sizeof(line), "\r\nSec-WebSocket-Accept: %s\r\n",
	    accept);
	assert_non_null(strstr(out, line));
	assert_non_null(strstr(out, "\r\nSec-WebSocket-Protocol: sip\r\n"));
	/* permessage-deflate is not negotiated: never echoed. */
	assert_null(strstr(out, "Extensions"));
	assert_null(strstr(out, "deflate"));
	/* The headers end the response: frames follow at once. */
	assert_string_equal(out + n - 4, "\r\n\r\n");
	assert_int_equal(strstr(out, "\r\n\r\n") - out, n - 4);
}

static void
test_chromium_upgrade_split_byte_by_byte_needs_more_until_whole(
    void **state)
{
	const char *req = CHROMIUM_REQUEST;
	struct ws_upgrade up;
	size_t i, len = strlen(req);

	(void)state;
	for (i = 0; i < len; i++) {
		assert_int_equal(parse_bytes(req, i, NULL, &up),
		    WS_UPGRADE_NEED_MORE);
	}
	assert_int_equal(parse_bytes(req, len, NULL, &up), WS_UPGRADE_OK);
	assert_int_equal(up.consumed, len);
}

static void
test_bytes_after_the_empty_line_are_not_consumed(void **state)
{
	/* A client may pipeline its first frame after the request. */
	static const char req[] = REQ_LINE REQ_HOST REQ_UPGRADE
	    REQ_CONNECTION REQ_VERSION REQ_KEY REQ_PROTOCOL REQ_END
	    "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
	struct ws_upgrade up;

	(void)state;
	assert_int_equal(parse_bytes(req, sizeof(req) - 1, NULL, &up),
	    WS_UPGRADE_OK);
	assert_int_equal(up.consumed, sizeof(req) - 1 - 11);
	assert_string_equal(up.accept, SAMPLE_ACCEPT);
}

static void
test_any_request_path_is_accepted(void **state)
{
	(void)state;
	expect_accepted("GET / HTTP/1.1\r\n" REQ_HOST REQ_UPGRADE
	    REQ_CONNECTION REQ_VERSION REQ_KEY REQ_PROTOCOL REQ_END, NULL);
	expect_accepted("GET /sip/ws?user=alice&x=%20 HTTP/1.1\r\n" REQ_HOST
	    REQ_UPGRADE REQ_CONNECTION REQ_VERSION REQ_KEY REQ_PROTOCOL
	    REQ_END, NULL);
	expect_accepted("GET wss://edge.example.com/ HTTP/1.1\r\n" REQ_HOST
	    REQ_UPGRADE REQ_CONNECTION REQ_VERSION REQ_KEY REQ_PROTOCOL
	    REQ_END, NULL);
}

static void
test_header_names_and_tokens_are_case_insensitive(void **state)
{
	(void)state;
	expect_accepted(REQ_LINE "HOST: edge.example.com\r\n"
	    "upgrade: WebSocket\r\n"
	    "CONNECTION: UPGRADE\r\n"
	    "sec-websocket-version: 13\r\n"
	    "SEC-WEBSOCKET-KEY: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	    "sec-WebSocket-protocol: SIP\r\n" REQ_END, NULL);
}

static void
test_token_lists_and_repeated_headers_are_read_whole(void **state)
{
	(void)state;
	expect_accepted(REQ_LINE REQ_HOST "Upgrade: h2c, websocket\r\n"
	    "Connection: keep-alive, Upgrade\r\n"
	    REQ_VERSION REQ_KEY "Sec-WebSocket-Protocol: foo, sip\r\n"
	    REQ_END, NULL);
	/* The same fields, each on several lines, odd spacing. */
	expect_accepted(REQ_LINE REQ_HOST "Upgrade: h2c\r\n"
	    "Upgrade:websocket \r\n"
	    "Connection: keep-alive\r\n"
	    "Connection:\t,  Upgrade ,\r\n"
	    REQ_VERSION REQ_KEY "Sec-WebSocket-Protocol: foo\r\n"
	    "Sec-WebSocket-Protocol: bar,sip\r\n" REQ_END, NULL);
	/* A later line does not undo an earlier one. */
	expect_accepted(REQ_LINE REQ_HOST "Upgrade: websocket\r\n"
	    "Upgrade: h2c\r\n"
	    "Connection: Upgrade\r\n"
	    "Connection: keep-alive\r\n"
	    REQ_VERSION REQ_KEY "Sec-WebSocket-Protocol: sip\r\n"
	    "Sec-WebSocket-Protocol: foo\r\n" REQ_END, NULL);
}

static void
test_bare_lf_line_ends_are_accepted(void **state)
{
	(void)state;
	expect_accepted("GET / HTTP/1.1\n"
	    "Host: edge.example.com\n"
	    "Upgrade: websocket\n"
	    "Connection: Upgrade\n"
	    "Sec-WebSocket-Version: 13\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\n"
	    "Sec-WebSocket-Protocol: sip\n"
	    "\n", NULL);
}

static void
test_later_http_versions_are_accepted(void **state)
{
	(void)state;
	expect_accepted("GET / HTTP/1.2\r\n" REQ_HOST REQ_UPGRADE
	    REQ_CONNECTION REQ_VERSION REQ_KEY REQ_PROTOCOL REQ_END, NULL);
}

/* ---- refused ---- */

static void
test_method_other_than_get_is_refused_with_405(void **state)
{
	char out[RESPONSE_MAX];
	struct ws_upgrade up;

	(void)state;
	expect_refused("POST / HTTP/1.1\r\n" REQ_HOST REQ_UPGRADE
	    REQ_CONNECTION REQ_VERSION REQ_KEY REQ_PROTOCOL REQ_END, NULL,
	    405, NULL);
	/* Methods are case-sensitive (RFC 9110 §9.1). */
	expect_refused("get / HTTP/1.1\r\n" REQ_HOST REQ_UPGRADE
	    REQ_CONNECTION REQ_VERSION REQ_KEY REQ_PROTOCOL REQ_END, NULL,
	    405, NULL);
	/* A SIP client on the WebSocket port. */
	assert_int_equal(parse("REGISTER sip:example.com SIP/2.0\r\n"
	    "Via: SIP/2.0/TCP 192.0.2.4\r\nContent-Length: 0\r\n\r\n", NULL,
	    &up), WS_UPGRADE_REFUSED);
	assert_int_equal(up.status, 400);
	assert_int_equal(parse("OPTIONS * HTTP/1.1\r\n" REQ_HOST REQ_END,
	    NULL, &up), WS_UPGRADE_REFUSED);
	assert_int_equal(up.status, 405);
	response(&up, out);
	assert_non_null(strstr(out, "\r\nAllow: GET\r\n"));
}

static void
test_http_before_1_1_is_refused_with_400(void **state)
{
	(void)state;
	expect_refused("GET / HTTP/1.0\r\n" REQ_HOST REQ_UPGRADE
	    REQ_CONNECTION REQ_VERSION REQ_KEY REQ_PROTOCOL REQ_END, NULL,
	    400, "HTTP/1.1 or later required");
	expect_refused("GET / HTTP/0.9\r\n" REQ_HOST REQ_UPGRADE
	    REQ_CONNECTION REQ_VERSION REQ_KEY REQ_PROTOCOL REQ_END, NULL,
	    400, "HTTP/1.1 or later required");
}

static void
test_request_without_upgrade_websocket_is_refused_with_426(void **state)
{
	char out[RESPONSE_MAX];
	struct ws_upgrade up;

	(void)state;
	/* A browser opening the URL as a page. */
	assert_int_equal(parse("GET / HTTP/1.1\r\n" REQ_HOST
	    "Accept: text/html\r\n" REQ_END, NULL, &up), WS_UPGRADE_REFUSED);
	assert_int_equal(up.status, 426);
	check_refusal_response(&up, out);
	assert_non_null(strstr(out, "\r\nUpgrade: websocket\r\n"));
	assert_non_null(strstr(out, "\r\nSec-WebSocket-Version: 13\r\n"));
	expect_refused(REQ_LINE REQ_HOST "Upgrade: h2c\r\n" REQ_CONNECTION
	    REQ_VERSION REQ_KEY REQ_PROTOCOL REQ_END, NULL, 426, NULL);
	expect_refused(REQ_LINE REQ_HOST "Upgrade: websockets\r\n"
	    REQ_CONNECTION REQ_VERSION REQ_KEY REQ_PROTOCOL REQ_END, NULL,
	    426, NULL);
}

static void
test_connection_without_upgrade_token_is_refused_with_400(void **state)
{
	(void)state;
	expect_refused(REQ_LINE REQ_HOST REQ_UPGRADE REQ_VERSION REQ_KEY
	    REQ_PROTOCOL REQ_END, NULL, 400, NULL);
	expect_refused(REQ_LINE REQ_HOST REQ_UPGRADE
	    "Connection: keep-alive\r\n" REQ_VERSION REQ_KEY REQ_PROTOCOL
	    REQ_END, NULL, 400, NULL);
	/* A token, not a substring. */
	expect_refused(REQ_LINE REQ_HOST REQ_UPGRADE
	    "Connection: upgraded\r\n" REQ_VERSION REQ_KEY REQ_PROTOCOL
	    REQ_END, NULL, 400, NULL);
}

static void
test_version_other_than_13_is_refused_with_426_naming_13(void **state)
{
	static const char *const versions[] = {
		"Sec-WebSocket-Version: 8\r\n",
		"Sec-WebSocket-Version: 130\r\n",
		"Sec-WebSocket-Version: 13, 8\r\n",
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Version: 8\r\n",
		"",
	};
	char req[1024], out[RESPONSE_MAX];
	struct ws_upgrade up;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		snprintf(req, sizeof(req), "%s%s", REQ_LINE REQ_HOST
		    REQ_UPGRADE REQ_CONNECTION, versions[i]);
		strcat(req, REQ_KEY REQ_PROTOCOL REQ_END);
		assert_int_equal(parse(req, NULL, &up), WS_UPGRADE_REFUSED);
		assert_int_equal(up.status, 426);
		check_refusal_response(&up, out);
		assert_non_null(strstr(out,
		    "\r\nSec-WebSocket-Version: 13\r\n"));
	}
}

static void
test_missing_or_malformed_key_is_refused_with_400(void **state)
{
	static const char *const keys[] = {
		"",
		"Sec-WebSocket-Key: \r\n",
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=\r\n",
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ\r\n",
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j\r\n",	/* 15 bytes */
		/* 18 bytes */
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZXMh\r\n",
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZ!==\r\n",
		"Sec-WebSocket-Key: dGhlIHNhbXBs ZSBub25jZQ==\r\n",
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
	};
	char req[1024];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		snprintf(req, sizeof(req), "%s%s%s", REQ_LINE REQ_HOST
		    REQ_UPGRADE REQ_CONNECTION REQ_VERSION, keys[i],
		    REQ_PROTOCOL REQ_END);
		expect_refused(req, NULL, 400,
		    "Sec-WebSocket-Key missing or malformed");
	}
}

static void
test_protocol_that_does_not_offer_sip_is_refused_with_400(void **state)
{
	static const char *const protocols[] = {
		"",
		"Sec-WebSocket-Protocol: \r\n",
		"Sec-WebSocket-Protocol: foo\r\n",
		"Sec-WebSocket-Protocol: sips\r\n",
		"Sec-WebSocket-Protocol: foo;sip\r\n",
		"Sec-WebSocket-Protocol: xsip, sipx\r\n",
	};
	char req[1024];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(protocols) / sizeof(protocols[0]); i++) {
		snprintf(req, sizeof(req), "%s%s%s", REQ_LINE REQ_HOST
		    REQ_UPGRADE REQ_CONNECTION REQ_VERSION REQ_KEY,
		    protocols[i], REQ_END);
		expect_refused(req, NULL, 400,
		    "Sec-WebSocket-Protocol must offer sip");
	}
}

static void
test_missing_or_repeated_host_is_refused_with_400(void **state)
{
	(void)state;
	expect_refused(REQ_LINE REQ_UPGRADE REQ_CONNECTION REQ_VERSION
	    REQ_KEY REQ_PROTOCOL REQ_END, NULL, 400, NULL);
	expect_refused(REQ_LINE REQ_HOST "Host: other.example.com\r\n"
	    REQ_UPGRADE REQ_CONNECTION REQ_VERSION REQ_KEY REQ_PROTOCOL
	    REQ_END, NULL, 400, NULL);
}

static void
test_origin_policy_allows_listed_origins_only(void **state)
{
	static const char *const origins[] = {
		"https://phone.example.com",
		"http://127.0.0.1:8080",
	};
	struct ws_upgrade_policy policy = { origins, 2 };
	struct ws_upgrade_policy open = { origins, 0 };
	const char *base = REQ_LINE REQ_HOST REQ_UPGRADE REQ_CONNECTION
	    REQ_VERSION REQ_KEY REQ_PROTOCOL;
	char req[1024];

	(void)state;
	snprintf(req, sizeof(req), "%sOrigin: https://phone.example.com"
	    "\r\n\r\n", base);
	expect_accepted(req, &policy);
	/* Scheme and host are case-insensitive (RFC 6454 §4). */
	snprintf(req, sizeof(req), "%sOrigin: HTTPS://Phone.Example.COM"
	    "\r\n\r\n", base);
	expect_accepted(req, &policy);
	snprintf(req, sizeof(req), "%sOrigin: http://127.0.0.1:8080\r\n\r\n",
	    base);
	expect_accepted(req, &policy);
	/* Anything else is not the same origin. */
	snprintf(req, sizeof(req), "%sOrigin: https://evil.example.net\r\n"
	    "\r\n", base);
	expect_refused(req, &policy, 403, "origin not allowed");
	snprintf(req, sizeof(req), "%sOrigin: https://phone.example.com:443"
	    "\r\n\r\n", base);
	expect_refused(req, &policy, 403, "origin not allowed");
	snprintf(req, sizeof(req), "%sOrigin: http://phone.example.com\r\n"
	    "\r\n", base);
	expect_refused(req, &policy, 403, "origin not allowed");
	snprintf(req, sizeof(req), "%sOrigin: null\r\n\r\n", base);
	expect_refused(req, &policy, 403, "origin not allowed");
	/* Two origins are not one allowed origin, in either order. */
	snprintf(req, sizeof(req), "%sOrigin: https://phone.example.com\r\n"
	    "Origin: https://evil.example.net\r\n\r\n", base);
	expect_refused(req, &policy, 403, "origin not allowed");
	snprintf(req, sizeof(req), "%sOrigin: https://evil.example.net\r\n"
	    "Origin: https://phone.example.com\r\n\r\n", base);
	expect_refused(req, &policy, 403, "origin not allowed");
	/* With a policy, a request without Origin is refused... */
	snprintf(req, sizeof(req), "%s\r\n", base);
	expect_refused(req, &policy, 403, "origin not allowed");
	/* ... without one, any origin and none are welcome. */
	expect_accepted(req, NULL);
	expect_accepted(req, &open);
	snprintf(req, sizeof(req), "%sOrigin: https://evil.example.net\r\n"
	    "\r\n", base);
	expect_accepted(req, NULL);
	expect_accepted(req, &open);
}

static void
test_headers_longer_than_the_limit_are_refused_with_431(void **state)
{
	const char *head = REQ_LINE REQ_HOST REQ_UPGRADE REQ_CONNECTION
	    REQ_VERSION REQ_KEY REQ_PROTOCOL "X-Pad: ";
	char out[RESPONSE_MAX], *req;
	struct ws_upgrade up;
	size_t pad, len;

	(void)state;
	req = malloc(2 * WS_UPGRADE_MAX);
	assert_non_null(req);
	/* No end within WS_UPGRADE_MAX bytes: refused, not waited for. */
	memset(req, 'a', WS_UPGRADE_MAX);
	memcpy(req, head, strlen(head));
	assert_int_equal(parse_bytes(req, WS_UPGRADE_MAX - 1, NULL, &up),
	    WS_UPGRADE_NEED_MORE);
	assert_int_equal(parse_bytes(req, WS_UPGRADE_MAX, NULL, &up),
	    WS_UPGRADE_REFUSED);
	assert_int_equal(up.status, 431);
	/* A request of exactly WS_UPGRADE_MAX bytes is read... */
	pad = WS_UPGRADE_MAX - strlen(head) - 4;
	len = strlen(head);
	memset(req + len, 'a', pad);
	memcpy(req + len + pad, "\r\n\r\n", 4);
	assert_int_equal(parse_bytes(req, WS_UPGRADE_MAX, NULL, &up),
	    WS_UPGRADE_OK);
	assert_int_equal(up.consumed, WS_UPGRADE_MAX);
	/* ... one byte longer is not, whatever follows. */
	memset(req + len, 'a', pad + 1);
	memcpy(req + len + pad + 1, "\r\n\r\n", 4);
	assert_int_equal(parse_bytes(req, WS_UPGRADE_MAX + 1, NULL, &up),
	    WS_UPGRADE_REFUSED);
	assert_int_equal(up.status, 431);
	check_refusal_response(&up, out);
	free(req);
}

/*
 * A CR as the last byte the parser may look at: past the limit, the
 * request is refused 431 whether the byte after the CR has arrived or
 * not.  Before, the answer hung on how TCP cut the bytes: 431 when they
 * ended at the CR, 400 when one more had come (the CR judged by a byte
 * beyond WS_UPGRADE_MAX).  Found by tests/fuzz/fuzz_ws.c.
 */
static void
test_cr_at_the_limit_gets_431_however_the_bytes_came(void **state)
{
	const char *head = REQ_LINE REQ_HOST "X-Pad: ";
	struct ws_upgrade up;
	char *req;

	(void)state;
	req = malloc(WS_UPGRADE_MAX + 1);
	assert_non_null(req);
	memset(req, 'a', WS_UPGRADE_MAX + 1);
	memcpy(req, head, strlen(head));
	req[WS_UPGRADE_MAX - 1] = '\r';
	req[WS_UPGRADE_MAX] = 'x';
	assert_int_equal(parse_bytes(req, WS_UPGRADE_MAX, NULL, &up),
	    WS_UPGRADE_REFUSED);
	assert_int_equal(up.status, 431);
	assert_int_equal(parse_bytes(req, WS_UPGRADE_MAX + 1, NULL, &up),
	    WS_UPGRADE_REFUSED);
	assert_int_equal(up.status, 431);
	free(req);
}

static void
test_malformed_requests_are_refused_with_400(void **state)
{
	static const char *const bad[] = {
		"GET /HTTP/1.1\r\n" REQ_HOST REQ_END,
		"GET  / HTTP/1.1\r\n" REQ_HOST REQ_END,
		"GET / HTTP/1.1 \r\n" REQ_HOST REQ_END,
		"GET / http/1.1\r\n" REQ_HOST REQ_END,
		"GET / HTTP/11\r\n" REQ_HOST REQ_END,
		"\r\n" REQ_LINE REQ_HOST REQ_END,
		REQ_LINE "Host edge.example.com\r\n" REQ_END,
		REQ_LINE "Host : edge.example.com\r\n" REQ_END,
		REQ_LINE ": nameless\r\n" REQ_HOST REQ_END,
		REQ_LINE REQ_HOST " folded: line\r\n" REQ_END,
		REQ_LINE REQ_HOST "X-Ctl: a\x01z\r\n" REQ_END,
		REQ_LINE REQ_HOST "X-Cr: a\rz\r\n" REQ_END,
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		expect_refused(bad[i], NULL, 400, NULL);
	}
	/* RFC 9112 §5.2: obsolete line folding is refused, not unfolded. */
	expect_refused(REQ_LINE REQ_HOST REQ_UPGRADE REQ_CONNECTION
	    "\t keep-alive\r\n" REQ_VERSION REQ_KEY REQ_PROTOCOL REQ_END,
	    NULL, 400, "obsolete line folding");
}

static void
test_binary_junk_is_refused_at_once(void **state)
{
	/* A TLS ClientHello on the plain WebSocket port. */
	static const char hello[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc";
	static const char nul[] = "GET / HTTP/1.1\r\nHo\0st";
	struct ws_upgrade up;

	(void)state;
	assert_int_equal(parse_bytes(hello, sizeof(hello) - 1, NULL, &up),
	    WS_UPGRADE_REFUSED);
	assert_int_equal(up.status, 400);
	assert_int_equal(up.consumed, 0);
	assert_int_equal(parse_bytes(nul, sizeof(nul) - 1, NULL, &up),
	    WS_UPGRADE_REFUSED);
	assert_int_equal(up.status, 400);
	/* A CR needs the byte after it to be judged. */
	assert_int_equal(parse_bytes("GET / HTTP/1.1\r", 15, NULL, &up),
	    WS_UPGRADE_NEED_MORE);
}

/* ---- responses ---- */

static void
test_every_refusal_has_a_complete_response(void **state)
{
	static const int statuses[] = { 400, 403, 405, 426, 431 };
	static const char *const lines[] = {
		"HTTP/1.1 400 Bad Request\r\n",
		"HTTP/1.1 403 Forbidden\r\n",
		"HTTP/1.1 405 Method Not Allowed\r\n",
		"HTTP/1.1 426 Upgrade Required\r\n",
		"HTTP/1.1 431 Request Header Fields Too Large\r\n",
	};
	char out[RESPONSE_MAX];
	struct ws_upgrade up;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		memset(&up, 0, sizeof(up));
		up.status = statuses[i];
		up.reason = "why not";
		check_refusal_response(&up, out);
		assert_memory_equal(out, lines[i], strlen(lines[i]));
		assert_string_equal(strstr(out, "\r\n\r\n") + 4, "why not\n");
	}
	/* No status this codec gives: no response. */
	up.status = 500;
	assert_int_equal(ws_upgrade_response(&up, out, sizeof(out)), -1);
	up.status = 101;
	up.accept[0] = '\0';
	assert_int_equal(ws_upgrade_response(&up, out, sizeof(out)), -1);
}

static void
test_response_that_does_not_fit_gives_minus_1(void **state)
{
	char out[RESPONSE_MAX], *small;
	struct ws_upgrade up;
	int n;

	(void)state;
	assert_int_equal(parse(CHROMIUM_REQUEST, NULL, &up), WS_UPGRADE_OK);
	n = response(&up, out);
	/* Exactly its length and the NUL snprintf writes. */
	small = malloc((size_t)n + 1);
	assert_non_null(small);
	assert_int_equal(ws_upgrade_response(&up, small, (size_t)n + 1), n);
	assert_int_equal(ws_upgrade_response(&up, small, (size_t)n), -1);
	assert_int_equal(ws_upgrade_response(&up, small, 10), -1);
	free(small);
	expect_refused("POST / HTTP/1.1\r\n" REQ_HOST REQ_END, NULL, 405,
	    NULL);
	assert_int_equal(parse("POST / HTTP/1.1\r\n" REQ_HOST REQ_END, NULL,
	    &up), WS_UPGRADE_REFUSED);
	assert_int_equal(ws_upgrade_response(&up, out, 20), -1);
}

/* ---- randomized robustness ---- */

#define FUZZ_INPUTS		100000
#define FUZZ_SEED		0x6455c0deu
#define FUZZ_REQ_MAX		(WS_UPGRADE_MAX + 1024)

static uint32_t
fuzz_next(uint32_t *x)
{
	/* xorshift32: every bit random, unlike a short LCG's low bits. */
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return (*x);
}

/* A request being built, and what it must get when left intact. */
struct fuzz_req {
	char buf[FUZZ_REQ_MAX];
	size_t len;
	char key[32];
	int origin_allowed;
};

static const char *const fuzz_origins[] = {
	"https://phone.example.com",
	"http://127.0.0.1:8080",
};

static void
req_add(struct fuzz_req *q, const char *s)
{
	size_t n = strlen(s);

	assert_true(q->len + n <= sizeof(q->buf));
	memcpy(q->buf + q->len, s, n);
	q->len += n;
}

/* `name: value` with random case, spacing and line end. */
static void
req_field(uint32_t *x, struct fuzz_req *q, const char *name,
    const char *value, int lf_only)
{
	static const char *const ows[] = { "", " ", "  ", "\t", " \t" };
	char n[64];
	size_t i;

	assert_true(strlen(name) < sizeof(n));
	for (i = 0; name[i] != '\0'; i++) {
		n[i] = name[i];
		if (fuzz_next(x) % 4 == 0 && n[i] >= 'a' && n[i] <= 'z') {
			n[i] = (char)(n[i] - 'a' + 'A');
		} else if (fuzz_next(x) % 4 == 0 && n[i] >= 'A' &&
		    n[i] <= 'Z') {
			n[i] = (char)(n[i] - 'A' + 'a');
		}
	}
	n[i] = '\0';
	req_add(q, n);
	req_add(q, ":");
	req_add(q, ows[fuzz_next(x) % 5]);
	req_add(q, value);
	req_add(q, ows[fuzz_next(x) % 5]);
	req_add(q, lf_only ? "\n" : "\r\n");
}

/* A request a browser could send: fields in random order and spelling. */
static void
random_request(uint32_t *x, struct fuzz_req *q, int policy)
{
	static const char *const connections[] = { "Upgrade", "upgrade",
	    "keep-alive, Upgrade", "Upgrade, keep-alive" };
	static const char *const protocols[] = { "sip", "SIP", "foo, sip",
	    "sip, foo" };
	static const char *const origins[] = { "https://phone.example.com",
	    "http://127.0.0.1:8080", "https://evil.example.net" };
	static const char *const paths[] = { "/", "/ws", "/sip?a=b" };
	const char *fields[10][2];
	unsigned char raw[16];
	size_t n = 0, i, j;
	int lf_only = fuzz_next(x) % 8 == 0, origin;

	q->len = 0;
	for (i = 0; i < sizeof(raw); i++) {
		raw[i] = (unsigned char)fuzz_next(x);
	}
	assert_int_equal(EVP_EncodeBlock((unsigned char *)q->key, raw, 16),
	    24);
	fields[n][0] = "Host";
	fields[n++][1] = "edge.example.com";
	fields[n][0] = "Connection";
	fields[n++][1] = connections[fuzz_next(x) % 4];
	fields[n][0] = "Upgrade";
	fields[n++][1] = fuzz_next(x) % 2 ? "websocket" : "WebSocket";
	fields[n][0] = "Sec-WebSocket-Version";
	fields[n++][1] = "13";
	fields[n][0] = "Sec-WebSocket-Key";
	fields[n++][1] = q->key;
	fields[n][0] = "Sec-WebSocket-Protocol";
	fields[n++][1] = protocols[fuzz_next(x) % 4];
	origin = (int)(fuzz_next(x) % 4);
	if (origin < 3) {
		fields[n][0] = "Origin";
		fields[n++][1] = origins[origin];
	}
	q->origin_allowed = !policy || origin < 2;
	if (fuzz_next(x) % 2) {
		fields[n][0] = "Sec-WebSocket-Extensions";
		fields[n++][1] = "permessage-deflate; client_max_window_bits";
	}
	if (fuzz_next(x) % 2) {
		fields[n][0] = "User-Agent";
		fields[n++][1] = "Mozilla/5.0 (X11; Linux x86_64)";
	}
	/* Shuffle (Fisher-Yates). */
	for (i = n - 1; i > 0; i--) {
		const char *t0, *t1;

		j = fuzz_next(x) % (i + 1);
		t0 = fields[i][0];
		t1 = fields[i][1];
		fields[i][0] = fields[j][0];
		fields[i][1] = fields[j][1];
		fields[j][0] = t0;
		fields[j][1] = t1;
	}
	req_add(q, "GET ");
	req_add(q, paths[fuzz_next(x) % 3]);
	req_add(q, lf_only ? " HTTP/1.1\n" : " HTTP/1.1\r\n");
	for (i = 0; i < n; i++) {
		req_field(x, q, fields[i][0], fields[i][1], lf_only);
	}
	req_add(q, lf_only ? "\n" : "\r\n");
}

/* Bytes an HTTP parser finds hard: separators, CR, LF, CTLs, high. */
static char
random_byte(uint32_t *x)
{
	static const char pick[] = "\r\n\r\n:, \t=/GET HTTP/1.1\0\x01\x7f\x80"
	    "\xff" "Upgrade";

	if (fuzz_next(x) % 2) {
		return (pick[fuzz_next(x) % (sizeof(pick) - 1)]);
	}
	return ((char)fuzz_next(x));
}

static void
mutate_request(uint32_t *x, struct fuzz_req *q)
{
	size_t i, n = 1 + fuzz_next(x) % 3, at;

	for (i = 0; i < n && q->len > 0; i++) {
		at = fuzz_next(x) % q->len;
		switch (fuzz_next(x) % 4) {
		case 0:
			q->buf[at] = random_byte(x);
			break;
		case 1:
			memmove(q->buf + at, q->buf + at + 1,
			    q->len - at - 1);
			q->len--;
			break;
		case 2:
			if (q->len < sizeof(q->buf)) {
				memmove(q->buf + at + 1, q->buf + at,
				    q->len - at);
				q->buf[at] = random_byte(x);
				q->len++;
			}
			break;
		default:
			/* Repeat a stretch: a field twice, a line longer. */
			n = fuzz_next(x) % 64;
			if (n > q->len - at) {
				n = q->len - at;
			}
			if (q->len + n <= sizeof(q->buf)) {
				memmove(q->buf + at + n, q->buf + at,
				    q->len - at);
				q->len += n;
			}
			break;
		}
	}
}

static int
is_base64_char(char c)
{
	return ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '+' || c == '/');
}

/* What any answer must look like, whatever the bytes. */
static void
check_upgrade_sane(const char *buf, size_t len, enum ws_upgrade_result res,
    const struct ws_upgrade *up)
{
	char out[RESPONSE_MAX];
	size_t i;

	switch (res) {
	case WS_UPGRADE_NEED_MORE:
		assert_true(len < WS_UPGRADE_MAX);
		assert_int_equal(up->status, 0);
		assert_int_equal(up->consumed, 0);
		break;
	case WS_UPGRADE_OK:
		assert_int_equal(up->status, 101);
		assert_true(up->consumed > 0 && up->consumed <= len &&
		    up->consumed <= WS_UPGRADE_MAX);
		assert_int_equal(buf[up->consumed - 1], '\n');
		assert_int_equal(strlen(up->accept), 28);
		for (i = 0; i < 27; i++) {
			assert_true(is_base64_char(up->accept[i]));
		}
		assert_int_equal(up->accept[27], '=');
		response(up, out);
		break;
	case WS_UPGRADE_REFUSED:
		assert_true(up->status == 400 || up->status == 403 ||
		    up->status == 405 || up->status == 426 ||
		    up->status == 431);
		assert_non_null(up->reason);
		assert_true(up->consumed <= len &&
		    up->consumed <= WS_UPGRADE_MAX);
		assert_int_equal(up->accept[0], '\0');
		check_refusal_response(up, out);
		break;
	default:
		fail_msg("result %d", (int)res);
	}
}

/* An intact request: every proper prefix needs more, the whole is judged. */
static void
check_intact(uint32_t *x, const struct fuzz_req *q,
    const struct ws_upgrade_policy *p)
{
	struct ws_upgrade up;
	enum ws_upgrade_result res;
	char accept[32];
	size_t cut, extra;

	cut = fuzz_next(x) % q->len;
	assert_int_equal(parse_bytes(q->buf, cut, p, &up),
	    WS_UPGRADE_NEED_MORE);
	/* Bytes after the request (a pipelined frame) change nothing. */
	extra = fuzz_next(x) % 2 ? 0 : 1 + fuzz_next(x) % 16;
	res = parse_bytes(q->buf, q->len + extra, p, &up);
	check_upgrade_sane(q->buf, q->len + extra, res, &up);
	assert_int_equal(up.consumed, q->len);
	if (!q->origin_allowed) {
		assert_int_equal(res, WS_UPGRADE_REFUSED);
		assert_int_equal(up.status, 403);
		return;
	}
	assert_int_equal(res, WS_UPGRADE_OK);
	oracle_accept(q->key, 24, accept);
	assert_string_equal(up.accept, accept);
}

/*
 * An intact request grown by a padding field to around WS_UPGRADE_MAX:
 * read whole up to the limit, refused with 431 past it.
 */
static void
check_padded(uint32_t *x, struct fuzz_req *q,
    const struct ws_upgrade_policy *p)
{
	struct ws_upgrade up;
	enum ws_upgrade_result res;
	size_t end, pad, room;

	end = q->len - (q->buf[q->len - 2] == '\r' ? 2 : 1);
	room = sizeof(q->buf) - q->len - 16;
	pad = WS_UPGRADE_MAX - q->len - 64 + fuzz_next(x) % 128;
	if (pad > room) {
		pad = room;
	}
	memmove(q->buf + end + 9 + pad, q->buf + end, q->len - end);
	memcpy(q->buf + end, "X-Pad: ", 7);
	memset(q->buf + end + 7, 'p', pad);
	memcpy(q->buf + end + 7 + pad, "\r\n", 2);
	q->len += 9 + pad;
	res = parse_bytes(q->buf, q->len, p, &up);
	check_upgrade_sane(q->buf, q->len, res, &up);
	if (q->len > WS_UPGRADE_MAX) {
		assert_int_equal(res, WS_UPGRADE_REFUSED);
		assert_int_equal(up.status, 431);
	} else {
		assert_int_equal(up.consumed, q->len);
		assert_int_equal(up.status, q->origin_allowed ? 101 : 403);
	}
}

static void
test_random_and_mutated_upgrades_give_sane_answers(void **state)
{
	struct ws_upgrade_policy policy = { fuzz_origins, 2 };
	const struct ws_upgrade_policy *p;
	enum ws_upgrade_result res;
	struct ws_upgrade up;
	struct fuzz_req *q;
	uint32_t x = FUZZ_SEED;
	size_t i, j, kind;

	(void)state;
	q = malloc(sizeof(*q));
	assert_non_null(q);
	for (i = 0; i < FUZZ_INPUTS; i++) {
		p = fuzz_next(&x) % 2 ? &policy : NULL;
		random_request(&x, q, p != NULL);
		kind = fuzz_next(&x) % 16;
		if (kind < 4) {
			check_intact(&x, q, p);
			continue;
		}
		if (kind == 5) {
			check_padded(&x, q, p);
			continue;
		}
		if (kind == 4) {
			/* Junk of any length, past the limit at times. */
			q->len = fuzz_next(&x) % 8 == 0 ?
			    fuzz_next(&x) % sizeof(q->buf) :
			    fuzz_next(&x) % 256;
			for (j = 0; j < q->len; j++) {
				q->buf[j] = random_byte(&x);
			}
		} else {
			mutate_request(&x, q);
		}
		res = parse_bytes(q->buf, q->len, p, &up);
		check_upgrade_sane(q->buf, q->len, res, &up);
	}
	free(q);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    test_rfc6455_sample_key_gives_the_sample_accept),
		cmocka_unit_test(
		    test_chromium_upgrade_gets_101_with_sip_and_no_extensions),
		cmocka_unit_test(
		    test_chromium_upgrade_split_byte_by_byte_needs_more_until_whole),
		cmocka_unit_test(
		    test_bytes_after_the_empty_line_are_not_consumed),
		cmocka_unit_test(test_any_request_path_is_accepted),
		cmocka_unit_test(
		    test_header_names_and_tokens_are_case_insensitive),
		cmocka_unit_test(
		    test_token_lists_and_repeated_headers_are_read_whole),
		cmocka_unit_test(test_bare_lf_line_ends_are_accepted),
		cmocka_unit_test(test_later_http_versions_are_accepted),
		cmocka_unit_test(
		    test_method_other_than_get_is_refused_with_405),
		cmocka_unit_test(test_http_before_1_1_is_refused_with_400),
		cmocka_unit_test(
		    test_request_without_upgrade_websocket_is_refused_with_426),
		cmocka_unit_test(
		    test_connection_without_upgrade_token_is_refused_with_400),
		cmocka_unit_test(
		    test_version_other_than_13_is_refused_with_426_naming_13),
		cmocka_unit_test(
		    test_missing_or_malformed_key_is_refused_with_400),
		cmocka_unit_test(
		    test_protocol_that_does_not_offer_sip_is_refused_with_400),
		cmocka_unit_test(
		    test_missing_or_repeated_host_is_refused_with_400),
		cmocka_unit_test(
		    test_origin_policy_allows_listed_origins_only),
		cmocka_unit_test(
		    test_headers_longer_than_the_limit_are_refused_with_431),
		cmocka_unit_test(
		    test_cr_at_the_limit_gets_431_however_the_bytes_came),
		cmocka_unit_test(test_malformed_requests_are_refused_with_400),
		cmocka_unit_test(test_binary_junk_is_refused_at_once),
		cmocka_unit_test(test_every_refusal_has_a_complete_response),
		cmocka_unit_test(
		    test_response_that_does_not_fit_gives_minus_1),
		cmocka_unit_test(
		    test_random_and_mutated_upgrades_give_sane_answers),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
