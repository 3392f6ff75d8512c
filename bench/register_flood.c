/*
 * register_flood.c -- an open-loop UDP REGISTER generator for the overload
 * step of issue 7 §4 (bench/overload.py).
 *
 * sipp, on the same two cores as the edge, becomes the first part to fail
 * past ~20,000 REGISTER/s: it falls behind reading its answers, its socket
 * drops them and it retransmits (docs/performance.md).  Offering twice the
 * held rate needs a client that costs a few µs per REGISTER: this one
 * sends with sendmmsg and reads with recvmmsg, and keeps per transaction
 * only a send time and a state.
 *
 * What it sends is sipp's register_outbound.xml: an RFC 5626 outbound
 * REGISTER (reg-id, +sip.instance, Supported: path, outbound), users
 * cycled, one transaction (Call-ID, branch) per REGISTER, Call-IDs
 * unique to the run.  Like a phone
 * and like sipp (retrans="500") it retransmits an unanswered REGISTER
 * after 0.5, 1 and 2 s (RFC 3261 §17.1.2.2, Timer E doubling) and gives
 * up 5 s after the first send.  Answers:
 *   ok        200 carrying Require: outbound, a Path with ;ob and a
 *             Flow-Timer (what sipp's scenario checks);
 *   shed      503 (the edge refusing work it cannot take);
 *   failed    any other final answer, or a 200 that lacks the above;
 *   timeout   no final answer within 5 s.
 * Provisional answers are ignored; a second final answer to a transaction
 * is counted as a duplicate.
 *
 * usage: register_flood HOST PORT RATE SECONDS [USERS] [SOCKETS]
 * Prints one JSON line: offered, sent, retransmissions, the answers, the
 * 200s' latency p50/p99/max (first send to 200), its own kernel drops
 * (SO_RXQ_OVFL) and its own CPU.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SOCKETS	64
#define BATCH		64
#define MSG_MAX		2048
#define GIVE_UP_US	5000000ull
#define LAT_BUCKET_US	100ull		/* latency histogram resolution */
#define LAT_BUCKETS	(GIVE_UP_US / LAT_BUCKET_US + 1)

/* Retransmissions after the first send: 0.5, 1.5 and 3.5 s (E doubling). */
static const uint64_t retransmit_at_us[] = { 500000, 1500000, 3500000 };
#define RETRANSMITS	(sizeof(retransmit_at_us) / sizeof(retransmit_at_us[0]))

enum txn_state { TXN_UNSENT, TXN_PENDING, TXN_DONE };

struct txn {
	uint64_t first_us;
	uint8_t state;
};

struct counts {
	uint64_t sent, retransmitted, ok, shed, failed, timeout, duplicate;
	uint64_t provisional, unparsable, kernel_drops, send_errors;
	uint64_t failed_by_class[7];	/* failed answers by status / 100 */
	uint64_t ok_unchecked;		/* 200s without outbound's marks */
};

struct flood {
	struct sockaddr_in target;
	int socks[MAX_SOCKETS];
	int ports[MAX_SOCKETS];		/* each socket's local port */
	unsigned nsocks;
	unsigned users;
	char nonce[24];			/* makes this run's Call-IDs unique */
	uint64_t total;			/* transactions to start */
	struct txn *txns;
	uint64_t retransmit_cursor[RETRANSMITS];
	uint64_t timeout_cursor;
	uint64_t *latency;		/* histogram of 200s */
	uint64_t latency_max_us;
	struct counts n;
};

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u);
}

static int
local_port(int fd)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	if (getsockname(fd, (struct sockaddr *)&sin, &len) == -1) {
		return (0);
	}
	return (ntohs(sin.sin_port));
}

/* The REGISTER of transaction `id`, the same bytes every time it is sent. */
static int
register_format(const struct flood *f, uint64_t id, char *buf, size_t size)
{
	unsigned user = (unsigned)(id % f->users) + 1;
	int port = f->ports[id % f->nsocks];

	return (snprintf(buf, size,
	    "REGISTER sip:example.com SIP/2.0\r\n"
	    "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-f%llu;rport\r\n"
	    "Max-Forwards: 70\r\n"
	    "From: <sip:u%06u@example.com>;tag=f%llu\r\n"
	    "To: <sip:u%06u@example.com>\r\n"
	    "Call-ID: f%llu-%s@flood\r\n"
	    "CSeq: 1 REGISTER\r\n"
	    "Supported: path, outbound\r\n"
	    "Contact: <sip:u%06u@127.0.0.1:%d;transport=udp;ob>;reg-id=1;"
	    "+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-%012u>\"\r\n"
	    "Expires: 3600\r\n"
	    "Content-Length: 0\r\n\r\n",
	    port, (unsigned long long)id, user, (unsigned long long)id, user,
	    (unsigned long long)id, f->nonce, user, port, user));
}

