/*
 * sip_frame_test.c -- unit tests for stream framing (common/sip_frame.c).
 *
 * Requirement IDs refer to the outbound edge checklist: TR-07 (framing by
 * Content-Length), KA-09/KA-11/KA-13 (CRLF keep-alive, STUN on a stream),
 * ER-02..ER-05 (length and junk errors).  Every input is copied into a
 * heap buffer of exactly its length, so under AddressSanitizer any read
 * past `len` fails the test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "epsip/sip_frame.h"

#define MAX_MESSAGE	65536

#define REGISTER_HDRS							\
	"REGISTER sip:example.com SIP/2.0\r\n"				\
	"Via: SIP/2.0/TCP 192.0.2.4:5060;branch=z9hG4bK776asdhds\r\n"	\
	"From: <sip:alice@example.com>;tag=1928301774\r\n"		\
	"To: <sip:alice@example.com>\r\n"				\
	"Call-ID: a84b4c76e66710\r\n"					\
	"CSeq: 1 REGISTER\r\n"

#define REGISTER_MSG	REGISTER_HDRS "Content-Length: 0\r\n\r\n"

#define MESSAGE_MSG							\
	"MESSAGE sip:bob@example.com SIP/2.0\r\n"			\
	"Call-ID: m1\r\n"						\
	"Content-Length: 5\r\n"						\
	"\r\n"								\
	"hello"

#define OK_MSG								\
	"SIP/2.0 200 OK\r\n"						\
	"Via: SIP/2.0/TCP 192.0.2.4:5060;branch=z9hG4bK776asdhds\r\n"	\
	"Content-Length: 0\r\n"						\
	"\r\n"

/* Frame `len` bytes held in a heap buffer of exactly that size. */
static enum sip_frame_kind
frame_bytes(const char *data, size_t len, size_t max, struct sip_frame *f)
{
	enum sip_frame_kind k;
	char *copy;

	copy = malloc(len > 0 ? len : 1);
	assert_non_null(copy);
	if (len > 0) {
		memcpy(copy, data, len);
	}
	k = sip_frame_stream_next(copy, len, max, f);
	free(copy);
	return (k);
}

static enum sip_frame_kind
frame_str(const char *s, struct sip_frame *f)
{
	return (frame_bytes(s, strlen(s), MAX_MESSAGE, f));
}

static void
assert_error(const char *s, size_t max, enum sip_frame_error error,
    int status)
{
	struct sip_frame f;

	assert_int_equal(frame_bytes(s, strlen(s), max, &f), SIP_FRAME_ERROR);
	assert_int_equal(f.kind, SIP_FRAME_ERROR);
	assert_int_equal(f.error, error);
	assert_int_equal(f.status, status);
}

static void
assert_need_more(const char *s)
{
	struct sip_frame f;

	assert_int_equal(frame_str(s, &f), SIP_FRAME_NEED_MORE);
	assert_int_equal(f.consumed, 0);
}

/* Frame `s` and check it is one whole message of `length` bytes at 0. */
static void
assert_message(const char *s, size_t length, size_t header_length)
{
	struct sip_frame f;

	assert_int_equal(frame_str(s, &f), SIP_FRAME_MESSAGE);
	assert_int_equal(f.offset, 0);
	assert_int_equal(f.length, length);
	assert_int_equal(f.header_length, header_length);
	assert_int_equal(f.consumed, length);
}

/* KA-09: a double CRLF on its own is a ping, four bytes long. */
static void
test_stream_double_crlf_is_ping(void **state)
{
	struct sip_frame f;

	(void)state;
	assert_int_equal(frame_str("\r\n\r\n", &f), SIP_FRAME_PING);
	assert_int_equal(f.consumed, 4);
	assert_int_equal(f.error, SIP_FRAME_ERR_NONE);
}

