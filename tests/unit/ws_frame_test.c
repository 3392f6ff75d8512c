/*
 * ws_frame_test.c -- unit tests for WebSocket frames (common/ws_frame.c,
 * RFC 6455 §5).
 *
 * Every input is copied into a heap buffer of exactly its length and the
 * scratch `out` is exactly out_cap bytes, so under AddressSanitizer (and
 * valgrind) a read or write past either fails the test; the reader's
 * reassembly buffer is checked for leaks on every error path the same way.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "epsip/ws.h"

#define FIN		0x80
#define MASKED		1
#define UNMASKED	0
/* Length forms for frame_ex(): the shortest one, or a forced one. */
#define FORM_MINIMAL	0
#define FORM_16		16
#define FORM_64		64

static const uint8_t key[4] = { 0x37, 0xfa, 0x21, 0x3d };

/* A reader under test, with its scratch buffer and its last answer. */
struct rd {
	struct ws_reader r;
	uint8_t *out;
	size_t out_cap;
	size_t max;
	struct ws_event ev;
	uint16_t code;
};

static void
rd_init(struct rd *t, size_t max)
{
	memset(t, 0, sizeof(*t));
	t->max = max;
	t->out_cap = max < WS_CONTROL_MAX ? WS_CONTROL_MAX : max;
	t->out = malloc(t->out_cap);
	assert_non_null(t->out);
}

static void
rd_done(struct rd *t)
{
	ws_reader_free(&t->r);
	free(t->out);
}

/* One call on `len` bytes held in a heap buffer of exactly that size. */
static ssize_t
rd_next(struct rd *t, const uint8_t *buf, size_t len)
{
	uint8_t *copy;
	ssize_t n;

	copy = malloc(len > 0 ? len : 1);
	assert_non_null(copy);
	if (len > 0) {
		memcpy(copy, buf, len);
	}
	n = ws_reader_next(&t->r, copy, len, t->out, t->out_cap, t->max,
	    &t->ev, &t->code);
	free(copy);
	return (n);
}

/* A frame with every choice open: first byte, mask, length form. */
static size_t
frame_ex(uint8_t *out, uint8_t b0, int masked, int form, const void *payload,
    size_t len)
{
	const uint8_t *p = payload;
	size_t n = 0, i;
	uint8_t m = masked ? 0x80 : 0;

	out[n++] = b0;
	if (form == FORM_64 || (form == FORM_MINIMAL && len > 0xffff)) {
		out[n++] = m | 127;
		for (i = 0; i < 8; i++) {
			out[n++] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
		}
	} else if (form == FORM_16 || (form == FORM_MINIMAL && len > 125)) {
		out[n++] = m | 126;
		out[n++] = (uint8_t)(len >> 8);
		out[n++] = (uint8_t)len;
	} else {
		out[n++] = m | (uint8_t)len;
	}
	if (masked) {
		memcpy(out + n, key, 4);
		n += 4;
	}
	for (i = 0; i < len; i++) {
		out[n + i] = masked ? p[i] ^ key[i & 3] : p[i];
	}
	return (n + len);
}

/* A masked client frame, shortest length form. */
static size_t
frame(uint8_t *out, uint8_t b0, const void *payload, size_t len)
{
	return (frame_ex(out, b0, MASKED, FORM_MINIMAL, payload, len));
}

/* Feed a whole frame; it must be used whole and give `type`. */
static void
expect_event(struct rd *t, const uint8_t *buf, size_t len,
    enum ws_event_type type)
{
	assert_int_equal(rd_next(t, buf, len), (ssize_t)len);
	assert_int_equal(t->ev.type, type);
	assert_int_equal(t->code, 0);
}

/* Feed bytes that must fail the connection with `code`, freeing r->msg. */
static void
expect_failure(struct rd *t, const uint8_t *buf, size_t len, uint16_t code)
{
	assert_int_equal(rd_next(t, buf, len), -1);
	assert_int_equal(t->code, code);
	assert_int_equal(t->ev.type, WS_EV_NONE);
	assert_null(t->r.msg);
	assert_int_equal(t->r.msg_opcode, 0);
	assert_int_equal(t->r.msg_len, 0);
}

static void
expect_message(struct rd *t, uint8_t opcode, const void *data, size_t len)
{
	assert_int_equal(t->ev.type, WS_EV_MESSAGE);
	assert_int_equal(t->ev.opcode, opcode);
	assert_int_equal(t->ev.len, len);
	if (len > 0) {
		assert_memory_equal(t->ev.data, data, len);
	}
}

/* A single text frame carrying `s`. */
static void
expect_text_verdict(const void *s, size_t len, int valid)
{
	uint8_t buf[64];
	struct rd t;
	size_t n;

	rd_init(&t, 1024);
	n = frame(buf, FIN | WS_OP_TEXT, s, len);
	if (valid) {
		expect_event(&t, buf, n, WS_EV_MESSAGE);
		expect_message(&t, WS_OP_TEXT, s, len);
	} else {
		expect_failure(&t, buf, n, WS_CLOSE_INVALID_DATA);
	}
	rd_done(&t);
}

/* A Close frame with `code` and `reason`. */
static size_t
close_frame(uint8_t *buf, uint16_t code, const void *reason, size_t rlen)
{
	uint8_t p[125];

	p[0] = (uint8_t)(code >> 8);
	p[1] = (uint8_t)code;
	memcpy(p + 2, reason, rlen);
	return (frame(buf, FIN | WS_OP_CLOSE, p, 2 + rlen));
}

/* ---- RFC 6455 §5.7 examples, every opcode ---- */

static void
test_masked_hello_from_rfc6455_is_one_text_message(void **state)
{
	static const uint8_t hello[] = { 0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
	    0x7f, 0x9f, 0x4d, 0x51, 0x58 };
	struct rd t;

	(void)state;
	rd_init(&t, 1024);
	expect_event(&t, hello, sizeof(hello), WS_EV_MESSAGE);
	expect_message(&t, WS_OP_TEXT, "Hello", 5);
	/* The payload is unmasked into the caller's scratch. */
	assert_ptr_equal(t.ev.data, t.out);
	assert_null(t.r.msg);
	rd_done(&t);
}

static void
test_unmasked_hello_from_rfc6455_fails_with_1002(void **state)
{
	static const uint8_t hello[] = { 0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c,
	    0x6f };
	struct rd t;

	(void)state;
	rd_init(&t, 1024);
	expect_failure(&t, hello, sizeof(hello), WS_CLOSE_PROTOCOL_ERROR);
	/* The second byte alone says the frame is unmasked. */
	expect_failure(&t, hello, 2, WS_CLOSE_PROTOCOL_ERROR);
	rd_done(&t);
}

static void
test_binary_frame_is_one_binary_message(void **state)
{
	static const uint8_t bin[] = { 0x00, 0xff, 0x80, 0xc0, 0x0d, 0x0a };
	uint8_t buf[64];
	struct rd t;
	size_t n;

	(void)state;
	rd_init(&t, 1024);
	n = frame(buf, FIN | WS_OP_BINARY, bin, sizeof(bin));
	expect_event(&t, buf, n, WS_EV_MESSAGE);
	/* Binary payloads need not be UTF-8. */
	expect_message(&t, WS_OP_BINARY, bin, sizeof(bin));
	rd_done(&t);
}

