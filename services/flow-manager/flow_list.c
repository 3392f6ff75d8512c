/*
 * flow_list.c -- a child lists its flows for epsipd (GET /flows,
 * epsipctl flows).
 *
 * epsipd sends FLOWS_QUERY to every child it knows with the filters
 * (instance, transport, AoR); the child answers on its supervisor link
 * with FLOWS envelopes, each a JSON array of the flows that pass, in slot
 * order.  The filters apply here, so that a large child sends only what
 * was asked for; an answer larger than one envelope goes in several, all
 * but the last flagged EPSIP_MSG_F_MORE.  An empty answer is one "[]":
 * epsipd counts answers, not flows.
 * DIAGNOSTICS: a malformed query is logged and counted, and not answered
 * (epsipd then says the listing is incomplete).
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "epsip/ipc_socket.h"
#include "epsip/log.h"
#include "epsip/stats.h"

#include "child.h"

/* One FLOWS payload's bytes: well under EPSIP_MSG_MAX_PAYLOAD. */
#define FLOWS_CHUNK	(60 * 1024)

struct flows_answer {
	struct fm_child *c;
	uint32_t query;
	char buf[FLOWS_CHUNK];
	size_t len;		/* "[" and the items so far */
};

static void
answer_send(struct flows_answer *a, uint16_t flags)
{
	struct epsip_msg msg;

	a->buf[a->len++] = ']';
	epsip_msg_init(&msg, EPSIP_MSG_FLOWS);
	msg.arg = a->query;
	msg.flags = flags;
	msg.flow.instance = a->c->instance;
	msg.flow.child = a->c->id;
	msg.payload = (const uint8_t *)a->buf;
	msg.payload_len = a->len;
	(void)ipc_send(a->c->d->supervisor, &msg);
	a->buf[0] = '[';
	a->len = 1;
}

/* Append one item, sending what is there first when it would not fit. */
static void
answer_add(struct flows_answer *a, const char *item)
{
	size_t n = strlen(item);

	/* The comma and the closing bracket. */
	if (a->len > 1 && a->len + 1 + n + 1 > sizeof(a->buf)) {
		answer_send(a, EPSIP_MSG_F_MORE);
	}
	if (a->len + 1 + n + 1 > sizeof(a->buf)) {
		return;		/* cannot happen: an item is < 1 KiB */
	}
	if (a->len > 1) {
		a->buf[a->len++] = ',';
	}
	memcpy(a->buf + a->len, item, n);
	a->len += n;
}

static json_t *
flow_json(const struct fm_flow *f, uint64_t now_ms)
{
	char id[64], local[64], remote[64];

	(void)epsip_flow_id_format(&f->id, id, sizeof(id));
	(void)epsip_addr_format(&f->local, local, sizeof(local));
	(void)epsip_addr_format(&f->remote, remote, sizeof(remote));
	return (json_pack("{s:s, s:I, s:I, s:I, s:s, s:s, s:s, s:s?, s:I, "
	    "s:I, s:I}", "id", id,
	    "instance", (json_int_t)f->id.instance,
	    "child", (json_int_t)f->id.child,
	    "slot", (json_int_t)f->id.slot,
	    "transport", epsip_transport_name(f->transport),
	    "local", local, "remote", remote, "aor", f->aor,
	    "age_s", (json_int_t)((now_ms - f->opened_ms) / 1000),
	    "idle_s", (json_int_t)((now_ms - f->last_activity_ms) / 1000),
	    "flow_timer", (json_int_t)f->timer_s));
}

void
fm_flows_answer(struct fm_child *c, const struct epsip_msg *query)
{
	struct epsip_flows_filter filter;
	struct flows_answer *a;
	const struct fm_flow *f;
	uint64_t now = loop_now_ms(c->loop);
	json_t *item;
	char *text;

	if (epsip_flows_query_filter(query, &filter) == -1) {
		log_warnx("FLOWS_QUERY with an AoR too long, ignored");
		stats_inc(M_IPC_ERRORS_UNEXPECTED);
		return;
	}
	if ((a = malloc(sizeof(*a))) == NULL) {
		log_warn("FLOWS answer");
		return;
	}
	a->c = c;
	a->query = query->arg;
	a->buf[0] = '[';
	a->len = 1;
	for (uint32_t slot = 0; slot < c->nslots; slot++) {
		if ((f = c->flows[slot]) == NULL ||
		    !epsip_flows_filter_match(&filter, f->id.instance,
		    f->transport, f->aor != NULL ? f->aor : "")) {
			continue;
		}
		item = flow_json(f, now);
		text = item != NULL ? json_dumps(item, JSON_COMPACT) : NULL;
		if (text != NULL) {
			answer_add(a, text);
		}
		free(text);
		json_decref(item);
	}
	answer_send(a, 0);
	log_debug("flows query %u answered", a->query);
	free(a);
}