/* KA-09, TR-07: message, ping, message in one read. */
static void
test_stream_double_crlf_between_messages_is_ping(void **state)
{
	const char *s = REGISTER_MSG "\r\n\r\n" REGISTER_MSG;
	size_t len = strlen(s), pos = 0;
	struct sip_frame f;

	(void)state;
	assert_int_equal(frame_bytes(s, len, MAX_MESSAGE, &f),
	    SIP_FRAME_MESSAGE);
	assert_int_equal(f.length, strlen(REGISTER_MSG));
	pos += f.consumed;
	assert_int_equal(frame_bytes(s + pos, len - pos, MAX_MESSAGE, &f),
	    SIP_FRAME_PING);
	assert_int_equal(f.consumed, 4);
	pos += f.consumed;
	assert_int_equal(frame_bytes(s + pos, len - pos, MAX_MESSAGE, &f),
	    SIP_FRAME_MESSAGE);
	assert_int_equal(f.offset, 0);
	pos += f.consumed;
	assert_int_equal(pos, len);
}

/* Edge case 8: the CRLFCRLF after a "Content-Length: 0" message is a
 * ping, not part of the message. */
static void
test_stream_ping_after_empty_body_is_not_body(void **state)
{
	const char *s = OK_MSG "\r\n\r\n";
	struct sip_frame f;

	(void)state;
	assert_int_equal(frame_str(s, &f), SIP_FRAME_MESSAGE);
	assert_int_equal(f.consumed, strlen(OK_MSG));
	assert_int_equal(frame_str(s + f.consumed, &f), SIP_FRAME_PING);
}

/* KA-09: eight CRLF bytes are two pings in two calls. */
static void
test_stream_two_double_crlfs_are_two_pings(void **state)
{
	const char *s = "\r\n\r\n\r\n\r\n";
	struct sip_frame f;

	(void)state;
	assert_int_equal(frame_str(s, &f), SIP_FRAME_PING);
	assert_int_equal(f.consumed, 4);
	assert_int_equal(frame_str(s + 4, &f), SIP_FRAME_PING);
	assert_int_equal(f.consumed, 4);
}

/* KA-11: a ping split across reads is not yet anything. */
static void
test_stream_split_ping_needs_more(void **state)
{
	(void)state;
	assert_need_more("\r");
	assert_need_more("\r\n");
	assert_need_more("\r\n\r");
}

/* KA-11, RFC 3261 §7.5: a lone CRLF before a start line is skipped. */
static void
test_stream_lone_crlf_before_request_is_skipped(void **state)
{
	const char *s = "\r\n" REGISTER_MSG;
	struct sip_frame f;

	(void)state;
	assert_int_equal(frame_str(s, &f), SIP_FRAME_MESSAGE);
	assert_int_equal(f.offset, 2);
	assert_int_equal(f.length, strlen(REGISTER_MSG));
	assert_int_equal(f.consumed, 2 + strlen(REGISTER_MSG));
	assert_memory_equal(s + f.offset, "REGISTER ", 9);
}

/* KA-11: a lone CRLF before a partial request waits, no ping. */
static void
test_stream_lone_crlf_then_partial_request_needs_more(void **state)
{
	(void)state;
	assert_need_more("\r\nR");
	assert_need_more("\r\nREGISTER sip:example.com SIP/2.0\r\n");
}

/* KA-13: STUN bytes on a stream are a framing error, no SIP answer. */
static void
test_stream_stun_header_is_error(void **state)
{
	static const char stun[] = {
		0x00, 0x01, 0x00, 0x00, 0x21, 0x12, (char)0xA4, 0x42,
		1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
	};
	struct sip_frame f;

	(void)state;
	assert_int_equal(frame_bytes(stun, sizeof(stun), MAX_MESSAGE, &f),
	    SIP_FRAME_ERROR);
	assert_int_equal(f.error, SIP_FRAME_ERR_STUN);
	assert_int_equal(f.status, 0);
	assert_int_equal(frame_bytes("\x01", 1, MAX_MESSAGE, &f),
	    SIP_FRAME_ERROR);
	assert_int_equal(f.error, SIP_FRAME_ERR_STUN);
}

