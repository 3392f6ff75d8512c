/*
 * ws_frame.c -- WebSocket frames (RFC 6455 §5) as the server reads and
 * writes them.
 *
 * The reader takes one whole frame at a time from the front of the
 * caller's buffer: until a frame is whole it uses nothing, so the caller's
 * buffer is the only state of a half-read frame.  What must outlive a
 * frame -- the fragments of a message split over several frames (§5.4) --
 * lives in struct ws_reader, which holds no memory between messages: the
 * flow-manager keeps a reader for every idle flow.
 *
 * Everything the RFC says a server MUST fail the connection for is
 * checked, and as early as the bytes allow: a header that breaks a rule
 * is refused before its payload arrives, so a peer cannot make us buffer
 * a frame we will refuse anyway.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "epsip/wire.h"
#include "epsip/ws.h"

_Static_assert(sizeof(struct ws_reader) <= 24,
    "struct ws_reader is kept for every idle flow");

/* The first two bytes of a frame (§5.2). */
#define WS_FIN		0x80
#define WS_RSV		0x70	/* RSV1-3 */
#define WS_OPCODE	0x0f
#define WS_CONTROL_BIT	0x08	/* opcodes 8-15 are control frames (§5.5) */
#define WS_MASK		0x80
#define WS_LEN7		0x7f
#define WS_LEN16	126	/* a 16-bit length follows */
#define WS_LEN64	127	/* a 64-bit length follows */
#define WS_MASK_KEY	4

/* The smallest buffer a fragmented message starts with. */
#define WS_MSG_MIN_CAP	256

/* A frame's header, once parse_head() has seen all of it. */
struct frame_head {
	int fin;
	uint8_t opcode;
	size_t size;		/* header bytes, masking key included */
	uint64_t payload;	/* payload bytes */
	uint8_t key[WS_MASK_KEY];
};

enum head_verdict {
	HEAD_OK,
	HEAD_PARTIAL,	/* no rule broken so far; more bytes needed */
	HEAD_BAD,	/* fail the connection with *close_code */
};

static int
is_control(uint8_t opcode)
{
	return ((opcode & WS_CONTROL_BIT) != 0);
}

static int
is_known_opcode(uint8_t opcode)
{
	switch (opcode) {
	case WS_OP_CONTINUATION:
	case WS_OP_TEXT:
	case WS_OP_BINARY:
	case WS_OP_CLOSE:
	case WS_OP_PING:
	case WS_OP_PONG:
		return (1);
	default:
		return (0);
	}
}

/*
 * The rules the first byte alone decides.  RSV1-3 must be 0 unless an
 * extension gave them a meaning (§5.2), and we negotiate none.  Unknown
 * opcodes fail the connection (§5.2).  Control frames are never
 * fragmented (§5.5).  A continuation needs a message in progress and a
 * new message needs none (§5.4).
 */
static int
first_byte_ok(const struct ws_reader *r, uint8_t b0)
{
	uint8_t opcode = b0 & WS_OPCODE;

	if ((b0 & WS_RSV) != 0 || !is_known_opcode(opcode)) {
		return (0);
	}
	if (is_control(opcode)) {
		return ((b0 & WS_FIN) != 0);
	}
	if (opcode == WS_OP_CONTINUATION) {
		return (r->msg_opcode != 0);
	}
	return (r->msg_opcode == 0);
}

/* The bytes of the extended length a 7-bit length announces. */
static size_t
extended_length_size(uint8_t len7)
{
	if (len7 == WS_LEN16) {
		return (2);
	}
	if (len7 == WS_LEN64) {
		return (8);
	}
	return (0);
}

/*
 * The payload length, read from the extended length where there is one.
 * The minimal encoding is mandatory and the 64-bit form has its top bit
 * clear (§5.2); 0 when either rule is broken.
 */
static int
read_length(const uint8_t *p, uint8_t len7, uint64_t *payload)
{
	if (len7 == WS_LEN16) {
		*payload = wire_load_u16(p);
		return (*payload >= WS_LEN16);
	}
	if (len7 == WS_LEN64) {
		*payload = wire_load_u64(p);
		return ((*payload >> 63) == 0 && *payload > UINT16_MAX);
	}
	*payload = len7;
	return (1);
}

