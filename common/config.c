/*
 * config.c -- the configuration table, its file format and its flags.
 *
 * One table describes every key: its type, range and help text.  The file
 * parser, the flag parser, the effective-config writer and --help all read
 * that table, so a key cannot exist in one place and not another.
 * DIAGNOSTICS: nothing fatal here; callers print the one-line error and
 * exit 2.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "epsip/config.h"

enum key_type {
	KEY_ADDR_LIST,	/* listen, proxy-protocol */
	KEY_NAME_LIST,	/* domain, alias */
	KEY_ORIGIN_LIST,	/* ws-origin: "https://host[:port]" */
	KEY_CIDR_LIST,	/* proxy-from */
	KEY_STRING,
	KEY_PATH,
	KEY_ADDR,
	KEY_UINT,
	KEY_LOG_LEVEL,
	KEY_ENUM,	/* an int field taking one of `names` */
};

struct config_key {
	const char *name;
	enum key_type type;
	size_t offset;		/* of the value in struct epsip_config */
	size_t count_offset;	/* lists: of the count */
	size_t capacity;	/* lists: max entries; strings: size */
	unsigned min, max;	/* KEY_UINT */
	const char *help;
	const char *const *names;	/* KEY_ENUM: value i is names[i] */
};

static const char *const record_route_names[] = { "always", "outbound",
    NULL };
static const char *const path_policy_names[] = { "lenient", "strict", NULL };
static const char *const registrar_sync_names[] = { "off", "normal", "full",
    NULL };
static const char *const udp_flow_sockets_names[] = { "auto", "connected",
    "shared", NULL };
static const char *const services_names[] = { "run", "watch", NULL };
static const char *const auth_names[] = { "protected", "digest", "none",
    NULL };
static const char *const auth_algorithms_names[] = { "sha-256-then-md5",
    "md5-then-sha-256", "md5", "sha-256", NULL };

#define OFF(f) offsetof(struct epsip_config, f)
#define SZ(f) sizeof(((struct epsip_config *)0)->f)

