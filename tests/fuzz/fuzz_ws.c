/*
 * fuzz_ws.c -- a WebSocket flow's input (RFC 6455, RFC 7118) through the
 * codec (common/ws_upgrade.c, common/ws_frame.c) as the flow-manager
 * drives it (services/flow-manager/ws_flow.c, fm_ws_frame()): the HTTP
 * upgrade, answered by ws_upgrade_response() into the child's 512-byte
 * buffer, then frame after frame with the child's buffer sizes.
 *
 * Input: byte 0 bits 0-1 pick max_message, bit 2 an Origin policy, bit 3
 * starts the flow already upgraded (frames only), and the byte seeds the
 * sizes of the reads; the rest is what the browser sent.  The stream is
 * fed whole, and in chunks as common/stream.c keeps an unframed tail (at
 * most input_max bytes, as stream_flow.c sizes it).  Checked:
 *   - an upgrade is answered whatever the request (101 carrying its
 *     Sec-WebSocket-Accept, or a refusal with one of the codec's
 *     statuses), and the answer fits the child's buffer; no request is
 *     waited for past WS_UPGRADE_MAX bytes;
 *   - a frame uses bytes within the buffer; a message is at most
 *     max_message, UTF-8 when text (§8.1), handed out in the caller's
 *     scratch and never in the input, and a single frame's message is its
 *     payload unmasked (§5.3); control payloads are at most 125 bytes, a
 *     Close's code one an endpoint may send and its reason UTF-8; errors
 *     name 1002, 1007, 1009 or 1011 and free the reader; a frame is never
 *     waited for past what the stream may hold;
 *   - how the bytes are split over reads changes nothing: the same
 *     upgrade, events and error at the same stream offsets;
 *   - no fragment buffer is left behind (LeakSanitizer).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "epsip/wire.h"
#include "epsip/ws.h"

#include "fuzz.h"

/* services/flow-manager/stream_flow.c and ws_flow.c. */
#define RBUF_SLACK	4096
#define RESPONSE_CAP	512

static const size_t max_messages[] = { 65536, 4096, 300, 64 };
static const char *const origins[] = {
	"https://phone.example.com", "http://127.0.0.1:8080",
};

/* What happened on the flow, where in the stream. */
struct event {
	size_t at;
	int what;		/* WS_EV_*, or 1000 + an upgrade's status,
				 * or 2000 + a protocol error's close code */
	uint8_t opcode;
	size_t len;
	uint64_t hash;
	uint16_t code;
};

struct flow {
	const struct ws_upgrade_policy *policy;
	size_t max, scratch_cap;
	uint8_t *scratch;
	int open, done;
	struct ws_reader reader;
	struct event *ev;
	size_t nev, cap;
};

static uint64_t
fnv1a(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++) {
		h = (h ^ p[i]) * 0x100000001b3ull;
	}
	return (h);
}

static void
record(struct flow *f, size_t at, int what, uint8_t opcode,
    const uint8_t *data, size_t len, uint16_t code)
{
	struct event *e;

	FUZZ_CHECK(f->nev < f->cap);
	e = &f->ev[f->nev++];
	e->at = at;
	e->what = what;
	e->opcode = opcode;
	e->len = len;
	e->hash = len > 0 ? fnv1a(data, len) : 0;
	e->code = code;
}

/* ws_flow.c, upgrade(): bytes used, 0 for more, -1 when refused. */
static ssize_t
upgrade(struct flow *f, const char *buf, size_t len, size_t at)
{
	struct ws_upgrade up;
	char response[RESPONSE_CAP], accept[64];
	int n;

	switch (ws_upgrade_parse(buf, len, f->policy, &up)) {
	case WS_UPGRADE_NEED_MORE:
		FUZZ_CHECK(len < WS_UPGRADE_MAX);
		return (0);
	case WS_UPGRADE_OK:
		FUZZ_CHECK(up.status == 101);
		FUZZ_CHECK(up.consumed > 0 && up.consumed <= len);
		FUZZ_CHECK(up.consumed <= WS_UPGRADE_MAX);
		FUZZ_CHECK(buf[up.consumed - 1] == '\n');
		FUZZ_CHECK(strlen(up.accept) == 28);
		n = ws_upgrade_response(&up, response, sizeof(response));
		FUZZ_CHECK(n > 0 && (size_t)n < sizeof(response));
		FUZZ_CHECK(strncmp(response, "HTTP/1.1 101 ", 13) == 0);
		snprintf(accept, sizeof(accept), "\r\nSec-WebSocket-Accept: "
		    "%s\r\n", up.accept);
		FUZZ_CHECK(strstr(response, accept) != NULL);
		record(f, at, 1101, 0, (const uint8_t *)up.accept, 28, 0);
		f->open = 1;
		return ((ssize_t)up.consumed);
	case WS_UPGRADE_REFUSED:
		FUZZ_CHECK(up.status == 400 || up.status == 403 ||
		    up.status == 405 || up.status == 426 || up.status == 431);
		FUZZ_CHECK(up.reason != NULL && up.accept[0] == '\0');
		n = ws_upgrade_response(&up, response, sizeof(response));
		FUZZ_CHECK(n > 0 && (size_t)n < sizeof(response));
		record(f, at, 1000 + up.status, 0, NULL, 0, 0);
		return (-1);
	}
	FUZZ_CHECK(!"unknown upgrade result");
	return (-1);
}

