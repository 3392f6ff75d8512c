/*
 * config_doc.c -- the keys of man/epsip.conf.5, written from the table.
 *
 * One .It entry per key: its name and kind of value, the help text of
 * --help, its range, its default, and whether SIGHUP applies it.  The
 * defaults that depend on who runs epsipd are said in words, so that the
 * page is the same whoever generates it.  Only `make docs-config`
 * (tools/config_doc.c) and the config unit test link this.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "epsip/config.h"
#include "epsip/config_doc.h"
#include "epsip/doc_splice.h"

static const struct {
	const char *key;
	const char *def;
} config_doc_defaults[] = {
	{ "run-dir", "/run/epsip as root, else /tmp/epsip-UID" },
	{ "state-dir", "/var/lib/epsip as root, else "
	    "$HOME/.local/state/epsip" },
	{ "key-file", "STATE-DIR/flow-token.key" },
	{ "registrar-db", "STATE-DIR/registrar.sqlite" },
};

static const char *
config_doc_default(const struct config_key_doc *doc)
{
	size_t i;

	for (i = 0; i < sizeof(config_doc_defaults) /
	    sizeof(config_doc_defaults[0]); i++) {
		if (strcmp(config_doc_defaults[i].key, doc->name) == 0) {
			return (config_doc_defaults[i].def);
		}
	}
	return (doc->def);
}

static void
config_doc_entry(FILE *f, const struct config_key_doc *doc)
{
	const char *def = config_doc_default(doc);

	fprintf(f, ".It Cm %s No = Ar %s\n%s.\n", doc->name, doc->value,
	    doc->help);
	if (doc->is_number) {
		fprintf(f, "From %u to %u.\n", doc->min, doc->max);
	}
	if (doc->repeatable) {
		fputs("One line per value; the first one a source gives "
		    "replaces the default list.\n", f);
	}
	if (def[0] != '\0') {
		fprintf(f, "Default: %s.\n", def);
	}
	if (doc->reloadable) {
		fputs("A reload applies it.\n", f);
	}
}

char *
config_doc_keys(void)
{
	struct config_key_doc doc;
	char *text = NULL;
	size_t len, i;
	FILE *f;

	if ((f = open_memstream(&text, &len)) == NULL) {
		return (NULL);
	}
	for (i = 0; config_key_doc(i, &doc) == 0; i++) {
		config_doc_entry(f, &doc);
	}
	if (fclose(f) != 0) {
		free(text);
		return (NULL);
	}
	return (text);
}

char *
config_doc_splice(const char *doc, char *err, size_t errcap)
{
	return (doc_splice_generated(doc, CONFIG_DOC_BEGIN, CONFIG_DOC_END,
	    config_doc_keys, err, errcap));
}
