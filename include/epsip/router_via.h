/*
 * router_via.h -- how the sip-router marks its own Via.
 *
 * The router is stateless: the way back for a response is its own Via,
 * recognised by the branch prefix and carrying the arrival flow's token in
 * a parameter.  The registrar-bridge reads the same marks to tell the
 * router's responses from its own (core_dispatch.c), so they are defined
 * once, here.  Every edge writes the same prefix: a Via is "ours" only if
 * its token, when there is one, also verifies and names our instance.
 */
#ifndef EPSIP_ROUTER_VIA_H
#define EPSIP_ROUTER_VIA_H

/* Our Via branches start with this (SP-14). */
#define EPSIP_ROUTER_BRANCH_PREFIX	"z9hG4bK-ep"
/* Via parameter carrying the arrival flow's token. */
#define EPSIP_ROUTER_FLOW_PARAM		"ept"

#endif /* EPSIP_ROUTER_VIA_H */
