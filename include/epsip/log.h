/*
 * log.h -- one line per event on stderr.
 *
 *   2026-11-25T12:00:00.123Z info sip-router[4242] flow=1.3.0.7 msg...
 *
 * Under systemd the line starts with a <N> priority prefix instead of the
 * timestamp (journald adds its own).  Fatal is for start-up (bad
 * configuration, a socket we cannot open) and broken invariants.  Anything
 * from the network, and any unexpected IPC message, is counted, logged as a
 * warning and dropped: one bad peer must not take a service down.
 */
#ifndef EPSIP_LOG_H
#define EPSIP_LOG_H

#include <stdarg.h>

#include "epsip/ipc.h"

enum log_level {
	LOG_LEVEL_DEBUG = 0,
	LOG_LEVEL_INFO = 1,
	LOG_LEVEL_WARN = 2,
	LOG_LEVEL_ERROR = 3,
};

void log_init(const char *service, enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* "debug", "info", "warn"/"warning", "error" -> 0 and *level; else -1. */
int log_level_parse(const char *name, enum log_level *level);
const char *log_service(void);

#define EPSIP_PRINTF(a, b) __attribute__((format(printf, a, b)))

void log_debug(const char *fmt, ...) EPSIP_PRINTF(1, 2);
void log_info(const char *fmt, ...) EPSIP_PRINTF(1, 2);
void log_warnx(const char *fmt, ...) EPSIP_PRINTF(1, 2);
/* Appends ": strerror(errno)". */
void log_warn(const char *fmt, ...) EPSIP_PRINTF(1, 2);
void log_error(const char *fmt, ...) EPSIP_PRINTF(1, 2);
/* Log and exit(1); fatal appends strerror(errno). */
void fatal(const char *fmt, ...) EPSIP_PRINTF(1, 2) __attribute__((noreturn));
void fatalx(const char *fmt, ...) EPSIP_PRINTF(1, 2) __attribute__((noreturn));

/* The same, tagged with a flow id (NULL: "-"). */
void log_flow(enum log_level level, const struct epsip_flow_id *flow,
    const char *fmt, ...) EPSIP_PRINTF(3, 4);

void log_vwrite(enum log_level level, const struct epsip_flow_id *flow,
    const char *fmt, va_list ap);

#endif /* EPSIP_LOG_H */
