/*
 * auth.c -- the embedded registrar's authentication policy (see auth.h,
 * docs/security.md).
 *
 * One request, in this order:
 *
 *   1. `auth = none`: through.
 *   2. The identity to prove: the To URI of a REGISTER, the From URI of
 *      anything else; its host, in lower case, is the realm (a host the
 *      registrar does not serve: the first `domain`, so that a made-up
 *      From cannot pick a realm nobody has credentials in).
 *   3. The credentials for that realm, if any (Authorization for a
 *      REGISTER, Proxy-Authorization for the rest; digest.c parses).
 *   4. One look-up (users.c): does anyone exist, and this user's HA1s.
 *      `protected` with nobody: loopback through, others 403.
 *   5. No credentials: challenge.  Else the nonce's MAC (one HMAC), the
 *      expected response from the HA1 -- a random one for an unknown
 *      user, so the work and the answer are the same -- compared in
 *      constant time; a stale nonce with a good response gets
 *      stale=true; then the identity (403 for another AoR's
 *      credentials), then the nonce count (auth_replay.c).
 *
 * RFC 7616 leaves the digest-uri check to the server; it is not compared
 * with the Request-URI here (phones disagree on its spelling), since the
 * response already binds the method and the nonce count stops replays.
 * DIAGNOSTICS: a look-up that fails answers 500 (auth.errors); the 403 of
 * `protected` is logged at most once a second with a count; failures are
 * counted (auth.failures.*) and logged at debug level.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>

#include <mbedtls/md.h>

#include "epsip/log.h"
#include "epsip/sip_scan.h"
#include "epsip/stats.h"
#include "epsip/users.h"

#include "../rb_sip.h"
#include "auth.h"
#include "auth_replay.h"

/* Nonces the replay table holds before it evicts (auth_replay.h). */
#define AUTH_REPLAY_CAPACITY	65536
/* At most one line a second about 403s of `protected`. */
#define AUTH_LOG_EVERY_MS	1000

#define AUTH_FORBIDDEN_REASON \
	"Forbidden: add a user (epsipctl user add) or set auth = none"

struct auth {
	const struct epsip_config *cfg;
	struct users_lookup *users;
	struct auth_replay *replay;
	uint8_t nonce_key[DIGEST_KEY_SIZE];
	uint32_t epoch;
	uint64_t seq;		/* the last nonce's */
	char dummy[DIGEST_ALG_COUNT][DIGEST_HEX_MAX];
	uint64_t forbidden_unlogged;
	uint64_t forbidden_logged_ms;
};

/* Which header pair a request uses: a registrar's or a proxy's. */
struct auth_kind {
	int status;
	const char *reason;
	const char *challenge;	/* WWW-Authenticate, Proxy-Authenticate */
	const char *credentials;	/* Authorization, Proxy-Authorization */
};

static const struct auth_kind registrar_kind = { 401, "Unauthorized",
    "WWW-Authenticate", "Authorization" };
static const struct auth_kind proxy_kind = { 407,
    "Proxy Authentication Required", "Proxy-Authenticate",
    "Proxy-Authorization" };

/* Fill buf with random bytes; -1 if the kernel would not. */
static int
random_bytes(void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);

		if (n <= 0) {
			return (-1);
		}
		p += n;
		len -= (size_t)n;
	}
	return (0);
}

/*
 * The nonce key is the token key's HMAC of a label: a nonce's MAC can
 * never be taken for a flow token's, nor the other way round.
 */
void
auth_set_key(struct auth *a, const uint8_t token_secret[DIGEST_KEY_SIZE])
{
	static const char label[] = "EPSIP digest nonce key v1";

	mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256),
	    token_secret, DIGEST_KEY_SIZE, (const unsigned char *)label,
	    sizeof(label) - 1, a->nonce_key);
}

struct auth *
auth_new(const struct epsip_config *cfg, struct sqlite3 *db,
    const uint8_t token_secret[DIGEST_KEY_SIZE], char *err, size_t errcap)
{
	uint8_t raw[32];
	struct auth *a;

	if ((a = calloc(1, sizeof(*a))) == NULL) {
		snprintf(err, errcap, "out of memory");
		return (NULL);
	}
	a->cfg = cfg;
	if ((a->users = users_lookup_new(db, err, errcap)) == NULL) {
		free(a);
		return (NULL);
	}
	if (random_bytes(&a->epoch, sizeof(a->epoch)) == -1) {
		snprintf(err, errcap, "getrandom failed");
		auth_free(a);
		return (NULL);
	}
	for (int i = 0; i < DIGEST_ALG_COUNT; i++) {
		size_t n = digest_hex_len((enum digest_alg)i) / 2;

		if (random_bytes(raw, n) == -1) {
			snprintf(err, errcap, "getrandom failed");
			auth_free(a);
			return (NULL);
		}
		for (size_t j = 0; j < n; j++) {
			snprintf(a->dummy[i] + 2 * j, 3, "%02x", raw[j]);
		}
	}
	if ((a->replay = auth_replay_new(AUTH_REPLAY_CAPACITY, a->epoch)) ==
	    NULL) {
		snprintf(err, errcap, "out of memory");
		auth_free(a);
		return (NULL);
	}
	auth_set_key(a, token_secret);
	return (a);
}

