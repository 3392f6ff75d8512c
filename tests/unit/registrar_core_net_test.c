/*
 * registrar_core_net_test.c -- upstream mode's core-side network for real,
 * on loopback, in the bridge's own epoll loop: the upstream pool connects
 * lazily and keeps a Call-ID on one connection, a refused connect fails
 * at once and backs off, ICMP port unreachable comes back in
 * milliseconds, responses go back on the connection a request came on,
 * a framing error closes one connection only, IPv6 and dual stack.  The
 * last tests run the whole upstream core over these sockets and time the
 * 503 a phone gets when the upstream is down.  A TLS upstream (sips:):
 * the pool runs TLS both ways and checks the upstream's certificate,
 * and one tls-ca does not vouch for fails and backs off like a refused
 * connect.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "epsip/config.h"
#include "epsip/ipc.h"
#include "epsip/log.h"
#include "epsip/loop.h"
#include "epsip/sip_util.h"
#include "epsip/stats.h"

#include "../../services/registrar-bridge/corenet/core_net.h"
#include "../../services/registrar-bridge/upstream/core_upstream.h"
#include "sent_capture.h"
#include "skip_reason.h"

#include <openssl/err.h>

#include "epsip/tls.h"
#include "tls_certs.h"

#define MAX_EVENTS	32

static struct loop *loop;
static struct epsip_config cfg;
static struct core_net *net;
static struct core_net_limits limits;

/* What core_net reported. */
static char *msgs[MAX_EVENTS];
static struct core_net_peer peers[MAX_EVENTS];
static size_t nmsgs;
static uint64_t lost[MAX_EVENTS];
static size_t nlost;
static char *refused[MAX_EVENTS];
static size_t nrefused;
static char *undelivered[MAX_EVENTS];
static size_t nundelivered;

/* Test-side sockets, closed in teardown. */
static int fds[16];
static size_t nfds;

static const char options[] =
    "OPTIONS sip:upstream.example.net SIP/2.0\r\n"
    "Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK-ep1;ept=T\r\n"
    "From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\n"
    "Call-ID: c1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
static const char ok200[] =
    "SIP/2.0 200 OK\r\n"
    "Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK-ep1;ept=T\r\n"
    "From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>;tag=2\r\n"
    "Call-ID: c1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";

static void
on_message(void *arg, const char *buf, size_t len,
    const struct core_net_peer *from)
{
	(void)arg;
	assert_true(nmsgs < MAX_EVENTS);
	msgs[nmsgs] = strndup(buf, len);
	peers[nmsgs++] = *from;
}

static void
on_lost(void *arg, uint64_t conn_id)
{
	(void)arg;
	assert_true(nlost < MAX_EVENTS);
	lost[nlost++] = conn_id;
}

static void
on_refused(void *arg, const char *payload, size_t len)
{
	(void)arg;
	assert_true(nrefused < MAX_EVENTS);
	refused[nrefused++] = strndup(payload, len);
}

static void
on_undelivered(void *arg, const char *buf, size_t len)
{
	(void)arg;
	assert_true(nundelivered < MAX_EVENTS);
	undelivered[nundelivered++] = strndup(buf, len);
}

static const struct core_net_events events = {
	on_message, on_lost, on_refused, NULL,
};

static int
keep(int fd)
{
	assert_true(fd >= 0);
	assert_true(nfds < sizeof(fds) / sizeof(fds[0]));
	fds[nfds++] = fd;
	return (fd);
}

/* Close a test-side socket before teardown would. */
static void
drop(int fd)
{
	for (size_t i = 0; i < nfds; i++) {
		if (fds[i] == fd) {
			fds[i] = fds[--nfds];
			break;
		}
	}
	close(fd);
}

static int
setup(void **state)
{
	(void)state;
	sip_library_init();
	stats_reset();
	log_set_level(LOG_LEVEL_WARN);
	config_defaults(&cfg);
	assert_non_null(loop = loop_new());
	return (0);
}

static int
teardown(void **state)
{
	(void)state;
	core_net_free(net);
	net = NULL;
	loop_free(loop);
	while (nmsgs > 0) {
		free(msgs[--nmsgs]);
	}
	while (nrefused > 0) {
		free(refused[--nrefused]);
	}
	while (nundelivered > 0) {
		free(undelivered[--nundelivered]);
	}
	nlost = 0;
	while (nfds > 0) {
		close(fds[--nfds]);
	}
	sent_clear();
	return (0);
}

/* --- helpers --- */

static void
set_addr(struct epsip_addr *a, const char *ip, uint16_t port)
{
	memset(a, 0, sizeof(*a));
	a->port = port;
	if (inet_pton(AF_INET, ip, a->ip) == 1) {
		a->family = AF_INET;
	} else {
		assert_int_equal(inet_pton(AF_INET6, ip, a->ip), 1);
		a->family = AF_INET6;
	}
}

/* A socket bound to ip:0, not listening yet; its port in *port. */
static int
bound_only(const char *ip, int type, uint16_t *port)
{
	struct sockaddr_storage ss;
	struct epsip_addr a;
	socklen_t sl;
	int fd, one = 1;

	set_addr(&a, ip, 0);
	fd = socket(a.family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sl = epsip_addr_to_sockaddr(&a, &ss);
	assert_int_equal(bind(fd, (struct sockaddr *)&ss, sl), 0);
	sl = sizeof(ss);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &sl), 0);
	assert_int_equal(epsip_addr_from_sockaddr(&a, (struct sockaddr *)&ss),
	    0);
	*port = a.port;
	return (fd);
}

