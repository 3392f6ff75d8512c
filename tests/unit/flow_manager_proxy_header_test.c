/*
 * flow_manager_proxy_header_test.c -- the PROXY protocol header a load
 * balancer sends first (services/flow-manager/proxy_header.c): v1 and v2
 * as HAProxy writes them, every way a header can be cut short, too long
 * or wrong, and reading one from a socket in pieces without taking a
 * byte of the SIP behind it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "epsip/ipc.h"

#include "../../services/flow-manager/proxy_header.h"

static const uint8_t v2_sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

/* "ip:port" of an address, for compact assertions. */
static const char *
text(const struct epsip_addr *a)
{
	static char buf[2][64];
	static int i;

	i = !i;
	assert_int_equal(epsip_addr_format(a, buf[i], sizeof(buf[i])) > 0, 1);
	return (buf[i]);
}

static enum proxy_status
parse_text(const char *s, struct proxy_header *h)
{
	return (proxy_parse((const uint8_t *)s, strlen(s), h));
}

/*
 * A v2 header: version|command, family|protocol, the address block
 * `block` of `blen` bytes, then `tlv` bytes of zeros (TLVs are skipped).
 */
static size_t
v2(uint8_t *out, uint8_t ver_cmd, uint8_t fam, const uint8_t *block,
    size_t blen, size_t tlv)
{
	size_t alen = blen + tlv;

	memcpy(out, v2_sig, 12);
	out[12] = ver_cmd;
	out[13] = fam;
	out[14] = (uint8_t)(alen >> 8);
	out[15] = (uint8_t)alen;
	if (blen > 0) {
		memcpy(out + 16, block, blen);
	}
	memset(out + 16 + blen, 0, tlv);
	return (16 + alen);
}

/* 198.51.100.7:40001 -> 203.0.113.1:5060 */
static const uint8_t inet_block[12] = {
	198, 51, 100, 7, 203, 0, 113, 1, 0x9c, 0x41, 0x13, 0xc4
};

static size_t
inet6_block(uint8_t *b)
{
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::7", b), 1);
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::1", b + 16), 1);
	b[32] = 0x9c;
	b[33] = 0x41;
	b[34] = 0x13;
	b[35] = 0xc4;
	return (36);
}

static void
test_v1_tcp4_names_the_client_and_the_front_address(void **state)
{
	const char *hdr = "PROXY TCP4 198.51.100.7 203.0.113.1 40001 5060\r\n";
	struct proxy_header h;
	char buf[128];

	(void)state;
	/* The SIP behind the header is not part of it. */
	snprintf(buf, sizeof(buf), "%sREGISTER sip:x SIP/2.0\r\n", hdr);
	assert_int_equal(parse_text(buf, &h), PROXY_OK);
	assert_int_equal(h.version, 1);
	assert_int_equal(h.addresses, 1);
	assert_int_equal(h.local, 0);
	assert_int_equal(h.length, strlen(hdr));
	assert_string_equal(text(&h.src), "198.51.100.7:40001");
	assert_string_equal(text(&h.dst), "203.0.113.1:5060");
}

static void
test_v1_tcp6_names_the_client(void **state)
{
	struct proxy_header h;

	(void)state;
	assert_int_equal(parse_text("PROXY TCP6 2001:db8::7 2001:db8::1 "
	    "65535 5060\r\n", &h), PROXY_OK);
	assert_int_equal(h.addresses, 1);
	assert_string_equal(text(&h.src), "[2001:db8::7]:65535");
	assert_string_equal(text(&h.dst), "[2001:db8::1]:5060");
}

static void
test_v1_unknown_keeps_the_connection_addresses(void **state)
{
	struct proxy_header h;

	(void)state;
	assert_int_equal(parse_text("PROXY UNKNOWN\r\n", &h), PROXY_OK);
	assert_int_equal(h.addresses, 0);
	assert_int_equal(h.length, 15);
	/* Whatever follows UNKNOWN is ignored, as the spec says. */
	assert_int_equal(parse_text("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n",
	    &h), PROXY_OK);
	assert_int_equal(h.addresses, 0);
}

