/*
 * transaction.h -- the bridge's SIP transaction layer (RFC 3261 §17).
 *
 * The sip-router is stateless, so the bridge is the element that must
 * absorb retransmissions from phones, retransmit towards UDP phones and
 * time branches out.  Server transactions (rb_stx) face the phone that
 * sent a request; client transactions (rb_ctx) are the branches the home
 * proxy sends towards registered phones, each owned by the server
 * transaction it serves.  Everything lives in memory: a restart of the
 * bridge loses calls in progress, never bindings.
 *
 * Time is passed in (monotonic milliseconds) and timers fire from
 * rb_txn_tick(), called by the event loop every RB_TXN_TICK_MS and by unit
 * tests with a fake clock.  Transactions wait in two min-heaps by their
 * next deadline (common/timer_heap.c): a tick touches only what is due,
 * however many transactions linger.
 */
#ifndef RB_TRANSACTION_H
#define RB_TRANSACTION_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include <osipparser2/osip_parser.h>

#include "epsip/timer_heap.h"

#include "../core.h"
#include "../rb_sip.h"

/* RFC 3261 Table 4 and §16.6(11); tests may shorten them. */
struct rb_timers {
	unsigned t1_ms;		/* 500: RTT estimate, first retransmission */
	unsigned t2_ms;		/* 4000: retransmission interval cap */
	unsigned timer_b_ms;	/* 64*T1: no final response (B, F) */
	unsigned timer_c_ms;	/* 180 s: INVITE proceeding too long (C) */
	unsigned linger_ms;	/* 64*T1: completed, absorbing (D, H, J) */
};

void rb_timers_default(struct rb_timers *timers);

enum rb_stx_state {
	RB_STX_PROCEEDING,	/* no final response sent yet */
	RB_STX_COMPLETED,	/* non-2xx final sent; Timer G for INVITE/UDP */
	RB_STX_CONFIRMED,	/* INVITE: the ACK came */
	RB_STX_ACCEPTED,	/* INVITE: 2xx sent (RFC 6026) */
};

enum rb_ctx_state {
	RB_CTX_CALLING,		/* sent, nothing back yet (A/E, B/F) */
	RB_CTX_PROCEEDING,	/* a provisional came (C for INVITE) */
	RB_CTX_COMPLETED,	/* non-2xx final: ACK sent (INVITE) */
	RB_CTX_ACCEPTED,	/* 2xx final */
};

struct rb_ctx;

/* A link of the transaction hash tables (transaction.c). */
struct rb_hlink {
	SLIST_ENTRY(rb_hlink) next;	/* same bucket */
	uint32_t hash;			/* of the key, compared first */
};

/* A server transaction: one request from a phone and our answers. */
struct rb_stx {
	struct rb_hlink hlink;		/* by key */
	struct timer_heap_entry timer;	/* next of G and expiry */
	char key[RB_KEY_MAX];
	osip_message_t *req;		/* owned */
	int invite;
	int unreliable;			/* the phone retransmits (UDP) */
	enum rb_stx_state state;
	char *resp;			/* last response sent, serialised */
	size_t resp_len;
	int resp_status;
	uint64_t g_at;			/* Timer G: next final retransmission */
	unsigned g_ms;
	uint64_t expire_at;		/* 0: not finished */
	SLIST_HEAD(, rb_ctx) branches;	/* owned client transactions */
	void *user;			/* the home proxy's forking state */
	void (*user_free)(void *);
};

/* A client transaction: one branch towards one binding. */
struct rb_ctx {
	struct rb_hlink hlink;		/* by branch */
	struct timer_heap_entry timer;	/* next of A/E, B/F/C, cancel's E */
	SLIST_ENTRY(rb_ctx) sibling;	/* next branch of the same stx */
	struct rb_stx *stx;
	char branch[RB_BRANCH_MAX];
	char method[32];
	osip_message_t *req;		/* as sent, our Via on top; owned */
	char *wire;
	size_t wire_len;
	int invite;
	int unreliable;			/* towards a UDP contact */
	enum rb_ctx_state state;
	int status;			/* final status once completed */
	uint64_t retrans_at;		/* A or E; 0: none */
	unsigned retrans_ms;
	uint64_t timeout_at;		/* B, F or C; 0: none */
	int timer_c;			/* timeout_at is Timer C */
	/* RFC 3261 §9.1: CANCEL waits for a provisional. */
	int cancel_wanted;
	char *cancel_wire;
	size_t cancel_len;
	uint64_t cancel_at;		/* E for the CANCEL; 0: none */
	unsigned cancel_ms;
	char *ack_wire;			/* re-sent on a retransmitted final */
	size_t ack_len;
	int64_t binding_id;		/* the location binding tried */
	char *binding_flow;		/* its flow token then; freed here */
};

/* What rb_txn_response() made of a response. */
enum rb_resp_verdict {
	RB_RESP_DROP,		/* no such transaction (counted) */
	RB_RESP_ABSORBED,	/* a retransmission or CANCEL answer: done */
	RB_RESP_NEW,		/* news for the home proxy */
	RB_RESP_RETRANSMIT_2XX,	/* forward again statelessly */
};