/* A socket bound to ip:0 (listening if TCP); its port in *port. */
static int
bound(const char *ip, int type, uint16_t *port)
{
	int fd = bound_only(ip, type, port);

	if (type == SOCK_STREAM) {
		assert_int_equal(listen(fd, 16), 0);
	}
	return (fd);
}

/*
 * A port nothing uses (bound a moment ago, closed).  For UDP: a socket
 * kept bound would take the datagram instead of the ICMP coming back.
 */
static uint16_t
closed_port(const char *ip, int type)
{
	uint16_t port;

	close(bound(ip, type, &port));
	return (port);
}

/*
 * A TCP port that refuses connections and stays ours: bound, not
 * listening (Linux answers a SYN to it with a reset).  Nobody else can
 * take the port meanwhile, and listen() on the kept socket later opens
 * it.  Kept until teardown.
 */
static uint16_t
refusing_tcp_port(const char *ip, int *fd)
{
	uint16_t port;

	*fd = keep(bound_only(ip, SOCK_STREAM, &port));
	return (port);
}

static void
configure(const char *listen_ip, const char *upstream)
{
	char err[256];

	set_addr(&cfg.core_listen, listen_ip, 0);
	snprintf(cfg.upstream_uri, sizeof(cfg.upstream_uri), "%s", upstream);
	assert_int_equal(config_parse_upstream(upstream, &cfg.upstream, err,
	    sizeof(err)), 0);
	core_net_limits_default(&limits, &cfg);
}

static void
start(void)
{
	char err[256];

	net = core_net_new(loop, &cfg, &limits, &events, err, sizeof(err));
	if (net == NULL) {
		fail_msg("core_net_new: %s", err);
	}
}

struct wait {
	int (*cond)(void *);
	void *arg;
	uint64_t deadline;
};

static void
wait_check(struct loop *l, void *arg)
{
	struct wait *w = arg;

	if (w->cond(w->arg) || monotonic_ms() >= w->deadline) {
		loop_stop(l);
	}
}

/* Run the loop until cond(arg) or ms pass; returns cond(arg). */
static int
run_until(int (*cond)(void *), void *arg, unsigned ms)
{
	struct wait w = { cond, arg, monotonic_ms() + ms };
	int id;

	if (cond(arg)) {
		return (1);
	}
	id = loop_every(loop, 1, wait_check, &w);
	assert_true(id >= 0);
	loop_run(loop);
	loop_cancel(loop, id);
	return (cond(arg));
}

static int
never(void *arg)
{
	(void)arg;
	return (0);
}

static void
run_for(unsigned ms)
{
	(void)run_until(never, NULL, ms);
}

static int
at_least(void *arg)
{
	const size_t *want = arg;

	return (want[0] <= *(const size_t *)(uintptr_t)want[1]);
}

/* Run until *counter >= n (within a second). */
static int
until_count(size_t *counter, size_t n)
{
	size_t want[2] = { n, (size_t)(uintptr_t)counter };

	return (run_until(at_least, want, 1000));
}

static int
pool_live_is(void *arg)
{
	return (core_net_pool_live(net) == *(size_t *)arg);
}

/* Run until the pool has n connections established (within a second). */
static int
until_pool_live(size_t n)
{
	return (run_until(pool_live_is, &n, 1000));
}

struct accepting {
	int listener;
	int fd;
};

static int
try_accept(void *arg)
{
	struct accepting *a = arg;

	if (a->fd < 0) {
		a->fd = accept4(a->listener, NULL, NULL, SOCK_CLOEXEC);
	}
	return (a->fd >= 0);
}

/* Accept one connection while the loop runs; the fd, or -1. */
static int
accept_one(int listener, unsigned ms)
{
	struct accepting a = { listener, -1 };

	if (run_until(try_accept, &a, ms)) {
		keep(a.fd);
	}
	return (a.fd);
}

struct reading {
	int fd;
	char buf[4096];
	size_t len, want;
};

static int
try_read(void *arg)
{
	struct reading *r = arg;
	ssize_t n;

	n = recv(r->fd, r->buf + r->len, sizeof(r->buf) - 1 - r->len,
	    MSG_DONTWAIT);
	if (n > 0) {
		r->len += (size_t)n;
	}
	r->buf[r->len] = '\0';
	return (r->len >= r->want || n == 0);
}

/* Read `want` bytes from fd while the loop runs; what came. */
static void
read_while_running(int fd, struct reading *r, size_t want)
{
	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->want = want;
	(void)run_until(try_read, r, 1000);
}

/* A blocking client connected to core_net's listener. */
static int
connect_to_core(void)
{
	struct sockaddr_storage ss;
	struct epsip_addr local;
	socklen_t sl;
	int fd;

	core_net_local(net, &local);
	fd = keep(socket(local.family, SOCK_STREAM | SOCK_CLOEXEC, 0));
	sl = epsip_addr_to_sockaddr(&local, &ss);
	assert_int_equal(connect(fd, (struct sockaddr *)&ss, sl), 0);
	return (fd);
}

static void
local_addr_of(int fd, struct epsip_addr *a)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &sl), 0);
	assert_int_equal(epsip_addr_from_sockaddr(a, (struct sockaddr *)&ss),
	    0);
}

/* --- the pool --- */