/* ER-05: "GARBAGE" looks like a method but the line is no start line. */
static void
test_stream_garbage_line_is_junk(void **state)
{
	(void)state;
	assert_error("GARBAGE\r\n\r\n", MAX_MESSAGE, SIP_FRAME_ERR_JUNK, 0);
	assert_error("GARBAGE\n\n", MAX_MESSAGE, SIP_FRAME_ERR_JUNK, 0);
}

/* ER-05: bytes that cannot be text are junk at once, without waiting. */
static void
test_stream_junk_is_detected_before_line_ends(void **state)
{
	char line[4200];

	(void)state;
	assert_error("\n", MAX_MESSAGE, SIP_FRAME_ERR_JUNK, 0);
	assert_error("INV\001TE", MAX_MESSAGE, SIP_FRAME_ERR_JUNK, 0);
	assert_error("\x7fhello", MAX_MESSAGE, SIP_FRAME_ERR_JUNK, 0);
	assert_error("\x16\x03\x01\x02", MAX_MESSAGE, SIP_FRAME_ERR_JUNK,
	    0);					/* a TLS ClientHello */
	/* A CR must be followed by LF, before and after the lone CRLF. */
	assert_error("\rX", MAX_MESSAGE, SIP_FRAME_ERR_JUNK, 0);
	assert_error("\r\n\rX", MAX_MESSAGE, SIP_FRAME_ERR_JUNK, 0);
	assert_error("SIP/2.0 200 O\rK\r\n", MAX_MESSAGE,
	    SIP_FRAME_ERR_JUNK, 0);
	/* Text waits for its line end, but not past 4096 bytes. */
	assert_need_more("hello");
	assert_need_more(" INVITE");
	memset(line, 'a', sizeof(line) - 1);
	line[1] = ' ';
	line[sizeof(line) - 1] = '\0';
	assert_error(line, MAX_MESSAGE, SIP_FRAME_ERR_JUNK, 0);
}

/* ER-05: a line with no space in it is no start line of any kind. */
static void
test_stream_line_without_a_space_is_junk(void **state)
{
	(void)state;
	assert_error("INVITE\r\n", MAX_MESSAGE, SIP_FRAME_ERR_JUNK, 0);
	assert_error("hello\n", MAX_MESSAGE, SIP_FRAME_ERR_JUNK, 0);
}

/*
 * Issue 12 §5: a start line that is wrong but still a line of text, with
 * headers and a Content-Length after it, is framed: the router answers it
 * (400, 505) and the connection lives on.
 */
static void
test_stream_malformed_start_line_with_intact_framing_is_a_message(
    void **state)
{
	static const char *const lines[] = {
		"  OPTIONS sip:a@b SIP/2.0",	/* leading whitespace */
		"OPTIONS sip:a @b SIP/2.0",	/* whitespace in the URI */
		"OPTIONS sip:a@b SIP/7.0",	/* another version */
		"INVITE nocolon SIP/2.0",
		"INVITE sip:a@b SIP/2.0 ",
		"SIP/2.0 2000 OK",
		"M\xc3\xa9THODE sip:a@b SIP/2.0",	/* UTF-8 in the method */
	};
	char text[512];
	struct sip_frame f;

	(void)state;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		snprintf(text, sizeof(text), "%s\r\nVia: SIP/2.0/TCP h;"
		    "branch=z9hG4bK1\r\nContent-Length: 3\r\n\r\nabc",
		    lines[i]);
		assert_int_equal(frame_str(text, &f), SIP_FRAME_MESSAGE);
		assert_int_equal(f.length, strlen(text));
		assert_int_equal(f.consumed, strlen(text));
	}
	/* Without a Content-Length a stream cannot be framed (ER-03). */
	assert_error("GET / HTTP/1.1\r\n\r\n", MAX_MESSAGE,
	    SIP_FRAME_ERR_NO_LENGTH, 400);
}

