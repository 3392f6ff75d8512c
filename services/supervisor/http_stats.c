/*
 * http_stats.c -- nng HTTP server with one handler per document.
 *
 * Each handler finds its document slot through the handler's data pointer
 * and answers with a copy of the last published body.  Paths not
 * registered get nng's own 404; methods other than GET and HEAD its 405,
 * and so does anything but POST on /reload and /drain (http_stats.h).
 * POST /drain and GET /flows queue an ask that the loop answers.
 *
 * DIAGNOSTICS: failure to listen is reported to the caller (epsipd refuses
 * to start: a stats port that silently does not answer misleads operators
 * and health checks alike).  A failure inside a handler answers 500.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>

#include <jansson.h>

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

/*
 * A request waiting for the loop's answer (POST /drain, GET /flows).  Its
 * handler allocates it; the loop takes it off the queue and answers it,
 * at once or later (sup_http_answer).  Whoever lets go last frees it: the
 * handler once answered, or the loop when the handler gave up waiting.
 */
struct sup_http_ask {
	TAILQ_ENTRY(sup_http_ask) next;
	struct sup_http_request req;
	int taken;		/* off the queue, in the loop's hands */
	int abandoned;		/* the handler stopped waiting */
	int done;
	int status;
	char *body;		/* malloc'ed */
	size_t len;
};

struct sup_http {
	nng_http_server *server;
	pthread_mutex_t mtx;
	struct sup_http_slot slot[SUP_HTTP_NDOCS];
	/* POST /reload, under mtx: tickets handed out and answered. */
	pthread_cond_t reloaded;	/* CLOCK_MONOTONIC */
	int reload_allowed;		/* listening on loopback */
	int closing;			/* stop: nobody waits any more */
	uint64_t reload_asked;
	uint64_t reload_done;
	int reload_status;
	char *reload_body;
	size_t reload_len;
	/* POST /drain, GET /flows, under mtx: asked, answered by the loop. */
	TAILQ_HEAD(, sup_http_ask) asks;
	int ask_fd;			/* eventfd the loop watches */
};

static const struct {
	const char *path;
	const char *content_type;
} sup_http_docs[SUP_HTTP_NDOCS] = {
	[SUP_HTTP_STATS] = { "/stats", "application/json" },
	[SUP_HTTP_HEALTH] = { "/health", "application/json" },
	[SUP_HTTP_METRICS] = { "/metrics", "text/plain; version=0.0.4" },
};

/* Status and headers on res, then hand it to nng (or fail the aio). */
static void
http_finish(nng_aio *aio, nng_http_res *res, int status,
    const char *content_type)
{
	int rv;

	if ((rv = nng_http_res_set_status(res, (uint16_t)status)) != 0 ||
	    (rv = nng_http_res_set_header(res, "Content-Type",
	    content_type)) != 0 ||
	    (rv = nng_http_res_set_header(res, "Cache-Control",
	    "no-store")) != 0) {
		nng_http_res_free(res);
		nng_aio_finish(aio, rv);
		return;
	}
	nng_aio_set_output(aio, 0, res);
	nng_aio_finish(aio, 0);
}

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
	if (rv != 0) {
		nng_http_res_free(res);
		nng_aio_finish(aio, rv);
		return;
	}
	http_finish(aio, res, status, slot->content_type);
}

/* Answer `aio` with status and a copy of a JSON body; on a worker. */
static void
http_answer(nng_aio *aio, int status, const char *body, size_t len)
{
	nng_http_res *res;
	int rv;

	if ((rv = nng_http_res_alloc(&res)) != 0) {
		nng_aio_finish(aio, rv);
		return;
	}
	if ((rv = nng_http_res_copy_data(res, body, len)) != 0) {
		nng_http_res_free(res);
		nng_aio_finish(aio, rv);
		return;
	}
	http_finish(aio, res, status, "application/json");
}

/*
 * POST /reload, on an nng worker: SIGHUP to ourselves, then wait for the
 * loop's answer (http_stats.h).
 */
