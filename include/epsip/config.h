/*
 * config.h -- EPSIP configuration: one table of keys, three sources.
 *
 * Defaults, then a `key = value` file (--config or $EPSIP_CONFIG, '#'
 * comments), then environment variables EPSIP_<KEY> (EPSIP_FLOW_TIMER for
 * flow-timer), then command-line flags "--key value", each overriding
 * the one before.  Every
 * service reads the same effective file, which the supervisor writes into
 * the run directory, so all processes always agree.  See
 * docs/configuration.md for every key.
 */
#ifndef EPSIP_CONFIG_H
#define EPSIP_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "epsip/ipc.h"
#include "epsip/log.h"

#define CONFIG_MAX_LISTEN	16
#define CONFIG_MAX_DOMAINS	32
#define CONFIG_MAX_ALIASES	16
#define CONFIG_MAX_PROXY_FROM	16
#define CONFIG_MAX_WS_ORIGINS	16
#define CONFIG_PATH_MAX		256
#define CONFIG_NAME_MAX		256
/* Flow-managers per edge: instance numbers instance..instance+15. */
#define CONFIG_MAX_FLOW_MANAGERS	16
/* sun_path is 108 bytes; leave room for "/fm65535-c4294967295.ipc". */
#define CONFIG_RUN_DIR_MAX	80

/* Enum keys: values count from 0 in the order config.c names them. */
enum record_route_policy {
	RECORD_ROUTE_ALWAYS,	/* every dialog-forming request on a flow */
	RECORD_ROUTE_OUTBOUND,	/* only when ob is present (EP-12, EP-13) */
};

enum path_policy {
	PATH_LENIENT,	/* add Path even without Supported: path (EP-22) */
	PATH_STRICT,	/* 421 for reg-id without Supported: path (EP-06) */
};

/*
 * When the registrar's SQLite file is synced to disk (its PRAGMA
 * synchronous, WAL mode).  Every level keeps a committed binding across
 * a crash of the registrar-bridge; they differ only on an OS crash or a
 * power cut (docs/configuration.md).
 */
/*
 * How a UDP flow's datagrams reach the flow-manager that owns it
 * (docs/architecture.md, "Several flow-managers"): its own connected
 * socket, which the kernel matches before any shared listener, or the
 * listener shared by all flows, which SO_REUSEPORT spreads by a hash
 * that changes when an instance joins or leaves.
 */
enum udp_flow_sockets {
	UDP_FLOW_SOCKETS_AUTO,
	UDP_FLOW_SOCKETS_CONNECTED,
	UDP_FLOW_SOCKETS_SHARED,
};

/*
 * Who runs the services: epsipd (fork+exec, restart), or something
 * beside it -- one container each under docker-compose -- while epsipd
 * prepares the run directory and the key and serves their stats.
 */
enum services_mode {
	SERVICES_RUN,
	SERVICES_WATCH,
};

/*
 * Who may register with the embedded registrar and call through its home
 * proxy (docs/security.md): digest credentials from the users table
 * (users.h) once one exists, and until then only loopback clients
 * (protected); always credentials (digest); anyone (none, a lab).
 */
enum auth_mode {
	AUTH_PROTECTED,
	AUTH_DIGEST,
	AUTH_NONE,
};

/*
 * The digest challenges offered, in order (RFC 8760 §2.4: the preferred
 * first), and the only algorithms accepted.  MD5 first is for phones
 * that read only the first challenge and know only MD5 (sipp 3.6;
 * docs/security.md).
 */
enum auth_algorithms {
	AUTH_ALGS_SHA256_MD5,
	AUTH_ALGS_MD5_SHA256,
	AUTH_ALGS_MD5,
	AUTH_ALGS_SHA256,
};

enum registrar_sync {
	REGISTRAR_SYNC_OFF,	/* never: the OS writes it back */
	REGISTRAR_SYNC_NORMAL,	/* at each WAL checkpoint */
	REGISTRAR_SYNC_FULL,	/* at each commit */
};

