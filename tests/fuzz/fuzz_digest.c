/*
 * fuzz_digest.c -- the digest credentials parser and the stateless nonces
 * (common/digest.c, issue 12 §1 and §3): what a phone's Authorization or
 * Proxy-Authorization value can do to the registrar.
 *
 * Input: byte 0 picks the mode.  Even: the rest is a header value for
 * digest_parse().  Checked: it never reads past the value (ASan), a
 * success gives terminated fields within their sizes, a response of the
 * algorithm's hex length, and an nc that reads as its value; and a
 * response computed for the parsed fields compares equal to itself and
 * not to one changed in a digit.  Odd: the rest is a nonce as a phone
 * sends it back, checked by digest_nonce_check() with a fixed key: only
 * nonces digest_nonce_make() made verify, and one made here does.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "epsip/digest.h"

#include "fuzz.h"

static const uint8_t key[DIGEST_KEY_SIZE] = "epsip digest fuzz key 0123456789";

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return (0);
}

static void
check_terminated(const char *field, size_t size)
{
	FUZZ_CHECK(memchr(field, '\0', size) != NULL);
}

static void
fuzz_parse(const char *value, size_t len)
{
	struct digest_credentials c;
	char ha1[DIGEST_HEX_MAX], resp[DIGEST_HEX_MAX];
	size_t hex;

	if (digest_parse(value, len, &c) != DIGEST_OK) {
		return;
	}
	check_terminated(c.username, sizeof(c.username));
	check_terminated(c.realm, sizeof(c.realm));
	check_terminated(c.nonce, sizeof(c.nonce));
	check_terminated(c.uri, sizeof(c.uri));
	check_terminated(c.cnonce, sizeof(c.cnonce));
	check_terminated(c.opaque, sizeof(c.opaque));
	check_terminated(c.nc, sizeof(c.nc));
	FUZZ_CHECK(c.alg == DIGEST_MD5 || c.alg == DIGEST_SHA256);
	hex = digest_hex_len(c.alg);
	FUZZ_CHECK(strlen(c.response) == hex);
	FUZZ_CHECK(strlen(c.nc) == 8 &&
	    strtoul(c.nc, NULL, 16) == c.nc_value);
	digest_ha1(c.alg, c.username, c.realm, "secret", ha1);
	FUZZ_CHECK(strlen(ha1) == hex);
	digest_response(ha1, &c, "REGISTER", resp);
	FUZZ_CHECK(strlen(resp) == hex);
	FUZZ_CHECK(digest_hex_equal(c.alg, resp, resp));
	resp[0] = resp[0] == '0' ? '1' : '0';
	FUZZ_CHECK(!digest_hex_equal(c.alg, resp, c.response) ||
	    strcmp(resp, c.response) == 0);
}

static void
fuzz_nonce(const char *text)
{
	struct digest_nonce n = { 1700000000, 7, 42 }, got;
	char made[DIGEST_NONCE_TEXT];

	(void)digest_nonce_check(key, "example.com", text, 1700000010, 300,
	    &got);
	digest_nonce_make(key, "example.com", &n, made);
	FUZZ_CHECK(digest_nonce_check(key, "example.com", made, 1700000010,
	    300, &got) == DIGEST_NONCE_FRESH);
	FUZZ_CHECK(got.issued == n.issued && got.epoch == n.epoch &&
	    got.seq == n.seq);
	if (strcmp(text, made) != 0) {
		FUZZ_CHECK(digest_nonce_check(key, "example.com", text,
		    1700000010, 300, &got) != DIGEST_NONCE_FRESH ||
		    strcasecmp(text, made) == 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;

	if (size == 0) {
		return (0);
	}
	/* A copy of exactly the value: ASan sees any read past it. */
	if ((text = malloc(size)) == NULL) {
		return (0);
	}
	memcpy(text, data + 1, size - 1);
	if ((data[0] & 1) == 0) {
		fuzz_parse(text, size - 1);
	} else {
		text[size - 1] = '\0';
		fuzz_nonce(text);
	}
	free(text);
	return (0);
}
