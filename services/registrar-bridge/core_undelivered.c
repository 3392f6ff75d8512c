/*
 * core_undelivered.c -- messages the core side could not deliver (see
 * core_net.h, the undelivered callback): the ones waiting on a connection we
 * dialed that never connected, and requests refused at once.  They are
 * handed up from a zero-delay timer, never from inside the call that
 * found the failure, because the core answers by sending again (the
 * embedded core fails over to the phone's next flow).
 *
 * DIAGNOSTICS: none; a copy that cannot be allocated is not reported,
 * and its request times out instead.
 */
#include <stdlib.h>
#include <string.h>

#include "core_conn.h"

static void
cn_report_undelivered(struct loop *loop, void *arg)
{
	struct core_net *n = arg;
	struct cn_chunk *w, *list = n->undel_head;

	(void)loop;
	/* Detached first: what the core sends in answer may fail too, and
	 * is then reported on the next turn of the loop. */
	n->undel_head = n->undel_tail = NULL;
	n->undel_timer = -1;
	while ((w = list) != NULL) {
		list = w->next;
		n->undelivered(n->ev.arg, w->data, w->len);
		free(w);
	}
}

void
cn_undelivered_push(struct core_net *n, struct cn_chunk *w)
{
	w->next = NULL;
	if (n->undel_tail != NULL) {
		n->undel_tail->next = w;
	} else {
		n->undel_head = w;
	}
	n->undel_tail = w;
	if (n->undel_timer < 0) {
		n->undel_timer = loop_after(n->loop, 0, cn_report_undelivered,
		    n);
	}
}

void
cn_undelivered_add(struct core_net *n, const char *buf, size_t len)
{
	struct cn_chunk *w;

	if (n->undelivered == NULL ||
	    (w = malloc(sizeof(*w) + len)) == NULL) {
		return;
	}
	w->len = len;
	w->off = 0;
	memcpy(w->data, buf, len);
	cn_undelivered_push(n, w);
}

void
cn_undelivered_free(struct core_net *n)
{
	struct cn_chunk *w;

	while ((w = n->undel_head) != NULL) {
		n->undel_head = w->next;
		free(w);
	}
	n->undel_tail = NULL;
	if (n->undel_timer >= 0) {
		loop_cancel(n->loop, n->undel_timer);
		n->undel_timer = -1;
	}
}
