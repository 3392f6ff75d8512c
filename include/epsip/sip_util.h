/*
 * sip_util.h -- the libosip2 glue shared by the router and the registrar.
 *
 * libosip2 re-serialises whole messages (headers reordered, recased, comma
 * lists split, see docs/architecture.md): legal SIP, different bytes.  Tests
 * of what sip_serialize() prints therefore compare parsed fields.  The
 * sip-router does not reprint: it parses here for values and forwards the
 * original bytes with its edits spliced in (sip_edit.h).  Path, Supported,
 * Require, Flow-Timer and friends are not first-class in libosip2; they live
 * in its generic header list and are reached through sip_header_*().
 */
#ifndef EPSIP_SIP_UTIL_H
#define EPSIP_SIP_UTIL_H

#include <stddef.h>

#include <osipparser2/osip_parser.h>

#include "epsip/ipc.h"

/* Once per process, before any parse (libosip2's header table). */
void sip_library_init(void);

/* Parse `len` bytes; 0 and *msg, or -1. */
int sip_parse(const char *buf, size_t len, osip_message_t **msg);

/*
 * Bodies are opaque.  A proxy must forward them byte for byte (RFC 3261
 * §16.6 step 1), but libosip2 drops a body without Content-Type and
 * re-encodes multipart ones.  So sip_parse() replaces whatever libosip2
 * made of the body with one body holding the raw bytes, and
 * sip_serialize() prints libosip2's headers followed by those bytes and a
 * Content-Length that matches them.
 */

/* Serialise; *out is malloc'ed (free with free()). 0 or -1. */
int sip_serialize(osip_message_t *msg, char **out, size_t *len);

/*
 * Where the body of the message in buf[0..len) starts (after the blank
 * line), or len when there is none.
 */
size_t sip_body_offset(const char *buf, size_t len);

/*
 * A response to `req` as RFC 3261 §8.2.6 wants it (SP-17): every Via in
 * order, From, To (with a tag added when the status is above 100 and the
 * request had none), Call-ID, CSeq, Content-Length: 0.  Only a Via is
 * required: headers the request lacked are left out (ER-01).
 */
int sip_reply_create(const osip_message_t *req, int status,
    const char *reason, osip_message_t **resp);

/* The standard reason phrase of a status ("Flow Failed" for 430). */
const char *sip_reason_phrase(int status);

/*
 * The next item of a comma-separated header value at *cursor, blanks
 * around it trimmed: its start, with its length in *len, or NULL at the
 * end.  *cursor moves past the item.  Empty items are passed over.
 */
const char *sip_list_next(const char **cursor, size_t *len);
/*
 * The value of the `index`-th header named `name` (case-insensitive) among
 * libosip2's generic headers, or NULL.  Compact forms are the caller's job.
 */
const char *sip_header_value(const osip_message_t *msg, const char *name,
    int index);
/* Count of generic headers named `name`. */
int sip_header_count(const osip_message_t *msg, const char *name);
/*
 * 1 if any `name` header (comma lists included) holds `token`
 * case-insensitively (e.g. Supported: outbound).
 */
int sip_header_has_token(const osip_message_t *msg, const char *name,
    const char *token);
/* Add `name: value` as the topmost header of that name. */
int sip_header_add_top(osip_message_t *msg, const char *name,
    const char *value);
/* Remove every generic header named `name`. */
void sip_header_remove_all(osip_message_t *msg, const char *name);

/*
 * 1 if the URI has parameter `name` (any value: `ob` and `ob=true` both
 * count, ER-09).
 */
int sip_uri_has_param(const osip_uri_t *uri, const char *name);
/*
 * A contact/route/via generic parameter by name (compared
 * case-insensitively): its value, "" when it has none, or NULL.
 */
const char *sip_generic_param(const osip_list_t *params, const char *name);
/* How many parameters are called `name` (a REGISTER may repeat one). */
int sip_generic_param_count(const osip_list_t *params, const char *name);

/* Method of a request ("INVITE"), or NULL for a response. */
const char *sip_method(const osip_message_t *msg);
/*
 * How a transport is written in SIP: the Via's protocol ("UDP", "TCP",
 * "TLS", "WS", "WSS"; RFC 3261 §18, RFC 7118 §5.1), and the URI parameter
 * that names it in Path and Record-Route (";transport=tcp", ...; "" for
 * UDP, the default, RFC 3261 §19.1.2).
 */
const char *sip_transport_via_name(uint8_t transport);
/* 1 when `text` is a non-empty RFC 3261 §25.1 token. */
int sip_is_token(const char *text);
const char *sip_transport_uri_param(uint8_t transport);

/* 1 for INVITE, SUBSCRIBE, REFER, NOTIFY without To tag (dialog-forming). */
int sip_is_dialog_forming(const osip_message_t *msg);

/* A random token of `len` base64url characters (branch, tags). */
void sip_random_token(char *out, size_t len);

/* A Via parameter by name, case-insensitively (to read or change it). */
osip_generic_param_t *sip_via_param(osip_via_t *via, const char *name);

/* An IP literal ("192.0.2.1", "2001:db8::1", "[2001:db8::1]"); 0 or -1. */
int sip_ip_literal(const char *text, struct epsip_addr *a);

/*
 * RFC 3261 §18.2.1 and RFC 3581 §4 on the top Via of a request that came
 * from `src`: rport filled in when asked for, `received` when rport was
 * asked for or the sent-by host is not that address.  `add_rport` adds
 * rport even unasked: over a stream, the sent-by port names a listener,
 * not the connection a response must go back on.
 */
void sip_via_stamp_received(osip_message_t *msg, const struct epsip_addr *src,
    int add_rport);

#endif /* EPSIP_SIP_UTIL_H */
