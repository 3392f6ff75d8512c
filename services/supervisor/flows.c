/*
 * flows.c -- GET /flows: the flows held, asked of the flow-manager
 * children and merged (epsipctl flows).
 *
 * No process but a child knows its flows, and the children are many, so
 * a listing is a round: the loop sends FLOWS_QUERY, with the filters, to
 * every child the report store names ("fm<instance>-c<n>"), on a push
 * socket to its flow_owner_ipc_url() kept while the reports name that
 * process (links, below).
 * Each child answers FLOWS on supervisor.ipc (sup_flows_on_answer).  The
 * round ends when every child asked has answered, or after
 * SUP_FLOWS_WAIT_MS; the flows are then sorted by instance, child and
 * slot, and the page asked for (offset, limit) is the answer, which says
 * whether every child was heard ("complete").
 * DIAGNOSTICS: a child that does not answer in time (gone, stopped,
 * busy) makes the answer incomplete; an answer that does not parse is
 * logged and counts as none.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "epsip/flow_token.h"
#include "epsip/ipc_socket.h"
#include "epsip/log.h"
#include "epsip/loop.h"

#include "http_stats.h"
#include "supervisor.h"

/* How long a round waits for the children (a child answers at once). */
#define SUP_FLOWS_WAIT_MS	500
/* Envelopes a child's link may queue: one query per round. */
#define SUP_FLOWS_QUEUE		16

/*
 * A push socket to one child, kept from round to round while the reports
 * name the same process: one connection per child, not one per round.
 * Dialed without waiting (a stopped child never finishes the handshake,
 * and the loop must not wait for it); what is sent waits for the
 * connection, and a child that is gone simply does not answer.
 */
struct sup_flows_link {
	LIST_ENTRY(sup_flows_link) next;
	uint16_t instance;
	uint32_t child;
	pid_t pid;
	uint32_t seen;			/* the last round that named it */
	struct ipc_socket *sock;
};

struct sup_flows_child {
	uint16_t instance;
	uint32_t child;
	int asked;
	int answered;
};

struct sup_flows_round {
	TAILQ_ENTRY(sup_flows_round) next;
	struct supervisor *sup;
	uint32_t id;
	struct sup_http_ask *ask;
	struct sup_flows_request req;
	struct sup_flows_child *children;
	size_t nchildren;
	size_t asked;			/* children the query went to */
	size_t heard;			/* ... that have answered it all */
	json_t *flows;			/* what they said so far */
	int timer;
};

/* ---- the query string ---- */

/*
 * Percent-decode value[0..len) into out[0..cap), terminated; '+' stays a
 * '+', as a SIP user part may hold one ("sip:+4930...").  0, or -1 for a
 * bad escape, an escaped NUL or no room.
 */
static int
query_unescape(const char *value, size_t len, char *out, size_t cap)
{
	int n;

	if (cap == 0 || (n = uri_unescape(value, len, out, cap - 1)) == -1 ||
	    memchr(out, '\0', (size_t)n) != NULL) {
		return (-1);
	}
	out[n] = '\0';
	return (0);
}

static int
parse_number(const char *text, unsigned long max, unsigned long *v)
{
	char *end;

	if (*text < '0' || *text > '9') {
		return (-1);
	}
	errno = 0;
	*v = strtoul(text, &end, 10);
	return (errno != 0 || *end != '\0' || *v > max ? -1 : 0);
}

/* One name=value of the query string into req. */
static int
parse_param(const char *name, const char *value,
    struct sup_flows_request *req, char *err, size_t errcap)
{
	unsigned long v;

