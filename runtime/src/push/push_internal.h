/* push_internal.h - what the WebSocket helpers' files share: finding the gateways to ask and
 * asking them (push.c), and their process-wide state. */
#ifndef SILK_SRC_WS_INTERNAL_H
#define SILK_SRC_WS_INTERNAL_H

#include <stdbool.h>

#include <silk/channel.h>
#include <silk/ctx.h>
#include <silk/registry.h>
#include <silk/status.h>

/* silk__ws_call_fn makes one gateway's call on ch for business_id: SILK_OK, or its failure
 * with the reason in ctx. */
typedef silk_status silk__ws_call_fn(silk_channel *ch, silk_ctx *ctx, const char *business_id,
                                     void *arg);

/* silk__ws_ask_gateways makes call on each gateway holding sessions of business_id: those the
 * session directory names, or every registered one without a directory. A call that is
 * refused, lost or not answered in time makes SILK_UNAVAILABLE naming the gateway. With
 * all_of_them every gateway is asked whichever fails, and the first failure is returned (a
 * push: what the others did stands); without, the first failure ends it (a list would miss
 * the sessions of that gateway). It returns SILK_OK, that failure (its reason in ctx), or the
 * registry's error. */
silk_status silk__ws_ask_gateways(silk_ctx *ctx, const char *business_id, bool all_of_them,
                                  silk__ws_call_fn *call, void *arg);

/* silk__ws_route_of returns the route of the service whose handler ctx belongs to; "" (every
 * route) for a ctx of no service. */
const char *silk__ws_route_of(const silk_ctx *ctx);

/* silk__ws_shutdown closes the cached channels to gateways and the registry the helpers use;
 * they open again on the next use. Tests call it to finish clean; a process needs not (the
 * cache lives as long as it does). No helper may be running meanwhile. */
void silk__ws_shutdown(void);

#endif /* SILK_SRC_WS_INTERNAL_H */