/*
 * Whether a data frame of `payload` bytes fits in the message it starts
 * or continues: the whole message is bounded by `limit`, and r->msg_len
 * never exceeds it.
 */
static int
fits_message(const struct ws_reader *r, uint8_t opcode, uint64_t payload,
    size_t limit)
{
	size_t have = opcode == WS_OP_CONTINUATION ? r->msg_len : 0;

	return (payload <= limit - have);
}

/*
 * Read a frame's header from buf[0..len), stopping at the first broken
 * rule even before the rest has arrived.
 */
static enum head_verdict
parse_head(const struct ws_reader *r, const uint8_t *buf, size_t len,
    size_t limit, size_t out_cap, struct frame_head *h, uint16_t *close_code)
{
	size_t ext;
	uint8_t len7;

	*close_code = WS_CLOSE_PROTOCOL_ERROR;
	if (len < 1) {
		return (HEAD_PARTIAL);
	}
	if (!first_byte_ok(r, buf[0])) {
		return (HEAD_BAD);
	}
	h->fin = (buf[0] & WS_FIN) != 0;
	h->opcode = buf[0] & WS_OPCODE;
	if (len < 2) {
		return (HEAD_PARTIAL);
	}
	/* §5.1: a server MUST close the connection on an unmasked frame. */
	if ((buf[1] & WS_MASK) == 0) {
		return (HEAD_BAD);
	}
	len7 = buf[1] & WS_LEN7;
	/* §5.5: a control frame's payload is at most 125 bytes. */
	if (is_control(h->opcode) && len7 > WS_CONTROL_MAX) {
		return (HEAD_BAD);
	}
	ext = extended_length_size(len7);
	if (len < 2 + ext) {
		return (HEAD_PARTIAL);
	}
	if (!read_length(buf + 2, len7, &h->payload)) {
		return (HEAD_BAD);
	}
	if (is_control(h->opcode) ? h->payload > out_cap :
	    !fits_message(r, h->opcode, h->payload, limit)) {
		*close_code = WS_CLOSE_TOO_BIG;
		return (HEAD_BAD);
	}
	h->size = 2 + ext + WS_MASK_KEY;
	if (len < h->size) {
		return (HEAD_PARTIAL);
	}
	memcpy(h->key, buf + 2 + ext, WS_MASK_KEY);
	*close_code = 0;
	return (HEAD_OK);
}

/* §5.3: payload byte i is xored with key[i % 4]. */
static void
unmask(uint8_t *dst, const uint8_t *src, size_t len,
    const uint8_t key[WS_MASK_KEY])
{
	size_t i;

	for (i = 0; i < len; i++) {
		dst[i] = src[i] ^ key[i & 3];
	}
}

/* The length of the UTF-8 sequence starting at p[0], 0 if none may. */
static size_t
utf8_sequence(const uint8_t *p, size_t left)
{
	uint8_t lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (p[0] < 0x80) {
		return (1);
	}
	/* C0, C1: overlong 2-byte forms; F5-FF: beyond U+10FFFF. */
	if (p[0] < 0xc2 || p[0] > 0xf4) {
		return (0);
	}
	n = p[0] < 0xe0 ? 2 : p[0] < 0xf0 ? 3 : 4;
	/* RFC 3629 §4: the second byte's range rules out overlongs
	 * (E0, F0), surrogates (ED) and code points over U+10FFFF (F4). */
	if (p[0] == 0xe0) {
		lo = 0xa0;
	} else if (p[0] == 0xed) {
		hi = 0x9f;
	} else if (p[0] == 0xf0) {
		lo = 0x90;
	} else if (p[0] == 0xf4) {
		hi = 0x8f;
	}
	if (left < n || p[1] < lo || p[1] > hi) {
		return (0);
	}
	for (i = 2; i < n; i++) {
		if (p[i] < 0x80 || p[i] > 0xbf) {
			return (0);
		}
	}
	return (n);
}

int
ws_utf8_valid(const uint8_t *buf, size_t len)
{
	size_t i = 0, n;

	while (i < len) {
		n = utf8_sequence(buf + i, len - i);
		if (n == 0) {
			return (0);
		}
		i += n;
	}
	return (1);
}