/* A server frame's header says back the length it was given. */
static void
check_header(uint8_t opcode, size_t len)
{
	uint8_t h[WS_HEADER_MAX];
	size_t hl = ws_frame_header(h, opcode, len);

	FUZZ_CHECK(h[0] == (0x80 | opcode));
	if (len <= 125) {
		FUZZ_CHECK(hl == 2 && h[1] == len);
	} else if (len <= UINT16_MAX) {
		FUZZ_CHECK(hl == 4 && h[1] == 126 &&
		    wire_load_u16(h + 2) == len);
	} else {
		FUZZ_CHECK(hl == 10 && h[1] == 127 &&
		    wire_load_u64(h + 2) == len);
	}
}

/* A final data frame that is not a continuation: its payload unmasked. */
static void
check_unmasked(const uint8_t *frame, size_t n, const struct ws_event *ev)
{
	size_t hs, plen;
	uint8_t len7 = frame[1] & 0x7f;
	const uint8_t *key;

	hs = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0);
	plen = len7 == 126 ? wire_load_u16(frame + 2) : len7 == 127 ?
	    (size_t)wire_load_u64(frame + 2) : len7;
	key = frame + hs;
	hs += 4;
	FUZZ_CHECK(hs + plen == n && ev->len == plen);
	for (size_t i = 0; i < plen; i++) {
		FUZZ_CHECK(ev->data[i] == (frame[hs + i] ^ key[i & 3]));
	}
}

static void
check_event(struct flow *f, const uint8_t *frame, size_t n,
    const struct ws_event *ev)
{
	FUZZ_CHECK(ev->len == 0 || (ev->data >= f->scratch &&
	    ev->data + ev->len <= f->scratch + f->scratch_cap));
	switch (ev->type) {
	case WS_EV_NONE:
		/* A fragment, kept until the message is whole. */
		FUZZ_CHECK(f->reader.msg_opcode == WS_OP_TEXT ||
		    f->reader.msg_opcode == WS_OP_BINARY);
		FUZZ_CHECK(f->reader.msg_len <= f->max);
		break;
	case WS_EV_MESSAGE:
		FUZZ_CHECK(ev->opcode == WS_OP_TEXT ||
		    ev->opcode == WS_OP_BINARY);
		FUZZ_CHECK(ev->len <= f->max);
		FUZZ_CHECK(ev->opcode != WS_OP_TEXT ||
		    ws_utf8_valid(ev->data, ev->len));
		FUZZ_CHECK(f->reader.msg == NULL &&
		    f->reader.msg_opcode == 0);
		if ((frame[0] & 0x0f) != WS_OP_CONTINUATION) {
			check_unmasked(frame, n, ev);
		}
		/* The router's answers go back as one frame each. */
		check_header(WS_OP_TEXT, ev->len);
		break;
	case WS_EV_PING:
	case WS_EV_PONG:
		FUZZ_CHECK(ev->len <= WS_CONTROL_MAX);
		check_header(WS_OP_PONG, ev->len);
		break;
	case WS_EV_CLOSE:
		FUZZ_CHECK(ev->len <= WS_CLOSE_REASON_MAX);
		FUZZ_CHECK(ws_utf8_valid(ev->data, ev->len));
		FUZZ_CHECK(ev->close_code == WS_CLOSE_NO_STATUS ?
		    ev->len == 0 : ((ev->close_code >= 1000 &&
		    ev->close_code <= 1003) || (ev->close_code >= 1007 &&
		    ev->close_code <= 1014) || (ev->close_code >= 3000 &&
		    ev->close_code <= 4999)));
		break;
	default:
		FUZZ_CHECK(!"unknown event");
	}
}