static const struct config_key config_keys[] = {
	{ "listen", KEY_ADDR_LIST, OFF(listen), OFF(listen_count),
	    CONFIG_MAX_LISTEN, 0, 0,
	    "ADDR:PORT for SIP over UDP and TCP (repeatable)", NULL },
	{ "listen-tls", KEY_ADDR_LIST, OFF(listen_tls), OFF(listen_tls_count),
	    CONFIG_MAX_LISTEN, 5061, 0,
	    "ADDR:PORT for SIP over TLS (repeatable; needs tls-cert)", NULL },
	{ "listen-ws", KEY_ADDR_LIST, OFF(listen_ws), OFF(listen_ws_count),
	    CONFIG_MAX_LISTEN, 80, 0,
	    "ADDR:PORT for SIP over WebSocket, RFC 7118 (repeatable)", NULL },
	{ "listen-wss", KEY_ADDR_LIST, OFF(listen_wss), OFF(listen_wss_count),
	    CONFIG_MAX_LISTEN, 443, 0,
	    "ADDR:PORT for SIP over secure WebSocket (repeatable; needs "
	    "tls-cert)", NULL },
	{ "tls-cert", KEY_PATH, OFF(tls_cert), 0, SZ(tls_cert), 0, 0,
	    "PEM certificate of the TLS and WSS listeners, the chain after "
	    "it (re-read on reload)", NULL },
	{ "tls-key", KEY_PATH, OFF(tls_key), 0, SZ(tls_key), 0, 0,
	    "PEM private key of tls-cert (default: tls-cert's file)", NULL },
	{ "tls-ca", KEY_PATH, OFF(tls_ca), 0, SZ(tls_ca), 0, 0,
	    "PEM CAs a client certificate is checked against (none: client "
	    "certificates are not asked for); the upstream's over TLS too",
	    NULL },
	{ "ws-origin", KEY_ORIGIN_LIST, OFF(ws_origin), OFF(ws_origin_count),
	    CONFIG_MAX_WS_ORIGINS, 0, 0,
	    "Origin allowed to open a WebSocket, as the browser sends it "
	    "(repeatable; none: any)", NULL },
	{ "ws-ping-interval", KEY_UINT, OFF(ws_ping_interval), 0, 0, 1, 3600,
	    "seconds a WebSocket flow may be silent before the edge sends it "
	    "a Ping", NULL },
	{ "ws-ping-timeout", KEY_UINT, OFF(ws_ping_timeout), 0, 0, 1, 600,
	    "seconds a WebSocket flow has to answer a Ping before it is "
	    "closed as dead (430 for requests to it)", NULL },
	{ "domain", KEY_NAME_LIST, OFF(domain), OFF(domain_count),
	    CONFIG_MAX_DOMAINS, 0, 0,
	    "domain served by the registrar (repeatable; none: any)", NULL },
	{ "alias", KEY_NAME_LIST, OFF(alias), OFF(alias_count),
	    CONFIG_MAX_ALIASES, 0, 0,
	    "another host name of this edge (repeatable)", NULL },
	{ "proxy-protocol", KEY_ADDR_LIST, OFF(proxy_protocol),
	    OFF(proxy_protocol_count), CONFIG_MAX_LISTEN, 0, 0,
	    "a listen ADDR:PORT whose TCP connections start with a PROXY "
	    "protocol v1 or v2 header (repeatable)", NULL },
	{ "proxy-from", KEY_CIDR_LIST, OFF(proxy_from), OFF(proxy_from_count),
	    CONFIG_MAX_PROXY_FROM, 0, 0,
	    "ADDR or ADDR/BITS of a load balancer allowed to send PROXY "
	    "headers (repeatable)", NULL },
	{ "advertise", KEY_STRING, OFF(advertise), 0, SZ(advertise), 0, 0,
	    "HOST[:PORT] put in Path/Record-Route/Via (default: flow address)", NULL },
	{ "run-dir", KEY_PATH, OFF(run_dir), 0, CONFIG_RUN_DIR_MAX, 0, 0,
	    "private directory for IPC sockets (mode 0700)", NULL },
	{ "state-dir", KEY_PATH, OFF(state_dir), 0, SZ(state_dir), 0, 0,
	    "directory for the token key and the registrar database", NULL },
	{ "key-file", KEY_PATH, OFF(key_file), 0, SZ(key_file), 0, 0,
	    "flow-token key (created 0600 if missing)", NULL },
	{ "previous-key-file", KEY_PATH, OFF(previous_key_file), 0,
	    SZ(previous_key_file), 0, 0,
	    "previous flow-token key, still accepted (rotation)", NULL },
	{ "registrar-db", KEY_PATH, OFF(registrar_db), 0, SZ(registrar_db),
	    0, 0, "SQLite file of the embedded registrar", NULL },
	{ "stats", KEY_ADDR, OFF(stats), 0, 0, 0, 0,
	    "ADDR:PORT of the HTTP stats endpoint", NULL },
	{ "libexec-dir", KEY_PATH, OFF(libexec_dir), 0, SZ(libexec_dir), 0, 0,
	    "directory of the service executables (default: epsipd's)", NULL },
	{ "log-level", KEY_LOG_LEVEL, OFF(log_level), 0, 0, 0, 0,
	    "debug, info, warn or error", NULL },
	{ "instance", KEY_UINT, OFF(instance), 0, 0, 1,
	    65536 - CONFIG_MAX_FLOW_MANAGERS,
	    "the edge's first instance number: flow-manager K carries "
	    "instance+K-1 in its tokens (edges sharing a key: 16 apart)",
	    NULL },
	{ "flow-managers", KEY_UINT, OFF(flow_managers), 0, 0, 1,
	    CONFIG_MAX_FLOW_MANAGERS, "flow-manager instances sharing the "
	    "listen addresses (SO_REUSEPORT); on reload more start and the "
	    "ones above drain", NULL },
	{ "drain-timeout", KEY_UINT, OFF(drain_timeout), 0, 0, 0, 86400,
	    "seconds a draining flow-manager keeps its flows before it "
	    "closes the rest (0: close at once)", NULL },
	{ "services", KEY_ENUM, OFF(services), 0, 0, 0, 0,
	    "run | watch: epsipd starts and restarts the services, or they "
	    "run beside it (a container each) and it serves their stats",
	    services_names },
	{ "udp-flow-sockets", KEY_ENUM, OFF(udp_flow_sockets), 0, 0, 0, 0,
	    "auto | connected | shared: a connected socket per UDP flow keeps "
	    "its datagrams on its flow-manager when instances join or leave "
	    "(auto: connected with more than one flow-manager or a kernel "
	    "with a 4-tuple UDP hash, 6.13+)", udp_flow_sockets_names },
	{ "flows-per-child", KEY_UINT, OFF(flows_per_child), 0, 0, 1, 18000,
	    "flows per flow-manager child (1: a process per flow)", NULL },
	{ "max-flows", KEY_UINT, OFF(max_flows), 0, 0, 1, 1000000,
	    "flows one flow-manager instance holds at most", NULL },
	{ "new-flow-rate", KEY_UINT, OFF(new_flow_rate), 0, 0, 0, 1000000,
	    "new flows per second an instance accepts (0: no limit)", NULL },
	{ "new-flow-burst", KEY_UINT, OFF(new_flow_burst), 0, 0, 1, 1000000,
	    "new flows accepted at once above new-flow-rate", NULL },
	{ "source-flow-rate", KEY_UINT, OFF(source_flow_rate), 0, 0, 0,
	    1000000, "new flows per second one source address may open, per "
	    "flow-manager (0: no limit; behind a load balancer without the "
	    "PROXY protocol every flow comes from it)", NULL },
	{ "source-flow-burst", KEY_UINT, OFF(source_flow_burst), 0, 0, 1,
	    1000000, "new flows one source address may open at once above "
	    "source-flow-rate (phones behind one NAT share an address)",
	    NULL },
	{ "source-request-rate", KEY_UINT, OFF(source_request_rate), 0, 0, 0,
	    1000000, "requests per second the sip-router takes from one source "
	    "address; more are dropped, counted (0: no limit)", NULL },
	{ "source-request-burst", KEY_UINT, OFF(source_request_burst), 0, 0,
	    1, 1000000, "requests one source address may send at once above "
	    "source-request-rate", NULL },
	{ "max-message-size", KEY_UINT, OFF(max_message_size), 0, 0, 1024,
	    65535, "largest SIP message accepted on a stream, bytes", NULL },
	{ "flow-timer", KEY_UINT, OFF(flow_timer), 0, 0, 1, 86400,
	    "Flow-Timer seconds advertised in REGISTER 2xx", NULL },
	{ "flow-grace", KEY_UINT, OFF(flow_grace), 0, 0, 0, 3600,
	    "seconds of silence tolerated beyond Flow-Timer", NULL },
	{ "message-timeout", KEY_UINT, OFF(message_timeout), 0, 0, 0, 3600,
	    "seconds a connection may hold part of a message (headers without "
	    "their end, a body short of its Content-Length, half a WebSocket "
	    "frame) before it is closed: slowloris (0: never)", NULL },
	{ "idle-timeout", KEY_UINT, OFF(idle_timeout), 0, 0, 1, 86400,
	    "idle seconds before a flow without Flow-Timer is closed", NULL },
	{ "idle-child-timeout", KEY_UINT, OFF(idle_child_timeout), 0, 0, 1,
	    86400, "seconds an empty pooled child is kept (one always is)",
	    NULL },
	{ "ipc-queue", KEY_UINT, OFF(ipc_queue), 0, 0, 2, 65536,
	    "batches each link towards the sip-router or the "
	    "registrar-bridge holds while that service is busy or restarting",
	    NULL },
	{ "ipc-backlog", KEY_UINT, OFF(ipc_backlog), 0, 0, 1, 4096,
	    "MiB a sender keeps per link for a peer that takes nothing "
	    "(stopped, restarting) before it drops, counted", NULL },
	{ "overload-delay", KEY_UINT, OFF(overload_delay), 0, 0, 0, 60000,
	    "ms a new request over UDP may wait in the edge's queues before "
	    "it is answered 503 with Retry-After instead (0: never)", NULL },
	{ "heap-release", KEY_UINT, OFF(heap_release), 0, 0, 0, 3600,
	    "seconds between handing the allocator's free pages back to the "
	    "kernel in each service (0: never)", NULL },
	{ "min-expires", KEY_UINT, OFF(min_expires), 0, 0, 1, 86400,
	    "registrar: shorter registrations get 423", NULL },
	{ "default-expires", KEY_UINT, OFF(default_expires), 0, 0, 1, 604800,
	    "registrar: expiry when the REGISTER names none", NULL },
	{ "max-expires", KEY_UINT, OFF(max_expires), 0, 0, 1, 604800,
	    "registrar: longer registrations are shortened", NULL },
	{ "registrar-sync", KEY_ENUM, OFF(registrar_sync), 0, 0, 0, 0,
	    "off | normal | full: when the registrar's file is synced to "
	    "disk (every level survives a crash of the bridge)",
	    registrar_sync_names },
	{ "auth", KEY_ENUM, OFF(auth), 0, 0, 0, 0,
	    "protected | digest | none: digest authentication of REGISTERs "
	    "and of INVITE, MESSAGE, SUBSCRIBE to the embedded registrar "
	    "(protected: required once a user exists; until then loopback "
	    "only, others get 403)", auth_names },
	{ "auth-nonce-lifetime", KEY_UINT, OFF(auth_nonce_lifetime), 0, 0, 1,
	    86400, "seconds a digest nonce is good for (then stale=true)",
	    NULL },
	{ "auth-algorithms", KEY_ENUM, OFF(auth_algorithms), 0, 0, 0, 0,
	    "sha-256-then-md5 | md5-then-sha-256 | md5 | sha-256: the digest "
	    "challenges offered, in order, and the algorithms accepted (MD5 "
	    "first for MD5-only phones that read the first challenge)",
	    auth_algorithms_names },
	{ "record-route", KEY_ENUM, OFF(record_route), 0, 0, 0, 0,
	    "always | outbound: when to Record-Route dialogs on a flow",
	    record_route_names },
	{ "path-policy", KEY_ENUM, OFF(path_policy), 0, 0, 0, 0,
	    "lenient | strict: Path without Supported: path",
	    path_policy_names },
	{ "upstream", KEY_STRING, OFF(upstream_uri), 0, SZ(upstream_uri), 0,
	    0, "sip:HOST:PORT;transport=udp|tcp|tls or sips:HOST:PORT of the "
	    "registrar to bridge to (default: embedded registrar)", NULL },
	{ "core-listen", KEY_ADDR, OFF(core_listen), 0, 0, 0, 0,
	    "ADDR:PORT (UDP and TCP) where the core sends requests "
	    "(upstream mode default: first listen host, port 5070; embedded "
	    "mode: unset, or where other edges reach this registrar)", NULL },
	{ "core-advertise", KEY_STRING, OFF(core_advertise), 0,
	    SZ(core_advertise), 0, 0, "HOST[:PORT] in core-facing Path/Record-"
	    "Route/Via (default: core-listen, or the address towards upstream)",
	    NULL },
	{ "upstream-connections", KEY_UINT, OFF(upstream_connections), 0, 0,
	    1, 64, "TCP connections kept to the upstream", NULL },
	{ "upstream-timeout", KEY_UINT, OFF(upstream_timeout), 0, 0, 1, 32,
	    "seconds without any answer from upstream before 503", NULL },
	{ "retry-after", KEY_UINT, OFF(retry_after), 0, 0, 0, 86400,
	    "Retry-After seconds in EPSIP's 503s (unreachable upstream, "
	    "overload)", NULL },
};

