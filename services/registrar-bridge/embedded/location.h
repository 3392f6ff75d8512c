/*
 * location.h -- the location service: registrar bindings in SQLite.
 *
 * One row per binding.  Outbound bindings (RFC 5626 §6, RG-09) are keyed by
 * (AOR, instance, reg-id); plain ones (RFC 3261 §10.3) by (AOR, Contact
 * URI), with reg_id 0.  The Path vector is kept in order (RG-01) as a JSON
 * array, and the user part of its first URI -- the edge's flow token -- is
 * indexed so a dead flow drops its bindings at once (RG-27).  Bindings
 * survive a restart of the bridge.  Times are Unix seconds; a binding whose
 * expires_at has passed is treated as absent by every read.
 */
#ifndef LOCATION_H
#define LOCATION_H

#include <stddef.h>
#include <stdint.h>

#include "epsip/config.h"

struct location_db;

struct location_binding {
	int64_t id;
	char *aor;		/* canonical, "sip:bob@example.com" */
	char *instance;		/* normalised +sip.instance URN, "" if none */
	uint32_t reg_id;	/* 0: plain binding */
	char *contact_uri;	/* the Contact URI as text */
	char *contact_value;	/* the whole Contact value, minus expires */
	char **path;		/* Path values in order, topmost first */
	size_t path_count;
	char *call_id;
	uint32_t cseq;
	int64_t expires_at;
	int q1000;		/* q * 1000; 1000 when absent */
	int64_t updated_at;
	char *flow_token;	/* user part of path[0], "" if none */
};

struct location_list {
	struct location_binding *v;
	size_t count;
};

/*
 * Open (creating the schema if missing) the database at `path`, synced to
 * disk as `sync` says; ":memory:" works for tests.  A file SQLite finds
 * corrupt (only an OS crash or a power cut can leave one, and then every
 * flow it pointed to is gone too) is moved aside to PATH.corrupt-<unix
 * time> and the registrar starts empty: phones register again.  0, or -1
 * with a reason in err.
 */
int location_open(struct location_db **db, const char *path,
    enum registrar_sync sync, char *err, size_t errcap);
void location_close(struct location_db *db);

/*
 * One request's changes, all or nothing (RG-22): BEGIN IMMEDIATE / COMMIT
 * / ROLLBACK, or in grouped mode SAVEPOINT / RELEASE / ROLLBACK TO inside
 * the group's transaction.  0 or -1.
 */
int location_begin(struct location_db *db);
int location_commit(struct location_db *db);
void location_rollback(struct location_db *db);

/*
 * Group commit.  In grouped mode the first write (a request's
 * location_begin(), a removal, a purge) opens one transaction, and every
 * later write joins it until location_group_commit(): the bridge commits
 * once per loop iteration, not once per REGISTER.  Reads on this
 * connection see the group's uncommitted rows, so a REGISTER's answer,
 * built from them, waits for the commit (core_embedded.c holds it).  A
 * request routed meanwhile may use a binding not committed yet: harmless,
 * its phone is there, and if the commit fails the phone hears 500.
 */
void location_set_grouped(struct location_db *db, int grouped);
/* 1 while the group's transaction is open (something waits for COMMIT). */
int location_group_pending(const struct location_db *db);
/*
 * COMMIT the group: 0 (also when nothing was open), or -1 when it failed
 * or SQLite had already rolled it back; then every change since the first
 * write is undone.
 */
int location_group_commit(struct location_db *db);
/* Undo the group (shutdown with answers not sent). */
void location_group_rollback(struct location_db *db);

/*
 * The live binding with this key: reg_id > 0 uses (aor, instance, reg_id),
 * reg_id 0 uses (aor, contact_uri).  1 and *out, 0 none, -1 error.
 */
int location_find(struct location_db *db, const char *aor,
    const char *instance, uint32_t reg_id, const char *contact_uri,
    int64_t now, struct location_binding *out);

/*
 * Only the Call-ID (malloc'ed, *call_id) and CSeq of that binding: what
 * RFC 3261 §10.3(7) compares, without building the whole binding (its
 * Path is JSON) on every REGISTER.  1, 0 none, -1 error.
 */
int location_find_seq(struct location_db *db, const char *aor,
    const char *instance, uint32_t reg_id, const char *contact_uri,
    int64_t now, char **call_id, uint32_t *cseq);

/* Insert, or update in place any row (live or expired) with the same key. */
int location_store(struct location_db *db, const struct location_binding *b);

/* Remove by key, as location_find; 0 or -1. */
int location_remove(struct location_db *db, const char *aor,
    const char *instance, uint32_t reg_id, const char *contact_uri);
/*
 * Remove binding `id` if it still goes over `flow_token` ("" for none): a
 * refresh keeps the id, and a 430 from an old flow must not remove the
 * binding the phone has since moved to a new one.  0 or -1.
 */
int location_remove_id(struct location_db *db, int64_t id,
    const char *flow_token);
/* Remove every binding of `aor`; the count removed, or -1. */
int location_remove_aor(struct location_db *db, const char *aor);
/* Remove every binding whose first Path URI carries `token`; count or -1. */
int location_remove_flow(struct location_db *db, const char *token);
/* Remove expired bindings; count or -1. */
int location_purge(struct location_db *db, int64_t now);

/* Live bindings of `aor`: q descending, then most recently updated. */
int location_list_aor(struct location_db *db, const char *aor, int64_t now,
    struct location_list *out);
/*
 * The same order with only call_id, cseq, contact_value and expires_at
 * filled in (the rest NULL or 0): what a REGISTER's 200 and Contact: *
 * need, without decoding every binding's Path on every REGISTER.
 */
int location_list_aor_brief(struct location_db *db, const char *aor,
    int64_t now, struct location_list *out);
/* The most recent live binding whose Contact URI is `uri`: 1, 0, -1. */
int location_find_contact(struct location_db *db, const char *uri,
    int64_t now, struct location_binding *out);
/* Number of live bindings, or -1 (a full count: not per request). */
int64_t location_count(struct location_db *db, int64_t now);
/* Rows in the store, expired ones not yet purged included; O(1). */
int64_t location_rows(const struct location_db *db);
/*
 * Gauges of where SQLite's memory is: registrar.db_cache_bytes (this
 * store's page cache, bounded by cache_size) and registrar.sqlite_heap_bytes
 * (everything SQLite allocated).
 */
void location_report_memory(struct location_db *db);

/*
 * How many times SQLite had to parse a prepared statement again (its
 * schema or a bound value changed its plan); 0 in steady state.
 */
int64_t location_reprepares(const struct location_db *db);

/* The SQLite connection (tests break commits with its commit hook). */
struct sqlite3 *location_sqlite(struct location_db *db);

void location_binding_clear(struct location_binding *b);
void location_list_clear(struct location_list *list);

/* Path vector <-> JSON array text (malloc'ed); exposed for tests. */
char *location_path_to_json(char *const *path, size_t count);
int location_path_from_json(const char *json, char ***path, size_t *count);

#endif /* LOCATION_H */
