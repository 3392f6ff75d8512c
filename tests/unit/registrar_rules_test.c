/*
 * registrar_rules_test.c -- the embedded registrar's REGISTER rules
 * (RFC 3261 §10.3, RFC 5626 §6, RFC 3327 §5.3): checklist RG-01..RG-22,
 * RG-27, ER-07, ER-09, EP-18.  Messages are written as text, parsed with
 * sip_parse() and checked field by field (libosip2 reorders headers).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "epsip/config.h"
#include "epsip/sip_util.h"
#include "epsip/stats.h"

#include "../../services/registrar-bridge/embedded/location.h"
#include "../../services/registrar-bridge/rb_sip.h"
#include "../../services/registrar-bridge/embedded/registrar.h"

#define NOW		1700000000
#define AOR		"sip:bob@example.com"
#define UUID_LC		"f81d4fae-7dec-11d0-a765-00a0c91e6bf6"
#define UUID_UC		"F81D4FAE-7DEC-11D0-A765-00A0C91E6BF6"
#define SUP_OB	"Supported: path, outbound\r\n"
#define PATH_T1		"Path: <sip:TOKEN1@edge.example.net:5060;lr;ob>\r\n"
#define PATH_T2		"Path: <sip:TOKEN2@edge.example.net:5060;lr;ob>\r\n"
#define PATH_NO_OB	"Path: <sip:TOKEN1@edge.example.net:5060;lr>\r\n"
#define CONTACT_OB(uri, regid) \
	"Contact: <" uri ">;reg-id=" regid \
	";+sip.instance=\"<urn:uuid:" UUID_LC ">\"\r\n"
#define UA_URI		"sip:bob@192.0.2.2:50600;transport=tcp"
#define UA_URI2		"sip:bob@192.0.2.2:50601;transport=tcp"

static struct epsip_config cfg;
static struct location_db *db;
static char db_path[64];

static int
setup(void **state)
{
	char err[256];

	(void)state;
	sip_library_init();
	stats_reset();
	config_defaults(&cfg);
	cfg.min_expires = 60;
	cfg.default_expires = 3600;
	cfg.max_expires = 7200;
	cfg.flow_timer = 120;
	cfg.domain_count = 1;
	snprintf(cfg.domain[0], sizeof(cfg.domain[0]), "example.com");
	assert_int_equal(location_open(&db, ":memory:", REGISTRAR_SYNC_OFF, err,
	    sizeof(err)), 0);
	return (0);
}

static int
teardown(void **state)
{
	(void)state;
	location_close(db);
	db = NULL;
	if (db_path[0] != '\0') {
		char side[80];

		unlink(db_path);
		snprintf(side, sizeof(side), "%s-wal", db_path);
		unlink(side);
		snprintf(side, sizeof(side), "%s-shm", db_path);
		unlink(side);
		db_path[0] = '\0';
	}
	return (0);
}

/*
 * A REGISTER as the registrar-bridge gets it from the sip-router: the
 * router's Via on top, the phone's (with received/rport) below it.
 */
static osip_message_t *
make_register(const char *to, const char *call_id, int cseq,
    const char *headers)
{
	char buf[4096];
	osip_message_t *msg;
	static int n;

	n++;
	snprintf(buf, sizeof(buf),
	    "REGISTER sip:example.com SIP/2.0\r\n"
	    "Via: SIP/2.0/TCP edge.example.net;branch=z9hG4bKr%d\r\n"
	    "Via: SIP/2.0/TCP 192.0.2.2:50600;branch=z9hG4bKua%d"
	    ";received=192.0.2.2;rport=50600\r\n"
	    "From: <%s>;tag=ft%d\r\n"
	    "To: <%s>\r\n"
	    "Call-ID: %s\r\n"
	    "CSeq: %d REGISTER\r\n"
	    "Max-Forwards: 69\r\n"
	    "%s"
	    "Content-Length: 0\r\n\r\n", n, n, to, n, to, call_id, cseq,
	    headers);
	assert_int_equal(sip_parse(buf, strlen(buf), &msg), 0);
	return (msg);
}

/* registrar_register() with its answer parsed back, as a phone would. */
static int
register_parsed(osip_message_t *req, int64_t now, osip_message_t **resp)
{
	struct registrar_answer ans;
	int rv;

	*resp = NULL;
	if ((rv = registrar_register(&cfg, db, req, now, &ans)) != 0) {
		return (rv);
	}
	assert_int_equal(sip_parse(ans.wire, ans.len, resp), 0);
	registrar_answer_clear(&ans);
	return (0);
}