/* Send transactions ids[0..count), each on its own socket; count sent. */
static void
send_batch(struct flood *f, const uint64_t *ids, unsigned count)
{
	static char bufs[BATCH][MSG_MAX];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];

	/* One sendmmsg per socket: group the batch's messages by socket. */
	for (unsigned s = 0; s < f->nsocks; s++) {
		unsigned k = 0;

		for (unsigned i = 0; i < count; i++) {
			int len;

			if (ids[i] % f->nsocks != s) {
				continue;
			}
			len = register_format(f, ids[i], bufs[k], MSG_MAX);
			iov[k].iov_base = bufs[k];
			iov[k].iov_len = (size_t)len;
			memset(&msgs[k], 0, sizeof(msgs[k]));
			msgs[k].msg_hdr.msg_name = &f->target;
			msgs[k].msg_hdr.msg_namelen = sizeof(f->target);
			msgs[k].msg_hdr.msg_iov = &iov[k];
			msgs[k].msg_hdr.msg_iovlen = 1;
			k++;
		}
		for (unsigned done = 0; done < k;) {
			int rv = sendmmsg(f->socks[s], msgs + done, k - done, 0);

			if (rv <= 0) {
				/* A full socket buffer: the datagram is lost as
				 * on a wire; its retransmission may get through. */
				f->n.send_errors += k - done;
				break;
			}
			done += (unsigned)rv;
		}
	}
}

static const char *
header_find(const char *msg, size_t len, const char *name)
{
	size_t nlen = strlen(name);

	for (const char *p = msg; p + nlen + 2 < msg + len; p++) {
		if (p[0] == '\n' && strncasecmp(p + 1, name, nlen) == 0) {
			return (p + 1 + nlen);
		}
	}
	return (NULL);
}

/* The line from p to its end contains `needle` (case-insensitive). */
static int
line_has(const char *p, const char *end, const char *needle)
{
	size_t n = strlen(needle);

	for (; p + n <= end && *p != '\r' && *p != '\n'; p++) {
		if (strncasecmp(p, needle, n) == 0) {
			return (1);
		}
	}
	return (0);
}

/* The checks of sipp's register_outbound.xml on a 200. */
static int
ok_is_outbound(const char *msg, size_t len)
{
	const char *end = msg + len, *p;

	return ((p = header_find(msg, len, "Require:")) != NULL &&
	    line_has(p, end, "outbound") &&
	    (p = header_find(msg, len, "Path:")) != NULL &&
	    line_has(p, end, ";ob") &&
	    header_find(msg, len, "Flow-Timer:") != NULL);
}

static void
latency_count(struct flood *f, uint64_t us)
{
	uint64_t b = us / LAT_BUCKET_US;

	f->latency[b < LAT_BUCKETS ? b : LAT_BUCKETS - 1]++;
	if (us > f->latency_max_us) {
		f->latency_max_us = us;
	}
}

static void
answer_take(struct flood *f, const char *msg, size_t len, uint64_t now)
{
	const char *cid;
	char *idend;
	unsigned long long id;
	int status;

	if (len < 12 || strncmp(msg, "SIP/2.0 ", 8) != 0 ||
	    ((cid = header_find(msg, len, "Call-ID:")) == NULL &&
	    (cid = header_find(msg, len, "i:")) == NULL)) {
		f->n.unparsable++;
		return;
	}
	status = atoi(msg + 8);
	while (*cid == ' ' || *cid == '\t') {
		cid++;
	}
	if (*cid != 'f' || (id = strtoull(cid + 1, &idend, 10),
	    idend == cid + 1) || *idend != '-' || id >= f->total) {
		f->n.unparsable++;
		return;
	}
	if (status < 200) {
		f->n.provisional++;
		return;
	}
	if (f->txns[id].state != TXN_PENDING) {
		f->n.duplicate++;
		return;
	}
	f->txns[id].state = TXN_DONE;
	if (status == 200 && ok_is_outbound(msg, len)) {
		f->n.ok++;
		latency_count(f, now - f->txns[id].first_us);
	} else if (status == 503) {
		f->n.shed++;
	} else {
		f->n.failed++;
		f->n.ok_unchecked += status == 200;
		f->n.failed_by_class[status / 100 < 7 ? status / 100 : 0]++;
		if (f->n.failed == 1) {
			/* The first one says what went wrong. */
			fprintf(stderr, "register_flood: first failed answer:\n"
			    "%.*s\n", (int)len, msg);
		}
	}
}