static void
test_pool_connects_lazily_and_keeps_a_call_on_one_connection(void **state)
{
	struct epsip_addr upstream;
	struct reading r;
	char uri[64];
	uint16_t port;
	uint64_t c1, c2, again;
	int l, a, b;

	(void)state;
	l = keep(bound("127.0.0.1", SOCK_STREAM, &port));
	snprintf(uri, sizeof(uri), "sip:127.0.0.1:%u;transport=tcp", port);
	configure("127.0.0.1", uri);
	start();
	/* Lazily: nothing connects before there is something to send. */
	run_for(20);
	assert_int_equal(accept4(l, NULL, NULL, 0), -1);
	assert_int_equal(core_net_pool_live(net), 0);

	assert_int_equal(core_net_send_upstream(net, EPSIP_TRANSPORT_TCP, 1,
	    options, strlen(options), &c1), CORE_NET_OK);
	assert_true(c1 != 0);
	assert_true((a = accept_one(l, 1000)) >= 0);
	read_while_running(a, &r, strlen(options));
	assert_string_equal(r.buf, options);
	assert_int_equal(core_net_pool_live(net), 1);
	/* The same hash (mod 4): the same connection, in order. */
	assert_int_equal(core_net_send_upstream(net, EPSIP_TRANSPORT_TCP, 5,
	    options, strlen(options), &again), CORE_NET_OK);
	assert_true(again == c1);
	read_while_running(a, &r, strlen(options));
	assert_string_equal(r.buf, options);
	/* Another hash: another slot, another connection. */
	assert_int_equal(core_net_send_upstream(net, EPSIP_TRANSPORT_TCP, 2,
	    options, strlen(options), &c2), CORE_NET_OK);
	assert_true(c2 != c1);
	assert_true((b = accept_one(l, 1000)) >= 0);
	assert_true(until_pool_live(2));
	read_while_running(b, &r, strlen(options));
	assert_string_equal(r.buf, options);
	assert_int_equal(stats_get(M_UPSTREAM_CONNECTS), 2);

	/* The upstream answers on its connection: framed and handed up. */
	assert_int_equal(send(a, ok200, strlen(ok200), 0),
	    (ssize_t)strlen(ok200));
	assert_true(until_count(&nmsgs, 1));
	assert_string_equal(msgs[0], ok200);
	assert_int_equal(peers[0].transport, EPSIP_TRANSPORT_TCP);
	assert_true(peers[0].conn_id == c1);
	set_addr(&upstream, "127.0.0.1", port);
	assert_true(epsip_addr_equal(&peers[0].remote, &upstream));
	/* Its keep-alive gets a CRLF (RFC 5626 §4.4.1). */
	assert_int_equal(send(b, "\r\n\r\n", 4, 0), 4);
	read_while_running(b, &r, 2);
	assert_string_equal(r.buf, "\r\n");

	/* The upstream closes one: reported lost, the other stays. */
	drop(a);
	assert_true(until_count(&nlost, 1));
	assert_true(lost[0] == c1);
	assert_int_equal(core_net_pool_live(net), 1);
}

static void
test_refused_tcp_upstream_fails_fast_backs_off_and_reconnects(void **state)
{
	enum core_net_result r;
	uint64_t t0, conn_id;
	char uri[64];
	uint16_t port;
	int l;

	(void)state;
	port = refusing_tcp_port("127.0.0.1", &l);
	snprintf(uri, sizeof(uri), "sip:127.0.0.1:%u;transport=tcp", port);
	configure("127.0.0.1", uri);
	limits.pool_size = 2;
	/* Long enough that a slow run (valgrind) stays inside it. */
	limits.backoff_min_ms = 400;
	limits.backoff_max_ms = 800;
	start();
	t0 = monotonic_ms();
	r = core_net_send_upstream(net, EPSIP_TRANSPORT_TCP, 0, options,
	    strlen(options), &conn_id);
	if (r == CORE_NET_OK) {
		/* Refused after the connect started: reported lost. */
		assert_true(until_count(&nlost, 1));
		assert_true(lost[0] == conn_id);
	} else {
		assert_int_equal(r, CORE_NET_REFUSED);
	}
	print_message("refused TCP upstream: failure after %llu ms (%s)\n",
	    (unsigned long long)(monotonic_ms() - t0), r == CORE_NET_OK ?
	    "reported" : "at once");
	assert_true(monotonic_ms() - t0 < 500);
	/* Slot 0 backs off; the next request tries slot 1, then none. */
	r = core_net_send_upstream(net, EPSIP_TRANSPORT_TCP, 0, options,
	    strlen(options), &conn_id);
	if (r == CORE_NET_OK) {
		assert_true(until_count(&nlost, 2));
	}
	assert_int_equal(core_net_send_upstream(net, EPSIP_TRANSPORT_TCP, 0,
	    options, strlen(options), &conn_id), CORE_NET_BACKOFF);
	assert_int_equal(stats_get(M_UPSTREAM_CONNECT_FAILURES), 2);
	/* The upstream comes back; after the back-off it is used again. */
	assert_int_equal(listen(l, 16), 0);
	run_for(450);
	assert_int_equal(core_net_send_upstream(net, EPSIP_TRANSPORT_TCP, 0,
	    options, strlen(options), &conn_id), CORE_NET_OK);
	assert_true(accept_one(l, 1000) >= 0);
	assert_true(until_pool_live(1));
}

/*
 * Bytes wait while the connect is under way, up to queue_max.  The
 * connect is held up for certain: the upstream's accept queue (backlog 0)
 * is full of one connection nobody accepted, so Linux drops the pool's
 * SYN, and retries it a second later.
 */
