/*
 * ipc_socket.c -- struct epsip_msg over nng push0/pull0 IPC sockets.
 *
 * This is the only file that includes nng's messaging headers (nng 2.0
 * changes them).  Receiving is non-blocking and driven by the event loop
 * through NNG_OPT_RECVFD.  Pipe events, which nng delivers on its own
 * threads, only update the socket's table of live pipes (under its
 * mutex) and two atomics the loop reads.
 *
 * Batches.  Every nng message costs thread hand-offs on both sides, so
 * ipc_send() does not hand a message to nng: it appends the envelope to
 * the socket's batch (ipc.h), and the loop's LOOP_END_FLUSH hook sends
 * every batch once the iteration is over.  A receiver takes a whole batch
 * per wake-up, and its answers leave together in turn, so under load the
 * batches grow by themselves and each hop's cost is shared; an idle
 * process still sends the one message of its one event at once.  A batch
 * nng cannot take (its queue is full) stays and is tried again at the
 * next iteration's end and on a short timer; it takes more envelopes
 * until it is full.  Then it joins the socket's outbox, a queue of whole
 * batches that leave, oldest first, before anything newer: a burst of
 * FLOW_CLOSEDs or answers is delayed, never lost, while the peer lives.
 * New work (ipc_offer) waits the same way while the link has been stuck
 * for less than ipc_set_offer_wait() (overload-delay): a peer's pause of
 * tens of ms, or a burst into nng's queue of small batches at a low rate,
 * is not overload and earns no 503.  After that, new work is refused once
 * the batch is full or the outbox holds anything, so callers keep their
 * back-pressure and the outbox stays small.  Its bound (ipc-backlog) only
 * stops a peer that takes nothing at all from eating the sender's memory.  A process with
 * no loop attached sends at once, and keeps what nng refused in the
 * outbox until ipc_flush_all() or the next send.
 *
 * Service links (push sockets dialed without must_connect) are watched:
 * nng 1.5.2's dialer stops redialing for good when a connect fails with
 * NNG_ECLOSED, which is what EPIPE becomes when the connect reached a
 * listener in the middle of dying (its process SIGKILLed) and the
 * handshake's write found it gone.  A link that has had no pipe for
 * IPC_REDIAL_MS gets one more dialer from ipc_redial_stuck(); the socket
 * and the messages queued on it stay, so nothing is lost.  The old
 * dialer is left alone, not closed: closing one in the middle of a
 * handshake (its peer stopped, not dead) leaks in nng 1.5.2.  At most
 * IPC_MAX_DIALERS per link: after as many outages, a link may hold a
 * pipe per dialer, which push0 uses in turn.
 * DIAGNOSTICS: none fatal; errors are returned, logged and counted.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>

#include "epsip/ipc_socket.h"
#include "epsip/log.h"
#include "epsip/loop.h"
#include "epsip/stats.h"

/* Ten times nng's longest redial interval here (RECONNMAXT). */
#define IPC_REDIAL_MS	1000
/* The first dialer and the ones ipc_redial_stuck() adds. */
#define IPC_MAX_DIALERS	3
/* A pipe per dialer. */
#define IPC_LIVE_PIPES	IPC_MAX_DIALERS
/* A fresh batch's room; it doubles as it fills. */
#define IPC_BATCH_RESERVE	8192
/* How soon a batch nng refused is offered again if nothing else runs. */
#define IPC_RETRY_MS	2

/* A whole batch that waits in a socket's outbox for nng to take it. */
struct ipc_waiting {
	nng_msg *m;
	uint16_t count;
};

