/*
 * config_doc.h -- the list of keys in man/epsip.conf.5, written from the
 * configuration table (config.c) by `make docs-config`; the config unit
 * test fails while the page holds another.
 */
#ifndef EPSIP_CONFIG_DOC_H
#define EPSIP_CONFIG_DOC_H

#include <stddef.h>

#define CONFIG_DOC_BEGIN	".\\\" keys: `make docs-config` writes them " \
	"from common/config.c"
#define CONFIG_DOC_END		".\\\" end of keys"

/* An mdoc .It entry per key, in the table's order (malloc'ed), or NULL. */
char *config_doc_keys(void);

/* `doc` with the entries between the markers replaced (doc_splice.h). */
char *config_doc_splice(const char *doc, char *err, size_t errcap);

#endif /* EPSIP_CONFIG_DOC_H */