void
auth_free(struct auth *a)
{
	if (a == NULL) {
		return;
	}
	users_lookup_free(a->users);
	auth_replay_free(a->replay);
	explicit_bzero(a, sizeof(*a));
	free(a);
}

int
auth_applies(const osip_message_t *req)
{
	const char *m = req->sip_method;

	if (m == NULL) {
		return (0);
	}
	if (strcmp(m, "REGISTER") == 0) {
		return (1);
	}
	return (rb_to_tag(req) == NULL && (strcmp(m, "INVITE") == 0 ||
	    strcmp(m, "MESSAGE") == 0 || strcmp(m, "SUBSCRIBE") == 0));
}

/* A realm fit to stand between quotes: a host name or address. */
static int
realm_ok(const char *s)
{
	if (*s == '\0' || strlen(s) >= DIGEST_FIELD_MAX) {
		return (0);
	}
	for (; *s != '\0'; s++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		    strchr(".-_:[]", *s) != NULL)) {
			return (0);
		}
	}
	return (1);
}

/* The realm a request is judged in, from its identity's host. */
static int
realm_of(const struct epsip_config *cfg, const osip_uri_t *uri, char *realm)
{
	const char *host = uri->host;
	size_t i;

	if (cfg->domain_count > 0 && !config_serves_domain(cfg, host)) {
		host = cfg->domain[0];
	}
	for (i = 0; host[i] != '\0' && i + 1 < DIGEST_FIELD_MAX; i++) {
		realm[i] = (char)((host[i] >= 'A' && host[i] <= 'Z') ?
		    host[i] - 'A' + 'a' : host[i]);
	}
	realm[i] = '\0';
	return (realm_ok(realm) ? 0 : -1);
}

/*
 * Try one credentials value: 1 when it is Digest for `realm` (in *c),
 * else 0; a Digest value that does not parse sets *malformed.
 */
static int
try_value(const char *value, size_t len, const char *realm,
    struct digest_credentials *c, int *malformed)
{
	enum digest_error e = digest_parse(value, len, c);

	if (e == DIGEST_OK) {
		return (strcmp(c->realm, realm) == 0);
	}
	if (e != DIGEST_ESCHEME) {
		*malformed = 1;
		log_debug("auth: credentials refused: %s",
		    digest_error_name(e));
	}
	return (0);
}

/* Without the bytes (a request from the core-side network): libosip2's. */
static int
find_in_parsed(const osip_message_t *req, int proxy, const char *realm,
    struct digest_credentials *c, int *malformed)
{
	const osip_list_t *list = proxy ? &req->proxy_authorizations :
	    &req->authorizations;
	int found = 0;

	for (int i = 0; !found && i < osip_list_size(list); i++) {
		char *text;

		if (osip_authorization_to_str(osip_list_get(list, i),
		    &text) != 0) {
			continue;
		}
		found = try_value(text, strlen(text), realm, c, malformed);
		osip_free(text);
	}
	return (found);
}

/* The first credentials for `realm`: 1 and *c, or 0. */
static int
find_credentials(const osip_message_t *req, const struct auth_kind *kind,
    const char *realm, struct digest_credentials *c, int *malformed)
{
	struct sip_scan *s;
	const char *buf;
	size_t len, n = strlen(kind->credentials);
	int found = 0;

	*malformed = 0;
	/* libosip2 has listed them already: most requests carry none. */
	if (osip_list_size(kind == &proxy_kind ? &req->proxy_authorizations :
	    &req->authorizations) <= 0) {
		return (0);
	}
	if ((buf = rb_bytes(req, &len)) == NULL) {
		return (find_in_parsed(req, kind == &proxy_kind, realm, c,
		    malformed));
	}
	if ((s = malloc(sizeof(*s))) == NULL || sip_scan(buf, len, s) != 0) {
		free(s);
		return (0);
	}
	for (size_t i = 0; !found && i < s->count; i++) {
		const struct sip_header_line *h = &s->h[i];

		if (h->name.len == n && strncasecmp(buf + h->name.off,
		    kind->credentials, n) == 0) {
			found = try_value(buf + h->value.off, h->value.len,
			    realm, c, malformed);
		}
	}
	free(s);
	return (found);
}