static void
test_full_out_queue_refuses_the_request(void **state)
{
	struct sockaddr_storage ss;
	struct epsip_addr to;
	struct reading r;
	uint64_t conn_id;
	char uri[64], big[700];
	uint16_t port;
	socklen_t sl;
	int l, filler, a;

	(void)state;
	l = keep(bound_only("127.0.0.1", SOCK_STREAM, &port));
	assert_int_equal(listen(l, 0), 0);
	set_addr(&to, "127.0.0.1", port);
	sl = epsip_addr_to_sockaddr(&to, &ss);
	filler = keep(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
	assert_int_equal(connect(filler, (struct sockaddr *)&ss, sl), 0);
	snprintf(uri, sizeof(uri), "sip:127.0.0.1:%u;transport=tcp", port);
	configure("127.0.0.1", uri);
	limits.queue_max = 1000;
	start();
	memset(big, 'x', sizeof(big));
	assert_int_equal(core_net_send_upstream(net, EPSIP_TRANSPORT_TCP, 0,
	    big, sizeof(big), &conn_id), CORE_NET_OK);
	run_for(20);
	assert_int_equal(core_net_pool_live(net), 0);	/* still connecting */
	assert_int_equal(core_net_send_upstream(net, EPSIP_TRANSPORT_TCP, 0,
	    big, sizeof(big), &conn_id), CORE_NET_QUEUE_FULL);
	/* Room in the accept queue: the retried SYN gets through, and the
	 * queued request, whole, follows it. */
	assert_true(accept_one(l, 1000) >= 0);
	assert_true((a = accept_one(l, 3000)) >= 0);
	read_while_running(a, &r, sizeof(big));
	assert_int_equal(r.len, sizeof(big));
	assert_memory_equal(r.buf, big, sizeof(big));
	assert_int_equal(core_net_pool_live(net), 1);
}

/* --- UDP --- */

static void
test_udp_port_unreachable_is_reported_in_milliseconds(void **state)
{
	uint64_t t0, conn_id;
	char uri[64];

	(void)state;
	snprintf(uri, sizeof(uri), "sip:127.0.0.1:%u;transport=udp",
	    closed_port("127.0.0.1", SOCK_DGRAM));
	configure("127.0.0.1", uri);
	start();
	t0 = monotonic_ms();
	assert_int_equal(core_net_send_upstream(net, EPSIP_TRANSPORT_UDP, 0,
	    options, strlen(options), &conn_id), CORE_NET_OK);
	assert_true(conn_id == 0);
	assert_true(until_count(&nrefused, 1));
	print_message("UDP port unreachable: reported after %llu ms\n",
	    (unsigned long long)(monotonic_ms() - t0));
	assert_true(monotonic_ms() - t0 < 500);
	/* The start of our datagram comes back: enough to name it. */
	assert_true(strncmp(refused[0], options, 60) == 0);
	assert_int_equal(stats_get(M_UPSTREAM_ICMP_UNREACHABLE), 1);
	/* The kernel's leftover error does not eat the next one. */
	assert_int_equal(core_net_send_upstream(net, EPSIP_TRANSPORT_UDP, 0,
	    options, strlen(options), &conn_id), CORE_NET_OK);
	assert_true(until_count(&nrefused, 2));
}

static void
test_upstream_named_by_a_host_name_is_looked_up_once_and_reached(
    void **state)
{
	struct reading r;
	uint64_t conn_id;
	uint16_t port;
	char uri[64];
	int u;

	(void)state;
	/* "localhost" comes from /etc/hosts: a name, but no DNS server. */
	u = keep(bound("127.0.0.1", SOCK_DGRAM, &port));
	snprintf(uri, sizeof(uri), "sip:localhost:%u;transport=udp", port);
	configure("127.0.0.1", uri);
	start();
	for (int i = 0; i < 3; i++) {
		assert_int_equal(core_net_send_upstream(net,
		    EPSIP_TRANSPORT_UDP, 0, options, strlen(options),
		    &conn_id), CORE_NET_OK);
		read_while_running(u, &r, strlen(options));
		assert_string_equal(r.buf, options);
	}
	/* Looked up at start; sends use the kept answer. */
	assert_int_equal(stats_get(M_DNS_LOOKUPS), 1);
	assert_int_equal(stats_get(M_UPSTREAM_UNRESOLVED), 0);
}

static void
test_udp_refused_by_another_edge_is_undelivered_at_once(void **state)
{
	struct epsip_addr dest;

	(void)state;
	/* Embedded mode: no upstream, the core side open to other edges. */
	set_addr(&cfg.core_listen, "127.0.0.1", 0);
	core_net_limits_default(&limits, &cfg);
	start();
	core_net_on_undelivered(net, on_undelivered);
	set_addr(&dest, "127.0.0.1", closed_port("127.0.0.1", SOCK_DGRAM));
	assert_int_equal(core_net_send_to(net, EPSIP_TRANSPORT_UDP, &dest,
	    options, strlen(options)), 0);
	/* ICMP port unreachable: handed back, so the branch fails over. */
	assert_true(until_count(&nundelivered, 1));
	assert_true(strncmp(undelivered[0], options, 60) == 0);
	assert_int_equal(stats_get(M_CORE_ICMP_UNREACHABLE), 1);
	assert_int_equal(nrefused, 0);
}

static void
test_udp_from_core_is_delivered_with_its_source(void **state)
{
	struct sockaddr_storage ss;
	struct epsip_addr local, src;
	struct reading r;
	socklen_t sl;
	uint16_t port;
	int u;

	(void)state;
	configure("127.0.0.1", "sip:127.0.0.1:9;transport=udp");
	start();
	u = keep(bound("127.0.0.1", SOCK_DGRAM, &port));
	core_net_local(net, &local);
	sl = epsip_addr_to_sockaddr(&local, &ss);
	/* A keep-alive is not SIP. */
	assert_int_equal(sendto(u, "\r\n\r\n", 4, 0, (struct sockaddr *)&ss,
	    sl), 4);
	assert_int_equal(sendto(u, options, strlen(options), 0,
	    (struct sockaddr *)&ss, sl), (ssize_t)strlen(options));
	assert_true(until_count(&nmsgs, 1));
	run_for(10);
	assert_int_equal(nmsgs, 1);
	assert_string_equal(msgs[0], options);
	set_addr(&src, "127.0.0.1", port);
	assert_int_equal(peers[0].transport, EPSIP_TRANSPORT_UDP);
	assert_true(epsip_addr_equal(&peers[0].remote, &src));
	assert_true(peers[0].conn_id == 0);
	/* And a response goes back there from the core-listen port. */
	assert_int_equal(core_net_send_response(net, EPSIP_TRANSPORT_UDP,
	    &src, &src, ok200, strlen(ok200)), 0);
	read_while_running(u, &r, strlen(ok200));
	assert_string_equal(r.buf, ok200);
}

/* --- connections from the core --- */

static void
test_response_goes_back_on_the_connection_the_request_came_on(void **state)
{
	struct epsip_addr client, elsewhere;
	struct reading r;
	uint16_t port;
	int s, l, d;

	(void)state;
	configure("127.0.0.1", "sip:127.0.0.1:9;transport=tcp");
	start();
	s = connect_to_core();
	local_addr_of(s, &client);
	assert_int_equal(send(s, options, strlen(options), 0),
	    (ssize_t)strlen(options));
	assert_true(until_count(&nmsgs, 1));
	assert_string_equal(msgs[0], options);
	assert_int_equal(peers[0].transport, EPSIP_TRANSPORT_TCP);
	assert_true(epsip_addr_equal(&peers[0].remote, &client));
	assert_true(peers[0].conn_id != 0);
	assert_int_equal(core_net_core_conns(net), 1);
	/* By received:rport = the connection's remote end, not by dest. */
	l = keep(bound("127.0.0.1", SOCK_STREAM, &port));
	set_addr(&elsewhere, "127.0.0.1", port);
	assert_int_equal(core_net_send_response(net, EPSIP_TRANSPORT_TCP,
	    &client, &elsewhere, ok200, strlen(ok200)), 0);
	read_while_running(s, &r, strlen(ok200));
	assert_string_equal(r.buf, ok200);
	assert_int_equal(accept4(l, NULL, NULL, 0), -1);
	/* The core closes it; the next response opens one to sent-by. */
	drop(s);
	run_for(20);
	assert_int_equal(core_net_core_conns(net), 0);
	assert_int_equal(core_net_send_response(net, EPSIP_TRANSPORT_TCP,
	    &client, &elsewhere, ok200, strlen(ok200)), 0);
	assert_true((d = accept_one(l, 1000)) >= 0);
	read_while_running(d, &r, strlen(ok200));
	assert_string_equal(r.buf, ok200);
	assert_int_equal(stats_get(M_CORE_CONNECTIONS_DIALED), 1);
	/* Nothing was lost on the pool: no lost reports. */
	assert_int_equal(nlost, 0);
}

static void
test_framing_error_closes_only_that_connection(void **state)
{
	static const char junk[] = "\x16\x03\x01 this is TLS, not SIP\r\n\r\n";
	struct reading r;
	int bad, good;

	(void)state;
	configure("127.0.0.1", "sip:127.0.0.1:9;transport=tcp");
	start();
	bad = connect_to_core();
	good = connect_to_core();
	assert_int_equal(send(bad, junk, sizeof(junk) - 1, 0),
	    (ssize_t)sizeof(junk) - 1);
	read_while_running(bad, &r, 1);
	assert_int_equal(r.len, 0);		/* closed on us */
	assert_int_equal(stats_get(M_CORE_FRAMING_ERRORS), 1);
	/* One message in two pieces on the other one still frames. */
	assert_int_equal(send(good, options, 20, 0), 20);
	run_for(5);
	assert_int_equal(send(good, options + 20, strlen(options) - 20, 0),
	    (ssize_t)strlen(options) - 20);
	assert_true(until_count(&nmsgs, 1));
	assert_string_equal(msgs[0], options);
	assert_int_equal(core_net_core_conns(net), 1);
}

static void
test_connections_beyond_the_limit_are_refused(void **state)
{
	struct reading r;
	int s[3];

	(void)state;
	configure("127.0.0.1", "sip:127.0.0.1:9;transport=tcp");
	limits.conns_max = 2;
	start();
	for (int i = 0; i < 3; i++) {
		s[i] = connect_to_core();
	}
	run_for(20);
	assert_int_equal(core_net_core_conns(net), 2);
	assert_int_equal(stats_get(M_CORE_CONNECTIONS_REJECTED), 1);
	read_while_running(s[2], &r, 1);
	assert_int_equal(r.len, 0);
}

/* --- IPv6 --- */

/*
 * Whether ::1 can be bound here; if not, why, in why.  Docker's default
 * build network, like some CI containers, has IPv6 off (no ::1 on lo).
 */
static int
have_ipv6_loopback(char *why, size_t len)
{
	struct sockaddr_in6 sin6;
	int fd, ok;

	fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(why, len, "no IPv6 loopback here: socket(AF_INET6): "
		    "%s", strerror(errno));
		return (0);
	}
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_addr = in6addr_loopback;
	ok = bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) == 0;
	if (!ok) {
		snprintf(why, len, "no IPv6 loopback here: bind ::1: %s",
		    strerror(errno));
	}
	close(fd);
	return (ok);
}

