/*
 * child_name.c -- how flow-manager children are named: "fm<instance>-c<id>"
 * in logs, HELLO and STATS (the parent and the child agree on it), and the
 * id a child is given with --child.
 * DIAGNOSTICS: none.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

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