/* Run one REGISTER for bob at time `now`; returns the response. */
static osip_message_t *
do_register_at(const char *call_id, int cseq, const char *headers,
    int64_t now)
{
	osip_message_t *req, *resp = NULL;

	req = make_register("sip:bob@example.com", call_id, cseq, headers);
	assert_int_equal(register_parsed(req, now, &resp), 0);
	assert_non_null(resp);
	osip_message_free(req);
	return (resp);
}

static osip_message_t *
do_register(const char *call_id, int cseq, const char *headers)
{
	return (do_register_at(call_id, cseq, headers, NOW));
}

/* Register and expect `status`; frees the response. */
static void
expect_status(const char *call_id, int cseq, const char *headers,
    int status)
{
	osip_message_t *resp = do_register(call_id, cseq, headers);

	if (resp->status_code != status) {
		fail_msg("got %d %s, want %d", resp->status_code,
		    resp->reason_phrase, status);
	}
	osip_message_free(resp);
}

static int
has_require_outbound(const osip_message_t *resp)
{
	return (sip_header_has_token(resp, "Require", "outbound"));
}

/* The live binding with this key, or fail. */
static void
find_binding(const char *aor, uint32_t reg_id, const char *uri,
    struct location_binding *b)
{
	const char *instance = reg_id > 0 ? "urn:uuid:" UUID_LC : "";

	if (location_find(db, aor, instance, reg_id, uri, NOW, b) != 1) {
		fail_msg("no binding %s reg-id %u %s", aor, reg_id,
		    uri != NULL ? uri : "");
	}
}

static size_t
binding_count(const char *aor, int64_t now)
{
	struct location_list list;
	size_t n;

	assert_int_equal(location_list_aor(db, aor, now, &list), 0);
	n = list.count;
	location_list_clear(&list);
	return (n);
}

/* RG-01, RG-03, RG-07, RG-10, EP-18: the whole outbound happy path. */
static void
test_register_with_ob_path_and_reg_id_gets_require_outbound_and_flow_timer(
    void **state)
{
	osip_message_t *resp;
	osip_contact_t *c;
	struct location_binding b;

	(void)state;
	resp = do_register("c1", 1, SUP_OB PATH_T1
	    "Path: <sip:p2.example.net;lr>\r\n" CONTACT_OB(UA_URI, "1"));
	assert_int_equal(resp->status_code, 200);
	assert_true(has_require_outbound(resp));
	assert_string_equal(sip_header_value(resp, "Flow-Timer", 0), "120");
	/* RG-01: the Path vector, in order. */
	assert_int_equal(sip_header_count(resp, "Path"), 2);
	assert_non_null(strstr(sip_header_value(resp, "Path", 0), "TOKEN1"));
	assert_non_null(strstr(sip_header_value(resp, "Path", 1), "p2."));
	/* RG-22: the binding listed with its expiry. */
	assert_int_equal(osip_list_size(&resp->contacts), 1);
	c = osip_list_get(&resp->contacts, 0);
	assert_string_equal(sip_generic_param(&c->gen_params, "expires"),
	    "3600");
	assert_string_equal(sip_generic_param(&c->gen_params, "reg-id"), "1");
	/* RG-17: never a Record-Route in a REGISTER response. */
	assert_int_equal(osip_list_size(&resp->record_routes), 0);
	osip_message_free(resp);

	find_binding(AOR, 1, NULL, &b);
	assert_string_equal(b.contact_uri, UA_URI);
	assert_string_equal(b.flow_token, "TOKEN1");
	assert_int_equal(b.path_count, 2);
	assert_int_equal(b.expires_at, NOW + 3600);
	location_binding_clear(&b);
	assert_int_equal(stats_get(M_REGISTRAR_REGISTER_OK), 1);
	assert_int_equal(stats_get(M_REGISTRATIONS_ACTIVE), 1);
}

/* ER-09: ob=true counts as ob. */
static void
test_register_with_ob_true_path_applies_outbound(void **state)
{
	osip_message_t *resp;

	(void)state;
	resp = do_register("c1", 1, SUP_OB
	    "Path: <sip:TOKEN1@edge.example.net;lr;ob=true>\r\n"
	    CONTACT_OB(UA_URI, "1"));
	assert_int_equal(resp->status_code, 200);
	assert_true(has_require_outbound(resp));
	osip_message_free(resp);
}

/* RG-05: reg-id without +sip.instance is ignored: a plain binding. */
static void
test_register_reg_id_without_instance_ignores_reg_id(void **state)
{
	osip_message_t *resp;
	struct location_binding b;

	(void)state;
	resp = do_register("c1", 1, SUP_OB PATH_T1
	    "Contact: <" UA_URI ">;reg-id=1\r\n");
	assert_int_equal(resp->status_code, 200);
	assert_false(has_require_outbound(resp));
	assert_null(sip_header_value(resp, "Flow-Timer", 0));
	osip_message_free(resp);
	find_binding(AOR, 0, UA_URI, &b);
	assert_int_equal(b.reg_id, 0);
	location_binding_clear(&b);
}

