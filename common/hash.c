/*
 * hash.c -- FNV-1a, 32-bit, and SipHash-1-3 (see hash.h).
 */
#include <string.h>

#include "epsip/hash.h"

#define FNV1A_PRIME	16777619u

uint32_t
fnv1a_add(uint32_t h, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	for (size_t i = 0; i < len; i++) {
		h = (h ^ p[i]) * FNV1A_PRIME;
	}
	return (h);
}

uint32_t
fnv1a(const void *buf, size_t len)
{
	return (fnv1a_add(FNV1A_BASIS, buf, len));
}

uint32_t
fnv1a_str(const char *s)
{
	return (fnv1a_add(FNV1A_BASIS, s, strlen(s)));
}

#define ROTL(x, b)	(uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

#define SIPROUND(v0, v1, v2, v3) do {				\
	v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);	\
	v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;				\
	v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;				\
	v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);	\
} while (0)

static uint64_t
load64(const uint8_t *p)
{
	uint64_t v;
	int i;

	v = 0;
	for (i = 7; i >= 0; i--) {
		v = (v << 8) | p[i];
	}
	return (v);
}

/* SipHash-1-3: one compression round, three finalisation rounds. */
uint64_t
siphash13(uint64_t k0, uint64_t k1, const void *data, size_t len)
{
	const uint8_t *in = data;
	uint64_t v0, v1, v2, v3, m, b;
	size_t i, left;

	v0 = k0 ^ 0x736f6d6570736575ULL;
	v1 = k1 ^ 0x646f72616e646f6dULL;
	v2 = k0 ^ 0x6c7967656e657261ULL;
	v3 = k1 ^ 0x7465646279746573ULL;
	for (i = 0; i + 8 <= len; i += 8) {
		m = load64(in + i);
		v3 ^= m;
		SIPROUND(v0, v1, v2, v3);
		v0 ^= m;
	}
	b = (uint64_t)len << 56;
	left = len - i;
	while (left > 0) {
		left--;
		b |= (uint64_t)in[i + left] << (8 * left);
	}
	v3 ^= b;
	SIPROUND(v0, v1, v2, v3);
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND(v0, v1, v2, v3);
	SIPROUND(v0, v1, v2, v3);
	SIPROUND(v0, v1, v2, v3);
	return (v0 ^ v1 ^ v2 ^ v3);
}
