/*
 * ipc_socket_test.c -- service links over real nng IPC sockets: a link
 * whose peer has been away for a second gets a fresh dialer
 * (ipc_redial_stuck, the answer to nng 1.5.2 giving up on a connect that
 * hit a dying listener), and the messages queued meanwhile still arrive;
 * a connected link is left alone.  (Closing a listener under a connected
 * peer is not tested here: nng 1.5.2 then leaks the listener's pipe.)
 * With a loop attached, what one iteration sends leaves as one batch at
 * the iteration's end, and a batch nng's full queue refuses is kept, makes
 * the socket refuse new work (back-pressure), and leaves once the queue
 * drains.  Sends that finish work are never lost while the peer lives:
 * they wait in the outbox, in order, up to ipc-backlog (issue 8).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <unistd.h>

#include "epsip/ipc.h"
#include "epsip/ipc_socket.h"
#include "epsip/log.h"
#include "epsip/loop.h"
#include "epsip/stats.h"

struct fixture {
	char dir[64];
	char url[128];
	struct ipc_socket *link;	/* pushes, dialed in the background */
	struct ipc_socket *peer;	/* pulls, listening */
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/epsip-ipc-test-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->url, sizeof(f->url), "ipc://%s/peer.ipc", f->dir);
	stats_reset();
	log_set_level(LOG_LEVEL_WARN);
	*state = f;
	return (0);
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char path[128];

	ipc_close(f->link);
	ipc_close(f->peer);
	snprintf(path, sizeof(path), "%s/peer.ipc", f->dir);
	(void)unlink(path);
	(void)rmdir(f->dir);
	free(f);
	return (0);
}

static void
send_numbered(struct ipc_socket *s, uint32_t n)
{
	struct epsip_msg m;

	epsip_msg_init(&m, EPSIP_MSG_SIP_FROM_CORE);
	m.arg = n;
	assert_int_equal(ipc_send(s, &m), 0);
}

/* The next message within 3 s; its arg, or -1. */
static int64_t
recv_numbered(struct ipc_socket *s)
{
	struct epsip_msg m;
	uint64_t deadline = monotonic_ms() + 3000;

	while (monotonic_ms() < deadline) {
		if (ipc_recv(s, &m) == 1) {
			return ((int64_t)m.arg);
		}
		usleep(2000);
	}
	return (-1);
}

static void
test_a_link_alone_for_a_second_is_redialed_and_keeps_its_queue(
    void **state)
{
	struct fixture *f = *state;
	int seen = 0;

	assert_int_equal(ipc_push_dial(&f->link, f->url, 0, 16), 0);
	for (uint32_t n = 1; n <= 3; n++) {
		send_numbered(f->link, n);	/* queued: nobody listens */
	}
	assert_int_equal(ipc_redial_stuck(), 0);	/* too early */
	usleep(1100 * 1000);
	assert_int_equal(ipc_redial_stuck(), 1);	/* a second dialer */
	assert_int_equal(stats_get(M_IPC_REDIALS), 1);
	assert_int_equal(ipc_redial_stuck(), 0);	/* a second apart */
	/*
	 * The peer comes: the queue drains, nothing lost.  Both dialers may
	 * connect, and nng's push spreads the queue over their two pipes,
	 * so the order is not kept (1, 3, 2 was seen once in ~20 runs).
	 */
	assert_int_equal(ipc_pull_listen(&f->peer, f->url), 0);
	for (int i = 0; i < 3; i++) {
		int64_t n = recv_numbered(f->peer);

		assert_true(n >= 1 && n <= 3);
		seen |= 1 << n;
	}
	assert_int_equal(seen, (1 << 1) | (1 << 2) | (1 << 3));
}

static void
test_a_connected_link_is_never_redialed(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(ipc_pull_listen(&f->peer, f->url), 0);
	assert_int_equal(ipc_push_dial(&f->link, f->url, 0, 16), 0);
	send_numbered(f->link, 7);
	assert_int_equal(recv_numbered(f->peer), 7);	/* connected */
	usleep(1100 * 1000);
	assert_int_equal(ipc_redial_stuck(), 0);
	assert_int_equal(stats_get(M_IPC_REDIALS), 0);
}

static void
stop_loop(struct loop *loop, void *arg)
{
	(void)arg;
	loop_stop(loop);
}

