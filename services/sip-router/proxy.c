/*
 * proxy.c -- RFC 3261 §16 stateless proxy steps: request validation
 * (§16.3), Max-Forwards and our own Via (§16.6, §16.11), received/rport
 * (§18.2.1, RFC 3581) and UDP Content-Length rules (§18.3).
 * DIAGNOSTICS: none; malformed input yields a status or a drop.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <mbedtls/md.h>

#include "epsip/sip_frame.h"
#include "epsip/sip_util.h"
#include "router.h"

/*
 * Headers that may appear once only; two of them smell of smuggling
 * (ER-02).  Counted on the lines as they came, compact forms included:
 * libosip2 5.3 refuses a second From, To, Call-ID, CSeq or Content-Length
 * but keeps one Max-Forwards silently, and responses are not parsed by
 * it at all (response.c).
 */
int
proxy_duplicate_single_header(const struct sip_scan *s)
{
	int counts[SIP_HDR_FLOW_TIMER + 1] = { 0 };

	for (size_t i = 0; i < s->count; i++) {
		switch (s->h[i].id) {
		case SIP_HDR_CALL_ID:
		case SIP_HDR_CSEQ:
		case SIP_HDR_FROM:
		case SIP_HDR_TO:
		case SIP_HDR_CONTENT_LENGTH:
		case SIP_HDR_MAX_FORWARDS:
			if (++counts[s->h[i].id] > 1) {
				return (1);
			}
			break;
		default:
			break;
		}
	}
	return (0);
}

int
proxy_validate_request(struct router *r, const struct router_raw *raw,
    osip_message_t *msg, const char **reason)
{
	const char *mf, *scheme;

	(void)r;
	if (osip_list_size(&msg->vias) == 0) {
		return (-1);	/* nowhere to answer: drop (ER-01) */
	}
	if (msg->from == NULL || msg->to == NULL || msg->call_id == NULL ||
	    msg->cseq == NULL || msg->cseq->method == NULL ||
	    msg->cseq->number == NULL || msg->req_uri == NULL) {
		*reason = "Missing Mandatory Header";
		return (400);
	}
	if (!sip_is_token(msg->sip_method)) {
		*reason = "Method Is Not A Token";
		return (400);	/* RFC 3261 §25.1: Method = ... / token */
	}
	if (msg->sip_version == NULL ||
	    strcasecmp(msg->sip_version, "SIP/2.0") != 0) {
		*reason = "Version Not Supported";
		return (505);	/* RFC 3261 §8.2.2 note, §21.5.10 */
	}
	if (strcmp(msg->cseq->method, msg->sip_method) != 0) {
		*reason = "CSeq Method Mismatch";
		return (400);
	}
	/*
	 * 1*DIGIT (RFC 3261 §20.16), which libosip2 does not check but
	 * response.c does on the answer: a request forwarded with another
	 * number would get its answer dropped.
	 */
	if (msg->cseq->number[0] == '\0' || msg->cseq->number[strspn(
	    msg->cseq->number, "0123456789")] != '\0') {
		*reason = "Bad CSeq";
		return (400);
	}
	if (proxy_duplicate_single_header(&raw->scan)) {
		*reason = "Duplicate Header";
		return (400);
	}
	scheme = msg->req_uri->scheme;
	if (scheme == NULL || (strcasecmp(scheme, "sip") != 0 &&
	    strcasecmp(scheme, "sips") != 0 && strcasecmp(scheme, "tel") != 0)) {
		if (osip_list_size(&msg->routes) == 0) {
			*reason = NULL;
			return (416);	/* SP-03 */
		}
	}
	if ((mf = sip_header_value(msg, "max-forwards", 0)) != NULL) {
		char *ep;
		long v = strtol(mf, &ep, 10);

		if (*mf == '\0' || *ep != '\0' || v < 0 || v > 255) {
			*reason = "Bad Max-Forwards";
			return (400);
		}
		if (v == 0) {
			*reason = NULL;
			return (483);	/* SP-04 */
		}
	}
	if (sip_header_count(msg, "proxy-require") > 0) {
		*reason = NULL;
		return (420);	/* SP-05: we support no proxy extension */
	}
	return (0);
}

/* §16.6 step 3: one less, or 70 when the request had none. */
void
proxy_decrement_max_forwards(const osip_message_t *msg,
    struct router_raw *raw)
{
	const char *mf = sip_header_value(msg, "max-forwards", 0);
	int i = sip_scan_find(&raw->scan, SIP_HDR_MAX_FORWARDS, 0);
	char value[24];
	long v = mf != NULL ? strtol(mf, NULL, 10) - 1 : 70;

