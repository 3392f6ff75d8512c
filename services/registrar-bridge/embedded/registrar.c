/*
 * registrar.c -- the embedded registrar: RFC 3261 §10.3, RFC 5626 §6,
 * RFC 3327 §5.3 (checklist RG-01..RG-22, ER-07, EP-18).
 *
 * One REGISTER in, one response out, bindings changed all-or-nothing in a
 * single SQLite transaction -- or, when the bridge groups the REGISTERs of
 * a loop iteration, in a savepoint of the group's transaction, whose
 * commit the response then waits for (location.h, core_embedded.c).  The
 * steps follow RFC 3261 §10.3:
 *
 *   (2) Require: unknown option tags -> 420 + Unsupported (RG-18)
 *   (3) authentication: before this file, in core_embedded.c (auth.h)
 *   (5) AOR from To, canonical; domain not served -> 404 (RG-19)
 *   (6) Contact: * only alone with Expires: 0, else 400 (RG-20)
 *   (7) per Contact: RFC 5626 §6 outbound decision, expiry (RG-21),
 *       Call-ID/CSeq ordering (RG-12), store or remove
 *   (8) 200 listing every live binding with its remaining expiry (RG-22),
 *       the Path copied (RG-01), Require: outbound + Flow-Timer (RG-10)
 *
 * Decisions where the RFCs leave room (documented in the final report too):
 *  - RG-02: Path without "Supported: path" is accepted (lenient): the
 *    edge adds Path to plain REGISTERs on purpose (EP-22), and 420 would
 *    lock out NATed phones that do not announce path.
 *  - RG-12: a stale CSeq on an existing binding aborts the whole request
 *    with "400 CSeq Out Of Order"; RFC 3261 §10.3(7) only says the request
 *    fails.  Retransmissions never get here: the transaction layer
 *    answers them from its cache.
 *  - RG-03: the registrar is the first hop only when the REGISTER has a
 *    single Via.  Behind the sip-router it never is, so outbound needs
 *    `ob` (any value, ER-09) on the topmost Path URI.
 *  - Plain bindings are keyed by the Contact URI text as libosip2 prints
 *    it, not by full RFC 3261 §19.1.4 URI comparison.
 *
 * DIAGNOSTICS: nothing is fatal; a store failure is a 500 (RG-22).  No 6xx
 * is ever produced (RG-17), nor a Record-Route in a response.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "epsip/config.h"
#include "epsip/log.h"
#include "epsip/sip_util.h"
#include "epsip/stats.h"

#include "../rb_sip.h"
#include "registrar.h"
#include "registrar_answer.h"

#define REGISTRAR_MAX_CONTACTS	32
#define REGISTRAR_MAX_PATH	16

/* Everything decided about one REGISTER before the store is touched. */
struct reg_request {
	const struct epsip_config *cfg;
	const osip_message_t *req;
	int64_t now;
	char aor[RB_AOR_MAX];
	char *call_id;
	uint32_t cseq;
	struct registrar_contact contact[REGISTRAR_MAX_CONTACTS];
	size_t ncontact;
	const char *path[REGISTRAR_MAX_PATH];	/* borrowed from req */
	size_t npath;
	char *flow_token;		/* user part of the first Path URI */
	int path_ob;			/* first Path URI has ob (ER-09) */
	int outbound;			/* RFC 5626 §6 processing applied */
	int moved;			/* judged before, over another flow */
};

static void
request_clear(struct reg_request *r)
{
	size_t i;

	for (i = 0; i < r->ncontact; i++) {
		registrar_contact_clear(&r->contact[i]);
	}
	free(r->call_id);
	free(r->flow_token);
}

/* A rejection with the headers in `h` (NULL: none): counted, never 6xx. */
static int
reject(const osip_message_t *req, int status, const char *reason,
    const struct answer_headers *h, struct registrar_answer *ans)
{
	stats_inc(metric_status(MF_REGISTRAR_REGISTER_REJECTED, status));
	return (answer_build(req, status, reason, h, ans));
}

/* Is `tag` an option tag we implement (RG-18)? */
static int
known_option(const char *tag, size_t len)
{
	return ((len == 4 && strncasecmp(tag, "path", 4) == 0) ||
	    (len == 8 && strncasecmp(tag, "outbound", 8) == 0));
}