/* RG-03, RG-04: not first hop, no ob, Supported: outbound -> 439. */
static void
test_register_not_first_hop_without_ob_and_supported_outbound_gets_439(
    void **state)
{
	(void)state;
	expect_status("c1", 1, SUP_OB PATH_NO_OB CONTACT_OB(UA_URI, "1"),
	    439);
	assert_int_equal(stats_get(M_REGISTRAR_REGISTER_REJECTED_439), 1);
	assert_int_equal(binding_count(AOR, NOW), 0);
}

/* RG-04: without the outbound option tag the reg-id is just ignored. */
static void
test_register_without_ob_and_without_supported_outbound_ignores_reg_id(
    void **state)
{
	osip_message_t *resp;
	struct location_binding b;

	(void)state;
	resp = do_register("c1", 1, "Supported: path\r\n" PATH_NO_OB
	    CONTACT_OB(UA_URI, "1"));
	assert_int_equal(resp->status_code, 200);
	assert_false(has_require_outbound(resp));
	osip_message_free(resp);
	find_binding(AOR, 0, UA_URI, &b);
	location_binding_clear(&b);
}

/* RG-10, EP-18: outbound binding, but no Require without the tag. */
static void
test_register_outbound_without_supported_outbound_has_no_require(
    void **state)
{
	osip_message_t *resp;
	struct location_binding b;

	(void)state;
	resp = do_register("c1", 1, PATH_T1 CONTACT_OB(UA_URI, "1"));
	assert_int_equal(resp->status_code, 200);
	assert_false(has_require_outbound(resp));
	assert_null(sip_header_value(resp, "Flow-Timer", 0));
	osip_message_free(resp);
	find_binding(AOR, 1, NULL, &b);		/* still keyed by reg-id */
	location_binding_clear(&b);
}

/* RG-06: two live contacts, one with reg-id -> 400 for the request. */
static void
test_two_contacts_one_with_reg_id_gets_400(void **state)
{
	(void)state;
	expect_status("c1", 1, SUP_OB PATH_T1 CONTACT_OB(UA_URI, "1")
	    "Contact: <" UA_URI2 ">\r\n", 400);
	assert_int_equal(binding_count(AOR, NOW), 0);
}

/* RG-06: a zero-expiry contact alongside is fine. */
static void
test_reg_id_contact_with_a_removed_contact_is_accepted(void **state)
{
	(void)state;
	expect_status("c1", 1, SUP_OB PATH_T1 CONTACT_OB(UA_URI, "1")
	    "Contact: <" UA_URI2 ">;expires=0\r\n", 200);
	assert_int_equal(binding_count(AOR, NOW), 1);
}

/* The same contact twice in one REGISTER: one binding, no CSeq error. */
static void
test_repeated_contact_in_one_request_is_one_binding(void **state)
{
	(void)state;
	expect_status("X", 1, "Contact: <" UA_URI ">, <" UA_URI
	    ">;expires=120\r\n", 200);
	assert_int_equal(binding_count(AOR, NOW), 1);
}

/* RG-20: Contact: * needs Expires: 0 and no other contact. */
static void
test_star_contact_with_nonzero_expires_gets_400(void **state)
{
	(void)state;
	expect_status("c1", 1, "Contact: *\r\nExpires: 3600\r\n", 400);
	expect_status("c1", 2, "Contact: *\r\n", 400);
	expect_status("c1", 3, "Contact: *\r\nContact: <" UA_URI ">\r\n"
	    "Expires: 0\r\n", 400);
}

/* RG-20: Contact: * removes every binding, outbound ones included. */
static void
test_star_contact_removes_all_bindings(void **state)
{
	osip_message_t *resp;

	(void)state;
	expect_status("c1", 1, SUP_OB PATH_T1 CONTACT_OB(UA_URI, "1"),
	    200);
	expect_status("c2", 1, "Contact: <" UA_URI2 ">\r\n", 200);
	assert_int_equal(binding_count(AOR, NOW), 2);
	resp = do_register("c3", 1, "Contact: *\r\nExpires: 0\r\n");
	assert_int_equal(resp->status_code, 200);
	assert_int_equal(osip_list_size(&resp->contacts), 0);
	osip_message_free(resp);
	assert_int_equal(binding_count(AOR, NOW), 0);
	assert_int_equal(stats_get(M_REGISTRATIONS_ACTIVE), 0);
}

