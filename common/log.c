/*
 * log.c -- one line per event on stderr, with level, service and flow id.
 *
 * Lines are written with a single write(2) so that the lines of several
 * processes sharing one stderr (the supervisor's) never interleave.
 * DIAGNOSTICS: none; a failed write is ignored, logging must not kill us.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "epsip/log.h"

static char log_service_name[32] = "epsip";
static enum log_level log_threshold = LOG_LEVEL_INFO;
static int log_journal = -1;	/* 1: stderr is journald's: <N> prefixes */

static const char *const level_names[] = {
	"debug", "info", "warn", "error",
};
/* sd-daemon(3) priorities for the same levels. */
static const char *const journal_prefix[] = { "<7>", "<6>", "<4>", "<3>" };

void
log_init(const char *service, enum log_level level)
{
	snprintf(log_service_name, sizeof(log_service_name), "%s", service);
	log_threshold = level;
	log_journal = getenv("JOURNAL_STREAM") != NULL;
}

void
log_set_level(enum log_level level)
{
	log_threshold = level;
}

enum log_level
log_get_level(void)
{
	return (log_threshold);
}

const char *
log_service(void)
{
	return (log_service_name);
}

int
log_level_parse(const char *name, enum log_level *level)
{
	if (strcasecmp(name, "debug") == 0) {
		*level = LOG_LEVEL_DEBUG;
	} else if (strcasecmp(name, "info") == 0) {
		*level = LOG_LEVEL_INFO;
	} else if (strcasecmp(name, "warn") == 0 ||
	    strcasecmp(name, "warning") == 0) {
		*level = LOG_LEVEL_WARN;
	} else if (strcasecmp(name, "error") == 0) {
		*level = LOG_LEVEL_ERROR;
	} else {
		return (-1);
	}
	return (0);
}

void
log_vwrite(enum log_level level, const struct epsip_flow_id *flow,
    const char *fmt, va_list ap)
{
	char line[2048], flowbuf[64];
	struct timespec ts;
	struct tm tm;
	int n, m;

	if (level < log_threshold) {
		return;
	}
	if (flow != NULL) {
		epsip_flow_id_format(flow, flowbuf, sizeof(flowbuf));
	} else {
		snprintf(flowbuf, sizeof(flowbuf), "-");
	}
	if (log_journal == 1) {
		n = snprintf(line, sizeof(line), "%s%s %s[%d] flow=%s ",
		    journal_prefix[level], level_names[level],
		    log_service_name, (int)getpid(), flowbuf);
	} else {
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		n = snprintf(line, sizeof(line),
		    "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s[%d] flow=%s ",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		    tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
		    level_names[level], log_service_name, (int)getpid(),
		    flowbuf);
	}
	if (n < 0 || (size_t)n >= sizeof(line)) {
		return;
	}
	m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	if (m < 0) {
		return;
	}
	n += m;
	if ((size_t)n >= sizeof(line) - 1) {
		n = (int)sizeof(line) - 2;
	}
	/* Never let a peer's bytes break the one-line-per-event rule. */
	for (int i = 0; i < n; i++) {
		if (line[i] == '\n' || line[i] == '\r') {
			line[i] = ' ';
		}
	}
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, (size_t)n);
}

#define LOG_BODY(level, flow)				\
	do {						\
		va_list ap;				\
		va_start(ap, fmt);			\
		log_vwrite((level), (flow), fmt, ap);	\
		va_end(ap);				\
	} while (0)

void
log_debug(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_DEBUG, NULL);
}

void
log_info(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_INFO, NULL);
}

void
log_warnx(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_WARN, NULL);
}

void
log_error(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_ERROR, NULL);
}

void
log_flow(enum log_level level, const struct epsip_flow_id *flow,
    const char *fmt, ...)
{
	LOG_BODY(level, flow);
}

static void
log_with_errno(enum log_level level, int saved, const char *fmt, va_list ap)
{
	char buf[1024];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	log_flow(level, NULL, "%s: %s", buf, strerror(saved));
}

void
log_warn(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_with_errno(LOG_LEVEL_WARN, saved, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_with_errno(LOG_LEVEL_ERROR, saved, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_ERROR, NULL);
	exit(1);
}
