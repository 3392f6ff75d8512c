/*
 * sip_util.c -- the libosip2 glue shared by the router and the registrar.
 *
 * DIAGNOSTICS: none; every function returns an error instead.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <arpa/inet.h>

#include "epsip/sip_util.h"

static void
sip_trace_discard(const char *file, int line, osip_trace_level_t level,
    const char *fmt, va_list ap)
{
	(void)file;
	(void)line;
	(void)level;
	(void)fmt;
	(void)ap;
}

void
sip_library_init(void)
{
	static int done;

	if (!done) {
		parser_init();
		/* libosip2 prints parse errors itself; we count ours. */
		osip_trace_initialize_func(END_TRACE_LEVEL, sip_trace_discard);
		for (int l = TRACE_LEVEL0; l < END_TRACE_LEVEL; l++) {
			osip_trace_disable_level((osip_trace_level_t)l);
		}
		done = 1;
	}
}

/* Replace libosip2's idea of the body by the raw bytes (see the header). */
static int
sip_keep_raw_body(osip_message_t *msg, const char *body, size_t len)
{
	osip_body_t *raw;

	osip_list_special_free(&msg->bodies,
	    (void (*)(void *))osip_body_free);
	if (msg->content_length != NULL) {
		osip_content_length_free(msg->content_length);
		msg->content_length = NULL;
	}
	msg->message_property = 2;
	if (len == 0) {
		return (0);
	}
	if (osip_body_init(&raw) != 0) {
		return (-1);
	}
	if ((raw->body = osip_malloc(len + 1)) == NULL) {
		osip_body_free(raw);
		return (-1);
	}
	memcpy(raw->body, body, len);
	raw->body[len] = '\0';
	raw->length = len;
	osip_list_add(&msg->bodies, raw, -1);
	return (0);
}

int
sip_parse(const char *buf, size_t len, osip_message_t **msgp)
{
	osip_message_t *msg;
	size_t body;

	if (osip_message_init(&msg) != 0) {
		return (-1);
	}
	if (osip_message_parse(msg, buf, len) != 0) {
		osip_message_free(msg);
		return (-1);
	}
	body = sip_body_offset(buf, len);
	if (sip_keep_raw_body(msg, buf + body, len - body) != 0) {
		osip_message_free(msg);
		return (-1);
	}
	*msgp = msg;
	return (0);
}

size_t
sip_body_offset(const char *buf, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (buf[i] != '\n') {
			continue;
		}
		if (buf[i + 1] == '\n') {
			return (i + 2);
		}
		if (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n') {
			return (i + 3);
		}
	}
	return (len);
}

/* Length of the header section of serialised text, up to its CRLFCRLF. */
static size_t
sip_head_length(const char *text, size_t len)
{
	const char *end = memmem(text, len, "\r\n\r\n", 4);

	return (end != NULL ? (size_t)(end - text) + 2 : len);
}

int
sip_serialize(osip_message_t *msg, char **out, size_t *len)
{
	osip_body_t *raw = osip_list_get(&msg->bodies, 0);
	const char *body = raw != NULL ? raw->body : NULL;
	size_t body_len = raw != NULL ? raw->length : 0;
	osip_list_t bodies = msg->bodies;
	char *head, *text, cl[48];
	size_t hlen, o = 0;
	int n, rv;

	/* libosip2 prints the headers only; the body bytes are ours. */
	osip_list_init(&msg->bodies);
	if (msg->content_length != NULL) {
		osip_content_length_free(msg->content_length);
		msg->content_length = NULL;
	}
	msg->message_property = 2;
	head = NULL;
	rv = osip_message_to_str(msg, &head, &hlen);
	msg->bodies = bodies;
	if (rv != 0 || head == NULL) {
		return (-1);
	}
	/* libosip2 ends with its own "Content-Length: 0": drop that line. */
	hlen = sip_head_length(head, hlen);
	for (char *p = head; (p = strstr(p, "\r\n")) != NULL &&
	    (size_t)(p - head) < hlen; p += 2) {
		if (strncasecmp(p + 2, "content-length:", 15) == 0) {
			char *eol = strstr(p + 2, "\r\n");

			memmove(p, eol, hlen - (size_t)(eol - head));
			hlen -= (size_t)(eol - p);
			break;
		}
	}
	n = snprintf(cl, sizeof(cl), "Content-Length: %zu\r\n\r\n",
	    body_len);
	if ((text = malloc(hlen + (size_t)n + body_len + 1)) == NULL) {
		free(head);
		return (-1);
	}
	memcpy(text, head, hlen);
	o = hlen;
	memcpy(text + o, cl, (size_t)n);
	o += (size_t)n;
	if (body_len > 0) {
		memcpy(text + o, body, body_len);
		o += body_len;
	}
	text[o] = '\0';
	free(head);
	*out = text;
	*len = o;
	return (0);
}