/* RG-21: 0 < expiry < min -> 423 with Min-Expires. */
static void
test_short_expires_gets_423_with_min_expires(void **state)
{
	osip_message_t *resp;

	(void)state;
	resp = do_register("c1", 1, "Contact: <" UA_URI ">;expires=5\r\n");
	assert_int_equal(resp->status_code, 423);
	assert_string_equal(sip_header_value(resp, "Min-Expires", 0), "60");
	osip_message_free(resp);
	/* The Expires header counts when the contact has no param. */
	expect_status("c1", 2, "Contact: <" UA_URI ">\r\nExpires: 30\r\n",
	    423);
	assert_int_equal(binding_count(AOR, NOW), 0);
}

/* RG-21: MAY shorten: clamped to max_expires. */
static void
test_long_expires_is_clamped_to_max(void **state)
{
	osip_message_t *resp;
	osip_contact_t *c;

	(void)state;
	resp = do_register("c1", 1, "Contact: <" UA_URI ">\r\n"
	    "Expires: 999999\r\n");
	assert_int_equal(resp->status_code, 200);
	c = osip_list_get(&resp->contacts, 0);
	assert_string_equal(sip_generic_param(&c->gen_params, "expires"),
	    "7200");
	osip_message_free(resp);
}

/* RG-12: X/5, Y/7 -> one binding; Y/6 -> error, binding unchanged. */
static void
test_same_call_id_lower_cseq_leaves_binding(void **state)
{
	struct location_binding b;

	(void)state;
	expect_status("X", 5, SUP_OB PATH_T1 CONTACT_OB(UA_URI, "1"), 200);
	expect_status("Y", 7, SUP_OB PATH_T1 CONTACT_OB(UA_URI, "1"), 200);
	assert_int_equal(binding_count(AOR, NOW), 1);
	expect_status("Y", 6, SUP_OB PATH_T2 CONTACT_OB(UA_URI2, "1"),
	    400);
	expect_status("Y", 7, SUP_OB PATH_T2 CONTACT_OB(UA_URI2, "1"),
	    400);
	find_binding(AOR, 1, NULL, &b);
	assert_string_equal(b.call_id, "Y");
	assert_int_equal(b.cseq, 7);
	assert_string_equal(b.contact_uri, UA_URI);
	assert_string_equal(b.flow_token, "TOKEN1");
	location_binding_clear(&b);
}

/* RG-12, RG-09: a reboot (new Call-ID) replaces, URI included. */
static void
test_new_call_id_replaces_binding(void **state)
{
	struct location_binding b;

	(void)state;
	expect_status("X", 5, SUP_OB PATH_T1 CONTACT_OB(UA_URI, "1"), 200);
	expect_status("Z", 1, SUP_OB PATH_T2 CONTACT_OB(UA_URI2, "1"),
	    200);
	assert_int_equal(binding_count(AOR, NOW), 1);
	find_binding(AOR, 1, NULL, &b);
	assert_string_equal(b.call_id, "Z");
	assert_string_equal(b.contact_uri, UA_URI2);
	location_binding_clear(&b);
}

/* RG-11: re-registration over another flow replaces Path and token. */
static void
test_reregistration_replaces_path_and_token(void **state)
{
	struct location_binding b;

	(void)state;
	expect_status("X", 1, SUP_OB PATH_T1 CONTACT_OB(UA_URI, "1"), 200);
	expect_status("X", 2, SUP_OB PATH_T2 CONTACT_OB(UA_URI, "1"), 200);
	find_binding(AOR, 1, NULL, &b);
	assert_string_equal(b.flow_token, "TOKEN2");
	assert_int_equal(b.path_count, 1);
	assert_non_null(strstr(b.path[0], "TOKEN2"));
	location_binding_clear(&b);
}

/* RG-13: upper- and lower-case UUIDs are the same instance. */
static void
test_urn_uuid_compared_case_insensitively(void **state)
{
	char norm[128];

	(void)state;
	expect_status("X", 1, SUP_OB PATH_T1 "Contact: <" UA_URI
	    ">;reg-id=1;+sip.instance=\"<URN:UUID:" UUID_UC ">\"\r\n", 200);
	expect_status("X", 2, SUP_OB PATH_T2 CONTACT_OB(UA_URI2, "1"),
	    200);
	assert_int_equal(binding_count(AOR, NOW), 1);
	assert_int_equal(registrar_instance_normalise("\"<URN:UUID:" UUID_UC
	    ">\"", norm, sizeof(norm)), 0);
	assert_string_equal(norm, "urn:uuid:" UUID_LC);
	/* Other URNs: only scheme and NID fold. */
	assert_int_equal(registrar_instance_normalise("\"<URN:Foo:Bar%2F>\"",
	    norm, sizeof(norm)), 0);
	assert_string_equal(norm, "urn:foo:Bar%2f");
}

