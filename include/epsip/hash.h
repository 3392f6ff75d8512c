/*
 * hash.h -- FNV-1a (32-bit), the hash of the tree's hash tables and of
 * the pool choice by Call-ID.
 *
 * Cheap and good enough where the keys are ours or a trusted peer's:
 * branches, Call-IDs, instance names, core addresses.  Keys that anyone
 * on the network chooses freely need a keyed hash instead (the
 * flow-manager's UDP table uses SipHash).  The values are fixed by the
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

#endif /* EPSIP_HASH_H */