/* Every answer waiting on socket number s. */
static void
answers_read(struct flood *f, unsigned s)
{
	static char bufs[BATCH][MSG_MAX];
	static char ctl[BATCH][CMSG_SPACE(sizeof(uint32_t))];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	static uint32_t last_drops[MAX_SOCKETS];

	for (;;) {
		int n;

		for (unsigned i = 0; i < BATCH; i++) {
			iov[i].iov_base = bufs[i];
			iov[i].iov_len = MSG_MAX - 1;
			memset(&msgs[i], 0, sizeof(msgs[i]));
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
			msgs[i].msg_hdr.msg_control = ctl[i];
			msgs[i].msg_hdr.msg_controllen = sizeof(ctl[i]);
		}
		n = recvmmsg(f->socks[s], msgs, BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0) {
			return;
		}
		uint64_t now = now_us();
		for (int i = 0; i < n; i++) {
			struct cmsghdr *c;

			bufs[i][msgs[i].msg_len] = '\0';
			answer_take(f, bufs[i], msgs[i].msg_len, now);
			for (c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c != NULL;
			    c = CMSG_NXTHDR(&msgs[i].msg_hdr, c)) {
				uint32_t drops;

				if (c->cmsg_level != SOL_SOCKET ||
				    c->cmsg_type != SO_RXQ_OVFL) {
					continue;
				}
				memcpy(&drops, CMSG_DATA(c), sizeof(drops));
				if (drops > last_drops[s]) {
					f->n.kernel_drops += drops -
					    last_drops[s];
					last_drops[s] = drops;
				}
			}
		}
		if (n < BATCH) {
			return;
		}
	}
}

/* Retransmit, or give up on, what is due; in first-send order per stage. */
static void
timers_run(struct flood *f, uint64_t now, uint64_t started)
{
	uint64_t ids[BATCH];
	unsigned k = 0;

	for (unsigned r = 0; r < RETRANSMITS; r++) {
		uint64_t *c = &f->retransmit_cursor[r];

		while (*c < started && f->txns[*c].first_us +
		    retransmit_at_us[r] <= now) {
			if (f->txns[*c].state == TXN_PENDING) {
				ids[k++] = *c;
				f->n.retransmitted++;
				if (k == BATCH) {
					send_batch(f, ids, k);
					k = 0;
				}
			}
			(*c)++;
		}
	}
	if (k > 0) {
		send_batch(f, ids, k);
	}
	while (f->timeout_cursor < started &&
	    f->txns[f->timeout_cursor].first_us + GIVE_UP_US <= now) {
		struct txn *t = &f->txns[f->timeout_cursor++];

		if (t->state == TXN_PENDING) {
			t->state = TXN_DONE;
			f->n.timeout++;
		}
	}
}

static uint64_t
latency_percentile(const struct flood *f, double p)
{
	uint64_t want = (uint64_t)((double)f->n.ok * p + 0.999999), seen = 0;

	if (f->n.ok == 0) {
		return (0);
	}
	for (uint64_t b = 0; b < LAT_BUCKETS; b++) {
		seen += f->latency[b];
		if (seen >= want) {
			return ((b + 1) * LAT_BUCKET_US);
		}
	}
	return (f->latency_max_us);
}

static int
sockets_open(struct flood *f)
{
	int on = 1, size = 8 << 20;
	struct sockaddr_in any;

	memset(&any, 0, sizeof(any));
	any.sin_family = AF_INET;
	any.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (unsigned i = 0; i < f->nsocks; i++) {
		int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);

		if (fd == -1 ||
		    bind(fd, (struct sockaddr *)&any, sizeof(any)) == -1) {
			perror("register_flood: socket");
			return (-1);
		}
		/* Past rmem_max as root: the client must not be what drops. */
		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size,
		    sizeof(size)) == -1) {
			(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size,
			    sizeof(size));
		}
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size,
		    sizeof(size));
		(void)setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &on,
		    sizeof(on));
		f->socks[i] = fd;
		f->ports[i] = local_port(fd);
	}
	return (0);
}

