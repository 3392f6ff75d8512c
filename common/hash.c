/*
 * hash.c -- FNV-1a, 32-bit (see hash.h).
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
