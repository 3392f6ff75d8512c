/*
 * sip_edit.c -- edits spliced into a SIP message's original bytes (see
 * sip_edit.h).  Nothing is allocated until sip_edit_apply(), which makes
 * exactly one buffer of exactly the output's size.
 * DIAGNOSTICS: none; a failed edit makes sip_edit_apply() return -1.
 */
#include <stdlib.h>
#include <string.h>

#include "epsip/sip_edit.h"

void
sip_edit_init(struct sip_edit *e, const struct sip_scan *scan)
{
	e->scan = scan;
	e->count = 0;
	e->seq = 0;
	e->failed = 0;
	e->text_used = 0;
	e->sealed = 0;
	e->failed_at_mark = 0;
}

size_t
sip_edit_mark(struct sip_edit *e)
{
	e->sealed = e->count;
	e->failed_at_mark = e->failed;
	return (e->count);
}

void
sip_edit_rollback(struct sip_edit *e, size_t mark)
{
	if (mark > e->count) {
		return;
	}
	e->count = mark;
	e->sealed = mark;
	e->failed = e->failed_at_mark;
	e->text_used = mark > 0 ? e->op[mark - 1].text +
	    e->op[mark - 1].text_len : 0;
}

/* Room for `len` more bytes of text; NULL (and failed) when there is none. */
static char *
text_room(struct sip_edit *e, size_t len)
{
	if (len > sizeof(e->text) - e->text_used) {
		e->failed = 1;
		return (NULL);
	}
	return (e->text + e->text_used);
}

/* Record an op whose `len` bytes of text were written at text_room(). */
static void
push_op(struct sip_edit *e, size_t off, size_t cut, size_t len)
{
	struct sip_edit_op *last = e->count > 0 ? &e->op[e->count - 1] :
	    NULL;

	if (off > e->scan->len || cut > e->scan->len - off) {
		e->failed = 1;
		return;
	}
	/* Adjacent removals become one: a reply drops runs of lines. */
	if (len == 0 && last != NULL && e->count > e->sealed &&
	    last->text_len == 0 && last->cut > 0 &&
	    last->off + last->cut == off) {
		last->cut += cut;
		return;
	}
	if (e->count == SIP_EDIT_MAX_OPS) {
		e->failed = 1;
		return;
	}
	e->op[e->count].off = off;
	e->op[e->count].cut = cut;
	e->op[e->count].text = e->text_used;
	e->op[e->count].text_len = len;
	e->op[e->count].seq = e->seq++;
	e->count++;
	e->text_used += len;
}

void
sip_edit_splice(struct sip_edit *e, size_t off, size_t cut, const char *text,
    size_t len)
{
	char *room;

	if (len == 0 && cut == 0) {
		return;
	}
	if ((room = text_room(e, len)) == NULL) {
		return;
	}
	if (len > 0) {
		memcpy(room, text, len);
	}
	push_op(e, off, cut, len);
}

void
sip_edit_replace(struct sip_edit *e, struct sip_span span, const char *text)
{
	sip_edit_splice(e, span.off, span.len, text, strlen(text));
}

void
sip_edit_insert_header(struct sip_edit *e, size_t off, const char *name,
    const char *value)
{
	size_t nlen = strlen(name), vlen = strlen(value);
	size_t len = nlen + 2 + vlen + 2;
	char *room;

	if ((room = text_room(e, len)) == NULL) {
		return;
	}
	memcpy(room, name, nlen);
	memcpy(room + nlen, ": ", 2);
	memcpy(room + nlen + 2, value, vlen);
	memcpy(room + nlen + 2 + vlen, "\r\n", 2);
	push_op(e, off, 0, len);
}

/* Whether an edit recorded so far cuts the head's last line whole. */
static int
last_line_removed(const struct sip_edit *e)
{
	const struct sip_scan *s = e->scan;
	size_t last = s->count > 0 ? s->h[s->count - 1].line.off :
	    s->start_line.off;

	for (size_t i = 0; i < e->count; i++) {
		if (e->op[i].cut > 0 && e->op[i].off <= last &&
		    e->op[i].off + e->op[i].cut == s->headers_end) {
			return (1);
		}
	}
	return (0);
}

void
sip_edit_end_cut_line(struct sip_edit *e)
{
	const struct sip_scan *s = e->scan;

	/* A line the edits removed needs no end: a blank line would
	 * end the head there, before what is inserted after it. */
	if (s->has_blank_line || s->len == 0 || s->buf[s->len - 1] == '\n' ||
	    last_line_removed(e)) {
		return;
	}
	/* Not "\r\r\n": RFC 3261 has CR only in CRLF (sip_scan.c). */
	if (s->buf[s->len - 1] == '\r') {
		sip_edit_splice(e, s->headers_end, 0, "\n", 1);
	} else {
		sip_edit_splice(e, s->headers_end, 0, "\r\n", 2);
	}
}

size_t
sip_edit_top_of(const struct sip_scan *s, enum sip_hdr_id id)
{
	int i = sip_scan_find(s, id, 0);
	size_t last_via = 0, seen = 0;

	if (i >= 0) {
		return (s->h[i].line.off);
	}
	for (size_t j = 0; j < s->count; j++) {
		if (s->h[j].id == SIP_HDR_VIA) {
			last_via = j;
			seen = 1;
		}
	}
	if (seen) {
		return (s->h[last_via].line.off + s->h[last_via].line.len);
	}
	return (s->count > 0 ? s->h[0].line.off : s->headers_end);
}