/*
 * RFC 3261 §8.2.2.3: every unknown tag of every Require header goes into
 * Unsupported.  libosip2 splits comma lists, but split again in case.
 * Returns the number of unknown tags, each added to `resp` if not NULL.
 */
static int
check_require(const osip_message_t *req, struct answer_headers *resp)
{
	osip_header_t *h;
	int pos, unknown = 0;

	for (pos = 0; (pos = osip_message_header_get_byname(req, "require",
	    pos, &h)) >= 0; pos++) {
		const char *p = h->hvalue, *start;
		char tag[128];
		size_t len;

		while (p != NULL && (start = sip_list_next(&p, &len)) != NULL) {
			if (known_option(start, len)) {
				continue;
			}
			unknown++;
			if (resp != NULL && len < sizeof(tag)) {
				memcpy(tag, start, len);
				tag[len] = '\0';
				answer_header_addf(resp, "Unsupported", "%s",
				    tag);
			}
		}
	}
	return (unknown);
}

/* The Expires header: seconds, or -1 when absent or malformed. */
static int64_t
header_expires(const osip_message_t *req)
{
	osip_header_t *h;

	if (osip_message_get_expires(req, 0, &h) < 0 || h == NULL) {
		return (-1);
	}
	return (registrar_parse_seconds(h->hvalue));
}

/* RG-03: the topmost Path URI decides; note its ob and its token. */
static int
read_path(struct reg_request *r)
{
	osip_route_t *first;
	int i, n;

	n = sip_header_count(r->req, "Path");
	if (n > REGISTRAR_MAX_PATH) {
		return (-1);
	}
	for (i = 0; i < n; i++) {
		if ((r->path[i] = sip_header_value(r->req, "Path", i)) ==
		    NULL) {
			return (-1);
		}
	}
	r->npath = (size_t)n;
	if (n == 0) {
		return (0);
	}
	if ((first = rb_route_parse(r->path[0])) == NULL) {
		return (-1);
	}
	r->path_ob = sip_uri_has_param(first->url, "ob");
	if (first->url->username != NULL) {
		r->flow_token = strdup(first->url->username);
	}
	osip_route_free(first);
	return (0);
}

static char *
call_id_text(const osip_message_t *req)
{
	char *s, *copy;

	if (req->call_id == NULL || osip_call_id_to_str(req->call_id, &s) !=
	    0) {
		return (NULL);
	}
	copy = strdup(s);
	osip_free(s);
	return (copy);
}

static int
parse_cseq(const osip_message_t *req, uint32_t *out)
{
	int64_t v;

	if (req->cseq == NULL || req->cseq->method == NULL ||
	    strcasecmp(req->cseq->method, "REGISTER") != 0) {
		return (-1);
	}
	v = registrar_parse_seconds(req->cseq->number);
	if (v < 0 || v > 0xffffffffLL) {	/* §8.1.1.5: 32-bit unsigned */
		return (-1);
	}
	*out = (uint32_t)v;
	return (0);
}

/*
 * RFC 3261 §10.3(7), RG-12: a binding is updated only by a newer request of
 * the same registration (higher CSeq) or by another registration (other
 * Call-ID, e.g. after a reboot).  1 if `r` may replace a binding made by
 * (call_id, cseq).  A request that moved to another flow may replace what
 * it wrote itself over the first one (same CSeq).
 */
static int
may_update(const struct reg_request *r, const char *call_id, uint32_t cseq)
{
	if (strcmp(call_id, r->call_id) != 0) {
		return (1);
	}
	return (r->cseq > cseq || (r->moved && r->cseq == cseq));
}

/* RG-20: Contact: * removes every binding of the AOR, same CSeq rule. */
static int
remove_all(struct location_db *db, struct reg_request *r, int *stale)
{
	struct location_list list;
	size_t i;

	*stale = 0;
	if (location_list_aor_brief(db, r->aor, r->now, &list) != 0) {
		return (-1);
	}
	for (i = 0; i < list.count; i++) {
		if (!may_update(r, list.v[i].call_id, list.v[i].cseq)) {
			*stale = 1;
		}
	}
	location_list_clear(&list);
	if (*stale) {
		return (0);
	}
	return (location_remove_aor(db, r->aor) < 0 ? -1 : 0);
}