static void
test_ping_is_an_event_with_its_payload(void **state)
{
	uint8_t buf[64];
	struct rd t;
	size_t n;

	(void)state;
	rd_init(&t, 1024);
	n = frame(buf, FIN | WS_OP_PING, "Hello", 5);
	expect_event(&t, buf, n, WS_EV_PING);
	assert_int_equal(t.ev.len, 5);
	assert_memory_equal(t.ev.data, "Hello", 5);
	n = frame(buf, FIN | WS_OP_PING, "", 0);
	expect_event(&t, buf, n, WS_EV_PING);
	assert_int_equal(t.ev.len, 0);
	rd_done(&t);
}

static void
test_masked_pong_from_rfc6455_is_an_event_with_its_payload(void **state)
{
	static const uint8_t pong[] = { 0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d,
	    0x7f, 0x9f, 0x4d, 0x51, 0x58 };
	struct rd t;

	(void)state;
	rd_init(&t, 1024);
	expect_event(&t, pong, sizeof(pong), WS_EV_PONG);
	assert_int_equal(t.ev.len, 5);
	assert_memory_equal(t.ev.data, "Hello", 5);
	rd_done(&t);
}

static void
test_close_gives_code_and_reason(void **state)
{
	uint8_t buf[64];
	struct rd t;
	size_t n;

	(void)state;
	rd_init(&t, 1024);
	n = close_frame(buf, 1001, "bye", 3);
	expect_event(&t, buf, n, WS_EV_CLOSE);
	assert_int_equal(t.ev.close_code, 1001);
	assert_int_equal(t.ev.len, 3);
	assert_memory_equal(t.ev.data, "bye", 3);
	rd_done(&t);
}

static void
test_close_without_payload_reports_no_status_1005(void **state)
{
	uint8_t buf[16];
	struct rd t;
	size_t n;

	(void)state;
	rd_init(&t, 1024);
	n = frame(buf, FIN | WS_OP_CLOSE, "", 0);
	expect_event(&t, buf, n, WS_EV_CLOSE);
	assert_int_equal(t.ev.close_code, WS_CLOSE_NO_STATUS);
	assert_int_equal(t.ev.len, 0);
	rd_done(&t);
}

static void
test_close_with_one_byte_payload_fails_with_1002(void **state)
{
	uint8_t buf[16];
	struct rd t;
	size_t n;

	(void)state;
	rd_init(&t, 1024);
	/* A ping leaves 03 e8 in the scratch: the byte after a one-byte
	 * Close would make code 1000 if it were read. */
	n = frame(buf, FIN | WS_OP_PING, "\x03\xe8", 2);
	expect_event(&t, buf, n, WS_EV_PING);
	n = frame(buf, FIN | WS_OP_CLOSE, "\x03", 1);
	expect_failure(&t, buf, n, WS_CLOSE_PROTOCOL_ERROR);
	rd_done(&t);
}

static void
test_close_codes_that_may_not_be_sent_fail_with_1002(void **state)
{
	static const uint16_t bad[] = { 0, 1, 999, 1004, 1005, 1006, 1015,
	    1016, 1100, 2000, 2999, 5000, 65535 };
	uint8_t buf[64];
	struct rd t;
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rd_init(&t, 1024);
		n = close_frame(buf, bad[i], "", 0);
		expect_failure(&t, buf, n, WS_CLOSE_PROTOCOL_ERROR);
		rd_done(&t);
	}
}

static void
test_close_codes_that_may_be_sent_are_accepted(void **state)
{
	static const uint16_t good[] = { 1000, 1001, 1002, 1003, 1007, 1008,
	    1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999 };
	uint8_t buf[64];
	struct rd t;
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		rd_init(&t, 1024);
		n = close_frame(buf, good[i], "x", 1);
		expect_event(&t, buf, n, WS_EV_CLOSE);
		assert_int_equal(t.ev.close_code, good[i]);
		rd_done(&t);
	}
}

static void
test_close_reason_not_utf8_fails_with_1007(void **state)
{
	uint8_t buf[64];
	struct rd t;
	size_t n;

	(void)state;
	rd_init(&t, 1024);
	n = close_frame(buf, 1000, "ok \xc0\xaf", 5);
	expect_failure(&t, buf, n, WS_CLOSE_INVALID_DATA);
	rd_done(&t);
	rd_init(&t, 1024);
	n = close_frame(buf, 1000, "caf\xc3\xa9", 5);
	expect_event(&t, buf, n, WS_EV_CLOSE);
	assert_memory_equal(t.ev.data, "caf\xc3\xa9", 5);
	rd_done(&t);
}

static void
test_unknown_opcodes_fail_with_1002_on_the_first_byte(void **state)
{
	static const uint8_t unknown[] = { 3, 4, 5, 6, 7, 11, 12, 13, 14, 15 };
	uint8_t buf[16];
	struct rd t;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(unknown); i++) {
		rd_init(&t, 1024);
		buf[0] = FIN | unknown[i];
		expect_failure(&t, buf, 1, WS_CLOSE_PROTOCOL_ERROR);
		rd_done(&t);
	}
}

static void
test_rsv_bits_fail_with_1002_as_no_extension_was_negotiated(void **state)
{
	static const uint8_t rsv[] = { 0x40, 0x20, 0x10 };
	uint8_t buf[64];
	struct rd t;
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(rsv); i++) {
		rd_init(&t, 1024);
		n = frame(buf, FIN | rsv[i] | WS_OP_TEXT, "hi", 2);
		expect_failure(&t, buf, n, WS_CLOSE_PROTOCOL_ERROR);
		rd_done(&t);
	}
}

/* ---- control frame rules (§5.5) ---- */

static void
test_fragmented_control_frames_fail_with_1002(void **state)
{
	static const uint8_t ops[] = { WS_OP_PING, WS_OP_PONG, WS_OP_CLOSE };
	uint8_t buf[64];
	struct rd t;
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(ops); i++) {
		rd_init(&t, 1024);
		n = frame(buf, ops[i], "\x03\xe8", 2);
		expect_failure(&t, buf, n, WS_CLOSE_PROTOCOL_ERROR);
		rd_done(&t);
	}
}

static void
test_control_frame_over_125_bytes_fails_with_1002(void **state)
{
	uint8_t payload[126], buf[160];
	struct rd t;
	size_t n;

	(void)state;
	memset(payload, 'p', sizeof(payload));
	rd_init(&t, 1024);
	n = frame(buf, FIN | WS_OP_PING, payload, 126);
	expect_failure(&t, buf, n, WS_CLOSE_PROTOCOL_ERROR);
	rd_done(&t);
	/* Even a small payload may not use the 16-bit form. */
	rd_init(&t, 1024);
	n = frame_ex(buf, FIN | WS_OP_PONG, MASKED, FORM_16, payload, 5);
	expect_failure(&t, buf, n, WS_CLOSE_PROTOCOL_ERROR);
	rd_done(&t);
}

static void
test_ping_of_125_bytes_is_accepted(void **state)
{
	uint8_t payload[125], buf[160];
	struct rd t;
	size_t n;

	(void)state;
	memset(payload, 'p', sizeof(payload));
	/* Even when messages are bounded below 125 bytes. */
	rd_init(&t, 16);
	n = frame(buf, FIN | WS_OP_PING, payload, 125);
	expect_event(&t, buf, n, WS_EV_PING);
	assert_int_equal(t.ev.len, 125);
	assert_memory_equal(t.ev.data, payload, 125);
	rd_done(&t);
}

/* ---- lengths (§5.2) ---- */