void
sip_edit_remove_line(struct sip_edit *e, size_t i)
{
	if (i >= e->scan->count) {
		e->failed = 1;
		return;
	}
	sip_edit_splice(e, e->scan->h[i].line.off, e->scan->h[i].line.len,
	    NULL, 0);
}

int
sip_edit_first_value(const struct sip_scan *s, size_t i,
    struct sip_span *item)
{
	size_t pos;

	if (i >= s->count) {
		return (0);
	}
	pos = s->h[i].value.off;
	return (sip_value_next(s->buf, s->h[i].value, &pos, item));
}

/*
 * On one line of `n` values, remove the first `p` and the last `q`
 * (p + q < n): from the first value to the first one kept, and from the
 * end of the last one kept to the end of the value.
 */
static void
remove_in_line(struct sip_edit *e, size_t i, size_t n, size_t p, size_t q)
{
	const struct sip_header_line *h = &e->scan->h[i];
	struct sip_span item, first = { 0, 0 };
	size_t pos = h->value.off, k = 0;

	while (k < n && sip_value_next(e->scan->buf, h->value, &pos, &item)) {
		if (k == 0) {
			first = item;
		}
		if (p > 0 && k == p) {
			sip_edit_splice(e, first.off, item.off - first.off,
			    NULL, 0);
		}
		if (q > 0 && k == n - q - 1) {
			size_t end = item.off + item.len;

			sip_edit_splice(e, end, h->value.off + h->value.len -
			    end, NULL, 0);
		}
		k++;
	}
}

int
sip_edit_remove_values(struct sip_edit *e, enum sip_hdr_id id, size_t first,
    size_t last)
{
	const struct sip_scan *s = e->scan;
	size_t total = 0, base = 0;

	for (size_t i = 0; i < s->count; i++) {
		if (s->h[i].id == id) {
			total += sip_scan_value_count(s, i);
		}
	}
	if (first + last > total) {
		e->failed = 1;
		return (-1);
	}
	for (size_t i = 0; i < s->count && (first > 0 || last > 0); i++) {
		size_t n, p, q;

		if (s->h[i].id != id) {
			continue;
		}
		n = sip_scan_value_count(s, i);
		/* Values base..base+n-1 of the whole list are on this line. */
		p = first > base ? (first - base < n ? first - base : n) : 0;
		q = base + n > total - last ? base + n - (total - last) : 0;
		if (q > n) {
			q = n;
		}
		if (p + q >= n) {
			sip_edit_remove_line(e, i);
		} else {
			remove_in_line(e, i, n, p, q);
		}
		base += n;
	}
	return (0);
}

void
sip_edit_set_param(struct sip_edit *e, struct sip_span item, const char *name,
    const char *value)
{
	struct sip_span param, pvalue;
	size_t nlen = strlen(name), vlen = strlen(value);
	char *room;

	if (sip_item_param(e->scan->buf, item, name, &param, &pvalue)) {
		if (pvalue.len > 0) {
			if (pvalue.len != vlen || memcmp(e->scan->buf +
			    pvalue.off, value, vlen) != 0) {
				sip_edit_replace(e, pvalue, value);
			}
			return;
		}
		/* `;rport` without a value: `=value` after its name. */
		if ((room = text_room(e, vlen + 1)) == NULL) {
			return;
		}
		room[0] = '=';
		memcpy(room + 1, value, vlen);
		push_op(e, param.off + param.len, 0, vlen + 1);
		return;
	}
	if ((room = text_room(e, nlen + vlen + 2)) == NULL) {
		return;
	}
	room[0] = ';';
	memcpy(room + 1, name, nlen);
	room[nlen + 1] = '=';
	memcpy(room + nlen + 2, value, vlen);
	push_op(e, item.off + item.len, 0, nlen + vlen + 2);
}

/* Apply order: by offset; at one offset inserts first, then by seq. */
static int
op_before(const struct sip_edit_op *a, const struct sip_edit_op *b)
{
	if (a->off != b->off) {
		return (a->off < b->off);
	}
	if ((a->cut == 0) != (b->cut == 0)) {
		return (a->cut == 0);
	}
	return (a->seq < b->seq);
}

int
sip_edit_apply(const struct sip_edit *e, char **outp, size_t *lenp)
{
	const struct sip_edit_op *order[SIP_EDIT_MAX_OPS];
	const char *buf = e->scan->buf;
	size_t n = e->count, total = e->scan->len, cursor = 0, o = 0;
	char *out;

	if (e->failed) {
		return (-1);
	}
	for (size_t i = 0; i < n; i++) {
		size_t j = i;

		/* Insertion sort: a handful of ops, mostly in order already. */
		while (j > 0 && op_before(&e->op[i], order[j - 1])) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = &e->op[i];
		total += e->op[i].text_len;
		total -= e->op[i].cut;
	}
	for (size_t i = 0; i < n; i++) {
		if (order[i]->off < cursor) {
			return (-1);	/* overlapping edits */
		}
		cursor = order[i]->off + order[i]->cut;
	}
	if ((out = malloc(total + 1)) == NULL) {
		return (-1);
	}
	cursor = 0;
	for (size_t i = 0; i < n; i++) {
		const struct sip_edit_op *op = order[i];

		memcpy(out + o, buf + cursor, op->off - cursor);
		o += op->off - cursor;
		memcpy(out + o, e->text + op->text, op->text_len);
		o += op->text_len;
		cursor = op->off + op->cut;
	}
	memcpy(out + o, buf + cursor, e->scan->len - cursor);
	o += e->scan->len - cursor;
	out[o] = '\0';
	*outp = out;
	*lenp = o;
	return (0);
}
