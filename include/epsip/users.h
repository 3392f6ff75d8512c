/*
 * users.h -- the embedded registrar's digest users, in its SQLite file.
 *
 * One row per USER@DOMAIN holding HA1 = H(user ":" realm ":" password)
 * for each algorithm (RFC 7616 §3.4.2; the realm is the domain), never
 * the password.  epsipctl writes through a connection of its own
 * (users_open(), users_set(), users_del()); the registrar-bridge reads
 * with one prepared statement per request (users_lookup()), so a user
 * added or removed counts from the next request on, without a restart
 * or a cache to invalidate.  The table lives beside the bindings in the
 * registrar's database (`registrar-db`) and is created by whichever of
 * the two opens the file first.
 */
#ifndef EPSIP_USERS_H
#define EPSIP_USERS_H

#include <stddef.h>

#include "epsip/digest.h"

struct sqlite3;

#define USERS_USER_MAX		128
#define USERS_DOMAIN_MAX	256
#define USERS_PASSWORD_MAX	1024

/* Create the table when missing; 0, or -1 with a reason in err. */
int users_schema(struct sqlite3 *db, char *err, size_t errcap);

/*
 * epsipctl's connection to the database at `path` (created if missing,
 * WAL like the bridge's), waiting up to 5 s for the bridge's write lock;
 * the table made if missing.  0, or -1 with a reason.
 */
int users_open(const char *path, struct sqlite3 **db, char *err,
    size_t errcap);

/*
 * "USER@DOMAIN" into its parts, the domain in lower case (realms are
 * compared as the registrar writes them).  The user may not hold ':',
 * '@', '"', '\', blanks or control bytes (HA1 joins fields with ':', and
 * a phone quotes the name); the domain is a host name.  0, or -1 with a
 * reason.
 */
int users_split(const char *text, char *user, size_t ucap, char *domain,
    size_t dcap, char *err, size_t errcap);

/*
 * Store user@domain with the HA1s of `password` (any bytes but NUL and
 * line ends, 1..USERS_PASSWORD_MAX-1 of them), replacing a user that is
 * there (*replaced = 1).  0, or -1 with a reason.
 */
int users_set(struct sqlite3 *db, const char *user, const char *domain,
    const char *password, int *replaced, char *err, size_t errcap);

/* Remove user@domain: 1 removed, 0 not there, -1 with a reason. */
int users_del(struct sqlite3 *db, const char *user, const char *domain,
    char *err, size_t errcap);

/* Every user, by domain then name: fn(arg, user, domain).  0 or -1. */
int users_list(struct sqlite3 *db,
    void (*fn)(void *arg, const char *user, const char *domain), void *arg,
    char *err, size_t errcap);

/* What one look-up tells. */
struct users_row {
	int any;		/* the table holds at least one user */
	int found;		/* user@domain is one of them */
	char ha1[DIGEST_ALG_COUNT][DIGEST_HEX_MAX];	/* when found */
};

struct users_lookup;

/* The bridge's prepared statement on its own connection; NULL + err. */
struct users_lookup *users_lookup_new(struct sqlite3 *db, char *err,
    size_t errcap);
void users_lookup_free(struct users_lookup *l);

/*
 * One statement, one step: whether any user exists and, when `user` is
 * not NULL, user@domain's HA1s.  0, or -1 (SQLite failed; logged).
 */
int users_lookup(struct users_lookup *l, const char *user,
    const char *domain, struct users_row *row);

#endif /* EPSIP_USERS_H */