static void
check_length(size_t len, int form, size_t header)
{
	uint8_t *payload, *buf;
	struct rd t;
	size_t i, n;

	payload = malloc(len);
	buf = malloc(len + WS_HEADER_MAX);
	assert_non_null(payload);
	assert_non_null(buf);
	for (i = 0; i < len; i++) {
		payload[i] = (uint8_t)(i * 7);
	}
	rd_init(&t, 1 << 17);
	n = frame_ex(buf, FIN | WS_OP_BINARY, MASKED, form, payload, len);
	assert_int_equal(n, header + len);
	expect_event(&t, buf, n, WS_EV_MESSAGE);
	expect_message(&t, WS_OP_BINARY, payload, len);
	rd_done(&t);
	free(buf);
	free(payload);
}

static void
test_7_bit_lengths_are_read(void **state)
{
	(void)state;
	check_length(1, FORM_MINIMAL, 6);
	check_length(125, FORM_MINIMAL, 6);
}

static void
test_16_bit_lengths_are_read(void **state)
{
	(void)state;
	check_length(126, FORM_MINIMAL, 8);
	check_length(1000, FORM_MINIMAL, 8);
	check_length(65535, FORM_MINIMAL, 8);
}

static void
test_64_bit_lengths_are_read(void **state)
{
	(void)state;
	check_length(65536, FORM_MINIMAL, 14);
	check_length(100000, FORM_MINIMAL, 14);
}

static void
test_64_bit_length_with_top_bit_set_fails_with_1002(void **state)
{
	static const uint8_t head[] = { FIN | WS_OP_BINARY, 0x80 | 127, 0x80,
	    0, 0, 0, 0, 0, 0, 0x10 };
	struct rd t;

	(void)state;
	/* §5.2: the most significant bit MUST be 0; refused before any
	 * mask or payload arrives. */
	rd_init(&t, 1024);
	expect_failure(&t, head, sizeof(head), WS_CLOSE_PROTOCOL_ERROR);
	rd_done(&t);
}

static void
test_non_minimal_lengths_fail_with_1002(void **state)
{
	uint8_t payload[200] = { 0 }, buf[256];
	struct rd t;
	size_t n;

	(void)state;
	/* 125 in the 16-bit form. */
	rd_init(&t, 1 << 17);
	n = frame_ex(buf, FIN | WS_OP_BINARY, MASKED, FORM_16, payload, 125);
	expect_failure(&t, buf, n, WS_CLOSE_PROTOCOL_ERROR);
	rd_done(&t);
	/* 5 and 200 in the 64-bit form. */
	rd_init(&t, 1 << 17);
	n = frame_ex(buf, FIN | WS_OP_BINARY, MASKED, FORM_64, payload, 5);
	expect_failure(&t, buf, n, WS_CLOSE_PROTOCOL_ERROR);
	rd_done(&t);
	rd_init(&t, 1 << 17);
	n = frame_ex(buf, FIN | WS_OP_BINARY, MASKED, FORM_64, payload, 200);
	expect_failure(&t, buf, n, WS_CLOSE_PROTOCOL_ERROR);
	rd_done(&t);
	/* 65535 in the 64-bit form: only the length field is needed. */
	buf[0] = FIN | WS_OP_BINARY;
	buf[1] = 0x80 | 127;
	memcpy(buf + 2, "\0\0\0\0\0\0\xff\xff", 8);
	rd_init(&t, 1 << 17);
	expect_failure(&t, buf, 10, WS_CLOSE_PROTOCOL_ERROR);
	rd_done(&t);
}

/* ---- a frame arriving a byte at a time ---- */

/*
 * Every proper prefix of the frame uses nothing; the whole uses all.  Past
 * its first and before its last 64 bytes a long frame is cut every 1009
 * bytes only: each cut is copied into a buffer of its exact size.
 */
static void
check_split_everywhere(const uint8_t *buf, size_t n,
    enum ws_event_type type)
{
	struct rd t;
	size_t i;

	rd_init(&t, 1 << 17);
	for (i = 0; i < n; i++) {
		if (i > 64 && i + 64 < n && i % 1009 != 0) {
			continue;
		}
		assert_int_equal(rd_next(&t, buf, i), 0);
		assert_int_equal(t.ev.type, WS_EV_NONE);
		assert_int_equal(t.code, 0);
	}
	expect_event(&t, buf, n, type);
	rd_done(&t);
}

static void
test_frame_split_at_every_byte_is_taken_only_when_whole(void **state)
{
	static const uint8_t hello[] = { 0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
	    0x7f, 0x9f, 0x4d, 0x51, 0x58 };
	uint8_t *payload, *buf;
	size_t n;

	(void)state;
	check_split_everywhere(hello, sizeof(hello), WS_EV_MESSAGE);
	payload = calloc(1, 70000);
	buf = malloc(70000 + WS_HEADER_MAX);
	assert_non_null(payload);
	assert_non_null(buf);
	n = frame(buf, FIN | WS_OP_BINARY, payload, 300);
	check_split_everywhere(buf, n, WS_EV_MESSAGE);
	n = frame(buf, FIN | WS_OP_BINARY, payload, 70000);
	check_split_everywhere(buf, n, WS_EV_MESSAGE);
	n = close_frame(buf, 1000, "done", 4);
	check_split_everywhere(buf, n, WS_EV_CLOSE);
	free(buf);
	free(payload);
}

static void
test_two_frames_in_one_buffer_are_taken_one_at_a_time(void **state)
{
	uint8_t buf[64];
	struct rd t;
	size_t a, b;

	(void)state;
	rd_init(&t, 1024);
	a = frame(buf, FIN | WS_OP_TEXT, "one", 3);
	b = frame(buf + a, FIN | WS_OP_TEXT, "two!", 4);
	assert_int_equal(rd_next(&t, buf, a + b), (ssize_t)a);
	expect_message(&t, WS_OP_TEXT, "one", 3);
	assert_int_equal(rd_next(&t, buf + a, b), (ssize_t)b);
	expect_message(&t, WS_OP_TEXT, "two!", 4);
	rd_done(&t);
}

/* ---- fragmentation (§5.4) ---- */

static void
test_fragmented_text_with_ping_between_fragments_is_one_message(void **state)
{
	uint8_t buf[64];
	struct rd t;
	size_t n;

	(void)state;
	rd_init(&t, 1024);
	n = frame(buf, WS_OP_TEXT, "Hel", 3);
	expect_event(&t, buf, n, WS_EV_NONE);
	assert_int_equal(t.r.msg_opcode, WS_OP_TEXT);
	assert_int_equal(t.r.msg_len, 3);
	n = frame(buf, FIN | WS_OP_PING, "are you there", 13);
	expect_event(&t, buf, n, WS_EV_PING);
	assert_memory_equal(t.ev.data, "are you there", 13);
	n = frame(buf, WS_OP_CONTINUATION, "lo", 2);
	expect_event(&t, buf, n, WS_EV_NONE);
	n = frame(buf, FIN | WS_OP_PONG, "x", 1);
	expect_event(&t, buf, n, WS_EV_PONG);
	n = frame(buf, FIN | WS_OP_CONTINUATION, " world", 6);
	expect_event(&t, buf, n, WS_EV_MESSAGE);
	expect_message(&t, WS_OP_TEXT, "Hello world", 11);
	/* Handed out: the reader holds nothing any more. */
	assert_null(t.r.msg);
	assert_int_equal(t.r.msg_opcode, 0);
	assert_int_equal(t.r.msg_len, 0);
	assert_int_equal(t.r.msg_cap, 0);
	/* And the next message starts afresh. */
	n = frame(buf, FIN | WS_OP_TEXT, "next", 4);
	expect_event(&t, buf, n, WS_EV_MESSAGE);
	expect_message(&t, WS_OP_TEXT, "next", 4);
	rd_done(&t);
}

