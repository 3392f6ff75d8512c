/*
 * flow_token_test.c -- flow tokens (FT-01..FT-08): round trip, tamper,
 * wrong key, previous key, URI safety and escaping.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "epsip/config.h"
#include "epsip/flow_token.h"

static struct flow_token_keyring ring;

static void
setup_key(struct flow_token_key *key, uint8_t fill)
{
	uint8_t secret[FLOW_TOKEN_KEY_SIZE];

	memset(secret, fill, sizeof(secret));
	flow_token_key_init(key, secret);
}

static void
make_token(struct flow_token *t, const char *local, const char *remote)
{
	memset(t, 0, sizeof(*t));
	t->flow.instance = 1;
	t->flow.child = 42;
	t->flow.slot = 7;
	t->flow.generation = 99;
	t->transport = EPSIP_TRANSPORT_UDP;
	config_parse_addr(local, 5060, &t->local);
	config_parse_addr(remote, 5060, &t->remote);
}

static int
reset_ring(void **state)
{
	(void)state;
	memset(&ring, 0, sizeof(ring));
	setup_key(&ring.current, 0x11);
	return (0);
}

static void
test_ipv4_token_round_trips_and_is_60_chars(void **state)
{
	struct flow_token in, out;
	char text[FLOW_TOKEN_MAX_TEXT];
	int n;

	(void)state;
	make_token(&in, "192.0.2.1:5060", "198.51.100.7:40000");
	n = flow_token_encode(&ring.current, &in, text, sizeof(text));
	assert_int_equal(n, 60);
	assert_int_equal(flow_token_decode(&ring, text, (size_t)n, &out),
	    FLOW_TOKEN_OK);
	assert_true(epsip_flow_id_equal(&in.flow, &out.flow));
	assert_int_equal(out.transport, EPSIP_TRANSPORT_UDP);
	assert_true(epsip_addr_equal(&in.local, &out.local));
	assert_true(epsip_addr_equal(&in.remote, &out.remote));
}

static void
test_ipv6_token_round_trips_and_is_92_chars(void **state)
{
	struct flow_token in, out;
	char text[FLOW_TOKEN_MAX_TEXT];
	int n;

	(void)state;
	make_token(&in, "[2001:db8::1]:5060", "[2001:db8::99]:41000");
	in.transport = EPSIP_TRANSPORT_TCP;
	n = flow_token_encode(&ring.current, &in, text, sizeof(text));
	assert_int_equal(n, 92);
	assert_int_equal(flow_token_decode(&ring, text, (size_t)n, &out),
	    FLOW_TOKEN_OK);
	assert_true(epsip_addr_equal(&in.remote, &out.remote));
	assert_int_equal(out.transport, EPSIP_TRANSPORT_TCP);
}

static void
test_token_characters_are_uri_user_safe(void **state)
{
	struct flow_token in;
	char text[FLOW_TOKEN_MAX_TEXT];

	(void)state;
	make_token(&in, "192.0.2.1:5060", "198.51.100.7:40000");
	for (uint32_t g = 0; g < 500; g++) {
		in.flow.generation = g * 2654435761u;
		flow_token_encode(&ring.current, &in, text, sizeof(text));
		/* FT-06, FT-07: no '/', '+', '=', '%', '.' ever. */
		assert_int_equal(strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "abcdefghijklmnopqrstuvwxyz0123456789-_"), strlen(text));
	}
}

static void
test_every_single_character_change_is_rejected(void **state)
{
	struct flow_token in, out;
	char text[FLOW_TOKEN_MAX_TEXT];
	int n;

	(void)state;
	make_token(&in, "192.0.2.1:5060", "198.51.100.7:40000");
	n = flow_token_encode(&ring.current, &in, text, sizeof(text));
	for (int i = 0; i < n; i++) {
		char saved = text[i];

		text[i] = saved == 'A' ? 'B' : 'A';
		assert_int_not_equal(flow_token_decode(&ring, text, (size_t)n,
		    &out), FLOW_TOKEN_OK);
		/* Nothing of a rejected token may be used. */
		assert_int_equal(out.flow.child, 0);
		text[i] = saved;
	}
}

