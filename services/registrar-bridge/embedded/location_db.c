/*
 * location_db.c -- registrar bindings in SQLite (see location.h).
 *
 * The schema is created when missing and versioned with PRAGMA
 * user_version.  The database runs in WAL mode, and `registrar-sync` sets
 * its PRAGMA synchronous.  In WAL mode a commit is a write(2) to the WAL:
 * at every level a committed REGISTER survives a crash of the bridge (the
 * supervisor restarts it under registered flows).  The levels differ only
 * on an OS crash or a power cut, which also ends every flow the bindings
 * point to.  The default, off, never syncs.  normal syncs at each WAL
 * checkpoint, which SQLite runs inside the commit that crosses 1,000 WAL
 * pages, on the event loop: two fdatasyncs of 2-160 ms on this project's
 * test machine, and a registrar p99 of 50-175 ms at 2,000 REGISTER/s
 * instead of 7-8 ms (docs/performance.md).  The price of off is that such
 * a crash may corrupt the file; location_open() then moves it aside and
 * starts empty.  Every statement is prepared once at open.  The only
 * other writer is `epsipctl user`, whose transaction lasts microseconds
 * (users.c); the bridge waits for it at most LOCATION_BUSY_MS rather than
 * answer the REGISTERs of that moment 500 (measured with no wait: 122 of
 * 8,500 REGISTERs at 1,000/s while a loop added 45 users a second; none
 * with it).
 *
 * DIAGNOSTICS: every SQLite error is logged and returned; none is fatal
 * here (the registrar answers 500, RG-22).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sqlite3.h>

#include "epsip/log.h"
#include "epsip/stats.h"

#include "location.h"

#define LOCATION_SCHEMA_VERSION	1
/* Longest the event loop waits for epsipctl's write lock. */
#define LOCATION_BUSY_MS	20

#define COLUMNS "id, aor, instance, reg_id, contact_uri, contact_value, " \
	"path, call_id, cseq, expires_at, q, updated_at, flow_token"

/*
 * A bound reg_id, written "+?N" on purpose.  The two unique indexes are
 * partial (WHERE reg_id > 0, WHERE reg_id = 0), and when a WHERE clause
 * compares reg_id with a plain parameter, SQLite's planner checks the
 * bound value against those conditions and marks the statement as
 * depending on it: every bind (and sqlite3_clear_bindings) then expires
 * the statement and the next step parses and plans the SQL again -- on
 * every REGISTER.  The unary plus hides the parameter from that check;
 * the literal "reg_id > 0" next to it lets the planner pick the outbound
 * index without knowing the value.  location_reprepares() counts misses.
 */
#define REG_ID_PARAM(n)	"+?" #n

enum stmt {
	S_BEGIN,
	S_COMMIT,
	S_ROLLBACK,
	S_SAVEPOINT,
	S_RELEASE,
	S_ROLLBACK_TO,
	S_FIND_OUTBOUND,
	S_FIND_PLAIN,
	S_SEQ_OUTBOUND,
	S_SEQ_PLAIN,
	S_INSERT,
	S_UPDATE_OUTBOUND,
	S_UPDATE_PLAIN,
	S_REMOVE_OUTBOUND,
	S_REMOVE_PLAIN,
	S_REMOVE_ID,
	S_REMOVE_AOR,
	S_REMOVE_FLOW,
	S_PURGE,
	S_LIST_AOR,
	S_LIST_AOR_BRIEF,
	S_FIND_CONTACT,
	S_COUNT,
	S_ROWS,
	S_MAX,
};