static void
test_v1_longest_line_is_taken_and_one_more_byte_is_too_long(void **state)
{
	/* The spec's worst case; as TCP6 it is 3 bytes shorter. */
	const char *longest = "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:"
	    "ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
	char buf[256];
	struct proxy_header h;

	(void)state;
	assert_int_equal(strlen(longest), PROXY_V1_MAX);
	assert_int_equal(parse_text(longest, &h), PROXY_OK);
	assert_int_equal(parse_text("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:"
	    "ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
	    &h), PROXY_OK);
	assert_int_equal(h.length, PROXY_V1_MAX - 3);
	/* 107 bytes and no end of line yet: never more to come. */
	memset(buf, 'x', sizeof(buf));
	memcpy(buf, "PROXY UNKNOWN ", 14);
	assert_int_equal(proxy_parse((uint8_t *)buf, PROXY_V1_MAX - 1, &h),
	    PROXY_NEED_MORE);
	assert_int_equal(proxy_parse((uint8_t *)buf, PROXY_V1_MAX, &h),
	    PROXY_ETOOLONG);
	/* The CR at 106: its LF would be the 108th byte. */
	buf[106] = '\r';
	buf[107] = '\n';
	assert_int_equal(proxy_parse((uint8_t *)buf, 108, &h),
	    PROXY_ETOOLONG);
}

static void
test_v1_lines_not_as_the_spec_spells_them_are_refused(void **state)
{
	static const char *const bad[] = {
		"PROXY TCP4 198.51.100.7  203.0.113.1 40001 5060\r\n",
		"PROXY TCP5 198.51.100.7 203.0.113.1 40001 5060\r\n",
		"PROXY TCP4 198.51.100.7 203.0.113.1 40001 65536\r\n",
		"PROXY TCP4 198.51.100.7 203.0.113.1 -1 5060\r\n",
		"PROXY TCP4 198.51.100.7 203.0.113.1 40001 5060 x\r\n",
		"PROXY TCP4 198.51.100.7 203.0.113.1 40001 5060 \r\n",
		"PROXY TCP4 198.51.100.7 203.0.113.1 40001\r\n",
		"PROXY TCP4 2001:db8::7 2001:db8::1 40001 5060\r\n",
		"PROXY TCP6 198.51.100.7 203.0.113.1 40001 5060\r\n",
		"PROXY TCP4 198.51.100.300 203.0.113.1 40001 5060\r\n",
		"PROXY tcp4 198.51.100.7 203.0.113.1 40001 5060\r\n",
		"PROXY TCP4 198.51.100.7 203.0.113.1 40001 5060\rX",
		"PROXY TCP4 198.51.100.7 203.0.113.1 40001 5060\n",
		"PROXY \r\n",
	};
	struct proxy_header h;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse_text(bad[i], &h) != PROXY_ESYNTAX) {
			fail_msg("accepted or misjudged: %s", bad[i]);
		}
	}
	/* A NUL inside the line. */
	assert_int_equal(proxy_parse((const uint8_t *)"PROXY TCP4 1\0 2 3 4\r\n",
	    21, &h), PROXY_ESYNTAX);
}

static void
test_v2_proxy_names_the_client_over_tcp4_and_tcp6(void **state)
{
	uint8_t buf[PROXY_HEADER_MAX + 32], block[36];
	struct proxy_header h;
	size_t n;

	(void)state;
	n = v2(buf, 0x21, 0x11, inet_block, sizeof(inet_block), 0);
	memcpy(buf + n, "REGISTER", 8);
	assert_int_equal(proxy_parse(buf, n + 8, &h), PROXY_OK);
	assert_int_equal(h.version, 2);
	assert_int_equal(h.addresses, 1);
	assert_int_equal(h.local, 0);
	assert_int_equal(h.length, 28);
	assert_string_equal(text(&h.src), "198.51.100.7:40001");
	assert_string_equal(text(&h.dst), "203.0.113.1:5060");

	/* TCP6 with TLVs after the addresses: skipped, counted in length. */
	n = v2(buf, 0x21, 0x21, block, inet6_block(block), 40);
	assert_int_equal(proxy_parse(buf, n, &h), PROXY_OK);
	assert_int_equal(h.length, 16 + 36 + 40);
	assert_string_equal(text(&h.src), "[2001:db8::7]:40001");
	assert_string_equal(text(&h.dst), "[2001:db8::1]:5060");
}

