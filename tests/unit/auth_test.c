/*
 * auth_test.c -- who may register and call through the embedded
 * registrar (services/registrar-bridge/embedded/auth.c, auth_replay.c,
 * common/users.c): `auth = protected` lets loopback in while nobody is
 * configured and forbids everyone else, naming the fix; once a user
 * exists everyone answers a digest challenge (SHA-256 first, MD5 too);
 * unknown users are answered as wrong passwords are; stale and replayed
 * nonces get stale=true; credentials prove only their own AoR.  The last
 * tests drive the same through the core, as the router's envelopes do.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "epsip/config.h"
#include "epsip/digest.h"
#include "epsip/ipc.h"
#include "epsip/sip_util.h"
#include "epsip/stats.h"
#include "epsip/users.h"

#include "../../services/registrar-bridge/core.h"
#include "../../services/registrar-bridge/embedded/auth.h"
#include "../../services/registrar-bridge/embedded/auth_replay.h"
#include "../../services/registrar-bridge/embedded/core_embedded.h"
#include "../../services/registrar-bridge/embedded/location.h"
#include "../../services/registrar-bridge/rb_sip.h"
#include "sent_capture.h"

#define NOW	1700000000

static struct epsip_config cfg;
static sqlite3 *db;
static struct auth *auth;
static const uint8_t token_key[DIGEST_KEY_SIZE] = { 7, 7, 7 };

/* What one auth_check() said. */
struct verdict {
	int status;
	const char *reason;
	struct answer_headers h;
};

static int
setup(void **state)
{
	char err[256];

	(void)state;
	sip_library_init();
	stats_reset();
	config_defaults(&cfg);
	snprintf(cfg.domain[0], sizeof(cfg.domain[0]), "example.com");
	cfg.domain_count = 1;
	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	auth = auth_new(&cfg, db, token_key, err, sizeof(err));
	if (auth == NULL) {
		fail_msg("auth_new: %s", err);
	}
	return (0);
}

static int
teardown(void **state)
{
	(void)state;
	auth_free(auth);
	sqlite3_close(db);
	return (0);
}

static void
add_user(const char *user, const char *domain, const char *password)
{
	char err[256];
	int replaced;

	assert_int_equal(users_set(db, user, domain, password, &replaced, err,
	    sizeof(err)), 0);
}

static struct epsip_addr
ip(const char *text)
{
	struct epsip_addr a;

	memset(&a, 0, sizeof(a));
	assert_int_equal(epsip_addr_set_ip(&a, text), 0);
	a.port = 5060;
	return (a);
}

/*
 * A request of `method` from `from_user` to `to_user` (REGISTER: both
 * the AoR), with `credentials` ("" none) as its own header line.
 */
static char *
request_text(const char *method, const char *from_user, const char *to_user,
    const char *credentials, const char *to_tag)
{
	static unsigned n;
	char *text;

	n++;
	assert_true(asprintf(&text,
	    "%s sip:%s@example.com SIP/2.0\r\n"
	    "Via: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bKa%u\r\n"
	    "From: <sip:%s@example.com>;tag=f%u\r\n"
	    "To: <sip:%s@example.com>%s%s\r\n"
	    "Call-ID: call-%u\r\n"
	    "CSeq: %u %s\r\n"
	    "Contact: <sip:%s@192.0.2.2:5060>\r\n"
	    "%s"
	    "Content-Length: 0\r\n\r\n", method,
	    strcmp(method, "REGISTER") == 0 ? "" : to_user, n, from_user, n,
	    to_user, to_tag != NULL ? ";tag=" : "", to_tag != NULL ? to_tag :
	    "", n, n, method, from_user, credentials) > 0);
	if (strcmp(method, "REGISTER") == 0) {
		/* sip:@example.com is not a URI: a registrar's is the domain. */
		memmove(text + 13, text + 14, strlen(text + 14) + 1);
	}
	return (text);
}

static void
judge(const char *text, const struct epsip_addr *source, int64_t now,
    struct verdict *v)
{
	osip_message_t *req;

	assert_int_equal(rb_parse(text, strlen(text), &req), 0);
	memset(v, 0, sizeof(*v));
	v->status = auth_check(auth, req, source, now, 1000, &v->h,
	    &v->reason);
	osip_message_free(req);
}

static void
verdict_clear(struct verdict *v)
{
	answer_headers_clear(&v->h);
}

/* The nonce="..." of a challenge value, into out. */
static void
nonce_of(const char *value, char *out)
{
	const char *at = strstr(value, "nonce=\"");

	assert_non_null(at);
	at += 7;
	snprintf(out, DIGEST_NONCE_TEXT, "%.*s", (int)strcspn(at, "\""), at);
}