/* The algorithms `auth-algorithms` offers, in its order; how many. */
static size_t
offered(const struct epsip_config *cfg, enum digest_alg alg[DIGEST_ALG_COUNT])
{
	switch (cfg->auth_algorithms) {
	case AUTH_ALGS_MD5_SHA256:
		alg[0] = DIGEST_MD5;
		alg[1] = DIGEST_SHA256;
		return (2);
	case AUTH_ALGS_MD5:
		alg[0] = DIGEST_MD5;
		return (1);
	case AUTH_ALGS_SHA256:
		alg[0] = DIGEST_SHA256;
		return (1);
	case AUTH_ALGS_SHA256_MD5:
		break;
	}
	alg[0] = DIGEST_SHA256;
	alg[1] = DIGEST_MD5;
	return (2);
}

static int
is_offered(const struct epsip_config *cfg, enum digest_alg alg)
{
	enum digest_alg list[DIGEST_ALG_COUNT];
	size_t n = offered(cfg, list);

	for (size_t i = 0; i < n; i++) {
		if (list[i] == alg) {
			return (1);
		}
	}
	return (0);
}

/*
 * 401/407 with a fresh nonce, one header per algorithm offered, SHA-256
 * first unless `auth-algorithms` says otherwise (RFC 8760 §2.4).
 */
static int
challenge(struct auth *a, const struct auth_kind *kind, const char *realm,
    int64_t now, int stale, struct answer_headers *h, const char **reason)
{
	enum digest_alg alg[DIGEST_ALG_COUNT];
	struct digest_nonce n;
	char nonce[DIGEST_NONCE_TEXT];
	size_t count = offered(a->cfg, alg);

	n.issued = now;
	n.epoch = a->epoch;
	n.seq = ++a->seq;
	digest_nonce_make(a->nonce_key, realm, &n, nonce);
	for (size_t i = 0; i < count; i++) {
		answer_header_addf(h, kind->challenge, "Digest realm=\"%s\", "
		    "nonce=\"%s\", algorithm=%s, qop=\"auth\"%s", realm, nonce,
		    digest_alg_name(alg[i]), stale ? ", stale=true" : "");
	}
	stats_inc(M_AUTH_CHALLENGES);
	*reason = kind->reason;
	return (kind->status);
}

/* A failure of good-looking credentials: counted, then a challenge. */
static int
refuse(struct auth *a, const struct auth_kind *kind, enum metric_id why,
    const char *realm, int64_t now, int stale, struct answer_headers *h,
    const char **reason)
{
	stats_inc(why);
	log_debug("auth: %s", metric_name(why));
	return (challenge(a, kind, realm, now, stale, h, reason));
}

/* `protected` with nobody to authenticate: 403, said once a second. */
static int
forbid(struct auth *a, const osip_message_t *req,
    const struct epsip_addr *source, uint64_t now_ms, const char **reason)
{
	char from[64] = "an unknown address";

	stats_inc(M_AUTH_FORBIDDEN_NO_USERS);
	a->forbidden_unlogged++;
	if (a->forbidden_logged_ms == 0 ||
	    now_ms - a->forbidden_logged_ms >= AUTH_LOG_EVERY_MS) {
		if (source != NULL && source->family != 0) {
			epsip_addr_format(source, from, sizeof(from));
		}
		log_warnx("auth: %s from %s answered 403: auth = protected and "
		    "no user is configured; add one (epsipctl user add "
		    "USER@DOMAIN) or set auth = none (%llu such 403s since the "
		    "last line)", req->sip_method, from,
		    (unsigned long long)a->forbidden_unlogged);
		a->forbidden_logged_ms = now_ms;
		a->forbidden_unlogged = 0;
	}
	*reason = AUTH_FORBIDDEN_REASON;
	return (403);
}

/* The identity proved must be the request's own AoR (To or From). */
static int
is_identity(const osip_uri_t *uri, const struct digest_credentials *c)
{
	char host[DIGEST_FIELD_MAX];
	size_t i;

	if (uri->username == NULL || strcmp(uri->username, c->username) != 0) {
		return (0);
	}
	for (i = 0; uri->host[i] != '\0' && i + 1 < sizeof(host); i++) {
		host[i] = (char)((uri->host[i] >= 'A' && uri->host[i] <= 'Z') ?
		    uri->host[i] - 'A' + 'a' : uri->host[i]);
	}
	host[i] = '\0';
	return (strcmp(host, c->realm) == 0);
}

