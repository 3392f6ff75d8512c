/*
 * sip_edit.h -- a hop's edits to a SIP message, spliced into its
 * original bytes.
 *
 * A proxy owns a few headers (its Via, Route, Record-Route or Path,
 * Max-Forwards) and must leave every other byte as it came: carriers'
 * SBCs and phones compare header names case-sensitively, and reprinting
 * the whole message costs more CPU than the edits.  So edits are recorded
 * against the original buffer (offsets from sip_scan()) and one
 * sip_edit_apply() builds the output in one allocation.  The body is
 * copied byte for byte unless an edit cuts it.  Headers written here use
 * the spelling given by the caller and end in CRLF.
 *
 * Errors are sticky: a failed edit (too many, overlapping, out of bounds)
 * makes sip_edit_apply() fail, so callers need not check every step.
 */
#ifndef EPSIP_SIP_EDIT_H
#define EPSIP_SIP_EDIT_H

#include <stddef.h>

#include "epsip/sip_scan.h"

#define SIP_EDIT_MAX_OPS	64
#define SIP_EDIT_TEXT_MAX	4096	/* all text one message gains */

/* Replace buf[off..off+cut) by text[text..text+text_len). */
struct sip_edit_op {
	size_t off;
	size_t cut;
	size_t text;
	size_t text_len;
	unsigned seq;		/* inserts at one offset keep order */
};

struct sip_edit {
	const struct sip_scan *scan;
	size_t count;
	unsigned seq;
	int failed;
	size_t sealed;		/* ops before it are never merged into */
	int failed_at_mark;
	size_t text_used;
	struct sip_edit_op op[SIP_EDIT_MAX_OPS];
	char text[SIP_EDIT_TEXT_MAX];
};

void sip_edit_init(struct sip_edit *e, const struct sip_scan *scan);

/* Edits recorded so far; sip_edit_rollback() forgets those after it. */
size_t sip_edit_mark(struct sip_edit *e);
void sip_edit_rollback(struct sip_edit *e, size_t mark);

/* The primitive: replace `cut` bytes at `off` by `len` bytes of text. */
void sip_edit_splice(struct sip_edit *e, size_t off, size_t cut,
    const char *text, size_t len);
void sip_edit_replace(struct sip_edit *e, struct sip_span span,
    const char *text);

/* "name: value\r\n" inserted at `off`, which must start a line. */
void sip_edit_insert_header(struct sip_edit *e, size_t off,
    const char *name, const char *value);

/*
 * Where a header `id` goes on top of its kind: before its first line;
 * without one, after the last Via line (the routing headers' end of the
 * message), else before the first header.
 */
size_t sip_edit_top_of(const struct sip_scan *s, enum sip_hdr_id id);

/*
 * A head cut short (no blank line) whose last line lacks its line end
 * gets one: "\r\n", or only "\n" after the CR that is there; none when
 * the edits recorded so far removed that line.  Call it after them.
 */
void sip_edit_end_cut_line(struct sip_edit *e);

/* Remove header line `i` with its continuation lines. */
void sip_edit_remove_line(struct sip_edit *e, size_t i);

/*
 * Remove the first `first` and the last `last` values of the comma list
 * formed by every `id` line in order (Via: a, b / Via: c is a, b, c).
 * A line left with no value goes as a whole; otherwise only its removed
 * values and their commas go: popping one of `Via: a, b` leaves `Via: b`.
 * -1 (and a failed edit) when there are fewer values than that.
 */
int sip_edit_remove_values(struct sip_edit *e, enum sip_hdr_id id,
    size_t first, size_t last);

/*
 * Set `;name=value` on one value (a Via's received, rport): the existing
 * parameter's value is replaced (its name keeps its case), a parameter
 * without value gets one, a missing one is appended to the value.
 */
void sip_edit_set_param(struct sip_edit *e, struct sip_span item,
    const char *name, const char *value);

/* The first value of header line `i`; 0 when it has none. */
int sip_edit_first_value(const struct sip_scan *s, size_t i,
    struct sip_span *item);

/*
 * Build the edited message: *out malloc'ed, NUL-terminated (not counted
 * in *len).  0, or -1 when an edit failed or edits overlap.
 */
int sip_edit_apply(const struct sip_edit *e, char **out, size_t *len);

#endif /* EPSIP_SIP_EDIT_H */