void
ws_reader_free(struct ws_reader *r)
{
	free(r->msg);
	memset(r, 0, sizeof(*r));
}

/* Room for `more` bytes after r->msg_len; the caller checked the limit. */
static int
msg_reserve(struct ws_reader *r, size_t more, size_t limit)
{
	size_t need = r->msg_len + more, cap;
	uint8_t *p;

	if (need <= r->msg_cap) {
		return (0);
	}
	cap = r->msg_cap < WS_MSG_MIN_CAP ? WS_MSG_MIN_CAP : r->msg_cap;
	while (cap < need && cap <= limit / 2) {
		cap *= 2;
	}
	if (cap < need || cap > limit) {
		cap = limit;
	}
	if ((p = realloc(r->msg, cap)) == NULL) {
		return (-1);
	}
	r->msg = p;
	r->msg_cap = (uint32_t)cap;
	return (0);
}

/* A TEXT message must be UTF-8 (§5.6, §8.1), checked once it is whole. */
static int
message_ok(uint8_t opcode, const uint8_t *data, size_t len)
{
	return (opcode != WS_OP_TEXT || ws_utf8_valid(data, len));
}

/*
 * §7.4.1, §7.4.2: the codes an endpoint may put in a Close frame (1004
 * is reserved; 1005, 1006 and 1015 only ever stand for "none" in an API)
 * and the IANA-registered 1012-1014; 3000-4999 are for libraries and
 * applications.
 */
static int
close_code_ok(uint16_t code)
{
	return ((code >= 1000 && code <= 1003) ||
	    (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999));
}

/* A control frame, already unmasked into out[0..len). */
static int
control_event(uint8_t opcode, const uint8_t *out, size_t len,
    struct ws_event *ev, uint16_t *close_code)
{
	ev->data = out;
	ev->len = len;
	if (opcode == WS_OP_PING) {
		ev->type = WS_EV_PING;
		return (0);
	}
	if (opcode == WS_OP_PONG) {
		ev->type = WS_EV_PONG;
		return (0);
	}
	ev->type = WS_EV_CLOSE;
	ev->close_code = WS_CLOSE_NO_STATUS;
	if (len == 0) {
		return (0);
	}
	/* §5.5.1: a body starts with a 2-byte code. */
	if (len == 1 || !close_code_ok(wire_load_u16(out))) {
		*close_code = WS_CLOSE_PROTOCOL_ERROR;
		return (-1);
	}
	ev->close_code = wire_load_u16(out);
	ev->data = out + 2;
	ev->len = len - 2;
	/* §5.5.1: the reason is UTF-8; §8.1: if not, fail with 1007. */
	if (!ws_utf8_valid(ev->data, ev->len)) {
		*close_code = WS_CLOSE_INVALID_DATA;
		return (-1);
	}
	return (0);
}

/* A whole message in out[0..len). */
static int
message_event(uint8_t opcode, const uint8_t *out, size_t len,
    struct ws_event *ev, uint16_t *close_code)
{
	if (!message_ok(opcode, out, len)) {
		*close_code = WS_CLOSE_INVALID_DATA;
		return (-1);
	}
	ev->type = WS_EV_MESSAGE;
	ev->opcode = opcode;
	ev->data = out;
	ev->len = len;
	return (0);
}

/*
 * A data frame.  A final frame that is not a continuation is a message on
 * its own and goes straight to `out`; the others are added to r->msg, and
 * the last one hands the whole message out in `out` and frees r->msg.
 */
