/*
 * flow_manager_instance_test.c -- several flow-managers on one edge: the
 * lock files that say which run and which have bound their ports, their
 * names and numbers, what `udp-flow-sockets = auto` means, and that a
 * flow's own connected socket gets its phone's datagrams before the
 * shared listener does (issue 10 §1).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "epsip/config.h"

#include "../../services/flow-manager/flow_manager.h"
#include "../../services/flow-manager/parent.h"

struct dir {
	char path[64];
};

static int
dir_setup(void **state)
{
	static struct dir d;

	snprintf(d.path, sizeof(d.path), "/tmp/epsip-fmi-XXXXXX");
	assert_non_null(mkdtemp(d.path));
	*state = &d;
	return (0);
}

static int
dir_teardown(void **state)
{
	struct dir *d = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", d->path);
	return (system(cmd) == 0 ? 0 : -1);
}

static void
test_second_flow_manager_with_the_same_number_is_refused(void **state)
{
	struct dir *d = *state;
	int one, again;

	one = fm_instance_lock(d->path, 2);
	assert_true(one >= 0);
	errno = 0;
	again = fm_instance_lock(d->path, 2);
	assert_int_equal(again, -1);
	assert_int_equal(errno, EAGAIN);
	/* Gone with its holder, however it went. */
	close(one);
	again = fm_instance_lock(d->path, 2);
	assert_true(again >= 0);
	close(again);
}

/*
 * A flow-manager started after its predecessor was killed numbers its
 * children after the predecessor's, which may still be leaving under
 * their numbers (issue 12 §7): the number is kept in the lock file.
 */
static void
test_restarted_flow_manager_numbers_children_after_its_predecessor(
    void **state)
{
	struct dir *d = *state;
	int first, next, other;

	first = fm_instance_lock(d->path, 1);
	assert_true(first >= 0);
	assert_int_equal(fm_instance_last_child(first), 0);
	assert_int_equal(fm_instance_save_child(first, 41), 0);
	assert_int_equal(fm_instance_save_child(first, 42), 0);
	/* The number beside the locks leaves them alone. */
	assert_int_equal(fm_instance_mark_bound(first), 0);
	assert_int_equal(fm_instance_siblings_bound(d->path, 2), 1);
	close(first);			/* killed */
	next = fm_instance_lock(d->path, 1);
	assert_true(next >= 0);
	assert_int_equal(fm_instance_last_child(next), 42);
	/* Each flow-manager has its own. */
	other = fm_instance_lock(d->path, 2);
	assert_true(other >= 0);
	assert_int_equal(fm_instance_last_child(other), 0);
	close(other);
	close(next);
}

static void
test_only_siblings_that_bound_their_ports_count(void **state)
{
	struct dir *d = *state;
	int self, sibling;

	self = fm_instance_lock(d->path, 1);
	sibling = fm_instance_lock(d->path, 3);
	assert_true(self >= 0 && sibling >= 0);
	/* Running is not enough: it may still be binding. */
	assert_int_equal(fm_instance_siblings_bound(d->path, 1), 0);
	assert_int_equal(fm_instance_mark_bound(sibling), 0);
	assert_int_equal(fm_instance_siblings_bound(d->path, 1), 1);
	/* Our own never counts. */
	assert_int_equal(fm_instance_mark_bound(self), 0);
	assert_int_equal(fm_instance_siblings_bound(d->path, 1), 1);
	assert_int_equal(fm_instance_siblings_bound(d->path, 3), 1);
	close(sibling);
	assert_int_equal(fm_instance_siblings_bound(d->path, 1), 0);
	close(self);
}

static void
test_flow_managers_are_named_and_numbered_one_to_sixteen(void **state)
{
	char name[32];
	unsigned k = 0;

	(void)state;
	fm_service_name(name, sizeof(name), 1);
	assert_string_equal(name, "flow-manager");
	fm_service_name(name, sizeof(name), 3);
	assert_string_equal(name, "flow-manager-3");
	assert_int_equal(fm_parse_flow_manager("16", &k), 0);
	assert_int_equal(k, 16);
	assert_int_equal(fm_parse_flow_manager("0", &k), -1);
	assert_int_equal(fm_parse_flow_manager("17", &k), -1);
	assert_int_equal(fm_parse_flow_manager("2x", &k), -1);
}