static void
test_ipv6_pool_and_unreachable(void **state)
{
	uint64_t conn_id;
	struct reading r;
	char uri[64], why[128];
	uint16_t port;
	int l, a;

	(void)state;
	if (!have_ipv6_loopback(why, sizeof(why))) {
		skip_because(why);
	}
	l = keep(bound("::1", SOCK_STREAM, &port));
	snprintf(uri, sizeof(uri), "sip:[::1]:%u;transport=tcp", port);
	configure("::1", uri);
	start();
	assert_int_equal(core_net_send_upstream(net, EPSIP_TRANSPORT_TCP, 3,
	    options, strlen(options), &conn_id), CORE_NET_OK);
	assert_true((a = accept_one(l, 1000)) >= 0);
	read_while_running(a, &r, strlen(options));
	assert_string_equal(r.buf, options);
	core_net_free(net);
	net = NULL;

	snprintf(uri, sizeof(uri), "sip:[::1]:%u;transport=udp",
	    closed_port("::1", SOCK_DGRAM));
	configure("::1", uri);
	start();
	assert_int_equal(core_net_send_upstream(net, EPSIP_TRANSPORT_UDP, 0,
	    options, strlen(options), &conn_id), CORE_NET_OK);
	assert_true(until_count(&nrefused, 1));
}