	if (strcmp(name, "aor") == 0) {
		if (strlen(value) > EPSIP_AOR_MAX) {
			snprintf(err, errcap, "aor: longer than %d bytes",
			    EPSIP_AOR_MAX);
			return (-1);
		}
		(void)epsip_aor_copy(req->filter.aor,
		    (const uint8_t *)value, strlen(value));
	} else if (strcmp(name, "transport") == 0) {
		req->filter.transport = epsip_transport_parse(value);
		if (req->filter.transport == EPSIP_TRANSPORT_NONE) {
			snprintf(err, errcap, "transport: udp, tcp, tls, ws or "
			    "wss");
			return (-1);
		}
	} else if (strcmp(name, "instance") == 0) {
		if (parse_number(value, 65535, &v) == -1 || v == 0) {
			snprintf(err, errcap, "instance: 1 to 65535");
			return (-1);
		}
		req->filter.instance = (uint16_t)v;
	} else if (strcmp(name, "offset") == 0) {
		if (parse_number(value, 1000000000, &v) == -1) {
			snprintf(err, errcap, "offset: a number from 0");
			return (-1);
		}
		req->offset = v;
	} else if (strcmp(name, "limit") == 0) {
		if (parse_number(value, SUP_FLOWS_LIMIT_MAX, &v) == -1 ||
		    v == 0) {
			snprintf(err, errcap, "limit: 1 to %d",
			    SUP_FLOWS_LIMIT_MAX);
			return (-1);
		}
		req->limit = v;
	} else {
		snprintf(err, errcap, "unknown parameter \"%.32s\": aor, "
		    "transport, instance, offset, limit", name);
		return (-1);
	}
	return (0);
}

int
sup_flows_parse_query(const char *uri, struct sup_flows_request *req,
    char *err, size_t errcap)
{
	char name[16], value[3 * EPSIP_AOR_MAX + 1];
	const char *p, *amp, *eq;
	size_t n;

	memset(req, 0, sizeof(*req));
	req->limit = SUP_FLOWS_LIMIT_DEFAULT;
	if ((p = strchr(uri, '?')) == NULL) {
		return (0);
	}
	for (p++; *p != '\0'; p = *amp == '&' ? amp + 1 : amp) {
		amp = p + strcspn(p, "&");
		if (amp == p) {
			continue;
		}
		eq = memchr(p, '=', (size_t)(amp - p));
		n = (size_t)((eq != NULL ? eq : amp) - p);
		if (eq == NULL ||
		    query_unescape(p, n, name, sizeof(name)) == -1 ||
		    query_unescape(eq + 1, (size_t)(amp - eq - 1), value,
		    sizeof(value)) == -1) {
			snprintf(err, errcap, "bad query parameter \"%.*s\"",
			    (int)((size_t)(amp - p) < 48 ? amp - p : 48), p);
			return (-1);
		}
		if (parse_param(name, value, req, err, errcap) == -1) {
			return (-1);
		}
	}
	return (0);
}

/* ---- the answer ---- */

static json_int_t
flow_key(json_t *flow, const char *key)
{
	return (json_integer_value(json_object_get(flow, key)));
}

static int
flow_cmp(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	static const char *const keys[] = { "instance", "child", "slot" };
	json_int_t u, v;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		u = flow_key(x, keys[i]);
		v = flow_key(y, keys[i]);
		if (u != v) {
			return (u < v ? -1 : 1);
		}
	}
	return (0);
}

char *
sup_flows_render(json_t *flows, const struct sup_flows_request *req,
    int complete, size_t *len)
{
	size_t total = json_array_size(flows), i;
	json_t **sorted, *page, *doc;

	if ((sorted = calloc(total + 1, sizeof(*sorted))) == NULL ||
	    (page = json_array()) == NULL) {
		free(sorted);
		return (NULL);
	}
	for (i = 0; i < total; i++) {
		sorted[i] = json_array_get(flows, i);
	}
	qsort(sorted, total, sizeof(*sorted), flow_cmp);
	for (i = req->offset; i < total && i - req->offset < req->limit;
	    i++) {
		(void)json_array_append(page, sorted[i]);
	}
	free(sorted);
	doc = json_pack("{s:I, s:I, s:I, s:b, s:o}", "total",
	    (json_int_t)total, "offset", (json_int_t)req->offset, "limit",
	    (json_int_t)req->limit, "complete", complete, "flows", page);
	return (sup_dump(doc, len));
}

/* ---- a round ---- */

static void
round_free(struct sup_flows_round *r)
{
	free(r->children);
	json_decref(r->flows);
	free(r);
}