/* RG-14: Expires 0 on (instance, reg-id) removes only that flow. */
static void
test_deregister_one_reg_id_keeps_the_other(void **state)
{
	struct location_binding b;

	(void)state;
	expect_status("X", 1, SUP_OB PATH_T1 CONTACT_OB(UA_URI, "1"), 200);
	expect_status("W", 1, SUP_OB PATH_T2 CONTACT_OB(UA_URI2, "2"),
	    200);
	assert_int_equal(binding_count(AOR, NOW), 2);
	expect_status("X", 2, SUP_OB PATH_T1 "Contact: <" UA_URI
	    ">;reg-id=1;+sip.instance=\"<urn:uuid:" UUID_LC ">\";expires=0"
	    "\r\n", 200);
	assert_int_equal(binding_count(AOR, NOW), 1);
	find_binding(AOR, 2, NULL, &b);
	assert_string_equal(b.flow_token, "TOKEN2");
	location_binding_clear(&b);
}

/* RG-15: the same instance under another AOR is another binding. */
static void
test_instance_is_scoped_to_the_aor(void **state)
{
	osip_message_t *req, *resp;

	(void)state;
	expect_status("X", 1, SUP_OB PATH_T1 CONTACT_OB(UA_URI, "1"), 200);
	req = make_register("sip:alice@example.com", "A", 1, SUP_OB PATH_T2
	    CONTACT_OB(UA_URI2, "1"));
	assert_int_equal(register_parsed(req, NOW, &resp), 0);
	assert_int_equal(resp->status_code, 200);
	osip_message_free(req);
	osip_message_free(resp);
	assert_int_equal(binding_count(AOR, NOW), 1);
	assert_int_equal(binding_count("sip:alice@example.com", NOW), 1);
}

/* RG-08: outbound and plain bindings of one AOR side by side. */
static void
test_plain_and_outbound_bindings_coexist(void **state)
{
	osip_message_t *resp;

	(void)state;
	expect_status("X", 1, SUP_OB PATH_T1 CONTACT_OB(UA_URI, "1"), 200);
	resp = do_register("P", 1, "Contact: <" UA_URI2 ">\r\n");
	assert_int_equal(resp->status_code, 200);
	assert_int_equal(osip_list_size(&resp->contacts), 2);
	assert_false(has_require_outbound(resp));
	osip_message_free(resp);
}

/* RG-18: unknown Require tags -> 420 listing them; ours are known. */
static void
test_unknown_require_gets_420(void **state)
{
	osip_message_t *resp;

	(void)state;
	resp = do_register("X", 1, "Require: foo, path\r\nRequire: bar\r\n"
	    "Contact: <" UA_URI ">\r\n");
	assert_int_equal(resp->status_code, 420);
	assert_true(sip_header_has_token(resp, "Unsupported", "foo"));
	assert_true(sip_header_has_token(resp, "Unsupported", "bar"));
	assert_false(sip_header_has_token(resp, "Unsupported", "path"));
	osip_message_free(resp);
	expect_status("X", 2, "Require: path, outbound\r\n" SUP_OB PATH_T1
	    CONTACT_OB(UA_URI, "1"), 200);
}

/* RG-22: no Contact is a query listing every binding with expires. */
static void
test_query_lists_bindings(void **state)
{
	osip_message_t *resp;
	osip_contact_t *c;
	int i;

	(void)state;
	expect_status("X", 1, "Contact: <" UA_URI ">;expires=600\r\n", 200);
	expect_status("Y", 1, "Contact: <" UA_URI2 ">;q=0.5\r\n", 200);
	resp = do_register_at("Q", 1, "", NOW + 100);
	assert_int_equal(resp->status_code, 200);
	assert_int_equal(osip_list_size(&resp->contacts), 2);
	for (i = 0; i < 2; i++) {
		const char *e;

		c = osip_list_get(&resp->contacts, i);
		e = sip_generic_param(&c->gen_params, "expires");
		assert_non_null(e);
		assert_true(strcmp(e, "500") == 0 || strcmp(e, "3500") == 0);
	}
	osip_message_free(resp);
}

/* Expired bindings are invisible, then purged. */
static void
test_expired_bindings_are_not_listed(void **state)
{
	(void)state;
	expect_status("X", 1, "Contact: <" UA_URI ">;expires=60\r\n", 200);
	assert_int_equal(binding_count(AOR, NOW + 59), 1);
	assert_int_equal(binding_count(AOR, NOW + 60), 0);
	registrar_purge(db, NOW + 61);
	assert_int_equal(location_count(db, 0), 0);
}

