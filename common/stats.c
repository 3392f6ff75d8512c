/*
 * stats.c -- the values of one process, by registry id.
 *
 * The array is as long as the registry (metrics.def): a value has its
 * place from the start, so none is ever dropped, and a peer that invents
 * method names only moves sip.in.other.
 * DIAGNOSTICS: none.
 */
#include <stdio.h>
#include <string.h>

#include "epsip/stats.h"

int64_t stats_value[M_COUNT];
unsigned char stats_touched[M_COUNT];

json_t *
stats_to_json(void)
{
	json_t *obj = json_object();
	unsigned id;

	if (obj == NULL) {
		return (NULL);
	}
	for (id = 0; id < M_COUNT; id++) {
		if (stats_touched[id]) {
			json_object_set_new(obj, metric_name(id),
			    json_integer(stats_value[id]));
		}
	}
	return (obj);
}

void
stats_reset(void)
{
	memset(stats_value, 0, sizeof(stats_value));
	memset(stats_touched, 0, sizeof(stats_touched));
}

int
stats_memory_kib(long *rss_kib, long *private_kib)
{
	char line[256];
	FILE *f;
	long v;

	*rss_kib = *private_kib = 0;
	/* smaps_rollup sums the private pages without walking every map. */
	if ((f = fopen("/proc/self/smaps_rollup", "r")) == NULL) {
		return (-1);
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "Rss: %ld kB", &v) == 1) {
			*rss_kib = v;
		} else if (sscanf(line, "Private_Clean: %ld kB", &v) == 1 ||
		    sscanf(line, "Private_Dirty: %ld kB", &v) == 1) {
			*private_kib += v;
		}
	}
	fclose(f);
	return (0);
}
