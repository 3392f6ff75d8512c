/*
 * relay.h -- a service's stderr, passed on through epsipd line by line.
 *
 * Each service writes its log to a pipe that epsipd reads and copies to
 * its own stderr, whole lines at a time, so the journal (or the terminal)
 * sees what it saw before.  On the way epsipd keeps, for a service that
 * has not yet said HELLO, the line that explains why it might not: the
 * first error-level line since it was started, else its last line.  When
 * such a service exits, that line is epsipd's last word (lifecycle.c).
 */
#ifndef SUP_RELAY_H
#define SUP_RELAY_H

#include <stddef.h>

#define SUP_RELAY_BUF		8192
#define SUP_RELAY_LINE		512

struct sup_relay {
	int rfd;		/* epsipd's end, non-blocking; -1: none */
	int wfd;		/* the services' stderr; -1: none */
	int watch;		/* keep the lines below (not yet ready) */
	int have_error;		/* first_error holds a line */
	size_t len;		/* bytes of an unfinished line in buf */
	char first_error[SUP_RELAY_LINE];	/* its message part */
	char last_line[SUP_RELAY_LINE];		/* its message part */
	char buf[SUP_RELAY_BUF];
};

/* No pipe yet: both descriptors -1. */
void sup_relay_init(struct sup_relay *r);
/* Make the pipe; 0, or -1 with errno set. */
int sup_relay_open(struct sup_relay *r);
void sup_relay_close(struct sup_relay *r);

/* A new incarnation starts: forget its predecessor's lines, keep them. */
void sup_relay_watch(struct sup_relay *r);
/* It said HELLO: stop keeping lines. */
void sup_relay_unwatch(struct sup_relay *r);

/*
 * Read what is in the pipe now (up to `budget` reads, 0: until empty),
 * copying every complete line to `out`.  With `flush`, an unfinished
 * line at the end counts as complete (its writer is gone).  Returns 1 if
 * the budget ran out with data possibly left, else 0.
 */
int sup_relay_read(struct sup_relay *r, int out, unsigned budget, int flush);

/* Why the watched service failed, as far as its lines tell; "" if mute. */
const char *sup_relay_reason(const struct sup_relay *r);

/*
 * The message of a log.c line ("<ts> error name[pid] flow=- MSG", or
 * "<3>error name[pid] flow=- MSG" under journald): its offset in line,
 * and whether its level is error.  A line of another form is all message
 * and not an error.
 */
size_t sup_log_line_message(const char *line, size_t len, int *is_error);

#endif /* SUP_RELAY_H */