static void
http_reload(nng_aio *aio)
{
	static const char refused[] = "{\"ok\":false,\"error\":\"reload over "
	    "HTTP needs the stats endpoint on a loopback address; send "
	    "epsipd SIGHUP\"}\n";
	static const char late[] = "{\"ok\":false,\"error\":\"epsipd did "
	    "not answer in time, or is stopping\"}\n";
	struct sup_http *http;
	struct timespec until;
	uint64_t ticket;
	char *body = NULL;
	size_t len = 0;
	int answered, status = 0, rv = 0;

	http = nng_http_handler_get_data(nng_aio_get_input(aio, 1));
	if (!http->reload_allowed) {
		http_answer(aio, NNG_HTTP_STATUS_FORBIDDEN, refused,
		    sizeof(refused) - 1);
		return;
	}
	pthread_mutex_lock(&http->mtx);
	ticket = ++http->reload_asked;
	pthread_mutex_unlock(&http->mtx);
	/* Blocked in every thread: only the loop's signalfd takes it. */
	(void)kill(getpid(), SIGHUP);
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += SUP_HTTP_RELOAD_WAIT_S;
	pthread_mutex_lock(&http->mtx);
	while (http->reload_done < ticket && !http->closing && rv == 0) {
		rv = pthread_cond_timedwait(&http->reloaded, &http->mtx,
		    &until);
	}
	answered = http->reload_done >= ticket;
	if (answered && http->reload_body != NULL &&
	    (body = malloc(http->reload_len)) != NULL) {
		memcpy(body, http->reload_body, http->reload_len);
		len = http->reload_len;
		status = http->reload_status;
	}
	pthread_mutex_unlock(&http->mtx);
	if (body != NULL) {
		http_answer(aio, status, body, len);
		free(body);
	} else if (!answered) {
		http_answer(aio, NNG_HTTP_STATUS_SERVICE_UNAVAILABLE, late,
		    sizeof(late) - 1);
	} else {
		http_answer(aio, NNG_HTTP_STATUS_INTERNAL_SERVER_ERROR,
		    "{}\n", 3);
	}
}

/* N of "?instance=N" in the request's URI; -1 when there is none. */
static long
query_instance(nng_aio *aio)
{
	const char *uri, *q;
	char *end;
	long n;

	uri = nng_http_req_get_uri(nng_aio_get_input(aio, 0));
	if (uri == NULL || (q = strstr(uri, "?instance=")) == NULL) {
		return (-1);
	}
	q += strlen("?instance=");
	n = strtol(q, &end, 10);
	if (end == q || *end != '\0' || n < 1 || n > 65535) {
		return (-1);
	}
	return (n);
}

/*
 * Queue `req` for the loop, wake it through ask_fd and answer `aio` with
 * what it says, or 503 if it does not within SUP_HTTP_RELOAD_WAIT_S.
 */
static void
http_ask(struct sup_http *http, nng_aio *aio,
    const struct sup_http_request *req)
{
	static const char late[] = "{\"ok\":false,\"error\":\"epsipd did "
	    "not answer in time, or is stopping\"}\n";
	struct sup_http_ask *ask;
	struct timespec until;
	uint64_t one = 1;
	int rv = 0, done, status = 0;
	char *body = NULL;
	size_t len = 0;

	if ((ask = calloc(1, sizeof(*ask))) == NULL) {
		nng_aio_finish(aio, NNG_ENOMEM);
		return;
	}
	ask->req = *req;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += SUP_HTTP_RELOAD_WAIT_S;
	pthread_mutex_lock(&http->mtx);
	TAILQ_INSERT_TAIL(&http->asks, ask, next);
	(void)write(http->ask_fd, &one, sizeof(one));
	while (!ask->done && !http->closing && rv == 0) {
		rv = pthread_cond_timedwait(&http->reloaded, &http->mtx,
		    &until);
	}
	if ((done = ask->done)) {
		status = ask->status;
		body = ask->body;
		len = ask->len;
		free(ask);
	} else if (ask->taken) {
		ask->abandoned = 1;	/* the loop frees it */
	} else {
		TAILQ_REMOVE(&http->asks, ask, next);
		free(ask);
	}
	pthread_mutex_unlock(&http->mtx);
	if (!done) {
		http_answer(aio, NNG_HTTP_STATUS_SERVICE_UNAVAILABLE, late,
		    sizeof(late) - 1);
	} else if (body == NULL) {
		http_answer(aio, NNG_HTTP_STATUS_INTERNAL_SERVER_ERROR,
		    "{}\n", 3);
	} else {
		http_answer(aio, status, body, len);
	}
	free(body);
}