const char *
sip_reason_phrase(int status)
{
	switch (status) {
	case 100: return ("Trying");
	case 180: return ("Ringing");
	case 200: return ("OK");
	case 400: return ("Bad Request");
	case 403: return ("Forbidden");
	case 404: return ("Not Found");
	case 405: return ("Method Not Allowed");
	case 408: return ("Request Timeout");
	case 416: return ("Unsupported URI Scheme");
	case 420: return ("Bad Extension");
	case 421: return ("Extension Required");
	case 423: return ("Interval Too Brief");
	case 430: return ("Flow Failed");
	case 439: return ("First Hop Lacks Outbound Support");
	case 480: return ("Temporarily Unavailable");
	case 481: return ("Call/Transaction Does Not Exist");
	case 482: return ("Loop Detected");
	case 483: return ("Too Many Hops");
	case 486: return ("Busy Here");
	case 487: return ("Request Terminated");
	case 500: return ("Server Internal Error");
	case 503: return ("Service Unavailable");
	case 513: return ("Message Too Large");
	default: break;
	}
	if (status >= 600) {
		return ("Global Failure");
	}
	if (status >= 500) {
		return ("Server Error");
	}
	if (status >= 400) {
		return ("Client Error");
	}
	if (status >= 300) {
		return ("Redirection");
	}
	if (status >= 200) {
		return ("OK");
	}
	return ("Session Progress");
}

void
sip_random_token(char *out, size_t len)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char bytes[64];

	if (len > sizeof(bytes)) {
		len = sizeof(bytes);
	}
	if (getrandom(bytes, len, 0) != (ssize_t)len) {
		/* getrandom() on Linux does not fail for <= 256 bytes. */
		memset(bytes, 0, len);
	}
	for (size_t i = 0; i < len; i++) {
		out[i] = alphabet[bytes[i] & 63];
	}
	out[len] = '\0';
}

static int
sip_copy_vias(const osip_message_t *req, osip_message_t *resp)
{
	int pos = 0;
	osip_via_t *via, *copy;

	while ((via = osip_list_get(&req->vias, pos++)) != NULL) {
		if (osip_via_clone(via, &copy) != 0) {
			return (-1);
		}
		osip_list_add(&resp->vias, copy, -1);
	}
	return (0);
}

static int
sip_has_to_tag(const osip_message_t *msg)
{
	osip_generic_param_t *tag = NULL;

	return (msg->to != NULL && osip_to_get_tag(msg->to, &tag) == 0 &&
	    tag != NULL);
}

int
sip_reply_create(const osip_message_t *req, int status, const char *reason,
    osip_message_t **respp)
{
	osip_message_t *resp;
	char tag[17];

	/*
	 * Only a Via is needed to answer (ER-01): a request missing From,
	 * To, Call-ID or CSeq still gets its 400, without those headers.
	 */
	if (req == NULL || osip_list_size(&req->vias) == 0) {
		return (-1);
	}
	if (osip_message_init(&resp) != 0) {
		return (-1);
	}
	osip_message_set_version(resp, osip_strdup("SIP/2.0"));
	osip_message_set_status_code(resp, status);
	osip_message_set_reason_phrase(resp, osip_strdup(reason ? reason :
	    sip_reason_phrase(status)));
	if (sip_copy_vias(req, resp) != 0 ||
	    (req->from && osip_from_clone(req->from, &resp->from) != 0) ||
	    (req->to && osip_to_clone(req->to, &resp->to) != 0) ||
	    (req->call_id && osip_call_id_clone(req->call_id,
	    &resp->call_id) != 0) ||
	    (req->cseq && osip_cseq_clone(req->cseq, &resp->cseq) != 0)) {
		osip_message_free(resp);
		return (-1);
	}
	if (status > 100 && resp->to != NULL && !sip_has_to_tag(resp)) {
		sip_random_token(tag, 16);
		osip_to_set_tag(resp->to, osip_strdup(tag));
	}
	osip_message_set_content_length(resp, "0");
	*respp = resp;
	return (0);
}

