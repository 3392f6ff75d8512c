/*
 * notify.h -- tell systemd how we are doing, without libsystemd.
 */
#ifndef SUP_NOTIFY_H
#define SUP_NOTIFY_H

#include "epsip/log.h"

/*
 * Take $NOTIFY_SOCKET and remove it from the environment, so the services
 * we exec cannot talk to systemd in our name.  Returns 1 when running
 * under a notify socket, else 0.
 */
int sup_notify_init(void);

/* Send "READY=1", "STOPPING=1\nSTATUS=..." etc.; a no-op without a socket. */
void sup_notify(const char *fmt, ...) EPSIP_PRINTF(1, 2);

#endif /* SUP_NOTIFY_H */