	/* Validation already bounded it to 1..255 (and made it one line). */
	snprintf(value, sizeof(value), "%ld", v < 0 ? 0 : v);
	if (i >= 0) {
		sip_edit_replace(&raw->edit, raw->scan.h[i].value, value);
	} else {
		sip_edit_insert_header(&raw->edit, sip_edit_top_of(&raw->scan,
		    SIP_HDR_MAX_FORWARDS), "Max-Forwards", value);
	}
}

/*
 * Our branch is a hash of the incoming top Via's branch and sent-by, so a
 * retransmission, and a CANCEL or non-2xx ACK (which reuse the INVITE's
 * branch), get the same branch again while other transactions differ
 * (SP-09, §16.11).  Pre-3261 branches get the Call-ID, CSeq number and
 * Request-URI mixed in.
 */
static void
proxy_branch(const osip_message_t *msg, char *out, size_t cap)
{
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(
	    MBEDTLS_MD_SHA256);
	osip_via_t *via = osip_list_get(&msg->vias, 0);
	osip_generic_param_t *b = NULL;
	mbedtls_md_context_t ctx;
	uint8_t digest[32];
	char *uri = NULL;
	static const char hex[] = "0123456789abcdef";
	size_t n;

	mbedtls_md_init(&ctx);
	mbedtls_md_setup(&ctx, md, 0);
	mbedtls_md_starts(&ctx);
	if (via != NULL) {
		osip_via_param_get_byname(via, "branch", &b);
		if (b != NULL && b->gvalue != NULL) {
			mbedtls_md_update(&ctx, (const uint8_t *)b->gvalue,
			    strlen(b->gvalue));
		}
		if (via->host != NULL) {
			mbedtls_md_update(&ctx, (const uint8_t *)via->host,
			    strlen(via->host));
		}
		if (via->port != NULL) {
			mbedtls_md_update(&ctx, (const uint8_t *)via->port,
			    strlen(via->port));
		}
	}
	if (b == NULL || b->gvalue == NULL ||
	    strncmp(b->gvalue, "z9hG4bK", 7) != 0) {
		if (msg->call_id != NULL && msg->call_id->number != NULL) {
			mbedtls_md_update(&ctx,
			    (const uint8_t *)msg->call_id->number,
			    strlen(msg->call_id->number));
		}
		if (msg->cseq != NULL && msg->cseq->number != NULL) {
			mbedtls_md_update(&ctx,
			    (const uint8_t *)msg->cseq->number,
			    strlen(msg->cseq->number));
		}
		if (msg->req_uri != NULL &&
		    osip_uri_to_str(msg->req_uri, &uri) == 0) {
			mbedtls_md_update(&ctx, (const uint8_t *)uri,
			    strlen(uri));
			osip_free(uri);
		}
	}
	mbedtls_md_finish(&ctx, digest);
	mbedtls_md_free(&ctx);
	n = snprintf(out, cap, "%s", EPSIP_ROUTER_BRANCH_PREFIX);
	for (size_t i = 0; i < 10 && n + 2 < cap; i++) {
		out[n++] = hex[digest[i] >> 4];
		out[n++] = hex[digest[i] & 15];
	}
	out[n] = '\0';
}

int
proxy_push_via(struct router *r, const osip_message_t *msg,
    const struct router_origin *origin, const struct flow_token *via_flow,
    struct router_raw *raw)
{
	char hostport[CONFIG_NAME_MAX + 8], branch[64], token[FLOW_TOKEN_MAX_TEXT];
	char value[CONFIG_NAME_MAX + 256];
	uint8_t transport;
	int n;

	if (via_flow != NULL) {
		router_edge_hostport(r, via_flow, hostport, sizeof(hostport));
		transport = via_flow->transport;
	} else if (router_core_hostport(r, hostport, sizeof(hostport)) == 0) {
		transport = r->cfg->upstream.transport;
	} else {
		return (-1);
	}
	proxy_branch(msg, branch, sizeof(branch));
	/*
	 * Nothing listens for TLS on core-listen: towards a TLS upstream,
	 * `alias` (RFC 5923) asks it to send what is for our sent-by over
	 * this connection instead (Kamailio: tcp_accept_aliases).
	 */
	n = snprintf(value, sizeof(value), "SIP/2.0/%s %s;branch=%s%s",
	    sip_transport_via_name(transport), hostport, branch,
	    via_flow == NULL && transport == EPSIP_TRANSPORT_TLS ?
	    ";alias" : "");
	if (origin->source == ROUTER_FROM_FLOW) {
		if (router_raw_token(r, raw, &origin->flow, token,
		    sizeof(token)) < 0) {
			return (-1);
		}
		n += snprintf(value + n, sizeof(value) - (size_t)n, ";%s=%s",
		    EPSIP_ROUTER_FLOW_PARAM, token);
	}
	if (n < 0 || (size_t)n >= sizeof(value)) {
		return (-1);
	}
	sip_edit_insert_header(&raw->edit, sip_edit_top_of(&raw->scan,
	    SIP_HDR_VIA), "Via", value);
	return (0);
}

