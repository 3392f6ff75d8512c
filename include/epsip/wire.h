/*
 * wire.h -- bounds-checked reading and writing of EPSIP's byte formats:
 * the IPC envelope and batch (ipc.h), the flow-manager's control messages,
 * flow tokens and STUN.
 *
 * Every integer goes out big-endian (network byte order).  A reader or a
 * writer is a cursor over one buffer.  A get or put that would run past
 * the end fails, and so does every one after it: the error is sticky, so
 * a decoder reads its fields one after the other and asks once at the end
 * (wire_read_failed(), or wire_read_end() where the format has an exact
 * length), as OpenSMTPD's m_get_*() and m_end() do, and an encoder asks
 * wire_write_end().  A failed get returns 0, NULL or zeroed bytes; a
 * failed put writes nothing.
 *
 * The functions are inline: the codecs call them once a field, for every
 * message between processes.
 *
 * wire_load_*() and wire_store_*() are the unchecked steps beneath, for a
 * field at a fixed offset of a buffer already known to hold it.
 */
#ifndef EPSIP_WIRE_H
#define EPSIP_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct epsip_addr;

/* An address on the wire: family(1) port(2) ip(16), see wire_put_addr(). */
#define WIRE_ADDR_SIZE		19

struct wire_reader {
	const uint8_t *p;	/* the next byte */
	size_t left;		/* bytes from p on; 0 once failed */
	int failed;
};

struct wire_writer {
	uint8_t *p;		/* where the next byte goes */
	size_t left;		/* room from p on; 0 once failed */
	size_t len;		/* bytes written */
	int failed;
};

static inline uint16_t
wire_load_u16(const uint8_t *p)
{
	return ((uint16_t)(p[0] << 8 | p[1]));
}

static inline uint32_t
wire_load_u32(const uint8_t *p)
{
	return ((uint32_t)wire_load_u16(p) << 16 | wire_load_u16(p + 2));
}

static inline uint64_t
wire_load_u64(const uint8_t *p)
{
	return ((uint64_t)wire_load_u32(p) << 32 | wire_load_u32(p + 4));
}

static inline void
wire_store_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void
wire_store_u32(uint8_t *p, uint32_t v)
{
	wire_store_u16(p, (uint16_t)(v >> 16));
	wire_store_u16(p + 2, (uint16_t)v);
}

static inline void
wire_store_u64(uint8_t *p, uint64_t v)
{
	wire_store_u32(p, (uint32_t)(v >> 32));
	wire_store_u32(p + 4, (uint32_t)v);
}

/*
 * Whether n more bytes fit in the `left` of a reader or writer; when they
 * do not, it fails for good.  A get or put asks this, then moves on with
 * wire_take() or wire_advance().  (Built on wire_get_ptr() and a test for
 * NULL instead, the puts make GCC 12 follow a NULL buffer through them
 * and fail the build with -Wstringop-overflow.)
 */
static inline int
wire_fits(size_t *left, int *failed, size_t n)
{
	if (*failed || n > *left) {
		*failed = 1;
		*left = 0;
		return (0);
	}
	return (1);
}

/* --- reading --- */

static inline void
wire_reader_init(struct wire_reader *r, const void *buf, size_t len)
{
	r->p = buf;
	r->left = len;
	r->failed = 0;
}

static inline int
wire_has(struct wire_reader *r, size_t n)
{
	return (wire_fits(&r->left, &r->failed, n));
}

/* The next n bytes, which wire_has() said are there, consumed. */
static inline const uint8_t *
wire_take(struct wire_reader *r, size_t n)
{
	const uint8_t *p = r->p;

	r->p += n;
	r->left -= n;
	return (p);
}

/*
 * The next n bytes, consumed: a pointer into the buffer, or NULL when
 * fewer than n are left (and from then on).
 */
static inline const uint8_t *
wire_get_ptr(struct wire_reader *r, size_t n)
{
	return (wire_has(r, n) ? wire_take(r, n) : NULL);
}

static inline uint8_t
wire_get_u8(struct wire_reader *r)
{
	return (wire_has(r, 1) ? wire_take(r, 1)[0] : 0);
}

static inline uint16_t
wire_get_u16(struct wire_reader *r)
{
	return (wire_has(r, 2) ? wire_load_u16(wire_take(r, 2)) : 0);
}

static inline uint32_t
wire_get_u32(struct wire_reader *r)
{
	return (wire_has(r, 4) ? wire_load_u32(wire_take(r, 4)) : 0);
}