static void
test_v2_local_keeps_the_balancers_own_address(void **state)
{
	uint8_t buf[64];
	struct proxy_header h;
	size_t n;

	(void)state;
	/* A health check: LOCAL, no address block at all... */
	n = v2(buf, 0x20, 0x00, NULL, 0, 0);
	assert_int_equal(proxy_parse(buf, n, &h), PROXY_OK);
	assert_int_equal(h.local, 1);
	assert_int_equal(h.addresses, 0);
	assert_int_equal(h.length, 16);
	/* ...or with one, which is skipped, not believed. */
	n = v2(buf, 0x20, 0x11, inet_block, sizeof(inet_block), 0);
	assert_int_equal(proxy_parse(buf, n, &h), PROXY_OK);
	assert_int_equal(h.local, 1);
	assert_int_equal(h.addresses, 0);
	assert_int_equal(h.length, 28);
}

static void
test_v2_without_an_ip_family_keeps_the_connection_addresses(void **state)
{
	uint8_t buf[PROXY_HEADER_MAX], block[216];
	struct proxy_header h;
	size_t n;

	(void)state;
	/* PROXY over UNSPEC. */
	n = v2(buf, 0x21, 0x00, NULL, 0, 0);
	assert_int_equal(proxy_parse(buf, n, &h), PROXY_OK);
	assert_int_equal(h.local, 0);
	assert_int_equal(h.addresses, 0);
	/* PROXY over AF_UNIX stream: no IP to give. */
	memset(block, 0, sizeof(block));
	n = v2(buf, 0x21, 0x31, block, sizeof(block), 0);
	assert_int_equal(proxy_parse(buf, n, &h), PROXY_OK);
	assert_int_equal(h.addresses, 0);
	assert_int_equal(h.length, 16 + 216);
}

static void
test_v2_udp_addresses_on_a_stream_are_unsupported(void **state)
{
	uint8_t buf[64], block[36];
	struct proxy_header h;
	size_t n;

	(void)state;
	n = v2(buf, 0x21, 0x12, inet_block, sizeof(inet_block), 0);
	assert_int_equal(proxy_parse(buf, n, &h), PROXY_EDGRAM);
	n = v2(buf, 0x21, 0x22, block, inet6_block(block), 0);
	assert_int_equal(proxy_parse(buf, n, &h), PROXY_EDGRAM);
}

static void
test_v2_bad_version_command_or_family_is_refused(void **state)
{
	uint8_t buf[64];
	struct proxy_header h;
	size_t n;

	(void)state;
	n = v2(buf, 0x11, 0x11, inet_block, sizeof(inet_block), 0);
	assert_int_equal(proxy_parse(buf, n, &h), PROXY_EVERSION);
	n = v2(buf, 0x22, 0x11, inet_block, sizeof(inet_block), 0);
	assert_int_equal(proxy_parse(buf, n, &h), PROXY_ECOMMAND);
	n = v2(buf, 0x21, 0x41, inet_block, sizeof(inet_block), 0);
	assert_int_equal(proxy_parse(buf, n, &h), PROXY_EFAMILY);
	n = v2(buf, 0x21, 0x13, inet_block, sizeof(inet_block), 0);
	assert_int_equal(proxy_parse(buf, n, &h), PROXY_EFAMILY);
	n = v2(buf, 0x21, 0x10, inet_block, sizeof(inet_block), 0);
	assert_int_equal(proxy_parse(buf, n, &h), PROXY_EFAMILY);
	/* An address block too short for its family. */
	n = v2(buf, 0x21, 0x11, inet_block, 11, 0);
	assert_int_equal(proxy_parse(buf, n, &h), PROXY_EFAMILY);
	n = v2(buf, 0x21, 0x21, inet_block, 12, 0);
	assert_int_equal(proxy_parse(buf, n, &h), PROXY_EFAMILY);
	n = v2(buf, 0x21, 0x31, inet_block, 12, 0);
	assert_int_equal(proxy_parse(buf, n, &h), PROXY_EFAMILY);
}

