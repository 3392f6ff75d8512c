/*
 * hash.h -- FNV-1a (32-bit), the hash of the tree's hash tables and of
 * the pool choice by Call-ID; SipHash-1-3 for keys the network chooses.
 *
 * Cheap and good enough where the keys are ours or a trusted peer's:
 * branches, Call-IDs, instance names, core addresses.  Keys that anyone
 * on the network chooses freely need a keyed hash instead: siphash13()
 * (the flow-manager's UDP table, the per-source limits).  The values are fixed by the
 * algorithm, so a table keeps its bucket order across builds.
 */
#ifndef EPSIP_HASH_H
#define EPSIP_HASH_H

#include <stddef.h>
#include <stdint.h>

#define FNV1A_BASIS	2166136261u

/* Hash `len` bytes, going on from `h` (FNV1A_BASIS to start). */
uint32_t fnv1a_add(uint32_t h, const void *buf, size_t len);
/* The hash of `len` bytes. */
uint32_t fnv1a(const void *buf, size_t len);
/* The hash of a NUL-terminated string, without the NUL. */
uint32_t fnv1a_str(const char *s);

/*
 * SipHash-1-3 of `len` bytes under the secret key (k0, k1): for tables
 * whose keys the network chooses (a peer's address), so that nobody who
 * does not know the key can aim many keys at one bucket.
 */
uint64_t siphash13(uint64_t k0, uint64_t k1, const void *in, size_t len);

#endif /* EPSIP_HASH_H */