#define NKEYS (sizeof(config_keys) / sizeof(config_keys[0]))

static const struct config_key *
config_find_key(const char *name)
{
	for (size_t i = 0; i < NKEYS; i++) {
		if (strcmp(config_keys[i].name, name) == 0) {
			return (&config_keys[i]);
		}
	}
	return (NULL);
}

void
config_defaults(struct epsip_config *cfg)
{
	const char *home = getenv("HOME");

	memset(cfg, 0, sizeof(*cfg));
	config_parse_addr("0.0.0.0:5060", 5060, &cfg->listen[0]);
	cfg->listen_count = 1;
	config_parse_addr("127.0.0.1:8060", 8060, &cfg->stats);
	if (geteuid() == 0) {
		snprintf(cfg->run_dir, sizeof(cfg->run_dir), "/run/epsip");
		snprintf(cfg->state_dir, sizeof(cfg->state_dir),
		    "/var/lib/epsip");
	} else {
		snprintf(cfg->run_dir, sizeof(cfg->run_dir), "/tmp/epsip-%u",
		    (unsigned)geteuid());
		snprintf(cfg->state_dir, sizeof(cfg->state_dir),
		    "%s/.local/state/epsip", home ? home : "/tmp");
	}
	cfg->log_level = LOG_LEVEL_INFO;
	cfg->instance = 1;
	cfg->flow_managers = 1;
	cfg->drain_timeout = 600;
	cfg->udp_flow_sockets = UDP_FLOW_SOCKETS_AUTO;
	cfg->flows_per_child = 4096;
	cfg->max_flows = 100000;
	cfg->new_flow_rate = 0;
	cfg->new_flow_burst = 1000;
	cfg->max_message_size = 65535;
	cfg->flow_timer = 120;
	cfg->ws_ping_interval = 30;
	cfg->ws_ping_timeout = 10;
	cfg->flow_grace = 10;
	cfg->idle_timeout = 900;
	cfg->message_timeout = 10;
	cfg->source_flow_rate = 50;
	cfg->source_flow_burst = 200;
	cfg->source_request_rate = 200;
	cfg->source_request_burst = 1000;
	cfg->idle_child_timeout = 60;
	cfg->ipc_queue = 256;
	cfg->ipc_backlog = 64;
	cfg->overload_delay = 200;
	cfg->heap_release = 10;
	cfg->min_expires = 60;
	cfg->default_expires = 3600;
	cfg->max_expires = 7200;
	cfg->record_route = RECORD_ROUTE_ALWAYS;
	cfg->path_policy = PATH_LENIENT;
	cfg->registrar_sync = REGISTRAR_SYNC_OFF;
	cfg->auth = AUTH_PROTECTED;
	cfg->auth_nonce_lifetime = 300;
	cfg->auth_algorithms = AUTH_ALGS_SHA256_MD5;
	cfg->upstream_connections = 4;
	cfg->upstream_timeout = 5;
	cfg->retry_after = 30;
}

int
config_parse_addr(const char *text, uint16_t default_port,
    struct epsip_addr *addr)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *port = NULL, *end;
	unsigned long p = default_port;
	size_t hlen;
	char *ep;

	memset(addr, 0, sizeof(*addr));
	if (text[0] == '[') {
		if ((end = strchr(text, ']')) == NULL) {
			return (-1);
		}
		hlen = (size_t)(end - text - 1);
		if (hlen >= sizeof(host)) {
			return (-1);
		}
		memcpy(host, text + 1, hlen);
		host[hlen] = '\0';
		if (end[1] == ':') {
			port = end + 2;
		} else if (end[1] != '\0') {
			return (-1);
		}
	} else {
		end = strrchr(text, ':');
		hlen = end ? (size_t)(end - text) : strlen(text);
		if (hlen >= sizeof(host) || (end && strchr(text, ':') != end)) {
			return (-1);
		}
		memcpy(host, text, hlen);
		host[hlen] = '\0';
		port = end ? end + 1 : NULL;
	}
	if (port != NULL) {
		errno = 0;
		p = strtoul(port, &ep, 10);
		if (*port == '\0' || *ep != '\0' || errno || p == 0 ||
		    p > 65535) {
			return (-1);
		}
	}
	addr->port = (uint16_t)p;
	return (epsip_addr_set_ip(addr, host));
}

/* How many bits an address of `family` has. */
static unsigned
family_bits(uint8_t family)
{
	return (family == AF_INET ? 32 : 128);
}

int
config_parse_cidr(const char *text, struct epsip_cidr *cidr)
{
	char host[INET6_ADDRSTRLEN];
	const char *slash = strchr(text, '/');
	size_t hlen = slash ? (size_t)(slash - text) : strlen(text);
	unsigned long bits;
	char *ep;

	memset(cidr, 0, sizeof(*cidr));
	if (hlen == 0 || hlen >= sizeof(host)) {
		return (-1);
	}
	memcpy(host, text, hlen);
	host[hlen] = '\0';
	if (epsip_addr_set_ip(&cidr->net, host) == -1) {
		return (-1);
	}
	bits = family_bits(cidr->net.family);
	if (slash != NULL) {
		errno = 0;
		bits = strtoul(slash + 1, &ep, 10);
		if (!isdigit((unsigned char)slash[1]) || *ep != '\0' || errno ||
		    bits > family_bits(cidr->net.family)) {
			return (-1);
		}
	}
	cidr->bits = (uint8_t)bits;
	/* "192.0.2.1/24" is a typo for a host or for a network: say so. */
	for (unsigned i = (unsigned)bits; i < family_bits(cidr->net.family);
	    i++) {
		if (cidr->net.ip[i / 8] & (0x80 >> (i % 8))) {
			return (-1);
		}
	}
	return (0);
}

static void
config_format_cidr(const struct epsip_cidr *cidr, char *buf, size_t cap)
{
	char ip[INET6_ADDRSTRLEN];

	if (inet_ntop(cidr->net.family, cidr->net.ip, ip, sizeof(ip)) ==
	    NULL) {
		ip[0] = '\0';
	}
	snprintf(buf, cap, "%s/%u", ip, (unsigned)cidr->bits);
}

int
config_cidr_contains(const struct epsip_cidr *cidr,
    const struct epsip_addr *addr)
{
	unsigned full = cidr->bits / 8, rest = cidr->bits % 8;
	uint8_t mask;

	if (addr->family != cidr->net.family ||
	    memcmp(addr->ip, cidr->net.ip, full) != 0) {
		return (0);
	}
	if (rest == 0) {
		return (1);
	}
	mask = (uint8_t)(0xff << (8 - rest));
	return ((addr->ip[full] & mask) == cidr->net.ip[full]);
}

