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

#include "core_conn.h"

static void
cn_report_undelivered(struct loop *loop, void *arg)
{
	struct core_net *n = arg;
	struct stream_queue list;
	struct stream_chunk *w;

	(void)loop;
	/* Detached first: what the core sends in answer may fail too, and
	 * is then reported on the next turn of the loop. */
	STAILQ_INIT(&list);
	STAILQ_CONCAT(&list, &n->undel);
	n->undel_timer = -1;
	while ((w = STAILQ_FIRST(&list)) != NULL) {
		STAILQ_REMOVE_HEAD(&list, entry);
		n->undelivered(n->ev.arg, w->data, w->len);
		free(w);
	}
}

static void
cn_undelivered_arm(struct core_net *n)
{
	if (n->undel_timer < 0) {
		n->undel_timer = loop_after(n->loop, 0, cn_report_undelivered,
		    n);
	}
}

void
cn_undelivered_take(struct core_net *n, struct stream *s)
{
	if (stream_take_queue(s, &n->undel) > 0) {
		cn_undelivered_arm(n);
	}
}

void
cn_undelivered_add(struct core_net *n, const char *buf, size_t len)
{
	struct stream_chunk *w;

	if (n->undelivered == NULL ||
	    (w = stream_chunk_new(buf, len)) == NULL) {
		return;
	}
	STAILQ_INSERT_TAIL(&n->undel, w, entry);
	cn_undelivered_arm(n);
}

void
cn_undelivered_free(struct core_net *n)
{
	stream_chunks_free(&n->undel);
	if (n->undel_timer >= 0) {
		loop_cancel(n->loop, n->undel_timer);
		n->undel_timer = -1;
	}
}