/* TR-07: any prefix of a valid start line waits for more. */
static void
test_stream_partial_start_line_needs_more(void **state)
{
	(void)state;
	assert_need_more("I");
	assert_need_more("INVITE");
	assert_need_more("INVITE sip:bob@example.com");
	assert_need_more("INVITE sip:bob@example.com SIP/2");
	assert_need_more("INVITE sip:bob@example.com SIP/2.0\r");
	assert_need_more("S");
	assert_need_more("SIP/2.0");
	assert_need_more("SIP/2.0 20");
	assert_need_more("SIP/2.0 200 OK");
}

/* TR-07: a response is framed like a request. */
static void
test_stream_response_is_framed(void **state)
{
	const char *s;

	(void)state;
	assert_message(OK_MSG, strlen(OK_MSG), strlen(OK_MSG));
	/* No reason phrase: unusual, but still a response. */
	s = "SIP/2.0 200\r\nl: 0\r\n\r\n";
	assert_message(s, strlen(s), strlen(s));
}

/* TR-07: a body of Content-Length bytes; what follows is not ours. */
static void
test_stream_message_with_body_is_framed(void **state)
{
	const char *s = MESSAGE_MSG "OPTI";
	size_t hl = strlen(MESSAGE_MSG) - 5;
	struct sip_frame f;

	(void)state;
	assert_int_equal(frame_str(s, &f), SIP_FRAME_MESSAGE);
	assert_int_equal(f.header_length, hl);
	assert_int_equal(f.length, hl + 5);
	assert_int_equal(f.consumed, hl + 5);
	assert_memory_equal(s + f.header_length, "hello", 5);
}

/* TR-07: header end known, body short: wait, but report header_length. */
static void
test_stream_partial_body_needs_more_with_header_length(void **state)
{
	const char *s = MESSAGE_MSG;
	size_t len = strlen(s);
	struct sip_frame f;

	(void)state;
	assert_int_equal(frame_bytes(s, len - 1, MAX_MESSAGE, &f),
	    SIP_FRAME_NEED_MORE);
	assert_int_equal(f.header_length, len - 5);
	assert_int_equal(f.consumed, 0);
	assert_int_equal(frame_bytes(s, len - 6, MAX_MESSAGE, &f),
	    SIP_FRAME_NEED_MORE);
	assert_int_equal(f.header_length, 0);
}

/* TR-07: two REGISTERs in one write are framed one after the other. */
static void
test_stream_two_messages_in_one_read_are_both_framed(void **state)
{
	const char *s = REGISTER_MSG MESSAGE_MSG;
	size_t len = strlen(s);
	struct sip_frame f;

	(void)state;
	assert_int_equal(frame_bytes(s, len, MAX_MESSAGE, &f),
	    SIP_FRAME_MESSAGE);
	assert_int_equal(f.consumed, strlen(REGISTER_MSG));
	assert_int_equal(frame_bytes(s + f.consumed, len - f.consumed,
	    MAX_MESSAGE, &f), SIP_FRAME_MESSAGE);
	assert_int_equal(f.length, strlen(MESSAGE_MSG));
}

/* TR-07: one message arriving a byte at a time frames exactly once. */
static void
test_stream_message_fed_byte_by_byte_frames_once(void **state)
{
	const char *s = "\r\n" MESSAGE_MSG;
	size_t len = strlen(s), n, frames = 0;
	struct sip_frame f;

	(void)state;
	for (n = 0; n <= len; n++) {
		switch (frame_bytes(s, n, MAX_MESSAGE, &f)) {
		case SIP_FRAME_NEED_MORE:
			assert_true(n < len);
			break;
		case SIP_FRAME_MESSAGE:
			assert_int_equal(n, len);
			assert_int_equal(f.consumed, len);
			frames++;
			break;
		default:
			fail_msg("unexpected kind at %zu bytes", n);
		}
	}
	assert_int_equal(frames, 1);
}

