/*
 * digest_test.c -- common/digest.c: Digest credentials parsed as RFC 7616
 * and RFC 3261 §25.1 write them, the responses of RFC 7616 §3.9.1's
 * example (MD5 and SHA-256), and stateless nonces that verify only with
 * their key and realm and go stale with age.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "epsip/digest.h"

static const char mufasa_sha256[] =
    "Digest username=\"Mufasa\",\r\n"
    "    realm=\"http-auth@example.org\",\r\n"
    "    uri=\"/dir/index.html\",\r\n"
    "    algorithm=SHA-256,\r\n"
    "    nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\",\r\n"
    "    nc=00000001,\r\n"
    "    cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\",\r\n"
    "    qop=auth,\r\n"
    "    response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5"
    "856cb6c1\",\r\n"
    "    opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";

static const char mufasa_md5[] =
    "Digest username=\"Mufasa\", realm=\"http-auth@example.org\", "
    "uri=\"/dir/index.html\", algorithm=MD5, "
    "nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", nc=00000001, "
    "cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\", qop=auth, "
    "response=\"8ca523f5e9506fed4657c9700eebdbec\"";

static enum digest_error
parse(const char *text, struct digest_credentials *c)
{
	return (digest_parse(text, strlen(text), c));
}

/* RFC 7616 §3.9.1, folded over lines as the RFC prints it. */
static void
test_rfc7616_example_parses_and_its_sha256_response_verifies(void **state)
{
	struct digest_credentials c;
	char ha1[DIGEST_HEX_MAX], expect[DIGEST_HEX_MAX];

	(void)state;
	assert_int_equal(parse(mufasa_sha256, &c), DIGEST_OK);
	assert_string_equal(c.username, "Mufasa");
	assert_string_equal(c.realm, "http-auth@example.org");
	assert_string_equal(c.uri, "/dir/index.html");
	assert_string_equal(c.nc, "00000001");
	assert_int_equal(c.nc_value, 1);
	assert_int_equal(c.alg, DIGEST_SHA256);
	assert_string_equal(c.opaque,
	    "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS");
	digest_ha1(DIGEST_SHA256, "Mufasa", "http-auth@example.org",
	    "Circle of Life", ha1);
	digest_response(ha1, &c, "GET", expect);
	assert_string_equal(expect, c.response);
	assert_true(digest_hex_equal(DIGEST_SHA256, expect, c.response));
}

static void
test_rfc7616_example_md5_response_verifies(void **state)
{
	struct digest_credentials c;
	char ha1[DIGEST_HEX_MAX], expect[DIGEST_HEX_MAX];

	(void)state;
	assert_int_equal(parse(mufasa_md5, &c), DIGEST_OK);
	assert_int_equal(c.alg, DIGEST_MD5);
	digest_ha1(DIGEST_MD5, "Mufasa", "http-auth@example.org",
	    "Circle of Life", ha1);
	assert_int_equal(strlen(ha1), 32);
	digest_response(ha1, &c, "GET", expect);
	assert_string_equal(expect, "8ca523f5e9506fed4657c9700eebdbec");
	/* Another method or password gives another response. */
	digest_response(ha1, &c, "POST", expect);
	assert_false(digest_hex_equal(DIGEST_MD5, expect, c.response));
	digest_ha1(DIGEST_MD5, "Mufasa", "http-auth@example.org",
	    "circle of life", ha1);
	digest_response(ha1, &c, "GET", expect);
	assert_false(digest_hex_equal(DIGEST_MD5, expect, c.response));
}

/* No algorithm= means MD5; names are case-insensitive; upper-case hex
 * in response is kept as lower case; escapes are undone. */
static void
test_defaults_case_and_escapes_are_handled(void **state)
{
	struct digest_credentials c;

	(void)state;
	assert_int_equal(parse("digest USERNAME=\"b\\\"ob\\\\\",Realm="
	    "\"example.com\",NONCE=\"n\",Uri=\"sip:example.com\",qop=\"auth\","
	    "NC=0000000a,cnonce=\"c\",response=\"8CA523F5E9506FED4657C9700EEBD"
	    "BEC\",,  x-unknown=\"whatever, with comma\"", &c), DIGEST_OK);
	assert_int_equal(c.alg, DIGEST_MD5);
	assert_string_equal(c.username, "b\"ob\\");
	assert_int_equal(c.nc_value, 10);
	assert_string_equal(c.response, "8ca523f5e9506fed4657c9700eebdbec");
	assert_string_equal(c.opaque, "");
}

