/*
 * overload.c -- the 503 an overloaded edge gives (see overload.h).
 * DIAGNOSTICS: none.
 */
#include <stdio.h>

#include "epsip/overload.h"
#include "epsip/sip_reply.h"

int
overload_is_late(const struct epsip_config *cfg, const struct epsip_msg *msg,
    uint64_t now_ms)
{
	return (cfg->overload_delay != 0 && msg->stamp_ms != 0 &&
	    msg->transport == EPSIP_TRANSPORT_UDP &&
	    now_ms > msg->stamp_ms &&
	    now_ms - msg->stamp_ms > cfg->overload_delay);
}

int
overload_reply(const struct epsip_config *cfg, const char *buf, size_t len,
    char **out, size_t *out_len)
{
	struct sip_reply_header retry = { "Retry-After", NULL };
	struct sip_scan scan;
	char seconds[16];

	if (sip_scan(buf, len, &scan) == -1 ||
	    !sip_request_starts_work(&scan)) {
		return (0);
	}
	snprintf(seconds, sizeof(seconds), "%u", cfg->retry_after);
	retry.value = seconds;
	return (sip_reply_from_request(&scan, 503, NULL, &retry, 1, out,
	    out_len) == 0 ? 1 : 0);
}