/* ER-03: no Content-Length on a stream is 400, with header_length. */
static void
test_stream_missing_content_length_is_400(void **state)
{
	const char *s = REGISTER_HDRS "\r\n";
	struct sip_frame f;

	(void)state;
	assert_error(s, MAX_MESSAGE, SIP_FRAME_ERR_NO_LENGTH, 400);
	frame_str(s, &f);
	assert_int_equal(f.header_length, strlen(s));
	assert_error("OPTIONS sip:a SIP/2.0\r\n\r\n", MAX_MESSAGE,
	    SIP_FRAME_ERR_NO_LENGTH, 400);
}

/* ER-03: negative, non-numeric, listed, empty or overflowing CL: 400. */
static void
test_stream_bad_content_length_is_400(void **state)
{
	static const char *const bad[] = {
		"abc", "-1", "+5", "5 5", "5,5", "", " ", "0x10", "5;x",
		"99999999999999999999999999999",
	};
	char msg[512];
	size_t i;
	int n;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = snprintf(msg, sizeof(msg), REGISTER_HDRS
		    "Content-Length: %s\r\n\r\n", bad[i]);
		assert_true(n > 0 && (size_t)n < sizeof(msg));
		assert_error(msg, MAX_MESSAGE, SIP_FRAME_ERR_BAD_LENGTH, 400);
	}
}

/* ER-02: two Content-Lengths, different or equal, any form: 400. */
static void
test_stream_duplicate_content_length_is_400(void **state)
{
	(void)state;
	assert_error(REGISTER_HDRS "Content-Length: 0\r\n"
	    "Content-Length: 5\r\n\r\nhello", MAX_MESSAGE,
	    SIP_FRAME_ERR_DUP_LENGTH, 400);
	assert_error(REGISTER_HDRS "Content-Length: 0\r\n"
	    "Content-Length: 0\r\n\r\n", MAX_MESSAGE,
	    SIP_FRAME_ERR_DUP_LENGTH, 400);
	assert_error(REGISTER_HDRS "l: 0\r\ncontent-length: 0\r\n\r\n",
	    MAX_MESSAGE, SIP_FRAME_ERR_DUP_LENGTH, 400);
}

/* ER-02: a Content-Length name without a colon is refused, not skipped. */
static void
test_stream_content_length_without_colon_is_400(void **state)
{
	(void)state;
	assert_error(REGISTER_HDRS "Content-Length 5\r\n\r\nhello",
	    MAX_MESSAGE, SIP_FRAME_ERR_BAD_LENGTH, 400);
}

/* TR-10: case-insensitive name, compact "l", whitespace around ':'. */
static void
test_stream_content_length_forms_are_accepted(void **state)
{
	static const char *const hdr[] = {
		"Content-Length: 3", "content-length:3", "CONTENT-LENGTH : 3",
		"l: 3", "L:3", "Content-Length:\t 3 \t", "l \t:  003",
	};
	char msg[256];
	size_t i, hl;

	(void)state;
	for (i = 0; i < sizeof(hdr) / sizeof(hdr[0]); i++) {
		snprintf(msg, sizeof(msg), "OPTIONS sip:a SIP/2.0\r\n%s\r\n"
		    "\r\nabcXYZ", hdr[i]);
		hl = strlen(msg) - 6;
		assert_message(msg, hl + 3, hl);
	}
}

/* TR-10: a folded Content-Length value is read whole. */
static void
test_stream_folded_content_length_value_is_read(void **state)
{
	const char *s = "OPTIONS sip:a SIP/2.0\r\nContent-Length:\r\n"
	    "   4\r\nTo: <sip:a>\r\n\r\nbodyNEXT";

	(void)state;
	assert_message(s, strlen(s) - 4, strlen(s) - 8);
	assert_error("OPTIONS sip:a SIP/2.0\r\nContent-Length: 1\r\n 2\r\n"
	    "\r\n12", MAX_MESSAGE, SIP_FRAME_ERR_BAD_LENGTH, 400);
}

/* TR-10: a continuation line is never a header of its own. */
static void
test_stream_folded_line_is_not_a_header(void **state)
{
	const char *s = "OPTIONS sip:a SIP/2.0\r\nSubject: x\r\n"
	    " Content-Length: 99\r\n\tl: 7\r\nContent-Length: 2\r\n\r\nok";

	(void)state;
	assert_message(s, strlen(s), strlen(s) - 2);
}

