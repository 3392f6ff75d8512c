/*
 * upstream_txn.h -- upstream mode's relay transactions: the phone requests
 * sent to the upstream registrar/proxy that still wait for an answer.
 *
 * The edge stays a stateless relay: every response goes back to the router
 * whatever this table says.  The table exists so that nothing hangs
 * (SP-16): a request the upstream never answers gets a 503 with
 * Retry-After after `upstream-timeout`, and a request it cannot even reach
 * gets one at once.  It also carries the one piece of stateful work a
 * relay must do (SP-15, RFC 3261 §16.1): retransmitting towards a UDP
 * upstream for a TCP phone, which will not retransmit itself.
 *
 * A transaction is keyed by the router's branch and the method (the
 * router's branch is a hash of the phone's, so a UDP phone's
 * retransmission finds its transaction, and a CANCEL, which shares its
 * INVITE's branch, has its own).  Time is passed in (monotonic ms); the
 * timers fire from up_txn_tick().  No sockets and no SIP parsing here.
 */
#ifndef RB_UPSTREAM_TXN_H
#define RB_UPSTREAM_TXN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "epsip/timer_heap.h"

/* branch (the router's is ~50 characters) + '|' + method. */
#define UP_TXN_KEY_MAX		160

struct up_txn_conf {
	unsigned t1_ms;		/* 500: first retransmission (RFC 3261 T1) */
	unsigned t2_ms;		/* 4000: non-INVITE retransmission cap (T2) */
	unsigned timeout_ms;	/* upstream-timeout: no answer, 503 */
	size_t max;		/* transactions at most; beyond: 503 at once */
	size_t max_bytes;	/* and the requests they keep, in bytes */
};

/* Defaults, with the timeout from `upstream-timeout` seconds. */
void up_txn_conf_default(struct up_txn_conf *conf, unsigned timeout_s);

/* Why a transaction ended without an answer. */
enum up_txn_end {
	UP_TXN_TIMEOUT,		/* no answer by the deadline */
	UP_TXN_UNREACHABLE,	/* its connection failed, or ICMP said so */
};

struct up_txn {
	SLIST_ENTRY(up_txn) hlink;	/* hash chain */
	LIST_ENTRY(up_txn) link;	/* every transaction, for the walks
					 * of a lost connection */
	struct timer_heap_entry timer;	/* next of deadline, retransmission */
	char key[UP_TXN_KEY_MAX];	/* "branch|METHOD" */
	int invite;
	char *req;			/* as sent upstream: retransmitted, and
					 * the source of the 503 */
	size_t req_len;
	uint64_t conn_id;		/* TCP connection it went on; 0: UDP */
	uint64_t deadline;		/* 503 when no answer by then */
	uint64_t retrans_at;		/* next retransmission; 0: none */
	unsigned retrans_ms;
	int provisional;		/* non-INVITE: a 1xx came */
	uint32_t hash;			/* pool slot choice (Call-ID) */
	int resent;			/* sent again after its connection died */
};

struct up_txn_events {
	/* Send txn->req again (SP-15). */
	void (*retransmit)(void *arg, struct up_txn *txn, uint64_t now);
	/* The transaction ends unanswered; it is freed right after. */
	void (*expire)(void *arg, struct up_txn *txn, enum up_txn_end why);
	void *arg;
};

struct up_txn_table;

struct up_txn_table *up_txn_new(const struct up_txn_conf *conf,
    const struct up_txn_events *ev);
/*
 * Call `fn` for every pending transaction sent on `conn_id`; `fn` may end
 * the one it is handed, never another.
 */
void up_txn_each_on_conn(struct up_txn_table *t, uint64_t conn_id,
    void (*fn)(void *arg, struct up_txn *txn), void *arg);

/* Frees every transaction without events (shutdown). */
void up_txn_free(struct up_txn_table *t);

/* The pending transaction of (branch, method), or NULL. */
struct up_txn *up_txn_find(struct up_txn_table *t, const char *branch,
    const char *method);

/*
 * Remember a request about to be sent; `retransmit` starts Timer A/E
 * (SP-15).  NULL when the table is full, the key does not fit or memory
 * is short: the caller answers 503 at once.
 */
struct up_txn *up_txn_add(struct up_txn_table *t, const char *branch,
    const char *method, const char *req, size_t len, int retransmit,
    uint64_t now);

/*
 * A response with this branch and CSeq method came from the upstream.  A
 * provisional to an INVITE or any final ends the transaction; a
 * provisional to anything else moves it to Proceeding (RFC 3261
 * §17.1.2.2: retransmissions go on every T2, the deadline stays).
 * Returns 1 if a transaction matched.
 */
int up_txn_response(struct up_txn_table *t, const char *branch,
    const char *method, int status, uint64_t now);

/* End `txn` with an expire event (e.g. its send failed). */
void up_txn_fail(struct up_txn_table *t, struct up_txn *txn,
    enum up_txn_end why);
/* Forget `txn` without an event. */
void up_txn_remove(struct up_txn_table *t, struct up_txn *txn);

/*
 * Every transaction sent on connection `conn_id` (0: over UDP) fails as
 * UNREACHABLE.  Returns how many.
 */
size_t up_txn_fail_conn(struct up_txn_table *t, uint64_t conn_id);

/*
 * Run due retransmissions and deadlines.  Returns how many due entries it
 * handled: O(that * log n), nothing for those not due.
 */
size_t up_txn_tick(struct up_txn_table *t, uint64_t now);

size_t up_txn_count(const struct up_txn_table *t);

#endif /* RB_UPSTREAM_TXN_H */