/* The credentials verified: stale, wrong AoR, replay, or through. */
static int
verified(struct auth *a, const struct auth_kind *kind, const osip_uri_t *id,
    const struct digest_credentials *c, enum digest_nonce_state state,
    const struct digest_nonce *n, int64_t now, struct answer_headers *h,
    const char **reason)
{
	unsigned lifetime = a->cfg->auth_nonce_lifetime;

	if (state == DIGEST_NONCE_STALE) {
		/* RFC 7616 §3.3: the password was right, the nonce old. */
		return (refuse(a, kind, M_AUTH_FAILURES_STALE, c->realm, now,
		    1, h, reason));
	}
	if (!is_identity(id, c)) {
		stats_inc(M_AUTH_FAILURES_WRONG_USER);
		log_info("auth: %s@%s may not act for %s@%s", c->username,
		    c->realm, id->username != NULL ? id->username : "",
		    id->host);
		*reason = "Forbidden (credentials of another AoR)";
		return (403);
	}
	switch (auth_replay_use(a->replay, n, c->nc_value, now, lifetime)) {
	case AUTH_REPLAY_OK:
		break;
	case AUTH_REPLAY_SEEN:
		return (refuse(a, kind, M_AUTH_FAILURES_REPLAY, c->realm, now,
		    1, h, reason));
	case AUTH_REPLAY_FORGOTTEN:
		return (refuse(a, kind, M_AUTH_FAILURES_STALE, c->realm, now,
		    1, h, reason));
	}
	stats_inc(M_AUTH_OK);
	return (0);
}

int
auth_check(struct auth *a, const osip_message_t *req,
    const struct epsip_addr *source, int64_t now, uint64_t now_ms,
    struct answer_headers *h, const char **reason)
{
	const struct auth_kind *kind;
	const osip_uri_t *id;
	struct digest_credentials c;
	struct digest_nonce n;
	struct users_row row;
	enum digest_nonce_state state;
	char realm[DIGEST_FIELD_MAX], expect[DIGEST_HEX_MAX];
	const char *ha1;
	int found, malformed, match;

	*reason = NULL;
	if (a->cfg->auth == AUTH_NONE) {
		return (0);
	}
	kind = strcmp(req->sip_method, "REGISTER") == 0 ? &registrar_kind :
	    &proxy_kind;
	id = kind == &registrar_kind ? (req->to != NULL ? req->to->url : NULL) :
	    (req->from != NULL ? req->from->url : NULL);
	if (id == NULL || id->host == NULL || realm_of(a->cfg, id, realm) != 0) {
		*reason = "Bad Request (no usable From or To URI)";
		return (400);
	}
	found = find_credentials(req, kind, realm, &c, &malformed);
	if (users_lookup(a->users, found ? c.username : NULL, realm, &row) !=
	    0) {
		stats_inc(M_AUTH_ERRORS);
		*reason = "Server Internal Error (users table unreadable)";
		return (500);
	}
	if (a->cfg->auth == AUTH_PROTECTED && !row.any) {
		if (source != NULL && epsip_addr_is_loopback(source)) {
			return (0);
		}
		return (forbid(a, req, source, now_ms, reason));
	}
	if (found && !is_offered(a->cfg, c.alg)) {
		found = 0;		/* an algorithm we do not offer */
		malformed = 1;
	}
	if (!found) {
		if (malformed) {
			stats_inc(M_AUTH_FAILURES_MALFORMED);
		}
		return (challenge(a, kind, realm, now, 0, h, reason));
	}
	state = digest_nonce_check(a->nonce_key, realm, c.nonce, now,
	    a->cfg->auth_nonce_lifetime, &n);
	if (state == DIGEST_NONCE_BAD) {
		return (refuse(a, kind, M_AUTH_FAILURES_BAD_NONCE, realm, now,
		    0, h, reason));
	}
	/* The same work for a user that does not exist (auth.h). */
	ha1 = row.found && row.ha1[c.alg][0] != '\0' ? row.ha1[c.alg] :
	    a->dummy[c.alg];
	digest_response(ha1, &c, req->sip_method, expect);
	match = digest_hex_equal(c.alg, expect, c.response);
	if (!(match & row.found)) {
		return (refuse(a, kind, row.found ?
		    M_AUTH_FAILURES_BAD_RESPONSE : M_AUTH_FAILURES_UNKNOWN_USER,
		    realm, now, 0, h, reason));
	}
	return (verified(a, kind, id, &c, state, &n, now, h, reason));
}