int
config_proxy_protocol_on(const struct epsip_config *cfg,
    const struct epsip_addr *listen)
{
	for (size_t i = 0; i < cfg->proxy_protocol_count; i++) {
		if (epsip_addr_equal(&cfg->proxy_protocol[i], listen)) {
			return (1);
		}
	}
	return (0);
}

int
config_proxy_trusted(const struct epsip_config *cfg,
    const struct epsip_addr *peer)
{
	for (size_t i = 0; i < cfg->proxy_from_count; i++) {
		if (config_cidr_contains(&cfg->proxy_from[i], peer)) {
			return (1);
		}
	}
	return (0);
}

static int
config_set_uint(const struct config_key *k, unsigned *dst, const char *value,
    char *err, size_t errcap)
{
	unsigned long v;
	char *ep;

	errno = 0;
	v = strtoul(value, &ep, 10);
	if (*value == '\0' || *ep != '\0' || errno || value[0] == '-' ||
	    v < k->min || v > k->max) {
		snprintf(err, errcap, "%s: \"%s\" is not a number from %u to %u",
		    k->name, value, k->min, k->max);
		return (-1);
	}
	*dst = (unsigned)v;
	return (0);
}

/* The enums behind KEY_ENUM fields are ints counting from 0. */
static int
config_set_enum(const struct config_key *k, int *dst, const char *value,
    char *err, size_t errcap)
{
	for (int i = 0; k->names[i] != NULL; i++) {
		if (strcmp(value, k->names[i]) == 0) {
			*dst = i;
			return (0);
		}
	}
	int n = snprintf(err, errcap, "%s: \"%s\" is not one of", k->name,
	    value);

	for (int i = 0; k->names[i] != NULL && n > 0 && (size_t)n < errcap;
	    i++) {
		n += snprintf(err + n, errcap - (size_t)n, " %s", k->names[i]);
	}
	return (-1);
}

static int
config_valid_name(const char *value)
{
	if (*value == '\0') {
		return (0);
	}
	for (const char *p = value; *p; p++) {
		if (!isalnum((unsigned char)*p) && !strchr(".-_:[]", *p)) {
			return (0);
		}
	}
	return (1);
}

/* An Origin as browsers send it (RFC 6454 §6.1): scheme://host[:port]. */
static int
config_valid_origin(const char *value)
{
	if (strncmp(value, "https://", 8) == 0) {
		return (config_valid_name(value + 8));
	}
	return (strncmp(value, "http://", 7) == 0 &&
	    config_valid_name(value + 7));
}

int
config_set(struct epsip_config *cfg, const char *key, const char *value,
    char *err, size_t errcap)
{
	const struct config_key *k = config_find_key(key);
	char *base = (char *)cfg;
	size_t *count;

	if (k == NULL) {
		snprintf(err, errcap, "%s: unknown key", key);
		return (-1);
	}
	switch (k->type) {
	case KEY_ADDR_LIST:
	case KEY_NAME_LIST:
	case KEY_ORIGIN_LIST:
	case KEY_CIDR_LIST:
		count = (size_t *)(base + k->count_offset);
		if (*count >= k->capacity) {
			snprintf(err, errcap, "%s: at most %zu values", key,
			    k->capacity);
			return (-1);
		}
		if (k->type == KEY_ADDR_LIST) {
			struct epsip_addr *list = (void *)(base + k->offset);

			/* min: the port when none is given (0: 5060). */
			if (config_parse_addr(value, k->min != 0 ?
			    (uint16_t)k->min : 5060, &list[*count])) {
				snprintf(err, errcap, "%s: \"%s\" is not "
				    "ADDR:PORT", key, value);
				return (-1);
			}
		} else if (k->type == KEY_CIDR_LIST) {
			struct epsip_cidr *list = (void *)(base + k->offset);

			if (config_parse_cidr(value, &list[*count]) == -1) {
				snprintf(err, errcap, "%s: \"%s\" is not ADDR "
				    "or ADDR/BITS with the host bits zero", key,
				    value);
				return (-1);
			}
		} else {
			char (*list)[CONFIG_NAME_MAX] = (void *)(base +
			    k->offset);

			if (k->type == KEY_ORIGIN_LIST &&
			    !config_valid_origin(value)) {
				snprintf(err, errcap, "%s: \"%s\" is not an "
				    "origin, http[s]://HOST[:PORT]", key, value);
				return (-1);
			}
			if ((k->type == KEY_NAME_LIST &&
			    !config_valid_name(value)) ||
			    strlen(value) >= CONFIG_NAME_MAX) {
				snprintf(err, errcap, "%s: \"%s\" is not a "
				    "host name", key, value);
				return (-1);
			}
			snprintf(list[*count], CONFIG_NAME_MAX, "%s", value);
		}
		(*count)++;
		return (0);
	case KEY_STRING:
	case KEY_PATH:
		if (strlen(value) >= k->capacity ||
		    (k->type == KEY_PATH && value[0] != '/' && value[0])) {
			snprintf(err, errcap, "%s: \"%s\" must be %s shorter "
			    "than %zu bytes", key, value,
			    k->type == KEY_PATH ? "an absolute path" :
			    "a string", k->capacity);
			return (-1);
		}
		snprintf(base + k->offset, k->capacity, "%s", value);
		return (0);
	case KEY_ADDR:
		if (config_parse_addr(value, 8060,
		    (struct epsip_addr *)(base + k->offset))) {
			snprintf(err, errcap, "%s: \"%s\" is not ADDR:PORT",
			    key, value);
			return (-1);
		}
		return (0);
	case KEY_UINT:
		return (config_set_uint(k, (unsigned *)(base + k->offset),
		    value, err, errcap));
	case KEY_LOG_LEVEL:
		if (log_level_parse(value, &cfg->log_level) == -1) {
			snprintf(err, errcap, "%s: \"%s\" is not debug, info, "
			    "warn or error", key, value);
			return (-1);
		}
		return (0);
	case KEY_ENUM:
		return (config_set_enum(k, (int *)(base + k->offset), value,
		    err, errcap));
	}
	snprintf(err, errcap, "%s: unknown key type", key);
	return (-1);
}

/*
 * Lists given explicitly replace the list the sources before set instead
 * of adding to it: one flag per key, for the source being applied.
 */
struct config_seen {
	unsigned char key[NKEYS];
};

static int
config_key_is_list(const struct config_key *k)
{
	return (k->type == KEY_ADDR_LIST || k->type == KEY_NAME_LIST ||
	    k->type == KEY_ORIGIN_LIST || k->type == KEY_CIDR_LIST);
}

static int
config_apply(struct epsip_config *cfg, struct config_seen *seen,
    const char *key, const char *value, char *err, size_t errcap)
{
	const struct config_key *k = config_find_key(key);

	if (k != NULL && config_key_is_list(k) &&
	    !seen->key[k - config_keys]++) {
		*(size_t *)(void *)((char *)cfg + k->count_offset) = 0;
	}
	return (config_set(cfg, key, value, err, errcap));
}

static char *
trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s)) {
		s++;
	}
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1])) {
		*--e = '\0';
	}
	return (s);
}