static inline uint64_t
wire_get_u64(struct wire_reader *r)
{
	return (wire_has(r, 8) ? wire_load_u64(wire_take(r, 8)) : 0);
}

/* Copy the next n bytes out; zeroes when they are not there. */
static inline void
wire_get_bytes(struct wire_reader *r, void *out, size_t n)
{
	if (!wire_has(r, n)) {
		memset(out, 0, n);
	} else if (n > 0) {
		memcpy(out, wire_take(r, n), n);
	}
}

/*
 * A blob behind its length: length(4), then that many bytes.  Returns
 * them (in the buffer) with *len set, or NULL with *len 0 when either
 * runs past the end.
 */
static inline const uint8_t *
wire_get_blob(struct wire_reader *r, uint32_t *len)
{
	const uint8_t *p;

	*len = wire_get_u32(r);
	if ((p = wire_get_ptr(r, *len)) == NULL) {
		*len = 0;
	}
	return (p);
}

static inline void
wire_skip(struct wire_reader *r, size_t n)
{
	(void)wire_get_ptr(r, n);
}

static inline size_t
wire_remaining(const struct wire_reader *r)
{
	return (r->left);
}

static inline int
wire_read_failed(const struct wire_reader *r)
{
	return (r->failed);
}

/*
 * For a format of exact length: 0 when every read fitted and nothing is
 * left over, else -1 (and the reader has failed).
 */
static inline int
wire_read_end(struct wire_reader *r)
{
	if (r->left != 0) {
		r->failed = 1;
		r->left = 0;
	}
	return (r->failed ? -1 : 0);
}

/* --- writing --- */

static inline void
wire_writer_init(struct wire_writer *w, void *buf, size_t cap)
{
	w->p = buf;
	w->left = cap;
	w->len = 0;
	w->failed = 0;
}

static inline int
wire_room(struct wire_writer *w, size_t n)
{
	return (wire_fits(&w->left, &w->failed, n));
}

/* Where the next n bytes go, which wire_room() said fit, counted written. */
static inline uint8_t *
wire_advance(struct wire_writer *w, size_t n)
{
	uint8_t *p = w->p;

	w->p += n;
	w->left -= n;
	w->len += n;
	return (p);
}

/*
 * Room for the next n bytes, counted as written: the caller fills it.
 * NULL when there is not that much room (and from then on).
 */
static inline uint8_t *
wire_put_ptr(struct wire_writer *w, size_t n)
{
	return (wire_room(w, n) ? wire_advance(w, n) : NULL);
}

static inline void
wire_put_u8(struct wire_writer *w, uint8_t v)
{
	if (wire_room(w, 1)) {
		wire_advance(w, 1)[0] = v;
	}
}

static inline void
wire_put_u16(struct wire_writer *w, uint16_t v)
{
	if (wire_room(w, 2)) {
		wire_store_u16(wire_advance(w, 2), v);
	}
}

static inline void
wire_put_u32(struct wire_writer *w, uint32_t v)
{
	if (wire_room(w, 4)) {
		wire_store_u32(wire_advance(w, 4), v);
	}
}

static inline void
wire_put_u64(struct wire_writer *w, uint64_t v)
{
	if (wire_room(w, 8)) {
		wire_store_u64(wire_advance(w, 8), v);
	}
}

/* n bytes of src, which must not overlap the output. */
static inline void
wire_put_bytes(struct wire_writer *w, const void *src, size_t n)
{
	if (wire_room(w, n) && n > 0) {
		memcpy(wire_advance(w, n), src, n);
	}
}

/* n zero bytes: padding, or the unused tail of a field. */
static inline void
wire_put_zero(struct wire_writer *w, size_t n)
{
	if (wire_room(w, n) && n > 0) {
		memset(wire_advance(w, n), 0, n);
	}
}

static inline size_t
wire_written(const struct wire_writer *w)
{
	return (w->len);
}

/* 0 when every put fitted, else -1. */
static inline int
wire_write_end(const struct wire_writer *w)
{
	return (w->failed ? -1 : 0);
}

/* --- addresses --- */

/*
 * The one encoding of struct epsip_addr, in the IPC envelope and the
 * flow-manager's control messages: family(1) port(2) ip(16), where IPv4
 * takes the first four bytes of ip and the other twelve are zero.  The
 * family is not checked here: which families a format allows is its own
 * rule.  wire_get_addr() zeroes the bytes the family does not use.
 */
void wire_put_addr(struct wire_writer *w, const struct epsip_addr *a);
void wire_get_addr(struct wire_reader *r, struct epsip_addr *a);

#endif /* EPSIP_WIRE_H */
