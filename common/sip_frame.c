/*
 * sip_frame.c -- find SIP message boundaries in a byte stream (TCP).
 *
 * Every call looks at the front of the caller's buffer and says what it
 * holds: a CRLFCRLF keep-alive (RFC 5626 §4.4.1), a whole message framed by
 * its Content-Length (RFC 3261 §18.3), not enough bytes yet, or a framing
 * error after which the connection must be closed.  A start line that is
 * neither a Request-Line nor a Status-Line but still a line of text is
 * framed all the same, so that the router can answer it (400, 505) and
 * the connection lives on (issue 12 §5); only bytes that cannot be text
 * are junk.  Nothing is remembered
 * between calls and nothing is allocated; each call is linear in the bytes
 * it looks at and never reads past `len`.
 */
#include <stddef.h>
#include <string.h>

#include "epsip/sip_frame.h"

/* "SIP/2.0": the only version we speak (RFC 3261 §7.1). */
#define SIP_VERSION	"SIP/2.0"
#define SIP_VERSION_LEN	7
/*
 * A malformed start line is still framed when it ends within this many
 * bytes: a peer sending text without newlines is closed past it, not
 * buffered up to max-message-size.
 */
#define START_LINE_MAX	4096

enum line_verdict {
	LINE_OK,	/* a well-formed start line, LF included */
	LINE_PARTIAL,	/* a valid prefix of a start line: wait for more */
	LINE_JUNK,	/* nothing that starts like this is a start line */
};

static enum line_verdict check_sip_start_line(const unsigned char *p,
    size_t n, size_t *line_len);

/* Where the header section ends, found by find_header_end(). */
struct header_end {
	size_t blank;	/* first byte of the blank line */
	size_t end;	/* first byte after the blank line (the body) */
};

static int
is_upper(unsigned char c)
{
	return (c >= 'A' && c <= 'Z');
}

static int
is_digit(unsigned char c)
{
	return (c >= '0' && c <= '9');
}

static int
is_wsp(unsigned char c)
{
	return (c == ' ' || c == '\t');
}

static unsigned char
to_lower(unsigned char c)
{
	if (is_upper(c)) {
		return ((unsigned char)(c - 'A' + 'a'));
	}
	return (c);
}

/* RFC 3261 §25.1: token = 1*(alphanum / "-" / "." / "!" / "%" / "*" /
 * "_" / "+" / "`" / "'" / "~"). */
static int
is_token(unsigned char c)
{
	if (is_upper(c) || is_digit(c) || (c >= 'a' && c <= 'z')) {
		return (1);
	}
	return (c != '\0' && strchr("-.!%*_+`'~", c) != NULL);
}

/* A Request-URI byte: anything visible; SP ends it, CTLs never occur. */
static int
is_uri_char(unsigned char c)
{
	return (c > 0x20 && c != 0x7f);
}

/*
 * Compare the first `n` bytes of `p` with the same bytes of `lit`, ignoring
 * case (RFC 3261 §7.1: the version string is case-insensitive).
 */
static int
prefix_matches(const char *p, size_t n, const char *lit)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (to_lower((unsigned char)p[i]) !=
		    to_lower((unsigned char)lit[i])) {
			return (0);
		}
	}
	return (1);
}

/*
 * The end of a start line: an optional CR then LF at `p[i]`.  A CR that is
 * the last byte we have may still be followed by LF; anything else is junk.
 */
static enum line_verdict
check_line_end(const unsigned char *p, size_t n, size_t i, size_t *line_len)
{
	if (i < n && p[i] == '\r') {
		i++;
	}
	if (i >= n) {
		return (LINE_PARTIAL);
	}
	if (p[i] != '\n') {
		return (LINE_JUNK);
	}
	*line_len = i + 1;
	return (LINE_OK);
}

/*
 * Status-Line = SIP-Version SP Status-Code SP Reason-Phrase CRLF
 * (RFC 3261 §7.2).  `p` starts right after "SIP/2.0 ".  Codes run from 100
 * to 699 (§21).  We also take a line that ends right after the code: it can
 * still only be a response, and the parser upstream judges the rest.
 */
static enum line_verdict
check_status_line(const unsigned char *p, size_t n, size_t *line_len)
{
	size_t i;

	for (i = 0; i < 3; i++) {
		if (i >= n) {
			return (LINE_PARTIAL);
		}
		if (!is_digit(p[i]) || (i == 0 && (p[i] < '1' || p[i] > '6'))) {
			return (LINE_JUNK);
		}
	}
	if (i < n && p[i] != ' ') {
		return (check_line_end(p, n, i, line_len));
	}
	/* Reason-Phrase: any text; a CR must be the one before LF. */
	for (; i < n; i++) {
		if (p[i] == '\n' || p[i] == '\r') {
			return (check_line_end(p, n, i, line_len));
		}
	}
	return (LINE_PARTIAL);
}