struct ipc_socket {
	nng_socket sock;
	nng_aio *recv_aio;	/* reused: see recv_nonblock() */
	nng_aio *send_aio;
	nng_msg *held;		/* the batch the last ipc_recv read from */
	struct epsip_batch_reader rd;	/* where in `held` */
	int recv_fd;		/* NNG_OPT_RECVFD, -1 until asked for */
	nng_msg *batch;		/* being filled; NULL when empty */
	uint16_t batch_count;
	int stuck;		/* nng refused a batch: its queue is full */
	uint64_t stuck_since_ms;	/* monotonic ms it became stuck */
	struct ipc_waiting *outbox;	/* ring of full batches nng refused */
	size_t ob_head, ob_len, ob_cap;
	size_t ob_bytes;	/* their nng message bytes */
	size_t ob_envelopes;
	int pending;		/* on pending_batches */
	LIST_ENTRY(ipc_socket) pending_link;
	pthread_mutex_t pipes_mu;	/* nng calls pipe events on its threads */
	uint32_t live[IPC_LIVE_PIPES];	/* ids of pipes that were added */
	int nlive;
	atomic_int lost;	/* a pipe was removed and none is left */
	_Atomic uint64_t alone_since; /* monotonic ms without a pipe; 0: has */
	int ndialers;
	LIST_ENTRY(ipc_socket) watched_link;	/* service links only */
	int watched;
	unsigned redials;	/* in this outage (loop thread) */
	char url[128];
};

/* Service links of this process (one loop thread: no lock). */
static LIST_HEAD(, ipc_socket) watched_links;
/* Sockets holding a batch, and the loop that flushes them. */
static LIST_HEAD(, ipc_socket) pending_batches;
static struct loop *flush_loop;
static int retry_timer = -1;
/* ipc_set_backlog_limit(): bytes one socket's outbox may hold. */
static size_t backlog_limit = (size_t)64 << 20;
/* ipc_set_offer_wait(): ms a stuck link still takes new work. */
static unsigned offer_wait_ms;
/* The ipc.backlog gauge as last reported. */
static size_t backlog_reported;
static uint64_t backlog_warned_ms;

/*
 * Only pipes that were added count: nng also reports the removal of a
 * pipe that never started (a connect that failed its handshake), and
 * may do so after the next pipe was added.
 */
static void
ipc_pipe_event(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
	struct ipc_socket *s = arg;
	uint32_t id = (uint32_t)nng_pipe_id(pipe);

	pthread_mutex_lock(&s->pipes_mu);
	if (ev == NNG_PIPE_EV_ADD_POST) {
		if (s->nlive < IPC_LIVE_PIPES) {
			s->live[s->nlive++] = id;
		}
		atomic_store(&s->lost, 0);
		atomic_store(&s->alone_since, 0);
	} else if (ev == NNG_PIPE_EV_REM_POST) {
		for (int i = 0; i < s->nlive; i++) {
			if (s->live[i] != id) {
				continue;
			}
			s->live[i] = s->live[--s->nlive];
			if (s->nlive == 0) {
				atomic_store(&s->lost, 1);
				atomic_store(&s->alone_since, monotonic_ms());
			}
			break;
		}
	}
	pthread_mutex_unlock(&s->pipes_mu);
}

/*
 * nng_recvmsg() and nng_sendmsg() allocate an aio per call, and nng 1.5
 * seeds every new aio with getrandom(2): a syscall per batch each way,
 * plus one for each receive that finds nothing.  The same non-blocking
 * calls on one aio per socket and direction, allocated on first use and
 * reused, cost neither.  NNG_EAGAIN as nng_*msg(NNG_FLAG_NONBLOCK) say it.
 */
static int
aio_ready(nng_aio **aio)
{
	if (*aio == NULL && nng_aio_alloc(aio, NULL, NULL) != 0) {
		return (NNG_ENOMEM);
	}
	nng_aio_set_timeout(*aio, NNG_DURATION_ZERO);
	return (0);
}

static int
recv_nonblock(struct ipc_socket *s, nng_msg **m)
{
	int rv;

	if ((rv = aio_ready(&s->recv_aio)) != 0) {
		return (rv);
	}
	nng_recv_aio(s->sock, s->recv_aio);
	nng_aio_wait(s->recv_aio);
	if ((rv = nng_aio_result(s->recv_aio)) == 0) {
		*m = nng_aio_get_msg(s->recv_aio);
		nng_aio_set_msg(s->recv_aio, NULL);
	}
	return (rv == NNG_ETIMEDOUT ? NNG_EAGAIN : rv);
}

