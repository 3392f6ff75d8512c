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
 * sip_reply_create() with our reason phrase (NULL: the standard one).
 * Returns 0 and *resp, or -1.
 */
int rb_reply(const osip_message_t *req, int status, const char *reason,
    osip_message_t **resp);
/* Build and send a bare reply; 0 or -1. */
int rb_reply_send(const struct rb_out *out, const osip_message_t *req,
    int status, const char *reason);

/* A generic (Contact, Via, To) parameter, name compared case-insensitively. */
const char *rb_param(const osip_list_t *params, const char *name);
int rb_param_count(const osip_list_t *params, const char *name);

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

#endif /* RB_SIP_H */
