/*
 * fuzz_router.c -- the sip-router's edge procedures on any message
 * (services/sip-router/route.c: router_process(), router_undeliverable(),
 * router_framing_error()), with routers set up as
 * tests/unit/router_fixture.h sets one up (fuzz_router.h): embedded mode,
 * and upstream mode with a core side.  Messages come from a flow of each
 * transport (UDP, TCP, TLS, WS, WSS; the WSS one over IPv6) or from the
 * core.
 *
 * Input: byte 0 modulo 16 picks the router (bit 0: upstream) and what the
 * rest is (bits 1-3): 0-4 a message from the UDP, TCP, TLS, WS or WSS
 * flow, 5 one from the core, 6 a message a child could not deliver
 * (FLOW_UNDELIVERABLE), 7 the header bytes of a stream whose framing
 * broke (FLOW_FRAMING_ERROR; 400, or 513 when byte 0 has bit 4).  The
 * keys are fuzz.h's, so the seeds of gen_corpus.c carry valid tokens.
 * Checked:
 *   - an output is a drop with a reason and no bytes, or bytes for the
 *     core or for a flow that a token can name; a local reply starts
 *     with its status line and goes back where the message came from;
 *   - what the router sends can be scanned by the next hop's sip_scan(),
 *     and its head ends once: a local reply with Content-Length: 0 and
 *     nothing after, a datagram or WebSocket message it framed with the
 *     Content-Length of its body;
 *   - the way back (RFC 5626 §5, the router keeps no state): a request
 *     the router forwards, answered 200 by whoever it went to, brings
 *     that answer back to the flow (or the core) the request came from;
 *   - everything is freed (router_output_clear(); LeakSanitizer).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "epsip/ipc.h"
#include "epsip/sip_scan.h"
#include "epsip/sip_util.h"
#include "../../services/sip-router/router.h"

#include "fuzz.h"
#include "fuzz_router.h"

enum op {
	OP_FLOW_UDP, OP_FLOW_TCP, OP_FLOW_TLS, OP_FLOW_WS, OP_FLOW_WSS,
	OP_CORE, OP_UNDELIVERABLE, OP_FRAMING_ERROR,
};

static struct sip_scan scan;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_router_setup();
	return (0);
}

static int
same_flow(const struct flow_token *a, const struct flow_token *b)
{
	return (epsip_flow_id_equal(&a->flow, &b->flow) &&
	    a->transport == b->transport &&
	    epsip_addr_equal(&a->local, &b->local) &&
	    epsip_addr_equal(&a->remote, &b->remote));
}

/* The Content-Length of the scanned output; -1 if none or not a number. */
static long
content_length(const struct router_output *out)
{
	int i = sip_scan_find(&scan, SIP_HDR_CONTENT_LENGTH, 0);
	char value[24], *end;
	long n;

	if (i < 0 || scan.h[i].value.len == 0 ||
	    scan.h[i].value.len >= sizeof(value)) {
		return (-1);
	}
	memcpy(value, out->sip + scan.h[i].value.off, scan.h[i].value.len);
	value[scan.h[i].value.len] = '\0';
	n = strtol(value, &end, 10);
	return (*end == '\0' && n >= 0 ? n : -1);
}

/*
 * The head the router writes ends once, where it should: a local reply
 * has Content-Length: 0 and nothing after its blank line; a message the
 * router framed itself (a datagram, a WebSocket message) leaves with a
 * Content-Length that is its body's.
 */
static void
check_head(const struct router_output *out,
    const struct router_origin *origin)
{
	if (out->sip == NULL || out->dest == ROUTER_DROP) {
		return;
	}
	if (out->local_status > 0) {
		FUZZ_CHECK(scan.has_blank_line && scan.body == out->sip_len);
		FUZZ_CHECK(content_length(out) == 0);
	} else if (origin != NULL && origin->source == ROUTER_FROM_FLOW &&
	    epsip_transport_frames_messages(origin->flow.transport)) {
		FUZZ_CHECK(scan.has_blank_line);
		FUZZ_CHECK(content_length(out) ==
		    (long)(out->sip_len - scan.body));
	}
}

