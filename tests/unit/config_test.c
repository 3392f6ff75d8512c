/*
 * config_test.c -- the configuration table: addresses, files, flags,
 * ranges and the effective file the supervisor hands to services.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "epsip/config.h"
#include "epsip/config_doc.h"
#include "epsip/doc_splice.h"

static void
test_addresses_parse_in_every_form(void **state)
{
	struct epsip_addr a;
	char buf[64];

	(void)state;
	assert_int_equal(config_parse_addr("192.0.2.1:5070", 5060, &a), 0);
	assert_int_equal(a.port, 5070);
	assert_int_equal(config_parse_addr("192.0.2.1", 5060, &a), 0);
	assert_int_equal(a.port, 5060);
	assert_int_equal(config_parse_addr("[2001:db8::1]:5061", 5060, &a), 0);
	epsip_addr_format(&a, buf, sizeof(buf));
	assert_string_equal(buf, "[2001:db8::1]:5061");
	assert_int_equal(config_parse_addr("2001:db8::1:5060", 5060, &a), -1);
	assert_int_equal(config_parse_addr("192.0.2.1:0", 5060, &a), -1);
	assert_int_equal(config_parse_addr("192.0.2.1:70000", 5060, &a), -1);
	assert_int_equal(config_parse_addr("example.com:5060", 5060, &a), -1);
}

static void
test_out_of_range_number_names_the_key(void **state)
{
	struct epsip_config cfg;
	char err[256];

	(void)state;
	config_defaults(&cfg);
	assert_int_equal(config_set(&cfg, "flows-per-child", "0", err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "flows-per-child"));
	assert_int_equal(config_set(&cfg, "flow-timer", "-5", err,
	    sizeof(err)), -1);
	assert_int_equal(config_set(&cfg, "flow-timer", "29", err,
	    sizeof(err)), 0);
	assert_int_equal(cfg.flow_timer, 29);
	assert_int_equal(config_set(&cfg, "record-route", "outbound", err,
	    sizeof(err)), 0);
	assert_int_equal(cfg.record_route, RECORD_ROUTE_OUTBOUND);
	assert_int_equal(config_set(&cfg, "path-policy", "lax", err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "path-policy"));
}

static void
test_registrar_sync_is_off_by_default_and_a_bad_level_names_every_one(
    void **state)
{
	struct epsip_config cfg;
	char err[256];

	(void)state;
	config_defaults(&cfg);
	assert_int_equal(cfg.registrar_sync, REGISTRAR_SYNC_OFF);
	assert_int_equal(config_set(&cfg, "registrar-sync", "normal", err,
	    sizeof(err)), 0);
	assert_int_equal(cfg.registrar_sync, REGISTRAR_SYNC_NORMAL);
	assert_int_equal(config_set(&cfg, "registrar-sync", "always", err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "registrar-sync"));
	assert_non_null(strstr(err, "off normal full"));
}

static void
test_first_listen_replaces_the_default_list(void **state)
{
	struct epsip_config cfg;
	char *argv[] = { "epsipd", "--listen", "192.0.2.1:5060",
	    "--listen=192.0.2.2:5070", NULL };
	char err[256];
	int help, check;

	(void)state;
	config_defaults(&cfg);
	assert_int_equal(config_parse_args(&cfg, 4, argv, NULL, NULL, &help,
	    &check, err, sizeof(err)), 0);
	assert_int_equal(cfg.listen_count, 2);
	assert_int_equal(cfg.listen[1].port, 5070);
}

static void
test_effective_file_reads_back_identically(void **state)
{
	struct epsip_config cfg, back;
	char path[] = "/tmp/epsip-cfg-XXXXXX", err[256];
	int fd;
	FILE *f;

	(void)state;
	config_defaults(&cfg);
	config_set(&cfg, "domain", "example.com", err, sizeof(err));
	config_set(&cfg, "listen", "[2001:db8::5]:5090", err, sizeof(err));
	config_set(&cfg, "path-policy", "strict", err, sizeof(err));
	assert_int_equal(config_finish(&cfg, err, sizeof(err)), 0);
	assert_true((fd = mkstemp(path)) >= 0);
	f = fdopen(fd, "w");
	assert_int_equal(config_write(&cfg, f), 0);
	fclose(f);
	config_defaults(&back);
	assert_int_equal(config_load_file(&back, path, err, sizeof(err)), 0);
	unlink(path);
	assert_int_equal(back.listen_count, cfg.listen_count);
	assert_true(epsip_addr_equal(&back.listen[1], &cfg.listen[1]));
	assert_string_equal(back.domain[0], "example.com");
	assert_int_equal(back.path_policy, PATH_STRICT);
	assert_string_equal(back.key_file, cfg.key_file);
}

static void
test_file_error_says_file_line_and_key(void **state)
{
	struct epsip_config cfg;
	char path[] = "/tmp/epsip-cfg-XXXXXX", err[256], want[300];
	int fd;

	(void)state;
	assert_true((fd = mkstemp(path)) >= 0);
	dprintf(fd, "# ok\nlisten = 192.0.2.1\n\nmax-flows = lots\n");
	close(fd);
	config_defaults(&cfg);
	assert_int_equal(config_load_file(&cfg, path, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:4: max-flows:", path);
	assert_memory_equal(err, want, strlen(want));
	unlink(path);
}

static void
test_environment_overrides_file_and_flags_override_environment(void **state)
{
	struct epsip_config cfg;
	char *argv[] = { "epsipd", "--flow-grace", "7", NULL };
	char err[256];
	int help, check;

	(void)state;
	setenv("EPSIP_FLOW_TIMER", "33", 1);
	setenv("EPSIP_FLOW_GRACE", "99", 1);
	setenv("EPSIP_LISTEN", "192.0.2.1:5060, [2001:db8::1]:5070", 1);
	config_defaults(&cfg);
	assert_int_equal(config_parse_args(&cfg, 3, argv, NULL, NULL, &help,
	    &check, err, sizeof(err)), 0);
	unsetenv("EPSIP_FLOW_TIMER");
	unsetenv("EPSIP_FLOW_GRACE");
	unsetenv("EPSIP_LISTEN");
	assert_int_equal(cfg.flow_timer, 33);
	assert_int_equal(cfg.flow_grace, 7);
	assert_int_equal(cfg.listen_count, 2);
	assert_int_equal(cfg.listen[1].family, AF_INET6);
}

static void
test_bad_environment_value_names_the_variable(void **state)
{
	struct epsip_config cfg;
	char *argv[] = { "epsipd", NULL };
	char err[256];
	int help, check;

	(void)state;
	setenv("EPSIP_MAX_FLOWS", "many", 1);
	config_defaults(&cfg);
	assert_int_equal(config_parse_args(&cfg, 1, argv, NULL, NULL, &help,
	    &check, err, sizeof(err)), -1);
	unsetenv("EPSIP_MAX_FLOWS");
	assert_memory_equal(err, "EPSIP_MAX_FLOWS: max-flows:", 27);
}

static void
test_upstream_uri_parses_host_port_and_transport(void **state)
{
	struct epsip_upstream up;
	char err[256];

	(void)state;
	assert_int_equal(config_parse_upstream("sip:198.51.100.50:5080;"
	    "transport=tcp", &up, err, sizeof(err)), 0);
	assert_string_equal(up.host, "198.51.100.50");
	assert_int_equal(up.port, 5080);
	assert_int_equal(up.transport, EPSIP_TRANSPORT_TCP);
	assert_int_equal(config_parse_upstream("sip:registrar.example.com",
	    &up, err, sizeof(err)), 0);
	assert_string_equal(up.host, "registrar.example.com");
	assert_int_equal(up.port, 5060);
	assert_int_equal(up.transport, EPSIP_TRANSPORT_UDP);
	assert_int_equal(config_parse_upstream("sip:[2001:db8::5]:5062;lr",
	    &up, err, sizeof(err)), 0);
	assert_string_equal(up.host, "2001:db8::5");
	assert_int_equal(up.port, 5062);
}

static void
test_upstream_over_tls_is_sips_or_transport_tls_on_5061(void **state)
{
	struct epsip_upstream up;
	char err[256];

	(void)state;
	assert_int_equal(config_parse_upstream("sips:registrar.example.com",
	    &up, err, sizeof(err)), 0);
	assert_string_equal(up.host, "registrar.example.com");
	assert_int_equal(up.port, 5061);
	assert_int_equal(up.transport, EPSIP_TRANSPORT_TLS);
	assert_int_equal(config_parse_upstream("SIPS:198.51.100.50:5071;lr",
	    &up, err, sizeof(err)), 0);
	assert_int_equal(up.port, 5071);
	assert_int_equal(up.transport, EPSIP_TRANSPORT_TLS);
	/* RFC 3261 §19.1: sips: over TCP is TLS. */
	assert_int_equal(config_parse_upstream("sips:[2001:db8::5];transport="
	    "tcp", &up, err, sizeof(err)), 0);
	assert_string_equal(up.host, "2001:db8::5");
	assert_int_equal(up.port, 5061);
	assert_int_equal(up.transport, EPSIP_TRANSPORT_TLS);
	assert_int_equal(config_parse_upstream("sip:198.51.100.50;transport="
	    "tls", &up, err, sizeof(err)), 0);
	assert_int_equal(up.port, 5061);
	assert_int_equal(up.transport, EPSIP_TRANSPORT_TLS);
	assert_int_equal(config_parse_upstream("sip:198.51.100.50:5062;"
	    "transport=TLS", &up, err, sizeof(err)), 0);
	assert_int_equal(up.port, 5062);
	assert_int_equal(up.transport, EPSIP_TRANSPORT_TLS);
	/* The plain default port stays 5060. */
	assert_int_equal(config_parse_upstream("sip:198.51.100.50;transport="
	    "tcp", &up, err, sizeof(err)), 0);
	assert_int_equal(up.port, 5060);
}