static const char *const stmt_sql[S_MAX] = {
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_SAVEPOINT] = "SAVEPOINT request",
	[S_RELEASE] = "RELEASE request",
	[S_ROLLBACK_TO] = "ROLLBACK TO request",
	[S_FIND_OUTBOUND] = "SELECT " COLUMNS " FROM bindings "
	    "WHERE aor = ?1 AND instance = ?2 AND reg_id = " REG_ID_PARAM(3)
	    " AND reg_id > 0 AND expires_at > ?4",
	[S_FIND_PLAIN] = "SELECT " COLUMNS " FROM bindings "
	    "WHERE aor = ?1 AND reg_id = 0 AND contact_uri = ?2 "
	    "AND expires_at > ?3",
	[S_SEQ_OUTBOUND] = "SELECT call_id, cseq FROM bindings "
	    "WHERE aor = ?1 AND instance = ?2 AND reg_id = " REG_ID_PARAM(3)
	    " AND reg_id > 0 AND expires_at > ?4",
	[S_SEQ_PLAIN] = "SELECT call_id, cseq FROM bindings "
	    "WHERE aor = ?1 AND reg_id = 0 AND contact_uri = ?2 "
	    "AND expires_at > ?3",
	[S_INSERT] = "INSERT INTO bindings (aor, instance, reg_id, "
	    "contact_uri, contact_value, path, call_id, cseq, expires_at, q, "
	    "updated_at, flow_token) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
	/* Same parameter numbers as S_INSERT: one binder fills all three. */
	[S_UPDATE_OUTBOUND] = "UPDATE bindings SET contact_uri = ?4, "
	    "contact_value = ?5, path = ?6, call_id = ?7, cseq = ?8, "
	    "expires_at = ?9, q = ?10, updated_at = ?11, flow_token = ?12 "
	    "WHERE aor = ?1 AND instance = ?2 AND reg_id = " REG_ID_PARAM(3)
	    " AND reg_id > 0",
	[S_UPDATE_PLAIN] = "UPDATE bindings SET instance = ?2, "
	    "contact_value = ?5, path = ?6, call_id = ?7, cseq = ?8, "
	    "expires_at = ?9, q = ?10, updated_at = ?11, flow_token = ?12 "
	    "WHERE aor = ?1 AND reg_id = " REG_ID_PARAM(3) " AND reg_id = 0 "
	    "AND contact_uri = ?4",
	[S_REMOVE_OUTBOUND] = "DELETE FROM bindings "
	    "WHERE aor = ?1 AND instance = ?2 AND reg_id = " REG_ID_PARAM(3)
	    " AND reg_id > 0",
	[S_REMOVE_PLAIN] = "DELETE FROM bindings "
	    "WHERE aor = ?1 AND reg_id = 0 AND contact_uri = ?2",
	[S_REMOVE_ID] = "DELETE FROM bindings WHERE id = ?1 AND flow_token = ?2",
	[S_REMOVE_AOR] = "DELETE FROM bindings WHERE aor = ?1",
	[S_REMOVE_FLOW] = "DELETE FROM bindings WHERE flow_token = ?1",
	[S_PURGE] = "DELETE FROM bindings WHERE expires_at <= ?1",
	[S_LIST_AOR] = "SELECT " COLUMNS " FROM bindings "
	    "WHERE aor = ?1 AND expires_at > ?2 "
	    "ORDER BY q DESC, updated_at DESC, id DESC",
	[S_LIST_AOR_BRIEF] = "SELECT call_id, cseq, contact_value, expires_at "
	    "FROM bindings WHERE aor = ?1 AND expires_at > ?2 "
	    "ORDER BY q DESC, updated_at DESC, id DESC",
	[S_FIND_CONTACT] = "SELECT " COLUMNS " FROM bindings "
	    "WHERE contact_uri = ?1 AND expires_at > ?2 "
	    "ORDER BY updated_at DESC, id DESC LIMIT 1",
	[S_COUNT] = "SELECT count(*) FROM bindings WHERE expires_at > ?1",
	[S_ROWS] = "SELECT count(*) FROM bindings",
};

/*
 * Partial unique indexes enforce the two key kinds (RG-09); flow_token is
 * indexed for FLOW_CLOSED (RG-27), aor for look-ups, expires_at for purges.
 */
