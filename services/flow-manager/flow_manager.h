/*
 * flow_manager.h -- what main.c needs from the flow-manager, plus the few
 * helpers the parent and the child share.
 *
 * One binary, two roles: without --child it is the parent (listeners,
 * children, UDP demux, FLOW_CLOSED to the router); with --child N it is
 * child N (owns flows, speaks SIP to the router).  See parent.h, child.h.
 */
#ifndef EPSIP_FLOW_MANAGER_H
#define EPSIP_FLOW_MANAGER_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "epsip/daemon.h"
#include "epsip/ipc.h"
#include "epsip/log.h"

/* The child's control socket and first inherited UDP listener. */
#define FM_CONTROL_FD		3
#define FM_FIRST_UDP_FD		4

/* The parent role.  argv is the parent's own, handed on to children. */
int fm_parent_start(struct daemon *d, int argc, char **argv);
void fm_parent_report(struct daemon *d, json_t *stats);
void fm_parent_stop(struct daemon *d);
/*
 * SIGHUP, before d->cfg takes fresh's reloadable keys: the limits on new
 * flows change for the next one (flows held stay, also past a lowered
 * max-flows), and every child is told to read the file again.
 */
void fm_parent_reload(struct daemon *d, const struct epsip_config *fresh);

/*
 * SIGUSR1: stop taking new flows (close the listeners; the instance's
 * siblings take them), and stop once the flows held are gone or
 * drain-timeout has passed; the rest then close, and requests for them
 * get 430.
 */
void fm_parent_drain(struct daemon *d);

/*
 * The TLS files (tls-cert, tls-key, tls-ca) and the token key make a
 * TLS context, when a TLS or WSS listener needs one: 0, or -1 with a
 * one-line reason.  The parent checks at start; children build their own.
 */
int fm_tls_check(const struct epsip_config *cfg, char *err, size_t errcap);

/* The child role, child id `id` (>= 1). */
int fm_child_start(struct daemon *d, uint32_t id);
void fm_child_report(struct daemon *d, json_t *stats);
/* SIGHUP, before d->cfg takes fresh's keys: TLS files for new flows. */
void fm_child_reload(struct daemon *d, const struct epsip_config *fresh);
void fm_child_stop(struct daemon *d);

/* "--child N": 0 and *id, or -1 if N is not in 1..UINT32_MAX. */
int fm_parse_child_id(const char *text, uint32_t *id);

/* "--flow-manager K": 0 and *flow_manager, or -1 if K is not in 1..16. */
int fm_parse_flow_manager(const char *text, unsigned *flow_manager);

/* The service name the K-th flow-manager and its children report as. */
int fm_service_name(char *buf, size_t cap, unsigned flow_manager);
/* Report and log as d->cfg.flow_manager's service name. */
void fm_name_service(struct daemon *d);

/* The child's name in logs, HELLO and STATS: "fm<instance>-c<id>". */
int fm_child_name(char *buf, size_t cap, unsigned instance, uint32_t id);

/*
 * Answer a STUN datagram from `remote` on UDP socket `fd`, from the local
 * address it was sent to (RFC 5626 §8, KA-03):
 * 1 answered, 0 discarded as invalid or not needing an answer, -1 the
 * answer could not be sent.  Counts keepalive.stun_answered/_discarded.
 */
int fm_stun_reply(int fd, const uint8_t *req, size_t len,
    const struct epsip_addr *remote, const struct epsip_addr *local);

#endif /* EPSIP_FLOW_MANAGER_H */