static double
cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ((double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
}

static void
report(const struct flood *f, double rate, double seconds, double wall,
    double cpu)
{
	printf("{\"offered_per_s\": %.0f, \"seconds\": %.1f, "
	    "\"started\": %llu, \"sent\": %llu, \"retransmitted\": %llu, "
	    "\"ok\": %llu, \"shed_503\": %llu, \"failed\": %llu, "
	    "\"timeout\": %llu, \"duplicate\": %llu, \"provisional\": %llu, "
	    "\"unparsable\": %llu, \"ok_per_s\": %.1f, "
	    "\"p50_ms\": %.1f, \"p99_ms\": %.1f, \"max_ms\": %.1f, "
	    "\"client_kernel_drops\": %llu, \"client_send_errors\": %llu, "
	    "\"client_cpu_pct\": %.1f, \"failed_200_unchecked\": %llu, "
	    "\"failed_4xx\": %llu, \"failed_5xx\": %llu, "
	    "\"failed_6xx\": %llu}\n",
	    rate, seconds, (unsigned long long)f->total,
	    (unsigned long long)(f->n.sent + f->n.retransmitted),
	    (unsigned long long)f->n.retransmitted,
	    (unsigned long long)f->n.ok, (unsigned long long)f->n.shed,
	    (unsigned long long)f->n.failed, (unsigned long long)f->n.timeout,
	    (unsigned long long)f->n.duplicate,
	    (unsigned long long)f->n.provisional,
	    (unsigned long long)f->n.unparsable,
	    (double)f->n.ok / seconds,
	    latency_percentile(f, 0.50) / 1000.0,
	    latency_percentile(f, 0.99) / 1000.0,
	    f->latency_max_us / 1000.0,
	    (unsigned long long)f->n.kernel_drops,
	    (unsigned long long)f->n.send_errors,
	    100.0 * cpu / wall,
	    (unsigned long long)f->n.ok_unchecked,
	    (unsigned long long)f->n.failed_by_class[4],
	    (unsigned long long)f->n.failed_by_class[5],
	    (unsigned long long)f->n.failed_by_class[6]);
}

int
main(int argc, char **argv)
{
	static struct flood f;
	double rate, seconds, cpu0;
	uint64_t t0, started = 0, end_us;

	if (argc < 5) {
		fprintf(stderr, "usage: register_flood HOST PORT RATE SECONDS "
		    "[USERS] [SOCKETS]\n");
		return (2);
	}
	f.target.sin_family = AF_INET;
	f.target.sin_port = htons((uint16_t)atoi(argv[2]));
	if (inet_pton(AF_INET, argv[1], &f.target.sin_addr) != 1) {
		fprintf(stderr, "register_flood: %s: not an IPv4 address\n",
		    argv[1]);
		return (2);
	}
	rate = atof(argv[3]);
	seconds = atof(argv[4]);
	f.users = argc > 5 ? (unsigned)atoi(argv[5]) : 20000;
	f.nsocks = argc > 6 ? (unsigned)atoi(argv[6]) : 1;
	if (rate <= 0 || seconds <= 0 || f.users == 0 || f.nsocks == 0 ||
	    f.nsocks > MAX_SOCKETS) {
		fprintf(stderr, "register_flood: bad arguments\n");
		return (2);
	}
	f.total = (uint64_t)(rate * seconds);
	/* A registrar rejects an old Call-ID's CSeq 1 again (400): every
	 * run's Call-IDs are new. */
	snprintf(f.nonce, sizeof(f.nonce), "%x%llx", (unsigned)getpid(),
	    (unsigned long long)now_us());
	f.txns = calloc(f.total, sizeof(*f.txns));
	f.latency = calloc(LAT_BUCKETS, sizeof(*f.latency));
	if (f.txns == NULL || f.latency == NULL || sockets_open(&f) == -1) {
		return (1);
	}
	cpu0 = cpu_seconds();
	t0 = now_us();
	/* Run until every transaction has its answer or has given up. */
	end_us = t0 + (uint64_t)(seconds * 1e6) + GIVE_UP_US + 100000;
	for (uint64_t now = t0; now < end_us &&
	    (started < f.total || f.timeout_cursor < f.total);
	    now = now_us()) {
		uint64_t due = (uint64_t)((double)(now - t0) * rate / 1e6) + 1;
		uint64_t ids[BATCH];

		if (due > f.total) {
			due = f.total;
		}
		while (started < due) {
			unsigned k = 0;

			while (started < due && k < BATCH) {
				f.txns[started].first_us = now;
				f.txns[started].state = TXN_PENDING;
				ids[k++] = started++;
			}
			f.n.sent += k;
			send_batch(&f, ids, k);
		}
		for (unsigned s = 0; s < f.nsocks; s++) {
			answers_read(&f, s);
		}
		timers_run(&f, now, started);
		/* Finished early: every transaction answered. */
		if (started == f.total && f.n.ok + f.n.shed + f.n.failed +
		    f.n.timeout == f.total) {
			break;
		}
		usleep(200);
	}
	report(&f, rate, seconds, (now_us() - t0) / 1e6,
	    cpu_seconds() - cpu0);
	return (0);
}