/* On success nng owns `m`; on failure the caller still does. */
static int
send_nonblock(struct ipc_socket *s, nng_msg *m)
{
	int rv;

	if ((rv = aio_ready(&s->send_aio)) != 0) {
		return (rv);
	}
	nng_aio_set_msg(s->send_aio, m);
	nng_send_aio(s->sock, s->send_aio);
	nng_aio_wait(s->send_aio);
	rv = nng_aio_result(s->send_aio);
	nng_aio_set_msg(s->send_aio, NULL);
	return (rv == NNG_ETIMEDOUT ? NNG_EAGAIN : rv);
}

/* A socket for `url` of the protocol open_protocol makes (pull, push). */
static struct ipc_socket *
ipc_socket_new(const char *url, int (*open_protocol)(nng_socket *))
{
	struct ipc_socket *s;
	int rv;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		return (NULL);
	}
	snprintf(s->url, sizeof(s->url), "%s", url);
	s->recv_fd = -1;
	pthread_mutex_init(&s->pipes_mu, NULL);
	atomic_init(&s->lost, 0);
	atomic_init(&s->alone_since, 0);
	if ((rv = open_protocol(&s->sock)) != 0) {
		free(s);
		log_warnx("ipc open %s: %s", url, nng_strerror(rv));
		return (NULL);
	}
	return (s);
}

static int
ipc_fail(struct ipc_socket *s, const char *what, int rv)
{
	log_warnx("ipc %s %s: %s", what, s->url, nng_strerror(rv));
	nng_close(s->sock);
	free(s);
	return (-1);
}

int
ipc_pull_listen(struct ipc_socket **sockp, const char *url)
{
	struct ipc_socket *s;
	nng_listener l;
	int rv;

	if ((s = ipc_socket_new(url, nng_pull0_open)) == NULL) {
		return (-1);
	}
	if ((rv = nng_listener_create(&l, s->sock, url)) != 0) {
		return (ipc_fail(s, "listen", rv));
	}
	/* The run directory is 0700 already; the socket file is ours only. */
	if ((rv = nng_listener_set_int(l, NNG_OPT_IPC_PERMISSIONS, 0600)) ||
	    (rv = nng_listener_set_size(l, NNG_OPT_RECVMAXSZ,
	    EPSIP_BATCH_MAX_SIZE)) || (rv = nng_listener_start(l, 0))) {
		return (ipc_fail(s, "listen", rv));
	}
	*sockp = s;
	return (0);
}

/* One more dialer for a link nng may have given up on. */
static void
ipc_redial(struct ipc_socket *s)
{
	nng_dialer d;
	int rv;

	if ((rv = nng_dialer_create(&d, s->sock, s->url)) != 0 ||
	    (rv = nng_dialer_start(d, NNG_FLAG_NONBLOCK)) != 0) {
		log_warnx("ipc redial %s: %s", s->url, nng_strerror(rv));
		return;
	}
	s->ndialers++;
}

int
ipc_redial_stuck(void)
{
	uint64_t now = monotonic_ms(), since;
	struct ipc_socket *s;
	int count = 0, down = 0;

	LIST_FOREACH(s, &watched_links, watched_link) {
		since = atomic_load(&s->alone_since);
		if (since == 0) {
			s->redials = 0;
			continue;
		}
		down++;
		if (now - since < IPC_REDIAL_MS ||
		    s->ndialers >= IPC_MAX_DIALERS ||
		    !atomic_compare_exchange_strong(&s->alone_since, &since,
		    now)) {
			continue;
		}
		/* Once per outage at info: a peer down for long is logged
		 * by the supervisor already. */
		log_flow(s->redials++ == 0 ? LOG_LEVEL_INFO : LOG_LEVEL_DEBUG,
		    NULL, "ipc %s: no connection for %llu ms, dialing afresh",
		    s->url, (unsigned long long)(now - since));
		stats_inc(M_IPC_REDIALS);
		ipc_redial(s);
		count++;
	}
	stats_set(M_IPC_LINKS_DOWN, down);
	return (count);
}

