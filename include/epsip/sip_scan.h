/*
 * sip_scan.h -- where things are in a SIP message's bytes, without
 * parsing their values.
 *
 * A proxy forwards what it does not own byte for byte (RFC 3261 §16.6):
 * name case, order, comma lists and compact forms included.  To do that
 * it must know where each header line starts and ends, which lines name
 * the same header (`v:` is Via), and where each value of a comma list
 * lies.  That is all this file does; values are libosip2's business.
 * Offsets are into the caller's buffer, which must outlive the scan.
 */
#ifndef EPSIP_SIP_SCAN_H
#define EPSIP_SIP_SCAN_H

#include <stddef.h>

/* More header lines than this: refused (a real message has ~10-30). */
#define SIP_SCAN_MAX_HEADERS	256

struct sip_span {
	size_t off;
	size_t len;
};

/* The headers somebody here reads or writes; the rest are OTHER. */
enum sip_hdr_id {
	SIP_HDR_OTHER = 0,
	SIP_HDR_VIA,
	SIP_HDR_ROUTE,
	SIP_HDR_RECORD_ROUTE,
	SIP_HDR_PATH,
	SIP_HDR_MAX_FORWARDS,
	SIP_HDR_FROM,
	SIP_HDR_TO,
	SIP_HDR_CALL_ID,
	SIP_HDR_CSEQ,
	SIP_HDR_CONTACT,
	SIP_HDR_CONTENT_LENGTH,
	SIP_HDR_CONTENT_TYPE,
	SIP_HDR_REQUIRE,
	SIP_HDR_PROXY_REQUIRE,
	SIP_HDR_SUPPORTED,
	SIP_HDR_FLOW_TIMER,
};

struct sip_header_line {
	enum sip_hdr_id id;
	struct sip_span name;	/* as written: "v", "X-Custom-Header" */
	struct sip_span value;	/* first to last non-LWS byte, folds in */
	struct sip_span line;	/* name through its last line end */
};

struct sip_scan {
	const char *buf;
	size_t len;
	struct sip_span start_line;	/* without its line end */
	struct sip_span request_uri;	/* len 0 in a response */
	size_t headers_end;	/* where the blank line is (len: none) */
	size_t body;		/* after the blank line, or len */
	int has_blank_line;
	size_t count;
	struct sip_header_line h[SIP_SCAN_MAX_HEADERS];
};

/*
 * Find the start line, every header line and the body of buf[0..len).
 * Lines may end in CRLF or a bare LF; a line starting with SP or HTAB
 * continues the header above (RFC 3261 §7.3.1).  -1: no start line, a
 * header line without a colon, a CR in the head that is not before an
 * LF (nor the last byte), or more than SIP_SCAN_MAX_HEADERS.
 */
int sip_scan(const char *buf, size_t len, struct sip_scan *s);

/*
 * Which header a name is, case-insensitively, long or compact
 * (RFC 3261 §7.3.3: `v` is Via, `m` is Contact...).
 */
enum sip_hdr_id sip_header_id(const char *name, size_t len);

/*
 * The long name of a compact form, from RFC 3261 §7.3.3 and the RFCs
 * that added letters since (3265, 3515, 3841, 3892, 4028, 4474); NULL for
 * a letter that is none.
 */
const char *sip_compact_name(char letter);

/* The index of the first header line `id` at or after `from`, or -1. */
int sip_scan_find(const struct sip_scan *s, enum sip_hdr_id id,
    size_t from);

/*
 * The next value of a comma list: *pos starts at value.off.  Commas in
 * quoted strings and <...> do not split; each item is trimmed of LWS.
 * 1 and *item, or 0 when no value is left.
 */
int sip_value_next(const char *buf, struct sip_span value, size_t *pos,
    struct sip_span *item);

/* How many values the comma list of header line `i` holds. */
size_t sip_scan_value_count(const struct sip_scan *s, size_t i);

/*
 * A `;name[=value]` parameter of one value, case-insensitively: in a
 * name-addr, those after the `>` (header parameters); in a Via, those
 * after sent-by.  1 with *param (name through value) and *pvalue (len 0
 * when it has none), or 0.
 */
int sip_item_param(const char *buf, struct sip_span item, const char *name,
    struct sip_span *param, struct sip_span *pvalue);

/*
 * The URI of one name-addr or addr-spec value (From, To, Contact): inside
 * the `<>`, else up to the first `;` (whose parameters are the header's,
 * RFC 3261 §20).  1 with *uri, or 0 when there is none.
 */
int sip_item_uri(const char *buf, struct sip_span item, struct sip_span *uri);

#endif /* EPSIP_SIP_SCAN_H */
