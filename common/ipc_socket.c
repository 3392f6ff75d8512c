/*
 * ipc_socket.c -- struct epsip_msg over nng push0/pull0 IPC sockets.
 *
 * This is the only file that includes nng's messaging headers (nng 2.0
 * changes them).  Receiving is non-blocking and driven by the event loop
 * through NNG_OPT_RECVFD.  Pipe events, which nng delivers on its own
 * threads, only update the socket's table of live pipes (under its
 * mutex) and two atomics the loop reads.
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

struct ipc_socket {
	nng_socket sock;
	nng_msg *held;		/* the message the last ipc_recv returned */
	pthread_mutex_t pipes_mu;	/* nng calls pipe events on its threads */
	uint32_t live[IPC_LIVE_PIPES];	/* ids of pipes that were added */
	int nlive;
	atomic_int lost;	/* a pipe was removed and none is left */
	_Atomic uint64_t alone_since; /* monotonic ms without a pipe; 0: has */
	int ndialers;
	struct ipc_socket *next_watched;	/* service links only */
	int watched;
	unsigned redials;	/* in this outage (loop thread) */
	char url[128];
};

/* Service links of this process (one loop thread: no lock). */
static struct ipc_socket *watched_links;

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

static struct ipc_socket *
ipc_socket_new(const char *url)
{
	struct ipc_socket *s;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		return (NULL);
	}
	snprintf(s->url, sizeof(s->url), "%s", url);
	pthread_mutex_init(&s->pipes_mu, NULL);
	atomic_init(&s->lost, 0);
	atomic_init(&s->alone_since, 0);
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

	if ((s = ipc_socket_new(url)) == NULL) {
		return (-1);
	}
	if ((rv = nng_pull0_open(&s->sock)) != 0) {
		free(s);
		log_warnx("ipc open %s: %s", url, nng_strerror(rv));
		return (-1);
	}
	if ((rv = nng_listener_create(&l, s->sock, url)) != 0) {
		return (ipc_fail(s, "listen", rv));
	}
	/* The run directory is 0700 already; the socket file is ours only. */
	if ((rv = nng_listener_set_int(l, NNG_OPT_IPC_PERMISSIONS, 0600)) ||
	    (rv = nng_listener_set_size(l, NNG_OPT_RECVMAXSZ,
	    EPSIP_MSG_MAX_SIZE)) || (rv = nng_listener_start(l, 0))) {
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
	int count = 0;

	for (struct ipc_socket *s = watched_links; s != NULL;
	    s = s->next_watched) {
		since = atomic_load(&s->alone_since);
		if (since == 0) {
			s->redials = 0;
			continue;
		}
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
		stats_inc("ipc.redials");
		ipc_redial(s);
		count++;
	}
	return (count);
}

int
ipc_push_dial(struct ipc_socket **sockp, const char *url, int must_connect,
    int queue)
{
	struct ipc_socket *s;
	nng_dialer d;
	int rv;

	if ((s = ipc_socket_new(url)) == NULL) {
		return (-1);
	}
	if ((rv = nng_push0_open(&s->sock)) != 0) {
		free(s);
		log_warnx("ipc open %s: %s", url, nng_strerror(rv));
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
		s->next_watched = watched_links;
		watched_links = s;
	}
	*sockp = s;
	return (0);
}

int
ipc_recv_fd(struct ipc_socket *s)
{
	int fd;

	if (nng_socket_get_int(s->sock, NNG_OPT_RECVFD, &fd) != 0) {
		return (-1);
	}
	return (fd);
}

int
ipc_recv(struct ipc_socket *s, struct epsip_msg *msg)
{
	enum epsip_msg_error err;
	nng_msg *m;
	int rv;

	for (;;) {
		if (s->held != NULL) {
			nng_msg_free(s->held);
			s->held = NULL;
		}
		rv = nng_recvmsg(s->sock, &m, NNG_FLAG_NONBLOCK);
		if (rv == NNG_EAGAIN) {
			return (0);
		}
		if (rv != 0) {
			log_warnx("ipc recv %s: %s", s->url, nng_strerror(rv));
			return (-1);
		}
		s->held = m;
		err = epsip_msg_decode(nng_msg_body(m), nng_msg_len(m), msg);
		if (err == EPSIP_MSG_OK) {
			return (1);
		}
		/* Never trusted, never fatal: count it and take the next. */
		log_warnx("ipc %s: dropped garbled message (%s, %zu bytes)",
		    s->url, epsip_msg_error_name(err), nng_msg_len(m));
		stats_inc("ipc.errors");
		stats_inc2("ipc.errors.", epsip_msg_error_name(err));
	}
}

int
ipc_send(struct ipc_socket *s, const struct epsip_msg *msg)
{
	nng_msg *m;
	size_t len;
	int rv;

	if (nng_msg_alloc(&m, epsip_msg_encoded_size(msg)) != 0) {
		stats_inc("ipc.send_dropped");
		return (-1);
	}
	if (epsip_msg_encode(msg, nng_msg_body(m), nng_msg_len(m), &len) !=
	    EPSIP_MSG_OK) {
		nng_msg_free(m);
		stats_inc("ipc.send_dropped");
		return (-1);
	}
	if ((rv = nng_sendmsg(s->sock, m, NNG_FLAG_NONBLOCK)) != 0) {
		nng_msg_free(m);
		stats_inc("ipc.send_dropped");
		log_debug("ipc send %s: %s", s->url, nng_strerror(rv));
		return (-1);
	}
	return (0);
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
	if (s->watched) {
		struct ipc_socket **pp;

		for (pp = &watched_links; *pp != NULL;
		    pp = &(*pp)->next_watched) {
			if (*pp == s) {
				*pp = s->next_watched;
				break;
			}
		}
	}
	nng_close(s->sock);
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