/* RG-19: AOR from To, canonical; a foreign domain is 404. */
static void
test_foreign_domain_gets_404_and_aor_is_canonical(void **state)
{
	osip_message_t *req, *resp;

	(void)state;
	req = make_register("sip:bob@example.org", "X", 1,
	    "Contact: <" UA_URI ">\r\n");
	assert_int_equal(register_parsed(req, NOW, &resp), 0);
	assert_int_equal(resp->status_code, 404);
	osip_message_free(req);
	osip_message_free(resp);
	req = make_register("sip:bob@EXAMPLE.COM:5060;user=phone", "X", 2,
	    "Contact: <" UA_URI ">\r\n");
	assert_int_equal(register_parsed(req, NOW, &resp), 0);
	assert_int_equal(resp->status_code, 200);
	osip_message_free(req);
	osip_message_free(resp);
	assert_int_equal(binding_count(AOR, NOW), 1);
}

/* ER-07: malformed outbound parameters are a 400, not a binding. */
static void
test_bad_reg_id_or_instance_gets_400(void **state)
{
	(void)state;
	expect_status("X", 1, SUP_OB PATH_T1 CONTACT_OB(UA_URI, "0"), 400);
	expect_status("X", 2, SUP_OB PATH_T1 CONTACT_OB(UA_URI,
	    "2147483648"), 400);
	expect_status("X", 3, SUP_OB PATH_T1 CONTACT_OB(UA_URI, "x1"), 400);
	expect_status("X", 4, SUP_OB PATH_T1 "Contact: <" UA_URI
	    ">;reg-id=1;+sip.instance=urn:uuid:" UUID_LC "\r\n", 400);
	expect_status("X", 5, SUP_OB PATH_T1 "Contact: <" UA_URI
	    ">;reg-id=1;reg-id=2;+sip.instance=\"<urn:uuid:" UUID_LC ">\"\r\n",
	    400);
	assert_int_equal(binding_count(AOR, NOW), 0);
	expect_status("X", 6, SUP_OB PATH_T1 CONTACT_OB(UA_URI,
	    "2147483647"), 200);
}

/* RG-17: Record-Route in a REGISTER is ignored. */
static void
test_record_route_in_register_is_ignored(void **state)
{
	osip_message_t *resp;

	(void)state;
	resp = do_register("X", 1, "Record-Route: <sip:rr.example.net;lr>\r\n"
	    "Contact: <" UA_URI ">\r\n");
	assert_int_equal(resp->status_code, 200);
	assert_int_equal(osip_list_size(&resp->record_routes), 0);
	osip_message_free(resp);
}

/* RG-27: a dead flow takes its bindings with it, across AORs. */
static void
test_flow_closed_drops_bindings_with_that_token(void **state)
{
	osip_message_t *req, *resp;

	(void)state;
	expect_status("X", 1, SUP_OB PATH_T1 CONTACT_OB(UA_URI, "1"), 200);
	expect_status("Y", 1, PATH_T1 "Contact: <" UA_URI2 ">\r\n", 200);
	req = make_register("sip:alice@example.com", "A", 1, SUP_OB PATH_T1
	    CONTACT_OB(UA_URI, "1"));
	assert_int_equal(register_parsed(req, NOW, &resp), 0);
	osip_message_free(req);
	osip_message_free(resp);
	req = make_register("sip:carol@example.com", "C", 1, SUP_OB PATH_T2
	    CONTACT_OB(UA_URI, "1"));
	assert_int_equal(register_parsed(req, NOW, &resp), 0);
	osip_message_free(req);
	osip_message_free(resp);
	assert_int_equal(stats_get(M_REGISTRATIONS_ACTIVE), 4);

	assert_int_equal(registrar_flow_closed(db, "TOKEN1", NOW), 3);
	assert_int_equal(binding_count(AOR, NOW), 0);
	assert_int_equal(binding_count("sip:alice@example.com", NOW), 0);
	assert_int_equal(binding_count("sip:carol@example.com", NOW), 1);
	assert_int_equal(stats_get(M_BINDINGS_DROPPED_FLOW_CLOSED), 3);
	assert_int_equal(stats_get(M_REGISTRATIONS_ACTIVE), 1);
	assert_int_equal(registrar_flow_closed(db, "TOKEN1", NOW), 0);
}

/* A fresh database file at db_path, open at `sync`. */
static void
open_file_db(enum registrar_sync sync)
{
	char err[256];
	int fd;

	location_close(db);
	snprintf(db_path, sizeof(db_path), "/tmp/registrar-test-XXXXXX");
	assert_true((fd = mkstemp(db_path)) >= 0);
	close(fd);
	assert_int_equal(location_open(&db, db_path, sync, err, sizeof(err)),
	    0);
}

/*
 * Bindings live in the database file, not in the process, at every
 * registrar-sync level: the bridge closing (or crashing) loses none.
 */
