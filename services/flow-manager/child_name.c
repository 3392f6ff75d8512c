/*
 * child_name.c -- how flow-manager processes are named: children
 * "fm<instance>-c<id>" in logs, HELLO and STATS (the parent and the child
 * agree on it), the edge's K-th flow-manager "flow-manager" (K = 1, the
 * name a single-instance edge has always had) or "flow-manager-K", and
 * the numbers given with --child and --flow-manager.
 * DIAGNOSTICS: none.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "epsip/config.h"
#include "epsip/daemon.h"

#include "flow_manager.h"

int
fm_child_name(char *buf, size_t cap, unsigned instance, uint32_t id)
{
	return (snprintf(buf, cap, "fm%u-c%" PRIu32, instance, id));
}

int
fm_parse_child_id(const char *text, uint32_t *id)
{
	unsigned long long v;
	char *end;

	if (text == NULL || *text < '0' || *text > '9') {
		return (-1);
	}
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno != 0 || *end != '\0' || v == 0 || v > UINT32_MAX) {
		return (-1);
	}
	*id = (uint32_t)v;
	return (0);
}

int
fm_service_name(char *buf, size_t cap, unsigned flow_manager)
{
	if (flow_manager <= 1) {
		return (snprintf(buf, cap, "flow-manager"));
	}
	return (snprintf(buf, cap, "flow-manager-%u", flow_manager));
}

int
fm_parse_flow_manager(const char *text, unsigned *flow_manager)
{
	uint32_t v;

	if (fm_parse_child_id(text, &v) == -1 ||
	    v > CONFIG_MAX_FLOW_MANAGERS) {
		return (-1);
	}
	*flow_manager = (unsigned)v;
	return (0);
}

void
fm_name_service(struct daemon *d)
{
	char name[32];

	if (d->cfg.flow_manager > 1) {
		(void)fm_service_name(name, sizeof(name), d->cfg.flow_manager);
		daemon_set_service_name(d, name);
	}
}
