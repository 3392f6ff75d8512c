/*
 * http_stats.c -- nng HTTP server with one handler per document.
 *
 * Each handler finds its document slot through the handler's data pointer
 * and answers with a copy of the last published body.  Paths not
 * registered get nng's own 404; methods other than GET and HEAD its 405.
 *
 * DIAGNOSTICS: failure to listen is reported to the caller (epsipd refuses
 * to start: a stats port that silently does not answer misleads operators
 * and health checks alike).  A failure inside a handler answers 500.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>

#include "http_stats.h"

struct sup_http;

struct sup_http_slot {
	struct sup_http *http;
	const char *path;
	const char *content_type;
	int status;
	char *body;
	size_t len;
};

struct sup_http {
	nng_http_server *server;
	pthread_mutex_t mtx;
	struct sup_http_slot slot[SUP_HTTP_NDOCS];
};

static const struct {
	const char *path;
	const char *content_type;
} sup_http_docs[SUP_HTTP_NDOCS] = {
	[SUP_HTTP_STATS] = { "/stats", "application/json" },
	[SUP_HTTP_HEALTH] = { "/health", "application/json" },
	[SUP_HTTP_METRICS] = { "/metrics", "text/plain; version=0.0.4" },
};

/* Runs on an nng worker thread. */
static void
http_handle(nng_aio *aio)
{
	struct sup_http_slot *slot;
	nng_http_handler *h;
	nng_http_res *res;
	int have, rv, status;

	h = nng_aio_get_input(aio, 1);
	slot = nng_http_handler_get_data(h);
	if ((rv = nng_http_res_alloc(&res)) != 0) {
		nng_aio_finish(aio, rv);
		return;
	}
	pthread_mutex_lock(&slot->http->mtx);
	status = slot->status;
	have = slot->body != NULL;
	if (have) {
		rv = nng_http_res_copy_data(res, slot->body, slot->len);
	}
	pthread_mutex_unlock(&slot->http->mtx);
	if (rv != 0 || !have) {
		/* Nothing rendered yet, or no memory to copy it. */
		status = NNG_HTTP_STATUS_INTERNAL_SERVER_ERROR;
		rv = nng_http_res_copy_data(res, "{}\n", 3);
	}
	if (rv != 0 ||
	    (rv = nng_http_res_set_status(res, (uint16_t)status)) != 0 ||
	    (rv = nng_http_res_set_header(res, "Content-Type",
	    slot->content_type)) != 0 ||
	    (rv = nng_http_res_set_header(res, "Cache-Control",
	    "no-store")) != 0) {
		nng_http_res_free(res);
		nng_aio_finish(aio, rv);
		return;
	}
	nng_aio_set_output(aio, 0, res);
	nng_aio_finish(aio, 0);
}

static void
http_free(struct sup_http *http)
{
	size_t i;

	for (i = 0; i < SUP_HTTP_NDOCS; i++) {
		free(http->slot[i].body);
	}
	pthread_mutex_destroy(&http->mtx);
	free(http);
}

int
sup_http_start(struct sup_http **httpp, const struct epsip_addr *addr,
    char *err, size_t errcap)
{
	struct sup_http *http;
	nng_http_handler *h;
	char hostport[80], url_text[96];
	nng_url *url;
	size_t i;
	int rv;

	if ((http = calloc(1, sizeof(*http))) == NULL) {
		snprintf(err, errcap, "out of memory");
		return (-1);
	}
	pthread_mutex_init(&http->mtx, NULL);
	for (i = 0; i < SUP_HTTP_NDOCS; i++) {
		http->slot[i].http = http;
		http->slot[i].path = sup_http_docs[i].path;
		http->slot[i].content_type = sup_http_docs[i].content_type;
	}
	epsip_addr_format(addr, hostport, sizeof(hostport));
	snprintf(url_text, sizeof(url_text), "http://%s", hostport);
	if ((rv = nng_url_parse(&url, url_text)) != 0) {
		snprintf(err, errcap, "stats: %s: %s", url_text,
		    nng_strerror(rv));
		http_free(http);
		return (-1);
	}
	rv = nng_http_server_hold(&http->server, url);
	nng_url_free(url);
	if (rv != 0) {
		snprintf(err, errcap, "stats: %s: %s", url_text,
		    nng_strerror(rv));
		http_free(http);
		return (-1);
	}
	for (i = 0; i < SUP_HTTP_NDOCS; i++) {
		if ((rv = nng_http_handler_alloc(&h, http->slot[i].path,
		    http_handle)) != 0) {
			break;
		}
		if ((rv = nng_http_handler_set_data(h, &http->slot[i],
		    NULL)) != 0 ||
		    (rv = nng_http_server_add_handler(http->server, h)) !=
		    0) {
			nng_http_handler_free(h);
			break;
		}
	}
	if (rv == 0) {
		rv = nng_http_server_start(http->server);
	}
	if (rv != 0) {
		snprintf(err, errcap, "stats: cannot serve on %s: %s",
		    url_text, nng_strerror(rv));
		nng_http_server_release(http->server);
		http_free(http);
		return (-1);
	}
	*httpp = http;
	return (0);
}

void
sup_http_publish(struct sup_http *http, enum sup_http_doc doc, int status,
    char *body, size_t len)
{
	struct sup_http_slot *slot = &http->slot[doc];
	char *old;

	if (body == NULL) {
		return;
	}
	pthread_mutex_lock(&http->mtx);
	old = slot->body;
	slot->body = body;
	slot->len = len;
	slot->status = status;
	pthread_mutex_unlock(&http->mtx);
	free(old);
}

void
sup_http_stop(struct sup_http *http)
{
	if (http == NULL) {
		return;
	}
	nng_http_server_stop(http->server);
	nng_http_server_release(http->server);
	http_free(http);
}