/* POST /drain?instance=N, on an nng worker (http_stats.h). */
static void
http_drain(nng_aio *aio)
{
	static const char refused[] = "{\"ok\":false,\"error\":\"drain over "
	    "HTTP needs the stats endpoint on a loopback address\"}\n";
	static const char usage[] = "{\"ok\":false,\"error\":\"POST "
	    "/drain?instance=N\"}\n";
	struct sup_http_request req;
	struct sup_http *http;
	long n;

	http = nng_http_handler_get_data(nng_aio_get_input(aio, 1));
	if (!http->reload_allowed) {
		http_answer(aio, NNG_HTTP_STATUS_FORBIDDEN, refused,
		    sizeof(refused) - 1);
		return;
	}
	if ((n = query_instance(aio)) == -1) {
		http_answer(aio, NNG_HTTP_STATUS_BAD_REQUEST, usage,
		    sizeof(usage) - 1);
		return;
	}
	memset(&req, 0, sizeof(req));
	req.kind = SUP_HTTP_ASK_DRAIN;
	req.instance = (unsigned)n;
	http_ask(http, aio, &req);
}

/* GET /flows?..., on an nng worker (http_stats.h). */
static void
http_flows(nng_aio *aio)
{
	static const char refused[] = "{\"ok\":false,\"error\":\"the flows "
	    "are listed only on a loopback stats address\"}\n";
	struct sup_http_request req;
	struct sup_http *http;
	const char *uri;
	char err[160], body[256];
	json_t *doc;
	char *text;

	http = nng_http_handler_get_data(nng_aio_get_input(aio, 1));
	if (!http->reload_allowed) {
		http_answer(aio, NNG_HTTP_STATUS_FORBIDDEN, refused,
		    sizeof(refused) - 1);
		return;
	}
	memset(&req, 0, sizeof(req));
	req.kind = SUP_HTTP_ASK_FLOWS;
	uri = nng_http_req_get_uri(nng_aio_get_input(aio, 0));
	if (sup_flows_parse_query(uri != NULL ? uri : "", &req.flows, err,
	    sizeof(err)) == -1) {
		doc = json_pack("{s:b, s:s}", "ok", 0, "error", err);
		text = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
		snprintf(body, sizeof(body), "%s\n", text != NULL ? text :
		    "{}");
		free(text);
		json_decref(doc);
		http_answer(aio, NNG_HTTP_STATUS_BAD_REQUEST, body,
		    strlen(body));
		return;
	}
	http_ask(http, aio, &req);
}

/* 127.0.0.0/8, ::1 or ::ffff:127.0.0.0/104: reachable from this host only. */
static int
addr_is_loopback(const struct epsip_addr *a)
{
	static const uint8_t v6_loopback[16] = { [15] = 1 };
	static const uint8_t v4_mapped[12] = { [10] = 0xff, [11] = 0xff };

	if (a->family == AF_INET) {
		return (a->ip[0] == 127);
	}
	return (memcmp(a->ip, v6_loopback, 16) == 0 ||
	    (memcmp(a->ip, v4_mapped, 12) == 0 && a->ip[12] == 127));
}

static void
http_free(struct sup_http *http)
{
	size_t i;

	for (i = 0; i < SUP_HTTP_NDOCS; i++) {
		free(http->slot[i].body);
	}
	free(http->reload_body);
	if (http->ask_fd >= 0) {
		(void)close(http->ask_fd);
	}
	pthread_cond_destroy(&http->reloaded);
	pthread_mutex_destroy(&http->mtx);
	free(http);
}

/* A handler of `method` with `http` for data: /reload, /drain, /flows. */
static int
http_add_asked(struct sup_http *http, const char *method, const char *path,
    void (*cb)(nng_aio *))
{
	nng_http_handler *h;
	int rv;

	if ((rv = nng_http_handler_alloc(&h, path, cb)) != 0) {
		return (rv);
	}
	if ((rv = nng_http_handler_set_method(h, method)) != 0 ||
	    (rv = nng_http_handler_set_data(h, http, NULL)) != 0 ||
	    (rv = nng_http_server_add_handler(http->server, h)) != 0) {
		nng_http_handler_free(h);
	}
	return (rv);
}