static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS bindings ("
    " id INTEGER PRIMARY KEY,"
    " aor TEXT NOT NULL,"
    " instance TEXT NOT NULL DEFAULT '',"
    " reg_id INTEGER NOT NULL DEFAULT 0,"
    " contact_uri TEXT NOT NULL,"
    " contact_value TEXT NOT NULL,"
    " path TEXT NOT NULL DEFAULT '[]',"
    " call_id TEXT NOT NULL,"
    " cseq INTEGER NOT NULL,"
    " expires_at INTEGER NOT NULL,"
    " q INTEGER NOT NULL DEFAULT 1000,"
    " updated_at INTEGER NOT NULL,"
    " flow_token TEXT NOT NULL DEFAULT '');"
    "CREATE UNIQUE INDEX IF NOT EXISTS bindings_outbound"
    " ON bindings (aor, instance, reg_id) WHERE reg_id > 0;"
    "CREATE UNIQUE INDEX IF NOT EXISTS bindings_plain"
    " ON bindings (aor, contact_uri) WHERE reg_id = 0;"
    "CREATE INDEX IF NOT EXISTS bindings_aor ON bindings (aor);"
    "CREATE INDEX IF NOT EXISTS bindings_flow ON bindings (flow_token);"
    "CREATE INDEX IF NOT EXISTS bindings_contact ON bindings (contact_uri);"
    "CREATE INDEX IF NOT EXISTS bindings_expiry ON bindings (expires_at);";

struct location_db {
	sqlite3 *db;
	sqlite3_stmt *stmt[S_MAX];
	/*
	 * Rows in the table, live or not yet purged, kept by hand so the
	 * registrations.active gauge costs nothing per REGISTER (a count(*)
	 * is a millisecond at 100k bindings).  rows_at_begin undoes a
	 * rolled-back transaction.
	 */
	int64_t rows;
	int64_t rows_at_begin;
	/*
	 * Group commit (location.h): `grouped` makes writes join one
	 * transaction, opened by the first write and ended by
	 * location_group_commit(); rows_at_group undoes it.  `group_lost`:
	 * SQLite rolled the whole transaction back on its own (e.g. a full
	 * disk), so its commit must fail.
	 */
	int grouped;
	int group_open;
	int group_lost;
	int64_t rows_at_group;
};

static void
db_warn(struct location_db *db, const char *what)
{
	log_warnx("location: %s: %s", what, sqlite3_errmsg(db->db));
}

static int
exec_sql(sqlite3 *db, const char *sql, char *err, size_t errcap)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errcap, "%s", msg != NULL ? msg : "error");
		sqlite3_free(msg);
		return (-1);
	}
	return (0);
}

static int
schema_version(sqlite3 *db)
{
	sqlite3_stmt *st;
	int v = -1;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) !=
	    SQLITE_OK) {
		return (-1);
	}
	if (sqlite3_step(st) == SQLITE_ROW) {
		v = sqlite3_column_int(st, 0);
	}
	sqlite3_finalize(st);
	return (v);
}

static const char *const sync_pragma[] = {
	[REGISTRAR_SYNC_OFF] = "PRAGMA synchronous = OFF;",
	[REGISTRAR_SYNC_NORMAL] = "PRAGMA synchronous = NORMAL;",
	[REGISTRAR_SYNC_FULL] = "PRAGMA synchronous = FULL;",
};

/* The connection's last error says the file is not a sound database. */
static int
is_corrupt(sqlite3 *db)
{
	int rc = sqlite3_errcode(db);

	return (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB);
}

/* PRAGMA quick_check: 1 when the file is sound, 0 if not, -1 on error. */
static int
quick_check(sqlite3 *db)
{
	sqlite3_stmt *st;
	int ok = -1, rc;

	if (sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &st, NULL) !=
	    SQLITE_OK) {
		return (is_corrupt(db) ? 0 : -1);
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const unsigned char *text = sqlite3_column_text(st, 0);

		ok = text != NULL && strcmp((const char *)text, "ok") == 0;
	} else if (is_corrupt(db)) {
		ok = 0;
	}
	sqlite3_finalize(st);
	return (ok);
}

/* Move a corrupt database (and its WAL and index) aside; 0 or -1. */
static int
move_aside(const char *path, char *err, size_t errcap)
{
	static const char *const suffix[] = { "", "-wal", "-shm" };
	char from[CONFIG_PATH_MAX + 8], to[CONFIG_PATH_MAX + 40];
	long long now = (long long)time(NULL);

	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		if ((size_t)snprintf(from, sizeof(from), "%s%s", path,
		    suffix[i]) >= sizeof(from) ||
		    (size_t)snprintf(to, sizeof(to), "%s.corrupt-%lld%s", path,
		    now, suffix[i]) >= sizeof(to)) {
			snprintf(err, errcap, "%s: path too long", path);
			return (-1);
		}
		if (rename(from, to) == -1 && i == 0) {
			snprintf(err, errcap, "%s: cannot move aside", path);
			return (-1);
		}
	}
	return (0);
}

static int location_open_file(struct location_db **dbp, const char *path,
    enum registrar_sync sync, int *corrupt, char *err, size_t errcap);

int
location_open(struct location_db **dbp, const char *path,
    enum registrar_sync sync, char *err, size_t errcap)
{
	char why[256];
	int corrupt = 0, rv;