/* An Authorization (or Proxy-) line answering `nonce`. */
static char *
credentials_line(const char *header, enum digest_alg alg, const char *user,
    const char *password, const char *nonce, const char *method,
    const char *uri, uint32_t nc)
{
	struct digest_credentials c;
	char ha1[DIGEST_HEX_MAX], resp[DIGEST_HEX_MAX], *line;

	memset(&c, 0, sizeof(c));
	c.alg = alg;
	snprintf(c.nonce, sizeof(c.nonce), "%s", nonce);
	snprintf(c.uri, sizeof(c.uri), "%s", uri);
	snprintf(c.nc, sizeof(c.nc), "%08x", nc);
	snprintf(c.cnonce, sizeof(c.cnonce), "cn0123");
	digest_ha1(alg, user, "example.com", password, ha1);
	digest_response(ha1, &c, method, resp);
	assert_true(asprintf(&line, "%s: Digest username=\"%s\", "
	    "realm=\"example.com\", nonce=\"%s\", uri=\"%s\", "
	    "response=\"%s\", algorithm=%s, cnonce=\"cn0123\", qop=auth, "
	    "nc=%s\r\n", header, user, nonce, uri, resp,
	    digest_alg_name(alg), c.nc) > 0);
	return (line);
}

/* A fresh challenge's nonce for `method` as `user`, from loopback. */
static void
challenge_nonce(const char *method, const char *user, char *nonce)
{
	struct epsip_addr lo = ip("127.0.0.1");
	struct verdict v;
	char *text = request_text(method, user, user, "", NULL);

	judge(text, &lo, NOW, &v);
	assert_int_equal(v.status, strcmp(method, "REGISTER") == 0 ? 401 :
	    407);
	nonce_of(v.h.v[0].value, nonce);
	verdict_clear(&v);
	free(text);
}

/* A REGISTER of `user` answering `nonce` with `password`. */
static void
register_with(const char *user, const char *aor_user, const char *password,
    const char *nonce, enum digest_alg alg, uint32_t nc, int64_t now,
    struct verdict *v)
{
	struct epsip_addr lo = ip("127.0.0.1");
	char *line = credentials_line("Authorization", alg, user, password,
	    nonce, "REGISTER", "sip:example.com", nc);
	char *text = request_text("REGISTER", aor_user, aor_user, line, NULL);

	judge(text, &lo, now, v);
	free(line);
	free(text);
}

static void
test_protected_without_users_lets_loopback_in_and_forbids_others(
    void **state)
{
	static const char *const loopback[] = { "127.0.0.1", "127.9.8.7",
	    "::1", "::ffff:127.0.0.1" };
	static const char *const others[] = { "192.0.2.1", "2001:db8::1",
	    "::ffff:192.0.2.1", "::2" };
	struct epsip_addr a;
	struct verdict v;
	char *reg = request_text("REGISTER", "bob", "bob", "", NULL);
	char *inv = request_text("INVITE", "bob", "alice", "", NULL);

	(void)state;
	for (size_t i = 0; i < 4; i++) {
		a = ip(loopback[i]);
		judge(reg, &a, NOW, &v);
		assert_int_equal(v.status, 0);
		judge(inv, &a, NOW, &v);
		assert_int_equal(v.status, 0);
	}
	for (size_t i = 0; i < 4; i++) {
		a = ip(others[i]);
		judge(i % 2 ? inv : reg, &a, NOW, &v);
		assert_int_equal(v.status, 403);
		assert_string_equal(v.reason, "Forbidden: add a user (epsipctl "
		    "user add) or set auth = none");
		assert_int_equal(v.h.n, 0);
	}
	/* Unknown source (a network peer we cannot tell): not loopback. */
	judge(reg, NULL, NOW, &v);
	assert_int_equal(v.status, 403);
	assert_int_equal(stats_get(M_AUTH_FORBIDDEN_NO_USERS), 5);
	assert_int_equal(stats_get(M_AUTH_CHALLENGES), 0);
	free(reg);
	free(inv);
}

static void
test_with_a_user_every_register_is_challenged_sha256_first(void **state)
{
	struct epsip_addr lo = ip("127.0.0.1");
	char *reg = request_text("REGISTER", "bob", "bob", "", NULL);
	char n0[DIGEST_NONCE_TEXT], n1[DIGEST_NONCE_TEXT];
	struct verdict v;

	(void)state;
	add_user("bob", "example.com", "secret");
	judge(reg, &lo, NOW, &v);
	assert_int_equal(v.status, 401);
	assert_string_equal(v.reason, "Unauthorized");
	assert_int_equal(v.h.n, 2);
	assert_string_equal(v.h.v[0].name, "WWW-Authenticate");
	assert_string_equal(v.h.v[1].name, "WWW-Authenticate");
	assert_non_null(strstr(v.h.v[0].value, "algorithm=SHA-256"));
	assert_non_null(strstr(v.h.v[1].value, "algorithm=MD5"));
	for (size_t i = 0; i < 2; i++) {
		assert_true(strncmp(v.h.v[i].value, "Digest realm=\"example.com"
		    "\", nonce=\"", 34) == 0);
		assert_non_null(strstr(v.h.v[i].value, "qop=\"auth\""));
		assert_null(strstr(v.h.v[i].value, "stale"));
	}
	/* One nonce for both: a challenge costs one HMAC. */
	nonce_of(v.h.v[0].value, n0);
	nonce_of(v.h.v[1].value, n1);
	assert_string_equal(n0, n1);
	verdict_clear(&v);
	/* Every challenge a new nonce. */
	judge(reg, &lo, NOW, &v);
	nonce_of(v.h.v[0].value, n1);
	assert_string_not_equal(n0, n1);
	verdict_clear(&v);
	assert_int_equal(stats_get(M_AUTH_CHALLENGES), 2);
	free(reg);
}