int
sup_http_start(struct sup_http **httpp, const struct epsip_addr *addr,
    char *err, size_t errcap)
{
	struct sup_http *http;
	nng_http_handler *h;
	pthread_condattr_t attr;
	char hostport[80], url_text[96];
	nng_url *url;
	size_t i;
	int rv;

	if ((http = calloc(1, sizeof(*http))) == NULL) {
		snprintf(err, errcap, "out of memory");
		return (-1);
	}
	http->ask_fd = -1;
	pthread_mutex_init(&http->mtx, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&http->reloaded, &attr);
	pthread_condattr_destroy(&attr);
	TAILQ_INIT(&http->asks);
	if ((http->ask_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
		snprintf(err, errcap, "stats: eventfd: %s", strerror(errno));
		http_free(http);
		return (-1);
	}
	http->reload_allowed = addr_is_loopback(addr);
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
		rv = http_add_asked(http, "POST", "/reload", http_reload);
	}
	if (rv == 0) {
		rv = http_add_asked(http, "POST", "/drain", http_drain);
	}
	if (rv == 0) {
		rv = http_add_asked(http, "GET", "/flows", http_flows);
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

uint64_t
sup_http_reload_asked(struct sup_http *http)
{
	uint64_t ticket;

	pthread_mutex_lock(&http->mtx);
	ticket = http->reload_asked;
	pthread_mutex_unlock(&http->mtx);
	return (ticket);
}

void
sup_http_reload_done(struct sup_http *http, uint64_t ticket, int status,
    char *body, size_t len)
{
	char *old;

	pthread_mutex_lock(&http->mtx);
	old = http->reload_body;
	http->reload_body = body;
	http->reload_len = body != NULL ? len : 0;
	http->reload_status = status;
	if (ticket > http->reload_done) {
		http->reload_done = ticket;
	}
	pthread_cond_broadcast(&http->reloaded);
	pthread_mutex_unlock(&http->mtx);
	free(old);
}

int
sup_http_ask_fd(const struct sup_http *http)
{
	return (http->ask_fd);
}

void
sup_http_answer_asks(struct sup_http *http, sup_http_ask_fn fn, void *arg)
{
	TAILQ_HEAD(, sup_http_ask) taken;
	struct sup_http_ask *ask;
	uint64_t n;

	(void)read(http->ask_fd, &n, sizeof(n));
	TAILQ_INIT(&taken);
	pthread_mutex_lock(&http->mtx);
	while ((ask = TAILQ_FIRST(&http->asks)) != NULL) {
		TAILQ_REMOVE(&http->asks, ask, next);
		ask->taken = 1;
		TAILQ_INSERT_TAIL(&taken, ask, next);
	}
	pthread_mutex_unlock(&http->mtx);
	/* Unlocked: fn may answer at once, which locks. */
	while ((ask = TAILQ_FIRST(&taken)) != NULL) {
		TAILQ_REMOVE(&taken, ask, next);
		fn(arg, ask, &ask->req);
	}
}

void
sup_http_answer(struct sup_http *http, struct sup_http_ask *ask, int status,
    char *body, size_t len)
{
	pthread_mutex_lock(&http->mtx);
	if (ask->abandoned) {
		free(body);
		free(ask);
	} else {
		ask->status = status;
		ask->body = body;
		ask->len = body != NULL ? len : 0;
		ask->done = 1;
		pthread_cond_broadcast(&http->reloaded);
	}
	pthread_mutex_unlock(&http->mtx);
}

void
sup_http_stop(struct sup_http *http)
{
	if (http == NULL) {
		return;
	}
	/* A POST /reload waiting for a loop that stopped gives up now. */
	pthread_mutex_lock(&http->mtx);
	http->closing = 1;
	pthread_cond_broadcast(&http->reloaded);
	pthread_mutex_unlock(&http->mtx);
	nng_http_server_stop(http->server);
	nng_http_server_release(http->server);
	http_free(http);
}