/* Events the layer raises towards its user (the home proxy). */
struct rb_txn_events {
	/* No final response in time (B/F, or C then CANCEL): treat as 408. */
	void (*timeout)(void *arg, struct rb_ctx *ctx, uint64_t now);
	void *arg;
};

struct rb_txn;

struct rb_txn *rb_txn_new(const struct rb_out *out,
    const struct rb_timers *timers);
void rb_txn_free(struct rb_txn *t);
void rb_txn_set_events(struct rb_txn *t, const struct rb_txn_events *ev);
const struct rb_timers *rb_txn_timers(const struct rb_txn *t);

/* The server transaction of a request, or NULL (ACK/CANCEL: "INVITE"). */
struct rb_stx *rb_stx_find(struct rb_txn *t, const osip_message_t *req,
    const char *method);
/* A new server transaction; takes `req` on success.  NULL on error. */
struct rb_stx *rb_stx_new(struct rb_txn *t, osip_message_t *req);
/* Forget a transaction that will never be answered (frees its request). */
void rb_stx_drop(struct rb_txn *t, struct rb_stx *stx);
/*
 * Send `resp` to the phone and remember it (RFC 3261 §17.2).  Once the
 * transaction is finished it keeps only what absorbing retransmissions
 * needs: its parsed request goes when every branch has its final (a UDP
 * REGISTER's lingers 32 s, Timer J: at 10,000 a second the parsed
 * requests alone would take about a GiB).
 */
int rb_stx_respond(struct rb_txn *t, struct rb_stx *stx,
    osip_message_t *resp, uint64_t now);
/*
 * The same with the response's bytes made elsewhere (the home proxy's
 * edit of a phone's answer): `wire` is taken, sent and kept for
 * retransmissions as it is.
 */
int rb_stx_respond_wire(struct rb_txn *t, struct rb_stx *stx, int status,
    char *wire, size_t len, uint64_t now);
/* Build and send a local reply through the transaction. */
int rb_stx_reply(struct rb_txn *t, struct rb_stx *stx, int status,
    const char *reason, uint64_t now);
/*
 * A retransmitted request `req`: send the last response again, if any,
 * to where `req` came from (RFC 3261 §17.2.2).  A phone that lost its
 * connection retransmits on a new one: the edge's Via on top of `req`
 * names the new flow, so the response's top Via becomes that one.
 */
void rb_stx_retransmission(struct rb_txn *t, struct rb_stx *stx,
    const osip_message_t *req);
/* The ACK for a non-2xx final: stop Timer G. */
void rb_stx_ack(struct rb_txn *t, struct rb_stx *stx);

/*
 * A new branch of `stx`: `req` is the request to send with our Via already
 * on top (`branch`); taken on success.  Sends it, starts A/E and B/F.
 */
struct rb_ctx *rb_ctx_new(struct rb_txn *t, struct rb_stx *stx,
    osip_message_t *req, const char *branch, int unreliable,
    int64_t binding_id, uint64_t now);
/*
 * The same, sending and retransmitting `wire` (the home proxy's edit of
 * the caller's bytes, so unowned headers leave as written) where
 * rb_ctx_new() prints `req`; `req` still drives the branch (CANCEL, ACK).
 * Takes `wire` with `req` on success.
 */
struct rb_ctx *rb_ctx_new_wire(struct rb_txn *t, struct rb_stx *stx,
    osip_message_t *req, char *wire, size_t wire_len, const char *branch,
    int unreliable, int64_t binding_id, uint64_t now);
/* RFC 3261 §9.1, §16.10: CANCEL the branch now or after a provisional. */
void rb_ctx_cancel(struct rb_txn *t, struct rb_ctx *ctx, uint64_t now);
/* A final non-2xx made up locally (timeout): the branch is over. */
void rb_ctx_terminate(struct rb_ctx *ctx, int status);

/*
 * Match a response to a branch (RFC 3261 §17.1.3) and run the client
 * state machine: ACK non-2xx finals to INVITE (§17.1.1.3), stop
 * retransmissions, send a waiting CANCEL.  *ctx is set for NEW and
 * RETRANSMIT_2XX.
 */
enum rb_resp_verdict rb_txn_response(struct rb_txn *t, osip_message_t *resp,
    uint64_t now, struct rb_ctx **ctx);

/*
 * The branch `branch` cannot reach its next hop (the connection was
 * refused, ICMP said unreachable): end it now as Timer B would, so the
 * user moves on (the timeout event, a 408).  Only a branch that has heard
 * nothing yet; 0, or -1 when there is no such branch.
 */
int rb_txn_branch_unreachable(struct rb_txn *t, const char *branch,
    uint64_t now);

/*
 * Run due timers; free finished transactions.  Returns how many due
 * entries it handled: O(that * log n), nothing for those not due.
 */
size_t rb_txn_tick(struct rb_txn *t, uint64_t now);

/* Live server transactions (for the stats report and tests). */
size_t rb_txn_count(const struct rb_txn *t);

#endif /* RB_TRANSACTION_H */