/* core-listen [::] reaches an IPv4 upstream and sees IPv4 peers plainly. */
static void
test_dual_stack_core_listen_speaks_ipv4(void **state)
{
	struct sockaddr_storage ss;
	struct epsip_addr local, src;
	uint64_t conn_id;
	socklen_t sl;
	char uri[64];
	uint16_t port;
	int u;

	(void)state;
	snprintf(uri, sizeof(uri), "sip:127.0.0.1:%u;transport=udp",
	    closed_port("127.0.0.1", SOCK_DGRAM));
	configure("::", uri);
	start();
	assert_int_equal(core_net_send_upstream(net, EPSIP_TRANSPORT_UDP, 0,
	    options, strlen(options), &conn_id), CORE_NET_OK);
	assert_true(until_count(&nrefused, 1));
	u = keep(bound("127.0.0.1", SOCK_DGRAM, &port));
	core_net_local(net, &local);
	set_addr(&local, "127.0.0.1", local.port);
	sl = epsip_addr_to_sockaddr(&local, &ss);
	assert_int_equal(sendto(u, options, strlen(options), 0,
	    (struct sockaddr *)&ss, sl), (ssize_t)strlen(options));
	assert_true(until_count(&nmsgs, 1));
	set_addr(&src, "127.0.0.1", port);
	assert_true(epsip_addr_equal(&peers[0].remote, &src));
}

/* --- the whole upstream core over real sockets --- */

static struct rb_core *
core_over_sockets(const char *uri)
{
	static struct rb_out out;
	struct rb_core *core;
	char err[256];

	out.send = capture;
	out.arg = NULL;
	configure("127.0.0.1", uri);
	core = rb_core_upstream_new(&cfg, &out, loop, err, sizeof(err));
	if (core == NULL) {
		fail_msg("rb_core_upstream_new: %s", err);
	}
	return (core);
}

static const char phone_register[] =
    "REGISTER sip:example.com SIP/2.0\r\n"
    "Via: SIP/2.0/%s 127.0.0.1:5070;branch=z9hG4bK-ep77;ept=TOKENA\r\n"
    "Via: SIP/2.0/TCP 192.0.2.2:5060;branch=z9hG4bKua77"
    ";received=192.0.2.2;rport=5060\r\n"
    "Max-Forwards: 69\r\n"
    "From: <sip:bob@example.com>;tag=f1\r\nTo: <sip:bob@example.com>\r\n"
    "Call-ID: reg-77\r\nCSeq: 1 REGISTER\r\n"
    "Contact: <sip:bob@192.0.2.2:5060>\r\nContent-Length: 0\r\n\r\n";

static void
register_to_dead_upstream(const char *transport, const char *uri)
{
	struct rb_core *core = core_over_sockets(uri);
	struct epsip_msg msg;
	osip_message_t *m;
	char text[1024];
	uint64_t t0;

	snprintf(text, sizeof(text), phone_register, transport);
	epsip_msg_init(&msg, EPSIP_MSG_SIP_TO_CORE);
	msg.payload = (const uint8_t *)text;
	msg.payload_len = strlen(text);
	t0 = monotonic_ms();
	core->ops->sip(core, &msg, loop_now_ms(loop));
	assert_true(until_count(&nsent, 1));
	print_message("REGISTER to a dead %s upstream: 503 after %llu ms\n",
	    transport, (unsigned long long)(monotonic_ms() - t0));
	assert_true(monotonic_ms() - t0 < 500);
	assert_int_equal(sip_parse(sent[0], strlen(sent[0]), &m), 0);
	assert_int_equal(m->status_code, 503);
	assert_string_equal(sip_header_value(m, "Retry-After", 0), "30");
	osip_message_free(m);
	assert_int_equal(stats_get(M_UPSTREAM_503_UNREACHABLE), 1);
	assert_int_equal(core_upstream_pending(core), 0);
	core->ops->free(core);
}