static void
test_close_between_fragments_is_returned(void **state)
{
	uint8_t buf[64];
	struct rd t;
	size_t n;

	(void)state;
	rd_init(&t, 1024);
	n = frame(buf, WS_OP_BINARY, "ab", 2);
	expect_event(&t, buf, n, WS_EV_NONE);
	n = close_frame(buf, 1000, "", 0);
	expect_event(&t, buf, n, WS_EV_CLOSE);
	assert_int_equal(t.ev.close_code, 1000);
	/* The message in progress stays until ws_reader_free(). */
	assert_int_equal(t.r.msg_opcode, WS_OP_BINARY);
	rd_done(&t);
}

static void
test_many_fragments_are_reassembled_in_order(void **state)
{
	uint8_t payload[5000], buf[600];
	struct rd t;
	size_t i, n, off, step;

	(void)state;
	for (i = 0; i < sizeof(payload); i++) {
		payload[i] = (uint8_t)(i * 13 + 5);
	}
	rd_init(&t, sizeof(payload));
	for (off = 0; off < sizeof(payload); off += step) {
		step = 1 + (off * 7) % 500;
		if (off + step > sizeof(payload)) {
			step = sizeof(payload) - off;
		}
		n = frame(buf, (off + step == sizeof(payload) ? FIN : 0) |
		    (off == 0 ? WS_OP_BINARY : WS_OP_CONTINUATION),
		    payload + off, step);
		assert_int_equal(rd_next(&t, buf, n), (ssize_t)n);
		if (off + step < sizeof(payload)) {
			assert_int_equal(t.ev.type, WS_EV_NONE);
			assert_int_equal(t.r.msg_len, off + step);
			assert_true(t.r.msg_cap <= t.max);
		}
	}
	expect_message(&t, WS_OP_BINARY, payload, sizeof(payload));
	assert_null(t.r.msg);
	rd_done(&t);
}

static void
test_continuation_without_message_fails_with_1002(void **state)
{
	uint8_t buf[64];
	struct rd t;
	size_t n;

	(void)state;
	rd_init(&t, 1024);
	n = frame(buf, FIN | WS_OP_CONTINUATION, "x", 1);
	expect_failure(&t, buf, n, WS_CLOSE_PROTOCOL_ERROR);
	rd_done(&t);
	rd_init(&t, 1024);
	n = frame(buf, WS_OP_CONTINUATION, "x", 1);
	expect_failure(&t, buf, n, WS_CLOSE_PROTOCOL_ERROR);
	rd_done(&t);
}

static void
test_new_message_during_fragmented_message_fails_with_1002(void **state)
{
	static const uint8_t ops[] = { WS_OP_TEXT, WS_OP_BINARY };
	uint8_t buf[64];
	struct rd t;
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(ops); i++) {
		rd_init(&t, 1024);
		n = frame(buf, WS_OP_TEXT, "first", 5);
		expect_event(&t, buf, n, WS_EV_NONE);
		assert_non_null(t.r.msg);
		n = frame(buf, FIN | ops[i], "second", 6);
		/* r->msg is freed: valgrind and ASan see no leak. */
		expect_failure(&t, buf, n, WS_CLOSE_PROTOCOL_ERROR);
		rd_done(&t);
	}
}

static void
test_error_in_middle_of_message_frees_it(void **state)
{
	uint8_t buf[64];
	struct rd t;
	size_t n;

	(void)state;
	rd_init(&t, 1024);
	n = frame(buf, WS_OP_BINARY, "part", 4);
	expect_event(&t, buf, n, WS_EV_NONE);
	n = frame_ex(buf, WS_OP_CONTINUATION, UNMASKED, FORM_MINIMAL, "x", 1);
	expect_failure(&t, buf, n, WS_CLOSE_PROTOCOL_ERROR);
	rd_done(&t);
}

/* ---- limits ---- */

static void
test_frame_over_max_message_fails_with_1009_before_its_payload(void **state)
{
	uint8_t payload[1025] = { 0 }, buf[1100];
	struct rd t;
	size_t n;

	(void)state;
	rd_init(&t, 1024);
	n = frame(buf, FIN | WS_OP_BINARY, payload, 1025);
	/* The header alone (2 + 2 bytes) is enough. */
	expect_failure(&t, buf, 4, WS_CLOSE_TOO_BIG);
	rd_done(&t);
	rd_init(&t, 1024);
	expect_failure(&t, buf, n, WS_CLOSE_TOO_BIG);
	rd_done(&t);
	/* A non-final fragment over the limit, too. */
	rd_init(&t, 1024);
	n = frame(buf, WS_OP_TEXT, payload, 1025);
	expect_failure(&t, buf, n, WS_CLOSE_TOO_BIG);
	rd_done(&t);
	/* And a length of 2^63 - 1. */
	memcpy(buf, "\x82\xff\x7f\xff\xff\xff\xff\xff\xff\xff", 10);
	rd_init(&t, 1024);
	expect_failure(&t, buf, 10, WS_CLOSE_TOO_BIG);
	rd_done(&t);
}

static void
test_frame_of_exactly_max_message_is_accepted(void **state)
{
	uint8_t payload[1024], buf[1100];
	struct rd t;
	size_t n;

	(void)state;
	memset(payload, 'a', sizeof(payload));
	rd_init(&t, 1024);
	n = frame(buf, FIN | WS_OP_TEXT, payload, 1024);
	expect_event(&t, buf, n, WS_EV_MESSAGE);
	expect_message(&t, WS_OP_TEXT, payload, 1024);
	rd_done(&t);
}

static void
test_fragmented_message_over_max_message_fails_with_1009(void **state)
{
	uint8_t payload[600] = { 0 }, buf[700];
	struct rd t;
	size_t n;

	(void)state;
	rd_init(&t, 1024);
	n = frame(buf, WS_OP_BINARY, payload, 600);
	expect_event(&t, buf, n, WS_EV_NONE);
	n = frame(buf, WS_OP_CONTINUATION, payload, 424);
	expect_event(&t, buf, n, WS_EV_NONE);
	/* 1024 so far: one more byte is too many, final or not. */
	n = frame(buf, FIN | WS_OP_CONTINUATION, payload, 1);
	expect_failure(&t, buf, n, WS_CLOSE_TOO_BIG);
	rd_done(&t);
}

static void
test_fragmented_message_of_exactly_max_message_is_accepted(void **state)
{
	uint8_t payload[1024], buf[1100];
	struct rd t;
	size_t n;

	(void)state;
	memset(payload, 'z', sizeof(payload));
	rd_init(&t, 1024);
	n = frame(buf, WS_OP_TEXT, payload, 1000);
	expect_event(&t, buf, n, WS_EV_NONE);
	n = frame(buf, FIN | WS_OP_CONTINUATION, payload + 1000, 24);
	expect_event(&t, buf, n, WS_EV_MESSAGE);
	expect_message(&t, WS_OP_TEXT, payload, 1024);
	rd_done(&t);
}

/* ---- empty frames ---- */

static void
test_empty_text_frame_is_an_empty_message(void **state)
{
	uint8_t buf[16];
	struct rd t;
	size_t n;

	(void)state;
	rd_init(&t, 1024);
	n = frame(buf, FIN | WS_OP_TEXT, "", 0);
	expect_event(&t, buf, n, WS_EV_MESSAGE);
	expect_message(&t, WS_OP_TEXT, "", 0);
	n = frame(buf, FIN | WS_OP_BINARY, "", 0);
	expect_event(&t, buf, n, WS_EV_MESSAGE);
	expect_message(&t, WS_OP_BINARY, "", 0);
	rd_done(&t);
}