static void
test_refusals_name_their_reason(void **state)
{
	static const char base[] = "username=\"bob\", realm=\"example.com\", "
	    "nonce=\"n\", uri=\"sip:example.com\", cnonce=\"c\", ";
	static const struct {
		const char *tail;
		enum digest_error want;
	} cases[] = {
		{ "qop=auth, nc=00000001, response="
		    "\"8ca523f5e9506fed4657c9700eebdbec\"", DIGEST_OK },
		/* qop=auth-int, and no qop at all (no nc: replays) */
		{ "qop=auth-int, nc=00000001, response="
		    "\"8ca523f5e9506fed4657c9700eebdbec\"", DIGEST_EQOP },
		{ "response=\"8ca523f5e9506fed4657c9700eebdbec\"",
		    DIGEST_EMISSING },
		{ "qop=auth, nc=1, response="
		    "\"8ca523f5e9506fed4657c9700eebdbec\"", DIGEST_EVALUE },
		{ "qop=auth, nc=0000000g, response="
		    "\"8ca523f5e9506fed4657c9700eebdbec\"", DIGEST_EVALUE },
		/* an MD5-sized response for SHA-256 */
		{ "qop=auth, nc=00000001, algorithm=SHA-256, response="
		    "\"8ca523f5e9506fed4657c9700eebdbec\"", DIGEST_EVALUE },
		{ "qop=auth, nc=00000001, response=\"xyz\"", DIGEST_EVALUE },
		{ "qop=auth, nc=00000001, algorithm=MD5-sess, response="
		    "\"8ca523f5e9506fed4657c9700eebdbec\"", DIGEST_EALGORITHM },
		{ "qop=auth, nc=00000001, algorithm=SHA-512-256, response="
		    "\"8ca523f5e9506fed4657c9700eebdbec\"", DIGEST_EALGORITHM },
		{ "qop=auth, nc=00000001, userhash=true, response="
		    "\"8ca523f5e9506fed4657c9700eebdbec\"", DIGEST_EALGORITHM },
		{ "qop=auth, nc=00000001, nc=00000002, response="
		    "\"8ca523f5e9506fed4657c9700eebdbec\"", DIGEST_EDUPLICATE },
		{ "qop=auth nc=00000001", DIGEST_ESYNTAX },
		{ "qop=auth, nc=00000001, response=\"8ca5", DIGEST_ESYNTAX },
		{ "qop=auth, nc=00000001, =x", DIGEST_ESYNTAX },
		{ "qop=auth, nc=00000001, response=", DIGEST_ESYNTAX },
	};
	struct digest_credentials c;
	char text[512];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "Digest %s%s", base,
		    cases[i].tail);
		if (parse(text, &c) != cases[i].want) {
			fail_msg("%s: %s, not %s", cases[i].tail,
			    digest_error_name(parse(text, &c)),
			    digest_error_name(cases[i].want));
		}
	}
	assert_int_equal(parse("Basic Ym9iOnNlY3JldA==", &c), DIGEST_ESCHEME);
	assert_int_equal(parse("DigestX username=\"a\"", &c), DIGEST_ESCHEME);
	assert_int_equal(parse("", &c), DIGEST_ESCHEME);
	assert_int_equal(parse("Digest", &c), DIGEST_EMISSING);
}

/* Values longer than their field, a NUL or a line end inside quotes. */
static void
test_long_values_and_control_bytes_are_refused(void **state)
{
	struct digest_credentials c;
	char text[4096];
	char user[DIGEST_FIELD_MAX + 1];
	static const char with_nul[] = "Digest username=\"b\0b\", realm=\"r\"";

	(void)state;
	memset(user, 'a', sizeof(user) - 1);
	user[sizeof(user) - 1] = '\0';
	snprintf(text, sizeof(text), "Digest username=\"%s\"", user);
	assert_int_equal(parse(text, &c), DIGEST_ELONG);
	/* An unknown parameter may be long: it is skipped. */
	memset(text, 0, sizeof(text));
	snprintf(text, sizeof(text), "Digest x=\"%s%s%s%s%s\", %s", user, user,
	    user, user, user, mufasa_md5 + 7);
	assert_int_equal(parse(text, &c), DIGEST_OK);
	assert_int_equal(digest_parse(with_nul, sizeof(with_nul) - 1, &c),
	    DIGEST_ESYNTAX);
	assert_int_equal(parse("Digest username=\"a\r\nb\"", &c),
	    DIGEST_ESYNTAX);
}

static const uint8_t key[DIGEST_KEY_SIZE] = { 1, 2, 3, 4, 5 };

