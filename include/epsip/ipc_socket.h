/*
 * ipc_socket.h -- nng sockets carrying struct epsip_msg envelopes.
 *
 * All nng calls live behind this file (nng 2.0 changes the API).  Fan-in
 * uses pull0 listeners (router, bridge, supervisor, each flow-manager
 * child); senders dial them with push0.  Sends never block the event loop,
 * and no message is lost while its peer lives (issue 8): what nng's queue
 * cannot take waits in the socket's outbox, in order, and leaves as the
 * queue drains.  New work is offered instead (ipc_offer): a link that is
 * backed up refuses it, and the caller sheds it (503) or stops reading
 * (TCP back-pressure), so outboxes hold what finishes work, not a flood.
 *
 * What one loop iteration sends to one socket travels as one batch (one
 * nng message, ipc.h), sent at the iteration's end: see ipc_attach_loop().
 */
#ifndef EPSIP_IPC_SOCKET_H
#define EPSIP_IPC_SOCKET_H

#include "epsip/ipc.h"

struct ipc_socket;

struct loop;

/*
 * Batch from now on: ipc_send() appends to the socket's batch and the
 * loop's LOOP_END_FLUSH hook sends every batch at the end of each
 * iteration.  Call once per process, on its one loop, before the loop
 * runs.  Until then (tools, tests) every ipc_send() is sent at once.
 */
int ipc_attach_loop(struct loop *loop);
/* Before the loop is freed: back to sending at once. */
void ipc_detach_loop(void);
/* Send every waiting batch now (the flush hook does this). */
void ipc_flush_all(void);

/*
 * A pull socket listening on `url` ("ipc:///run/epsip/router.ipc"), socket
 * file mode 0600, nng messages larger than EPSIP_BATCH_MAX_SIZE refused.
 */
int ipc_pull_listen(struct ipc_socket **sock, const char *url);

/*
 * A push socket dialing `url`.  With `must_connect` the first dial is
 * synchronous and fails at once when nobody listens (used towards
 * flow-manager children: a missing child means 430 now, not later);
 * otherwise nng keeps redialing in the background and `queue` messages wait
 * in the send buffer meanwhile (used towards the router and the bridge, so
 * that their restart loses nothing).
 */
int ipc_push_dial(struct ipc_socket **sock, const char *url, int must_connect,
    int queue);

/* A descriptor that polls readable when ipc_recv() has a message. */
int ipc_recv_fd(struct ipc_socket *sock);

/*
 * Take the next message without blocking.  Returns 1 and fills *msg (valid
 * until the next ipc_recv() or ipc_close() on this socket), 0 when nothing
 * is waiting, -1 on a socket error.  Garbled envelopes are dropped, logged
 * and counted as "ipc.errors" here, never returned.
 */
int ipc_recv(struct ipc_socket *sock, struct epsip_msg *msg);

/*
 * Encode and queue (into the batch); what nng cannot take now waits in
 * the outbox.  0, or -1 (counted, and logged at most once a second) only
 * when the outbox is at ipc_set_backlog_limit() -- a peer that has taken
 * nothing for that long is stopped or gone -- or the socket failed.
 */
int ipc_send(struct ipc_socket *sock, const struct epsip_msg *msg);
/*
 * The same for a message that starts new work.  While the peer has taken
 * nothing for less than ipc_set_offer_wait(), new work waits in the outbox
 * too: a pause of the peer, or a burst, is not overload.  After that, -1
 * (counted, nothing queued) when nng's queue is full and this socket's
 * batch is full too, or anything waits in its outbox.  The caller sheds or
 * pauses.
 */
int ipc_offer(struct ipc_socket *sock, const struct epsip_msg *msg);
/* Envelopes queued here that nng has not taken yet (batch and outbox). */
size_t ipc_waiting(const struct ipc_socket *sock);
/* Bytes one socket's outbox may hold (the ipc-backlog setting). */
void ipc_set_backlog_limit(size_t bytes);
/*
 * How long a link may be stuck before ipc_offer() refuses new work
 * (daemon_main: the overload-delay setting, past which a request is late
 * anyway).  0, the default: refused at once.
 */
void ipc_set_offer_wait(unsigned ms);

/*
 * 1 once the peer of a must_connect socket went away (its process died):
 * the caller closes the socket and dials again, which fails fast if nobody
 * listens any more.
 */
int ipc_peer_lost(struct ipc_socket *sock);

void ipc_close(struct ipc_socket *sock);

/*
 * Give every service link (dialed without must_connect) that has had no
 * connection for a second a fresh dialer: nng 1.5.2 stops redialing for
 * good after some connect failures (see ipc_socket.c).  Call it once a
 * second from the loop; returns how many were redialed.  Sets the gauge
 * ipc.links_down: how many service links have no connection now.
 */
int ipc_redial_stuck(void);

/*
 * At process exit, after every socket is closed: wait until nng has
 * released its pipes and the messages still in flight on them.  Without
 * it a message queued just before exit is freed by nobody, which
 * LeakSanitizer rightly reports (nng_fini).
 */
void ipc_library_fini(void);

/* "ipc://<run_dir>/<name>.ipc" */
int ipc_service_url(const char *run_dir, const char *name, char *url,
    size_t cap);

#endif /* EPSIP_IPC_SOCKET_H */