static void
test_v2_longer_than_the_limit_is_refused_before_it_is_read(void **state)
{
	uint8_t buf[16];
	struct proxy_header h;

	(void)state;
	memcpy(buf, v2_sig, 12);
	buf[12] = 0x21;
	buf[13] = 0x11;
	buf[14] = (uint8_t)((PROXY_V2_MAX - 16 + 1) >> 8);
	buf[15] = (uint8_t)(PROXY_V2_MAX - 16 + 1);
	assert_int_equal(proxy_parse(buf, 16, &h), PROXY_ETOOLONG);
	buf[14] = buf[15] = 0xff;
	assert_int_equal(proxy_parse(buf, 16, &h), PROXY_ETOOLONG);
}

static void
test_anything_but_a_header_is_a_bad_signature(void **state)
{
	static const char *const bad[] = {
		"REGISTER sip:example.com SIP/2.0\r\n",
		"\r\n\r\nREGISTER",
		"PROXZ TCP4",
		"proxy tcp4",
		"GET / HTTP/1.0\r\n",
	};
	uint8_t buf[28];
	struct proxy_header h;
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse_text(bad[i], &h) != PROXY_EBADSIG) {
			fail_msg("taken for a header: %s", bad[i]);
		}
	}
	/* The v2 signature with one byte off, anywhere. */
	for (i = 0; i < 12; i++) {
		n = v2(buf, 0x21, 0x11, inet_block, sizeof(inet_block), 0);
		buf[i] ^= 0x40;
		assert_int_equal(proxy_parse(buf, n, &h), PROXY_EBADSIG);
		/* Seen as soon as the byte is in. */
		assert_int_equal(proxy_parse(buf, i + 1, &h), PROXY_EBADSIG);
	}
}

static void
test_every_cut_short_header_needs_more(void **state)
{
	const char *v1 = "PROXY TCP4 198.51.100.7 203.0.113.1 40001 5060\r\n";
	uint8_t buf[64];
	struct proxy_header h;
	size_t i, n;

	(void)state;
	for (i = 0; i < strlen(v1); i++) {
		assert_int_equal(proxy_parse((const uint8_t *)v1, i, &h),
		    PROXY_NEED_MORE);
	}
	n = v2(buf, 0x21, 0x11, inet_block, sizeof(inet_block), 0);
	for (i = 0; i < n; i++) {
		assert_int_equal(proxy_parse(buf, i, &h), PROXY_NEED_MORE);
	}
	assert_int_equal(proxy_parse(buf, n, &h), PROXY_OK);
}

/* A connected non-blocking pair: [0] is read with proxy_read. */
static void
stream_pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0,
	    sv), 0);
}

static void
send_all(int fd, const void *buf, size_t len)
{
	assert_int_equal(send(fd, buf, len, 0), (ssize_t)len);
}

static void
test_header_read_in_pieces_leaves_the_sip_behind_it_unread(void **state)
{
	const char *v1 = "PROXY TCP4 198.51.100.7 203.0.113.1 40001 5060\r\n";
	const char *sip = "REGISTER sip:example.com SIP/2.0\r\n";
	static const size_t cuts[] = { 1, 5, 6, 20, 47 };
	struct proxy_reader r;
	struct proxy_header h;
	char rest[128];
	size_t i, off;
	int sv[2];

	(void)state;
	stream_pair(sv);
	r.len = 0;
	assert_int_equal(proxy_read(sv[0], &r, &h), PROXY_NEED_MORE);
	off = 0;
	for (i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		send_all(sv[1], v1 + off, cuts[i] - off);
		off = cuts[i];
		assert_int_equal(proxy_read(sv[0], &r, &h), PROXY_NEED_MORE);
		/* Taken, so the socket does not stay readable for nothing. */
		assert_int_equal(r.len, off);
	}
	/* The rest of the header and the SIP in one segment. */
	snprintf(rest, sizeof(rest), "%s%s", v1 + off, sip);
	send_all(sv[1], rest, strlen(rest));
	assert_int_equal(proxy_read(sv[0], &r, &h), PROXY_OK);
	assert_string_equal(text(&h.src), "198.51.100.7:40001");
	memset(rest, 0, sizeof(rest));
	assert_int_equal(recv(sv[0], rest, sizeof(rest) - 1, 0),
	    (ssize_t)strlen(sip));
	assert_string_equal(rest, sip);
	close(sv[0]);
	close(sv[1]);
}