int
ipc_push_dial(struct ipc_socket **sockp, const char *url, int must_connect,
    int queue)
{
	struct ipc_socket *s;
	nng_dialer d;
	int rv;

	if ((s = ipc_socket_new(url, nng_push0_open)) == NULL) {
		return (-1);
	}
	nng_pipe_notify(s->sock, NNG_PIPE_EV_ADD_POST, ipc_pipe_event, s);
	nng_pipe_notify(s->sock, NNG_PIPE_EV_REM_POST, ipc_pipe_event, s);
	if ((rv = nng_socket_set_int(s->sock, NNG_OPT_SENDBUF, queue)) != 0) {
		return (ipc_fail(s, "sendbuf", rv));
	}
	/* A restarted router or bridge is found again within 100 ms. */
	nng_socket_set_ms(s->sock, NNG_OPT_RECONNMINT, 10);
	nng_socket_set_ms(s->sock, NNG_OPT_RECONNMAXT, 100);
	if ((rv = nng_dialer_create(&d, s->sock, url)) != 0) {
		return (ipc_fail(s, "dial", rv));
	}
	/* Alone until the first pipe says otherwise (from nng's thread). */
	atomic_store(&s->alone_since, monotonic_ms());
	if ((rv = nng_dialer_start(d, must_connect ? 0 : NNG_FLAG_NONBLOCK))) {
		if (!must_connect) {
			return (ipc_fail(s, "dial", rv));
		}
		/* Expected when a flow's child is gone: the caller says 430. */
		nng_close(s->sock);
		free(s);
		return (-1);
	}
	s->ndialers = 1;
	if (!must_connect) {
		s->watched = 1;
		LIST_INSERT_HEAD(&watched_links, s, watched_link);
	}
	*sockp = s;
	return (0);
}

int
ipc_recv_fd(struct ipc_socket *s)
{
	int fd;

	if (s->recv_fd == -1 &&
	    nng_socket_get_int(s->sock, NNG_OPT_RECVFD, &fd) == 0) {
		s->recv_fd = fd;
	}
	return (s->recv_fd);
}

/* Count and log an envelope or batch that did not decode. */
static void
ipc_garbled(struct ipc_socket *s, enum epsip_msg_error err, size_t len)
{
	/* Never trusted, never fatal: count it and take the next. */
	log_warnx("ipc %s: dropped garbled message (%s, %zu bytes)",
	    s->url, epsip_msg_error_name(err), len);
	stats_inc(M_IPC_GARBLED);
	stats_inc(metric_label_find(MF_IPC_ERRORS,
	    epsip_msg_error_name(err)));
}

int
ipc_recv(struct ipc_socket *s, struct epsip_msg *msg)
{
	enum epsip_msg_error err;
	nng_msg *m;
	int rv;

	for (;;) {
		if (s->held != NULL) {
			if ((rv = epsip_batch_next(&s->rd, msg, &err)) == 1) {
				/*
				 * nng's descriptor shows only nng's queue: a
				 * reader that stops (its budget) before the
				 * end of this batch must be called again.
				 */
				if (s->rd.remaining > 0 && flush_loop != NULL &&
				    s->recv_fd != -1) {
					loop_fd_again(flush_loop, s->recv_fd);
				}
				return (1);
			}
			if (rv == -1) {
				ipc_garbled(s, err, nng_msg_len(s->held));
				continue;
			}
			nng_msg_free(s->held);
			s->held = NULL;
		}
		rv = recv_nonblock(s, &m);
		if (rv == NNG_EAGAIN) {
			return (0);
		}
		if (rv != 0) {
			log_warnx("ipc recv %s: %s", s->url, nng_strerror(rv));
			return (-1);
		}
		err = epsip_batch_open(&s->rd, nng_msg_body(m), nng_msg_len(m));
		if (err != EPSIP_MSG_OK) {
			ipc_garbled(s, err, nng_msg_len(m));
			nng_msg_free(m);
			continue;
		}
		stats_inc(M_IPC_BATCHES_RECEIVED);
		s->held = m;
	}
}

static void
pending_add(struct ipc_socket *s)
{
	if (!s->pending) {
		s->pending = 1;
		LIST_INSERT_HEAD(&pending_batches, s, pending_link);
	}
}

static void
pending_remove(struct ipc_socket *s)
{
	if (!s->pending) {
		return;
	}
	LIST_REMOVE(s, pending_link);
	s->pending = 0;
}

static void
batch_free(struct ipc_socket *s)
{
	if (s->batch != NULL) {
		nng_msg_free(s->batch);
	}
	s->batch = NULL;
	s->batch_count = 0;
}