	rv = location_open_file(dbp, path, sync, &corrupt, err, errcap);
	if (rv == 0 || !corrupt) {
		return (rv);
	}
	snprintf(why, sizeof(why), "%s", err);
	stats_inc(M_REGISTRAR_DB_CORRUPT);
	if (move_aside(path, err, errcap) == -1) {
		return (-1);
	}
	log_error("%s: %s; moved aside, the registrar starts empty", path,
	    why);
	return (location_open_file(dbp, path, sync, &corrupt, err, errcap));
}

/* Open one file; *corrupt says a failure was the file's. */
static int
location_open_file(struct location_db **dbp, const char *path,
    enum registrar_sync sync, int *corrupt, char *err, size_t errcap)
{
	struct location_db *db;
	char buf[64];
	int i, version;

	*dbp = NULL;
	*corrupt = 0;
	if ((db = calloc(1, sizeof(*db))) == NULL) {
		snprintf(err, errcap, "out of memory");
		return (-1);
	}
	if (sqlite3_open_v2(path, &db->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		snprintf(err, errcap, "%s: %s", path,
		    db->db != NULL ? sqlite3_errmsg(db->db) : "cannot open");
		goto fail;
	}
	sqlite3_busy_timeout(db->db, LOCATION_BUSY_MS);
	/* journal_mode answers a row; exec ignores it.  ":memory:" stays
	 * in memory mode, which is fine. */
	if (exec_sql(db->db, "PRAGMA journal_mode = WAL;", err, errcap) != 0 ||
	    exec_sql(db->db, sync_pragma[sync], err, errcap) != 0) {
		goto fail;
	}
	if (quick_check(db->db) == 0) {
		*corrupt = 1;
		snprintf(err, errcap, "database is corrupt (quick_check)");
		goto fail;
	}
	if ((version = schema_version(db->db)) < 0) {
		snprintf(err, errcap, "%s: %s", path, sqlite3_errmsg(db->db));
		goto fail;
	}
	if (version > LOCATION_SCHEMA_VERSION) {
		snprintf(err, errcap, "%s: schema version %d is newer than %d",
		    path, version, LOCATION_SCHEMA_VERSION);
		goto fail;
	}
	if (exec_sql(db->db, schema_sql, err, errcap) != 0) {
		goto fail;
	}
	snprintf(buf, sizeof(buf), "PRAGMA user_version = %d",
	    LOCATION_SCHEMA_VERSION);
	if (exec_sql(db->db, buf, err, errcap) != 0) {
		goto fail;
	}
	for (i = 0; i < S_MAX; i++) {
		if (sqlite3_prepare_v3(db->db, stmt_sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &db->stmt[i], NULL) !=
		    SQLITE_OK) {
			snprintf(err, errcap, "%s: prepare: %s", path,
			    sqlite3_errmsg(db->db));
			goto fail;
		}
	}
	if (sqlite3_step(db->stmt[S_ROWS]) != SQLITE_ROW) {
		snprintf(err, errcap, "%s: %s", path, sqlite3_errmsg(db->db));
		goto fail;
	}
	db->rows = sqlite3_column_int64(db->stmt[S_ROWS], 0);
	sqlite3_reset(db->stmt[S_ROWS]);
	*dbp = db;
	return (0);
fail:
	/* The failing call was SQLite's last: its code says whose fault. */
	if (db->db != NULL && is_corrupt(db->db)) {
		*corrupt = 1;
	}
	location_close(db);
	return (-1);
}

void
location_close(struct location_db *db)
{
	int i;

	if (db == NULL) {
		return;
	}
	for (i = 0; i < S_MAX; i++) {
		sqlite3_finalize(db->stmt[i]);
	}
	sqlite3_close(db->db);
	free(db);
}

/* A statement ready to bind: reset from its last use. */
static sqlite3_stmt *
stmt_get(struct location_db *db, enum stmt which)
{
	sqlite3_stmt *st = db->stmt[which];

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return (st);
}

/* Run a statement that returns no rows; 0 or -1. */
static int
stmt_done(struct location_db *db, sqlite3_stmt *st, const char *what)
{
	int rc;

	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		db_warn(db, what);
		return (-1);
	}
	return (0);
}

void
location_set_grouped(struct location_db *db, int grouped)
{
	db->grouped = grouped;
}

int
location_group_pending(const struct location_db *db)
{
	return (db->group_open);
}