/*
 * A network, "ADDR/BITS" or one address (proxy-from): the address with its
 * host bits zero, and the prefix length.
 */
struct epsip_cidr {
	struct epsip_addr net;		/* port 0 */
	uint8_t bits;			/* 0..32 or 0..128 */
};

/*
 * The upstream registrar/proxy, parsed from the `upstream` key by
 * config_finish().  An empty host means embedded mode.
 */
struct epsip_upstream {
	char host[CONFIG_NAME_MAX];	/* IP literal or A/AAAA name */
	uint16_t port;
	uint8_t transport;		/* EPSIP_TRANSPORT_UDP, _TCP or _TLS */
};

struct epsip_config {
	/* Phone-facing: each address listens on UDP and TCP (TR-01). */
	struct epsip_addr listen[CONFIG_MAX_LISTEN];
	size_t listen_count;
	/*
	 * Phone-facing stream-only listeners (docs/transports.md): SIP over
	 * TLS, over WebSocket and over WebSocket on TLS.
	 */
	struct epsip_addr listen_tls[CONFIG_MAX_LISTEN];
	size_t listen_tls_count;
	struct epsip_addr listen_ws[CONFIG_MAX_LISTEN];
	size_t listen_ws_count;
	struct epsip_addr listen_wss[CONFIG_MAX_LISTEN];
	size_t listen_wss_count;
	char tls_cert[CONFIG_PATH_MAX];		/* PEM, chain after it */
	char tls_key[CONFIG_PATH_MAX];		/* "": in tls_cert's file */
	char tls_ca[CONFIG_PATH_MAX];		/* "": no client certs */
	/* Origins a WebSocket upgrade may come from; none: any. */
	char ws_origin[CONFIG_MAX_WS_ORIGINS][CONFIG_NAME_MAX];
	size_t ws_origin_count;
	unsigned ws_ping_interval;	/* s of silence before a Ping */
	unsigned ws_ping_timeout;	/* s a Ping may go unanswered */
	/* Host names that also mean "this edge" in Route/Via (EP-17). */
	char alias[CONFIG_MAX_ALIASES][CONFIG_NAME_MAX];
	size_t alias_count;
	/* Host[:port] put into Path/Record-Route/Via; empty: the flow's
	 * local address. */
	char advertise[CONFIG_NAME_MAX];
	/* Domains the embedded registrar serves; none: any. */
	char domain[CONFIG_MAX_DOMAINS][CONFIG_NAME_MAX];
	size_t domain_count;
	/*
	 * Listen addresses whose TCP connections come from a load balancer
	 * and start with a PROXY protocol header, and the balancers allowed
	 * to send one (docs/deployment.md, "Behind a load balancer").
	 */
	struct epsip_addr proxy_protocol[CONFIG_MAX_LISTEN];
	size_t proxy_protocol_count;
	struct epsip_cidr proxy_from[CONFIG_MAX_PROXY_FROM];
	size_t proxy_from_count;

	char run_dir[CONFIG_PATH_MAX];
	char state_dir[CONFIG_PATH_MAX];
	char key_file[CONFIG_PATH_MAX];		/* default state_dir/flow-token.key */
	char previous_key_file[CONFIG_PATH_MAX];	/* optional, rotation */
	char registrar_db[CONFIG_PATH_MAX];	/* default state_dir/registrar.sqlite */
	struct epsip_addr stats;
	char libexec_dir[CONFIG_PATH_MAX];	/* where service binaries are */

