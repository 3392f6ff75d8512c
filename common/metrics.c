/*
 * metrics.c -- the registry's tables, and the lookups from what the
 * outside world sends (a method, a status code, a reason's name) to one
 * declared value.
 *
 * The tables are built by the compiler from metrics.def.  The only state
 * is the name index metric_find() builds on its first call; it is used
 * from one thread (epsipd's loop, a test).  Nothing here allocates.
 */
#include <stdint.h>
#include <string.h>

#include "epsip/hash.h"
#include "epsip/metrics.h"

#define METRIC_CODE_SLOT_(f, p, a, b, c) \
	[M_##f##_##a##b##c] = { p #a #b #c, MF_##f },

const struct metric_slot metric_slots[M_COUNT] = {
#define METRIC(id, kind, name, prom, unit, from, help) \
	[M_##id] = { name, MF_##id },
#define FAMILY(id, kind, name, label, prom, unit, from, help) \
	[M_##id##_OTHER] = { name ".other", MF_##id },
#define LABEL(family, id, name) \
	[M_##family##_##id] = { name, MF_##family },
#define CODES(family, prefix) \
	METRIC_CODES_(METRIC_CODE_SLOT_, family, prefix)
#define FIELD(id, name, prom, unit, from, help)
#include "epsip/metrics.def"
#undef METRIC
#undef FAMILY
#undef LABEL
#undef CODES
#undef FIELD
};

const struct metric_desc metric_families[MF_COUNT] = {
#define METRIC(id, kind, name, prom, unit, from, help) \
	[MF_##id] = { name, NULL, prom, unit, from, help, METRIC_##kind, 0, \
	    M_##id },
#define FAMILY(id, kind, name, label, prom, unit, from, help) \
	[MF_##id] = { name, label, prom, unit, from, help, METRIC_##kind, 0, \
	    M_##id##_OTHER },
#define LABEL(family, id, name)
#define CODES(family, prefix)
#define FIELD(id, name, prom, unit, from, help) \
	[MF_##id] = { name, NULL, prom, unit, from, help, METRIC_GAUGE, 1, \
	    M_##id##__AT },
#include "epsip/metrics.def"
#undef METRIC
#undef FAMILY
#undef LABEL
#undef CODES
#undef FIELD
};

unsigned
metric_family_size(enum metric_family f)
{
	enum metric_id end;

	end = (unsigned)f + 1 < MF_COUNT ? metric_families[f + 1].first :
	    M_COUNT;
	return ((unsigned)(end - metric_families[f].first));
}

const char *
metric_label_value(enum metric_id id)
{
	const struct metric_desc *d = &metric_families[metric_slots[id].family];

	if (d->label == NULL) {
		return (NULL);
	}
	return (metric_slots[id].name + strlen(d->name) + 1);
}

enum metric_id
metric_label_find(enum metric_family f, const char *value)
{
	enum metric_id first = metric_families[f].first;
	unsigned i, n = metric_family_size(f);

	for (i = 1; value != NULL && i < n; i++) {
		if (strcmp(metric_label_value(first + i), value) == 0) {
			return (first + i);
		}
	}
	return (first);		/* other */
}

/* id when method is name, else `other`. */
static enum metric_id
method_is(const char *method, const char *name, enum metric_id id)
{
	return (strcmp(method, name) == 0 ? id : M_SIP_IN_OTHER);
}

static enum metric_id
method_is2(const char *method, const char *name1, enum metric_id id1,
    const char *name2, enum metric_id id2)
{
	return (strcmp(method, name1) == 0 ? id1 :
	    method_is(method, name2, id2));
}

/* Once per request: a switch and one or two strcmp, never a new name. */
enum metric_id
metric_sip_method(const char *method)
{
	if (method == NULL) {
		return (M_SIP_IN_OTHER);
	}
	switch (method[0]) {
	case 'A':
		return (method_is(method, "ACK", M_SIP_IN_ACK));
	case 'B':
		return (method_is(method, "BYE", M_SIP_IN_BYE));
	case 'C':
		return (method_is(method, "CANCEL", M_SIP_IN_CANCEL));
	case 'I':
		return (method_is2(method, "INVITE", M_SIP_IN_INVITE, "INFO",
		    M_SIP_IN_INFO));
	case 'M':
		return (method_is(method, "MESSAGE", M_SIP_IN_MESSAGE));
	case 'N':
		return (method_is(method, "NOTIFY", M_SIP_IN_NOTIFY));
	case 'O':
		return (method_is(method, "OPTIONS", M_SIP_IN_OPTIONS));
	case 'P':
		return (method_is2(method, "PRACK", M_SIP_IN_PRACK, "PUBLISH",
		    M_SIP_IN_PUBLISH));
	case 'R':
		return (method_is2(method, "REGISTER", M_SIP_IN_REGISTER,
		    "REFER", M_SIP_IN_REFER));
	case 'S':
		return (method_is(method, "SUBSCRIBE", M_SIP_IN_SUBSCRIBE));
	case 'U':
		return (method_is(method, "UPDATE", M_SIP_IN_UPDATE));
	}
	return (M_SIP_IN_OTHER);
}

enum metric_id
metric_response_class(int status)
{
	if (status < METRIC_CODE_MIN || status > METRIC_CODE_MAX) {
		return (M_SIP_IN_RESPONSE_OTHER);
	}
	return (M_SIP_IN_RESPONSE_1XX + (status / 100 - 1));
}

enum metric_id
metric_status(enum metric_family f, int status)
{
	enum metric_id other = metric_families[f].first;

	if (status < METRIC_CODE_MIN || status > METRIC_CODE_MAX) {
		return (other);
	}
	return (other + 1 + (status - METRIC_CODE_MIN));
}

/* ---- names back to values ---- */

#define INDEX_SLOTS	4096	/* a power of two, well above M_COUNT */

/* id + 1 of the value whose name hashes here; 0: empty. */
static uint16_t metric_index[INDEX_SLOTS];
static int metric_indexed;

static void
index_build(void)
{
	uint32_t i;
	unsigned id;

	for (id = 0; id < M_COUNT; id++) {
		i = fnv1a_str(metric_slots[id].name) & (INDEX_SLOTS - 1);
		while (metric_index[i] != 0) {
			i = (i + 1) & (INDEX_SLOTS - 1);
		}
		metric_index[i] = (uint16_t)(id + 1);
	}
	metric_indexed = 1;
}

int
metric_find(const char *name, enum metric_id *id)
{
	uint32_t i;

	if (!metric_indexed) {
		index_build();
	}
	i = fnv1a_str(name) & (INDEX_SLOTS - 1);
	while (metric_index[i] != 0) {
		if (strcmp(metric_slots[metric_index[i] - 1].name, name) == 0) {
			*id = (enum metric_id)(metric_index[i] - 1);
			return (0);
		}
		i = (i + 1) & (INDEX_SLOTS - 1);
	}
	return (-1);
}

int
metric_field_find(const char *name)
{
	unsigned f;

	for (f = 0; f < MF_COUNT; f++) {
		if (metric_families[f].field &&
		    strcmp(metric_families[f].name, name) == 0) {
			return ((int)f);
		}
	}
	return (-1);
}