static void
bindings_survive_reopening(enum registrar_sync sync)
{
	struct location_binding b;
	char err[256];

	open_file_db(sync);
	expect_status("X", 1, SUP_OB PATH_T1 CONTACT_OB(UA_URI, "1"), 200);
	location_close(db);
	assert_int_equal(location_open(&db, db_path, sync, err, sizeof(err)),
	    0);
	find_binding(AOR, 1, NULL, &b);
	assert_string_equal(b.flow_token, "TOKEN1");
	assert_string_equal(b.path[0],
	    "<sip:TOKEN1@edge.example.net:5060;lr;ob>");
	location_binding_clear(&b);
	/* And the CSeq rule still holds across the restart (RG-12). */
	expect_status("X", 1, SUP_OB PATH_T1 CONTACT_OB(UA_URI, "1"), 400);
}

static void
test_bindings_survive_reopening_the_database(void **state)
{
	(void)state;
	bindings_survive_reopening(REGISTRAR_SYNC_OFF);
}

static void
test_bindings_survive_reopening_the_database_synced_normal(void **state)
{
	(void)state;
	bindings_survive_reopening(REGISTRAR_SYNC_NORMAL);
}

/*
 * What an OS crash may leave of an unsynced file: the registrar moves it
 * aside, starts empty and takes REGISTERs again.
 */
static void
test_a_corrupt_database_is_moved_aside_and_the_registrar_starts_empty(
    void **state)
{
	char aside[128], err[256], junk[8192];
	FILE *f;
	glob_t g;

	(void)state;
	open_file_db(REGISTRAR_SYNC_OFF);
	expect_status("X", 1, SUP_OB PATH_T1 CONTACT_OB(UA_URI, "1"), 200);
	location_close(db);
	db = NULL;
	memset(junk, 'x', sizeof(junk));
	assert_non_null(f = fopen(db_path, "r+"));
	assert_int_equal(fwrite(junk, 1, sizeof(junk), f), sizeof(junk));
	fclose(f);

	assert_int_equal(location_open(&db, db_path, REGISTRAR_SYNC_OFF, err,
	    sizeof(err)), 0);
	assert_int_equal(stats_get(M_REGISTRAR_DB_CORRUPT), 1);
	assert_int_equal(binding_count(AOR, NOW), 0);
	expect_status("X", 1, SUP_OB PATH_T1 CONTACT_OB(UA_URI, "1"), 200);
	assert_int_equal(binding_count(AOR, NOW), 1);

	snprintf(aside, sizeof(aside), "%s.corrupt-*", db_path);
	assert_int_equal(glob(aside, 0, NULL, &g), 0);
	assert_true(g.gl_pathc >= 1);
	for (size_t i = 0; i < g.gl_pathc; i++) {
		unlink(g.gl_pathv[i]);
	}
	globfree(&g);
}