/* One loop iteration: a due timer stops it, then the end hooks run. */
static void
run_one_iteration(struct loop *loop)
{
	assert_true(loop_after(loop, 0, stop_loop, NULL) >= 0);
	assert_int_equal(loop_run(loop), 0);
}

static void
test_sends_of_one_iteration_leave_as_one_batch_at_its_end(void **state)
{
	struct fixture *f = *state;
	struct loop *loop = loop_new();

	assert_non_null(loop);
	assert_int_equal(ipc_attach_loop(loop), 0);
	assert_int_equal(ipc_pull_listen(&f->peer, f->url), 0);
	assert_int_equal(ipc_push_dial(&f->link, f->url, 1, 16), 0);
	for (uint32_t n = 1; n <= 5; n++) {
		send_numbered(f->link, n);
	}
	assert_int_equal(stats_get(M_IPC_BATCHES_SENT), 0);	/* held */
	run_one_iteration(loop);
	assert_int_equal(stats_get(M_IPC_BATCHES_SENT), 1);
	assert_int_equal(stats_get(M_IPC_BATCHES_ENVELOPES), 5);
	for (int64_t n = 1; n <= 5; n++) {
		assert_int_equal(recv_numbered(f->peer), n);
	}
	assert_int_equal(stats_get(M_IPC_BATCHES_RECEIVED), 1);
	ipc_detach_loop();
	loop_free(loop);
}

static void
count_sent(struct loop *loop, void *arg)
{
	int64_t *want = arg;

	if (stats_get(M_IPC_BATCHES_SENT) >= *want) {
		loop_stop(loop);
	}
}

static void
test_a_full_queue_keeps_the_batch_refuses_new_work_and_sends_it_later(
    void **state)
{
	struct fixture *f = *state;
	struct loop *loop = loop_new();
	int64_t taken, n, deadline_timer;

	assert_non_null(loop);
	assert_int_equal(ipc_attach_loop(loop), 0);
	/* Nobody listens: nng's queue of 1 (rounded up by nng) fills. */
	assert_int_equal(ipc_push_dial(&f->link, f->url, 0, 1), 0);
	for (n = 1; n <= 64 && stats_get(M_IPC_BATCHES_BLOCKED) == 0; n++) {
		send_numbered(f->link, (uint32_t)n);
		run_one_iteration(loop);
	}
	assert_int_equal(stats_get(M_IPC_BATCHES_BLOCKED), 1);
	taken = stats_get(M_IPC_BATCHES_SENT);
	assert_int_equal(taken, n - 2);		/* the last one is kept */
	/* The kept batch takes more new work until it is full; then
	 * back-pressure. */
	for (;;) {
		struct epsip_msg m;

		epsip_msg_init(&m, EPSIP_MSG_SIP_FROM_CORE);
		m.arg = (uint32_t)n;
		if (ipc_offer(f->link, &m) == -1) {
			break;
		}
		n++;
		assert_true(n < EPSIP_BATCH_MAX_SIZE / EPSIP_MSG_HEADER_SIZE);
	}
	assert_true(n > 1000);		/* ~128 KiB of small envelopes */
	assert_int_equal(stats_get(M_IPC_OFFERS_REFUSED), 1);
	assert_int_equal(stats_get(M_IPC_SEND_DROPPED), 0);
	run_one_iteration(loop);	/* still nobody: still kept */
	assert_int_equal(stats_get(M_IPC_BATCHES_SENT), taken);
	/* The peer comes; the retry timer sends the kept batch. */
	assert_int_equal(ipc_pull_listen(&f->peer, f->url), 0);
	taken++;
	assert_true(loop_every(loop, 1, count_sent, &taken) >= 0);
	deadline_timer = loop_after(loop, 3000, stop_loop, NULL);
	assert_int_equal(loop_run(loop), 0);
	loop_cancel(loop, (int)deadline_timer);
	assert_int_equal(stats_get(M_IPC_BATCHES_SENT), taken);
	for (int64_t i = 1; i < n; i++) {
		assert_int_equal(recv_numbered(f->peer), i);
	}
	send_numbered(f->link, 99);	/* taken again */
	ipc_detach_loop();
	loop_free(loop);
}

/*
 * The next numbered envelope within 3 s, running the sender's loop
 * meanwhile (its outbox leaves from the loop's end hook and retry timer).
 */
