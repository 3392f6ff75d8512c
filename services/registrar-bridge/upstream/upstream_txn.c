/*
 * upstream_txn.c -- the relay transaction table of upstream mode, see
 * upstream_txn.h.
 *
 * A chained hash table on "branch|METHOD" for the message path, and a
 * min-heap by next deadline (common/timer_heap.c) for the tick, which
 * runs every RB_TXN_TICK_MS and touches only what is due.  One list of
 * everything remains for what a lost connection must look at; the table
 * is bounded (up_txn_conf.max, and max_bytes for the requests it keeps),
 * so that walk and the memory are too.
 *
 * Timers, after RFC 3261 §17.1.1.2 and §17.1.2.2, for requests we
 * retransmit ourselves (SP-15): A (INVITE) starts at T1 and doubles until
 * a provisional; E (non-INVITE) starts at T1 and doubles up to T2, and
 * once a provisional came it fires every T2 until the final, because a
 * non-INVITE server only resends its final when the request is resent.
 * Instead of Timer B/F, one deadline: `upstream-timeout` after the first
 * send, which a retransmission from the phone does not restart.
 *
 * DIAGNOSTICS: none; a full table or no memory is a NULL the caller turns
 * into a 503.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "epsip/hash.h"

#include "upstream_txn.h"

#define UP_TXN_BUCKETS	4096
#define UP_TXN_MAX	8192
/* 8192 typical requests are ~10 MiB; 64 KiB ones must not make 512. */
#define UP_TXN_MAX_BYTES	(32 * 1024 * 1024)

struct up_txn_table {
	struct up_txn_conf conf;
	struct up_txn_events ev;
	SLIST_HEAD(, up_txn) bucket[UP_TXN_BUCKETS];
	LIST_HEAD(, up_txn) all;	/* newest first */
	struct timer_heap timers;
	size_t count;
	size_t bytes;
};

void
up_txn_conf_default(struct up_txn_conf *conf, unsigned timeout_s)
{
	conf->t1_ms = 500;
	conf->t2_ms = 4000;
	conf->timeout_ms = timeout_s * 1000;
	conf->max = UP_TXN_MAX;
	conf->max_bytes = UP_TXN_MAX_BYTES;
}

/* FNV-1a; the router's branches are already hashes. */
static size_t
bucket_of(const char *key)
{
	return (fnv1a_str(key) % UP_TXN_BUCKETS);
}

static int
make_key(char *key, const char *branch, const char *method)
{
	int n;

	n = snprintf(key, UP_TXN_KEY_MAX, "%s|%s", branch, method);
	return (n > 0 && n < UP_TXN_KEY_MAX ? 0 : -1);
}

struct up_txn_table *
up_txn_new(const struct up_txn_conf *conf, const struct up_txn_events *ev)
{
	struct up_txn_table *t;

	if ((t = calloc(1, sizeof(*t))) == NULL) {
		return (NULL);
	}
	t->conf = *conf;
	t->ev = *ev;
	/* A re-armed timer must lie ahead, or a tick would never end. */
	if (t->conf.t1_ms == 0) {
		t->conf.t1_ms = 1;
	}
	if (t->conf.t2_ms == 0) {
		t->conf.t2_ms = 1;
	}
	timer_heap_init(&t->timers);
	return (t);
}

/* The earlier of the deadline and the next retransmission. */
static uint64_t
txn_due(const struct up_txn *txn)
{
	if (txn->retrans_at != 0 && txn->retrans_at < txn->deadline) {
		return (txn->retrans_at);
	}
	return (txn->deadline);
}

/* Move an entry already in the heap: never allocates, never fails. */
static void
txn_rearm(struct up_txn_table *t, struct up_txn *txn)
{
	(void)timer_heap_set(&t->timers, &txn->timer, txn_due(txn));
}

void
up_txn_remove(struct up_txn_table *t, struct up_txn *txn)
{
	SLIST_REMOVE(&t->bucket[bucket_of(txn->key)], txn, up_txn, hlink);
	LIST_REMOVE(txn, link);
	timer_heap_remove(&t->timers, &txn->timer);
	t->bytes -= txn->req_len;
	free(txn->req);
	free(txn);
	t->count--;
}

void
up_txn_free(struct up_txn_table *t)
{
	if (t == NULL) {
		return;
	}
	while (!LIST_EMPTY(&t->all)) {
		up_txn_remove(t, LIST_FIRST(&t->all));
	}
	timer_heap_clear(&t->timers);
	free(t);
}

struct up_txn *
up_txn_find(struct up_txn_table *t, const char *branch, const char *method)
{
	char key[UP_TXN_KEY_MAX];
	struct up_txn *txn;

	if (make_key(key, branch, method) != 0) {
		return (NULL);
	}
	SLIST_FOREACH(txn, &t->bucket[bucket_of(key)], hlink) {
		if (strcmp(txn->key, key) == 0) {
			return (txn);
		}
	}
	return (NULL);
}

