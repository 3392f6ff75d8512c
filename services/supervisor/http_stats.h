/*
 * http_stats.h -- the loopback HTTP endpoint: /stats, /health, /metrics.
 *
 * nng's HTTP server answers on its own worker threads, while everything
 * the answers are made of lives in the loop thread.  So the loop thread
 * publishes finished documents here, and the handlers copy the current
 * ones under a mutex: no handler ever reads supervisor state.
 */
#ifndef SUP_HTTP_STATS_H
#define SUP_HTTP_STATS_H

#include <stddef.h>

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

/* Stop serving and free; waits for handlers that are running. */
void sup_http_stop(struct sup_http *http);

#endif /* SUP_HTTP_STATS_H */