/*
 * One line of a file, cut in place: 1 and *key, *value; 0 for a blank or
 * comment line; -1 when it has no '=' (*key: the line, for the error).
 */
static int
config_split_line(char *line, char **key, char **value)
{
	char *s, *eq, *hash;

	if ((hash = strchr(line, '#')) != NULL) {
		*hash = '\0';
	}
	s = trim(line);
	if (*s == '\0') {
		return (0);
	}
	*key = s;
	if ((eq = strchr(s, '=')) == NULL) {
		return (-1);
	}
	*eq = '\0';
	*key = trim(s);
	*value = trim(eq + 1);
	return (1);
}

static int
config_load(struct epsip_config *cfg, struct config_seen *seen,
    const char *path, char *err, size_t errcap)
{
	char line[1024], inner[512], *key, *value;
	unsigned lineno = 0;
	FILE *f;
	int kind;

	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errcap, "config: %s: %s", path, strerror(errno));
		return (-1);
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		if ((kind = config_split_line(line, &key, &value)) == 0) {
			continue;
		}
		if (kind == -1) {
			snprintf(err, errcap, "%s:%u: %s: expected key = value",
			    path, lineno, key);
			fclose(f);
			return (-1);
		}
		if (config_apply(cfg, seen, key, value, inner,
		    sizeof(inner)) == -1) {
			snprintf(err, errcap, "%s:%u: %s", path, lineno, inner);
			fclose(f);
			return (-1);
		}
	}
	fclose(f);
	return (0);
}

int
config_load_file(struct epsip_config *cfg, const char *path, char *err,
    size_t errcap)
{
	struct config_seen seen = { 0 };

	return (config_load(cfg, &seen, path, err, errcap));
}

int
config_file_value(const char *path, const char *name, char *value,
    size_t cap)
{
	char line[1024], *key, *val;
	int found = 0;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL) {
		return (-1);
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		if (config_split_line(line, &key, &val) == 1 &&
		    strcmp(key, name) == 0) {
			snprintf(value, cap, "%s", val);
			found = 1;
		}
	}
	fclose(f);
	return (found);
}

/* EPSIP_FLOW_TIMER for "flow-timer". */
static void
config_env_name(const char *key, char *buf, size_t cap)
{
	size_t n = (size_t)snprintf(buf, cap, "EPSIP_");

	for (const char *k = key; *k != '\0' && n + 1 < cap; k++) {
		buf[n++] = *k == '-' ? '_' : (char)toupper((unsigned char)*k);
	}
	buf[n] = '\0';
}

/*
 * Every key can come from the environment, as containers and systemd's
 * EnvironmentFile= expect.  A list key takes its values separated by
 * commas or blanks: EPSIP_LISTEN="192.0.2.1:5060, [2001:db8::1]:5060".
 */
static int
config_load_env(struct epsip_config *cfg, char *err, size_t errcap)
{
	struct config_seen seen = { 0 };
	char name[64], inner[384], *copy, *tok, *save;
	const char *value;

	for (size_t i = 0; i < NKEYS; i++) {
		const struct config_key *k = &config_keys[i];
		int list = config_key_is_list(k);

		config_env_name(k->name, name, sizeof(name));
		if ((value = getenv(name)) == NULL) {
			continue;
		}
		if (!list) {
			if (config_apply(cfg, &seen, k->name, value, inner,
			    sizeof(inner)) == -1) {
				snprintf(err, errcap, "%s: %s", name, inner);
				return (-1);
			}
			continue;
		}
		if ((copy = strdup(value)) == NULL) {
			snprintf(err, errcap, "%s: out of memory", name);
			return (-1);
		}
		for (tok = strtok_r(copy, ", \t", &save); tok != NULL;
		    tok = strtok_r(NULL, ", \t", &save)) {
			if (config_apply(cfg, &seen, k->name, tok, inner,
			    sizeof(inner)) == -1) {
				snprintf(err, errcap, "%s: %s", name, inner);
				free(copy);
				return (-1);
			}
		}
		free(copy);
	}
	return (0);
}

int
config_parse_args(struct epsip_config *cfg, int argc, char **argv,
    config_extra_option extra, void *extra_arg, int *want_help,
    int *check_only, char *err, size_t errcap)
{
	struct config_seen seen = { 0 };
	struct config_seen flag_seen = { 0 };

	const char *env_config = getenv("EPSIP_CONFIG");
	int have_config = 0;

	*want_help = *check_only = 0;
	/*
	 * Sources in order, each overriding the one before: the file
	 * (wherever --config stands, else $EPSIP_CONFIG), the environment
	 * (EPSIP_<KEY>), then the flags.
	 */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			have_config = 1;
			if (config_load(cfg, &seen, argv[i + 1], err, errcap)) {
				return (-1);
			}
		} else if (strncmp(argv[i], "--config=", 9) == 0) {
			have_config = 1;
			if (config_load(cfg, &seen, argv[i] + 9, err, errcap)) {
				return (-1);
			}
		}
	}
	if (!have_config && env_config != NULL && env_config[0] != '\0' &&
	    config_load(cfg, &seen, env_config, err, errcap) == -1) {
		return (-1);
	}
	if (config_load_env(cfg, err, errcap) == -1) {
		return (-1);
	}
	for (int i = 1; i < argc; i++) {
		char name[64];
		const char *arg = argv[i], *value, *eq;
		int used;

		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			*want_help = 1;
			continue;
		}
		if (strcmp(arg, "-n") == 0) {
			*check_only = 1;
			continue;
		}
		if (strncmp(arg, "--", 2) != 0) {
			snprintf(err, errcap, "%s: unexpected argument", arg);
			return (-1);
		}
		arg += 2;
		if ((eq = strchr(arg, '=')) != NULL) {
			snprintf(name, sizeof(name), "%.*s", (int)(eq - arg),
			    arg);
			value = eq + 1;
			used = 0;
		} else {
			snprintf(name, sizeof(name), "%s", arg);
			value = i + 1 < argc ? argv[i + 1] : NULL;
			used = 1;
		}
		if (strcmp(name, "config") == 0) {
			i += used;
			continue;
		}
		if (config_find_key(name) == NULL) {
			int n = extra ? extra(name, value, extra_arg) : -1;

			if (n < 0) {
				snprintf(err, errcap, "--%s: unknown option",
				    name);
				return (-1);
			}
			i += eq ? 0 : n;
			continue;
		}
		if (value == NULL) {
			snprintf(err, errcap, "--%s: needs a value", name);
			return (-1);
		}
		if (config_apply(cfg, &flag_seen, name, value, err, errcap)) {
			return (-1);
		}
		i += used;
	}
	return (0);
}

static int
config_join(char dst[CONFIG_PATH_MAX], const char *dir, const char *file,
    const char *key, char *err, size_t errcap)
{
	int n = snprintf(dst, CONFIG_PATH_MAX, "%s/%s", dir, file);

	if (n < 0 || n >= CONFIG_PATH_MAX) {
		snprintf(err, errcap, "%s: state-dir is too long", key);
		return (-1);
	}
	return (0);
}

/*
 * sip:HOST[:PORT][;transport=udp|tcp|tls] or sips:HOST[:PORT]: TLS for
 * sips: (RFC 3261 §19.1: TLS over TCP whatever transport= says, so
 * transport=udp is refused rather than ignored) and for transport=tls
 * (RFC 3261's way before sips: took over, which Kamailio and others still
 * write).  The port defaults to 5061 over TLS, 5060 otherwise.
 */