static void
test_token_from_another_key_is_rejected(void **state)
{
	struct flow_token_keyring other;
	struct flow_token in, out;
	char text[FLOW_TOKEN_MAX_TEXT];
	int n;

	(void)state;
	memset(&other, 0, sizeof(other));
	setup_key(&other.current, 0x22);
	make_token(&in, "192.0.2.1:5060", "198.51.100.7:40000");
	n = flow_token_encode(&other.current, &in, text, sizeof(text));
	assert_int_not_equal(flow_token_decode(&ring, text, (size_t)n, &out),
	    FLOW_TOKEN_OK);
}

static void
test_token_of_previous_key_is_accepted_during_rotation(void **state)
{
	struct flow_token_key old;
	struct flow_token in, out;
	char text[FLOW_TOKEN_MAX_TEXT];
	int n;

	(void)state;
	setup_key(&old, 0x33);
	make_token(&in, "192.0.2.1:5060", "198.51.100.7:40000");
	n = flow_token_encode(&old, &in, text, sizeof(text));
	assert_int_equal(flow_token_decode(&ring, text, (size_t)n, &out),
	    FLOW_TOKEN_EKEY);
	ring.previous = old;
	ring.has_previous = 1;
	assert_int_equal(flow_token_decode(&ring, text, (size_t)n, &out),
	    FLOW_TOKEN_OK);
}

/*
 * Another key whose id is `id`: secrets counted up from `*n` (about 256
 * tries), *n left past the one found.
 */
static void
key_with_id(struct flow_token_key *key, uint8_t id, uint32_t *n)
{
	uint8_t secret[FLOW_TOKEN_KEY_SIZE];

	memset(secret, 0x5a, sizeof(secret));
	do {
		memcpy(secret, n, sizeof(*n));
		(*n)++;
		flow_token_key_init(key, secret);
	} while (key->id != id || memcmp(key->secret,
	    ring.current.secret, FLOW_TOKEN_KEY_SIZE) == 0);
}

/*
 * A key id is one byte of the secret's digest: once in 256 rotations the
 * new key has the old one's id.  Tokens of both must still verify, and a
 * token of neither must still fail.
 */
static void
test_rotation_to_a_key_with_the_same_id_keeps_both(void **state)
{
	struct flow_token_key old, other;
	struct flow_token in, out;
	char text[FLOW_TOKEN_MAX_TEXT];
	uint32_t n = 0;
	int len;

	(void)state;
	key_with_id(&old, ring.current.id, &n);
	key_with_id(&other, ring.current.id, &n);
	ring.previous = old;
	ring.has_previous = 1;
	make_token(&in, "192.0.2.1:5060", "198.51.100.7:40000");
	len = flow_token_encode(&old, &in, text, sizeof(text));
	assert_int_equal(flow_token_decode(&ring, text, (size_t)len, &out),
	    FLOW_TOKEN_OK);
	assert_memory_equal(&in.flow, &out.flow, sizeof(in.flow));
	len = flow_token_encode(&ring.current, &in, text, sizeof(text));
	assert_int_equal(flow_token_decode(&ring, text, (size_t)len, &out),
	    FLOW_TOKEN_OK);
	len = flow_token_encode(&other, &in, text, sizeof(text));
	assert_int_equal(flow_token_decode(&ring, text, (size_t)len, &out),
	    FLOW_TOKEN_EMAC);
}

static void
test_percent_escaped_token_decodes_the_same(void **state)
{
	struct flow_token in, out;
	char text[FLOW_TOKEN_MAX_TEXT], escaped[3 * FLOW_TOKEN_MAX_TEXT];
	int n;
	size_t e = 0;

	(void)state;
	make_token(&in, "192.0.2.1:5060", "198.51.100.7:40000");
	n = flow_token_encode(&ring.current, &in, text, sizeof(text));
	for (int i = 0; i < n; i++) {
		e += (size_t)sprintf(escaped + e, "%%%02X",
		    (unsigned char)text[i]);
	}
	assert_int_equal(flow_token_decode(&ring, escaped, e, &out),
	    FLOW_TOKEN_OK);
	assert_true(epsip_flow_id_equal(&in.flow, &out.flow));
}