static void
test_empty_fragments_make_an_empty_message(void **state)
{
	uint8_t buf[16];
	struct rd t;
	size_t n;

	(void)state;
	rd_init(&t, 1024);
	n = frame(buf, WS_OP_TEXT, "", 0);
	expect_event(&t, buf, n, WS_EV_NONE);
	n = frame(buf, WS_OP_CONTINUATION, "", 0);
	expect_event(&t, buf, n, WS_EV_NONE);
	n = frame(buf, FIN | WS_OP_CONTINUATION, "", 0);
	expect_event(&t, buf, n, WS_EV_MESSAGE);
	expect_message(&t, WS_OP_TEXT, "", 0);
	assert_null(t.r.msg);
	rd_done(&t);
}

/* ---- UTF-8 (§8.1) ---- */

static void
test_text_with_valid_utf8_is_accepted(void **state)
{
	(void)state;
	expect_text_verdict("plain ascii", 11, 1);
	expect_text_verdict("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5",
	    11, 1);			/* κόσμε */
	expect_text_verdict("\xc2\x80", 2, 1);		/* U+0080 */
	expect_text_verdict("\xe0\xa0\x80", 3, 1);	/* U+0800 */
	expect_text_verdict("\xed\x9f\xbf", 3, 1);	/* U+D7FF */
	expect_text_verdict("\xee\x80\x80", 3, 1);	/* U+E000 */
	expect_text_verdict("\xef\xbf\xbf", 3, 1);	/* U+FFFF */
	expect_text_verdict("\xf0\x90\x80\x80", 4, 1);	/* U+10000 */
	expect_text_verdict("\xf0\x9f\x98\x80", 4, 1);	/* an emoji */
	expect_text_verdict("\xf4\x8f\xbf\xbf", 4, 1);	/* U+10FFFF */
	expect_text_verdict("nul \0 inside", 12, 1);
}

static void
test_text_with_invalid_utf8_fails_with_1007(void **state)
{
	(void)state;
	expect_text_verdict("\xff", 1, 0);
	expect_text_verdict("\x80", 1, 0);		/* lone continuation */
	expect_text_verdict("\xc0\xaf", 2, 0);		/* overlong '/' */
	expect_text_verdict("\xc1\xbf", 2, 0);		/* overlong */
	expect_text_verdict("\xe0\x80\xaf", 3, 0);	/* overlong '/' */
	expect_text_verdict("\xe0\x9f\xbf", 3, 0);	/* overlong U+07FF */
	expect_text_verdict("\xf0\x80\x80\xaf", 4, 0);	/* overlong '/' */
	expect_text_verdict("\xf0\x8f\xbf\xbf", 4, 0);	/* overlong U+FFFF */
	expect_text_verdict("\xed\xa0\x80", 3, 0);	/* U+D800 */
	expect_text_verdict("\xed\xbf\xbf", 3, 0);	/* U+DFFF */
	expect_text_verdict("\xf4\x90\x80\x80", 4, 0);	/* U+110000 */
	expect_text_verdict("\xf5\x80\x80\x80", 4, 0);
	expect_text_verdict("\xe2\x82", 2, 0);		/* cut short */
	expect_text_verdict("ok\xe2\x82", 4, 0);
	expect_text_verdict("\xe2\x28\xa1", 3, 0);	/* bad second byte */
	expect_text_verdict("\xf0\x90\x28\x80", 4, 0);	/* bad third byte */
}

static void
test_utf8_character_split_across_fragments_is_valid(void **state)
{
	uint8_t buf[32];
	struct rd t;
	size_t n;

	(void)state;
	rd_init(&t, 1024);
	n = frame(buf, WS_OP_TEXT, "5 \xe2", 3);	/* € is E2 82 AC */
	expect_event(&t, buf, n, WS_EV_NONE);
	n = frame(buf, WS_OP_CONTINUATION, "\x82", 1);
	expect_event(&t, buf, n, WS_EV_NONE);
	n = frame(buf, FIN | WS_OP_CONTINUATION, "\xac", 1);
	expect_event(&t, buf, n, WS_EV_MESSAGE);
	expect_message(&t, WS_OP_TEXT, "5 \xe2\x82\xac", 5);
	rd_done(&t);
}

static void
test_fragmented_text_with_invalid_utf8_fails_with_1007(void **state)
{
	uint8_t buf[32];
	struct rd t;
	size_t n;

	(void)state;
	rd_init(&t, 1024);
	n = frame(buf, WS_OP_TEXT, "ab\xe2", 3);
	expect_event(&t, buf, n, WS_EV_NONE);
	n = frame(buf, FIN | WS_OP_CONTINUATION, "\x82", 1);
	expect_failure(&t, buf, n, WS_CLOSE_INVALID_DATA);
	rd_done(&t);
}

static void
test_utf8_validator_agrees_on_edges(void **state)
{
	(void)state;
	assert_true(ws_utf8_valid((const uint8_t *)"", 0));
	assert_true(ws_utf8_valid((const uint8_t *)"\x7f", 1));
	assert_false(ws_utf8_valid((const uint8_t *)"\xf4\x8f\xbf", 3));
	assert_false(ws_utf8_valid((const uint8_t *)"\xc2", 1));
}

/* ---- what the server writes ---- */

static void
test_frame_header_uses_7_16_and_64_bit_lengths(void **state)
{
	uint8_t h[WS_HEADER_MAX];

	(void)state;
	assert_int_equal(ws_frame_header(h, WS_OP_TEXT, 0), 2);
	assert_memory_equal(h, "\x81\x00", 2);
	assert_int_equal(ws_frame_header(h, WS_OP_TEXT, 125), 2);
	assert_memory_equal(h, "\x81\x7d", 2);
	assert_int_equal(ws_frame_header(h, WS_OP_BINARY, 126), 4);
	assert_memory_equal(h, "\x82\x7e\x00\x7e", 4);
	assert_int_equal(ws_frame_header(h, WS_OP_BINARY, 65535), 4);
	assert_memory_equal(h, "\x82\x7e\xff\xff", 4);
	assert_int_equal(ws_frame_header(h, WS_OP_PING, 0), 2);
	assert_memory_equal(h, "\x89\x00", 2);
	assert_int_equal(ws_frame_header(h, WS_OP_CLOSE, 2), 2);
	assert_memory_equal(h, "\x88\x02", 2);
	assert_int_equal(ws_frame_header(h, WS_OP_TEXT, 65536), 10);
	assert_memory_equal(h, "\x81\x7f\0\0\0\0\0\x01\0\0", 10);
	assert_int_equal(ws_frame_header(h, WS_OP_TEXT, UINT64_MAX), 10);
	assert_int_equal(h[2], 0x7f);	/* the top bit stays clear */
}

static void
test_close_payload_holds_code_and_reason(void **state)
{
	uint8_t p[125];

	(void)state;
	assert_int_equal(ws_close_payload(p, sizeof(p), 1002, "bad frame"),
	    11);
	assert_memory_equal(p, "\x03\xea" "bad frame", 11);
	assert_int_equal(ws_close_payload(p, sizeof(p), 1000, NULL), 2);
	assert_memory_equal(p, "\x03\xe8", 2);
	/* Echoing a Close that had no code: an empty payload. */
	assert_int_equal(ws_close_payload(p, sizeof(p), WS_CLOSE_NO_STATUS,
	    "x"), 0);
	assert_int_equal(ws_close_payload(p, 1, 1000, "x"), 0);
	assert_int_equal(ws_close_payload(p, 4, 1000, "abcdef"), 4);
	assert_memory_equal(p, "\x03\xe8" "ab", 4);
}

