/*
 * http_stats.h -- the loopback HTTP endpoint: /stats, /health, /metrics,
 * GET /flows, and POST /reload and /drain.
 *
 * nng's HTTP server answers on its own worker threads, while everything
 * the answers are made of lives in the loop thread.  So the loop thread
 * publishes finished documents here, and the handlers copy the current
 * ones under a mutex: no handler ever reads supervisor state.
 *
 * POST /reload takes a ticket, sends epsipd SIGHUP (which the loop reads
 * through its signalfd) and waits, at most SUP_HTTP_RELOAD_WAIT_S, for
 * the loop to answer a ticket at least as new: a reload that began after
 * the request read the file as it is now.  It is served only when the
 * endpoint listens on a loopback address; elsewhere it answers 403, so
 * that no one on a network can make epsipd reload (SIGHUP stays).
 *
 * POST /drain?instance=N drains a flow-manager (epsipctl drain): the
 * handler queues the ask and wakes the loop through an eventfd; the loop
 * answers every queued ask at once, holding the mutex, and the handlers
 * wait for that as /reload's do.  Loopback only, like /reload.
 *
 * GET /flows lists the flows held (epsipctl flows): its ask is queued
 * the same way, and the loop answers once the flow-manager children
 * have (flows.c).  Loopback only too: it names every phone and AoR.
 */
#ifndef SUP_HTTP_STATS_H
#define SUP_HTTP_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "epsip/ipc.h"

struct sup_http;

enum sup_http_doc {
	SUP_HTTP_STATS,		/* GET /stats, application/json */
	SUP_HTTP_HEALTH,	/* GET /health, application/json */
	SUP_HTTP_METRICS,	/* GET /metrics, Prometheus text */
	SUP_HTTP_NDOCS,
};

/* Listen on addr; 0, or -1 with a reason (e.g. address in use) in err. */
int sup_http_start(struct sup_http **http, const struct epsip_addr *addr,
    char *err, size_t errcap);

/*
 * Replace one document; takes ownership of the malloc'ed `body` (NULL
 * keeps the old one, e.g. when rendering ran out of memory).
 */
void sup_http_publish(struct sup_http *http, enum sup_http_doc doc,
    int status, char *body, size_t len);

/* How long POST /reload waits for the loop before it answers 503. */
#define SUP_HTTP_RELOAD_WAIT_S	10

/*
 * Loop thread, before a reload: the newest ticket handed out, which the
 * reload's answer is for (0: no request ever).
 */
uint64_t sup_http_reload_asked(struct sup_http *http);

/*
 * Loop thread, after it: answer every request up to `ticket` with
 * `status` and the malloc'ed `body` (taken; NULL: out of memory, 500).
 */
void sup_http_reload_done(struct sup_http *http, uint64_t ticket,
    int status, char *body, size_t len);

/* What a request queued for the loop asks (POST /drain, GET /flows). */
enum sup_http_ask_kind {
	SUP_HTTP_ASK_DRAIN,
	SUP_HTTP_ASK_FLOWS,
};

/* GET /flows?aor=&transport=&instance=&offset=&limit= (flows.c). */
struct sup_flows_request {
	struct epsip_flows_filter filter;
	size_t offset;
	size_t limit;
};
#define SUP_FLOWS_LIMIT_DEFAULT	100
#define SUP_FLOWS_LIMIT_MAX	1000

struct sup_http_request {
	enum sup_http_ask_kind kind;
	unsigned instance;		/* DRAIN: the flow-manager's */
	struct sup_flows_request flows;	/* FLOWS */
};

/*
 * GET /flows's query string, from the request URI: 0, or -1 with why not
 * in err (an unknown parameter, a value out of range).  flows.c.
 */
int sup_flows_parse_query(const char *uri, struct sup_flows_request *req,
    char *err, size_t errcap);

struct sup_http_ask;
/*
 * Loop thread: take on `ask`, asking `req` (valid until it is answered),
 * and answer it with sup_http_answer(), now or later, exactly once.
 */
typedef void (*sup_http_ask_fn)(void *arg, struct sup_http_ask *ask,
    const struct sup_http_request *req);
/* The eventfd that is readable while a request waits for the loop. */
int sup_http_ask_fd(const struct sup_http *http);
/* Loop thread, when it is: hand every waiting request to fn. */
void sup_http_answer_asks(struct sup_http *http, sup_http_ask_fn fn,
    void *arg);
/*
 * Loop thread: answer `ask` with `status` and the malloc'ed JSON `body`
 * (taken; NULL: out of memory, 500).  A handler that stopped waiting
 * (SUP_HTTP_RELOAD_WAIT_S, or stopping) is answered by nobody; the ask
 * is freed then.  Before sup_http_stop().
 */
void sup_http_answer(struct sup_http *http, struct sup_http_ask *ask,
    int status, char *body, size_t len);

/* Stop serving and free; waits for handlers that are running. */
void sup_http_stop(struct sup_http *http);

#endif /* SUP_HTTP_STATS_H */