static void
test_good_credentials_pass_with_either_algorithm(void **state)
{
	char nonce[DIGEST_NONCE_TEXT];
	struct verdict v;

	(void)state;
	add_user("bob", "example.com", "secret");
	challenge_nonce("REGISTER", "bob", nonce);
	register_with("bob", "bob", "secret", nonce, DIGEST_SHA256, 1, NOW,
	    &v);
	assert_int_equal(v.status, 0);
	challenge_nonce("REGISTER", "bob", nonce);
	register_with("bob", "bob", "secret", nonce, DIGEST_MD5, 1, NOW, &v);
	assert_int_equal(v.status, 0);
	/* From any source: a user exists, so nobody is let in unasked. */
	assert_int_equal(stats_get(M_AUTH_OK), 2);
	assert_int_equal(stats_get(M_AUTH_FORBIDDEN_NO_USERS), 0);
}

/* The challenge's text with its nonce blanked out. */
static void
without_nonce(const char *value, char *out, size_t cap)
{
	const char *at = strstr(value, "nonce=\"") + 7;

	snprintf(out, cap, "%.*s%s", (int)(at - value), value,
	    at + DIGEST_NONCE_TEXT - 1);
}

static void
test_wrong_password_and_unknown_user_get_the_same_answer(void **state)
{
	char nonce[DIGEST_NONCE_TEXT], a[2][256], b[2][256];
	struct verdict wrong, unknown;

	(void)state;
	add_user("bob", "example.com", "secret");
	challenge_nonce("REGISTER", "bob", nonce);
	register_with("bob", "bob", "guess", nonce, DIGEST_SHA256, 1, NOW,
	    &wrong);
	challenge_nonce("REGISTER", "mallory", nonce);
	register_with("mallory", "mallory", "guess", nonce, DIGEST_SHA256, 1,
	    NOW, &unknown);
	assert_int_equal(wrong.status, 401);
	assert_int_equal(unknown.status, 401);
	assert_string_equal(wrong.reason, unknown.reason);
	assert_int_equal(wrong.h.n, unknown.h.n);
	for (size_t i = 0; i < 2; i++) {
		without_nonce(wrong.h.v[i].value, a[i], sizeof(a[i]));
		without_nonce(unknown.h.v[i].value, b[i], sizeof(b[i]));
		assert_string_equal(a[i], b[i]);
		assert_null(strstr(a[i], "stale"));
	}
	verdict_clear(&wrong);
	verdict_clear(&unknown);
	assert_int_equal(stats_get(M_AUTH_FAILURES_BAD_RESPONSE), 1);
	assert_int_equal(stats_get(M_AUTH_FAILURES_UNKNOWN_USER), 1);
	assert_int_equal(stats_get(M_AUTH_OK), 0);
}

static void
test_replayed_nonce_count_gets_stale_and_a_higher_count_passes(
    void **state)
{
	char nonce[DIGEST_NONCE_TEXT];
	struct verdict v;

	(void)state;
	add_user("bob", "example.com", "secret");
	challenge_nonce("REGISTER", "bob", nonce);
	register_with("bob", "bob", "secret", nonce, DIGEST_SHA256, 1, NOW,
	    &v);
	assert_int_equal(v.status, 0);
	/* The same request again (captured): nc did not grow. */
	register_with("bob", "bob", "secret", nonce, DIGEST_SHA256, 1, NOW,
	    &v);
	assert_int_equal(v.status, 401);
	assert_non_null(strstr(v.h.v[0].value, "stale=true"));
	verdict_clear(&v);
	assert_int_equal(stats_get(M_AUTH_FAILURES_REPLAY), 1);
	/* The phone reusing its nonce with the next count: fine. */
	register_with("bob", "bob", "secret", nonce, DIGEST_MD5, 2, NOW + 10,
	    &v);
	assert_int_equal(v.status, 0);
	register_with("bob", "bob", "secret", nonce, DIGEST_MD5, 2, NOW + 10,
	    &v);
	assert_int_equal(v.status, 401);
	verdict_clear(&v);
}

static void
test_expired_nonce_gets_stale_true_only_with_the_right_password(
    void **state)
{
	char nonce[DIGEST_NONCE_TEXT];
	struct verdict v;
	int64_t later = NOW + cfg.auth_nonce_lifetime;

	(void)state;
	add_user("bob", "example.com", "secret");
	challenge_nonce("REGISTER", "bob", nonce);
	register_with("bob", "bob", "secret", nonce, DIGEST_SHA256, 1, later,
	    &v);
	assert_int_equal(v.status, 401);
	assert_non_null(strstr(v.h.v[0].value, ", stale=true"));
	assert_non_null(strstr(v.h.v[1].value, ", stale=true"));
	verdict_clear(&v);
	assert_int_equal(stats_get(M_AUTH_FAILURES_STALE), 1);
	register_with("bob", "bob", "wrong", nonce, DIGEST_SHA256, 2, later,
	    &v);
	assert_int_equal(v.status, 401);
	assert_null(strstr(v.h.v[0].value, "stale"));
	verdict_clear(&v);
	/* A lifetime set shorter (a reload) applies at once. */
	challenge_nonce("REGISTER", "bob", nonce);
	cfg.auth_nonce_lifetime = 5;
	register_with("bob", "bob", "secret", nonce, DIGEST_SHA256, 1, NOW + 5,
	    &v);
	assert_int_equal(v.status, 401);
	verdict_clear(&v);
}