/* Answer the request, whoever has answered so far, and end the round. */
static void
round_finish(struct sup_flows_round *r)
{
	struct supervisor *sup = r->sup;
	size_t len = 0;
	char *body;

	if (r->timer >= 0) {
		loop_cancel(sup->loop, r->timer);
	}
	TAILQ_REMOVE(&sup->flow_rounds, r, next);
	body = sup_flows_render(r->flows, &r->req, r->heard == r->nchildren,
	    &len);
	sup_http_answer(sup->http, r->ask, 200, body, len);
	round_free(r);
}

static void
round_timeout(struct loop *loop, void *arg)
{
	struct sup_flows_round *r = arg;

	(void)loop;
	r->timer = -1;		/* fired: not to be cancelled */
	log_debug("flows round %u: %zu of %zu children did not answer",
	    r->id, r->nchildren - r->heard, r->nchildren);
	round_finish(r);
}

/* ---- links to the children ---- */

static struct sup_flows_links *
links_bucket(struct supervisor *sup, uint16_t instance, uint32_t child)
{
	uint32_t h = (child * 2654435761u) ^ instance;

	return (&sup->flow_links[h % SUP_FLOWS_LINK_BUCKETS]);
}

static void
link_free(struct sup_flows_link *l)
{
	LIST_REMOVE(l, next);
	ipc_close(l->sock);
	free(l);
}

/* The link to the child process `pid`, dialed now if it has none. */
static struct sup_flows_link *
link_get(struct supervisor *sup, uint16_t instance, uint32_t child,
    pid_t pid)
{
	struct sup_flows_links *b = links_bucket(sup, instance, child);
	char url[CONFIG_PATH_MAX + 64];
	struct sup_flows_link *l;

	LIST_FOREACH(l, b, next) {
		if (l->instance == instance && l->child == child) {
			break;
		}
	}
	if (l != NULL && l->pid == pid) {
		return (l);
	}
	if (l != NULL) {
		link_free(l);		/* a restarted child: dial it anew */
	}
	if ((l = calloc(1, sizeof(*l))) == NULL) {
		return (NULL);
	}
	if (flow_owner_ipc_url(sup->cfg->run_dir, instance, child, url,
	    sizeof(url)) == -1 ||
	    ipc_push_dial(&l->sock, url, 0, SUP_FLOWS_QUEUE) == -1) {
		log_debug("flows: cannot dial %s", url);
		free(l);
		return (NULL);
	}
	l->instance = instance;
	l->child = child;
	l->pid = pid;
	LIST_INSERT_HEAD(b, l, next);
	return (l);
}

/* Close the links of children the reports no longer name. */
static void
links_sweep(struct supervisor *sup, uint32_t round)
{
	struct sup_flows_link *l, *tmp;

	for (size_t i = 0; i < SUP_FLOWS_LINK_BUCKETS; i++) {
		for (l = LIST_FIRST(&sup->flow_links[i]); l != NULL; l = tmp) {
			tmp = LIST_NEXT(l, next);
			if (l->seen != round) {
				link_free(l);
			}
		}
	}
}

/* "fm<instance>-c<n>", exactly as the children name themselves. */
static int
child_of_name(const char *name, uint16_t *instance, uint32_t *child)
{
	unsigned i, c;
	char again[SUP_NAME_MAX];

	if (sscanf(name, "fm%u-c%u", &i, &c) != 2 || i == 0 || i > 65535) {
		return (-1);
	}
	snprintf(again, sizeof(again), "fm%u-c%u", i, c);
	if (strcmp(again, name) != 0) {
		return (-1);
	}
	*instance = (uint16_t)i;
	*child = c;
	return (0);
}

/*
 * Ask every child the reports name that the filter's instance allows;
 * the links of all of them are kept, of those gone closed.
 */