/* Headers whose names merely contain "l" or "content-length". */
static void
test_stream_similar_header_names_are_not_content_length(void **state)
{
	const char *s = "OPTIONS sip:a SIP/2.0\r\nLx: 9\r\nX-l: 9\r\n"
	    "Content-Length-Foo: 9\r\nContent-Lengt: 9\r\nl: 1\r\n\r\nz";

	(void)state;
	assert_message(s, strlen(s), strlen(s) - 1);
}

/* Bare LF line ends are accepted too. */
static void
test_stream_bare_lf_message_is_framed(void **state)
{
	const char *s = "OPTIONS sip:a SIP/2.0\nContent-Length: 2\n\nhi";

	(void)state;
	assert_message(s, strlen(s), strlen(s) - 2);
	s = "SIP/2.0 180 Ringing\nl: 0\r\n\r\n";
	assert_message(s, strlen(s), strlen(s));
}

/* ER-04: headers without a blank line within the limit: 513. */
static void
test_stream_headers_over_limit_without_blank_line_is_513(void **state)
{
	const char *s = REGISTER_HDRS "X-Pad: aaaaaaaaaaaaaaaaaaaa\r\n";
	size_t len = strlen(s);
	struct sip_frame f;

	(void)state;
	assert_int_equal(frame_bytes(s, len, len, &f), SIP_FRAME_ERROR);
	assert_int_equal(f.error, SIP_FRAME_ERR_TOO_LARGE);
	assert_int_equal(f.status, 513);
	assert_int_equal(frame_bytes(s, len, len + 1, &f),
	    SIP_FRAME_NEED_MORE);
	/* A start line alone longer than the limit. */
	assert_int_equal(frame_bytes(s, 10, 10, &f), SIP_FRAME_ERROR);
	assert_int_equal(f.error, SIP_FRAME_ERR_TOO_LARGE);
}

/* ER-04: headers plus body over the limit: 513, header_length known. */
static void
test_stream_headers_plus_body_over_limit_is_513(void **state)
{
	const char *s = MESSAGE_MSG;
	size_t len = strlen(s);
	struct sip_frame f;

	(void)state;
	assert_int_equal(frame_bytes(s, len, len, &f), SIP_FRAME_MESSAGE);
	assert_int_equal(frame_bytes(s, len, len - 1, &f), SIP_FRAME_ERROR);
	assert_int_equal(f.error, SIP_FRAME_ERR_TOO_LARGE);
	assert_int_equal(f.status, 513);
	assert_int_equal(f.header_length, len - 5);
	/* Decided from the headers alone, before the body arrives. */
	assert_int_equal(frame_bytes(s, len - 5, len - 1, &f),
	    SIP_FRAME_ERROR);
	assert_int_equal(f.error, SIP_FRAME_ERR_TOO_LARGE);
}

/* ER-04: a huge but representable length is too large, not malformed. */
static void
test_stream_huge_content_length_is_513(void **state)
{
	(void)state;
	assert_error(REGISTER_HDRS "Content-Length: 4294967296000\r\n\r\n",
	    MAX_MESSAGE, SIP_FRAME_ERR_TOO_LARGE, 513);
}

static void
test_stream_empty_buffer_needs_more(void **state)
{
	struct sip_frame f;

	(void)state;
	assert_int_equal(frame_bytes("", 0, MAX_MESSAGE, &f),
	    SIP_FRAME_NEED_MORE);
	assert_int_equal(f.consumed, 0);
}

