/*
 * wire_test.c -- the byte codecs of common/wire.c and include/epsip/wire.h:
 * integers big-endian, reads and writes that stop at the buffer's end and
 * stay failed, the exact-length check, and the one encoding of an address
 * the IPC envelope and the flow-manager's control messages share; and
 * epsip_addr_is_any(), which replaced the wildcard checks six files had
 * written out for themselves.
 *
 * Expected bytes are spelt out literally, never produced by the code under
 * test, so a codec that is wrong both ways cannot pass.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <netinet/in.h>

#include "epsip/config.h"
#include "epsip/ipc.h"
#include "epsip/wire.h"

static void
addr(struct epsip_addr *a, const char *text)
{
	assert_int_equal(config_parse_addr(text, 5060, a), 0);
}

/* 0xab, 0x1234, 0xdeadbeef and 0x0123456789abcdef, one after the other. */
static const uint8_t integers[] = {
	0xab,
	0x12, 0x34,
	0xde, 0xad, 0xbe, 0xef,
	0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
};

static void
test_integers_go_out_in_network_byte_order(void **state)
{
	uint8_t buf[sizeof(integers)];
	struct wire_writer w;

	(void)state;
	wire_writer_init(&w, buf, sizeof(buf));
	wire_put_u8(&w, 0xab);
	wire_put_u16(&w, 0x1234);
	wire_put_u32(&w, 0xdeadbeefu);
	wire_put_u64(&w, 0x0123456789abcdefull);
	assert_int_equal(wire_write_end(&w), 0);
	assert_int_equal(wire_written(&w), sizeof(integers));
	assert_memory_equal(buf, integers, sizeof(integers));
}

static void
test_integers_read_back_from_network_byte_order(void **state)
{
	struct wire_reader r;

	(void)state;
	wire_reader_init(&r, integers, sizeof(integers));
	assert_int_equal(wire_get_u8(&r), 0xab);
	assert_int_equal(wire_get_u16(&r), 0x1234);
	assert_int_equal(wire_get_u32(&r), 0xdeadbeefu);
	assert_true(wire_get_u64(&r) == 0x0123456789abcdefull);
	assert_int_equal(wire_read_end(&r), 0);
}