static void
test_close_payload_reason_is_cut_at_123_bytes_on_a_character(void **state)
{
	char reason[200];
	uint8_t p[200];
	size_t n;

	(void)state;
	memset(reason, 'r', sizeof(reason));
	reason[199] = '\0';
	n = ws_close_payload(p, sizeof(p), 1000, reason);
	assert_int_equal(n, 125);
	/* 122 ASCII bytes then "é" (2 bytes) across the 123rd: it goes. */
	reason[122] = '\xc3';
	reason[123] = '\xa9';
	n = ws_close_payload(p, sizeof(p), 1000, reason);
	assert_int_equal(n, 2 + 122);
	assert_true(ws_utf8_valid(p + 2, n - 2));
	/* The payload is a valid Close to our own reader. */
	{
		uint8_t buf[160];
		struct rd t;
		size_t len;

		len = frame(buf, FIN | WS_OP_CLOSE, p, n);
		rd_init(&t, 1024);
		expect_event(&t, buf, len, WS_EV_CLOSE);
		assert_int_equal(t.ev.close_code, 1000);
		assert_int_equal(t.ev.len, 122);
		rd_done(&t);
	}
}

static void
test_opcode_names(void **state)
{
	(void)state;
	assert_string_equal(ws_opcode_name(WS_OP_CONTINUATION),
	    "continuation");
	assert_string_equal(ws_opcode_name(WS_OP_TEXT), "text");
	assert_string_equal(ws_opcode_name(WS_OP_BINARY), "binary");
	assert_string_equal(ws_opcode_name(WS_OP_CLOSE), "close");
	assert_string_equal(ws_opcode_name(WS_OP_PING), "ping");
	assert_string_equal(ws_opcode_name(WS_OP_PONG), "pong");
	assert_string_equal(ws_opcode_name(3), "unknown");
	assert_string_equal(ws_opcode_name(200), "unknown");
}

static void
test_reader_is_at_most_24_bytes_and_zero_is_ready(void **state)
{
	static const uint8_t hello[] = { 0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
	    0x7f, 0x9f, 0x4d, 0x51, 0x58 };
	struct rd t;

	(void)state;
	assert_true(sizeof(struct ws_reader) <= 24);
	rd_init(&t, 1024);
	expect_event(&t, hello, sizeof(hello), WS_EV_MESSAGE);
	/* ws_reader_free() on an idle reader, twice, is harmless. */
	ws_reader_free(&t.r);
	ws_reader_free(&t.r);
	rd_done(&t);
}

/* ---- randomized robustness ---- */

#define FUZZ_STREAMS		100000
#define FUZZ_SEED		0x5eed6455u
#define FUZZ_STREAM_MAX		8192
#define FUZZ_EVENTS_MAX		64

static uint32_t
fuzz_next(uint32_t *x)
{
	/* xorshift32: every bit random, unlike a short LCG's low bits. */
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return (*x);
}

/*
 * UTF-8 the other way round from ws_utf8_valid(): decode each code point
 * and refuse the overlong, the surrogates and those past U+10FFFF.
 */
static int
ref_utf8_valid(const uint8_t *p, size_t n)
{
	static const uint32_t min[] = { 0, 0x80, 0x800, 0x10000 };
	size_t i = 0, j, k;
	uint32_t cp;

	while (i < n) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if ((p[i] & 0xe0) == 0xc0) {
			k = 1;
			cp = p[i] & 0x1f;
		} else if ((p[i] & 0xf0) == 0xe0) {
			k = 2;
			cp = p[i] & 0x0f;
		} else if ((p[i] & 0xf8) == 0xf0) {
			k = 3;
			cp = p[i] & 0x07;
		} else {
			return (0);
		}
		if (n - i <= k) {
			return (0);
		}
		for (j = 1; j <= k; j++) {
			if ((p[i + j] & 0xc0) != 0x80) {
				return (0);
			}
			cp = cp << 6 | (p[i + j] & 0x3f);
		}
		if (cp < min[k] || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff)) {
			return (0);
		}
		i += k + 1;
	}
	return (1);
}

static void
test_utf8_validator_agrees_with_a_decoder_on_random_bytes(void **state)
{
	/* Bytes around every boundary the rules care about. */
	static const uint8_t pick[] = { 0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90,
	    0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xec, 0xed,
	    0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xf8, 0xff };
	uint32_t x = FUZZ_SEED;
	uint8_t b[6];
	size_t i, j, n;

	(void)state;
	for (i = 0; i < 200000; i++) {
		n = fuzz_next(&x) % (sizeof(b) + 1);
		for (j = 0; j < n; j++) {
			b[j] = pick[fuzz_next(&x) % sizeof(pick)];
		}
		assert_int_equal(ws_utf8_valid(b, n), ref_utf8_valid(b, n));
	}
}

/* One frame's expected event. */
struct fuzz_event {
	enum ws_event_type type;
	uint8_t opcode;
	uint16_t close_code;
	size_t off;		/* where its payload starts in `data` */
	size_t len;
};

/* A stream of valid frames and the events it must give. */
struct fuzz_stream {
	uint8_t bytes[FUZZ_STREAM_MAX];
	size_t len;
	uint8_t data[FUZZ_STREAM_MAX];	/* the payloads, in event order */
	size_t data_len;
	struct fuzz_event ev[FUZZ_EVENTS_MAX];
	size_t nev;
};

static size_t
utf8_encode(uint32_t cp, uint8_t *out)
{
	if (cp < 0x80) {
		out[0] = (uint8_t)cp;
		return (1);
	}
	if (cp < 0x800) {
		out[0] = (uint8_t)(0xc0 | cp >> 6);
		out[1] = (uint8_t)(0x80 | (cp & 0x3f));
		return (2);
	}
	if (cp < 0x10000) {
		out[0] = (uint8_t)(0xe0 | cp >> 12);
		out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (uint8_t)(0x80 | (cp & 0x3f));
		return (3);
	}
	out[0] = (uint8_t)(0xf0 | cp >> 18);
	out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (uint8_t)(0x80 | (cp & 0x3f));
	return (4);
}

/* A random scalar value: ASCII most often, then 2, 3 and 4 bytes. */
static uint32_t
random_code_point(uint32_t *x)
{
	uint32_t cp;

	switch (fuzz_next(x) % 4) {
	case 0:
		return (0x80 + fuzz_next(x) % 0x780);
	case 1:
		cp = 0x800 + fuzz_next(x) % 0xf800;
		return (cp >= 0xd800 && cp <= 0xdfff ? cp - 0x800 : cp);
	case 2:
		return (0x10000 + fuzz_next(x) % 0x100000);
	default:
		return (fuzz_next(x) % 0x80);
	}
}

/* `len` bytes of UTF-8 text, or of anything for a binary message. */
static void
random_payload(uint32_t *x, uint8_t opcode, uint8_t *p, size_t len)
{
	uint8_t enc[4];
	size_t i = 0, n;

	while (i < len) {
		if (opcode != WS_OP_TEXT) {
			p[i++] = (uint8_t)fuzz_next(x);
			continue;
		}
		n = utf8_encode(random_code_point(x), enc);
		if (n > len - i) {
			enc[0] = 'a';
			n = 1;
		}
		memcpy(p + i, enc, n);
		i += n;
	}
}