/* Do two contacts of one request name the same binding? */
static int
same_key(const struct registrar_contact *a,
    const struct registrar_contact *b)
{
	if (a->reg_id != b->reg_id) {
		return (0);
	}
	if (a->reg_id > 0) {
		return (strcmp(a->instance, b->instance) == 0);
	}
	return (strcmp(a->uri, b->uri) == 0);
}

/* Apply every contact inside the open transaction (RG-09, RG-11, RG-14). */
static int
apply_contacts(struct location_db *db, struct reg_request *r, int *stale)
{
	size_t i, j;

	*stale = 0;
	for (i = 0; i < r->ncontact; i++) {
		struct registrar_contact *c = &r->contact[i];
		struct location_binding b;
		char *old_call_id;
		uint32_t old_cseq;
		int found, repeated = 0;

		/* A key repeated in one request: the last one wins. */
		for (j = 0; j < i; j++) {
			repeated |= same_key(&r->contact[j], c);
		}
		found = location_find_seq(db, r->aor, c->instance, c->reg_id,
		    c->uri, r->now, &old_call_id, &old_cseq);
		if (found < 0) {
			return (-1);
		}
		if (found && !repeated && !may_update(r, old_call_id,
		    old_cseq)) {
			free(old_call_id);
			*stale = 1;
			return (0);
		}
		free(old_call_id);
		if (c->expires == 0) {
			if (location_remove(db, r->aor, c->instance, c->reg_id,
			    c->uri) != 0) {
				return (-1);
			}
			continue;
		}
		memset(&b, 0, sizeof(b));
		b.aor = r->aor;
		b.instance = c->instance;
		b.reg_id = c->reg_id;
		b.contact_uri = c->uri;
		b.contact_value = c->value;
		b.path = (char **)(uintptr_t)r->path;
		b.path_count = r->npath;
		b.call_id = r->call_id;
		b.cseq = r->cseq;
		b.expires_at = r->now + c->expires;
		b.q1000 = c->q1000;
		b.updated_at = r->now;
		b.flow_token = r->flow_token != NULL ? r->flow_token : "";
		if (location_store(db, &b) != 0) {
			return (-1);
		}
	}
	return (0);
}

/*
 * The 200 (RG-22): every live binding as "value;expires=remaining", the
 * request's Path values in order (RG-01, RFC 3327 §5.3), Require:
 * outbound with Flow-Timer (RG-07, RG-10, EP-18, KA-14) and Date.
 */
static int
build_ok(struct location_db *db, struct reg_request *r,
    struct registrar_answer *ans)
{
	const struct epsip_config *cfg = r->cfg;
	struct answer_headers h;
	struct location_list list;
	char date[64];
	struct tm tm;
	time_t t;
	size_t i;
	int rv;

	if (location_list_aor_brief(db, r->aor, r->now, &list) != 0) {
		return (reject(r->req, 500, NULL, NULL, ans));
	}
	memset(&h, 0, sizeof(h));
	for (i = 0; i < list.count; i++) {
		const struct location_binding *b = &list.v[i];

		answer_header_addf(&h, "Contact", "%s;expires=%lld",
		    b->contact_value, (long long)(b->expires_at > r->now ?
		    b->expires_at - r->now : 0));
	}
	location_list_clear(&list);
	for (i = 0; i < r->npath; i++) {
		answer_header_add(&h, "Path", r->path[i]);
	}
	/*
	 * Require: outbound only when outbound processing was applied and
	 * the UA said it supports it; Flow-Timer only together with it.
	 */
	if (r->outbound && rb_supports(r->req, "outbound")) {
		answer_header_add(&h, "Require", "outbound");
		if (cfg->flow_timer > 0) {
			answer_header_addf(&h, "Flow-Timer", "%u",
			    cfg->flow_timer);
		}
	}
	/* RFC 3261 §10.3(8): SHOULD include Date. */
	t = (time_t)r->now;
	if (gmtime_r(&t, &tm) != NULL && strftime(date, sizeof(date),
	    "%a, %d %b %Y %H:%M:%S GMT", &tm) > 0) {
		answer_header_add(&h, "Date", date);
	}
	rv = answer_build(r->req, 200, "OK", &h, ans);
	answer_headers_clear(&h);
	if (rv == 0) {
		stats_inc(M_REGISTRAR_REGISTER_OK);
	}
	return (rv);
}