static void
mark_stuck(struct ipc_socket *s)
{
	if (!s->stuck) {
		stats_inc(M_IPC_BATCHES_BLOCKED);
		s->stuck_since_ms = monotonic_ms();
	}
	s->stuck = 1;
}

/* What nng took: counted as sent; anything but EAGAIN: counted, freed. */
static int
hand_to_nng(struct ipc_socket *s, nng_msg *m, uint16_t count)
{
	int rv;

	epsip_batch_put_header(nng_msg_body(m), count);
	if ((rv = send_nonblock(s, m)) == 0) {
		stats_inc(M_IPC_BATCHES_SENT);
		stats_add(M_IPC_BATCHES_ENVELOPES, count);
	} else if (rv != NNG_EAGAIN) {
		log_debug("ipc send %s: %s", s->url, nng_strerror(rv));
		stats_add(M_IPC_SEND_DROPPED, count);
		nng_msg_free(m);
	}
	return (rv);
}

/*
 * The batch being filled joins the outbox: -1 (nothing changed) when
 * that would take the outbox past ipc_set_backlog_limit().
 */
static int
outbox_push(struct ipc_socket *s)
{
	size_t len = nng_msg_len(s->batch), ncap, i;
	struct ipc_waiting *nq;

	if (s->ob_bytes + len > backlog_limit) {
		return (-1);
	}
	if (s->ob_len == s->ob_cap) {
		ncap = s->ob_cap != 0 ? s->ob_cap * 2 : 16;
		if ((nq = calloc(ncap, sizeof(*nq))) == NULL) {
			return (-1);
		}
		/* Unwrap the ring, oldest first. */
		for (i = 0; i < s->ob_len; i++) {
			nq[i] = s->outbox[(s->ob_head + i) % s->ob_cap];
		}
		free(s->outbox);
		s->outbox = nq;
		s->ob_cap = ncap;
		s->ob_head = 0;
	}
	s->outbox[(s->ob_head + s->ob_len) % s->ob_cap] =
	    (struct ipc_waiting){ s->batch, s->batch_count };
	s->ob_len++;
	s->ob_bytes += len;
	s->ob_envelopes += s->batch_count;
	s->batch = NULL;
	s->batch_count = 0;
	return (0);
}

static void
outbox_pop(struct ipc_socket *s, size_t len)
{
	struct ipc_waiting *w = &s->outbox[s->ob_head];

	s->ob_bytes -= len;
	s->ob_envelopes -= w->count;
	w->m = NULL;
	s->ob_head = (s->ob_head + 1) % s->ob_cap;
	s->ob_len--;
}

/*
 * Hand nng the outbox, oldest first, then the batch being filled: 0 when
 * nothing waits any more, -1 while something does (nng's queue is full).
 */
static int
link_flush(struct ipc_socket *s)
{
	struct ipc_waiting *w;
	size_t len;

	while (s->ob_len > 0) {
		w = &s->outbox[s->ob_head];
		len = nng_msg_len(w->m);
		if (hand_to_nng(s, w->m, w->count) == NNG_EAGAIN) {
			mark_stuck(s);
			return (-1);
		}
		outbox_pop(s, len);
	}
	if (s->batch != NULL) {
		if (hand_to_nng(s, s->batch, s->batch_count) == NNG_EAGAIN) {
			/* Kept: the queue drains and the next try takes it. */
			mark_stuck(s);
			return (-1);
		}
		s->batch = NULL;	/* nng's now, or failed and counted */
		s->batch_count = 0;
	}
	s->stuck = 0;
	pending_remove(s);
	return (0);
}

/* Make room for `need` more bytes, doubling: appends stay linear. */
static int
batch_reserve(struct ipc_socket *s, size_t need)
{
	size_t len, cap;

	if (s->batch == NULL) {
		if (nng_msg_alloc(&s->batch, EPSIP_BATCH_HEADER_SIZE) != 0) {
			s->batch = NULL;
			return (-1);
		}
		s->batch_count = 0;
		if (nng_msg_reserve(s->batch, IPC_BATCH_RESERVE) != 0) {
			return (-1);
		}
	}
	len = nng_msg_len(s->batch);
	if ((cap = nng_msg_capacity(s->batch)) >= len + need) {
		return (0);
	}
	while (cap < len + need) {
		cap *= 2;
	}
	return (nng_msg_reserve(s->batch, cap) == 0 ? 0 : -1);
}