	enum log_level log_level;
	unsigned instance;		/* first flow-manager instance */
	unsigned flow_managers;		/* instances epsipd runs */
	/*
	 * Which of the edge's flow-managers this process is, 1..16
	 * (--flow-manager K, from epsipd); 0 in the other services.  Not a
	 * key: every flow-manager reads the same file.
	 */
	unsigned flow_manager;
	unsigned drain_timeout;		/* s a draining instance keeps flows */
	enum services_mode services;	/* epsipd only */
	enum udp_flow_sockets udp_flow_sockets;
	unsigned flows_per_child;	/* 1: process per flow (the paper) */
	unsigned max_flows;		/* per flow-manager instance */
	unsigned new_flow_rate;		/* new flows/s per instance, 0: any */
	unsigned new_flow_burst;
	/* Per source address (source_rate.h), 0: no limit. */
	unsigned source_flow_rate;	/* new flows/s, per instance */
	unsigned source_flow_burst;
	unsigned source_request_rate;	/* requests/s, in the router */
	unsigned source_request_burst;
	unsigned max_message_size;	/* bytes, SIP over TCP (ER-04) */
	unsigned flow_timer;		/* s, advertised in REGISTER 2xx */
	unsigned flow_grace;		/* s, tolerated past Flow-Timer (EP-19) */
	unsigned idle_timeout;		/* s, flows with no Flow-Timer (KA-15) */
	unsigned message_timeout;	/* s a part of a message may wait */
	unsigned idle_child_timeout;	/* s an empty pooled child is kept */
	unsigned ipc_queue;	/* batches a link to the router or bridge holds */
	unsigned ipc_backlog;	/* MiB a link's outbox holds (ipc_socket.h) */
	unsigned overload_delay;	/* ms a new UDP request may wait; 0: any */
	unsigned heap_release;		/* s between heap_release(); 0: never */
	unsigned min_expires;		/* s, registrar (RG-21) */
	unsigned default_expires;
	unsigned max_expires;
	enum record_route_policy record_route;
	enum path_policy path_policy;
	enum registrar_sync registrar_sync;
	enum auth_mode auth;		/* embedded registrar only */
	unsigned auth_nonce_lifetime;	/* s a digest nonce is fresh */
	enum auth_algorithms auth_algorithms;

	/* Core side (upstream mode, RG-29). */
	char upstream_uri[CONFIG_NAME_MAX];	/* "sip:HOST:PORT;transport=" */
	struct epsip_upstream upstream;		/* derived from upstream_uri */
	struct epsip_addr core_listen;		/* family 0: none */
	char core_advertise[CONFIG_NAME_MAX];	/* HOST[:PORT]; "": derived */
	unsigned upstream_connections;	/* TCP connections to the upstream */
	unsigned upstream_timeout;	/* s without an answer: 503 */
	unsigned retry_after;		/* s, Retry-After of our 503s */
};

/*
 * 1 when `instance` is one of this edge's flow-managers' numbers
 * (instance .. instance + CONFIG_MAX_FLOW_MANAGERS - 1), running or not:
 * a token naming one is ours, one naming any other is another edge's.
 */
int config_owns_instance(const struct epsip_config *cfg, unsigned instance);

/* The instance number this flow-manager process carries in its tokens. */
unsigned config_flow_manager_instance(const struct epsip_config *cfg);

/*
 * The phone-facing listen addresses of one transport: listen-tls,
 * listen-ws, listen-wss, or for UDP and TCP `listen` (each address
 * listens on both), and the key that sets them.
 */
const struct epsip_addr *config_listeners(const struct epsip_config *cfg,
    uint8_t transport, size_t *count);
const char *config_listen_key(uint8_t transport);

/* 1 when a registrar upstream is configured (not the embedded one). */
#define config_has_upstream(cfg)	((cfg)->upstream.host[0] != '\0')

/*
 * Parse "sip:HOST[:PORT][;transport=udp|tcp|tls]" or "sips:HOST[:PORT]"
 * (IPv6 in brackets).  0, or
 * -1 with a one-line reason in err.
 */
int config_parse_upstream(const char *text, struct epsip_upstream *up,
    char *err, size_t errcap);

void config_defaults(struct epsip_config *cfg);

