/*
 * fuzz.h -- what the libFuzzer targets of tests/fuzz/ share: the checks
 * that turn a broken invariant into a crash libFuzzer reports, the fixed
 * keys the token and router targets verify with (gen_corpus.c signs the
 * seeds with them), and a small generator for chunk sizes.
 *
 * Header-only, so that each target stays one .c file plus the library.
 */
#ifndef EPSIP_FUZZ_H
#define EPSIP_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "epsip/flow_token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/*
 * An invariant the code under test must keep.  abort() is what libFuzzer
 * records as a crash, with the input that caused it.
 */
#define FUZZ_CHECK(cond) do {						\
	if (!(cond)) {							\
		fuzz_fail(__FILE__, __LINE__, #cond);			\
	}								\
} while (0)

static inline void
fuzz_fail(const char *file, int line, const char *what)
{
	fprintf(stderr, "fuzz invariant broken at %s:%d: %s\n", file, line,
	    what);
	abort();
}

/*
 * The secrets of the keyring every target verifies with.  Fixed, so that
 * a token in a seed (tests/fuzz/corpus) stays valid across runs.  The
 * previous key of a rotation is derived from it (fuzz_keyring()), once
 * with the current key's id (the 1 in 256 rotations where the one-byte
 * ids collide) and once with another.
 */
static const uint8_t fuzz_secret_current[FLOW_TOKEN_KEY_SIZE] = {
	0x45, 0x50, 0x53, 0x49, 0x50, 0x2d, 0x66, 0x75,
	0x7a, 0x7a, 0x2d, 0x6b, 0x65, 0x79, 0x2d, 0x31,
	0x0b, 0x1d, 0x2e, 0x3f, 0x40, 0x51, 0x62, 0x73,
	0x84, 0x95, 0xa6, 0xb7, 0xc8, 0xd9, 0xea, 0xfb,
};

/*
 * The current key and a previous one: the current secret with its last
 * two bytes changed by a counter, counted up until the ids agree (with
 * `same_id`; a few hundred SHA-256 on average) or differ.
 */
static inline void
fuzz_keyring(struct flow_token_keyring *ring, int same_id)
{
	uint8_t secret[FLOW_TOKEN_KEY_SIZE];
	uint16_t c = 0;

	flow_token_key_init(&ring->current, fuzz_secret_current);
	do {
		c++;
		for (size_t i = 0; i < sizeof(secret); i++) {
			secret[i] = fuzz_secret_current[i];
		}
		secret[FLOW_TOKEN_KEY_SIZE - 2] ^= (uint8_t)(c >> 8);
		secret[FLOW_TOKEN_KEY_SIZE - 1] ^= (uint8_t)c;
		flow_token_key_init(&ring->previous, secret);
	} while ((ring->previous.id == ring->current.id) != same_id);
	ring->has_previous = 1;
}

/* xorshift32: chunk sizes and choices derived from the input. */
static inline uint32_t
fuzz_next(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return (*x);
}

/*
 * The size of the next read of a stream: a byte at a time (what a split
 * header breaks), a few bytes, a segment, up to 8 KiB; rarely all that is
 * left (the whole-buffer pass of each target covers that).  Never 0.
 */
static inline size_t
fuzz_chunk(uint32_t *x, size_t left)
{
	uint32_t v = fuzz_next(x);
	size_t n;

	switch (v & 15) {
	case 0: case 1: case 2: case 3:
		n = 1;
		break;
	case 4: case 5: case 6: case 7:
		n = 1 + (v >> 4) % 16;
		break;
	case 14:
		n = 1 + (v >> 4) % 8192;
		break;
	case 15:
		n = left;
		break;
	default:
		n = 1 + (v >> 4) % 512;
		break;
	}
	return (n < left ? n : left);
}

#endif /* EPSIP_FUZZ_H */
