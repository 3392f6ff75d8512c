/*
 * users.c -- the registrar's digest users in SQLite (see users.h).
 *
 * The table is additive: a bridge of an older build ignores it, so the
 * bindings' schema version (location_db.c) does not change for it.  One
 * row per (user, domain), the primary key; the look-up is a single
 * statement that also says whether the table holds anyone, which is
 * what `auth = protected` decides by.
 * DIAGNOSTICS: SQLite's errors are returned (epsipctl) or logged (the
 * bridge); none is fatal here.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "epsip/digest.h"
#include "epsip/log.h"
#include "epsip/users.h"

static const char users_sql[] =
    "CREATE TABLE IF NOT EXISTS users ("
    " user TEXT NOT NULL,"
    " domain TEXT NOT NULL,"
    " ha1_sha256 TEXT NOT NULL,"
    " ha1_md5 TEXT NOT NULL,"
    " PRIMARY KEY (user, domain)) WITHOUT ROWID;";

/*
 * LEFT JOIN on a one-row table: always one row, so "no such user" and
 * "nobody at all" come from the same step.  EXISTS stops at the first
 * row of the primary key's b-tree.
 */
static const char lookup_sql[] =
    "SELECT EXISTS (SELECT 1 FROM users), u.ha1_sha256, u.ha1_md5 "
    "FROM (SELECT 1) LEFT JOIN users AS u "
    "ON u.user = ?1 AND u.domain = ?2";

struct users_lookup {
	sqlite3 *db;
	sqlite3_stmt *stmt;
};

int
users_schema(sqlite3 *db, char *err, size_t errcap)
{
	char *msg = NULL;

	if (sqlite3_exec(db, users_sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errcap, "users table: %s", msg != NULL ? msg :
		    sqlite3_errmsg(db));
		sqlite3_free(msg);
		return (-1);
	}
	return (0);
}

int
users_open(const char *path, sqlite3 **dbp, char *err, size_t errcap)
{
	sqlite3 *db = NULL;
	char *msg = NULL;

	*dbp = NULL;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		snprintf(err, errcap, "%s: %s", path, db != NULL ?
		    sqlite3_errmsg(db) : "cannot open");
		sqlite3_close(db);
		return (-1);
	}
	/*
	 * The bridge holds its write lock for one loop iteration at most.
	 * It never waits for ours (its busy timeout is 0: a REGISTER that
	 * finds the lock taken gets 500 with Retry-After), so ours is held
	 * for microseconds: synchronous = NORMAL does not sync the WAL at
	 * each commit, as registrar-sync = off and normal do not either.
	 */
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_exec(db, "PRAGMA journal_mode = WAL; "
	    "PRAGMA synchronous = NORMAL;", NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errcap, "%s: %s", path, msg != NULL ? msg :
		    sqlite3_errmsg(db));
		sqlite3_free(msg);
		sqlite3_close(db);
		return (-1);
	}
	if (users_schema(db, err, errcap) == -1) {
		sqlite3_close(db);
		return (-1);
	}
	*dbp = db;
	return (0);
}

static int
user_char_ok(char c)
{
	unsigned char u = (unsigned char)c;

	return (u > 0x20 && u < 0x7f && strchr(":@\"\\", c) == NULL);
}

static int
domain_char_ok(char c)
{
	return (isalnum((unsigned char)c) || c == '.' || c == '-' ||
	    c == '_');
}

int
users_split(const char *text, char *user, size_t ucap, char *domain,
    size_t dcap, char *err, size_t errcap)
{
	const char *at = strrchr(text, '@');
	size_t ulen, dlen, i;

	if (at == NULL || at == text || at[1] == '\0') {
		snprintf(err, errcap, "\"%s\" is not USER@DOMAIN", text);
		return (-1);
	}
	ulen = (size_t)(at - text);
	dlen = strlen(at + 1);
	if (ulen >= ucap || ulen >= USERS_USER_MAX || dlen >= dcap ||
	    dlen >= USERS_DOMAIN_MAX) {
		snprintf(err, errcap, "\"%s\": too long", text);
		return (-1);
	}
	for (i = 0; i < ulen; i++) {
		if (!user_char_ok(text[i])) {
			snprintf(err, errcap, "\"%.*s\": a user name has no "
			    "blank, control byte, ':', '@', '\"' or '\\'",
			    (int)ulen, text);
			return (-1);
		}
	}
	for (i = 0; i < dlen; i++) {
		if (!domain_char_ok(at[1 + i])) {
			snprintf(err, errcap, "\"%s\" is not a domain name",
			    at + 1);
			return (-1);
		}
		domain[i] = (char)tolower((unsigned char)at[1 + i]);
	}
	domain[dlen] = '\0';
	memcpy(user, text, ulen);
	user[ulen] = '\0';
	return (0);
}

static int
password_ok(const char *password, char *err, size_t errcap)
{
	size_t n = strlen(password);

	if (n == 0 || n >= USERS_PASSWORD_MAX) {
		snprintf(err, errcap, "the password must be 1 to %d bytes",
		    USERS_PASSWORD_MAX - 1);
		return (0);
	}
	if (strpbrk(password, "\r\n") != NULL) {
		snprintf(err, errcap, "the password holds a line end");
		return (0);
	}
	return (1);
}

/* Prepare, or say why not. */
static sqlite3_stmt *
prepare(sqlite3 *db, const char *sql, char *err, size_t errcap)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errcap, "%s", sqlite3_errmsg(db));
		return (NULL);
	}
	return (st);
}

/* Step a write to its end: 0, or -1 with SQLite's reason. */
static int
step_done(sqlite3 *db, sqlite3_stmt *st, char *err, size_t errcap)
{
	int rc = sqlite3_step(st);

	if (rc != SQLITE_DONE) {
		snprintf(err, errcap, "%s", sqlite3_errmsg(db));
	}
	sqlite3_finalize(st);
	return (rc == SQLITE_DONE ? 0 : -1);
}

