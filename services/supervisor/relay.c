/*
 * relay.c -- a service's stderr, passed on through epsipd line by line.
 *
 * Why a pipe, and not a message from the dying service over supervisor.ipc:
 * the pipe sees every way a start can fail -- a bind error logged by the
 * service, a configuration it rejects before it ever dials epsipd, an
 * exec failure written by spawn.c's child, a sanitizer's report -- and it
 * needs no cooperation from a process that is on its way out.  An nng
 * message sent just before exit(1) may never leave.  The price is one
 * read and one write per batch of lines in epsipd, which runs nothing
 * else that is busy.
 *
 * Lines stay whole: log.c writes each line with one write(2) of at most
 * 2 KiB, which a pipe delivers in one piece (PIPE_BUF is 4 KiB), and only
 * complete lines are passed on, so a service's line and epsipd's own never
 * interleave.  The write end stays blocking, as stderr was: a service
 * whose log cannot be written waits, it does not lose lines.
 *
 * The lines are only looked at while the service has not said HELLO
 * (watch); after that they are copied without a glance.
 *
 * DIAGNOSTICS: none.  A failed write to epsipd's stderr loses the lines,
 * as a failed write in log.c does.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "relay.h"

/* No reason known yet. */
static void
relay_forget(struct sup_relay *r)
{
	r->have_error = 0;
	r->first_error[0] = '\0';
	r->last_line[0] = '\0';
}

void
sup_relay_init(struct sup_relay *r)
{
	r->rfd = -1;
	r->wfd = -1;
	r->watch = 0;
	r->len = 0;
	relay_forget(r);
}

int
sup_relay_open(struct sup_relay *r)
{
	int fds[2];

	/* spawn.c dup2()s the write end to the child's 2, which clears
	 * close-on-exec there; epsipd's own copies keep it. */
	if (pipe2(fds, O_CLOEXEC) == -1) {
		return (-1);
	}
	if (fcntl(fds[0], F_SETFL, O_NONBLOCK) == -1) {
		close(fds[0]);
		close(fds[1]);
		return (-1);
	}
	r->rfd = fds[0];
	r->wfd = fds[1];
	return (0);
}

void
sup_relay_close(struct sup_relay *r)
{
	if (r->rfd >= 0) {
		close(r->rfd);
	}
	if (r->wfd >= 0) {
		close(r->wfd);
	}
	r->rfd = r->wfd = -1;
}

void
sup_relay_watch(struct sup_relay *r)
{
	r->watch = 1;
	relay_forget(r);
}

void
sup_relay_unwatch(struct sup_relay *r)
{
	r->watch = 0;
}

size_t
sup_log_line_message(const char *line, size_t len, int *is_error)
{
	const char *p = line, *end = line + len, *level, *sp;
	size_t level_len;

	*is_error = 0;
	if (len >= 3 && p[0] == '<' && p[1] >= '0' && p[1] <= '7' &&
	    p[2] == '>') {
		p += 3;		/* journald's priority instead of a time */
	} else if ((sp = memchr(p, ' ', (size_t)(end - p))) != NULL) {
		p = sp + 1;	/* past the timestamp */
	} else {
		return (0);
	}
	level = p;
	if ((sp = memchr(p, ' ', (size_t)(end - p))) == NULL) {
		return (0);
	}
	level_len = (size_t)(sp - level);
	p = sp + 1;
	/* "name[pid] flow=ID " */
	if ((sp = memchr(p, ' ', (size_t)(end - p))) == NULL || sp == p ||
	    sp[-1] != ']') {
		return (0);
	}
	p = sp + 1;
	if (end - p < 5 || memcmp(p, "flow=", 5) != 0 ||
	    (sp = memchr(p, ' ', (size_t)(end - p))) == NULL) {
		return (0);
	}
	*is_error = level_len == 5 && memcmp(level, "error", 5) == 0;
	return ((size_t)(sp + 1 - line));
}

static void
relay_copy(char *dst, const char *src, size_t len)
{
	if (len >= SUP_RELAY_LINE) {
		len = SUP_RELAY_LINE - 1;
	}
	memcpy(dst, src, len);
	dst[len] = '\0';
}

/* A line (without its newline) of a service not yet ready. */
static void
relay_note(struct sup_relay *r, const char *line, size_t len)
{
	size_t off;
	int is_error;

	if (len == 0) {
		return;
	}
	off = sup_log_line_message(line, len, &is_error);
	relay_copy(r->last_line, line + off, len - off);
	/* The first error is the cause; later ones tend to be its echo
	 * ("failed to start"). */
	if (is_error && !r->have_error) {
		relay_copy(r->first_error, line + off, len - off);
		r->have_error = 1;
	}
}

static void
relay_write(int out, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(out, buf, len);
		if (n == -1 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			return;
		}
		buf += n;
		len -= (size_t)n;
	}
}

/* Pass on buf's complete lines (all of it with `whole`), keep the rest. */
static void
relay_lines(struct sup_relay *r, int out, int whole)
{
	const char *p = r->buf, *end = r->buf + r->len, *nl;
	size_t done;

	if (r->watch) {
		while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
			relay_note(r, p, (size_t)(nl - p));
			p = nl + 1;
		}
		if (whole && p < end) {
			relay_note(r, p, (size_t)(end - p));
		}
		done = (size_t)(p - r->buf);
	} else {
		nl = memrchr(r->buf, '\n', r->len);
		done = nl != NULL ? (size_t)(nl + 1 - r->buf) : 0;
	}
	if (whole && done < r->len) {
		relay_write(out, r->buf, r->len);
		relay_write(out, "\n", 1);
		r->len = 0;
		return;
	}
	relay_write(out, r->buf, done);
	memmove(r->buf, r->buf + done, r->len - done);
	r->len -= done;
}

int
sup_relay_read(struct sup_relay *r, int out, unsigned budget, int flush)
{
	unsigned reads = 0;
	ssize_t n;

	if (r->rfd < 0) {
		return (0);
	}
	for (;;) {
		if (budget != 0 && reads == budget) {
			return (1);
		}
		n = read(r->rfd, r->buf + r->len, sizeof(r->buf) - r->len);
		if (n == -1 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			break;		/* empty (EAGAIN); never EOF: we hold wfd */
		}
		reads++;
		r->len += (size_t)n;
		/* A full buffer without a newline is not a log line: pass it
		 * on as one rather than stall the pipe. */
		relay_lines(r, out, r->len == sizeof(r->buf));
	}
	if (flush && r->len > 0) {
		relay_lines(r, out, 1);
	}
	return (0);
}

const char *
sup_relay_reason(const struct sup_relay *r)
{
	return (r->have_error ? r->first_error : r->last_line);
}