/*
 * Before any write: in grouped mode, open the group's transaction if this
 * is the iteration's first write.  IMMEDIATE takes the write lock now, so
 * COMMIT cannot meet SQLITE_BUSY later.  0 or -1.
 */
static int
group_join(struct location_db *db)
{
	if (!db->grouped) {
		return (0);
	}
	if (db->group_open) {
		if (db->group_lost || sqlite3_get_autocommit(db->db)) {
			/* Gone under us: writing on would start a new
			 * transaction outside the group. */
			db->group_lost = 1;
			return (-1);
		}
		return (0);
	}
	if (stmt_done(db, stmt_get(db, S_BEGIN), "begin") != 0) {
		return (-1);
	}
	db->group_open = 1;
	db->group_lost = 0;
	db->rows_at_group = db->rows;
	return (0);
}

int
location_group_commit(struct location_db *db)
{
	int rv = 0;

	if (!db->group_open) {
		return (0);
	}
	db->group_open = 0;
	if (db->group_lost || sqlite3_get_autocommit(db->db) ||
	    stmt_done(db, stmt_get(db, S_COMMIT), "commit") != 0) {
		rv = -1;
		if (sqlite3_get_autocommit(db->db) == 0) {
			(void)stmt_done(db, stmt_get(db, S_ROLLBACK),
			    "rollback");
		}
		db->rows = db->rows_at_group;
	}
	db->group_lost = 0;
	return (rv);
}

void
location_group_rollback(struct location_db *db)
{
	if (!db->group_open) {
		return;
	}
	db->group_open = 0;
	db->group_lost = 0;
	if (sqlite3_get_autocommit(db->db) == 0) {
		(void)stmt_done(db, stmt_get(db, S_ROLLBACK), "rollback");
	}
	db->rows = db->rows_at_group;
}

/*
 * One request's changes, all or nothing (RG-22): its own transaction, or
 * inside the group a savepoint, so a stale CSeq undoes that request only.
 */
int
location_begin(struct location_db *db)
{
	if (group_join(db) != 0) {
		return (-1);
	}
	db->rows_at_begin = db->rows;
	return (stmt_done(db, stmt_get(db, db->grouped ? S_SAVEPOINT :
	    S_BEGIN), "begin"));
}

int
location_commit(struct location_db *db)
{
	return (stmt_done(db, stmt_get(db, db->grouped ? S_RELEASE :
	    S_COMMIT), "commit"));
}

void
location_rollback(struct location_db *db)
{
	/* Fails harmlessly when SQLite already rolled back on its own. */
	if (sqlite3_get_autocommit(db->db) != 0) {
		if (db->grouped && db->group_open) {
			db->group_lost = 1;
		}
	} else if (db->grouped) {
		/* ROLLBACK TO keeps the savepoint open: release it too. */
		(void)stmt_done(db, stmt_get(db, S_ROLLBACK_TO), "rollback");
		(void)stmt_done(db, stmt_get(db, S_RELEASE), "release");
	} else {
		(void)stmt_done(db, stmt_get(db, S_ROLLBACK), "rollback");
	}
	db->rows = db->rows_at_begin;
}

sqlite3 *
location_sqlite(struct location_db *db)
{
	return (db->db);
}

int64_t
location_reprepares(const struct location_db *db)
{
	int64_t n = 0;
	int i;

	for (i = 0; i < S_MAX; i++) {
		n += sqlite3_stmt_status(db->stmt[i],
		    SQLITE_STMTSTATUS_REPREPARE, 0);
	}
	return (n);
}

int64_t
location_rows(const struct location_db *db)
{
	return (db->rows);
}

void
location_report_memory(struct location_db *db)
{
	int cur = 0, hi = 0;

	if (sqlite3_db_status(db->db, SQLITE_DBSTATUS_CACHE_USED, &cur, &hi,
	    0) == SQLITE_OK) {
		stats_set(M_REGISTRAR_DB_CACHE_BYTES, cur);
	}
	stats_set(M_REGISTRAR_SQLITE_HEAP_BYTES, sqlite3_memory_used());
}

/* Run a DELETE: the number of rows gone, or -1. */
static int
remove_count(struct location_db *db, sqlite3_stmt *st, const char *what)
{
	int n;

	if (group_join(db) != 0 || stmt_done(db, st, what) != 0) {
		return (-1);
	}
	n = sqlite3_changes(db->db);
	db->rows -= n;
	return (n);
}