const char *
sip_header_value(const osip_message_t *msg, const char *name, int index)
{
	osip_header_t *h;
	int pos = 0, seen = 0;

	while ((h = osip_list_get(&msg->headers, pos++)) != NULL) {
		if (h->hname != NULL && strcasecmp(h->hname, name) == 0 &&
		    seen++ == index) {
			return (h->hvalue ? h->hvalue : "");
		}
	}
	return (NULL);
}

int
sip_header_count(const osip_message_t *msg, const char *name)
{
	osip_header_t *h;
	int pos = 0, n = 0;

	while ((h = osip_list_get(&msg->headers, pos++)) != NULL) {
		if (h->hname != NULL && strcasecmp(h->hname, name) == 0) {
			n++;
		}
	}
	return (n);
}

const char *
sip_list_next(const char **cursor, size_t *len)
{
	const char *p = *cursor, *item;

	while (*p == ' ' || *p == '\t' || *p == ',') {
		p++;
	}
	if (*p == '\0') {
		*cursor = p;
		return (NULL);
	}
	item = p;
	while (*p != '\0' && *p != ',') {
		p++;
	}
	*cursor = p;
	while (p > item && (p[-1] == ' ' || p[-1] == '\t')) {
		p--;
	}
	*len = (size_t)(p - item);
	return (item);
}

/* 1 if the comma list `list` holds `token` (case-insensitive). */
static int
list_has_token(const char *list, const char *token)
{
	size_t tlen = strlen(token), len;
	const char *item;

	while ((item = sip_list_next(&list, &len)) != NULL) {
		if (len == tlen && strncasecmp(item, token, tlen) == 0) {
			return (1);
		}
	}
	return (0);
}

int
sip_header_has_token(const osip_message_t *msg, const char *name,
    const char *token)
{
	const char *v;

	for (int i = 0; (v = sip_header_value(msg, name, i)) != NULL; i++) {
		if (list_has_token(v, token)) {
			return (1);
		}
	}
	return (0);
}

int
sip_header_add_top(osip_message_t *msg, const char *name, const char *value)
{
	return (osip_message_set_topheader(msg, name, value) == 0 ? 0 : -1);
}

void
sip_header_remove_all(osip_message_t *msg, const char *name)
{
	osip_header_t *h;
	int pos = 0;

	while ((h = osip_list_get(&msg->headers, pos)) != NULL) {
		if (h->hname != NULL && strcasecmp(h->hname, name) == 0) {
			osip_list_remove(&msg->headers, pos);
			osip_header_free(h);
		} else {
			pos++;
		}
	}
	msg->message_property = 2;
}

/*
 * The first parameter called `name` at or after *pos, which moves past it:
 * the one search that finding, counting and editing parameters share.
 */
static osip_generic_param_t *
next_generic_param(const osip_list_t *params, const char *name, int *pos)
{
	osip_generic_param_t *p;

	while ((p = osip_list_get(params, (*pos)++)) != NULL) {
		if (p->gname != NULL && strcasecmp(p->gname, name) == 0) {
			return (p);
		}
	}
	return (NULL);
}

const char *
sip_generic_param(const osip_list_t *params, const char *name)
{
	osip_generic_param_t *p;
	int pos = 0;

	if ((p = next_generic_param(params, name, &pos)) == NULL) {
		return (NULL);
	}
	return (p->gvalue != NULL ? p->gvalue : "");
}

int
sip_generic_param_count(const osip_list_t *params, const char *name)
{
	int count = 0, pos = 0;

	while (next_generic_param(params, name, &pos) != NULL) {
		count++;
	}
	return (count);
}