int
config_parse_upstream(const char *text, struct epsip_upstream *up,
    char *err, size_t errcap)
{
	char hostport[CONFIG_NAME_MAX], host[CONFIG_NAME_MAX];
	const char *params, *p, *close, *colon = NULL;
	unsigned long port = 0;
	size_t hlen;
	char *ep;
	int sips = 0;

	memset(up, 0, sizeof(*up));
	up->transport = EPSIP_TRANSPORT_UDP;
	if (strncasecmp(text, "sips:", 5) == 0) {
		sips = 1;
		up->transport = EPSIP_TRANSPORT_TLS;
		text += 5;
	} else if (strncasecmp(text, "sip:", 4) == 0) {
		text += 4;
	} else {
		snprintf(err, errcap, "upstream: \"%s\" is not a sip: or "
		    "sips: URI", text);
		return (-1);
	}
	params = strchr(text, ';');
	hlen = params ? (size_t)(params - text) : strlen(text);
	if (hlen == 0 || hlen >= sizeof(hostport) || memchr(text, '@', hlen)) {
		snprintf(err, errcap, "upstream: needs HOST[:PORT] and no user "
		    "part");
		return (-1);
	}
	memcpy(hostport, text, hlen);
	hostport[hlen] = '\0';
	if (hostport[0] == '[') {
		if ((close = strchr(hostport, ']')) == NULL ||
		    (close[1] != '\0' && close[1] != ':')) {
			snprintf(err, errcap, "upstream: bad IPv6 reference");
			return (-1);
		}
		snprintf(host, sizeof(host), "%.*s",
		    (int)(close - hostport - 1), hostport + 1);
		colon = close[1] == ':' ? close + 1 : NULL;
	} else {
		colon = strchr(hostport, ':');
		snprintf(host, sizeof(host), "%.*s", colon ?
		    (int)(colon - hostport) : (int)hlen, hostport);
	}
	if (colon != NULL) {
		errno = 0;
		port = strtoul(colon + 1, &ep, 10);
		if (colon[1] == '\0' || *ep != '\0' || errno || port == 0 ||
		    port > 65535) {
			snprintf(err, errcap, "upstream: bad port in \"%s\"",
			    hostport);
			return (-1);
		}
	}
	if (!config_valid_name(host) || strchr(host, '[') != NULL) {
		snprintf(err, errcap, "upstream: \"%s\" is not a host", host);
		return (-1);
	}
	for (p = params; p != NULL && *p == ';'; p = strchr(p + 1, ';')) {
		if (strncasecmp(p, ";transport=udp", 14) == 0 &&
		    (p[14] == '\0' || p[14] == ';')) {
			if (sips) {
				snprintf(err, errcap, "upstream: sips: is TLS "
				    "over TCP, not transport=udp");
				return (-1);
			}
			up->transport = EPSIP_TRANSPORT_UDP;
		} else if (strncasecmp(p, ";transport=tcp", 14) == 0 &&
		    (p[14] == '\0' || p[14] == ';')) {
			up->transport = sips ? EPSIP_TRANSPORT_TLS :
			    EPSIP_TRANSPORT_TCP;
		} else if (strncasecmp(p, ";transport=tls", 14) == 0 &&
		    (p[14] == '\0' || p[14] == ';')) {
			up->transport = EPSIP_TRANSPORT_TLS;
		} else if (strncasecmp(p, ";lr", 3) == 0 &&
		    (p[3] == '\0' || p[3] == ';')) {
			continue;	/* a Route-style URI is fine */
		} else {
			snprintf(err, errcap, "upstream: unsupported parameter "
			    "\"%s\" (only transport=udp|tcp|tls)", p + 1);
			return (-1);
		}
	}
	if (port == 0) {
		port = up->transport == EPSIP_TRANSPORT_TLS ? 5061 : 5060;
	}
	snprintf(up->host, sizeof(up->host), "%s", host);
	up->port = (uint16_t)port;
	return (0);
}

const struct epsip_addr *
config_listeners(const struct epsip_config *cfg, uint8_t transport,
    size_t *count)
{
	switch (transport) {
	case EPSIP_TRANSPORT_TLS:
		*count = cfg->listen_tls_count;
		return (cfg->listen_tls);
	case EPSIP_TRANSPORT_WS:
		*count = cfg->listen_ws_count;
		return (cfg->listen_ws);
	case EPSIP_TRANSPORT_WSS:
		*count = cfg->listen_wss_count;
		return (cfg->listen_wss);
	default:
		*count = cfg->listen_count;
		return (cfg->listen);
	}
}

const char *
config_listen_key(uint8_t transport)
{
	switch (transport) {
	case EPSIP_TRANSPORT_TLS:
		return ("listen-tls");
	case EPSIP_TRANSPORT_WS:
		return ("listen-ws");
	case EPSIP_TRANSPORT_WSS:
		return ("listen-wss");
	default:
		return ("listen");
	}
}

/* Two bound addresses that would fight over one port. */
static int
addr_clash(const struct epsip_addr *a, const struct epsip_addr *b)
{
	if (a->port != b->port || a->family != b->family) {
		return (0);
	}
	return (epsip_addr_is_any(a) || epsip_addr_is_any(b) ||
	    memcmp(a->ip, b->ip, 16) == 0);
}

/*
 * The core side sends to the upstream from core-listen's socket, so an
 * IP-literal upstream must be of its family; only a wildcard IPv6
 * core-listen (dual stack) reaches both.  Names are checked when resolved.
 */
static int
config_core_reaches_upstream(const struct epsip_config *cfg)
{
	struct epsip_addr up;
	char literal[CONFIG_NAME_MAX + 4];

	snprintf(literal, sizeof(literal), strchr(cfg->upstream.host, ':') ?
	    "[%s]" : "%s", cfg->upstream.host);
	if (config_parse_addr(literal, 5060, &up) == -1) {
		return (1);			/* a name */
	}
	return (up.family == cfg->core_listen.family ||
	    (cfg->core_listen.family == AF_INET6 &&
	    epsip_addr_is_any(&cfg->core_listen)));
}

/*
 * The core side: parse `upstream`, default `core-listen` to the first
 * phone-facing host on port 5070, and keep it off the phone-facing ports.
 */
static int
config_finish_core(struct epsip_config *cfg, char *err, size_t errcap)
{
	char buf[64];

	memset(&cfg->upstream, 0, sizeof(cfg->upstream));
	if (cfg->upstream_uri[0] != '\0' && config_parse_upstream(
	    cfg->upstream_uri, &cfg->upstream, err, errcap) == -1) {
		return (-1);
	}
	if (config_has_upstream(cfg) && cfg->core_listen.family == 0) {
		cfg->core_listen = cfg->listen[0];
		cfg->core_listen.port = 5070;
	}
	if (cfg->core_listen.family == 0) {
		return (0);
	}
	if (config_has_upstream(cfg) && !config_core_reaches_upstream(cfg)) {
		snprintf(err, errcap, "core-listen: an %s address cannot reach "
		    "the %s upstream %s", cfg->core_listen.family == AF_INET ?
		    "IPv4" : "IPv6", cfg->core_listen.family == AF_INET ?
		    "IPv6" : "IPv4", cfg->upstream.host);
		return (-1);
	}
	for (uint8_t t = EPSIP_TRANSPORT_TCP; t <= EPSIP_TRANSPORT_MAX; t++) {
		size_t n;
		const struct epsip_addr *l = config_listeners(cfg, t, &n);

		for (size_t i = 0; i < n; i++) {
			if (addr_clash(&cfg->core_listen, &l[i])) {
				epsip_addr_format(&l[i], buf, sizeof(buf));
				snprintf(err, errcap, "core-listen: clashes with "
				    "%s %s (the core side needs its own port)",
				    config_listen_key(t), buf);
				return (-1);
			}
		}
	}
	return (0);
}

