/*
 * fuzz_sip_frame.c -- SIP framing on a TCP or TLS stream
 * (common/sip_frame.c), driven as the flow-manager drives it
 * (services/flow-manager/tcp_flow.c, fm_sip_stream_frame): message after
 * message from the front of the buffer until it needs more bytes or
 * framing is lost.
 *
 * Input: byte 0 picks max_message (bits 0-1) and seeds the sizes of the
 * reads; the rest is what the phone sent.  The stream is framed twice:
 * whole, and read in chunks the way common/stream.c keeps an unframed
 * tail (at most input_max bytes, as the child sizes it).  Checked:
 *   - every answer keeps sip_frame.h's promises: a message or ping uses
 *     bytes (consumed > 0) and lies inside the buffer, its length within
 *     max_message, its header section ending in LF; NEED_MORE and ERROR
 *     use none; an error's answer is 400, 513 or none;
 *   - NEED_MORE never holds max_message bytes or more: a peer cannot make
 *     a flow buffer without bound (ER-04), nor fill the stream's buffer
 *     so that it can neither frame nor read;
 *   - how the bytes are split over reads changes nothing: the same
 *     messages, pings and error at the same stream offsets.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "epsip/sip_frame.h"

#include "fuzz.h"

/* services/flow-manager/stream_flow.c: a stream holds max + this. */
#define RBUF_SLACK	4096

static const size_t max_messages[] = { 65536, 4096, 512, 64 };

/* One unit framed (NEED_MORE is not one), where it began in the stream. */
struct unit {
	enum sip_frame_kind kind;
	size_t at;
	struct sip_frame fr;
};

struct units {
	struct unit *u;
	size_t n, cap;
};

static void
units_add(struct units *us, size_t at, const struct sip_frame *fr)
{
	FUZZ_CHECK(us->n < us->cap);
	us->u[us->n].kind = fr->kind;
	us->u[us->n].at = at;
	us->u[us->n].fr = *fr;
	us->n++;
}

/* What sip_frame.h promises about one answer on b[0..n). */
static void
check_answer(const char *b, size_t n, size_t max, const struct sip_frame *fr)
{
	switch (fr->kind) {
	case SIP_FRAME_MESSAGE:
		FUZZ_CHECK(fr->consumed > 0);
		FUZZ_CHECK(fr->consumed == fr->offset + fr->length);
		FUZZ_CHECK(fr->consumed <= n);
		FUZZ_CHECK(fr->offset == 0 || (fr->offset == 2 &&
		    memcmp(b, "\r\n", 2) == 0));
		FUZZ_CHECK(fr->length <= max);
		FUZZ_CHECK(fr->header_length > 0 &&
		    fr->header_length <= fr->length);
		/* A start line, or a line of text the router answers
		 * (issue 12 §5): never a control byte first. */
		FUZZ_CHECK((unsigned char)b[fr->offset] >= 0x20 ||
		    b[fr->offset] == '\t');
		FUZZ_CHECK(b[fr->offset] != 0x7f);
		FUZZ_CHECK(b[fr->offset + fr->header_length - 1] == '\n');
		break;
	case SIP_FRAME_PING:
		FUZZ_CHECK(fr->consumed == 4 && n >= 4);
		FUZZ_CHECK(memcmp(b, "\r\n\r\n", 4) == 0);
		break;
	case SIP_FRAME_NEED_MORE:
		FUZZ_CHECK(fr->consumed == 0);
		/* A lone CRLF may lead: 2 bytes more than the message. */
		FUZZ_CHECK(n < max + 2);
		break;
	case SIP_FRAME_ERROR:
		FUZZ_CHECK(fr->consumed == 0);
		FUZZ_CHECK(fr->error != SIP_FRAME_ERR_NONE);
		FUZZ_CHECK(fr->status == 0 || fr->status == 400 ||
		    fr->status == 513);
		FUZZ_CHECK(fr->offset + fr->header_length <= n);
		FUZZ_CHECK(fr->error != SIP_FRAME_ERR_STUN ||
		    (uint8_t)b[0] <= 1);
		FUZZ_CHECK(strcmp(sip_frame_error_name(fr->error),
		    "unknown") != 0);
		break;
	default:
		FUZZ_CHECK(!"unknown kind");
	}
}

/*
 * fm_sip_stream_frame()'s loop over buf[0..len), `at` being where buf
 * starts in the stream: the bytes used, or -1 once framing is lost.
 */
static ssize_t
frame(const char *buf, size_t len, size_t at, size_t max, struct units *us)
{
	struct sip_frame fr;
	size_t off = 0;

	for (;;) {
		(void)sip_frame_stream_next(buf + off, len - off, max, &fr);
		check_answer(buf + off, len - off, max, &fr);
		if (fr.kind == SIP_FRAME_NEED_MORE) {
			return ((ssize_t)off);
		}
		units_add(us, at + off, &fr);
		if (fr.kind == SIP_FRAME_ERROR) {
			return (-1);
		}
		off += fr.consumed;
	}
}

/*
 * The stream read in chunks: what stream.c does with the bytes of each
 * read (frame what is pending, keep the tail, never hold more than
 * input_max), until the input ends or framing is lost.
 */
static void
frame_in_chunks(const char *in, size_t len, size_t max, uint32_t seed,
    struct units *us)
{
	size_t input_max = max + RBUF_SLACK, pending = 0, base = 0, pos = 0;
	size_t room, n;
	ssize_t used;
	char *buf;

	if ((buf = malloc(input_max)) == NULL) {
		abort();
	}
	while (pos < len) {
		room = input_max - pending;
		/* Framing must use bytes before the buffer fills. */
		FUZZ_CHECK(room > 0);
		n = fuzz_chunk(&seed, len - pos);
		n = n < room ? n : room;
		memcpy(buf + pending, in + pos, n);
		pending += n;
		pos += n;
		if ((used = frame(buf, pending, base, max, us)) == -1) {
			break;
		}
		memmove(buf, buf + used, pending - (size_t)used);
		pending -= (size_t)used;
		base += (size_t)used;
	}
	free(buf);
}

static int
same_unit(const struct unit *a, const struct unit *b)
{
	return (a->kind == b->kind && a->at == b->at &&
	    a->fr.consumed == b->fr.consumed &&
	    a->fr.offset == b->fr.offset && a->fr.length == b->fr.length &&
	    a->fr.header_length == b->fr.header_length &&
	    a->fr.error == b->fr.error && a->fr.status == b->fr.status);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct units whole, chunked;
	const char *in;
	size_t max, len;
	uint32_t seed;

	if (size < 1) {
		return (0);
	}
	max = max_messages[data[0] & 3];
	seed = 0x9e3779b9u ^ data[0] ^ (uint32_t)size << 8;
	in = (const char *)data + 1;
	len = size - 1;
	whole.n = chunked.n = 0;
	/* A ping is 4 bytes, a message more; one error ends the stream. */
	whole.cap = chunked.cap = len / 4 + 2;
	whole.u = calloc(whole.cap, sizeof(*whole.u));
	chunked.u = calloc(chunked.cap, sizeof(*chunked.u));
	if (whole.u == NULL || chunked.u == NULL) {
		abort();
	}
	(void)frame(in, len, 0, max, &whole);
	frame_in_chunks(in, len, max, seed, &chunked);
	FUZZ_CHECK(whole.n == chunked.n);
	for (size_t i = 0; i < whole.n; i++) {
		FUZZ_CHECK(same_unit(&whole.u[i], &chunked.u[i]));
	}
	free(whole.u);
	free(chunked.u);
	return (0);
}