/* What every output must be. */
static void
check_output(struct router *r, const struct router_output *out)
{
	char token[FLOW_TOKEN_MAX_TEXT], status[16];

	switch (out->dest) {
	case ROUTER_DROP:
		FUZZ_CHECK(out->sip == NULL && out->drop_reason != NULL);
		return;
	case ROUTER_TO_FLOW:
		/* A flow a token names (a child to send it to). */
		FUZZ_CHECK(router_flow_token(r, &out->flow, token,
		    sizeof(token)) > 0);
		break;
	case ROUTER_TO_CORE:
		break;
	default:
		FUZZ_CHECK(!"unknown destination");
	}
	if (out->sip == NULL) {
		/* Only a framing error's bare close sends nothing. */
		FUZZ_CHECK(out->dest == ROUTER_TO_FLOW &&
		    (out->flags & EPSIP_MSG_F_CLOSE_AFTER_SEND));
		return;
	}
	FUZZ_CHECK(out->sip_len > 0 && out->sip_len <= 2 * 65536 + 8192);
	FUZZ_CHECK(sip_scan(out->sip, out->sip_len, &scan) == 0);
	if (out->local_status > 0) {
		snprintf(status, sizeof(status), "SIP/2.0 %d ",
		    out->local_status);
		FUZZ_CHECK(out->sip_len > strlen(status) &&
		    memcmp(out->sip, status, strlen(status)) == 0);
	}
	FUZZ_CHECK(out->aor_len <= sizeof(out->aor));
	FUZZ_CHECK(!out->registered || out->dest == ROUTER_TO_FLOW);
}

/* Where `origin`'s own answers go. */
static void
check_back_to(const struct router_output *out,
    const struct router_origin *origin)
{
	if (origin->source == ROUTER_FROM_CORE) {
		FUZZ_CHECK(out->dest == ROUTER_TO_CORE);
	} else {
		FUZZ_CHECK(out->dest == ROUTER_TO_FLOW);
		FUZZ_CHECK(same_flow(&out->flow, &origin->flow));
	}
}

/*
 * A request the router forwarded, answered 200 by whoever it went to:
 * the answer must come back to where the request came from, by the Via
 * the router wrote (the router keeps no state).
 */
static void
answer_comes_back(struct router *r, const struct router_origin *origin,
    const struct router_output *fwd)
{
	struct router_origin from;
	struct router_output back;
	osip_message_t *req, *resp;
	char *text;
	size_t len;

	if (fwd->local_status > 0 || fwd->sip == NULL ||
	    sip_parse(fwd->sip, fwd->sip_len, &req) != 0) {
		return;
	}
	if (!MSG_IS_REQUEST(req) || strcmp(req->sip_method, "ACK") == 0 ||
	    sip_reply_create(req, 200, NULL, &resp) != 0) {
		osip_message_free(req);
		return;
	}
	if (sip_serialize(resp, &text, &len) == 0) {
		if (fwd->dest == ROUTER_TO_CORE) {
			from = core;
		} else {
			memset(&from, 0, sizeof(from));
			from.source = ROUTER_FROM_FLOW;
			from.flow = fwd->flow;
		}
		router_process(r, &from, text, len, &back);
		check_output(r, &back);
		check_back_to(&back, origin);
		router_output_clear(&back);
		free(text);
	}
	osip_message_free(resp);
	osip_message_free(req);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct router_origin *origin;
	struct router_output out;
	struct router *r;
	enum op op;
	char *msg;
	size_t len;

	if (size < 1) {
		return (0);
	}
	r = &routers[data[0] & 1];
	op = (enum op)((data[0] & 15) >> 1);
	/* Its own copy, exactly as long: ASan sees any read past it. */
	len = size - 1;
	if ((msg = malloc(len > 0 ? len : 1)) == NULL) {
		abort();
	}
	memcpy(msg, data + 1, len);
	switch (op) {
	case OP_CORE:
		origin = &core;
		break;
	case OP_UNDELIVERABLE:
	case OP_FRAMING_ERROR:
		/* A stream flow: framing breaks on streams only. */
		origin = &flows[1 + (data[0] >> 5) % 4];
		break;
	default:
		origin = &flows[op];
		break;
	}
	if (op == OP_UNDELIVERABLE) {
		router_undeliverable(r, msg, len, &out);
		check_output(r, &out);
		check_head(&out, NULL);
	} else if (op == OP_FRAMING_ERROR) {
		router_framing_error(r, origin, (data[0] & 16) ? 513 : 400,
		    msg, len, &out);
		check_output(r, &out);
		check_head(&out, NULL);
		check_back_to(&out, origin);
	} else {
		router_process(r, origin, msg, len, &out);
		check_output(r, &out);
		check_head(&out, origin);
		if (out.local_status > 0) {
			check_back_to(&out, origin);
		} else if (out.dest != ROUTER_DROP) {
			answer_comes_back(r, origin, &out);
		}
	}
	router_output_clear(&out);
	free(msg);
	return (0);
}