static void
test_unusable_upstream_uri_is_refused_with_a_reason(void **state)
{
	struct epsip_upstream up;
	char err[256];

	(void)state;
	assert_int_equal(config_parse_upstream("sips:198.51.100.50;transport="
	    "udp", &up, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "transport=udp"));
	assert_int_equal(config_parse_upstream("tel:+15551234", &up, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "sips:"));
	assert_int_equal(config_parse_upstream("sip:kam@198.51.100.50", &up,
	    err, sizeof(err)), -1);
	assert_int_equal(config_parse_upstream("sip:198.51.100.50:0", &up,
	    err, sizeof(err)), -1);
	assert_int_equal(config_parse_upstream("sip:198.51.100.50;transport="
	    "sctp", &up, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "transport=sctp"));
	assert_int_equal(config_parse_upstream("sip:198.51.100.50;transport="
	    "wss", &up, err, sizeof(err)), -1);
	assert_int_equal(config_parse_upstream("198.51.100.50:5060", &up, err,
	    sizeof(err)), -1);
}

static void
test_upstream_mode_defaults_core_listen_and_refuses_a_clash(void **state)
{
	struct epsip_config cfg;
	char err[256], buf[64];

	(void)state;
	config_defaults(&cfg);
	assert_int_equal(config_finish(&cfg, err, sizeof(err)), 0);
	assert_false(config_has_upstream(&cfg));
	assert_int_equal(cfg.core_listen.family, 0);
	assert_int_equal(config_set(&cfg, "upstream", "sip:198.51.100.50",
	    err, sizeof(err)), 0);
	assert_int_equal(config_finish(&cfg, err, sizeof(err)), 0);
	assert_true(config_has_upstream(&cfg));
	epsip_addr_format(&cfg.core_listen, buf, sizeof(buf));
	assert_string_equal(buf, "0.0.0.0:5070");
	/* The core side on a phone-facing port is refused, named. */
	assert_int_equal(config_set(&cfg, "core-listen", "127.0.0.1:5060",
	    err, sizeof(err)), 0);
	assert_int_equal(config_finish(&cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "core-listen"));
	/* An IPv4 core side cannot send to an IPv6 upstream. */
	assert_int_equal(config_set(&cfg, "core-listen", "127.0.0.1:5070",
	    err, sizeof(err)), 0);
	assert_int_equal(config_set(&cfg, "upstream", "sip:[2001:db8::5]",
	    err, sizeof(err)), 0);
	assert_int_equal(config_finish(&cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "IPv6 upstream"));
}

