/*
 * sent_capture.h -- unit-test support: record what the registrar-bridge
 * would send to the router (its rb_out.send hook), one string per message.
 * Header-only, so each test binary stays one .c file.
 */
#ifndef EPSIP_TEST_SENT_CAPTURE_H
#define EPSIP_TEST_SENT_CAPTURE_H

#include <stdlib.h>
#include <string.h>

#define MAX_SENT	64

static char *sent[MAX_SENT];
static size_t nsent;

static int
capture(void *arg, const char *buf, size_t len)
{
	(void)arg;
	assert_true(nsent < MAX_SENT);
	sent[nsent] = malloc(len + 1);
	memcpy(sent[nsent], buf, len);
	sent[nsent][len] = '\0';
	nsent++;
	return (0);
}

static void
sent_clear(void)
{
	while (nsent > 0) {
		free(sent[--nsent]);
	}
}

#endif /* EPSIP_TEST_SENT_CAPTURE_H */
