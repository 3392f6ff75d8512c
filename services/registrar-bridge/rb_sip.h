/*
 * rb_sip.h -- SIP helpers private to the registrar-bridge.
 *
 * Small pieces of libosip2 handling the registrar and the home proxy share:
 * the output sink towards the sip-router, local replies, the bridge's own
 * Via, Max-Forwards, AOR canonicalisation and case-insensitive parameter
 * look-ups.  Everything general enough for other services belongs in
 * common/sip_util.c instead.
 */
#ifndef RB_SIP_H
#define RB_SIP_H

#include <stddef.h>
#include <stdint.h>

#include <osipparser2/osip_parser.h>

/* Host of the bridge's own Via: never an address the router calls its own. */
#define RB_VIA_HOST		"registrar.invalid"
#define RB_BRANCH_MAX		64
#define RB_KEY_MAX		512
#define RB_AOR_MAX		512

/*
 * Where the core side sends SIP: one serialised message per call.  The
 * bridge wraps it into EPSIP_MSG_SIP_FROM_CORE; with core-listen set in
 * embedded mode the dispatcher (core_dispatch.h) sends it there or to
 * the core-side network; unit tests capture it.  `send` returns 0, or -1
 * when the message could not be queued.
 */
struct rb_out {
	int (*send)(void *arg, const char *buf, size_t len);
	void *arg;
};

/* Serialise and send; a response also counts replies.<status>. */
int rb_send(const struct rb_out *out, osip_message_t *msg);

/*
 * Send bytes made elsewhere (an edit of a message's own bytes); a
 * `status` of 100..699 counts replies.<status> as rb_send() does.
 */
int rb_send_bytes(const struct rb_out *out, const char *buf, size_t len,
    int status);

/*
 * sip_parse() that keeps the message's bytes in libosip2's own `message`
 * field, which libosip2 5.3 leaves empty: the home proxy forwards those
 * bytes with its edits spliced in, so headers it does not own leave as
 * they came (issue 7 §2).  osip_message_clone() copies them and
 * osip_message_free() frees them; libosip2's printer ignores them.
 */
int rb_parse(const char *buf, size_t len, osip_message_t **msgp);

/*
 * The bytes rb_parse() kept, or NULL for a message built here (a local
 * reply).  They are the message as it arrived: changes made to the parsed
 * fields since are not in them.
 */
const char *rb_bytes(const osip_message_t *msg, size_t *len);

/* Forget the kept bytes (a copy about to be changed field by field). */
void rb_forget_bytes(osip_message_t *msg);

/* Keep a copy of buf[0..len) as msg's bytes (replacing any); 0 or -1. */
int rb_keep_bytes(osip_message_t *msg, const char *buf, size_t len);

/*
 * Our reply to the request in buf[0..len), from its own lines
 * (sip_reply_from_request(): Vias, From, To tagged, Call-ID, CSeq as it
 * wrote them).  `reason` NULL: the standard phrase.  *out malloc'ed;
 * 0 or -1.
 */
int rb_reply_bytes(const char *buf, size_t len, int status,
    const char *reason, char **out, size_t *outlen);

/*
 * sip_reply_create() with our reason phrase (NULL: the standard one).
 * Returns 0 and *resp, or -1.
 */
int rb_reply(const osip_message_t *req, int status, const char *reason,
    osip_message_t **resp);
/* Build and send a bare reply; 0 or -1. */
int rb_reply_send(const struct rb_out *out, const osip_message_t *req,
    int status, const char *reason);

/*
 * RFC 3261 §10.3(5): the canonical AOR of a SIP/SIPS URI: scheme lower
 * case, user part unescaped (libosip2 already did), host lower case, port
 * and every parameter removed.  Returns 0, or -1 for another scheme or a
 * URI without host.
 */
int rb_aor_canonical(const osip_uri_t *uri, char *out, size_t cap);

/* The URI as text, malloc'ed (free()), or NULL. */
char *rb_uri_text(const osip_uri_t *uri);

/*
 * The key of the transaction `msg` belongs to (RFC 3261 §17.2.3): top Via
 * branch, sent-by and `method` (pass "INVITE" for an ACK or CANCEL to find
 * their INVITE).  Falls back to Call-ID/CSeq/From tag for a branch without
 * the magic cookie.  0, or -1 when the message has no usable Via.
 */
int rb_txn_key(const osip_message_t *msg, const char *method, char *out,
    size_t cap);

/* The top Via's branch, or NULL. */
const char *rb_top_branch(const osip_message_t *msg);

/*
 * 1 if the element that would retransmit `req` towards us uses UDP: the
 * Via under the router's (the sip-router is stateless, so the phone
 * itself retransmits), or the only Via.
 */
int rb_request_unreliable(const osip_message_t *req);

/* 1 if a contact URI is reached over UDP (no transport param or udp). */
int rb_uri_unreliable(const osip_uri_t *uri);

/* Max-Forwards as a number: -1 when absent, -2 when not a number. */
int rb_max_forwards(const osip_message_t *msg);
int rb_set_max_forwards(osip_message_t *msg, int value);

/* Our Via's value for `branch`: "SIP/2.0/TCP registrar.invalid;branch=". */
int rb_via_value(const char *branch, char *out, size_t cap);

/* Push the bridge's Via (fresh z9hG4bK branch) on top; branch copied out. */
int rb_push_via(osip_message_t *msg, char *branch, size_t cap);
/* Remove the top Via; 0, or -1 if there is none. */
int rb_pop_via(osip_message_t *msg);

/* The To tag, or NULL. */
const char *rb_to_tag(const osip_message_t *msg);

/* 1 if Supported (or compact k) lists `tag`. */
int rb_supports(const osip_message_t *msg, const char *tag);

/* Parse `text` as a name-addr ("<sip:...;lr>") into a Route; NULL if bad. */
osip_route_t *rb_route_parse(const char *text);

/* Count the Vias of a message. */
int rb_via_count(const osip_message_t *msg);

/* What a proxy hop writes into a request it forwards (RFC 3261 §16.6). */
struct rb_forward {
	const char *request_uri;	/* NULL: keep the caller's */
	char *const *routes;		/* name-addrs, on top of Route */
	size_t route_count;
	const char *via;		/* our Via's value, on top */
	int max_forwards;		/* the value to write */
};

/*
 * The request in buf[0..len) as this hop forwards it, everything it does
 * not own byte for byte: the Request-URI replaced, `routes` inserted in
 * order above the first Route line, our Via above the first Via,
 * Max-Forwards' value replaced (a second Max-Forwards line goes) or the
 * header added; Content-Length added when missing.  Headers written are
 * spelled as RFC 3261 does.  *out malloc'ed; 0 or -1.
 */
int rb_forward_bytes(const char *buf, size_t len, const struct rb_forward *f,
    char **out, size_t *outlen);

/*
 * The response in buf[0..len) as this hop relays it (RFC 3261 §16.7(3)):
 * the top Via value popped (only it when it shares a comma list with
 * others), everything else byte for byte.  `status` other than the
 * response's own replaces its status line with "SIP/2.0 status reason"
 * (§16.7(6): 503 becomes 500).  *out malloc'ed; 0 or -1.
 */
int rb_relay_bytes(const char *buf, size_t len, int status,
    const char *reason, char **out, size_t *outlen);

#endif /* RB_SIP_H */