static char *
column_text(sqlite3_stmt *st, int col)
{
	const unsigned char *s = sqlite3_column_text(st, col);

	return (strdup(s != NULL ? (const char *)s : ""));
}

/* Fill *b from the current row (COLUMNS order); 0 or -1. */
static int
row_binding(sqlite3_stmt *st, struct location_binding *b)
{
	char *json;
	int rv;

	memset(b, 0, sizeof(*b));
	b->id = sqlite3_column_int64(st, 0);
	b->aor = column_text(st, 1);
	b->instance = column_text(st, 2);
	b->reg_id = (uint32_t)sqlite3_column_int64(st, 3);
	b->contact_uri = column_text(st, 4);
	b->contact_value = column_text(st, 5);
	json = column_text(st, 6);
	b->call_id = column_text(st, 7);
	b->cseq = (uint32_t)sqlite3_column_int64(st, 8);
	b->expires_at = sqlite3_column_int64(st, 9);
	b->q1000 = sqlite3_column_int(st, 10);
	b->updated_at = sqlite3_column_int64(st, 11);
	b->flow_token = column_text(st, 12);
	rv = 0;
	if (json == NULL || location_path_from_json(json, &b->path,
	    &b->path_count) != 0) {
		rv = -1;
	}
	free(json);
	if (rv != 0 || b->aor == NULL || b->instance == NULL ||
	    b->contact_uri == NULL || b->contact_value == NULL ||
	    b->call_id == NULL || b->flow_token == NULL) {
		location_binding_clear(b);
		return (-1);
	}
	return (0);
}

/* Step a single-row query: 1 and *out, 0, or -1. */
static int
query_one(struct location_db *db, sqlite3_stmt *st,
    struct location_binding *out, const char *what)
{
	int rc, rv;

	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		rv = row_binding(st, out) == 0 ? 1 : -1;
	} else if (rc == SQLITE_DONE) {
		rv = 0;
	} else {
		db_warn(db, what);
		rv = -1;
	}
	sqlite3_reset(st);
	return (rv);
}

/*
 * The statement for a binding's key, with the key bound: (AOR, instance,
 * reg-id) for an outbound binding (reg_id > 0), else (AOR, contact URI).
 * *next is the number of the first parameter left to bind.
 */
static sqlite3_stmt *
key_stmt(struct location_db *db, enum stmt outbound, enum stmt plain,
    const char *aor, const char *instance, uint32_t reg_id,
    const char *contact_uri, int *next)
{
	sqlite3_stmt *st;

	if (reg_id > 0) {
		st = stmt_get(db, outbound);
		sqlite3_bind_text(st, 1, aor, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, instance, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, reg_id);
		*next = 4;
	} else {
		st = stmt_get(db, plain);
		sqlite3_bind_text(st, 1, aor, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, contact_uri, -1, SQLITE_STATIC);
		*next = 3;
	}
	return (st);
}

/* A key look-up (location_find's), bound and ready to step. */
static sqlite3_stmt *
find_stmt(struct location_db *db, enum stmt outbound, enum stmt plain,
    const char *aor, const char *instance, uint32_t reg_id,
    const char *contact_uri, int64_t now)
{
	sqlite3_stmt *st;
	int next;

	st = key_stmt(db, outbound, plain, aor, instance, reg_id, contact_uri,
	    &next);
	sqlite3_bind_int64(st, next, now);
	return (st);
}

int
location_find_seq(struct location_db *db, const char *aor,
    const char *instance, uint32_t reg_id, const char *contact_uri,
    int64_t now, char **call_id, uint32_t *cseq)
{
	sqlite3_stmt *st;
	int rc, rv;

	*call_id = NULL;
	st = find_stmt(db, S_SEQ_OUTBOUND, S_SEQ_PLAIN, aor, instance, reg_id,
	    contact_uri, now);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*cseq = (uint32_t)sqlite3_column_int64(st, 1);
		rv = (*call_id = column_text(st, 0)) != NULL ? 1 : -1;
	} else if (rc == SQLITE_DONE) {
		rv = 0;
	} else {
		db_warn(db, "find seq");
		rv = -1;
	}
	sqlite3_reset(st);
	return (rv);
}