/* Encode `msg` at the end of the batch; -1 leaves the batch as it was. */
static int
batch_append(struct ipc_socket *s, const struct epsip_msg *msg)
{
	size_t need = epsip_batch_entry_size(msg), len, n;

	if (batch_reserve(s, need) == -1) {
		return (-1);
	}
	len = nng_msg_len(s->batch);
	if (nng_msg_realloc(s->batch, len + need) != 0) {
		return (-1);
	}
	if (epsip_batch_put_entry(msg, (uint8_t *)nng_msg_body(s->batch) +
	    len, need, &n) != EPSIP_MSG_OK) {
		(void)nng_msg_chop(s->batch, need);
		return (-1);
	}
	s->batch_count++;
	return (0);
}

static void
ipc_retry_cb(struct loop *loop, void *arg)
{
	(void)loop;
	(void)arg;
	retry_timer = -1;
	ipc_flush_all();
}

/*
 * The gauge of envelopes nng refused that wait here (in outboxes, and in
 * batches it refused), when it moved.
 */
static void
backlog_report(void)
{
	struct ipc_socket *s;
	size_t waiting = 0;

	LIST_FOREACH(s, &pending_batches, pending_link) {
		waiting += s->stuck ? ipc_waiting(s) : s->ob_envelopes;
	}
	if (waiting != backlog_reported) {
		backlog_reported = waiting;
		stats_set(M_IPC_BACKLOG, (int64_t)waiting);
	}
}

void
ipc_flush_all(void)
{
	struct ipc_socket *s, *next;
	int stuck = 0;

	for (s = LIST_FIRST(&pending_batches); s != NULL; s = next) {
		next = LIST_NEXT(s, pending_link);
		if (link_flush(s) == -1) {
			stuck = 1;
		}
	}
	backlog_report();
	if (stuck && flush_loop != NULL && retry_timer == -1) {
		retry_timer = loop_after(flush_loop, IPC_RETRY_MS,
		    ipc_retry_cb, NULL);
	}
}

static void
ipc_flush_hook(struct loop *loop, void *arg)
{
	(void)loop;
	(void)arg;
	if (!LIST_EMPTY(&pending_batches)) {
		ipc_flush_all();
	}
}

int
ipc_attach_loop(struct loop *loop)
{
	if (loop_at_iteration_end(loop, LOOP_END_FLUSH, ipc_flush_hook,
	    NULL) == -1) {
		return (-1);
	}
	flush_loop = loop;
	retry_timer = -1;
	return (0);
}

void
ipc_detach_loop(void)
{
	if (flush_loop != NULL && retry_timer != -1) {
		loop_cancel(flush_loop, retry_timer);
	}
	flush_loop = NULL;
	retry_timer = -1;
}

void
ipc_set_backlog_limit(size_t bytes)
{
	backlog_limit = bytes;
}

void
ipc_set_offer_wait(unsigned ms)
{
	offer_wait_ms = ms;
}

/* Stuck for less than the offer wait: new work may still wait. */
static int
stuck_briefly(const struct ipc_socket *s)
{
	return (s->stuck && monotonic_ms() - s->stuck_since_ms < offer_wait_ms);
}

size_t
ipc_waiting(const struct ipc_socket *s)
{
	return (s->ob_envelopes + s->batch_count);
}

static int
batch_is_full_for(const struct ipc_socket *s, const struct epsip_msg *msg)
{
	return (s->batch != NULL && (s->batch_count == EPSIP_BATCH_MAX_COUNT ||
	    nng_msg_len(s->batch) + epsip_batch_entry_size(msg) >
	    EPSIP_BATCH_MAX_SIZE));
}