static void
test_v2_read_in_pieces_leaves_the_sip_behind_it_unread(void **state)
{
	uint8_t buf[128];
	struct proxy_reader r;
	struct proxy_header h;
	char rest[16];
	size_t n;
	int sv[2];

	(void)state;
	stream_pair(sv);
	n = v2(buf, 0x21, 0x11, inet_block, sizeof(inet_block), 8);
	memcpy(buf + n, "OPTIONS", 7);
	r.len = 0;
	/* Within the signature, within the fixed part, within the block. */
	send_all(sv[1], buf, 7);
	assert_int_equal(proxy_read(sv[0], &r, &h), PROXY_NEED_MORE);
	send_all(sv[1], buf + 7, 9);
	assert_int_equal(proxy_read(sv[0], &r, &h), PROXY_NEED_MORE);
	send_all(sv[1], buf + 16, 10);
	assert_int_equal(proxy_read(sv[0], &r, &h), PROXY_NEED_MORE);
	send_all(sv[1], buf + 26, n + 7 - 26);
	assert_int_equal(proxy_read(sv[0], &r, &h), PROXY_OK);
	assert_int_equal(h.length, n);
	assert_string_equal(text(&h.src), "198.51.100.7:40001");
	assert_int_equal(recv(sv[0], rest, sizeof(rest), 0), 7);
	assert_memory_equal(rest, "OPTIONS", 7);
	close(sv[0]);
	close(sv[1]);
}

static void
test_read_says_closed_when_the_peer_leaves_mid_header(void **state)
{
	struct proxy_reader r;
	struct proxy_header h;
	int sv[2];

	(void)state;
	stream_pair(sv);
	r.len = 0;
	send_all(sv[1], "PROXY TCP4 1", 12);
	assert_int_equal(proxy_read(sv[0], &r, &h), PROXY_NEED_MORE);
	close(sv[1]);
	assert_int_equal(proxy_read(sv[0], &r, &h), PROXY_ECLOSED);
	close(sv[0]);
}

static void
test_read_stops_at_the_first_wrong_byte(void **state)
{
	struct proxy_reader r;
	struct proxy_header h;
	int sv[2];

	(void)state;
	stream_pair(sv);
	r.len = 0;
	send_all(sv[1], "REGISTER sip:x SIP/2.0\r\n", 24);
	assert_int_equal(proxy_read(sv[0], &r, &h), PROXY_EBADSIG);
	assert_int_equal(r.len, 0);
	close(sv[0]);
	close(sv[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    test_v1_tcp4_names_the_client_and_the_front_address),
		cmocka_unit_test(test_v1_tcp6_names_the_client),
		cmocka_unit_test(
		    test_v1_unknown_keeps_the_connection_addresses),
		cmocka_unit_test(
		    test_v1_longest_line_is_taken_and_one_more_byte_is_too_long),
		cmocka_unit_test(
		    test_v1_lines_not_as_the_spec_spells_them_are_refused),
		cmocka_unit_test(
		    test_v2_proxy_names_the_client_over_tcp4_and_tcp6),
		cmocka_unit_test(test_v2_local_keeps_the_balancers_own_address),
		cmocka_unit_test(
		    test_v2_without_an_ip_family_keeps_the_connection_addresses),
		cmocka_unit_test(
		    test_v2_udp_addresses_on_a_stream_are_unsupported),
		cmocka_unit_test(
		    test_v2_bad_version_command_or_family_is_refused),
		cmocka_unit_test(
		    test_v2_longer_than_the_limit_is_refused_before_it_is_read),
		cmocka_unit_test(test_anything_but_a_header_is_a_bad_signature),
		cmocka_unit_test(test_every_cut_short_header_needs_more),
		cmocka_unit_test(
		    test_header_read_in_pieces_leaves_the_sip_behind_it_unread),
		cmocka_unit_test(
		    test_v2_read_in_pieces_leaves_the_sip_behind_it_unread),
		cmocka_unit_test(
		    test_read_says_closed_when_the_peer_leaves_mid_header),
		cmocka_unit_test(test_read_stops_at_the_first_wrong_byte),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