static int
data_frame(struct ws_reader *r, const struct frame_head *h,
    const uint8_t *payload, uint8_t *out, size_t limit, struct ws_event *ev,
    uint16_t *close_code)
{
	size_t have;
	uint8_t opcode;

	if (h->fin && h->opcode != WS_OP_CONTINUATION) {
		unmask(out, payload, h->payload, h->key);
		return (message_event(h->opcode, out, h->payload, ev,
		    close_code));
	}
	if (!h->fin) {
		if (h->opcode != WS_OP_CONTINUATION) {
			r->msg_opcode = h->opcode;
		}
		if (msg_reserve(r, h->payload, limit) == -1) {
			*close_code = WS_CLOSE_INTERNAL_ERROR;
			return (-1);
		}
		if (h->payload > 0) {
			unmask(r->msg + r->msg_len, payload, h->payload,
			    h->key);
		}
		r->msg_len += (uint32_t)h->payload;
		return (0);
	}
	/* The last fragment: fits_message() kept the sum within out_cap. */
	have = r->msg_len;
	opcode = r->msg_opcode;
	if (have > 0) {
		memcpy(out, r->msg, have);
	}
	unmask(out + have, payload, h->payload, h->key);
	ws_reader_free(r);
	return (message_event(opcode, out, have + h->payload, ev, close_code));
}

ssize_t
ws_reader_next(struct ws_reader *r, const uint8_t *buf, size_t len,
    uint8_t *out, size_t out_cap, size_t max_message, struct ws_event *ev,
    uint16_t *close_code)
{
	struct frame_head h;
	size_t limit;
	int rc;

	memset(ev, 0, sizeof(*ev));
	*close_code = 0;
	/* One message must fit the caller's scratch and r->msg_len. */
	limit = max_message;
	if (limit > out_cap) {
		limit = out_cap;
	}
	if (limit > UINT32_MAX) {
		limit = UINT32_MAX;
	}
	switch (parse_head(r, buf, len, limit, out_cap, &h, close_code)) {
	case HEAD_PARTIAL:
		*close_code = 0;
		return (0);
	case HEAD_BAD:
		ws_reader_free(r);
		return (-1);
	case HEAD_OK:
		break;
	}
	if (len - h.size < h.payload) {
		return (0);
	}
	if (is_control(h.opcode)) {
		unmask(out, buf + h.size, h.payload, h.key);
		rc = control_event(h.opcode, out, h.payload, ev, close_code);
	} else {
		rc = data_frame(r, &h, buf + h.size, out, limit, ev,
		    close_code);
	}
	if (rc == -1) {
		memset(ev, 0, sizeof(*ev));
		ws_reader_free(r);
		return (-1);
	}
	return ((ssize_t)(h.size + h.payload));
}

size_t
ws_frame_header(uint8_t out[WS_HEADER_MAX], uint8_t opcode, uint64_t len)
{
	out[0] = WS_FIN | (opcode & WS_OPCODE);
	if (len <= WS_CONTROL_MAX) {
		out[1] = (uint8_t)len;
		return (2);
	}
	if (len <= UINT16_MAX) {
		out[1] = WS_LEN16;
		wire_store_u16(out + 2, (uint16_t)len);
		return (4);
	}
	/* §5.2: the most significant bit of a 64-bit length is 0. */
	out[1] = WS_LEN64;
	wire_store_u64(out + 2, len & (UINT64_MAX >> 1));
	return (10);
}

size_t
ws_close_payload(uint8_t *out, size_t cap, uint16_t code, const char *reason)
{
	size_t n, room;

	/* §7.4.1: 1005 is never put in a Close frame; echo an empty one. */
	if (cap < 2 || code == WS_CLOSE_NO_STATUS) {
		return (0);
	}
	wire_store_u16(out, code);
	n = reason != NULL ? strlen(reason) : 0;
	room = cap - 2 < WS_CLOSE_REASON_MAX ? cap - 2 : WS_CLOSE_REASON_MAX;
	if (n > room) {
		/* Cut before a character that would not fit whole: the
		 * peer fails a reason that is not UTF-8 (§5.5.1). */
		n = room;
		while (n > 0 && ((uint8_t)reason[n] & 0xc0) == 0x80) {
			n--;
		}
	}
	memcpy(out + 2, reason != NULL ? reason : "", n);
	return (2 + n);
}

const char *
ws_opcode_name(uint8_t opcode)
{
	switch (opcode) {
	case WS_OP_CONTINUATION:
		return ("continuation");
	case WS_OP_TEXT:
		return ("text");
	case WS_OP_BINARY:
		return ("binary");
	case WS_OP_CLOSE:
		return ("close");
	case WS_OP_PING:
		return ("ping");
	case WS_OP_PONG:
		return ("pong");
	default:
		return ("unknown");
	}
}