/* RG-19: the AOR from To, in a domain we serve.  0 or a status. */
static int
read_aor(struct reg_request *r, const char **reason)
{
	const osip_uri_t *uri = r->req->to->url;
	char host[256];
	const char *at;

	if (rb_aor_canonical(uri, r->aor, sizeof(r->aor)) != 0) {
		*reason = "Not Found (not a SIP AOR)";
		return (404);
	}
	at = strchr(r->aor, '@');
	snprintf(host, sizeof(host), "%s", at != NULL ? at + 1 :
	    strchr(r->aor, ':') + 1);
	if (!config_serves_domain(r->cfg, host)) {
		*reason = "Not Found (domain not served)";
		return (404);
	}
	return (0);
}

/*
 * RFC 5626 §6 on the parsed contacts: RG-06 (400), RG-03/RG-04 (439 or
 * reg-id ignored), RG-21 (423, clamp).  0 or a status.
 */
static int
outbound_rules(struct reg_request *r, const char **reason)
{
	const struct epsip_config *cfg = r->cfg;
	size_t i, nonzero = 0;
	int with_reg_id = 0, first_hop;

	for (i = 0; i < r->ncontact; i++) {
		if (r->contact[i].expires != 0) {
			nonzero++;
			if (r->contact[i].reg_id != 0) {
				with_reg_id = 1;
			}
		}
	}
	/* RG-06: several live contacts and any reg-id among them. */
	if (nonzero > 1 && with_reg_id) {
		*reason = "Multiple Contacts With reg-id";
		return (400);
	}
	/* RG-03: first hop (single Via), or `ob` on the first Path URI. */
	first_hop = rb_via_count(r->req) <= 1;
	if (!first_hop && !r->path_ob) {
		for (i = 0; i < r->ncontact; i++) {
			if (r->contact[i].reg_id == 0) {
				continue;
			}
			/* RG-04, RFC 5626 §11.6: 439 needs both. */
			if (rb_supports(r->req, "outbound")) {
				*reason = "First Hop Lacks Outbound Support";
				return (439);
			}
			/* RG-04: otherwise the reg-id is ignored. */
			r->contact[i].reg_id = 0;
		}
	}
	for (i = 0; i < r->ncontact; i++) {
		struct registrar_contact *c = &r->contact[i];

		/* RG-21: MAY 423; then MAY shorten. */
		if (c->expires > 0 && c->expires < (int64_t)cfg->min_expires) {
			*reason = "Interval Too Brief";
			return (423);
		}
		if (c->expires > (int64_t)cfg->max_expires) {
			c->expires = cfg->max_expires;
		}
		if (c->reg_id != 0 && c->expires > 0) {
			r->outbound = 1;
		}
	}
	return (0);
}

/* Contact: * (RG-20) or the contacts to parse; 0 or a status. */
static int
read_contacts(struct reg_request *r, int *star, const char **reason)
{
	int64_t expires = header_expires(r->req);
	int i, n;

	*star = 0;
	n = osip_list_size(&r->req->contacts);
	if (n > REGISTRAR_MAX_CONTACTS) {
		*reason = "Too Many Contacts";
		return (400);
	}
	for (i = 0; i < n; i++) {
		osip_contact_t *c = osip_list_get(&r->req->contacts, i);

		if (c->url == NULL) {
			if (c->displayname == NULL ||
			    strcmp(c->displayname, "*") != 0) {
				*reason = "Bad Contact";
				return (400);
			}
			*star = 1;
		}
	}
	if (*star) {
		if (n != 1 || expires != 0) {
			*reason = "Contact * Needs Expires 0 Alone";
			return (400);
		}
		return (0);
	}
	for (i = 0; i < n; i++) {
		int status;

		status = registrar_contact_parse(osip_list_get(
		    &r->req->contacts, i), expires, r->cfg->default_expires,
		    &r->contact[i], reason);
		if (status != 0) {
			return (status);
		}
		r->ncontact++;
	}
	return (0);
}