/* The Path vector's JSON form round-trips odd characters. */
static void
test_path_json_round_trips(void **state)
{
	char *in[] = { "<sip:a\"b@x;lr>", "<sip:\\c@y;lr;ob>" };
	char **out, *json;
	size_t n;

	(void)state;
	json = location_path_to_json(in, 2);
	assert_non_null(json);
	assert_int_equal(location_path_from_json(json, &out, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(out[0], in[0]);
	assert_string_equal(out[1], in[1]);
	free(out[0]);
	free(out[1]);
	free(out);
	free(json);
}

/*
 * The per-REGISTER path runs prepared statements only: registering,
 * refreshing, re-registering with another reg-id, a plain binding and
 * removals never make SQLite parse SQL again (issue 7 §3).
 */
static void
test_registers_never_make_sqlite_parse_a_statement_again(void **state)
{
	(void)state;
	expect_status("X", 1, SUP_OB PATH_T1 CONTACT_OB(UA_URI, "1"), 200);
	expect_status("X", 2, SUP_OB PATH_T1 CONTACT_OB(UA_URI, "1"), 200);
	expect_status("X", 3, SUP_OB PATH_T2 CONTACT_OB(UA_URI, "2"), 200);
	expect_status("Y", 1, PATH_T1 "Contact: <" UA_URI2 ">\r\n", 200);
	expect_status("X", 4, SUP_OB PATH_T1 "Expires: 0\r\n"
	    CONTACT_OB(UA_URI, "1"), 200);
	expect_status("Y", 2, "Expires: 0\r\nContact: <" UA_URI2 ">\r\n",
	    200);
	assert_int_equal(registrar_flow_closed(db, "TOKEN2", NOW), 1);
	registrar_purge(db, NOW + 1);
	assert_int_equal(location_reprepares(db), 0);
}

/*
 * SP-17, issue 7 §2: the 200 copies the request's Via, From, To, Call-ID
 * and CSeq lines as written (compact forms, name case, parameter order),
 * adds a To tag, and spells its own headers as the RFCs do.
 */
static void
test_register_ok_copies_request_lines_byte_for_byte(void **state)
{
	static const char req_text[] =
	    "REGISTER sip:example.com SIP/2.0\r\n"
	    "v: SIP/2.0/TCP edge.example.net;branch=z9hG4bKedge1\r\n"
	    "VIA: SIP/2.0/TCP 192.0.2.2:50600;rport=50600;branch=z9hG4bKua1"
	    ";received=192.0.2.2\r\n"
	    "f: \"Bob\" <sip:bob@example.com>;tag=Ab1\r\n"
	    "t: <sip:bob@example.com>\r\n"
	    "i: bytes-1@192.0.2.2\r\n"
	    "cseq: 7 REGISTER\r\n"
	    "Max-Forwards: 69\r\n"
	    SUP_OB PATH_T1 CONTACT_OB(UA_URI, "1")
	    "X-Keep: Me\r\n"
	    "Content-Length: 0\r\n\r\n";
	struct registrar_answer ans;
	osip_message_t *req;
	char *text;

	(void)state;
	assert_int_equal(rb_parse(req_text, strlen(req_text), &req), 0);
	assert_int_equal(registrar_register(&cfg, db, req, NOW, &ans), 0);
	assert_int_equal(ans.status, 200);
	assert_non_null(text = strndup(ans.wire, ans.len));
	assert_non_null(strstr(text, "SIP/2.0 200 OK\r\n"
	    "v: SIP/2.0/TCP edge.example.net;branch=z9hG4bKedge1\r\n"
	    "VIA: SIP/2.0/TCP 192.0.2.2:50600;rport=50600;branch=z9hG4bKua1"
	    ";received=192.0.2.2\r\n"
	    "f: \"Bob\" <sip:bob@example.com>;tag=Ab1\r\n"
	    "t: <sip:bob@example.com>;tag="));
	assert_non_null(strstr(text, "\r\ni: bytes-1@192.0.2.2\r\n"
	    "cseq: 7 REGISTER\r\n"));
	assert_non_null(strstr(text, "\r\nPath: <sip:TOKEN1@edge.example.net"
	    ":5060;lr;ob>\r\n"));
	assert_non_null(strstr(text, "\r\nRequire: outbound\r\n"
	    "Flow-Timer: "));
	assert_non_null(strstr(text, ";expires=3600\r\n"));
	assert_null(strstr(text, "X-Keep"));
	assert_non_null(strstr(text, "Content-Length: 0\r\n\r\n"));
	free(text);
	registrar_answer_clear(&ans);
	osip_message_free(req);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_register_with_ob_path_and_reg_id_gets_require_outbound_and_flow_timer),
		T(test_register_ok_copies_request_lines_byte_for_byte),
		T(test_register_with_ob_true_path_applies_outbound),
		T(test_register_reg_id_without_instance_ignores_reg_id),
		T(test_register_not_first_hop_without_ob_and_supported_outbound_gets_439),
		T(test_register_without_ob_and_without_supported_outbound_ignores_reg_id),
		T(test_register_outbound_without_supported_outbound_has_no_require),
		T(test_two_contacts_one_with_reg_id_gets_400),
		T(test_reg_id_contact_with_a_removed_contact_is_accepted),
		T(test_repeated_contact_in_one_request_is_one_binding),
		T(test_star_contact_with_nonzero_expires_gets_400),
		T(test_star_contact_removes_all_bindings),
		T(test_short_expires_gets_423_with_min_expires),
		T(test_long_expires_is_clamped_to_max),
		T(test_same_call_id_lower_cseq_leaves_binding),
		T(test_new_call_id_replaces_binding),
		T(test_reregistration_replaces_path_and_token),
		T(test_urn_uuid_compared_case_insensitively),
		T(test_deregister_one_reg_id_keeps_the_other),
		T(test_instance_is_scoped_to_the_aor),
		T(test_plain_and_outbound_bindings_coexist),
		T(test_unknown_require_gets_420),
		T(test_query_lists_bindings),
		T(test_expired_bindings_are_not_listed),
		T(test_foreign_domain_gets_404_and_aor_is_canonical),
		T(test_bad_reg_id_or_instance_gets_400),
		T(test_record_route_in_register_is_ignored),
		T(test_flow_closed_drops_bindings_with_that_token),
		T(test_bindings_survive_reopening_the_database),
		T(test_bindings_survive_reopening_the_database_synced_normal),
		T(test_a_corrupt_database_is_moved_aside_and_the_registrar_starts_empty),
		T(test_path_json_round_trips),
		T(test_registers_never_make_sqlite_parse_a_statement_again),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