static void
test_proxy_from_takes_addresses_and_networks_but_not_host_bits(void **state)
{
	struct epsip_cidr c;
	struct epsip_addr a;

	(void)state;
	assert_int_equal(config_parse_cidr("10.0.0.0/8", &c), 0);
	assert_int_equal(c.bits, 8);
	assert_int_equal(config_parse_addr("10.200.1.2:4000", 5060, &a), 0);
	assert_true(config_cidr_contains(&c, &a));
	assert_int_equal(config_parse_addr("11.0.0.1", 5060, &a), 0);
	assert_false(config_cidr_contains(&c, &a));
	/* One address: all its bits. */
	assert_int_equal(config_parse_cidr("192.0.2.7", &c), 0);
	assert_int_equal(c.bits, 32);
	assert_int_equal(config_parse_addr("192.0.2.7:1", 5060, &a), 0);
	assert_true(config_cidr_contains(&c, &a));
	assert_int_equal(config_parse_addr("192.0.2.6:1", 5060, &a), 0);
	assert_false(config_cidr_contains(&c, &a));
	/* A prefix that ends inside a byte. */
	assert_int_equal(config_parse_cidr("2001:db8:8000::/33", &c), 0);
	assert_int_equal(config_parse_addr("[2001:db8:ffff::1]:5060", 5060,
	    &a), 0);
	assert_true(config_cidr_contains(&c, &a));
	assert_int_equal(config_parse_addr("[2001:db8:7fff::1]:5060", 5060,
	    &a), 0);
	assert_false(config_cidr_contains(&c, &a));
	/* Never across families. */
	assert_int_equal(config_parse_cidr("::/0", &c), 0);
	assert_int_equal(config_parse_addr("192.0.2.7", 5060, &a), 0);
	assert_false(config_cidr_contains(&c, &a));
	assert_int_equal(config_parse_cidr("192.0.2.1/24", &c), -1);
	assert_int_equal(config_parse_cidr("10.0.0.0/33", &c), -1);
	assert_int_equal(config_parse_cidr("10.0.0.0/", &c), -1);
	assert_int_equal(config_parse_cidr("10.0.0.0/+8", &c), -1);
	assert_int_equal(config_parse_cidr("lb.example.com", &c), -1);
	assert_int_equal(config_parse_cidr("", &c), -1);
}