static void
test_nonce_not_ours_is_a_plain_challenge(void **state)
{
	struct digest_nonce n = { NOW, 1, 1 };
	static const uint8_t other[DIGEST_KEY_SIZE] = { 1 };
	char nonce[DIGEST_NONCE_TEXT];
	struct verdict v;

	(void)state;
	add_user("bob", "example.com", "secret");
	digest_nonce_make(other, "example.com", &n, nonce);
	register_with("bob", "bob", "secret", nonce, DIGEST_SHA256, 1, NOW,
	    &v);
	assert_int_equal(v.status, 401);
	assert_null(strstr(v.h.v[0].value, "stale"));
	verdict_clear(&v);
	assert_int_equal(stats_get(M_AUTH_FAILURES_BAD_NONCE), 1);
	/* A new flow-token key (reload): old nonces stop verifying. */
	challenge_nonce("REGISTER", "bob", nonce);
	auth_set_key(auth, other);
	register_with("bob", "bob", "secret", nonce, DIGEST_SHA256, 1, NOW,
	    &v);
	assert_int_equal(v.status, 401);
	verdict_clear(&v);
	assert_int_equal(stats_get(M_AUTH_FAILURES_BAD_NONCE), 2);
}

static void
test_credentials_prove_only_their_own_aor(void **state)
{
	char nonce[DIGEST_NONCE_TEXT];
	struct verdict v;

	(void)state;
	add_user("bob", "example.com", "secret");
	add_user("alice", "example.com", "other");
	challenge_nonce("REGISTER", "alice", nonce);
	register_with("bob", "alice", "secret", nonce, DIGEST_SHA256, 1, NOW,
	    &v);
	assert_int_equal(v.status, 403);
	assert_int_equal(v.h.n, 0);
	assert_int_equal(stats_get(M_AUTH_FAILURES_WRONG_USER), 1);
}

static void
test_invite_is_challenged_with_407_and_proxy_authorization(void **state)
{
	struct epsip_addr lo = ip("127.0.0.1");
	char nonce[DIGEST_NONCE_TEXT], *line, *text;
	struct verdict v;

	(void)state;
	add_user("bob", "example.com", "secret");
	text = request_text("MESSAGE", "bob", "alice", "", NULL);
	judge(text, &lo, NOW, &v);
	assert_int_equal(v.status, 407);
	assert_string_equal(v.reason, "Proxy Authentication Required");
	assert_string_equal(v.h.v[0].name, "Proxy-Authenticate");
	assert_string_equal(v.h.v[1].name, "Proxy-Authenticate");
	nonce_of(v.h.v[0].value, nonce);
	verdict_clear(&v);
	free(text);
	/* Authorization is the registrar's header, not the proxy's. */
	line = credentials_line("Authorization", DIGEST_SHA256, "bob",
	    "secret", nonce, "INVITE", "sip:alice@example.com", 1);
	text = request_text("INVITE", "bob", "alice", line, NULL);
	judge(text, &lo, NOW, &v);
	assert_int_equal(v.status, 407);
	verdict_clear(&v);
	free(text);
	free(line);
	line = credentials_line("Proxy-Authorization", DIGEST_SHA256, "bob",
	    "secret", nonce, "INVITE", "sip:alice@example.com", 1);
	text = request_text("INVITE", "bob", "alice", line, NULL);
	judge(text, &lo, NOW, &v);
	assert_int_equal(v.status, 0);
	free(text);
	free(line);
}