int
location_find(struct location_db *db, const char *aor, const char *instance,
    uint32_t reg_id, const char *contact_uri, int64_t now,
    struct location_binding *out)
{
	sqlite3_stmt *st = find_stmt(db, S_FIND_OUTBOUND, S_FIND_PLAIN, aor,
	    instance, reg_id, contact_uri, now);

	return (query_one(db, st, out, "find"));
}

int
location_remove(struct location_db *db, const char *aor,
    const char *instance, uint32_t reg_id, const char *contact_uri)
{
	sqlite3_stmt *st;
	int next;

	st = key_stmt(db, S_REMOVE_OUTBOUND, S_REMOVE_PLAIN, aor, instance,
	    reg_id, contact_uri, &next);
	return (remove_count(db, st, "remove") < 0 ? -1 : 0);
}

/* Bind b to S_INSERT's parameter numbers; `json` is its Path. */
static void
bind_binding(sqlite3_stmt *st, const struct location_binding *b,
    const char *json)
{
	sqlite3_bind_text(st, 1, b->aor, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, b->instance, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, b->reg_id);
	sqlite3_bind_text(st, 4, b->contact_uri, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, b->contact_value, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, json, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, b->call_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 8, b->cseq);
	sqlite3_bind_int64(st, 9, b->expires_at);
	sqlite3_bind_int(st, 10, b->q1000);
	sqlite3_bind_int64(st, 11, b->updated_at);
	sqlite3_bind_text(st, 12, b->flow_token != NULL ? b->flow_token : "",
	    -1, SQLITE_STATIC);
}

/* Run st bound to b; the rows it changed, or -1.  Unbinds `json`. */
static int
write_binding(struct location_db *db, sqlite3_stmt *st,
    const struct location_binding *b, const char *json, const char *what)
{
	int rv;

	bind_binding(st, b, json);
	rv = stmt_done(db, st, what) == 0 ? sqlite3_changes(db->db) : -1;
	sqlite3_clear_bindings(st);
	return (rv);
}

/*
 * A refresh is an UPDATE of the row in place: SQLite then rewrites only
 * the indexes over the columns it sets (not aor's, nor the key's), where
 * DELETE + INSERT rewrote all six -- the largest cost of a REGISTER.
 * The row keeps its id; location_remove_id() checks the flow for that.
 */
int
location_store(struct location_db *db, const struct location_binding *b)
{
	char *json;
	int n;

	if (group_join(db) != 0) {
		return (-1);
	}
	if ((json = location_path_to_json(b->path, b->path_count)) == NULL) {
		return (-1);
	}
	n = write_binding(db, stmt_get(db, b->reg_id > 0 ?
	    S_UPDATE_OUTBOUND : S_UPDATE_PLAIN), b, json, "update");
	if (n == 0) {
		n = write_binding(db, stmt_get(db, S_INSERT), b, json,
		    "insert");
		if (n > 0) {
			db->rows += n;
		}
	}
	free(json);
	return (n < 0 ? -1 : 0);
}

int
location_remove_id(struct location_db *db, int64_t id, const char *flow_token)
{
	sqlite3_stmt *st = stmt_get(db, S_REMOVE_ID);

	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, flow_token != NULL ? flow_token : "", -1,
	    SQLITE_STATIC);
	return (remove_count(db, st, "remove id") < 0 ? -1 : 0);
}

int
location_remove_aor(struct location_db *db, const char *aor)
{
	sqlite3_stmt *st = stmt_get(db, S_REMOVE_AOR);

	sqlite3_bind_text(st, 1, aor, -1, SQLITE_STATIC);
	return (remove_count(db, st, "remove aor"));
}

int
location_remove_flow(struct location_db *db, const char *token)
{
	sqlite3_stmt *st;

	/* Plain bindings without Path carry "": never match them. */
	if (token == NULL || token[0] == '\0') {
		return (0);
	}
	st = stmt_get(db, S_REMOVE_FLOW);
	sqlite3_bind_text(st, 1, token, -1, SQLITE_STATIC);
	return (remove_count(db, st, "remove flow"));
}

int
location_purge(struct location_db *db, int64_t now)
{
	sqlite3_stmt *st = stmt_get(db, S_PURGE);

	sqlite3_bind_int64(st, 1, now);
	return (remove_count(db, st, "purge"));
}

