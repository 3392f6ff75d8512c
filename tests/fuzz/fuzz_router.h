/*
 * fuzz_router.h -- the routers and flows of fuzz_router.c, shared with
 * gen_corpus.c so that the seeds carry the tokens of these very flows:
 * two routers set up as tests/unit/router_fixture.h sets one up, with a
 * listener of every kind and fuzz.h's key (routers[0] embedded,
 * routers[1] upstream with a core side), a phone flow of each transport
 * (flows[transport - 1]; the WSS one over IPv6) and the core.
 */
#ifndef EPSIP_FUZZ_ROUTER_H
#define EPSIP_FUZZ_ROUTER_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "epsip/config.h"
#include "epsip/ipc.h"
#include "../../services/sip-router/router.h"

#include "fuzz.h"

static struct epsip_config cfgs[2];
static struct router routers[2];
static struct router_origin flows[EPSIP_TRANSPORT_MAX], core;

static inline void
fuzz_make_flow(struct router_origin *o, uint32_t child, uint8_t transport,
    const char *local, const char *remote)
{
	memset(o, 0, sizeof(*o));
	o->source = ROUTER_FROM_FLOW;
	o->flow.flow.instance = 1;
	o->flow.flow.child = child;
	o->flow.flow.slot = child * 10;
	o->flow.flow.generation = 1000 + child;
	o->flow.transport = transport;
	if (config_parse_addr(local, 5060, &o->flow.local) != 0 ||
	    config_parse_addr(remote, 5060, &o->flow.remote) != 0) {
		abort();
	}
}

/* The key file router_init() loads: fuzz.h's current secret. */
static inline void
fuzz_write_key(const char *path)
{
	char hex[2 * FLOW_TOKEN_KEY_SIZE + 2];
	int fd;

	for (size_t i = 0; i < FLOW_TOKEN_KEY_SIZE; i++) {
		snprintf(hex + 2 * i, 3, "%02x", fuzz_secret_current[i]);
	}
	hex[2 * FLOW_TOKEN_KEY_SIZE] = '\n';
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd == -1 || write(fd, hex, sizeof(hex) - 1) !=
	    (ssize_t)sizeof(hex) - 1 || close(fd) == -1) {
		fprintf(stderr, "%s: cannot write the key\n", path);
		abort();
	}
}

/* router_fixture_setup(), with a listener of every kind. */
static inline void
fuzz_router_init(struct epsip_config *cfg, struct router *r,
    const char *key, const char *const *keys)
{
	static const char *const common[] = {
		"listen-tls", "192.0.2.1:5061",
		"listen-ws", "192.0.2.1:80",
		"listen-wss", "[2001:db8::1]:443",
		"tls-cert", "/nonexistent/epsip-fuzz.pem",
		"alias", "edge.example.com",
		NULL,
	};
	char err[256] = "";

	config_defaults(cfg);
	snprintf(cfg->key_file, sizeof(cfg->key_file), "%s", key);
	/* In place of the default listener, as the fixture does. */
	cfg->listen_count = 1;
	if (config_parse_addr("192.0.2.1:5060", 5060, &cfg->listen[0]) != 0) {
		goto fail;
	}
	for (int i = 0; common[i] != NULL; i += 2) {
		if (config_set(cfg, common[i], common[i + 1], err,
		    sizeof(err)) != 0) {
			goto fail;
		}
	}
	for (int i = 0; keys != NULL && keys[i] != NULL; i += 2) {
		if (config_set(cfg, keys[i], keys[i + 1], err,
		    sizeof(err)) != 0) {
			goto fail;
		}
	}
	if (config_finish(cfg, err, sizeof(err)) != 0 ||
	    router_init(r, cfg, err, sizeof(err)) != 0) {
		goto fail;
	}
	return;
fail:
	fprintf(stderr, "router setup: %s\n", err);
	unlink(key);
	abort();
}

static inline void
fuzz_router_setup(void)
{
	static const char *const upstream[] = {
		"upstream", "sip:198.51.100.50:5060;transport=tcp",
		"core-listen", "198.51.100.1:5070",
		NULL,
	};
	char key[64];

	snprintf(key, sizeof(key), "/tmp/epsip-fuzz-key-%d", (int)getpid());
	fuzz_write_key(key);
	fuzz_router_init(&cfgs[0], &routers[0], key, NULL);
	fuzz_router_init(&cfgs[1], &routers[1], key, upstream);
	unlink(key);
	fuzz_make_flow(&flows[0], 1, EPSIP_TRANSPORT_UDP, "192.0.2.1:5060",
	    "198.51.100.7:40000");
	fuzz_make_flow(&flows[1], 2, EPSIP_TRANSPORT_TCP, "192.0.2.1:5060",
	    "198.51.100.8:50600");
	fuzz_make_flow(&flows[2], 3, EPSIP_TRANSPORT_TLS, "192.0.2.1:5061",
	    "198.51.100.9:51000");
	fuzz_make_flow(&flows[3], 4, EPSIP_TRANSPORT_WS, "192.0.2.1:80",
	    "203.0.113.10:52000");
	fuzz_make_flow(&flows[4], 5, EPSIP_TRANSPORT_WSS, "[2001:db8::1]:443",
	    "[2001:db8::99]:53000");
	memset(&core, 0, sizeof(core));
	core.source = ROUTER_FROM_CORE;
}

#endif /* EPSIP_FUZZ_ROUTER_H */
