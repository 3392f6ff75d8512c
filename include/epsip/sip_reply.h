/*
 * sip_reply.h -- a stateless reply built from the request's own bytes.
 *
 * RFC 3261 §8.2.6.2 (checklist SP-17): a reply copies every Via in order,
 * From, To, Call-ID and CSeq; To gets a tag when it had none.  Copying
 * the lines as they came, rather than reprinting parsed values, keeps
 * their spelling and needs no parse at all, which is what a process
 * shedding load wants: the scan (sip_scan.h) is all it costs.
 */
#ifndef EPSIP_SIP_REPLY_H
#define EPSIP_SIP_REPLY_H

#include <stddef.h>

#include "epsip/sip_edit.h"
#include "epsip/sip_scan.h"

/* A header the reply adds after the copied ones, e.g. Retry-After. */
struct sip_reply_header {
	const char *name;	/* spelled as the RFC does */
	const char *value;
};

/*
 * Add to `e` (over the request's scan, possibly holding edits to its top
 * Via already: received, rport) the edits that make the request its
 * reply: status line, Vias, the first From, To (tagged when it had none
 * and status > 100), Call-ID and CSeq, then `extra`, Content-Length: 0
 * and no body.  `reason` NULL: the standard phrase.  Only a Via is
 * needed (ER-01): headers the request lacked stay out.  -1 for a
 * response, a request without Via, or a status outside 100..699.
 */
int sip_reply_edit(struct sip_edit *e, int status, const char *reason,
    const struct sip_reply_header *extra, size_t extra_count);

/* The same from the request's bytes alone: *out malloc'ed, *len. */
int sip_reply_from_request(const struct sip_scan *s, int status,
    const char *reason, const struct sip_reply_header *extra,
    size_t extra_count, char **out, size_t *len);

/*
 * 1 when the scanned message is a request a UA sends to start new work:
 * not a response, not ACK or CANCEL (they finish work already begun),
 * and outside a dialog (no To tag).  What a process sheds under load.
 */
int sip_request_starts_work(const struct sip_scan *s);

#endif /* EPSIP_SIP_REPLY_H */
