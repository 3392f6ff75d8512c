/*
 * ctl.h -- epsipctl's parts: a small HTTP/1.0 client for epsipd's stats
 * endpoint (http.c) and what the commands print (ctl.c, pure code that
 * the unit tests drive with documents).
 */
#ifndef EPSIPCTL_CTL_H
#define EPSIPCTL_CTL_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "epsip/config.h"
#include "epsip/ipc.h"

/* Where `make install` and the systemd unit put the configuration. */
#define CTL_DEFAULT_CONFIG	"/etc/epsip/epsip.conf"

/* Exit codes, epsipctl(8). */
#define CTL_EXIT_OK		0	/* done; status: healthy */
#define CTL_EXIT_REFUSED	1	/* unhealthy, reload refused, no stdout */
#define CTL_EXIT_USAGE		2	/* bad arguments or configuration */
#define CTL_EXIT_UNREACHABLE	3	/* no usable answer from epsipd */

/* Largest answer read (a /stats of thousands of flow-manager children). */
#define CTL_REPLY_MAX		(64u << 20)

struct ctl_reply {
	int status;		/* HTTP status code */
	const char *body;	/* into raw, NUL-terminated */
	size_t len;
	char *raw;		/* the whole answer (malloc'ed) */
};

/*
 * `method` `path` HTTP/1.0 to addr (a wildcard address: the loopback of
 * its family), within timeout_ms in all.  0 and *reply (ctl_reply_free()
 * it), or -1 with a reason in err.
 */
int ctl_http(const struct epsip_addr *addr, const char *method,
    const char *path, unsigned timeout_ms, struct ctl_reply *reply,
    char *err, size_t errcap);

/*
 * Split an answer of `len` bytes in raw (NUL-terminated, kept by reply):
 * the status line's code and the body, cut to Content-Length when there
 * is one.  0, or -1 when it is not an HTTP answer.
 */
int ctl_parse_reply(char *raw, size_t len, struct ctl_reply *reply);
void ctl_reply_free(struct ctl_reply *reply);

/* "1h02m03s", "3m05s", "42s" for seconds; "-" for a negative number. */
void ctl_duration(long long seconds, char *buf, size_t cap);

/*
 * `stats --flat`: every value of doc as "a.b.c=value", one a line, in the
 * document's order; an array's items are numbered from 0.
 */
void ctl_print_flat(FILE *out, const char *prefix, json_t *doc);

/*
 * `status` from GET /health and GET /stats: the verdict, epsipd, then a
 * line per service (state, pid, uptime, restarts).  Returns CTL_EXIT_OK
 * when the health is "ok", else CTL_EXIT_REFUSED.
 */
int ctl_print_status(FILE *out, json_t *health, json_t *stats);

/*
 * `reload` from POST /reload's answer (`status`, `answer`, which may be
 * NULL when it was not JSON): what changed on out, a refusal on err.
 * Returns the exit code.
 */
int ctl_print_reload(FILE *out, FILE *err, int status, json_t *answer);

/*
 * `drain` from POST /drain's answer: what happens now on out, a refusal
 * on err.  Returns the exit code.
 */
int ctl_print_drain(FILE *out, FILE *err, int status, json_t *answer);

/* `flows`' filters and page, as given (NULL: not given). */
struct ctl_flows_args {
	const char *aor;
	const char *transport;
	const char *instance;
	const char *offset;
	const char *limit;
};

/*
 * "/flows?aor=...&..." into buf[0..cap), each value percent-encoded; 0,
 * or -1 when it does not fit.
 */
int ctl_flows_path(const struct ctl_flows_args *args, char *buf, size_t cap);

/*
 * `flows` from GET /flows's answer: a table (TOKEN-ID, TRANSPORT, REMOTE,
 * LOCAL, AOR, AGE, IDLE), then "N of T flows (offset K)" and a note when
 * some child did not answer in time; a refusal on err.  Returns the exit
 * code.
 */
int ctl_print_flows(FILE *out, FILE *err, int status, json_t *answer);

/* `user add|del|list`'s arguments (NULL: not given). */
struct ctl_user_args {
	const char *sub;		/* "add", "del" or "list" */
	const char *name;		/* USER@DOMAIN, add and del */
	const char *config;		/* --config */
	const char *registrar_db;	/* --registrar-db */
	const char *state_dir;		/* --state-dir */
};

/*
 * `user`: add (the password is one line of `in`; asked twice, without
 * echo, when `in` is a terminal), del or list the registrar's digest
 * users (user.c).  Returns the exit code.
 */
int ctl_user(const struct ctl_user_args *args, FILE *in, FILE *out,
    FILE *err);

/*
 * The configuration epsipd would run with, for its registrar-db: the
 * defaults, the file (`config`, else $EPSIP_CONFIG, else
 * CTL_DEFAULT_CONFIG when readable), EPSIP_<KEY>, then `state_dir` and
 * `registrar_db` as flags.  0, or -1 with a reason.
 */
int ctl_registrar_config(const char *config, const char *registrar_db,
    const char *state_dir, struct epsip_config *cfg, char *err,
    size_t errcap);

/*
 * One line of `in` as a password, its line end removed, into
 * buf[0..cap): with `tty`, a prompt on `prompt` and no echo.  0, or -1
 * when it is empty or longer than cap - 1.
 */
int ctl_read_password(FILE *in, int tty, FILE *prompt, char *buf,
    size_t cap);

#endif /* EPSIPCTL_CTL_H */