/*
 * The TCP ports of the phone-facing listeners, every kind, must differ
 * (one TCP port speaks one transport), and TLS and WSS need a
 * certificate: without one they refuse to start, in one line.
 */
static int
config_finish_transports(struct epsip_config *cfg, char *err, size_t errcap)
{
	char buf[64];

	if ((cfg->listen_tls_count > 0 || cfg->listen_wss_count > 0) &&
	    cfg->tls_cert[0] == '\0') {
		snprintf(err, errcap, "%s: needs tls-cert, a PEM certificate "
		    "(and tls-key, its private key)", cfg->listen_tls_count > 0 ?
		    "listen-tls" : "listen-wss");
		return (-1);
	}
	if (cfg->tls_key[0] == '\0') {
		memcpy(cfg->tls_key, cfg->tls_cert, sizeof(cfg->tls_key));
	}
	for (uint8_t t = EPSIP_TRANSPORT_TCP; t <= EPSIP_TRANSPORT_MAX; t++) {
		size_t n;
		const struct epsip_addr *a = config_listeners(cfg, t, &n);

		for (size_t i = 0; i < n; i++) {
			for (uint8_t u = t; u <= EPSIP_TRANSPORT_MAX; u++) {
				size_t m;
				const struct epsip_addr *b =
				    config_listeners(cfg, u, &m);

				for (size_t j = u == t ? i + 1 : 0; j < m;
				    j++) {
					if (!addr_clash(&a[i], &b[j])) {
						continue;
					}
					epsip_addr_format(&b[j], buf,
					    sizeof(buf));
					snprintf(err, errcap, "%s: %s clashes "
					    "with a %s address (one TCP port "
					    "speaks one transport)",
					    config_listen_key(u), buf,
					    config_listen_key(t));
					return (-1);
				}
			}
		}
	}
	return (0);
}

/*
 * proxy-protocol names listen addresses exactly, and is useless without
 * proxy-from: every connection would be refused.
 */
static int
config_finish_proxy(const struct epsip_config *cfg, char *err, size_t errcap)
{
	char buf[64];

	for (size_t i = 0; i < cfg->proxy_protocol_count; i++) {
		size_t j;

		for (j = 0; j < cfg->listen_count; j++) {
			if (epsip_addr_equal(&cfg->proxy_protocol[i],
			    &cfg->listen[j])) {
				break;
			}
		}
		if (j == cfg->listen_count) {
			epsip_addr_format(&cfg->proxy_protocol[i], buf,
			    sizeof(buf));
			snprintf(err, errcap, "proxy-protocol: %s is not a "
			    "listen address", buf);
			return (-1);
		}
	}
	if (cfg->proxy_protocol_count > 0 && cfg->proxy_from_count == 0) {
		snprintf(err, errcap, "proxy-protocol: needs proxy-from, the "
		    "load balancers' addresses (a PROXY header from anyone "
		    "else is never honoured)");
		return (-1);
	}
	return (0);
}

int
config_owns_instance(const struct epsip_config *cfg, unsigned instance)
{
	return (instance >= cfg->instance &&
	    instance - cfg->instance < CONFIG_MAX_FLOW_MANAGERS);
}

unsigned
config_flow_manager_instance(const struct epsip_config *cfg)
{
	return (cfg->instance + (cfg->flow_manager > 0 ?
	    cfg->flow_manager - 1 : 0));
}

int
config_finish(struct epsip_config *cfg, char *err, size_t errcap)
{
	if (cfg->key_file[0] == '\0' && config_join(cfg->key_file,
	    cfg->state_dir, "flow-token.key", "key-file", err, errcap)) {
		return (-1);
	}
	if (cfg->registrar_db[0] == '\0' && config_join(cfg->registrar_db,
	    cfg->state_dir, "registrar.sqlite", "registrar-db", err, errcap)) {
		return (-1);
	}
	if (cfg->listen_count == 0) {
		snprintf(err, errcap, "listen: at least one address needed");
		return (-1);
	}
	if (cfg->min_expires > cfg->max_expires) {
		snprintf(err, errcap, "min-expires: larger than max-expires");
		return (-1);
	}
	if (cfg->default_expires < cfg->min_expires ||
	    cfg->default_expires > cfg->max_expires) {
		snprintf(err, errcap, "default-expires: outside min-expires.."
		    "max-expires");
		return (-1);
	}
	if (strlen(cfg->run_dir) > CONFIG_RUN_DIR_MAX) {
		snprintf(err, errcap, "run-dir: longer than %d bytes (IPC "
		    "socket paths must fit sun_path)", CONFIG_RUN_DIR_MAX);
		return (-1);
	}
	if (config_finish_proxy(cfg, err, errcap) == -1 ||
	    config_finish_transports(cfg, err, errcap) == -1) {
		return (-1);
	}
	return (config_finish_core(cfg, err, errcap));
}

static void
config_write_key(const struct epsip_config *cfg, const struct config_key *k,
    FILE *out)
{
	const char *base = (const char *)cfg;
	char buf[128];

	switch (k->type) {
	case KEY_ADDR_LIST: {
		const struct epsip_addr *list = (const void *)(base +
		    k->offset);
		size_t n = *(const size_t *)(base + k->count_offset);

		for (size_t i = 0; i < n; i++) {
			epsip_addr_format(&list[i], buf, sizeof(buf));
			fprintf(out, "%s = %s\n", k->name, buf);
		}
		break;
	}
	case KEY_NAME_LIST:
	case KEY_ORIGIN_LIST: {
		const char (*list)[CONFIG_NAME_MAX] = (const void *)(base +
		    k->offset);
		size_t n = *(const size_t *)(base + k->count_offset);

		for (size_t i = 0; i < n; i++) {
			fprintf(out, "%s = %s\n", k->name, list[i]);
		}
		break;
	}
	case KEY_CIDR_LIST: {
		const struct epsip_cidr *list = (const void *)(base +
		    k->offset);
		size_t n = *(const size_t *)(base + k->count_offset);

		for (size_t i = 0; i < n; i++) {
			config_format_cidr(&list[i], buf, sizeof(buf));
			fprintf(out, "%s = %s\n", k->name, buf);
		}
		break;
	}
	case KEY_STRING:
	case KEY_PATH:
		if (base[k->offset] != '\0') {
			fprintf(out, "%s = %s\n", k->name, base + k->offset);
		}
		break;
	case KEY_ADDR:
		if (((const struct epsip_addr *)(base + k->offset))->family ==
		    0) {
			break;		/* unset (core-listen in embedded mode) */
		}
		epsip_addr_format((const void *)(base + k->offset), buf,
		    sizeof(buf));
		fprintf(out, "%s = %s\n", k->name, buf);
		break;
	case KEY_UINT:
		fprintf(out, "%s = %u\n", k->name,
		    *(const unsigned *)(base + k->offset));
		break;
	case KEY_LOG_LEVEL: {
		static const char *const names[] = { "debug", "info", "warn",
		    "error" };

		fprintf(out, "%s = %s\n", k->name, names[cfg->log_level]);
		break;
	}
	case KEY_ENUM:
		fprintf(out, "%s = %s\n", k->name,
		    k->names[*(const int *)(base + k->offset)]);
		break;
	}
}