/* Fill *b from a S_LIST_AOR_BRIEF row; 0 or -1. */
static int
row_brief(sqlite3_stmt *st, struct location_binding *b)
{
	memset(b, 0, sizeof(*b));
	b->call_id = column_text(st, 0);
	b->cseq = (uint32_t)sqlite3_column_int64(st, 1);
	b->contact_value = column_text(st, 2);
	b->expires_at = sqlite3_column_int64(st, 3);
	if (b->call_id == NULL || b->contact_value == NULL) {
		location_binding_clear(b);
		return (-1);
	}
	return (0);
}

/* The rows of an (aor, now) listing, each made by `row`. */
static int
list_rows(struct location_db *db, enum stmt which, const char *aor,
    int64_t now, struct location_list *out,
    int (*row)(sqlite3_stmt *, struct location_binding *))
{
	sqlite3_stmt *st;
	size_t cap = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	st = stmt_get(db, which);
	sqlite3_bind_text(st, 1, aor, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (out->count == cap) {
			struct location_binding *v;

			cap = cap == 0 ? 4 : cap * 2;
			v = realloc(out->v, cap * sizeof(*v));
			if (v == NULL) {
				goto fail;
			}
			out->v = v;
		}
		if (row(st, &out->v[out->count]) != 0) {
			goto fail;
		}
		out->count++;
	}
	if (rc != SQLITE_DONE) {
		db_warn(db, "list");
		goto fail;
	}
	sqlite3_reset(st);
	return (0);
fail:
	sqlite3_reset(st);
	location_list_clear(out);
	return (-1);
}

int
location_list_aor(struct location_db *db, const char *aor, int64_t now,
    struct location_list *out)
{
	return (list_rows(db, S_LIST_AOR, aor, now, out, row_binding));
}

int
location_list_aor_brief(struct location_db *db, const char *aor, int64_t now,
    struct location_list *out)
{
	return (list_rows(db, S_LIST_AOR_BRIEF, aor, now, out, row_brief));
}

int
location_find_contact(struct location_db *db, const char *uri, int64_t now,
    struct location_binding *out)
{
	sqlite3_stmt *st = stmt_get(db, S_FIND_CONTACT);

	sqlite3_bind_text(st, 1, uri, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	return (query_one(db, st, out, "find contact"));
}

int64_t
location_count(struct location_db *db, int64_t now)
{
	sqlite3_stmt *st = stmt_get(db, S_COUNT);
	int64_t n = -1;

	sqlite3_bind_int64(st, 1, now);
	if (sqlite3_step(st) == SQLITE_ROW) {
		n = sqlite3_column_int64(st, 0);
	} else {
		db_warn(db, "count");
	}
	sqlite3_reset(st);
	return (n);
}

void
location_binding_clear(struct location_binding *b)
{
	size_t i;

	free(b->aor);
	free(b->instance);
	free(b->contact_uri);
	free(b->contact_value);
	for (i = 0; i < b->path_count; i++) {
		free(b->path[i]);
	}
	free(b->path);
	free(b->call_id);
	free(b->flow_token);
	memset(b, 0, sizeof(*b));
}

void
location_list_clear(struct location_list *list)
{
	size_t i;

	for (i = 0; i < list->count; i++) {
		location_binding_clear(&list->v[i]);
	}
	free(list->v);
	memset(list, 0, sizeof(*list));
}

char *
location_path_to_json(char *const *path, size_t count)
{
	json_t *a;
	char *s;
	size_t i;

	if ((a = json_array()) == NULL) {
		return (NULL);
	}
	for (i = 0; i < count; i++) {
		if (json_array_append_new(a, json_string(path[i])) != 0) {
			json_decref(a);
			return (NULL);
		}
	}
	s = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	return (s);
}

int
location_path_from_json(const char *text, char ***path, size_t *count)
{
	json_t *a;
	json_error_t error;
	char **v = NULL;
	size_t i, n;

	*path = NULL;
	*count = 0;
	if ((a = json_loads(text, 0, &error)) == NULL || !json_is_array(a)) {
		json_decref(a);
		return (-1);
	}
	n = json_array_size(a);
	if (n > 0 && (v = calloc(n, sizeof(*v))) == NULL) {
		json_decref(a);
		return (-1);
	}
	for (i = 0; i < n; i++) {
		const char *s = json_string_value(json_array_get(a, i));

		if (s == NULL || (v[i] = strdup(s)) == NULL) {
			while (i > 0) {
				free(v[--i]);
			}
			free(v);
			json_decref(a);
			return (-1);
		}
	}
	json_decref(a);
	*path = v;
	*count = n;
	return (0);
}