/* ws_flow.c, fm_ws_frame(): bytes used, or -1 once the flow closes. */
static ssize_t
frame(struct flow *f, const char *buf, size_t len, size_t at)
{
	const uint8_t *p = (const uint8_t *)buf;
	uint8_t payload[2];
	struct ws_event ev;
	uint16_t code;
	ssize_t n;
	size_t off = 0;

	if (!f->open) {
		if ((n = upgrade(f, buf, len, at)) <= 0) {
			return (n);
		}
		off = (size_t)n;
	}
	while (off < len) {
		n = ws_reader_next(&f->reader, p + off, len - off, f->scratch,
		    f->scratch_cap, f->max, &ev, &code);
		if (n == 0) {
			FUZZ_CHECK(code == 0 && ev.type == WS_EV_NONE);
			break;
		}
		if (n < 0) {
			FUZZ_CHECK(code == WS_CLOSE_PROTOCOL_ERROR ||
			    code == WS_CLOSE_INVALID_DATA ||
			    code == WS_CLOSE_TOO_BIG ||
			    code == WS_CLOSE_INTERNAL_ERROR);
			FUZZ_CHECK(f->reader.msg == NULL &&
			    f->reader.msg_len == 0);
			FUZZ_CHECK(ws_close_payload(payload, sizeof(payload),
			    code, NULL) == 2);
			record(f, at + off, 2000 + code, 0, NULL, 0, code);
			return (-1);
		}
		FUZZ_CHECK((size_t)n <= len - off);
		check_event(f, p + off, (size_t)n, &ev);
		record(f, at + off, ev.type, ev.opcode, ev.data, ev.len,
		    ev.close_code);
		off += (size_t)n;
		if (ev.type == WS_EV_CLOSE) {
			/* Our Close, then the TCP close: no more frames. */
			return (-1);
		}
	}
	return ((ssize_t)off);
}

static void
flow_init(struct flow *f, const struct ws_upgrade_policy *policy,
    size_t max, int open, size_t events)
{
	memset(f, 0, sizeof(*f));
	f->policy = policy;
	f->max = max;
	/* stream_flow.c, ws_init(): a frame or the upgrade request. */
	f->scratch_cap = max + WS_HEADER_MAX < WS_UPGRADE_MAX ?
	    WS_UPGRADE_MAX : max + WS_HEADER_MAX;
	f->scratch = malloc(f->scratch_cap);
	f->open = open;
	f->cap = events;
	f->ev = calloc(events, sizeof(*f->ev));
	if (f->scratch == NULL || f->ev == NULL) {
		abort();
	}
}

static void
flow_free(struct flow *f)
{
	ws_reader_free(&f->reader);
	free(f->scratch);
	free(f->ev);
}

/* The bytes read in chunks, framed as stream.c frames them. */
static void
feed_in_chunks(struct flow *f, const char *in, size_t len, uint32_t seed)
{
	size_t input_max = f->scratch_cap + RBUF_SLACK;
	size_t pending = 0, base = 0, pos = 0, room, n;
	ssize_t used;
	char *buf;

	if ((buf = malloc(input_max)) == NULL) {
		abort();
	}
	while (pos < len) {
		room = input_max - pending;
		/* The codec must use bytes before the buffer fills. */
		FUZZ_CHECK(room > 0);
		n = fuzz_chunk(&seed, len - pos);
		n = n < room ? n : room;
		memcpy(buf + pending, in + pos, n);
		pending += n;
		pos += n;
		if ((used = frame(f, buf, pending, base)) == -1) {
			break;
		}
		memmove(buf, buf + used, pending - (size_t)used);
		pending -= (size_t)used;
		base += (size_t)used;
	}
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ws_upgrade_policy any = { NULL, 0 };
	struct ws_upgrade_policy some = { origins, 2 };
	const struct ws_upgrade_policy *policy;
	struct flow whole, chunked;
	const char *in;
	size_t max, len;
	uint32_t seed;
	int open;

	if (size < 1) {
		return (0);
	}
	max = max_messages[data[0] & 3];
	policy = (data[0] & 4) ? &some : &any;
	open = (data[0] & 8) != 0;
	seed = 0x85ebca6bu ^ data[0] ^ (uint32_t)size << 8;
	in = (const char *)data + 1;
	len = size - 1;

	/* A frame is 6 bytes at least; an upgrade and an error one each. */
	flow_init(&whole, policy, max, open, len / 6 + 3);
	flow_init(&chunked, policy, max, open, len / 6 + 3);
	(void)frame(&whole, in, len, 0);
	feed_in_chunks(&chunked, in, len, seed);
	FUZZ_CHECK(whole.nev == chunked.nev);
	for (size_t i = 0; i < whole.nev; i++) {
		const struct event *a = &whole.ev[i], *b = &chunked.ev[i];

		FUZZ_CHECK(a->at == b->at && a->what == b->what &&
		    a->opcode == b->opcode && a->len == b->len &&
		    a->hash == b->hash && a->code == b->code);
	}
	flow_free(&whole);
	flow_free(&chunked);
	return (0);
}