struct up_txn *
up_txn_add(struct up_txn_table *t, const char *branch, const char *method,
    const char *req, size_t len, int retransmit, uint64_t now)
{
	struct up_txn *txn;

	if (t->count >= t->conf.max || t->bytes + len > t->conf.max_bytes ||
	    (txn = calloc(1, sizeof(*txn))) == NULL) {
		return (NULL);
	}
	if (make_key(txn->key, branch, method) != 0 ||
	    (txn->req = malloc(len)) == NULL) {
		free(txn);
		return (NULL);
	}
	memcpy(txn->req, req, len);
	txn->req_len = len;
	txn->invite = strcmp(method, "INVITE") == 0;
	txn->deadline = now + t->conf.timeout_ms;
	if (retransmit) {
		txn->retrans_ms = t->conf.t1_ms;
		txn->retrans_at = now + txn->retrans_ms;
	}
	if (timer_heap_set(&t->timers, &txn->timer, txn_due(txn)) != 0) {
		free(txn->req);
		free(txn);
		return (NULL);
	}
	SLIST_INSERT_HEAD(&t->bucket[bucket_of(txn->key)], txn, hlink);
	LIST_INSERT_HEAD(&t->all, txn, link);
	t->count++;
	t->bytes += len;
	return (txn);
}

int
up_txn_response(struct up_txn_table *t, const char *branch,
    const char *method, int status, uint64_t now)
{
	struct up_txn *txn;

	if ((txn = up_txn_find(t, branch, method)) == NULL) {
		return (0);
	}
	if (txn->invite || status >= 200) {
		/* §17.1.1.2: a provisional ends an INVITE's retransmissions,
		 * and the final is the upstream's to retransmit. */
		up_txn_remove(t, txn);
		return (1);
	}
	txn->provisional = 1;
	if (txn->retrans_at != 0) {
		txn->retrans_ms = t->conf.t2_ms;
		txn->retrans_at = now + txn->retrans_ms;
		txn_rearm(t, txn);
	}
	return (1);
}

void
up_txn_fail(struct up_txn_table *t, struct up_txn *txn, enum up_txn_end why)
{
	if (t->ev.expire != NULL) {
		t->ev.expire(t->ev.arg, txn, why);
	}
	up_txn_remove(t, txn);
}

void
up_txn_each_on_conn(struct up_txn_table *t, uint64_t conn_id,
    void (*fn)(void *arg, struct up_txn *txn), void *arg)
{
	struct up_txn *txn, *next;

	for (txn = LIST_FIRST(&t->all); txn != NULL; txn = next) {
		next = LIST_NEXT(txn, link);
		if (txn->conn_id == conn_id) {
			fn(arg, txn);
		}
	}
}

size_t
up_txn_fail_conn(struct up_txn_table *t, uint64_t conn_id)
{
	struct up_txn *txn, *next;
	size_t n = 0;

	for (txn = LIST_FIRST(&t->all); txn != NULL; txn = next) {
		next = LIST_NEXT(txn, link);
		if (txn->conn_id == conn_id) {
			up_txn_fail(t, txn, UP_TXN_UNREACHABLE);
			n++;
		}
	}
	return (n);
}

/*
 * Only what is due, earliest first.  The callbacks may end the
 * transaction they are handed (a retransmission that cannot be sent is a
 * 503), never another one: the entry is re-armed before the call, and a
 * transaction that ends leaves the heap.  A re-armed entry lies ahead
 * (the deadline did not pass, T1 and T2 are at least 1 ms), so the loop
 * ends.
 */
size_t
up_txn_tick(struct up_txn_table *t, uint64_t now)
{
	struct timer_heap_entry *e;
	size_t handled = 0;

	while ((e = timer_heap_peek(&t->timers)) != NULL && e->due <= now) {
		struct up_txn *txn = TIMER_HEAP_OWNER(e, struct up_txn, timer);

		handled++;
		if (now >= txn->deadline) {
			up_txn_fail(t, txn, UP_TXN_TIMEOUT);
			continue;
		}
		if (txn->retrans_at == 0 || now < txn->retrans_at) {
			txn_rearm(t, txn);
			continue;
		}
		if (!txn->invite && (txn->provisional ||
		    txn->retrans_ms * 2 > t->conf.t2_ms)) {
			txn->retrans_ms = t->conf.t2_ms;
		} else {
			txn->retrans_ms *= 2;
		}
		txn->retrans_at = now + txn->retrans_ms;
		txn_rearm(t, txn);
		if (t->ev.retransmit != NULL) {
			t->ev.retransmit(t->ev.arg, txn, now);
		}
	}
	return (handled);
}

size_t
up_txn_count(const struct up_txn_table *t)
{
	return (t->count);
}