static void
test_stream_error_names_are_stable(void **state)
{
	(void)state;
	assert_string_equal(sip_frame_error_name(SIP_FRAME_ERR_NONE), "none");
	assert_string_equal(sip_frame_error_name(SIP_FRAME_ERR_JUNK), "junk");
	assert_string_equal(sip_frame_error_name(SIP_FRAME_ERR_STUN),
	    "stun-on-stream");
	assert_string_equal(sip_frame_error_name(SIP_FRAME_ERR_NO_LENGTH),
	    "no-content-length");
	assert_string_equal(sip_frame_error_name(SIP_FRAME_ERR_BAD_LENGTH),
	    "bad-content-length");
	assert_string_equal(sip_frame_error_name(SIP_FRAME_ERR_DUP_LENGTH),
	    "duplicate-content-length");
	assert_string_equal(sip_frame_error_name(SIP_FRAME_ERR_TOO_LARGE),
	    "too-large");
}

/* Fixed-seed LCG (Numerical Recipes constants): reproducible fuzzing. */
static uint32_t
lcg_next(uint32_t *seed)
{
	*seed = *seed * 1664525u + 1013904223u;
	return (*seed >> 8);
}

/* Check the invariants every answer must keep, whatever the input. */
static void
check_frame_sane(const char *buf, size_t len, size_t max,
    const struct sip_frame *f)
{
	switch (f->kind) {
	case SIP_FRAME_NEED_MORE:
		assert_int_equal(f->consumed, 0);
		/* Below the limit, or a CRLF prefix that may become a ping. */
		assert_true(len < max + 2 || len < 4);
		break;
	case SIP_FRAME_PING:
		assert_int_equal(f->consumed, 4);
		assert_memory_equal(buf, "\r\n\r\n", 4);
		break;
	case SIP_FRAME_MESSAGE:
		assert_true(f->offset == 0 || f->offset == 2);
		assert_int_equal(f->consumed, f->offset + f->length);
		assert_true(f->consumed <= len);
		assert_true(f->length <= max);
		assert_true(f->header_length > 0);
		assert_true(f->header_length <= f->length);
		assert_int_equal(buf[f->offset + f->header_length - 1], '\n');
		break;
	case SIP_FRAME_ERROR:
		assert_true(f->error != SIP_FRAME_ERR_NONE);
		assert_true(f->status == 0 || f->status == 400 ||
		    f->status == 513);
		assert_true(f->header_length <= len);
		break;
	default:
		fail_msg("bad kind %d", (int)f->kind);
	}
}

/*
 * A unit framed from the whole buffer must frame as NEED_MORE from any
 * shorter prefix: that is what makes byte-by-byte delivery work (TR-07).
 */
static void
check_prefix_waits(const char *buf, size_t consumed, size_t max,
    uint32_t *seed)
{
	struct sip_frame f;
	size_t k;

	k = lcg_next(seed) % consumed;
	assert_int_equal(frame_bytes(buf, k, max, &f), SIP_FRAME_NEED_MORE);
}

static size_t
fuzz_build_stream(char *buf, size_t cap, uint32_t *seed)
{
	static const char *const parts[] = {
		REGISTER_MSG, MESSAGE_MSG, OK_MSG, "\r\n\r\n", "\r\n",
		"SIP/2.0 180 Ringing\nl: 1\n\nx",
		"INFO sip:a SIP/2.0\r\nSubject: a\r\n b\r\nl: 2\r\n\r\nzz",
	};
	size_t len = 0, n, i, parts_n;

	parts_n = 1 + lcg_next(seed) % 4;
	for (i = 0; i < parts_n; i++) {
		const char *p = parts[lcg_next(seed) %
		    (sizeof(parts) / sizeof(parts[0]))];

		n = strlen(p);
		if (len + n > cap) {
			break;
		}
		memcpy(buf + len, p, n);
		len += n;
	}
	return (len);
}

static void
fuzz_mutate(char *buf, size_t len, uint32_t *seed)
{
	static const char interesting[] = "\r\n :l0123456789\t\x00\x01-";
	size_t i, count;

	if (len == 0) {
		return;
	}
	count = lcg_next(seed) % 4;
	for (i = 0; i < count; i++) {
		if (lcg_next(seed) % 2 == 0) {
			buf[lcg_next(seed) % len] = (char)lcg_next(seed);
		} else {
			buf[lcg_next(seed) % len] = interesting[lcg_next(seed) %
			    (sizeof(interesting) - 1)];
		}
	}
}