/*
 * RG-22: all or nothing.  A request that writes at most one statement
 * (one contact, or Contact: *) is atomic as that statement is, so only a
 * request with several contacts pays for its own savepoint.
 */
static int
commit(struct location_db *db, struct reg_request *r, int star,
    int *stale)
{
	int rv;

	if (star || r->ncontact <= 1) {
		return (star ? remove_all(db, r, stale) :
		    apply_contacts(db, r, stale));
	}
	if (location_begin(db) != 0) {
		return (-1);
	}
	rv = apply_contacts(db, r, stale);
	if (rv != 0 || *stale) {
		location_rollback(db);
		return (rv);
	}
	if (location_commit(db) != 0) {
		location_rollback(db);
		return (-1);
	}
	return (0);
}

static int
register_request(const struct epsip_config *cfg, struct location_db *db,
    const osip_message_t *req, int64_t now, int moved,
    struct registrar_answer *ans)
{
	struct reg_request r;
	struct answer_headers h;
	const char *reason = NULL;
	int status, star, stale, rv;

	memset(&r, 0, sizeof(r));
	memset(&h, 0, sizeof(h));
	memset(ans, 0, sizeof(*ans));
	r.cfg = cfg;
	r.req = req;
	r.now = now;
	r.moved = moved;

	if (req->to == NULL || req->to->url == NULL || req->from == NULL ||
	    (r.call_id = call_id_text(req)) == NULL ||
	    parse_cseq(req, &r.cseq) != 0) {
		rv = reject(req, 400, "Bad Request", NULL, ans);
		goto done;
	}
	/* RG-18, RFC 3261 §10.3(2). */
	if (check_require(req, &h) > 0) {
		rv = reject(req, 420, "Bad Extension", &h, ans);
		goto done;
	}
	/* RFC 3261 §10.3(3-4): authenticated before (auth.h). */
	if ((status = read_aor(&r, &reason)) != 0 ||
	    (status = read_contacts(&r, &star, &reason)) != 0) {
		rv = reject(req, status, reason, NULL, ans);
		goto done;
	}
	if (read_path(&r) != 0) {
		rv = reject(req, 400, "Bad Path", NULL, ans);
		goto done;
	}
	if (!star && (status = outbound_rules(&r, &reason)) != 0) {
		if (status == 423) {
			answer_header_addf(&h, "Min-Expires", "%u",
			    cfg->min_expires);
		}
		rv = reject(req, status, reason, &h, ans);
		goto done;
	}
	/* RG-22: all or nothing. */
	if (commit(db, &r, star, &stale) != 0) {
		rv = reject(req, 500, "Server Internal Error", NULL, ans);
		goto done;
	}
	if (stale) {
		rv = reject(req, 400, "CSeq Out Of Order", NULL, ans);
		goto done;
	}
	registrar_update_gauge(db, now);
	rv = build_ok(db, &r, ans);
done:
	answer_headers_clear(&h);
	request_clear(&r);
	return (rv);
}

int
registrar_register(const struct epsip_config *cfg, struct location_db *db,
    const osip_message_t *req, int64_t now, struct registrar_answer *ans)
{
	return (register_request(cfg, db, req, now, 0, ans));
}

int
registrar_register_moved(const struct epsip_config *cfg,
    struct location_db *db, const osip_message_t *req, int64_t now,
    struct registrar_answer *ans)
{
	return (register_request(cfg, db, req, now, 1, ans));
}

int
registrar_flow_closed(struct location_db *db, const char *token,
    int64_t now)
{
	int n;

	if ((n = location_remove_flow(db, token)) > 0) {
		stats_add(M_BINDINGS_DROPPED_FLOW_CLOSED, n);
		registrar_update_gauge(db, now);
	}
	return (n);
}

void
registrar_purge(struct location_db *db, int64_t now)
{
	location_purge(db, now);
	registrar_update_gauge(db, now);
	location_report_memory(db);	/* a soak watches it level off */
}

/*
 * The gauge counts the rows in the store: cheap after every change, and
 * expired bindings leave it at the next purge (RB_PURGE_MS at most).
 */
void
registrar_update_gauge(struct location_db *db, int64_t now)
{
	(void)now;
	stats_set(M_REGISTRATIONS_ACTIVE, location_rows(db));
}
