/*
 * ipc_socket_test.c -- service links over real nng IPC sockets: a link
 * whose peer has been away for a second gets a fresh dialer
 * (ipc_redial_stuck, the answer to nng 1.5.2 giving up on a connect that
 * hit a dying listener), and the messages queued meanwhile still arrive;
 * a connected link is left alone.  (Closing a listener under a connected
 * peer is not tested here: nng 1.5.2 then leaks the listener's pipe.)
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

	assert_int_equal(ipc_push_dial(&f->link, f->url, 0, 16), 0);
	for (uint32_t n = 1; n <= 3; n++) {
		send_numbered(f->link, n);	/* queued: nobody listens */
	}
	assert_int_equal(ipc_redial_stuck(), 0);	/* too early */
	usleep(1100 * 1000);
	assert_int_equal(ipc_redial_stuck(), 1);	/* a second dialer */
	assert_int_equal(stats_get("ipc.redials"), 1);
	assert_int_equal(ipc_redial_stuck(), 0);	/* a second apart */
	/* The peer comes: the new dialer finds it, the queue drains. */
	assert_int_equal(ipc_pull_listen(&f->peer, f->url), 0);
	for (int64_t n = 1; n <= 3; n++) {
		assert_int_equal(recv_numbered(f->peer), n);
	}
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
	assert_int_equal(stats_get("ipc.redials"), 0);
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
	};
	int rv = cmocka_run_group_tests(tests, NULL, NULL);

	ipc_library_fini();
	return (rv);
}