static void
test_only_out_of_dialog_invite_message_subscribe_and_register_apply(
    void **state)
{
	static const struct {
		const char *method;
		const char *to_tag;
		int applies;
	} cases[] = {
		{ "REGISTER", NULL, 1 }, { "INVITE", NULL, 1 },
		{ "MESSAGE", NULL, 1 }, { "SUBSCRIBE", NULL, 1 },
		{ "INVITE", "t1", 0 }, { "BYE", "t1", 0 },
		{ "OPTIONS", NULL, 0 }, { "NOTIFY", "t1", 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *text = request_text(cases[i].method, "bob", "alice", "",
		    cases[i].to_tag);
		osip_message_t *req;

		assert_int_equal(rb_parse(text, strlen(text), &req), 0);
		assert_int_equal(auth_applies(req), cases[i].applies);
		osip_message_free(req);
		free(text);
	}
}

static void
test_digest_mode_challenges_loopback_and_none_asks_nobody(void **state)
{
	struct epsip_addr lo = ip("127.0.0.1"), far = ip("198.51.100.7");
	char *reg = request_text("REGISTER", "bob", "bob", "", NULL);
	struct verdict v;

	(void)state;
	cfg.auth = AUTH_DIGEST;
	judge(reg, &lo, NOW, &v);
	assert_int_equal(v.status, 401);
	verdict_clear(&v);
	cfg.auth = AUTH_NONE;
	judge(reg, &far, NOW, &v);
	assert_int_equal(v.status, 0);
	add_user("bob", "example.com", "secret");
	judge(reg, &far, NOW, &v);
	assert_int_equal(v.status, 0);
	free(reg);
}

/* auth-algorithms: the order offered, and only what is offered passes. */
static void
test_auth_algorithms_orders_the_challenges_and_limits_what_passes(
    void **state)
{
	struct epsip_addr lo = ip("127.0.0.1");
	char *reg = request_text("REGISTER", "bob", "bob", "", NULL);
	char nonce[DIGEST_NONCE_TEXT];
	struct verdict v;

	(void)state;
	add_user("bob", "example.com", "secret");
	cfg.auth_algorithms = AUTH_ALGS_MD5_SHA256;
	judge(reg, &lo, NOW, &v);
	assert_int_equal(v.h.n, 2);
	assert_non_null(strstr(v.h.v[0].value, "algorithm=MD5"));
	assert_non_null(strstr(v.h.v[1].value, "algorithm=SHA-256"));
	verdict_clear(&v);
	cfg.auth_algorithms = AUTH_ALGS_MD5;
	judge(reg, &lo, NOW, &v);
	assert_int_equal(v.h.n, 1);
	assert_non_null(strstr(v.h.v[0].value, "algorithm=MD5"));
	nonce_of(v.h.v[0].value, nonce);
	verdict_clear(&v);
	/* SHA-256 credentials where only MD5 is offered: refused. */
	register_with("bob", "bob", "secret", nonce, DIGEST_SHA256, 1, NOW,
	    &v);
	assert_int_equal(v.status, 401);
	verdict_clear(&v);
	assert_int_equal(stats_get(M_AUTH_FAILURES_MALFORMED), 1);
	register_with("bob", "bob", "secret", nonce, DIGEST_MD5, 1, NOW, &v);
	assert_int_equal(v.status, 0);
	cfg.auth_algorithms = AUTH_ALGS_SHA256;
	judge(reg, &lo, NOW, &v);
	assert_int_equal(v.h.n, 1);
	assert_non_null(strstr(v.h.v[0].value, "algorithm=SHA-256"));
	verdict_clear(&v);
	free(reg);
}

/* The users table is read per request: no restart, no cache. */
static void
test_user_added_or_removed_counts_from_the_next_request(void **state)
{
	struct epsip_addr far = ip("203.0.113.9");
	char *reg = request_text("REGISTER", "bob", "bob", "", NULL);
	char err[256];
	struct verdict v;

	(void)state;
	judge(reg, &far, NOW, &v);
	assert_int_equal(v.status, 403);
	add_user("bob", "example.com", "secret");
	judge(reg, &far, NOW, &v);
	assert_int_equal(v.status, 401);
	verdict_clear(&v);
	assert_int_equal(users_del(db, "bob", "example.com", err,
	    sizeof(err)), 1);
	judge(reg, &far, NOW, &v);
	assert_int_equal(v.status, 403);
	free(reg);
}

/* A From in a domain nobody serves is judged in the first domain's
 * realm: a made-up domain does not choose where credentials are looked
 * up. */
static void
test_unserved_domain_is_judged_in_the_first_domains_realm(void **state)
{
	struct epsip_addr lo = ip("127.0.0.1");
	struct verdict v;
	char *text;

	(void)state;
	add_user("bob", "example.com", "secret");
	text = request_text("INVITE", "bob", "alice", "", NULL);
	/* From: <sip:bob@EXAMPLE.net> */
	memcpy(strstr(text, "From: <sip:bob@example.com") + 15, "EXAMPLE.net",
	    11);
	judge(text, &lo, NOW, &v);
	assert_int_equal(v.status, 407);
	assert_true(strncmp(v.h.v[0].value, "Digest realm=\"example.com\"",
	    26) == 0);
	verdict_clear(&v);
	free(text);
}

/* The bridge restarted: its table is empty, so the old nonce is stale. */
static void
test_nonce_from_before_a_restart_is_stale_not_replayable(void **state)
{
	char nonce[DIGEST_NONCE_TEXT], err[256];
	struct verdict v;

	(void)state;
	add_user("bob", "example.com", "secret");
	challenge_nonce("REGISTER", "bob", nonce);
	register_with("bob", "bob", "secret", nonce, DIGEST_SHA256, 1, NOW,
	    &v);
	assert_int_equal(v.status, 0);
	auth_free(auth);
	auth = auth_new(&cfg, db, token_key, err, sizeof(err));
	assert_non_null(auth);
	register_with("bob", "bob", "secret", nonce, DIGEST_SHA256, 2, NOW,
	    &v);
	assert_int_equal(v.status, 401);
	assert_non_null(strstr(v.h.v[0].value, "stale=true"));
	verdict_clear(&v);
}

/*
 * A request from the core-side network (another edge) keeps no bytes
 * (core_dispatch.c): its credentials are read from libosip2's reprint.
 */
static void
test_credentials_of_a_request_without_its_bytes_are_read_too(void **state)
{
	struct epsip_addr lo = ip("127.0.0.1");
	char nonce[DIGEST_NONCE_TEXT], *line, *text;
	osip_message_t *req;
	const char *reason;
	struct answer_headers h;

	(void)state;
	add_user("bob", "example.com", "secret");
	challenge_nonce("INVITE", "bob", nonce);
	line = credentials_line("Proxy-Authorization", DIGEST_MD5, "bob",
	    "secret", nonce, "INVITE", "sip:alice@example.com", 1);
	text = request_text("INVITE", "bob", "alice", line, NULL);
	assert_int_equal(rb_parse(text, strlen(text), &req), 0);
	rb_forget_bytes(req);
	assert_null(rb_bytes(req, &(size_t){ 0 }));
	memset(&h, 0, sizeof(h));
	assert_int_equal(auth_check(auth, req, &lo, NOW, 1000, &h, &reason),
	    0);
	assert_int_equal(stats_get(M_AUTH_OK), 1);
	osip_message_free(req);
	free(text);
	free(line);
}

static void
test_malformed_credentials_are_counted_and_challenged(void **state)
{
	struct epsip_addr lo = ip("127.0.0.1");
	char *text = request_text("REGISTER", "bob", "bob",
	    "Authorization: Digest username=\"bob\", realm=\"example.com\", "
	    "nonce=\"x\", uri=\"sip:example.com\", response=\"0\", "
	    "algorithm=MD5-sess\r\n", NULL);
	struct verdict v;

	(void)state;
	add_user("bob", "example.com", "secret");
	judge(text, &lo, NOW, &v);
	assert_int_equal(v.status, 401);
	verdict_clear(&v);
	assert_int_equal(stats_get(M_AUTH_FAILURES_MALFORMED), 1);
	free(text);
}

/* ---- the replay table ---- */

static void
test_replay_table_evicts_the_oldest_and_forgets_under_its_floor(
    void **state)
{
	struct auth_replay *r = auth_replay_new(2, 5);
	struct digest_nonce a = { NOW, 5, 10 }, b = { NOW, 5, 11 },
	    c = { NOW, 5, 12 }, d = { NOW, 5, 9 }, other = { NOW, 6, 13 };

	(void)state;
	assert_non_null(r);
	assert_int_equal(auth_replay_use(r, &a, 1, NOW, 300), AUTH_REPLAY_OK);
	assert_int_equal(auth_replay_use(r, &b, 1, NOW, 300), AUTH_REPLAY_OK);
	assert_int_equal(auth_replay_use(r, &a, 1, NOW, 300),
	    AUTH_REPLAY_SEEN);
	assert_int_equal(auth_replay_count(r), 2);
	/* Full: a (used first) goes, and the floor rises to its seq. */
	assert_int_equal(auth_replay_use(r, &c, 1, NOW, 300), AUTH_REPLAY_OK);
	assert_int_equal(stats_get(M_AUTH_NONCES_EVICTED), 1);
	assert_int_equal(auth_replay_use(r, &a, 2, NOW, 300),
	    AUTH_REPLAY_FORGOTTEN);
	/* Never used, but under the floor: cannot be vouched for. */
	assert_int_equal(auth_replay_use(r, &d, 1, NOW, 300),
	    AUTH_REPLAY_FORGOTTEN);
	/* Still held: b and c count on. */
	assert_int_equal(auth_replay_use(r, &b, 2, NOW, 300), AUTH_REPLAY_OK);
	assert_int_equal(auth_replay_use(r, &c, 1, NOW, 300),
	    AUTH_REPLAY_SEEN);
	/* Another process's nonce. */
	assert_int_equal(auth_replay_use(r, &other, 1, NOW, 300),
	    AUTH_REPLAY_FORGOTTEN);
	auth_replay_free(r);
}

static void
test_replay_table_lets_expired_nonces_go_without_raising_the_floor(
    void **state)
{
	struct auth_replay *r = auth_replay_new(2, 5);
	struct digest_nonce a = { NOW, 5, 10 }, b = { NOW, 5, 11 },
	    c = { NOW + 400, 5, 12 }, e = { NOW + 400, 5, 13 };

	(void)state;
	assert_int_equal(auth_replay_use(r, &a, 1, NOW, 300), AUTH_REPLAY_OK);
	assert_int_equal(auth_replay_use(r, &b, 1, NOW, 300), AUTH_REPLAY_OK);
	/* 400 s on: both expired, room without an eviction. */
	assert_int_equal(auth_replay_use(r, &c, 1, NOW + 400, 300),
	    AUTH_REPLAY_OK);
	assert_int_equal(auth_replay_count(r), 1);
	assert_int_equal(auth_replay_use(r, &e, 1, NOW + 400, 300),
	    AUTH_REPLAY_OK);
	assert_int_equal(stats_get(M_AUTH_NONCES_EVICTED), 0);
	auth_replay_free(r);
}

/* Many nonces through a small table: the hash chains stay whole. */
static void
test_replay_table_survives_many_evictions(void **state)
{
	struct auth_replay *r = auth_replay_new(64, 1);

	(void)state;
	for (uint64_t seq = 1; seq <= 5000; seq++) {
		struct digest_nonce n = { NOW, 1, seq };

		assert_int_equal(auth_replay_use(r, &n, 1, NOW, 300),
		    AUTH_REPLAY_OK);
		assert_int_equal(auth_replay_use(r, &n, 1, NOW, 300),
		    AUTH_REPLAY_SEEN);
	}
	assert_int_equal(auth_replay_count(r), 64);
	assert_int_equal(stats_get(M_AUTH_NONCES_EVICTED), 5000 - 64);
	auth_replay_free(r);
}

/* ---- users ---- */

static void
test_users_split_and_lookup(void **state)
{
	char user[USERS_USER_MAX], domain[USERS_DOMAIN_MAX], err[256];
	struct users_lookup *l;
	struct users_row row;
	int replaced;

	(void)state;
	assert_int_equal(users_split("bob@Example.COM", user, sizeof(user),
	    domain, sizeof(domain), err, sizeof(err)), 0);
	assert_string_equal(user, "bob");
	assert_string_equal(domain, "example.com");
	assert_int_equal(users_split("a@b@example.com", user, sizeof(user),
	    domain, sizeof(domain), err, sizeof(err)), -1);
	assert_int_equal(users_split("bob", user, sizeof(user), domain,
	    sizeof(domain), err, sizeof(err)), -1);
	assert_int_equal(users_split("@example.com", user, sizeof(user),
	    domain, sizeof(domain), err, sizeof(err)), -1);
	assert_int_equal(users_split("b:b@example.com", user, sizeof(user),
	    domain, sizeof(domain), err, sizeof(err)), -1);
	assert_int_equal(users_split("bob@exa mple.com", user, sizeof(user),
	    domain, sizeof(domain), err, sizeof(err)), -1);
	assert_non_null(l = users_lookup_new(db, err, sizeof(err)));
	assert_int_equal(users_lookup(l, NULL, "example.com", &row), 0);
	assert_false(row.any);
	assert_int_equal(users_set(db, "bob", "example.com", "pw", &replaced,
	    err, sizeof(err)), 0);
	assert_false(replaced);
	assert_int_equal(users_set(db, "bob", "example.com", "pw2", &replaced,
	    err, sizeof(err)), 0);
	assert_true(replaced);
	assert_int_equal(users_set(db, "bob", "example.com", "", &replaced,
	    err, sizeof(err)), -1);
	assert_int_equal(users_set(db, "bob", "example.com", "a\nb",
	    &replaced, err, sizeof(err)), -1);
	assert_int_equal(users_lookup(l, "bob", "example.org", &row), 0);
	assert_true(row.any);
	assert_false(row.found);
	assert_int_equal(users_lookup(l, "bob", "example.com", &row), 0);
	assert_true(row.found);
	{
		char want[DIGEST_HEX_MAX];

		digest_ha1(DIGEST_MD5, "bob", "example.com", "pw2", want);
		assert_string_equal(row.ha1[DIGEST_MD5], want);
		digest_ha1(DIGEST_SHA256, "bob", "example.com", "pw2", want);
		assert_string_equal(row.ha1[DIGEST_SHA256], want);
	}
	users_lookup_free(l);
}

/* ---- through the core, as the router's envelopes arrive ---- */

static struct rb_core *core;
static struct rb_out out;

static int
setup_core(void **state)
{
	char err[256];

	(void)state;
	sip_library_init();
	stats_reset();
	config_defaults(&cfg);
	snprintf(cfg.registrar_db, sizeof(cfg.registrar_db), ":memory:");
	out.send = capture;
	out.arg = NULL;
	core = rb_core_embedded_new(&cfg, &out, NULL, err, sizeof(err));
	if (core == NULL) {
		fail_msg("rb_core_embedded_new: %s", err);
	}
	db = location_sqlite(core_embedded_db(core));
	return (0);
}

static int
teardown_core(void **state)
{
	(void)state;
	core->ops->free(core);
	sent_clear();
	return (0);
}

static void
deliver(const char *text, const char *remote)
{
	struct epsip_msg msg;

	epsip_msg_init(&msg, EPSIP_MSG_SIP_TO_CORE);
	if (remote != NULL) {
		msg.remote = ip(remote);
	}
	msg.payload = (const uint8_t *)text;
	msg.payload_len = strlen(text);
	core->ops->sip(core, &msg, 1000);
}

static int
status_of(size_t i)
{
	int status = 0;

	assert_true(i < nsent);
	assert_int_equal(sscanf(sent[i], "SIP/2.0 %d ", &status), 1);
	return (status);
}

static void
test_core_judges_by_the_envelopes_remote_address(void **state)
{
	char *reg = request_text("REGISTER", "bob", "bob", "", NULL);

	(void)state;
	deliver(reg, "192.0.2.1");
	assert_int_equal(status_of(0), 403);
	assert_non_null(strstr(sent[0], "SIP/2.0 403 Forbidden: add a user "
	    "(epsipctl user add) or set auth = none\r\n"));
	assert_int_equal(stats_get(M_REGISTRAR_REGISTER_REJECTED_403), 1);
	free(reg);
	reg = request_text("REGISTER", "bob", "bob", "", NULL);
	deliver(reg, "127.0.0.1");
	assert_int_equal(status_of(1), 200);
	free(reg);
	/* An envelope that names no address is not loopback. */
	reg = request_text("REGISTER", "bob", "bob", "", NULL);
	deliver(reg, NULL);
	assert_int_equal(status_of(2), 403);
	free(reg);
}

/* Over UDP the 401 is the transaction's: a retransmission gets it again. */
static void
test_core_answers_a_retransmitted_register_with_the_same_401(void **state)
{
	char *reg = request_text("REGISTER", "bob", "bob", "", NULL);

	(void)state;
	add_user("bob", "example.com", "secret");
	deliver(reg, "127.0.0.1");
	deliver(reg, "127.0.0.1");
	assert_int_equal(nsent, 2);
	assert_int_equal(status_of(0), 401);
	assert_string_equal(sent[0], sent[1]);
	assert_non_null(strstr(sent[0], "\r\nWWW-Authenticate: Digest realm="
	    "\"example.com\", nonce=\""));
	assert_int_equal(stats_get(M_AUTH_CHALLENGES), 1);
	assert_int_equal(stats_get(M_REGISTRAR_REGISTER_OK), 0);
	free(reg);
}

/* Replace the first `from` in text (malloc'ed) by `to`. */
static char *
replaced(const char *text, const char *from, const char *to)
{
	const char *at = strstr(text, from);
	char *copy;

	assert_non_null(at);
	assert_true(asprintf(&copy, "%.*s%s%s", (int)(at - text), text, to,
	    at + strlen(from)) > 0);
	return (copy);
}

static void
test_core_challenges_an_invite_with_407_and_absorbs_its_ack(void **state)
{
	char *inv = request_text("INVITE", "bob", "alice", "", NULL);
	char *ack1, *ack, *bye;

	(void)state;
	add_user("bob", "example.com", "secret");
	deliver(inv, "127.0.0.1");
	assert_int_equal(nsent, 1);
	assert_int_equal(status_of(0), 407);
	assert_non_null(strstr(sent[0], "\r\nProxy-Authenticate: Digest "));
	/* Over UDP the 407 is sent again until its ACK (Timer G)... */
	core->ops->tick(core, 1000 + 600);
	assert_int_equal(nsent, 2);
	assert_string_equal(sent[0], sent[1]);
	/* ...which the transaction absorbs: then silence. */
	ack1 = replaced(inv, "INVITE sip:", "ACK sip:");
	ack = replaced(ack1, " INVITE\r\n", " ACK\r\n");
	deliver(ack, "127.0.0.1");
	core->ops->tick(core, 1000 + 5000);
	assert_int_equal(nsent, 2);
	/* In a dialog (To tag): not the policy's to judge. */
	bye = request_text("BYE", "bob", "alice", "", "t1");
	deliver(bye, "127.0.0.1");
	assert_int_equal(nsent, 3);
	assert_int_equal(status_of(2), 404);
	free(inv);
	free(ack1);
	free(ack);
	free(bye);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_protected_without_users_lets_loopback_in_and_forbids_others,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_with_a_user_every_register_is_challenged_sha256_first,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_good_credentials_pass_with_either_algorithm, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_wrong_password_and_unknown_user_get_the_same_answer,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_replayed_nonce_count_gets_stale_and_a_higher_count_passes,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_expired_nonce_gets_stale_true_only_with_the_right_password,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_nonce_not_ours_is_a_plain_challenge, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_credentials_prove_only_their_own_aor, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_invite_is_challenged_with_407_and_proxy_authorization,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_only_out_of_dialog_invite_message_subscribe_and_register_apply,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_digest_mode_challenges_loopback_and_none_asks_nobody,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_auth_algorithms_orders_the_challenges_and_limits_what_passes,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_user_added_or_removed_counts_from_the_next_request,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_unserved_domain_is_judged_in_the_first_domains_realm,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_nonce_from_before_a_restart_is_stale_not_replayable,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_credentials_of_a_request_without_its_bytes_are_read_too,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_malformed_credentials_are_counted_and_challenged,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_replay_table_evicts_the_oldest_and_forgets_under_its_floor,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_replay_table_lets_expired_nonces_go_without_raising_the_floor,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_replay_table_survives_many_evictions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_users_split_and_lookup,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_core_judges_by_the_envelopes_remote_address,
		    setup_core, teardown_core),
		cmocka_unit_test_setup_teardown(
		    test_core_answers_a_retransmitted_register_with_the_same_401,
		    setup_core, teardown_core),
		cmocka_unit_test_setup_teardown(
		    test_core_challenges_an_invite_with_407_and_absorbs_its_ack,
		    setup_core, teardown_core),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
