/*
 * http_stats.h -- the loopback HTTP endpoint: /stats, /health, /metrics,
 * and POST /reload.
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

/* The answer to one POST /drain: its JSON body. */
#define SUP_HTTP_ANSWER_MAX	256

/*
 * Loop thread: drain the flow-manager carrying `instance`; writes the
 * JSON answer into body and returns its HTTP status.
 */
typedef int (*sup_http_drain_fn)(void *arg, unsigned instance, char *body,
    size_t cap);

/* The eventfd that is readable while a POST /drain waits for the loop. */
int sup_http_ask_fd(const struct sup_http *http);
/* Loop thread, when it is: answer every waiting POST /drain. */
void sup_http_answer_asks(struct sup_http *http, sup_http_drain_fn drain,
    void *arg);

/* Stop serving and free; waits for handlers that are running. */
void sup_http_stop(struct sup_http *http);

#endif /* SUP_HTTP_STATS_H */