static int64_t
recv_numbered_running(struct loop *loop, struct ipc_socket *peer)
{
	uint64_t deadline = monotonic_ms() + 3000;
	struct epsip_msg m;

	while (monotonic_ms() < deadline) {
		if (ipc_recv(peer, &m) == 1) {
			return ((int64_t)m.arg);
		}
		run_one_iteration(loop);
		usleep(200);
	}
	return (-1);
}

/*
 * A link stuck for less than the offer wait (overload-delay) takes new
 * work into its outbox: a pause of the peer earns no 503.  Once stuck for
 * longer, it refuses new work; nothing it took is lost.
 */
static void
test_a_short_stall_queues_new_work_and_a_long_one_refuses_it(void **state)
{
	struct fixture *f = *state;
	struct loop *loop = loop_new();
	struct epsip_msg m;
	uint32_t n;

	assert_non_null(loop);
	assert_int_equal(ipc_attach_loop(loop), 0);
	ipc_set_offer_wait(300);
	assert_int_equal(ipc_push_dial(&f->link, f->url, 0, 1), 0);
	for (n = 1; n <= 64 && stats_get(M_IPC_BATCHES_BLOCKED) == 0; n++) {
		send_numbered(f->link, n);
		run_one_iteration(loop);
	}
	assert_int_equal(stats_get(M_IPC_BATCHES_BLOCKED), 1);
	/* Stuck, but not for long: three batches' worth more is taken. */
	for (int i = 0; i < 3 * (int)(EPSIP_BATCH_MAX_SIZE /
	    EPSIP_MSG_HEADER_SIZE); i++, n++) {
		epsip_msg_init(&m, EPSIP_MSG_SIP_FROM_CORE);
		m.arg = n;
		assert_int_equal(ipc_offer(f->link, &m), 0);
	}
	assert_int_equal(stats_get(M_IPC_OFFERS_REFUSED), 0);
	assert_true(ipc_waiting(f->link) > 0);
	usleep(350 * 1000);
	epsip_msg_init(&m, EPSIP_MSG_SIP_FROM_CORE);
	m.arg = n;
	assert_int_equal(ipc_offer(f->link, &m), -1);	/* late anyway */
	assert_int_equal(stats_get(M_IPC_OFFERS_REFUSED), 1);
	/* The peer comes: everything taken arrives, in order. */
	assert_int_equal(ipc_pull_listen(&f->peer, f->url), 0);
	for (uint32_t i = 1; i < n; i++) {
		assert_int_equal(recv_numbered_running(loop, f->peer), i);
	}
	assert_int_equal(stats_get(M_IPC_SEND_DROPPED), 0);
	ipc_set_offer_wait(0);
	ipc_detach_loop();
	loop_free(loop);
}


/* Every numbered envelope 1..n arrives once, in order. */
static void
assert_received_in_order(struct loop *loop, struct ipc_socket *peer,
    int64_t n)
{
	for (int64_t i = 1; i <= n; i++) {
		assert_int_equal(recv_numbered_running(loop, peer), i);
	}
}

/*
 * Issue 8: a burst far beyond nng's queue -- 100,000 FLOW_CLOSEDs when a
 * network outage drops every flow -- is delayed while the peer is away,
 * never lost, and new work is refused meanwhile.
 */
static void
test_a_peer_that_takes_nothing_loses_no_message_sent(void **state)
{
	struct fixture *f = *state;
	struct loop *loop = loop_new();
	struct epsip_msg m;
	int64_t n, total = 50000;

	assert_non_null(loop);
	assert_int_equal(ipc_attach_loop(loop), 0);
	/* Nobody listens: nng's queue of 1 fills at once. */
	assert_int_equal(ipc_push_dial(&f->link, f->url, 0, 1), 0);
	for (n = 1; n <= total; n++) {
		send_numbered(f->link, (uint32_t)n);
		if (n % 1000 == 0) {
			run_one_iteration(loop);
		}
	}
	run_one_iteration(loop);
	assert_true(ipc_waiting(f->link) > 0);
	assert_int_equal(stats_get(M_IPC_BACKLOG),
	    (int64_t)ipc_waiting(f->link));
	epsip_msg_init(&m, EPSIP_MSG_SIP_FROM_FLOW);
	assert_int_equal(ipc_offer(f->link, &m), -1);	/* backed up */
	/* The peer comes: everything leaves, oldest first. */
	assert_int_equal(ipc_pull_listen(&f->peer, f->url), 0);
	assert_received_in_order(loop, f->peer, total);
	assert_int_equal(ipc_waiting(f->link), 0);
	assert_int_equal(stats_get(M_IPC_BACKLOG), 0);
	assert_int_equal(stats_get(M_IPC_SEND_DROPPED), 0);
	assert_int_equal(stats_get(M_IPC_BATCHES_ENVELOPES), total);
	ipc_detach_loop();
	loop_free(loop);
}