static void
test_register_to_refused_tcp_upstream_gets_503_in_milliseconds(void **state)
{
	char uri[64];
	int l;

	(void)state;
	snprintf(uri, sizeof(uri), "sip:127.0.0.1:%u;transport=tcp",
	    refusing_tcp_port("127.0.0.1", &l));
	register_to_dead_upstream("TCP", uri);
}

static void
test_register_to_dead_udp_upstream_gets_503_in_milliseconds(void **state)
{
	char uri[64];

	(void)state;
	snprintf(uri, sizeof(uri), "sip:127.0.0.1:%u;transport=udp",
	    closed_port("127.0.0.1", SOCK_DGRAM));
	register_to_dead_upstream("UDP", uri);
}

struct datagram {
	int fd;
	char buf[4096];
	ssize_t len;
	struct sockaddr_storage from;
	socklen_t fromlen;
};

static int
try_recvfrom(void *arg)
{
	struct datagram *d = arg;

	d->fromlen = sizeof(d->from);
	d->len = recvfrom(d->fd, d->buf, sizeof(d->buf) - 1, MSG_DONTWAIT,
	    (struct sockaddr *)&d->from, &d->fromlen);
	if (d->len >= 0) {
		d->buf[d->len] = '\0';
	}
	return (d->len >= 0);
}

/* The upstream answers the datagram's source: core-listen, to the router. */
static void
test_register_over_udp_is_answered_through_core_listen(void **state)
{
	struct datagram d;
	struct rb_core *core;
	struct epsip_msg msg;
	osip_message_t *req, *resp;
	char uri[64], text[1024], *wire;
	size_t len;
	uint16_t port;

	(void)state;
	memset(&d, 0, sizeof(d));
	d.fd = keep(bound("127.0.0.1", SOCK_DGRAM, &port));
	snprintf(uri, sizeof(uri), "sip:127.0.0.1:%u;transport=udp", port);
	core = core_over_sockets(uri);
	snprintf(text, sizeof(text), phone_register, "UDP");
	epsip_msg_init(&msg, EPSIP_MSG_SIP_TO_CORE);
	msg.payload = (const uint8_t *)text;
	msg.payload_len = strlen(text);
	core->ops->sip(core, &msg, loop_now_ms(loop));
	assert_true(run_until(try_recvfrom, &d, 1000));
	assert_string_equal(d.buf, text);
	assert_int_equal(core_upstream_pending(core), 1);
	assert_int_equal(sip_parse(text, strlen(text), &req), 0);
	assert_int_equal(sip_reply_create(req, 200, "OK", &resp), 0);
	assert_int_equal(sip_serialize(resp, &wire, &len), 0);
	assert_int_equal(sendto(d.fd, wire, len, 0,
	    (struct sockaddr *)&d.from, d.fromlen), (ssize_t)len);
	assert_true(until_count(&nsent, 1));
	assert_string_equal(sent[0], wire);
	assert_int_equal(core_upstream_pending(core), 0);
	free(wire);
	osip_message_free(req);
	osip_message_free(resp);
	core->ops->free(core);
}

/* --- a TLS upstream --- */

/* The upstream's end of a pool connection: an OpenSSL server. */
struct tls_upstream {
	SSL_CTX *ctx;
	SSL *ssl;
	char buf[4096];
	size_t len, want;
	int failed;			/* its handshake failed */
};

static void
tls_upstream_on(struct tls_upstream *u, int fd)
{
	static const uint8_t secret[32] = { 7 };
	struct tls_settings ts = { server_pem, server_key, NULL, secret, 32 };
	char err[256];

	assert_int_equal(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK),
	    0);
	if ((u->ctx = tls_server_ctx_new(&ts, err, sizeof(err))) == NULL) {
		fail_msg("%s", err);
	}
	assert_non_null(u->ssl = SSL_new(u->ctx));
	assert_int_equal(SSL_set_fd(u->ssl, fd), 1);
	SSL_set_accept_state(u->ssl);
}

static void
tls_upstream_free(struct tls_upstream *u)
{
	SSL_free(u->ssl);
	tls_ctx_free(u->ctx);
	ERR_clear_error();
}

/* Handshake, then read until `want` bytes (or the handshake failed). */
static int
tls_upstream_step(void *arg)
{
	struct tls_upstream *u = arg;
	size_t n;
	int r, e;

	r = SSL_read_ex(u->ssl, u->buf + u->len, sizeof(u->buf) - 1 - u->len,
	    &n);
	if (r == 1) {
		u->len += n;
		u->buf[u->len] = '\0';
	} else if ((e = SSL_get_error(u->ssl, r)) != SSL_ERROR_WANT_READ &&
	    e != SSL_ERROR_WANT_WRITE) {
		u->failed = 1;
		ERR_clear_error();
		return (1);
	}
	return (u->len >= u->want);
}

static void
tls_upstream_read(struct tls_upstream *u, size_t want)
{
	u->len = 0;
	u->buf[0] = '\0';
	u->want = want;
	(void)run_until(tls_upstream_step, u, 2000);
}