static void
test_auto_means_connected_flow_sockets_with_several_flow_managers(
    void **state)
{
	struct epsip_config cfg;

	(void)state;
	config_defaults(&cfg);
	cfg.flow_managers = 2;
	assert_int_equal(fm_udp_flow_sockets_mode(&cfg),
	    UDP_FLOW_SOCKETS_CONNECTED);
	cfg.udp_flow_sockets = UDP_FLOW_SOCKETS_SHARED;
	assert_int_equal(fm_udp_flow_sockets_mode(&cfg),
	    UDP_FLOW_SOCKETS_SHARED);
	cfg.flow_managers = 1;
	cfg.udp_flow_sockets = UDP_FLOW_SOCKETS_CONNECTED;
	assert_int_equal(fm_udp_flow_sockets_mode(&cfg),
	    UDP_FLOW_SOCKETS_CONNECTED);
}

static int
udp_socket(uint16_t port, int reuseport)
{
	struct sockaddr_in sin;
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	if (reuseport) {
		assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one,
		    sizeof(one)), 0);
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return (fd);
}

static uint16_t
port_of(int fd)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	return (ntohs(sin.sin_port));
}

static void
loopback(struct epsip_addr *a, uint16_t port)
{
	memset(a, 0, sizeof(*a));
	a->family = AF_INET;
	a->port = port;
	a->ip[0] = 127;
	a->ip[3] = 1;
}

/* 1 when a datagram is waiting on fd. */
static int
has_datagram(int fd)
{
	char b[16];

	return (recv(fd, b, sizeof(b), MSG_DONTWAIT) > 0);
}

static void
send_to(int from, uint16_t port)
{
	struct sockaddr_in to;

	memset(&to, 0, sizeof(to));
	to.sin_family = AF_INET;
	to.sin_port = htons(port);
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(sendto(from, "x", 1, 0, (struct sockaddr *)&to,
	    sizeof(to)), 1);
}

static void
test_flow_socket_takes_its_phones_datagrams_from_the_listeners(void **state)
{
	struct epsip_addr local, remote;
	int listener, sibling, phone, other, flow;
	uint16_t port;

	(void)state;
	listener = udp_socket(0, 1);
	port = port_of(listener);
	sibling = udp_socket(port, 1);		/* another flow-manager */
	phone = udp_socket(0, 0);
	other = udp_socket(0, 0);
	loopback(&local, port);
	loopback(&remote, port_of(phone));
	flow = fm_udp_flow_socket_open(&local, &remote);
	assert_true(flow >= 0);
	/* Whatever the listeners' hash says, the phone's go to its flow. */
	for (int i = 0; i < 8; i++) {
		send_to(phone, port);
		assert_true(has_datagram(flow));
		assert_false(has_datagram(listener) || has_datagram(sibling));
	}
	/* Another phone's go to a listener, never to that flow. */
	send_to(other, port);
	assert_false(has_datagram(flow));
	assert_true(has_datagram(listener) || has_datagram(sibling));
	close(flow);
	/* Closed, the phone's next one is a listener's again. */
	send_to(phone, port);
	assert_true(has_datagram(listener) || has_datagram(sibling));
	close(listener);
	close(sibling);
	close(phone);
	close(other);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
	    test_restarted_flow_manager_numbers_children_after_its_predecessor,
		    dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(
		    test_second_flow_manager_with_the_same_number_is_refused,
		    dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(
		    test_only_siblings_that_bound_their_ports_count,
		    dir_setup, dir_teardown),
		cmocka_unit_test(
		    test_flow_managers_are_named_and_numbered_one_to_sixteen),
		cmocka_unit_test(
		    test_auto_means_connected_flow_sockets_with_several_flow_managers),
		cmocka_unit_test(
		    test_flow_socket_takes_its_phones_datagrams_from_the_listeners),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