/* The outbox is at its limit: what could not be kept is lost, loudly. */
static int
backlog_full(struct ipc_socket *s)
{
	uint64_t now = monotonic_ms();

	stats_inc(M_IPC_DROPPED_BACKLOG_FULL);
	stats_inc(M_IPC_SEND_DROPPED);
	if (now - backlog_warned_ms >= 1000) {
		backlog_warned_ms = now;
		log_warnx("ipc %s: %zu envelopes (%zu bytes) wait for a peer "
		    "that takes nothing; dropping (ipc-backlog)", s->url,
		    s->ob_envelopes, s->ob_bytes);
	}
	return (-1);
}

/*
 * ipc_send() and ipc_offer(): `must` says whether what nng cannot take
 * waits in the outbox (ipc_send) or is refused (ipc_offer, as a link
 * without an outbox would: callers shed or pause) -- once the link has
 * been stuck for ipc_set_offer_wait(); before that it waits too.
 */
static int
link_append(struct ipc_socket *s, const struct epsip_msg *msg, int must)
{
	int keep;

	if (s->stuck) {
		(void)link_flush(s);	/* the queue may have drained */
	}
	keep = must || stuck_briefly(s);	/* a short stall: it waits */
	if (!keep && s->ob_len > 0) {
		goto refused;
	}
	/*
	 * A batch nng refused still takes what fits: it leaves whole when
	 * the queue drains.  Once it is full it joins the outbox, or, for
	 * new work, the sender is refused.
	 */
	if (batch_is_full_for(s, msg) && (s->stuck || link_flush(s) == -1) &&
	    s->batch != NULL) {
		if (!keep) {
			goto refused;
		}
		if (outbox_push(s) == -1) {
			if (!must) {
				goto refused;
			}
			return (backlog_full(s));
		}
	}
	if (batch_append(s, msg) == -1) {
		if (s->batch != NULL && s->batch_count == 0) {
			batch_free(s);
		}
		goto refused;
	}
	pending_add(s);
	if (flush_loop == NULL && link_flush(s) == -1 && s->batch != NULL) {
		/* Unbatched: this envelope is the whole batch. */
		if (!keep) {
			batch_free(s);
			goto refused;
		}
		if (outbox_push(s) == -1) {
			batch_free(s);
			if (!must) {
				goto refused;
			}
			return (backlog_full(s));
		}
	}
	return (0);
refused:
	/* New work refused is the caller's to answer; anything else lost. */
	stats_inc(must ? M_IPC_SEND_DROPPED : M_IPC_OFFERS_REFUSED);
	return (-1);
}

int
ipc_send(struct ipc_socket *s, const struct epsip_msg *msg)
{
	return (link_append(s, msg, 1));
}

int
ipc_offer(struct ipc_socket *s, const struct epsip_msg *msg)
{
	return (link_append(s, msg, 0));
}

int
ipc_peer_lost(struct ipc_socket *s)
{
	return (atomic_load(&s->lost));
}

void
ipc_close(struct ipc_socket *s)
{
	if (s == NULL) {
		return;
	}
	if (s->held != NULL) {
		nng_msg_free(s->held);
	}
	/* What it still holds goes, as it did before batching; if nng
	 * cannot take it, whoever it was for is gone, or we are. */
	if (link_flush(s) == -1) {
		stats_add(M_IPC_SEND_DROPPED, (int64_t)ipc_waiting(s));
		stats_add(M_IPC_DROPPED_AT_CLOSE, (int64_t)ipc_waiting(s));
		while (s->ob_len > 0) {
			nng_msg *m = s->outbox[s->ob_head].m;

			outbox_pop(s, nng_msg_len(m));
			nng_msg_free(m);
		}
		batch_free(s);
		pending_remove(s);
		backlog_report();
	}
	free(s->outbox);
	if (s->watched) {
		LIST_REMOVE(s, watched_link);
	}
	nng_close(s->sock);
	if (s->recv_aio != NULL) {
		nng_aio_free(s->recv_aio);
	}
	if (s->send_aio != NULL) {
		nng_aio_free(s->send_aio);
	}
	pthread_mutex_destroy(&s->pipes_mu);
	free(s);
}

void
ipc_library_fini(void)
{
	nng_fini();
}

int
ipc_service_url(const char *run_dir, const char *name, char *url, size_t cap)
{
	int n = snprintf(url, cap, "ipc://%s/%s.ipc", run_dir, name);

	return (n < 0 || (size_t)n >= cap ? -1 : 0);
}