/* The first Via value, across lines: an empty `Via:` line holds none. */
static int
top_via(const struct sip_scan *s, struct sip_span *item)
{
	for (int i = 0; (i = sip_scan_find(s, SIP_HDR_VIA, (size_t)i)) >= 0;
	    i++) {
		if (sip_edit_first_value(s, (size_t)i, item)) {
			return (1);
		}
	}
	return (0);
}

/*
 * Take our Via off a response (or off a request we sent that came back
 * undeliverable) and say where it goes next.  -1: the top Via is not ours
 * or its flow token does not verify; the message must be dropped (SP-14).
 * We wrote that Via, so its branch and token are all there is to read:
 * they come from the bytes, without libosip2.
 */
int
proxy_pop_own_via(struct router *r, struct router_raw *raw,
    struct router_origin *back)
{
	const struct sip_scan *s = &raw->scan;
	struct sip_span via, param, branch, ept;
	size_t plen = strlen(EPSIP_ROUTER_BRANCH_PREFIX);

	memset(back, 0, sizeof(*back));
	if (!top_via(s, &via) ||
	    !sip_item_param(s->buf, via, "branch", &param, &branch) ||
	    branch.len < plen || memcmp(s->buf + branch.off,
	    EPSIP_ROUTER_BRANCH_PREFIX, plen) != 0) {
		return (-1);
	}
	if (sip_item_param(s->buf, via, EPSIP_ROUTER_FLOW_PARAM, &param,
	    &ept) && ept.len > 0) {
		if (flow_token_decode(&r->keys, s->buf + ept.off, ept.len,
		    &back->flow) != FLOW_TOKEN_OK ||
		    !config_owns_instance(r->cfg, back->flow.flow.instance)) {
			/* Forged, or another edge's (shared key): not ours. */
			return (-1);
		}
		back->source = ROUTER_FROM_FLOW;
	} else {
		back->source = ROUTER_FROM_CORE;
	}
	/* Only our value goes: `Via: ours, theirs` leaves `Via: theirs`. */
	return (sip_edit_remove_values(&raw->edit, SIP_HDR_VIA, 1, 0));
}

void
proxy_stamp_received(osip_message_t *msg, struct router_raw *raw,
    const struct epsip_addr *src)
{
	osip_via_t *via;
	osip_generic_param_t *p;
	struct sip_span item;
	int i;

	/* libosip2 decides (its values serve local replies too)... */
	sip_via_stamp_received(msg, src, 0);
	/* ...and the bytes follow, touching only these two parameters. */
	if ((via = osip_list_get(&msg->vias, 0)) == NULL ||
	    (i = sip_scan_find(&raw->scan, SIP_HDR_VIA, 0)) == -1 ||
	    !sip_edit_first_value(&raw->scan, (size_t)i, &item)) {
		return;
	}
	if ((p = sip_via_param(via, "rport")) != NULL && p->gvalue != NULL) {
		sip_edit_set_param(&raw->edit, item, "rport", p->gvalue);
	}
	if ((p = sip_via_param(via, "received")) != NULL &&
	    p->gvalue != NULL) {
		sip_edit_set_param(&raw->edit, item, "received", p->gvalue);
	}
}

/*
 * RFC 3261 §18.3 for a datagram: bytes past Content-Length are dropped,
 * no Content-Length means the body runs to the end.  Returns 0 and the
 * message length, 1 when the body is shorter than Content-Length, -1 when
 * the datagram cannot be framed at all.
 */
int
proxy_udp_trim(const char *buf, size_t len, size_t *msg_len)
{
	struct sip_frame f;

	switch (sip_frame_stream_next(buf, len, 65535, &f)) {
	case SIP_FRAME_MESSAGE:
		*msg_len = f.offset + f.length;
		return (0);
	case SIP_FRAME_NEED_MORE:
		*msg_len = len;
		return (f.header_length > 0 ? 1 : -1);
	case SIP_FRAME_ERROR:
		*msg_len = len;
		return (f.error == SIP_FRAME_ERR_NO_LENGTH ? 0 : -1);
	default:
		*msg_len = len;
		return (-1);
	}
}