/*
 * Set one key from text.  Returns 0, or -1 with a one-line reason naming
 * the key in err.  Repeatable keys (listen, domain, alias, proxy-protocol,
 * proxy-from) append; the first explicit one of a source replaces the
 * list the sources before set.
 */
int config_set(struct epsip_config *cfg, const char *key, const char *value,
    char *err, size_t errcap);

/* Read a `key = value` file; errors say "file:line: key: reason". */
int config_load_file(struct epsip_config *cfg, const char *path, char *err,
    size_t errcap);

/*
 * The last value `name` has in the file at `path`, the other lines
 * unchecked (epsipctl wants the stats endpoint also from a file epsipd
 * refuses): 1 and value, 0 when the key is not there, -1 when the file
 * cannot be read (errno).
 */
int config_file_value(const char *path, const char *name, char *value,
    size_t cap);

/*
 * Apply the file, the environment and the command-line flags.  "--config
 * FILE" is loaded first wherever it appears, so flags always win.  Options this table does not
 * know are handed to `extra` (which returns the number of argv entries it
 * used, or -1 if it does not know the option either); `extra` may be NULL.
 * Sets *want_help / *check_only for --help / -n.
 */
typedef int (*config_extra_option)(const char *name, const char *value,
    void *arg);
int config_parse_args(struct epsip_config *cfg, int argc, char **argv,
    config_extra_option extra, void *extra_arg, int *want_help,
    int *check_only, char *err, size_t errcap);

/* Fill derived paths and check cross-key rules. */
int config_finish(struct epsip_config *cfg, char *err, size_t errcap);

/* Write the effective configuration as a file config_load_file() reads. */
int config_write(const struct epsip_config *cfg, FILE *out);

void config_usage(FILE *out, const char *progname);

/* Parse "ADDR:PORT", "[V6]:PORT" or "ADDR" (port 5060). */
int config_parse_addr(const char *text, uint16_t default_port,
    struct epsip_addr *addr);

/* Parse "ADDR/BITS" or "ADDR" (all bits); host bits must be zero. */
int config_parse_cidr(const char *text, struct epsip_cidr *cidr);

/* 1 if `addr` (its port ignored) lies in `cidr`. */
int config_cidr_contains(const struct epsip_cidr *cidr,
    const struct epsip_addr *addr);

/* 1 if TCP connections to listen address `listen` start with a PROXY header. */
int config_proxy_protocol_on(const struct epsip_config *cfg,
    const struct epsip_addr *listen);

/* 1 if `peer` is a balancer that may send a PROXY header (proxy-from). */
int config_proxy_trusted(const struct epsip_config *cfg,
    const struct epsip_addr *peer);

/*
 * Reload (SIGHUP).  1 when a running set applies key `name` on SIGHUP;
 * the others need a restart (docs/configuration.md, "Reloading").
 */
int config_key_reloadable(const char *name);
/* Copy the reloadable keys of src into dst; dst keeps every other one. */
void config_take_reloadable(struct epsip_config *dst,
    const struct epsip_config *src);
/*
 * The keys, reloadable ones or (reloadable 0) the others, whose values
 * differ between a and b: how many, the first `cap` names in names[].
 */
size_t config_changed(const struct epsip_config *a,
    const struct epsip_config *b, int reloadable, const char **names,
    size_t cap);

/* One key of the table, as man/epsip.conf.5 describes it. */
struct config_key_doc {
	const char *name;
	const char *help;
	char value[64];		/* "N", "PATH", "always | outbound" */
	char def[CONFIG_PATH_MAX];	/* as the file spells it; "": none */
	int is_number;		/* from min to max */
	unsigned min, max;
	int repeatable;
	int reloadable;
};
/* Key i of the table, in its order: 0, or -1 past the last one. */
int config_key_doc(size_t i, struct config_key_doc *doc);

/* 1 if `host` is served by the registrar (always when no domain is set). */
int config_serves_domain(const struct epsip_config *cfg, const char *host);

#endif /* EPSIP_CONFIG_H */