/* Append one masked frame (random key) and its expected event. */
static void
stream_frame(uint32_t *x, struct fuzz_stream *s, uint8_t b0,
    const uint8_t *payload, size_t len, struct fuzz_event ev)
{
	uint8_t k[4], *out;
	size_t i;

	assert_true(s->nev < FUZZ_EVENTS_MAX);
	assert_true(s->len + WS_HEADER_MAX + len <= FUZZ_STREAM_MAX);
	out = s->bytes + s->len;
	*out++ = b0;
	if (len > 125) {
		*out++ = 0x80 | 126;
		*out++ = (uint8_t)(len >> 8);
		*out++ = (uint8_t)len;
	} else {
		*out++ = 0x80 | (uint8_t)len;
	}
	for (i = 0; i < 4; i++) {
		k[i] = (uint8_t)fuzz_next(x);
		*out++ = k[i];
	}
	for (i = 0; i < len; i++) {
		*out++ = payload[i] ^ k[i & 3];
	}
	s->len = (size_t)(out - s->bytes);
	s->ev[s->nev++] = ev;
}

static void
stream_control(uint32_t *x, struct fuzz_stream *s)
{
	struct fuzz_event ev = { 0 };
	uint8_t *p = s->data + s->data_len;
	uint8_t opcode = fuzz_next(x) % 2 ? WS_OP_PING : WS_OP_PONG;

	ev.type = opcode == WS_OP_PING ? WS_EV_PING : WS_EV_PONG;
	ev.off = s->data_len;
	ev.len = fuzz_next(x) % (WS_CONTROL_MAX + 1);
	random_payload(x, WS_OP_BINARY, p, ev.len);
	s->data_len += ev.len;
	stream_frame(x, s, FIN | opcode, p, ev.len, ev);
}

/* A message of at most `max` bytes in 1-4 fragments, controls between. */
static void
stream_message(uint32_t *x, struct fuzz_stream *s, size_t max)
{
	struct fuzz_event none = { 0 }, ev = { 0 };
	uint8_t *p = s->data + s->data_len;
	size_t nfrag, i, at = 0, n;

	ev.type = WS_EV_MESSAGE;
	ev.opcode = fuzz_next(x) % 2 ? WS_OP_TEXT : WS_OP_BINARY;
	ev.off = s->data_len;
	ev.len = fuzz_next(x) % (max + 1);
	random_payload(x, ev.opcode, p, ev.len);
	s->data_len += ev.len;
	nfrag = 1 + fuzz_next(x) % 4;
	for (i = 0; i < nfrag; i++) {
		n = i + 1 == nfrag ? ev.len - at :
		    fuzz_next(x) % (ev.len - at + 1);
		stream_frame(x, s, (i + 1 == nfrag ? FIN : 0) |
		    (i == 0 ? ev.opcode : WS_OP_CONTINUATION), p + at, n,
		    i + 1 == nfrag ? ev : none);
		at += n;
		if (i + 1 < nfrag && fuzz_next(x) % 3 == 0) {
			stream_control(x, s);
		}
	}
}

static void
stream_close(uint32_t *x, struct fuzz_stream *s)
{
	static const uint16_t codes[] = { 1000, 1001, 1002, 1003, 1007, 1008,
	    1009, 1010, 1011, 3000, 4999 };
	struct fuzz_event ev = { 0 };
	uint8_t *p = s->data + s->data_len;

	ev.type = WS_EV_CLOSE;
	ev.close_code = WS_CLOSE_NO_STATUS;
	if (fuzz_next(x) % 4 == 0) {
		stream_frame(x, s, FIN | WS_OP_CLOSE, p, 0, ev);
		return;
	}
	ev.close_code = codes[fuzz_next(x) % (sizeof(codes) /
	    sizeof(codes[0]))];
	p[0] = (uint8_t)(ev.close_code >> 8);
	p[1] = (uint8_t)ev.close_code;
	ev.len = fuzz_next(x) % (WS_CLOSE_REASON_MAX + 1);
	random_payload(x, WS_OP_TEXT, p + 2, ev.len);
	ev.off = s->data_len + 2;
	s->data_len += 2 + ev.len;
	stream_frame(x, s, FIN | WS_OP_CLOSE, p, 2 + ev.len, ev);
}

static void
random_stream(uint32_t *x, struct fuzz_stream *s, size_t max)
{
	size_t i, n = 1 + fuzz_next(x) % 4;

	s->len = s->data_len = s->nev = 0;
	for (i = 0; i < n; i++) {
		if (fuzz_next(x) % 4 == 0) {
			stream_control(x, s);
		} else {
			stream_message(x, s, max);
		}
	}
	if (fuzz_next(x) % 2 == 0) {
		stream_close(x, s);
	}
}

/* One to three changes: a byte replaced, a bit flipped, a cut, a byte in. */
static void
mutate(uint32_t *x, struct fuzz_stream *s)
{
	size_t i, n = 1 + fuzz_next(x) % 3, at;

	for (i = 0; i < n && s->len > 0; i++) {
		at = fuzz_next(x) % s->len;
		switch (fuzz_next(x) % 4) {
		case 0:
			s->bytes[at] = (uint8_t)fuzz_next(x);
			break;
		case 1:
			s->bytes[at] ^= (uint8_t)(1u << fuzz_next(x) % 8);
			break;
		case 2:
			s->len = at;
			break;
		default:
			if (s->len < FUZZ_STREAM_MAX) {
				memmove(s->bytes + at + 1, s->bytes + at,
				    s->len - at);
				s->bytes[at] = (uint8_t)fuzz_next(x);
				s->len++;
			}
			break;
		}
	}
}

static int
close_code_sendable(uint16_t c)
{
	return ((c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) ||
	    (c >= 3000 && c <= 4999));
}

/* What any answer must look like, whatever the bytes. */
static void
check_sane(const struct rd *t, ssize_t n, size_t avail)
{
	const struct ws_reader *r = &t->r;

	assert_true(n >= -1 && n <= (ssize_t)avail);
	if (n == -1) {
		assert_true(t->code == WS_CLOSE_PROTOCOL_ERROR ||
		    t->code == WS_CLOSE_INVALID_DATA ||
		    t->code == WS_CLOSE_TOO_BIG);
		assert_int_equal(t->ev.type, WS_EV_NONE);
		assert_null(r->msg);
		assert_int_equal(r->msg_opcode, 0);
		return;
	}
	assert_int_equal(t->code, 0);
	assert_true(r->msg_len <= r->msg_cap || r->msg_cap == 0);
	assert_true(r->msg_cap <= t->max);
	assert_true(r->msg_opcode == 0 || r->msg_opcode == WS_OP_TEXT ||
	    r->msg_opcode == WS_OP_BINARY);
	if (r->msg_opcode == 0) {
		assert_null(r->msg);
		assert_int_equal(r->msg_len, 0);
	}
	if (n == 0) {
		assert_int_equal(t->ev.type, WS_EV_NONE);
		return;
	}
	switch (t->ev.type) {
	case WS_EV_NONE:
		break;
	case WS_EV_MESSAGE:
		assert_true(t->ev.len <= t->max);
		assert_true(t->ev.opcode == WS_OP_TEXT ||
		    t->ev.opcode == WS_OP_BINARY);
		assert_ptr_equal(t->ev.data, t->out);
		if (t->ev.opcode == WS_OP_TEXT) {
			assert_true(ref_utf8_valid(t->ev.data, t->ev.len));
		}
		break;
	case WS_EV_PING:
	case WS_EV_PONG:
		assert_true(t->ev.len <= WS_CONTROL_MAX);
		break;
	case WS_EV_CLOSE:
		assert_true(t->ev.close_code == WS_CLOSE_NO_STATUS ?
		    t->ev.len == 0 : close_code_sendable(t->ev.close_code));
		assert_true(ref_utf8_valid(t->ev.data, t->ev.len));
		break;
	default:
		fail_msg("event type %d", (int)t->ev.type);
	}
}