static void
test_load_and_store_use_network_byte_order(void **state)
{
	uint8_t buf[8];

	(void)state;
	wire_store_u16(buf, 0x0102);
	assert_memory_equal(buf, "\x01\x02", 2);
	wire_store_u32(buf, 0x01020304u);
	assert_memory_equal(buf, "\x01\x02\x03\x04", 4);
	wire_store_u64(buf, 0x0102030405060708ull);
	assert_memory_equal(buf, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	assert_int_equal(wire_load_u16((const uint8_t *)"\xff\x01"), 0xff01);
	assert_int_equal(wire_load_u32((const uint8_t *)"\x80\x00\x00\x01"),
	    0x80000001u);
	assert_true(wire_load_u64(
	    (const uint8_t *)"\x80\x00\x00\x00\x00\x00\x00\x01") ==
	    0x8000000000000001ull);
}

static void
test_bytes_and_skip_move_through_the_buffer(void **state)
{
	static const uint8_t in[] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	struct wire_reader r;
	uint8_t out[3];
	const uint8_t *p;

	(void)state;
	wire_reader_init(&r, in, sizeof(in));
	wire_get_bytes(&r, out, sizeof(out));
	assert_memory_equal(out, "\x01\x02\x03", 3);
	wire_skip(&r, 2);
	assert_int_equal(wire_remaining(&r), 3);
	p = wire_get_ptr(&r, 3);
	assert_ptr_equal(p, in + 5);
	assert_int_equal(wire_remaining(&r), 0);
	assert_int_equal(wire_read_end(&r), 0);
}

static void
test_reading_past_the_end_fails_and_stays_failed(void **state)
{
	static const uint8_t in[] = { 0x11, 0x22, 0x33 };
	struct wire_reader r;

	(void)state;
	wire_reader_init(&r, in, sizeof(in));
	assert_int_equal(wire_get_u16(&r), 0x1122);
	assert_false(wire_read_failed(&r));
	/* Two bytes wanted, one left: nothing of it is read. */
	assert_int_equal(wire_get_u16(&r), 0);
	assert_true(wire_read_failed(&r));
	assert_int_equal(wire_remaining(&r), 0);
	/* The byte that was there is not handed out afterwards either. */
	assert_int_equal(wire_get_u8(&r), 0);
	assert_null(wire_get_ptr(&r, 0));
	assert_true(wire_read_failed(&r));
	assert_int_equal(wire_read_end(&r), -1);
	/* Skipping past the end is reading past it. */
	wire_reader_init(&r, in, sizeof(in));
	wire_skip(&r, sizeof(in) + 1);
	assert_true(wire_read_failed(&r));
	assert_int_equal(wire_get_u8(&r), 0);
}

static void
test_a_failed_read_yields_zeroes(void **state)
{
	static const uint8_t in[] = { 0xff, 0xff, 0xff };
	struct wire_reader r;
	uint8_t out[4];

	(void)state;
	wire_reader_init(&r, in, sizeof(in));
	assert_int_equal(wire_get_u32(&r), 0);
	wire_reader_init(&r, in, sizeof(in));
	assert_true(wire_get_u64(&r) == 0);
	wire_reader_init(&r, in, sizeof(in));
	memset(out, 0xee, sizeof(out));
	wire_get_bytes(&r, out, sizeof(out));
	assert_memory_equal(out, "\0\0\0\0", 4);
	assert_true(wire_read_failed(&r));
}

static void
test_read_end_fails_when_bytes_are_left_over(void **state)
{
	struct wire_reader r;

	(void)state;
	wire_reader_init(&r, "\x00\x01\x02", 3);
	wire_skip(&r, 2);
	assert_false(wire_read_failed(&r));
	assert_int_equal(wire_read_end(&r), -1);
	/* ... and the reader has failed for good. */
	assert_true(wire_read_failed(&r));
	assert_int_equal(wire_get_u8(&r), 0);
}

static void
test_an_empty_buffer_read_to_nothing_ends_cleanly(void **state)
{
	struct wire_reader r;

	(void)state;
	wire_reader_init(&r, "", 0);
	assert_int_equal(wire_remaining(&r), 0);
	assert_int_equal(wire_read_end(&r), 0);
}

static void
test_blob_is_its_length_then_its_bytes(void **state)
{
	static const uint8_t in[] = {
		0x00, 0x00, 0x00, 0x03, 'a', 'b', 'c',
		0x00, 0x00, 0x00, 0x00,
	};
	struct wire_reader r;
	const uint8_t *p;
	uint32_t n;

	(void)state;
	wire_reader_init(&r, in, sizeof(in));
	p = wire_get_blob(&r, &n);
	assert_int_equal(n, 3);
	assert_ptr_equal(p, in + 4);
	/* An empty blob is a blob. */
	p = wire_get_blob(&r, &n);
	assert_non_null(p);
	assert_int_equal(n, 0);
	assert_int_equal(wire_read_end(&r), 0);
}

static void
test_blob_longer_than_what_is_left_fails(void **state)
{
	static const uint8_t in[] = { 0x00, 0x00, 0x00, 0x04, 'a', 'b', 'c' };
	struct wire_reader r;
	uint32_t n = 99;

	(void)state;
	wire_reader_init(&r, in, sizeof(in));
	assert_null(wire_get_blob(&r, &n));
	assert_int_equal(n, 0);
	assert_true(wire_read_failed(&r));
	/* A length prefix cut short fails the same way. */
	wire_reader_init(&r, in, 3);
	assert_null(wire_get_blob(&r, &n));
	assert_true(wire_read_failed(&r));
}

static void
test_writing_past_the_end_fails_writes_nothing_and_stays_failed(void **state)
{
	uint8_t buf[8];
	struct wire_writer w;

	(void)state;
	memset(buf, 0xee, sizeof(buf));
	wire_writer_init(&w, buf, 3);
	wire_put_u16(&w, 0x0102);
	/* Two bytes wanted, one byte of room: none of it is written. */
	wire_put_u16(&w, 0x0304);
	assert_int_equal(wire_write_end(&w), -1);
	/* Not even what would have fitted. */
	wire_put_u8(&w, 0x05);
	wire_put_bytes(&w, "x", 1);
	wire_put_zero(&w, 1);
	assert_null(wire_put_ptr(&w, 0));
	assert_int_equal(wire_write_end(&w), -1);
	assert_int_equal(wire_written(&w), 2);
	assert_memory_equal(buf, "\x01\x02\xee\xee", 4);
}

static void
test_put_ptr_reserves_room_the_caller_fills(void **state)
{
	uint8_t buf[6];
	struct wire_writer w;
	uint8_t *p;

	(void)state;
	wire_writer_init(&w, buf, sizeof(buf));
	wire_put_u8(&w, 0xaa);
	p = wire_put_ptr(&w, 3);
	assert_ptr_equal(p, buf + 1);
	memcpy(p, "xyz", 3);
	wire_put_zero(&w, 2);
	assert_int_equal(wire_write_end(&w), 0);
	assert_int_equal(wire_written(&w), 6);
	assert_memory_equal(buf, "\xaaxyz\0\0", 6);
}

static void
test_ipv4_address_is_family_port_and_a_zero_tail(void **state)
{
	static const uint8_t want[WIRE_ADDR_SIZE] = {
		AF_INET, 0x13, 0xc4, 192, 0, 2, 1,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	};
	struct epsip_addr a;
	uint8_t buf[WIRE_ADDR_SIZE];
	struct wire_writer w;

	(void)state;
	addr(&a, "192.0.2.1:5060");
	/* Whatever sits past the four bytes IPv4 uses does not go out. */
	memset(a.ip + 4, 0x99, sizeof(a.ip) - 4);
	wire_writer_init(&w, buf, sizeof(buf));
	wire_put_addr(&w, &a);
	assert_int_equal(wire_write_end(&w), 0);
	assert_int_equal(wire_written(&w), WIRE_ADDR_SIZE);
	assert_memory_equal(buf, want, sizeof(want));
}

static void
test_ipv6_address_round_trips(void **state)
{
	static const uint8_t want[WIRE_ADDR_SIZE] = {
		AF_INET6, 0x9c, 0x40,
		0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x07,
	};
	struct epsip_addr a, b;
	uint8_t buf[WIRE_ADDR_SIZE];
	struct wire_writer w;
	struct wire_reader r;

	(void)state;
	addr(&a, "[2001:db8::7]:40000");
	wire_writer_init(&w, buf, sizeof(buf));
	wire_put_addr(&w, &a);
	assert_memory_equal(buf, want, sizeof(want));
	wire_reader_init(&r, buf, sizeof(buf));
	wire_get_addr(&r, &b);
	assert_int_equal(wire_read_end(&r), 0);
	assert_int_equal(b.family, AF_INET6);
	assert_int_equal(b.port, 40000);
	assert_memory_equal(b.ip, a.ip, sizeof(a.ip));
}

static void
test_address_read_zeroes_what_its_family_does_not_use(void **state)
{
	static const uint8_t in[WIRE_ADDR_SIZE] = {
		AF_INET, 0x00, 0x50, 10, 1, 2, 3,
		9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9,
	};
	struct epsip_addr a, want;
	struct wire_reader r;
	size_t i;

	(void)state;
	memset(&a, 0xee, sizeof(a));
	wire_reader_init(&r, in, sizeof(in));
	wire_get_addr(&r, &a);
	assert_int_equal(wire_read_end(&r), 0);
	assert_int_equal(a.family, AF_INET);
	assert_int_equal(a.port, 80);
	assert_memory_equal(a.ip, "\x0a\x01\x02\x03", 4);
	for (i = 4; i < sizeof(a.ip); i++) {
		assert_int_equal(a.ip[i], 0);
	}
	addr(&want, "10.1.2.3:80");
	assert_true(epsip_addr_equal(&a, &want));
}

static void
test_address_cut_short_fails_the_read(void **state)
{
	uint8_t buf[WIRE_ADDR_SIZE];
	struct epsip_addr a;
	struct wire_writer w;
	struct wire_reader r;

	(void)state;
	addr(&a, "[2001:db8::1]:5060");
	wire_writer_init(&w, buf, sizeof(buf) - 1);
	wire_put_addr(&w, &a);
	assert_int_equal(wire_write_end(&w), -1);
	wire_writer_init(&w, buf, sizeof(buf));
	wire_put_addr(&w, &a);
	wire_reader_init(&r, buf, sizeof(buf) - 1);
	wire_get_addr(&r, &a);
	assert_true(wire_read_failed(&r));
}

static void
test_wildcard_addresses_are_any_and_others_are_not(void **state)
{
	struct epsip_addr a;

	(void)state;
	addr(&a, "0.0.0.0:5060");
	assert_true(epsip_addr_is_any(&a));
	addr(&a, "[::]:5060");
	assert_true(epsip_addr_is_any(&a));
	/* The port does not count. */
	a.port = 0;
	assert_true(epsip_addr_is_any(&a));
	addr(&a, "192.0.2.1:5060");
	assert_false(epsip_addr_is_any(&a));
	addr(&a, "[::1]:5060");
	assert_false(epsip_addr_is_any(&a));
	/* IPv4 looks at its four bytes only. */
	addr(&a, "0.0.0.0:5060");
	a.ip[15] = 1;
	assert_true(epsip_addr_is_any(&a));
	/* IPv6 looks at all sixteen: ::0.0.0.1 is not the wildcard. */
	addr(&a, "[::]:5060");
	a.ip[15] = 1;
	assert_false(epsip_addr_is_any(&a));
	/* No family: all of ip decides. */
	memset(&a, 0, sizeof(a));
	assert_true(epsip_addr_is_any(&a));
	a.ip[12] = 1;
	assert_false(epsip_addr_is_any(&a));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_integers_go_out_in_network_byte_order),
		cmocka_unit_test(
		    test_integers_read_back_from_network_byte_order),
		cmocka_unit_test(test_load_and_store_use_network_byte_order),
		cmocka_unit_test(test_bytes_and_skip_move_through_the_buffer),
		cmocka_unit_test(
		    test_reading_past_the_end_fails_and_stays_failed),
		cmocka_unit_test(test_a_failed_read_yields_zeroes),
		cmocka_unit_test(test_read_end_fails_when_bytes_are_left_over),
		cmocka_unit_test(
		    test_an_empty_buffer_read_to_nothing_ends_cleanly),
		cmocka_unit_test(test_blob_is_its_length_then_its_bytes),
		cmocka_unit_test(test_blob_longer_than_what_is_left_fails),
		cmocka_unit_test(
		    test_writing_past_the_end_fails_writes_nothing_and_stays_failed),
		cmocka_unit_test(test_put_ptr_reserves_room_the_caller_fills),
		cmocka_unit_test(
		    test_ipv4_address_is_family_port_and_a_zero_tail),
		cmocka_unit_test(test_ipv6_address_round_trips),
		cmocka_unit_test(
		    test_address_read_zeroes_what_its_family_does_not_use),
		cmocka_unit_test(test_address_cut_short_fails_the_read),
		cmocka_unit_test(
		    test_wildcard_addresses_are_any_and_others_are_not),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