static void
test_nonce_verifies_with_its_key_and_realm_only(void **state)
{
	struct digest_nonce n = { 1700000000, 0xdeadbeef, 42 }, got;
	uint8_t other[DIGEST_KEY_SIZE] = { 9 };
	char text[DIGEST_NONCE_TEXT];

	(void)state;
	digest_nonce_make(key, "example.com", &n, text);
	assert_int_equal(strlen(text), DIGEST_NONCE_TEXT - 1);
	assert_int_equal(digest_nonce_check(key, "example.com", text,
	    1700000010, 300, &got), DIGEST_NONCE_FRESH);
	assert_int_equal(got.issued, 1700000000);
	assert_int_equal(got.epoch, 0xdeadbeef);
	assert_int_equal(got.seq, 42);
	assert_int_equal(digest_nonce_check(key, "example.org", text,
	    1700000010, 300, &got), DIGEST_NONCE_BAD);
	assert_int_equal(digest_nonce_check(other, "example.com", text,
	    1700000010, 300, &got), DIGEST_NONCE_BAD);
	/* One changed digit anywhere: the MAC no longer matches. */
	for (size_t i = 0; i < DIGEST_NONCE_TEXT - 1; i++) {
		char bad[DIGEST_NONCE_TEXT];

		memcpy(bad, text, sizeof(bad));
		bad[i] = bad[i] == '0' ? '1' : '0';
		assert_int_equal(digest_nonce_check(key, "example.com", bad,
		    1700000010, 300, &got), DIGEST_NONCE_BAD);
	}
	/* Cut, too long, upper case. */
	text[10] = '\0';
	assert_int_equal(digest_nonce_check(key, "example.com", text,
	    1700000010, 300, &got), DIGEST_NONCE_BAD);
	assert_int_equal(digest_nonce_check(key, "example.com",
	    "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", 1700000010, 300,
	    &got), DIGEST_NONCE_BAD);
}

static void
test_nonce_goes_stale_with_age_and_when_the_clock_went_back(void **state)
{
	struct digest_nonce n = { 1700000000, 1, 1 }, got;
	char text[DIGEST_NONCE_TEXT];

	(void)state;
	digest_nonce_make(key, "example.com", &n, text);
	assert_int_equal(digest_nonce_check(key, "example.com", text,
	    1700000299, 300, &got), DIGEST_NONCE_FRESH);
	assert_int_equal(digest_nonce_check(key, "example.com", text,
	    1700000300, 300, &got), DIGEST_NONCE_STALE);
	assert_int_equal(got.seq, 1);
	/* Issued "in the future": a clock set back more than a minute. */
	assert_int_equal(digest_nonce_check(key, "example.com", text,
	    1700000000 - 59, 300, &got), DIGEST_NONCE_FRESH);
	assert_int_equal(digest_nonce_check(key, "example.com", text,
	    1700000000 - 61, 300, &got), DIGEST_NONCE_STALE);
}

static void
test_hex_compare_needs_the_full_length(void **state)
{
	(void)state;
	assert_true(digest_hex_equal(DIGEST_MD5,
	    "8ca523f5e9506fed4657c9700eebdbec",
	    "8ca523f5e9506fed4657c9700eebdbec"));
	assert_false(digest_hex_equal(DIGEST_MD5,
	    "8ca523f5e9506fed4657c9700eebdbec",
	    "8ca523f5e9506fed4657c9700eebdbed"));
	assert_false(digest_hex_equal(DIGEST_MD5, "", ""));
	assert_false(digest_hex_equal(DIGEST_SHA256,
	    "8ca523f5e9506fed4657c9700eebdbec",
	    "8ca523f5e9506fed4657c9700eebdbec"));
	assert_string_equal(digest_alg_name(DIGEST_SHA256), "SHA-256");
	assert_string_equal(digest_alg_name(DIGEST_MD5), "MD5");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    test_rfc7616_example_parses_and_its_sha256_response_verifies),
		cmocka_unit_test(test_rfc7616_example_md5_response_verifies),
		cmocka_unit_test(test_defaults_case_and_escapes_are_handled),
		cmocka_unit_test(test_refusals_name_their_reason),
		cmocka_unit_test(
		    test_long_values_and_control_bytes_are_refused),
		cmocka_unit_test(test_nonce_verifies_with_its_key_and_realm_only),
		cmocka_unit_test(
		    test_nonce_goes_stale_with_age_and_when_the_clock_went_back),
		cmocka_unit_test(test_hex_compare_needs_the_full_length),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