static void
check_event(const struct rd *t, const struct fuzz_stream *s, size_t k)
{
	const struct fuzz_event *e = &s->ev[k];

	assert_true(k < s->nev);
	assert_int_equal(t->ev.type, e->type);
	if (e->type == WS_EV_NONE) {
		return;
	}
	assert_int_equal(t->ev.len, e->len);
	if (e->len > 0) {
		assert_memory_equal(t->ev.data, s->data + e->off, e->len);
	}
	if (e->type == WS_EV_MESSAGE) {
		assert_int_equal(t->ev.opcode, e->opcode);
	}
	if (e->type == WS_EV_CLOSE) {
		assert_int_equal(t->ev.close_code, e->close_code);
	}
}

/*
 * Feed the stream as a socket would, a random number of bytes at a time,
 * the unused tail kept.  An unchanged stream must give exactly its events;
 * any stream only sane answers.
 */
static void
feed_stream(uint32_t *x, struct rd *t, const struct fuzz_stream *s,
    int intact)
{
	size_t off = 0, avail = 0, k = 0, more;
	ssize_t n;

	while (off < s->len) {
		if (avail < s->len) {
			more = fuzz_next(x) % 3 == 0 ? s->len - avail :
			    1 + fuzz_next(x) % 64;
			avail += more < s->len - avail ? more : s->len - avail;
		}
		n = rd_next(t, s->bytes + off, avail - off);
		check_sane(t, n, avail - off);
		if (n == -1) {
			assert_false(intact);
			return;
		}
		if (n == 0 && avail == s->len) {
			assert_false(intact);
			return;
		}
		if (n > 0) {
			if (intact) {
				check_event(t, s, k++);
			}
			off += (size_t)n;
		}
	}
	if (intact) {
		assert_int_equal(k, s->nev);
	}
}

static void
test_random_and_mutated_frames_give_sane_answers_and_leak_nothing(
    void **state)
{
	static const size_t maxes[] = { 64, 200, 1000 };
	struct fuzz_stream *s;
	uint32_t x = FUZZ_SEED;
	size_t i, j, kind;
	struct rd t;

	(void)state;
	s = malloc(sizeof(*s));
	assert_non_null(s);
	for (i = 0; i < FUZZ_STREAMS; i++) {
		rd_init(&t, maxes[fuzz_next(&x) % 3]);
		kind = fuzz_next(&x) % 8;
		random_stream(&x, s, t.max);
		if (kind == 0) {
			/* Junk: random bytes, random length. */
			s->len = fuzz_next(&x) % 64;
			for (j = 0; j < s->len; j++) {
				s->bytes[j] = (uint8_t)fuzz_next(&x);
			}
		} else if (kind < 5) {
			mutate(&x, s);
		}
		feed_stream(&x, &t, s, kind >= 5);
		rd_done(&t);
	}
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    test_masked_hello_from_rfc6455_is_one_text_message),
		cmocka_unit_test(
		    test_unmasked_hello_from_rfc6455_fails_with_1002),
		cmocka_unit_test(test_binary_frame_is_one_binary_message),
		cmocka_unit_test(test_ping_is_an_event_with_its_payload),
		cmocka_unit_test(
		    test_masked_pong_from_rfc6455_is_an_event_with_its_payload),
		cmocka_unit_test(test_close_gives_code_and_reason),
		cmocka_unit_test(
		    test_close_without_payload_reports_no_status_1005),
		cmocka_unit_test(
		    test_close_with_one_byte_payload_fails_with_1002),
		cmocka_unit_test(
		    test_close_codes_that_may_not_be_sent_fail_with_1002),
		cmocka_unit_test(
		    test_close_codes_that_may_be_sent_are_accepted),
		cmocka_unit_test(test_close_reason_not_utf8_fails_with_1007),
		cmocka_unit_test(
		    test_unknown_opcodes_fail_with_1002_on_the_first_byte),
		cmocka_unit_test(
		    test_rsv_bits_fail_with_1002_as_no_extension_was_negotiated),
		cmocka_unit_test(
		    test_fragmented_control_frames_fail_with_1002),
		cmocka_unit_test(
		    test_control_frame_over_125_bytes_fails_with_1002),
		cmocka_unit_test(test_ping_of_125_bytes_is_accepted),
		cmocka_unit_test(test_7_bit_lengths_are_read),
		cmocka_unit_test(test_16_bit_lengths_are_read),
		cmocka_unit_test(test_64_bit_lengths_are_read),
		cmocka_unit_test(
		    test_64_bit_length_with_top_bit_set_fails_with_1002),
		cmocka_unit_test(test_non_minimal_lengths_fail_with_1002),
		cmocka_unit_test(
		    test_frame_split_at_every_byte_is_taken_only_when_whole),
		cmocka_unit_test(
		    test_two_frames_in_one_buffer_are_taken_one_at_a_time),
		cmocka_unit_test(
		    test_fragmented_text_with_ping_between_fragments_is_one_message),
		cmocka_unit_test(test_close_between_fragments_is_returned),
		cmocka_unit_test(test_many_fragments_are_reassembled_in_order),
		cmocka_unit_test(
		    test_continuation_without_message_fails_with_1002),
		cmocka_unit_test(
		    test_new_message_during_fragmented_message_fails_with_1002),
		cmocka_unit_test(test_error_in_middle_of_message_frees_it),
		cmocka_unit_test(
		    test_frame_over_max_message_fails_with_1009_before_its_payload),
		cmocka_unit_test(
		    test_frame_of_exactly_max_message_is_accepted),
		cmocka_unit_test(
		    test_fragmented_message_over_max_message_fails_with_1009),
		cmocka_unit_test(
		    test_fragmented_message_of_exactly_max_message_is_accepted),
		cmocka_unit_test(test_empty_text_frame_is_an_empty_message),
		cmocka_unit_test(test_empty_fragments_make_an_empty_message),
		cmocka_unit_test(test_text_with_valid_utf8_is_accepted),
		cmocka_unit_test(test_text_with_invalid_utf8_fails_with_1007),
		cmocka_unit_test(
		    test_utf8_character_split_across_fragments_is_valid),
		cmocka_unit_test(
		    test_fragmented_text_with_invalid_utf8_fails_with_1007),
		cmocka_unit_test(test_utf8_validator_agrees_on_edges),
		cmocka_unit_test(
		    test_frame_header_uses_7_16_and_64_bit_lengths),
		cmocka_unit_test(test_close_payload_holds_code_and_reason),
		cmocka_unit_test(
		    test_close_payload_reason_is_cut_at_123_bytes_on_a_character),
		cmocka_unit_test(test_opcode_names),
		cmocka_unit_test(
		    test_reader_is_at_most_24_bytes_and_zero_is_ready),
		cmocka_unit_test(
		    test_utf8_validator_agrees_with_a_decoder_on_random_bytes),
		cmocka_unit_test(
		    test_random_and_mutated_frames_give_sane_answers_and_leak_nothing),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