/*
 * A peer stopped for good must not eat the sender's memory: past
 * ipc-backlog a send fails, counted, and what was kept still arrives.
 */
static void
test_an_outbox_at_its_limit_drops_counts_and_keeps_the_rest(void **state)
{
	struct fixture *f = *state;
	struct loop *loop = loop_new();
	struct epsip_msg m;
	int64_t n, kept;

	assert_non_null(loop);
	assert_int_equal(ipc_attach_loop(loop), 0);
	ipc_set_backlog_limit(EPSIP_BATCH_MAX_SIZE);	/* one full batch */
	assert_int_equal(ipc_push_dial(&f->link, f->url, 0, 1), 0);
	for (n = 1; n < 1000000; n++) {
		epsip_msg_init(&m, EPSIP_MSG_FLOW_CLOSED);
		m.arg = (uint32_t)n;
		if (ipc_send(f->link, &m) == -1) {
			break;
		}
		if (n % 1000 == 0) {
			run_one_iteration(loop);
		}
	}
	assert_true(n < 1000000);
	kept = n - 1;
	assert_int_equal(stats_get(M_IPC_DROPPED_BACKLOG_FULL), 1);
	assert_int_equal(stats_get(M_IPC_SEND_DROPPED), 1);
	assert_int_equal(ipc_pull_listen(&f->peer, f->url), 0);
	assert_received_in_order(loop, f->peer, kept);
	assert_int_equal(ipc_waiting(f->link), 0);
	ipc_set_backlog_limit((size_t)64 << 20);
	ipc_detach_loop();
	loop_free(loop);
}

struct one_at_a_time {
	struct ipc_socket *sock;
	int64_t got[8];
	int count;
};

/* A reader with a budget of one envelope per wake-up. */
static void
read_one(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct one_at_a_time *r = arg;
	struct epsip_msg m;

	(void)fd;
	(void)events;
	if (ipc_recv(r->sock, &m) == 1 && r->count < 8) {
		r->got[r->count++] = (int64_t)m.arg;
	}
	if (r->count == 3) {
		loop_stop(loop);
	}
}

static void
test_a_reader_that_stops_inside_a_batch_is_called_again(void **state)
{
	struct fixture *f = *state;
	struct loop *loop = loop_new();
	struct one_at_a_time r = { 0 };
	int deadline;

	assert_non_null(loop);
	assert_int_equal(ipc_attach_loop(loop), 0);
	assert_int_equal(ipc_pull_listen(&f->peer, f->url), 0);
	assert_int_equal(ipc_push_dial(&f->link, f->url, 1, 16), 0);
	r.sock = f->peer;
	assert_int_equal(loop_add_fd(loop, ipc_recv_fd(f->peer), EPOLLIN,
	    read_one, &r), 0);
	for (uint32_t n = 1; n <= 3; n++) {
		send_numbered(f->link, n);
	}
	/* nng's descriptor fires once, for the one nng message. */
	deadline = loop_after(loop, 3000, stop_loop, NULL);
	assert_int_equal(loop_run(loop), 0);
	loop_cancel(loop, deadline);
	assert_int_equal(r.count, 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(r.got[i], i + 1);
	}
	assert_int_equal(stats_get(M_IPC_BATCHES_RECEIVED), 1);
	loop_del_fd(loop, ipc_recv_fd(f->peer));
	ipc_detach_loop();
	loop_free(loop);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_a_link_alone_for_a_second_is_redialed_and_keeps_its_queue,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_connected_link_is_never_redialed, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_sends_of_one_iteration_leave_as_one_batch_at_its_end,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_short_stall_queues_new_work_and_a_long_one_refuses_it,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_full_queue_keeps_the_batch_refuses_new_work_and_sends_it_later,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_peer_that_takes_nothing_loses_no_message_sent,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_an_outbox_at_its_limit_drops_counts_and_keeps_the_rest,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_reader_that_stops_inside_a_batch_is_called_again,
		    setup, teardown),
	};
	int rv = cmocka_run_group_tests(tests, NULL, NULL);

	ipc_library_fini();
	return (rv);
}