static void
test_path_traversal_text_is_an_encoding_error(void **state)
{
	struct flow_token out;
	const char *evil = "..%2F..%2Ftmp%2Fx";

	(void)state;
	/* FT-07: never decoded into anything. */
	assert_int_equal(flow_token_decode(&ring, evil, strlen(evil), &out),
	    FLOW_TOKEN_EENCODING);
	assert_int_equal(flow_token_decode(&ring, "!!!", 3, &out),
	    FLOW_TOKEN_EENCODING);
	assert_int_equal(flow_token_decode(&ring, "%4", 2, &out),
	    FLOW_TOKEN_EENCODING);
	assert_int_equal(flow_token_decode(&ring, "AAAA", 4, &out),
	    FLOW_TOKEN_ELENGTH);
}

static void
test_owner_ipc_url_is_built_from_integers(void **state)
{
	char url[128];

	(void)state;
	assert_int_equal(flow_owner_ipc_url("/run/epsip", 1, 42, url,
	    sizeof(url)), 0);
	assert_string_equal(url, "ipc:///run/epsip/fm1-c42.ipc");
	assert_int_equal(flow_owner_ipc_url("/run/epsip", 1, 42, url, 10), -1);
}

static void
test_key_file_is_created_0600_and_reused(void **state)
{
	struct flow_token_key k1, k2;
	char dir[] = "/tmp/epsip-key-XXXXXX", path[64], err[256];
	struct stat st;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/key", dir);
	assert_int_equal(flow_token_key_load_or_create(path, &k1, err,
	    sizeof(err)), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(flow_token_key_load_or_create(path, &k2, err,
	    sizeof(err)), 0);
	/* FT-08: the same key after a restart. */
	assert_memory_equal(k1.secret, k2.secret, FLOW_TOKEN_KEY_SIZE);
	chmod(path, 0644);
	assert_int_equal(flow_token_key_load(path, &k2, err, sizeof(err)), -1);
	unlink(path);
	rmdir(dir);
}

/*
 * The transport has 4 bits in the token: before, transport 17 was signed
 * as 1 (UDP) and instance 0 made a token that never decodes.  Found by
 * tests/fuzz/fuzz_flow_token.c (encode -> decode must be the identity).
 */
static void
test_encode_refuses_fields_decode_would_not_give_back(void **state)
{
	struct flow_token in;
	char text[FLOW_TOKEN_MAX_TEXT];

	(void)state;
	make_token(&in, "192.0.2.1:5060", "198.51.100.7:40000");
	in.transport = EPSIP_TRANSPORT_UDP + 16;
	assert_int_equal(flow_token_encode(&ring.current, &in, text,
	    sizeof(text)), -1);
	in.transport = EPSIP_TRANSPORT_MAX + 1;
	assert_int_equal(flow_token_encode(&ring.current, &in, text,
	    sizeof(text)), -1);
	in.transport = EPSIP_TRANSPORT_NONE;
	assert_int_equal(flow_token_encode(&ring.current, &in, text,
	    sizeof(text)), -1);
	in.transport = EPSIP_TRANSPORT_WSS;
	in.flow.instance = 0;
	assert_int_equal(flow_token_encode(&ring.current, &in, text,
	    sizeof(text)), -1);
	in.flow.instance = 1;
	assert_int_equal(flow_token_encode(&ring.current, &in, text,
	    sizeof(text)), 60);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(
		    test_ipv4_token_round_trips_and_is_60_chars, reset_ring),
		cmocka_unit_test_setup(
		    test_ipv6_token_round_trips_and_is_92_chars, reset_ring),
		cmocka_unit_test_setup(test_token_characters_are_uri_user_safe,
		    reset_ring),
		cmocka_unit_test_setup(
		    test_every_single_character_change_is_rejected, reset_ring),
		cmocka_unit_test_setup(test_token_from_another_key_is_rejected,
		    reset_ring),
		cmocka_unit_test_setup(
		    test_token_of_previous_key_is_accepted_during_rotation,
		    reset_ring),
		cmocka_unit_test_setup(
		    test_rotation_to_a_key_with_the_same_id_keeps_both,
		    reset_ring),
		cmocka_unit_test_setup(
		    test_percent_escaped_token_decodes_the_same, reset_ring),
		cmocka_unit_test_setup(
		    test_path_traversal_text_is_an_encoding_error, reset_ring),
		cmocka_unit_test_setup(
		    test_encode_refuses_fields_decode_would_not_give_back,
		    reset_ring),
		cmocka_unit_test(test_owner_ipc_url_is_built_from_integers),
		cmocka_unit_test(test_key_file_is_created_0600_and_reused),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