int
sip_uri_has_param(const osip_uri_t *uri, const char *name)
{
	return (uri != NULL &&
	    sip_generic_param(&uri->url_params, name) != NULL);
}

const char *
sip_method(const osip_message_t *msg)
{
	return (MSG_IS_REQUEST(msg) ? msg->sip_method : NULL);
}

int
sip_is_dialog_forming(const osip_message_t *msg)
{
	const char *m = sip_method(msg);

	if (m == NULL || msg->to == NULL || sip_has_to_tag(msg)) {
		return (0);
	}
	return (strcmp(m, "INVITE") == 0 || strcmp(m, "SUBSCRIBE") == 0 ||
	    strcmp(m, "REFER") == 0 || strcmp(m, "NOTIFY") == 0);
}

int
sip_ip_literal(const char *text, struct epsip_addr *a)
{
	char buf[INET6_ADDRSTRLEN + 2];
	size_t len = strlen(text);

	memset(a, 0, sizeof(*a));
	if (len >= 2 && text[0] == '[' && text[len - 1] == ']') {
		text++;
		len -= 2;
	}
	if (len >= sizeof(buf)) {
		return (-1);
	}
	memcpy(buf, text, len);
	buf[len] = '\0';
	return (epsip_addr_set_ip(a, buf));
}

osip_generic_param_t *
sip_via_param(osip_via_t *via, const char *name)
{
	int pos = 0;

	return (next_generic_param(&via->via_params, name, &pos));
}

void
sip_via_stamp_received(osip_message_t *msg, const struct epsip_addr *src,
    int add_rport)
{
	osip_via_t *via = osip_list_get(&msg->vias, 0);
	osip_generic_param_t *rport, *received;
	struct epsip_addr host;
	char ip[INET6_ADDRSTRLEN], port[8];
	int same;

	if (via == NULL || src->family == 0) {
		return;
	}
	inet_ntop(src->family, src->ip, ip, sizeof(ip));
	/* Compared as addresses: "::1" and "[0:0::1]" are the same host. */
	same = via->host != NULL && sip_ip_literal(via->host, &host) == 0 &&
	    host.family == src->family && memcmp(host.ip, src->ip,
	    src->family == AF_INET ? 4 : 16) == 0;
	snprintf(port, sizeof(port), "%u", src->port);
	if ((rport = sip_via_param(via, "rport")) != NULL) {
		osip_free(rport->gvalue);
		rport->gvalue = osip_strdup(port);
	} else if (add_rport) {
		osip_via_param_add(via, osip_strdup("rport"),
		    osip_strdup(port));
		rport = sip_via_param(via, "rport");
	}
	/* RFC 3581 §4: with rport, received goes in even when equal. */
	if (rport != NULL || !same) {
		if ((received = sip_via_param(via, "received")) != NULL) {
			osip_free(received->gvalue);
			received->gvalue = osip_strdup(ip);
		} else {
			osip_via_set_received(via, osip_strdup(ip));
		}
	}
	msg->message_property = 2;
}

const char *
sip_transport_via_name(uint8_t transport)
{
	switch (transport) {
	case EPSIP_TRANSPORT_TCP:
		return ("TCP");
	case EPSIP_TRANSPORT_TLS:
		return ("TLS");
	case EPSIP_TRANSPORT_WS:
		return ("WS");
	case EPSIP_TRANSPORT_WSS:
		return ("WSS");
	default:
		return ("UDP");
	}
}

const char *
sip_transport_uri_param(uint8_t transport)
{
	switch (transport) {
	case EPSIP_TRANSPORT_TCP:
		return (";transport=tcp");
	case EPSIP_TRANSPORT_TLS:
		return (";transport=tls");
	case EPSIP_TRANSPORT_WS:
		return (";transport=ws");
	case EPSIP_TRANSPORT_WSS:
		return (";transport=wss");
	default:
		return ("");
	}
}

int
sip_is_token(const char *text)
{
	if (text == NULL || *text == '\0') {
		return (0);
	}
	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		if (!isalnum(*p) && strchr("-.!%*_+`'~", *p) == NULL) {
			return (0);
		}
	}
	return (1);
}