static void
test_proxy_protocol_names_a_listen_address_and_needs_proxy_from(
    void **state)
{
	struct epsip_config cfg;
	struct epsip_addr a;
	char err[256];

	(void)state;
	config_defaults(&cfg);
	assert_int_equal(config_set(&cfg, "proxy-protocol", "127.0.0.1:5062",
	    err, sizeof(err)), 0);
	assert_int_equal(config_finish(&cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a listen address"));
	assert_int_equal(config_set(&cfg, "listen", "127.0.0.1:5062", err,
	    sizeof(err)), 0);
	assert_int_equal(config_finish(&cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "proxy-from"));
	assert_int_equal(config_set(&cfg, "proxy-from", "192.0.2.1/24", err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "proxy-from"));
	assert_int_equal(config_set(&cfg, "proxy-from", "127.0.0.1", err,
	    sizeof(err)), 0);
	assert_int_equal(config_finish(&cfg, err, sizeof(err)), 0);
	assert_true(config_proxy_protocol_on(&cfg, &cfg.listen[1]));
	assert_false(config_proxy_protocol_on(&cfg, &cfg.listen[0]));
	assert_int_equal(config_parse_addr("127.0.0.1:33000", 5060, &a), 0);
	assert_true(config_proxy_trusted(&cfg, &a));
	assert_int_equal(config_parse_addr("127.0.0.2:33000", 5060, &a), 0);
	assert_false(config_proxy_trusted(&cfg, &a));
}

static void
test_an_edge_owns_sixteen_instances_from_its_first(void **state)
{
	struct epsip_config cfg;
	char err[256];

	(void)state;
	config_defaults(&cfg);
	assert_int_equal(config_set(&cfg, "instance", "17", err, sizeof(err)),
	    0);
	assert_false(config_owns_instance(&cfg, 16));
	assert_true(config_owns_instance(&cfg, 17));
	assert_true(config_owns_instance(&cfg, 32));
	assert_false(config_owns_instance(&cfg, 33));
	cfg.flow_manager = 3;
	assert_int_equal(config_flow_manager_instance(&cfg), 19);
	/* The last block must fit in a token's 16 bits. */
	assert_int_equal(config_set(&cfg, "instance", "65521", err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "instance"));
	assert_int_equal(config_set(&cfg, "instance", "65520", err,
	    sizeof(err)), 0);
}

static void
test_flow_managers_are_one_to_sixteen_and_reloadable(void **state)
{
	struct epsip_config cfg;
	char err[256];

	(void)state;
	config_defaults(&cfg);
	assert_int_equal(cfg.flow_managers, 1);
	assert_int_equal(config_set(&cfg, "flow-managers", "17", err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "flow-managers"));
	assert_int_equal(config_set(&cfg, "flow-managers", "16", err,
	    sizeof(err)), 0);
	assert_int_equal(config_finish(&cfg, err, sizeof(err)), 0);
	assert_true(config_key_reloadable("flow-managers"));
	assert_true(config_key_reloadable("drain-timeout"));
	assert_false(config_key_reloadable("udp-flow-sockets"));
}

static void
test_proxy_keys_come_from_the_environment_and_read_back(void **state)
{
	struct epsip_config cfg, back;
	char path[] = "/tmp/epsip-cfg-XXXXXX", err[256];
	char *argv[] = { "epsipd", "--proxy-from", "198.51.100.0/24", NULL };
	int help, check, fd;
	FILE *f;

	(void)state;
	config_defaults(&cfg);
	setenv("EPSIP_LISTEN", "127.0.0.1:5060 127.0.0.1:5062", 1);
	setenv("EPSIP_PROXY_PROTOCOL", "127.0.0.1:5062", 1);
	setenv("EPSIP_PROXY_FROM", "10.0.0.0/8, 192.0.2.7", 1);
	assert_int_equal(config_parse_args(&cfg, 3, argv, NULL, NULL, &help,
	    &check, err, sizeof(err)), 0);
	unsetenv("EPSIP_LISTEN");
	unsetenv("EPSIP_PROXY_PROTOCOL");
	unsetenv("EPSIP_PROXY_FROM");
	/* The flag's list replaces the environment's. */
	assert_int_equal(cfg.proxy_from_count, 1);
	assert_int_equal(cfg.proxy_protocol_count, 1);
	assert_int_equal(config_finish(&cfg, err, sizeof(err)), 0);
	assert_true((fd = mkstemp(path)) >= 0);
	f = fdopen(fd, "w");
	assert_int_equal(config_write(&cfg, f), 0);
	fclose(f);
	config_defaults(&back);
	assert_int_equal(config_load_file(&back, path, err, sizeof(err)), 0);
	unlink(path);
	assert_int_equal(back.proxy_protocol_count, 1);
	assert_true(epsip_addr_equal(&back.proxy_protocol[0],
	    &cfg.proxy_protocol[0]));
	assert_int_equal(back.proxy_from_count, 1);
	assert_int_equal(back.proxy_from[0].bits, 24);
	assert_true(epsip_addr_equal(&back.proxy_from[0].net,
	    &cfg.proxy_from[0].net));
}

static void
set(struct epsip_config *cfg, const char *key, const char *value)
{
	char err[256];

	if (config_set(cfg, key, value, err, sizeof(err)) == -1) {
		fail_msg("%s", err);
	}
}

/*
 * SIGHUP: the running configuration takes the new values of reloadable
 * keys only, and what changed is told apart by kind.
 */
static void
test_reload_takes_reloadable_keys_and_names_the_others(void **state)
{
	struct epsip_config run, fresh;
	const char *names[4];

	(void)state;
	config_defaults(&run);
	fresh = run;
	set(&fresh, "log-level", "warn");
	set(&fresh, "max-flows", "7");
	set(&fresh, "key-file", "/k/new.key");
	set(&fresh, "previous-key-file", "/k/old.key");
	set(&fresh, "listen", "192.0.2.9:5090");
	set(&fresh, "instance", "3");
	assert_int_equal(config_changed(&run, &fresh, 1, names, 4), 4);
	assert_string_equal(names[0], "key-file");
	assert_int_equal(config_changed(&run, &fresh, 0, names, 1), 2);
	assert_string_equal(names[0], "listen");
	config_take_reloadable(&run, &fresh);
	assert_int_equal(run.log_level, LOG_LEVEL_WARN);
	assert_int_equal(run.max_flows, 7);
	assert_string_equal(run.key_file, "/k/new.key");
	assert_string_equal(run.previous_key_file, "/k/old.key");
	assert_int_equal(run.instance, 1);
	assert_int_equal(run.listen[0].port, 5060);
	assert_int_equal(config_changed(&run, &fresh, 1, names, 4), 0);
	assert_int_equal(config_changed(&run, &fresh, 0, names, 4), 2);
	assert_string_equal(names[1], "instance");
}

/* Every key is documented, and only scalar keys are reloadable. */
static void
test_every_key_has_a_doc_and_reloadable_keys_are_scalar(void **state)
{
	struct config_key_doc doc;
	size_t i, reloadable = 0;

	(void)state;
	for (i = 0; config_key_doc(i, &doc) == 0; i++) {
		assert_non_null(doc.name);
		assert_true(doc.help[0] != '\0');
		assert_true(doc.value[0] != '\0');
		assert_int_equal(doc.reloadable,
		    config_key_reloadable(doc.name));
		if (doc.reloadable) {
			assert_false(doc.repeatable);
			reloadable++;
		}
	}
	assert_true(i > 30);
	assert_int_equal(reloadable, 24);
	assert_int_equal(config_key_doc(0, &doc), 0);
	assert_string_equal(doc.name, "listen");
	assert_string_equal(doc.def, "0.0.0.0:5060");
	assert_true(doc.repeatable);
	assert_false(config_key_reloadable("no-such-key"));
}

/* epsipctl finds `stats` in a file whose other lines epsipd refuses. */
static void
test_one_value_is_found_in_a_file_with_bad_lines(void **state)
{
	char path[] = "/tmp/epsip-cfg-XXXXXX", value[64];
	int fd;
	FILE *f;

	(void)state;
	assert_true((fd = mkstemp(path)) >= 0);
	f = fdopen(fd, "w");
	fputs("stats = 127.0.0.1:1\nthis is not a key\nmax-flows = 0\n"
	    "  stats=[::1]:8061   # the last one wins\n", f);
	fclose(f);
	assert_int_equal(config_file_value(path, "stats", value,
	    sizeof(value)), 1);
	assert_string_equal(value, "[::1]:8061");
	assert_int_equal(config_file_value(path, "listen", value,
	    sizeof(value)), 0);
	unlink(path);
	assert_int_equal(config_file_value(path, "stats", value,
	    sizeof(value)), -1);
}

/*
 * man/epsip.conf.5 lists every key of the table, as `make docs-config`
 * writes it.  Run from the repository root (as make does).
 */
static void
test_man_page_lists_every_key_as_the_table_says(void **state)
{
	static const char path[] = "man/epsip.conf.5";
	struct config_key_doc doc;
	char err[256], entry[128], *page, *want;
	size_t i;

	(void)state;
	if ((page = doc_read_file(path)) == NULL) {
		fail_msg("%s: cannot read (run from the repository root)",
		    path);
	}
	if ((want = config_doc_splice(page, err, sizeof(err))) == NULL) {
		fail_msg("%s: %s", path, err);
	}
	if (strcmp(page, want) != 0) {
		fail_msg("%s does not list the keys of common/config.c: run "
		    "`make docs-config`", path);
	}
	for (i = 0; config_key_doc(i, &doc) == 0; i++) {
		snprintf(entry, sizeof(entry), "\n.It Cm %s No = Ar ",
		    doc.name);
		if (strstr(page, entry) == NULL) {
			fail_msg("%s: no entry for %s", path, doc.name);
		}
	}
	free(want);
	free(page);
}

/*
 * docs/configuration.md has a row for every key, and marks exactly the
 * reloadable ones.  Run from the repository root (as make does).
 */
static void
test_configuration_doc_marks_the_reloadable_keys(void **state)
{
	static const char path[] = "docs/configuration.md";
	struct config_key_doc doc;
	char row[96], *text, *at, *line;
	size_t i;
	int marked;

	(void)state;
	if ((text = doc_read_file(path)) == NULL) {
		fail_msg("%s: cannot read (run from the repository root)",
		    path);
	}
	for (i = 0; config_key_doc(i, &doc) == 0; i++) {
		snprintf(row, sizeof(row), "\n| `%s` | ", doc.name);
		if ((at = strstr(text, row)) == NULL) {
			fail_msg("%s: no row for %s", path, doc.name);
		}
		line = strndup(at + 1, strcspn(at + 1, "\n"));
		assert_non_null(line);
		marked = strstr(line, "**Reloadable.**") != NULL;
		free(line);
		if (marked != doc.reloadable) {
			fail_msg("%s: %s is %sreloadable, its row says "
			    "otherwise", path, doc.name, doc.reloadable ? "" :
			    "not ");
		}
	}
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addresses_parse_in_every_form),
		cmocka_unit_test(test_out_of_range_number_names_the_key),
		cmocka_unit_test(
		    test_registrar_sync_is_off_by_default_and_a_bad_level_names_every_one),
		cmocka_unit_test(test_first_listen_replaces_the_default_list),
		cmocka_unit_test(test_effective_file_reads_back_identically),
		cmocka_unit_test(test_file_error_says_file_line_and_key),
		cmocka_unit_test(
		    test_environment_overrides_file_and_flags_override_environment),
		cmocka_unit_test(test_bad_environment_value_names_the_variable),
		cmocka_unit_test(
		    test_upstream_uri_parses_host_port_and_transport),
		cmocka_unit_test(
		    test_upstream_over_tls_is_sips_or_transport_tls_on_5061),
		cmocka_unit_test(
		    test_unusable_upstream_uri_is_refused_with_a_reason),
		cmocka_unit_test(
		    test_upstream_mode_defaults_core_listen_and_refuses_a_clash),
		cmocka_unit_test(
		    test_proxy_from_takes_addresses_and_networks_but_not_host_bits),
		cmocka_unit_test(
		    test_proxy_protocol_names_a_listen_address_and_needs_proxy_from),
		cmocka_unit_test(
		    test_proxy_keys_come_from_the_environment_and_read_back),
		cmocka_unit_test(
		    test_an_edge_owns_sixteen_instances_from_its_first),
		cmocka_unit_test(
		    test_flow_managers_are_one_to_sixteen_and_reloadable),
		cmocka_unit_test(
		    test_reload_takes_reloadable_keys_and_names_the_others),
		cmocka_unit_test(
		    test_every_key_has_a_doc_and_reloadable_keys_are_scalar),
		cmocka_unit_test(
		    test_one_value_is_found_in_a_file_with_bad_lines),
		cmocka_unit_test(
		    test_man_page_lists_every_key_as_the_table_says),
		cmocka_unit_test(
		    test_configuration_doc_marks_the_reloadable_keys),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