/*
 * Request-Line = Method SP Request-URI SP SIP-Version CRLF (RFC 3261 §7.1).
 * The Method is a token that we require to start with an upper-case letter
 * (every method in use does); every Request-URI has a scheme, hence a ':'.
 */
static enum line_verdict
check_request_line(const unsigned char *p, size_t n, size_t *line_len)
{
	size_t i, uri, ver;
	int colon;

	for (i = 0; i < n && is_token(p[i]); i++) {
		continue;
	}
	if (i == n) {
		return (LINE_PARTIAL);
	}
	if (i == 0 || p[i] != ' ') {
		return (LINE_JUNK);
	}
	uri = ++i;
	colon = 0;
	for (; i < n && is_uri_char(p[i]); i++) {
		colon |= (p[i] == ':');
	}
	if (i == n) {
		return (LINE_PARTIAL);
	}
	if (i == uri || p[i] != ' ' || !colon) {
		return (LINE_JUNK);
	}
	ver = ++i;
	if (n - ver < SIP_VERSION_LEN) {
		if (!prefix_matches((const char *)p + ver, n - ver,
		    SIP_VERSION)) {
			return (LINE_JUNK);
		}
		return (LINE_PARTIAL);
	}
	if (!prefix_matches((const char *)p + ver, SIP_VERSION_LEN,
	    SIP_VERSION)) {
		return (LINE_JUNK);
	}
	return (check_line_end(p, n, ver + SIP_VERSION_LEN, line_len));
}

/*
 * A line that is no Request-Line or Status-Line but still text with a
 * space in it: "  INVITE ...", "OPTIONS sip:a @b SIP/2.0", "... SIP/7.0".
 * Its framing is intact, so the message is handed on and answered (400,
 * 505) with the connection kept.  Control bytes, a CR without its LF, a
 * line with no space ("GARBAGE") or longer than START_LINE_MAX are junk.
 */