int
users_set(sqlite3 *db, const char *user, const char *domain,
    const char *password, int *replaced, char *err, size_t errcap)
{
	char ha1[DIGEST_ALG_COUNT][DIGEST_HEX_MAX];
	sqlite3_stmt *st;
	int rv;

	*replaced = 0;
	if (!password_ok(password, err, errcap)) {
		return (-1);
	}
	for (int a = 0; a < DIGEST_ALG_COUNT; a++) {
		digest_ha1((enum digest_alg)a, user, domain, password, ha1[a]);
	}
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
	    SQLITE_OK) {
		snprintf(err, errcap, "%s", sqlite3_errmsg(db));
		return (-1);
	}
	if ((st = prepare(db, "SELECT 1 FROM users WHERE user = ?1 AND "
	    "domain = ?2", err, errcap)) == NULL) {
		goto fail;
	}
	sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, domain, -1, SQLITE_STATIC);
	*replaced = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	if ((st = prepare(db, "INSERT OR REPLACE INTO users (user, domain, "
	    "ha1_sha256, ha1_md5) VALUES (?1, ?2, ?3, ?4)", err,
	    errcap)) == NULL) {
		goto fail;
	}
	sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, domain, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, ha1[DIGEST_SHA256], -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, ha1[DIGEST_MD5], -1, SQLITE_STATIC);
	if (step_done(db, st, err, errcap) == -1) {
		goto fail;
	}
	rv = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	explicit_bzero(ha1, sizeof(ha1));
	if (rv != SQLITE_OK) {
		snprintf(err, errcap, "%s", sqlite3_errmsg(db));
		(void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return (-1);
	}
	return (0);
fail:
	explicit_bzero(ha1, sizeof(ha1));
	(void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return (-1);
}

int
users_del(sqlite3 *db, const char *user, const char *domain, char *err,
    size_t errcap)
{
	sqlite3_stmt *st;

	if ((st = prepare(db, "DELETE FROM users WHERE user = ?1 AND "
	    "domain = ?2", err, errcap)) == NULL) {
		return (-1);
	}
	sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, domain, -1, SQLITE_STATIC);
	if (step_done(db, st, err, errcap) == -1) {
		return (-1);
	}
	return (sqlite3_changes(db) > 0);
}

int
users_list(sqlite3 *db, void (*fn)(void *, const char *, const char *),
    void *arg, char *err, size_t errcap)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = prepare(db, "SELECT user, domain FROM users ORDER BY "
	    "domain, user", err, errcap)) == NULL) {
		return (-1);
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		fn(arg, (const char *)sqlite3_column_text(st, 0),
		    (const char *)sqlite3_column_text(st, 1));
	}
	if (rc != SQLITE_DONE) {
		snprintf(err, errcap, "%s", sqlite3_errmsg(db));
	}
	sqlite3_finalize(st);
	return (rc == SQLITE_DONE ? 0 : -1);
}

struct users_lookup *
users_lookup_new(sqlite3 *db, char *err, size_t errcap)
{
	struct users_lookup *l;

	if (users_schema(db, err, errcap) == -1) {
		return (NULL);
	}
	if ((l = calloc(1, sizeof(*l))) == NULL) {
		snprintf(err, errcap, "out of memory");
		return (NULL);
	}
	l->db = db;
	if (sqlite3_prepare_v3(db, lookup_sql, -1, SQLITE_PREPARE_PERSISTENT,
	    &l->stmt, NULL) != SQLITE_OK) {
		snprintf(err, errcap, "users: prepare: %s",
		    sqlite3_errmsg(db));
		free(l);
		return (NULL);
	}
	return (l);
}

void
users_lookup_free(struct users_lookup *l)
{
	if (l == NULL) {
		return;
	}
	sqlite3_finalize(l->stmt);
	free(l);
}

/* A column's HA1 into out, "" when NULL or not the algorithm's size. */
static void
column_ha1(sqlite3_stmt *st, int col, enum digest_alg alg, char *out)
{
	const unsigned char *text = sqlite3_column_text(st, col);
	size_t n = digest_hex_len(alg);

	out[0] = '\0';
	if (text != NULL && strlen((const char *)text) == n) {
		memcpy(out, text, n + 1);
	}
}

int
users_lookup(struct users_lookup *l, const char *user, const char *domain,
    struct users_row *row)
{
	int rc;

	memset(row, 0, sizeof(*row));
	if (user != NULL) {
		sqlite3_bind_text(l->stmt, 1, user, -1, SQLITE_STATIC);
	} else {
		sqlite3_bind_null(l->stmt, 1);
	}
	sqlite3_bind_text(l->stmt, 2, domain, -1, SQLITE_STATIC);
	rc = sqlite3_step(l->stmt);
	if (rc == SQLITE_ROW) {
		row->any = sqlite3_column_int(l->stmt, 0) != 0;
		row->found = sqlite3_column_type(l->stmt, 1) != SQLITE_NULL;
		column_ha1(l->stmt, 1, DIGEST_SHA256, row->ha1[DIGEST_SHA256]);
		column_ha1(l->stmt, 2, DIGEST_MD5, row->ha1[DIGEST_MD5]);
	} else {
		log_warnx("users: look-up: %s", sqlite3_errmsg(l->db));
	}
	/*
	 * Reset at once: a statement left open would pin its read snapshot,
	 * and the next request would not see a user added since.  Both
	 * parameters are bound again every time.
	 */
	sqlite3_reset(l->stmt);
	return (rc == SQLITE_ROW ? 0 : -1);
}