int
config_write(const struct epsip_config *cfg, FILE *out)
{
	fprintf(out, "# effective EPSIP configuration, written by epsipd\n");
	for (size_t i = 0; i < NKEYS; i++) {
		config_write_key(cfg, &config_keys[i], out);
	}
	return (ferror(out) ? -1 : 0);
}

/* What config_write() writes for one key (malloc'ed, "" when unset). */
static char *
config_key_text(const struct epsip_config *cfg, const struct config_key *k)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	if ((f = open_memstream(&text, &len)) == NULL) {
		return (NULL);
	}
	config_write_key(cfg, k, f);
	if (fclose(f) != 0) {
		free(text);
		return (NULL);
	}
	return (text);
}

/* The default of one key as the file would spell it ("" for none). */
static void
config_default_text(const struct config_key *k, char *buf, size_t cap)
{
	struct epsip_config defaults;
	char *text, *eq, *nl;

	buf[0] = '\0';
	config_defaults(&defaults);
	if ((text = config_key_text(&defaults, k)) == NULL) {
		return;
	}
	if ((eq = strstr(text, " = ")) != NULL) {
		if ((nl = strchr(eq, '\n')) != NULL) {
			*nl = '\0';
		}
		snprintf(buf, cap, "%s", eq + 3);
	}
	free(text);
}

void
config_usage(FILE *out, const char *progname)
{
	char def[CONFIG_PATH_MAX];

	fprintf(out, "usage: %s [--config FILE] [-n] [--KEY VALUE ...]\n\n"
	    "  --config FILE             key = value file ('#' comments)\n"
	    "  -n                        check the configuration and exit\n"
	    "  --help                    this text\n", progname);
	for (size_t i = 0; i < NKEYS; i++) {
		config_default_text(&config_keys[i], def, sizeof(def));
		fprintf(out, "  --%-23s %s%s%s%s\n", config_keys[i].name,
		    config_keys[i].help, def[0] ? " [" : "", def,
		    def[0] ? "]" : "");
	}
}

int
config_serves_domain(const struct epsip_config *cfg, const char *host)
{
	if (cfg->domain_count == 0) {
		return (1);
	}
	for (size_t i = 0; i < cfg->domain_count; i++) {
		if (strcasecmp(cfg->domain[i], host) == 0) {
			return (1);
		}
	}
	return (0);
}

/* ---- reload (SIGHUP) ---- */

/*
 * The keys a running set takes on SIGHUP, without a restart and without
 * losing a flow (docs/configuration.md, "Reloading").  Each is read where
 * it is used, or re-applied by daemon.c and the service's reload hook.
 * Every other key is held by something made at start: a bound socket, a
 * buffer sized for it, an nng queue, an open database, a number in every
 * token handed out.  Scalar keys only: config_take_reloadable() copies
 * one field each.
 */
static const char *const config_reloadable_keys[] = {
	"log-level", "max-flows", "new-flow-rate", "new-flow-burst",
	"overload-delay", "retry-after", "ipc-backlog", "key-file",
	"previous-key-file", "flow-managers", "drain-timeout", "tls-cert",
	"tls-key", "tls-ca", "ws-ping-interval", "ws-ping-timeout",
	"message-timeout", "source-flow-rate", "source-flow-burst",
	"source-request-rate", "source-request-burst", "auth",
	"auth-nonce-lifetime", "auth-algorithms", NULL,
};

int
config_key_reloadable(const char *name)
{
	for (size_t i = 0; config_reloadable_keys[i] != NULL; i++) {
		if (strcmp(config_reloadable_keys[i], name) == 0) {
			return (1);
		}
	}
	return (0);
}

/* Bytes of a scalar key's field; 0 for a list. */
static size_t
config_field_size(const struct config_key *k)
{
	switch (k->type) {
	case KEY_STRING:
	case KEY_PATH:
		return (k->capacity);
	case KEY_ADDR:
		return (sizeof(struct epsip_addr));
	case KEY_UINT:
		return (sizeof(unsigned));
	case KEY_LOG_LEVEL:
		return (sizeof(enum log_level));
	case KEY_ENUM:
		return (sizeof(int));
	case KEY_ADDR_LIST:
	case KEY_NAME_LIST:
	case KEY_ORIGIN_LIST:
	case KEY_CIDR_LIST:
		break;
	}
	return (0);
}

void
config_take_reloadable(struct epsip_config *dst,
    const struct epsip_config *src)
{
	for (size_t i = 0; i < NKEYS; i++) {
		const struct config_key *k = &config_keys[i];

		if (config_key_reloadable(k->name)) {
			memcpy((char *)dst + k->offset,
			    (const char *)src + k->offset,
			    config_field_size(k));
		}
	}
}

size_t
config_changed(const struct epsip_config *a, const struct epsip_config *b,
    int reloadable, const char **names, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i < NKEYS; i++) {
		const struct config_key *k = &config_keys[i];
		char *ta, *tb;
		int differ;

		if (config_key_reloadable(k->name) != (reloadable != 0)) {
			continue;
		}
		ta = config_key_text(a, k);
		tb = config_key_text(b, k);
		/* Out of memory: say it changed rather than hide a change. */
		differ = ta == NULL || tb == NULL || strcmp(ta, tb) != 0;
		free(ta);
		free(tb);
		if (differ && n++ < cap) {
			names[n - 1] = k->name;
		}
	}
	return (n);
}

/* ---- documentation (man/epsip.conf.5, tools/config_doc.c) ---- */

int
config_key_doc(size_t i, struct config_key_doc *doc)
{
	static const char *const type_value[] = {
		[KEY_ADDR_LIST] = "ADDR:PORT", [KEY_NAME_LIST] = "NAME",
		[KEY_ORIGIN_LIST] = "ORIGIN",
		[KEY_CIDR_LIST] = "ADDR[/BITS]",
		[KEY_STRING] = "TEXT", [KEY_PATH] = "PATH",
		[KEY_ADDR] = "ADDR:PORT", [KEY_UINT] = "N",
		[KEY_LOG_LEVEL] = "debug | info | warn | error",
		[KEY_ENUM] = NULL,
	};
	const struct config_key *k;
	size_t n = 0;

	if (i >= NKEYS) {
		return (-1);
	}
	k = &config_keys[i];
	memset(doc, 0, sizeof(*doc));
	doc->name = k->name;
	doc->help = k->help;
	if (k->type == KEY_ENUM) {
		for (size_t j = 0; k->names[j] != NULL &&
		    n < sizeof(doc->value); j++) {
			n += (size_t)snprintf(doc->value + n,
			    sizeof(doc->value) - n, "%s%s", j > 0 ? " | " : "",
			    k->names[j]);
		}
	} else {
		snprintf(doc->value, sizeof(doc->value), "%s",
		    type_value[k->type]);
	}
	config_default_text(k, doc->def, sizeof(doc->def));
	doc->is_number = k->type == KEY_UINT;
	doc->min = k->min;
	doc->max = k->max;
	doc->repeatable = config_key_is_list(k);
	doc->reloadable = config_key_reloadable(k->name);
	return (0);
}
