/*
 * router_fixture.h -- unit-test support for the sip-router: a router on a
 * fresh key, two phone flows and the core as origins, and small readers
 * of what it produced.  Header-only, so each test binary stays one .c file.
 * A test file sets up with router_fixture_setup(), optionally passing
 * extra config keys (upstream mode), or router_fixture_setup_embedded(),
 * and tears down with router_fixture_teardown().
 */
#ifndef EPSIP_TEST_ROUTER_FIXTURE_H
#define EPSIP_TEST_ROUTER_FIXTURE_H

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "epsip/config.h"
#include "epsip/ipc.h"
#include "epsip/sip_util.h"
#include "../../services/sip-router/router.h"

static struct epsip_config cfg;
static struct router router;
static struct router_origin flow_a, flow_b, core;
static char key_path[64];

static inline void
make_flow(struct router_origin *o, uint32_t child, const char *remote,
    uint8_t transport)
{
	memset(o, 0, sizeof(*o));
	o->source = ROUTER_FROM_FLOW;
	o->flow.flow.instance = 1;
	o->flow.flow.child = child;
	o->flow.flow.slot = 0;
	o->flow.flow.generation = 1000 + child;
	o->flow.transport = transport;
	config_parse_addr("192.0.2.1:5060", 5060, &o->flow.local);
	config_parse_addr(remote, 5060, &o->flow.remote);
}

/* `keys`: NULL, or "key", "value", ... NULL applied after the defaults. */
static inline int
router_fixture_setup(const char *const *keys)
{
	char err[256];
	struct flow_token_key k;

	snprintf(key_path, sizeof(key_path), "/tmp/epsip-rt-key-%d",
	    (int)getpid());
	unlink(key_path);
	if (flow_token_key_load_or_create(key_path, &k, err, sizeof(err))) {
		return (-1);
	}
	config_defaults(&cfg);
	config_set(&cfg, "listen", "192.0.2.1:5060", err, sizeof(err));
	cfg.listen_count = 1;
	config_parse_addr("192.0.2.1:5060", 5060, &cfg.listen[0]);
	snprintf(cfg.key_file, sizeof(cfg.key_file), "%s", key_path);
	config_set(&cfg, "alias", "edge.example.com", err, sizeof(err));
	for (int i = 0; keys != NULL && keys[i] != NULL; i += 2) {
		if (config_set(&cfg, keys[i], keys[i + 1], err,
		    sizeof(err)) != 0) {
			fprintf(stderr, "config: %s\n", err);
			return (-1);
		}
	}
	if (config_finish(&cfg, err, sizeof(err)) != 0 ||
	    router_init(&router, &cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "router: %s\n", err);
		return (-1);
	}
	make_flow(&flow_a, 1, "198.51.100.7:40000", EPSIP_TRANSPORT_UDP);
	make_flow(&flow_b, 2, "198.51.100.8:50600", EPSIP_TRANSPORT_TCP);
	memset(&core, 0, sizeof(core));
	core.source = ROUTER_FROM_CORE;
	return (0);
}

static inline int
router_fixture_teardown(void **state)
{
	(void)state;
	router_free(&router);
	unlink(key_path);
	return (0);
}

/* The embedded-mode router most tests use, as a cmocka setup. */
static inline int
router_fixture_setup_embedded(void **state)
{
	(void)state;
	return (router_fixture_setup(NULL));
}

static inline void
process(const struct router_origin *o, const char *text,
    struct router_output *out)
{
	router_process(&router, o, text, strlen(text), out);
}

static inline osip_message_t *
parse_out(const struct router_output *out)
{
	osip_message_t *m = NULL;

	assert_non_null(out->sip);
	assert_int_equal(sip_parse(out->sip, out->sip_len, &m), 0);
	return (m);
}

static inline void
token_of(const struct router_origin *o, char *buf, size_t cap)
{
	assert_true(router_flow_token(&router, &o->flow, buf, cap) > 0);
}

static inline const char *
via_param(const osip_message_t *m, int index, const char *name)
{
	osip_via_t *via = osip_list_get(&m->vias, index);

	return (via ? sip_generic_param(&via->via_params, name) : NULL);
}

/* The text of Record-Route (or Route, `routes`) number `index`. */
static inline char *
route_text(const osip_message_t *m, int routes, int index)
{
	osip_record_route_t *rr = osip_list_get(routes ? &m->routes :
	    &m->record_routes, index);
	char *s = NULL;

	if (rr != NULL) {
		osip_record_route_to_str(rr, &s);
	}
	return (s);
}

#define REGISTER_FMT \
	"REGISTER sip:example.com SIP/2.0\r\n" \
	"%s" \
	"Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK-reg1;rport\r\n" \
	"Max-Forwards: 70\r\n" \
	"From: <sip:bob@example.com>;tag=f1\r\n" \
	"To: <sip:bob@example.com>\r\n" \
	"Call-ID: reg-1@10.0.0.5\r\n" \
	"CSeq: 1 REGISTER\r\n" \
	"Supported: path, outbound\r\n" \
	"%s" \
	"Contact: <sip:bob@10.0.0.5:5060;ob>;reg-id=1;" \
	"+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\"\r\n" \
	"Content-Length: 0\r\n\r\n"

static inline void
flow_request(const struct router_origin *o, const char *method,
    const char *routes, const char *contact_params, const char *ruri_scheme,
    struct router_output *out)
{
	char text[3072];

	snprintf(text, sizeof(text),
	    "%s %s:carol@example.com SIP/2.0\r\n"
	    "Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK-%s-1;rport\r\n"
	    "%s"
	    "Max-Forwards: 70\r\n"
	    "From: <sip:bob@example.com>;tag=b1\r\n"
	    "To: <sip:carol@example.com>\r\n"
	    "Call-ID: out-1@10.0.0.5\r\n"
	    "CSeq: 5 %s\r\n"
	    "Contact: <sip:bob@10.0.0.5:5060%s>\r\n"
	    "Content-Length: 0\r\n\r\n", method, ruri_scheme, method, routes,
	    method, contact_params);
	process(o, text, out);
}

/*
 * A REGISTER from flow A goes up through the router; the registrar answers
 * `status` with `headers` ("Name: value" pairs, NULL-terminated) and the
 * answer comes back down through the router into *down.
 */
static inline void
register_and_answer(const char *register_text, int status,
    const char *const *headers, struct router_output *down)
{
	struct router_output up;
	osip_message_t *req, *resp;
	char *s, name[32];
	size_t len;

	process(&flow_a, register_text, &up);
	req = parse_out(&up);
	assert_int_equal(sip_reply_create(req, status, NULL, &resp), 0);
	for (int i = 0; headers != NULL && headers[i] != NULL; i += 2) {
		snprintf(name, sizeof(name), "%s", headers[i]);
		if (strcmp(name, "Contact") == 0) {
			osip_message_set_contact(resp, headers[i + 1]);
		} else {
			osip_message_set_header(resp, name, headers[i + 1]);
		}
	}
	assert_int_equal(sip_serialize(resp, &s, &len), 0);
	router_process(&router, &core, s, len, down);
	free(s);
	osip_message_free(resp);
	osip_message_free(req);
	router_output_clear(&up);
}

#endif /* EPSIP_TEST_ROUTER_FIXTURE_H */
