/*
 * trivial_edge.c -- the floor for bench/many_flows.py (issue 8).
 *
 * A minimal SIP-over-TCP "edge": N processes, each with its own listening
 * socket on the same port (SO_REUSEPORT, so the kernel spreads the
 * connections), each an epoll loop that answers
 *   - a CRLF keep-alive ping "\r\n\r\n" with the pong "\r\n" (RFC 5626 §4.4.1),
 *   - a REGISTER with a canned 200 OK that copies Via, From, To (+tag),
 *     Call-ID, CSeq and Contact and adds what an outbound registrar's 200
 *     carries (Path ;ob, Require: outbound, Flow-Timer),
 * and nothing else (any other request is counted and ignored).  It parses
 * only what it needs (full header names, Content-Length honoured), keeps no
 * state per connection beyond a partial-message buffer, and so shows what
 * the box itself costs: whatever EPSIP adds on top is EPSIP's.
 *
 * usage: trivial_edge IP PORT PROCESSES
 * Prints "ready" once every process listens.  On SIGTERM/SIGINT every
 * process prints one JSON line of what it answered and exits; the parent
 * waits for them and exits 0.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_PROCS	64
#define READ_SIZE	8192
#define MAX_MSG		16384
#define EVENTS		256

struct counts {
	unsigned long accepted;
	unsigned long closed;
	unsigned long registers;
	unsigned long pongs;
	unsigned long other;
	unsigned long errors;
};

/* A partial message, only while one is in flight: idle flows own nothing. */
struct conn {
	char *buf;
	size_t len;
};

static volatile sig_atomic_t stopping;
static struct counts counts;
static struct conn *conns;
static size_t nconns;

static void
on_stop(int signo)
{
	(void)signo;
	stopping = 1;
}

static size_t
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return 1024;
	rl.rlim_cur = rl.rlim_max;
	(void)setrlimit(RLIMIT_NOFILE, &rl);
	return (size_t)rl.rlim_cur;
}

static int
listen_on(const char *ip, int port)
{
	struct sockaddr_in sin;
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, ip, &sin.sin_addr) != 1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(fd, 4096) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The value of header "name" (full name, case-insensitive) in msg[0..len). */
static int
header(const char *msg, size_t len, const char *name, const char **val,
    size_t *vlen)
{
	size_t nlen = strlen(name);
	const char *p = memchr(msg, '\n', len), *end = msg + len, *eol;

	while (p != NULL && ++p < end) {
		eol = memchr(p, '\r', (size_t)(end - p));
		if (eol == NULL || eol == p)
			return -1;
		if ((size_t)(eol - p) > nlen && strncasecmp(p, name, nlen) == 0 &&
		    p[nlen] == ':') {
			*val = p + nlen + 1;
			while (*val < eol && (**val == ' ' || **val == '\t'))
				(*val)++;
			*vlen = (size_t)(eol - *val);
			return 0;
		}
		p = memchr(p, '\n', (size_t)(end - p));
	}
	return -1;
}

static size_t
content_length(const char *msg, size_t len)
{
	const char *v;
	size_t vl;

	if (header(msg, len, "Content-Length", &v, &vl) == -1)
		return 0;
	return (size_t)strtoul(v, NULL, 10);
}

static void
send_all(int fd, const char *b, size_t n)
{
	ssize_t w;

	/* Answers are small and the socket idle: a short write is an error. */
	w = send(fd, b, n, MSG_NOSIGNAL);
	if (w != (ssize_t)n)
		counts.errors++;
}

static void
answer_register(int fd, const char *msg, size_t len)
{
	static const char *copied[] = { "Via", "From", "To", "Call-ID", "CSeq",
	    "Contact" };
	char out[4096];
	size_t o, i, vl;
	const char *v;
	int n;

	o = (size_t)snprintf(out, sizeof(out), "SIP/2.0 200 OK\r\n");
	for (i = 0; i < sizeof(copied) / sizeof(copied[0]); i++) {
		if (header(msg, len, copied[i], &v, &vl) == -1) {
			counts.errors++;
			return;
		}
		n = snprintf(out + o, sizeof(out) - o, "%s: %.*s%s%s\r\n",
		    copied[i], (int)vl, v,
		    strcmp(copied[i], "To") == 0 ? ";tag=trivial" : "",
		    strcmp(copied[i], "Contact") == 0 ? ";expires=3600" : "");
		if (n < 0 || (size_t)n >= sizeof(out) - o) {
			counts.errors++;
			return;
		}
		o += (size_t)n;
	}
	n = snprintf(out + o, sizeof(out) - o,
	    "Path: <sip:trivial@127.0.0.1;transport=tcp;lr;ob>\r\n"
	    "Require: outbound\r\nSupported: path, outbound\r\n"
	    "Flow-Timer: 120\r\nContent-Length: 0\r\n\r\n");
	if (n < 0 || (size_t)n >= sizeof(out) - o) {
		counts.errors++;
		return;
	}
	send_all(fd, out, o + (size_t)n);
	counts.registers++;
}