static enum line_verdict
check_text_line(const unsigned char *p, size_t n, size_t *line_len)
{
	int space = 0;
	size_t i;

	for (i = 0; i < n && i < START_LINE_MAX; i++) {
		if (p[i] == '\n') {
			if (!space) {
				return (LINE_JUNK);
			}
			*line_len = i + 1;
			return (LINE_OK);
		}
		if (p[i] == '\r') {
			if (i + 1 < n && p[i + 1] != '\n') {
				return (LINE_JUNK);
			}
			continue;
		}
		if (p[i] == ' ') {
			space = 1;
		} else if ((p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7f) {
			return (LINE_JUNK);
		}
	}
	return (i >= START_LINE_MAX ? LINE_JUNK : LINE_PARTIAL);
}

/*
 * Decide whether the bytes at `p` can begin a SIP message (RFC 3261 §7.5,
 * ER-05): a well-formed start line, or at least a line of text
 * (check_text_line).  Bytes that cannot be text are junk at once.
 */
static enum line_verdict
check_start_line(const unsigned char *p, size_t n, size_t *line_len)
{
	enum line_verdict v = check_sip_start_line(p, n, line_len);

	return (v == LINE_JUNK ? check_text_line(p, n, line_len) : v);
}

/* A Request-Line or a Status-Line, judged as early as one byte allows. */
static enum line_verdict
check_sip_start_line(const unsigned char *p, size_t n, size_t *line_len)
{
	enum line_verdict v;
	size_t k;

	if (n == 0) {
		return (LINE_PARTIAL);
	}
	if (!is_upper(p[0])) {
		return (LINE_JUNK);
	}
	/* "SIP/2.0 " can only be a response: '/' is not a token char. */
	k = n < SIP_VERSION_LEN + 1 ? n : SIP_VERSION_LEN + 1;
	if (prefix_matches((const char *)p, k, SIP_VERSION " ")) {
		if (k < SIP_VERSION_LEN + 1) {
			return (LINE_PARTIAL);
		}
		v = check_status_line(p + k, n - k, line_len);
		if (v == LINE_OK) {
			*line_len += k;
		}
		return (v);
	}
	return (check_request_line(p, n, line_len));
}

/*
 * Find the blank line ending the header section in p[0..n): an LF followed
 * by LF or by CRLF.  Bare LF line ends are accepted for robustness.  The
 * search starts at the start line's LF, which `from` points at or before.
 */
static int
find_header_end(const unsigned char *p, size_t n, size_t from,
    struct header_end *he)
{
	size_t i;

	for (i = from; i + 1 < n; i++) {
		if (p[i] != '\n') {
			continue;
		}
		if (p[i + 1] == '\n') {
			he->blank = i + 1;
			he->end = i + 2;
			return (1);
		}
		if (p[i + 1] == '\r' && i + 2 < n && p[i + 2] == '\n') {
			he->blank = i + 1;
			he->end = i + 3;
			return (1);
		}
	}
	return (0);
}

/* The index of the LF ending the line that starts at `i` (before `end`). */
static size_t
line_end(const unsigned char *p, size_t i, size_t end)
{
	while (i < end && p[i] != '\n') {
		i++;
	}
	return (i);
}

/*
 * Is the header line at p[i..e) a Content-Length header?  The name is
 * case-insensitive and has the compact form "l" (RFC 3261 §7.3.1, §7.3.3,
 * TR-10); SP/HTAB may sit before the colon (HCOLON).  On a match, *value is
 * set to the byte after the colon.  A line naming Content-Length without a
 * colon returns -1: some parser downstream may still read it as a length,
 * so it is refused rather than ignored (request smuggling, ER-02).
 */
static int
is_content_length(const unsigned char *p, size_t i, size_t e, size_t *value)
{
	static const char long_name[] = "content-length";
	size_t s, nlen;

	for (s = i; i < e && is_token(p[i]); i++) {
		continue;
	}
	nlen = i - s;
	if (!(nlen == 1 && to_lower(p[s]) == 'l') &&
	    !(nlen == sizeof(long_name) - 1 &&
	    prefix_matches((const char *)p + s, nlen, long_name))) {
		return (0);
	}
	while (i < e && is_wsp(p[i])) {
		i++;
	}
	if (i == e || p[i] != ':') {
		return (-1);
	}
	*value = i + 1;
	return (1);
}

/*
 * Parse a Content-Length value in p[i..e), which may span folded lines
 * (RFC 3261 §7.3.1: LWS, including CRLF followed by SP/HTAB, is just
 * whitespace).  Only 1*DIGIT surrounded by whitespace is accepted: no sign,
 * no list, and no value that overflows size_t.
 */
static int
parse_length(const unsigned char *p, size_t i, size_t e, size_t *cl)
{
	size_t v, d;
	int digits;

	while (i < e && (is_wsp(p[i]) || p[i] == '\r' || p[i] == '\n')) {
		i++;
	}
	v = 0;
	digits = 0;
	for (; i < e && is_digit(p[i]); i++) {
		d = (size_t)(p[i] - '0');
		if (v > ((size_t)-1 - d) / 10) {
			return (-1);
		}
		v = v * 10 + d;
		digits = 1;
	}
	while (i < e && (is_wsp(p[i]) || p[i] == '\r' || p[i] == '\n')) {
		i++;
	}
	if (!digits || i != e) {
		return (-1);
	}
	*cl = v;
	return (0);
}

/*
 * Walk the header lines in p[i..blank) -- i is the first header line,
 * blank the start of the blank line -- and extract the one Content-Length.
 * Folded continuation lines (starting with SP/HTAB) belong to the header
 * above them: they are never read as a header of their own, and a folded
 * Content-Length value is read whole.
 */
static enum sip_frame_error
find_content_length(const unsigned char *p, size_t i, size_t blank,
    size_t *cl)
{
	size_t e, value;
	int found, r;

	found = 0;
	while (i < blank) {
		e = line_end(p, i, blank);
		if (is_wsp(p[i])) {
			i = e + 1;
			continue;
		}
		r = is_content_length(p, i, e, &value);
		/* Take in the continuation lines, if any. */
		while (e + 1 < blank && is_wsp(p[e + 1])) {
			e = line_end(p, e + 1, blank);
		}
		if (r < 0) {
			return (SIP_FRAME_ERR_BAD_LENGTH);
		}
		if (r > 0) {
			if (found) {
				/* Even an equal copy: refuse, do not guess. */
				return (SIP_FRAME_ERR_DUP_LENGTH);
			}
			if (parse_length(p, value, e, cl) != 0) {
				return (SIP_FRAME_ERR_BAD_LENGTH);
			}
			found = 1;
		}
		i = e + 1;
	}
	return (found ? SIP_FRAME_ERR_NONE : SIP_FRAME_ERR_NO_LENGTH);
}

static enum sip_frame_kind
frame_error(struct sip_frame *out, enum sip_frame_error error, int status)
{
	out->kind = SIP_FRAME_ERROR;
	out->error = error;
	out->status = status;
	out->consumed = 0;
	return (out->kind);
}

static enum sip_frame_kind
frame_need_more(struct sip_frame *out)
{
	out->kind = SIP_FRAME_NEED_MORE;
	out->consumed = 0;
	return (out->kind);
}

/*
 * Handle the CRLFs that may lead the buffer (RFC 5626 §4.4.1, RFC 3261
 * §7.5).  Returns 1 with `out` filled in when the buffer holds a ping or
 * must wait for more bytes; otherwise returns 0 and sets *skip to the
 * number of leading bytes (0 or 2) to step over to reach the start line.
 * Only one lone CRLF can precede a start line: two in a row are a ping.
 */
static int
leading_crlf(const char *buf, size_t len, struct sip_frame *out, size_t *skip)
{
	static const char ping[] = "\r\n\r\n";
	size_t k;

	*skip = 0;
	if (buf[0] != '\r') {
		return (0);
	}
	k = len < 4 ? len : 4;
	if (memcmp(buf, ping, k) == 0) {
		if (k < 4) {
			/* "\r", "\r\n", "\r\n\r": a ping split across reads. */
			frame_need_more(out);
			return (1);
		}
		out->kind = SIP_FRAME_PING;
		out->consumed = 4;
		return (1);
	}
	if (buf[1] == '\n') {
		*skip = 2;
	}
	/* Otherwise a CR that no LF follows: the start-line check says junk. */
	return (0);
}

enum sip_frame_kind
sip_frame_stream_next(const char *buf, size_t len, size_t max_message,
    struct sip_frame *out)
{
	const unsigned char *p;
	struct header_end he;
	enum sip_frame_error err;
	size_t off, n, line_len, cl;

	memset(out, 0, sizeof(*out));
	if (len == 0) {
		return (frame_need_more(out));
	}
	p = (const unsigned char *)buf;
	/* RFC 5626 §4.4.2: STUN is a datagram keep-alive only (KA-13). */
	if (p[0] == 0x00 || p[0] == 0x01) {
		return (frame_error(out, SIP_FRAME_ERR_STUN, 0));
	}
	if (leading_crlf(buf, len, out, &off)) {
		return (out->kind);
	}
	out->offset = off;
	p += off;
	/* Never look further than the largest message we would accept. */
	n = len - off < max_message ? len - off : max_message;

	switch (check_start_line(p, n, &line_len)) {
	case LINE_JUNK:
		return (frame_error(out, SIP_FRAME_ERR_JUNK, 0));
	case LINE_PARTIAL:
		goto incomplete;
	case LINE_OK:
		break;
	}
	if (!find_header_end(p, n, line_len - 1, &he)) {
		goto incomplete;
	}
	out->header_length = he.end;

	err = find_content_length(p, line_len, he.blank, &cl);
	if (err != SIP_FRAME_ERR_NONE) {
		return (frame_error(out, err, 400));
	}
	if (cl > max_message - he.end) {
		return (frame_error(out, SIP_FRAME_ERR_TOO_LARGE, 513));
	}
	if (len - off < he.end + cl) {
		return (frame_need_more(out));
	}
	out->kind = SIP_FRAME_MESSAGE;
	out->length = he.end + cl;
	out->consumed = off + out->length;
	return (out->kind);

incomplete:
	/*
	 * No blank line within the first max_message bytes: even the header
	 * section cannot fit (ER-04).  Otherwise wait for more.
	 */
	if (len - off >= max_message) {
		return (frame_error(out, SIP_FRAME_ERR_TOO_LARGE, 513));
	}
	return (frame_need_more(out));
}

const char *
sip_frame_error_name(enum sip_frame_error error)
{
	switch (error) {
	case SIP_FRAME_ERR_NONE:
		return ("none");
	case SIP_FRAME_ERR_JUNK:
		return ("junk");
	case SIP_FRAME_ERR_STUN:
		return ("stun-on-stream");
	case SIP_FRAME_ERR_NO_LENGTH:
		return ("no-content-length");
	case SIP_FRAME_ERR_BAD_LENGTH:
		return ("bad-content-length");
	case SIP_FRAME_ERR_DUP_LENGTH:
		return ("duplicate-content-length");
	case SIP_FRAME_ERR_TOO_LARGE:
		return ("too-large");
	}
	return ("unknown");
}
