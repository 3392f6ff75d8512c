/*
 * stats.c -- named counters of one process, in an open-addressing table.
 *
 * Names are interned on first use; a lookup is one hash and a short probe,
 * cheap enough for the per-message path.  The table is bounded: once full,
 * new names are dropped (and that is itself counted), so a peer that
 * invents method names cannot grow our memory.
 * DIAGNOSTICS: none.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "epsip/stats.h"

#define STATS_SLOTS	1024	/* power of two */
#define STATS_MAX_USED	768
#define STATS_NAME_MAX	96

struct stat_entry {
	char *name;
	int64_t value;
};

static struct stat_entry stats_table[STATS_SLOTS];
static size_t stats_used;
static int64_t stats_overflow;

static uint32_t
stats_hash(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s) {
		h = (h ^ (uint8_t)*s++) * 16777619u;
	}
	return (h);
}

static struct stat_entry *
stats_find(const char *name, int create)
{
	uint32_t i = stats_hash(name) & (STATS_SLOTS - 1);

	for (;;) {
		struct stat_entry *e = &stats_table[i];

		if (e->name == NULL) {
			if (!create || stats_used >= STATS_MAX_USED ||
			    (e->name = strdup(name)) == NULL) {
				stats_overflow += create;
				return (NULL);
			}
			stats_used++;
			return (e);
		}
		if (strcmp(e->name, name) == 0) {
			return (e);
		}
		i = (i + 1) & (STATS_SLOTS - 1);
	}
}

void
stats_add(const char *name, int64_t delta)
{
	struct stat_entry *e = stats_find(name, 1);

	if (e != NULL) {
		e->value += delta;
	}
}

void
stats_set(const char *name, int64_t value)
{
	struct stat_entry *e = stats_find(name, 1);

	if (e != NULL) {
		e->value = value;
	}
}

int64_t
stats_get(const char *name)
{
	struct stat_entry *e = stats_find(name, 0);

	return (e != NULL ? e->value : 0);
}

void
stats_inc2(const char *prefix, const char *suffix)
{
	char name[STATS_NAME_MAX];
	size_t n = strlen(prefix);

	if (n >= sizeof(name) - 1) {
		return;
	}
	memcpy(name, prefix, n);
	/* Only [A-Za-z0-9_] from the outside world, at most 24 of them. */
	for (size_t i = 0; suffix[i] != '\0' && i < 24 &&
	    n < sizeof(name) - 1; i++) {
		unsigned char c = (unsigned char)suffix[i];

		name[n++] = (isalnum(c) || c == '_') ? (char)c : '_';
	}
	name[n] = '\0';
	stats_inc(name);
}

json_t *
stats_to_json(void)
{
	json_t *obj = json_object();

	if (obj == NULL) {
		return (NULL);
	}
	for (size_t i = 0; i < STATS_SLOTS; i++) {
		if (stats_table[i].name != NULL) {
			json_object_set_new(obj, stats_table[i].name,
			    json_integer(stats_table[i].value));
		}
	}
	if (stats_overflow > 0) {
		json_object_set_new(obj, "stats.names_dropped",
		    json_integer(stats_overflow));
	}
	return (obj);
}

void
stats_reset(void)
{
	for (size_t i = 0; i < STATS_SLOTS; i++) {
		free(stats_table[i].name);
		stats_table[i].name = NULL;
		stats_table[i].value = 0;
	}
	stats_used = 0;
	stats_overflow = 0;
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