static void
test_tls_upstream_pool_carries_both_ways_after_checking_the_certificate(
    void **state)
{
	struct tls_upstream up = { 0 };
	struct epsip_addr upstream;
	uint64_t c1;
	char uri[64];
	uint16_t port;
	int l, a;

	(void)state;
	l = keep(bound("127.0.0.1", SOCK_STREAM, &port));
	snprintf(uri, sizeof(uri), "sips:127.0.0.1:%u", port);
	configure("127.0.0.1", uri);
	snprintf(cfg.tls_ca, sizeof(cfg.tls_ca), "%s", root_pem);
	start();
	assert_int_equal(core_net_send_upstream(net, EPSIP_TRANSPORT_TLS, 1,
	    options, strlen(options), &c1), CORE_NET_OK);
	assert_true((a = accept_one(l, 1000)) >= 0);
	tls_upstream_on(&up, a);
	tls_upstream_read(&up, strlen(options));
	assert_false(up.failed);
	assert_string_equal(up.buf, options);
	assert_string_equal(SSL_get_version(up.ssl), "TLSv1.3");

	/* Its answer is framed and handed up as TLS, from the upstream. */
	assert_int_equal(SSL_write(up.ssl, ok200, (int)strlen(ok200)),
	    (int)strlen(ok200));
	assert_true(until_count(&nmsgs, 1));
	assert_string_equal(msgs[0], ok200);
	assert_int_equal(peers[0].transport, EPSIP_TRANSPORT_TLS);
	assert_true(peers[0].conn_id == c1);
	set_addr(&upstream, "127.0.0.1", port);
	assert_true(epsip_addr_equal(&peers[0].remote, &upstream));
	/* A response to the upstream's request goes back on it. */
	assert_int_equal(core_net_send_response(net, EPSIP_TRANSPORT_TLS,
	    &upstream, &upstream, ok200, strlen(ok200)), 0);
	tls_upstream_read(&up, strlen(ok200));
	assert_string_equal(up.buf, ok200);
	assert_int_equal(stats_get(M_UPSTREAM_CONNECT_FAILURES), 0);
	tls_upstream_free(&up);
}

static void
test_tls_upstream_tls_ca_does_not_vouch_for_backs_off_like_a_refusal(
    void **state)
{
	struct tls_upstream up = { 0 };
	uint64_t c1;
	char uri[64];
	uint16_t port;
	int l, a;

	(void)state;
	l = keep(bound("127.0.0.1", SOCK_STREAM, &port));
	snprintf(uri, sizeof(uri), "sips:127.0.0.1:%u", port);
	configure("127.0.0.1", uri);
	snprintf(cfg.tls_ca, sizeof(cfg.tls_ca), "%s", rogue_pem);
	limits.pool_size = 1;
	limits.backoff_min_ms = 5000;
	start();
	assert_int_equal(core_net_send_upstream(net, EPSIP_TRANSPORT_TLS, 1,
	    options, strlen(options), &c1), CORE_NET_OK);
	assert_true((a = accept_one(l, 1000)) >= 0);
	tls_upstream_on(&up, a);
	tls_upstream_read(&up, strlen(options));
	assert_true(up.failed);			/* the client's alert */
	assert_int_equal(up.len, 0);
	assert_true(until_count(&nlost, 1));
	assert_true(lost[0] == c1);
	assert_int_equal(stats_get(M_UPSTREAM_CONNECT_FAILURES), 1);
	assert_int_equal(core_net_pool_live(net), 0);
	assert_int_equal(core_net_send_upstream(net, EPSIP_TRANSPORT_TLS, 1,
	    options, strlen(options), &c1), CORE_NET_BACKOFF);
	tls_upstream_free(&up);
}

static void
test_a_tls_upstream_with_an_unreadable_tls_ca_does_not_start(void **state)
{
	char err[256] = "";

	(void)state;
	configure("127.0.0.1", "sips:127.0.0.1:5061");
	snprintf(cfg.tls_ca, sizeof(cfg.tls_ca), "%s", missing_pem);
	assert_null(core_net_new(loop, &cfg, &limits, &events, err,
	    sizeof(err)));
	assert_non_null(strstr(err, "tls-ca "));
	assert_non_null(strstr(err, "missing.pem"));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_pool_connects_lazily_and_keeps_a_call_on_one_connection),
		T(test_refused_tcp_upstream_fails_fast_backs_off_and_reconnects),
		T(test_full_out_queue_refuses_the_request),
		T(test_udp_port_unreachable_is_reported_in_milliseconds),
		T(test_upstream_named_by_a_host_name_is_looked_up_once_and_reached),
		T(test_udp_refused_by_another_edge_is_undelivered_at_once),
		T(test_udp_from_core_is_delivered_with_its_source),
		T(test_response_goes_back_on_the_connection_the_request_came_on),
		T(test_framing_error_closes_only_that_connection),
		T(test_connections_beyond_the_limit_are_refused),
		T(test_ipv6_pool_and_unreachable),
		T(test_dual_stack_core_listen_speaks_ipv4),
		T(test_register_to_refused_tcp_upstream_gets_503_in_milliseconds),
		T(test_register_to_dead_udp_upstream_gets_503_in_milliseconds),
		T(test_register_over_udp_is_answered_through_core_listen),
		T(test_tls_upstream_pool_carries_both_ways_after_checking_the_certificate),
		T(test_tls_upstream_tls_ca_does_not_vouch_for_backs_off_like_a_refusal),
		T(test_a_tls_upstream_with_an_unreadable_tls_ca_does_not_start),
	};

	return (cmocka_run_group_tests(tests, tls_certs_make,
	    tls_certs_remove));
}