/* Answers every complete message in b[0..n); returns the bytes used. */
static size_t
handle(int fd, const char *b, size_t n)
{
	size_t used = 0, hdr, total;
	const char *end;

	while (used < n) {
		if (n - used >= 4 && memcmp(b + used, "\r\n\r\n", 4) == 0) {
			send_all(fd, "\r\n", 2);
			counts.pongs++;
			used += 4;
			continue;
		}
		if (n - used < 4 && memcmp(b + used, "\r\n\r\n", n - used) == 0)
			break;		/* maybe the start of a ping */
		end = memmem(b + used, n - used, "\r\n\r\n", 4);
		if (end == NULL)
			break;
		hdr = (size_t)(end - (b + used)) + 4;
		total = hdr + content_length(b + used, hdr);
		if (n - used < total)
			break;
		if (strncmp(b + used, "REGISTER ", 9) == 0)
			answer_register(fd, b + used, hdr);
		else
			counts.other++;
		used += total;
	}
	return used;
}

static void
drop(int ep, int fd)
{
	(void)epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
	free(conns[fd].buf);
	conns[fd].buf = NULL;
	conns[fd].len = 0;
	counts.closed++;
}

/* Keeps the unanswered tail of data (a partial message) for the next read. */
static int
keep_tail(struct conn *c, const char *data, size_t n)
{
	char *nb;

	if (n == 0) {
		free(c->buf);
		c->buf = NULL;
		c->len = 0;
		return 0;
	}
	if (n > MAX_MSG)
		return -1;
	nb = malloc(n);
	if (nb == NULL)
		return -1;
	memcpy(nb, data, n);
	free(c->buf);
	c->buf = nb;
	c->len = n;
	return 0;
}

static void
readable(int ep, int fd)
{
	char stack[READ_SIZE + MAX_MSG];
	struct conn *c = &conns[fd];
	size_t have = 0, used;
	ssize_t r;

	if (c->len > 0) {
		memcpy(stack, c->buf, c->len);
		have = c->len;
	}
	r = recv(fd, stack + have, READ_SIZE, 0);
	if (r == 0 || (r == -1 && errno != EAGAIN && errno != EINTR)) {
		drop(ep, fd);
		return;
	}
	if (r == -1)
		return;
	have += (size_t)r;
	used = handle(fd, stack, have);
	if (keep_tail(c, stack + used, have - used) == -1) {
		counts.errors++;
		drop(ep, fd);
	}
}

static void
accept_all(int ep, int lfd)
{
	struct epoll_event ev;
	int fd;

	for (;;) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				counts.errors++;
			return;
		}
		if ((size_t)fd >= nconns) {
			counts.errors++;
			close(fd);
			continue;
		}
		ev.events = EPOLLIN;
		ev.data.fd = fd;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == -1) {
			counts.errors++;
			close(fd);
			continue;
		}
		counts.accepted++;
	}
}

static int
serve(int index, int lfd)
{
	struct epoll_event ev, evs[EVENTS];
	int ep, n, i;

	ep = epoll_create1(EPOLL_CLOEXEC);
	ev.events = EPOLLIN;
	ev.data.fd = lfd;
	if (ep == -1 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) == -1)
		return 1;
	while (!stopping) {
		n = epoll_wait(ep, evs, EVENTS, 500);
		for (i = 0; i < n; i++) {
			if (evs[i].data.fd == lfd)
				accept_all(ep, lfd);
			else
				readable(ep, evs[i].data.fd);
		}
	}
	printf("{\"process\": %d, \"accepted\": %lu, \"closed\": %lu, "
	    "\"registers\": %lu, \"pongs\": %lu, \"other\": %lu, "
	    "\"errors\": %lu}\n", index, counts.accepted, counts.closed,
	    counts.registers, counts.pongs, counts.other, counts.errors);
	fflush(stdout);
	return 0;
}

int
main(int argc, char **argv)
{
	struct sigaction sa;
	pid_t kids[MAX_PROCS];
	int port, nproc, i, lfd, status, rc = 0;

	if (argc != 4 || (port = atoi(argv[2])) <= 0 ||
	    (nproc = atoi(argv[3])) <= 0 || nproc > MAX_PROCS) {
		fprintf(stderr, "usage: trivial_edge IP PORT PROCESSES(1-%d)\n",
		    MAX_PROCS);
		return 2;
	}
	nconns = raise_nofile();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < nproc; i++) {
		/* Each process its own socket: SO_REUSEPORT balances them. */
		if ((lfd = listen_on(argv[1], port)) == -1) {
			perror("trivial_edge: listen");
			return 1;
		}
		kids[i] = fork();
		if (kids[i] == -1) {
			perror("trivial_edge: fork");
			return 1;
		}
		if (kids[i] == 0) {
			conns = calloc(nconns, sizeof(*conns));
			if (conns == NULL)
				_exit(1);
			_exit(serve(i, lfd));
		}
		close(lfd);
	}
	printf("ready\n");
	fflush(stdout);
	while (!stopping)
		pause();
	for (i = 0; i < nproc; i++) {
		(void)kill(kids[i], SIGTERM);
		if (waitpid(kids[i], &status, 0) == -1 || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0)
			rc = 1;
	}
	return rc;
}