/* ASan/UBSan catch any over-read; the invariants catch nonsense. */
static void
test_stream_fuzzed_streams_stay_sane(void **state)
{
	char buf[1024];
	uint32_t seed = 0x5eed5eedu;
	size_t len, pos, max, steps;
	struct sip_frame f;
	int iter;

	(void)state;
	for (iter = 0; iter < 20000; iter++) {
		len = fuzz_build_stream(buf, sizeof(buf), &seed);
		fuzz_mutate(buf, len, &seed);
		if (lcg_next(&seed) % 4 == 0 && len > 0) {
			len = lcg_next(&seed) % len;	/* truncated read */
		}
		max = lcg_next(&seed) % 8 == 0 ? 1 + lcg_next(&seed) % 200 :
		    MAX_MESSAGE;
		for (pos = 0, steps = 0; pos <= len; steps++) {
			assert_true(steps <= len + 1);
			frame_bytes(buf + pos, len - pos, max, &f);
			check_frame_sane(buf + pos, len - pos, max, &f);
			if (f.kind == SIP_FRAME_MESSAGE ||
			    f.kind == SIP_FRAME_PING) {
				check_prefix_waits(buf + pos, f.consumed, max,
				    &seed);
				pos += f.consumed;
				continue;
			}
			break;
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stream_double_crlf_is_ping),
		cmocka_unit_test(
		    test_stream_double_crlf_between_messages_is_ping),
		cmocka_unit_test(test_stream_ping_after_empty_body_is_not_body),
		cmocka_unit_test(test_stream_two_double_crlfs_are_two_pings),
		cmocka_unit_test(test_stream_split_ping_needs_more),
		cmocka_unit_test(
		    test_stream_lone_crlf_before_request_is_skipped),
		cmocka_unit_test(
		    test_stream_lone_crlf_then_partial_request_needs_more),
		cmocka_unit_test(test_stream_stun_header_is_error),
		cmocka_unit_test(test_stream_garbage_line_is_junk),
		cmocka_unit_test(test_stream_junk_is_detected_before_line_ends),
		cmocka_unit_test(test_stream_line_without_a_space_is_junk),
		cmocka_unit_test(
		    test_stream_malformed_start_line_with_intact_framing_is_a_message),
		cmocka_unit_test(test_stream_partial_start_line_needs_more),
		cmocka_unit_test(test_stream_response_is_framed),
		cmocka_unit_test(test_stream_message_with_body_is_framed),
		cmocka_unit_test(
		    test_stream_partial_body_needs_more_with_header_length),
		cmocka_unit_test(
		    test_stream_two_messages_in_one_read_are_both_framed),
		cmocka_unit_test(
		    test_stream_message_fed_byte_by_byte_frames_once),
		cmocka_unit_test(test_stream_missing_content_length_is_400),
		cmocka_unit_test(test_stream_bad_content_length_is_400),
		cmocka_unit_test(test_stream_duplicate_content_length_is_400),
		cmocka_unit_test(
		    test_stream_content_length_without_colon_is_400),
		cmocka_unit_test(test_stream_content_length_forms_are_accepted),
		cmocka_unit_test(
		    test_stream_folded_content_length_value_is_read),
		cmocka_unit_test(test_stream_folded_line_is_not_a_header),
		cmocka_unit_test(
		    test_stream_similar_header_names_are_not_content_length),
		cmocka_unit_test(test_stream_bare_lf_message_is_framed),
		cmocka_unit_test(
		    test_stream_headers_over_limit_without_blank_line_is_513),
		cmocka_unit_test(
		    test_stream_headers_plus_body_over_limit_is_513),
		cmocka_unit_test(test_stream_huge_content_length_is_513),
		cmocka_unit_test(test_stream_empty_buffer_needs_more),
		cmocka_unit_test(test_stream_error_names_are_stable),
		cmocka_unit_test(test_stream_fuzzed_streams_stay_sane),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