static int
round_ask(struct sup_flows_round *r)
{
	struct supervisor *sup = r->sup;
	struct sup_flows_child *c;
	struct sup_flows_link *l;
	struct sup_report *rep;
	struct epsip_msg msg;
	uint16_t instance;
	uint32_t child;

	if ((r->children = calloc(sup->reports.count + 1,
	    sizeof(*r->children))) == NULL) {
		return (-1);
	}
	epsip_flows_query_init(&msg, r->id, &r->req.filter);
	TAILQ_FOREACH(rep, &sup->reports.all, entry) {
		if (child_of_name(rep->instance, &instance, &child) == -1) {
			continue;
		}
		if ((l = link_get(sup, instance, child, rep->pid)) != NULL) {
			l->seen = r->id;
		}
		if (r->req.filter.instance != 0 &&
		    r->req.filter.instance != instance) {
			continue;
		}
		c = &r->children[r->nchildren++];
		c->instance = instance;
		c->child = child;
		if (l != NULL && ipc_send(l->sock, &msg) == 0) {
			c->asked = 1;
			r->asked++;
		}
	}
	links_sweep(sup, r->id);
	return (0);
}

void
sup_flows_start(struct supervisor *sup, struct sup_http_ask *ask,
    const struct sup_flows_request *req)
{
	struct sup_flows_round *r;

	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (r->flows = json_array()) == NULL) {
		free(r);
		sup_http_answer(sup->http, ask, 500, NULL, 0);
		return;
	}
	r->sup = sup;
	r->id = ++sup->flow_round_id;
	r->ask = ask;
	r->req = *req;
	r->timer = -1;
	TAILQ_INSERT_TAIL(&sup->flow_rounds, r, next);
	/* A child not asked is not heard: the answer is incomplete. */
	if (round_ask(r) == -1 || r->asked == 0 || (r->timer = loop_after(sup->loop,
	    SUP_FLOWS_WAIT_MS, round_timeout, r)) < 0) {
		r->timer = -1;
		round_finish(r);
	}
}

static struct sup_flows_round *
round_find(struct supervisor *sup, uint32_t id)
{
	struct sup_flows_round *r;

	TAILQ_FOREACH(r, &sup->flow_rounds, next) {
		if (r->id == id) {
			break;
		}
	}
	return (r);
}

void
sup_flows_on_answer(struct supervisor *sup, const struct epsip_msg *msg)
{
	struct sup_flows_round *r;
	struct sup_flows_child *c = NULL;
	json_error_t jerr;
	json_t *flows;

	/* Late for a round that ended, or for none: nothing to do. */
	if ((r = round_find(sup, msg->arg)) == NULL) {
		return;
	}
	for (size_t i = 0; i < r->nchildren; i++) {
		if (r->children[i].instance == msg->flow.instance &&
		    r->children[i].child == msg->flow.child &&
		    r->children[i].asked) {
			c = &r->children[i];
			break;
		}
	}
	if (c == NULL || c->answered) {
		return;
	}
	flows = json_loadb((const char *)msg->payload, msg->payload_len, 0,
	    &jerr);
	if (!json_is_array(flows)) {
		log_warnx("flows from fm%u-c%u do not parse: %s",
		    msg->flow.instance, msg->flow.child, jerr.text);
		json_decref(flows);
		return;
	}
	(void)json_array_extend(r->flows, flows);
	json_decref(flows);
	if (msg->flags & EPSIP_MSG_F_MORE) {
		return;
	}
	c->answered = 1;
	if (++r->heard == r->asked) {
		round_finish(r);
	}
}

void
sup_flows_stop(struct supervisor *sup)
{
	static const char stopping[] = "{\"ok\":false,\"error\":\"epsipd is "
	    "stopping\"}\n";
	struct sup_flows_round *r;

	while ((r = TAILQ_FIRST(&sup->flow_rounds)) != NULL) {
		TAILQ_REMOVE(&sup->flow_rounds, r, next);
		sup_http_answer(sup->http, r->ask, 503, strdup(stopping),
		    sizeof(stopping) - 1);
		if (r->timer >= 0) {
			loop_cancel(sup->loop, r->timer);
		}
		round_free(r);
	}
	for (size_t i = 0; i < SUP_FLOWS_LINK_BUCKETS; i++) {
		while (!LIST_EMPTY(&sup->flow_links[i])) {
			link_free(LIST_FIRST(&sup->flow_links[i]));
		}
	}
}
