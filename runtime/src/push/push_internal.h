/* push_internal.h - what the WebSocket helpers' files share: finding the gateways to ask and
 * asking them, the channels to them (push.c), and their process-wide state. */
#ifndef SILK_SRC_WS_INTERNAL_H
#define SILK_SRC_WS_INTERNAL_H

#include <stdbool.h>

#include <silk/channel.h>
#include <silk/ctx.h>
#include <silk/registry.h>
#include <silk/status.h>

/* silk__ws_find_gateways fills out with the gateways to ask, in the registry where ctx's server
 * finds them: those the session directory names for business_id, or, without a directory (the
 * file registry), when it cannot be read, or for no business (NULL), every registered one.
 * Returns SILK_OK with out the caller's (silk_instance_list_fini), or the registry's error. */
silk_status silk__ws_find_gateways(const silk_ctx *ctx, const char *business_id,
                                   silk_instance_list *out);

/* silk__ws_owner_of returns the gateway of gws that owns session_id (its id is the session
 * id's prefix before the '.'), or NULL. */
const silk_instance *silk__ws_owner_of(const silk_instance_list *gws, const char *session_id);

/* silk__ws_channel_to returns the process-wide cached channel to gw's address, opening it if
 * needed (it lives until silk__ws_shutdown); NULL, with the reason in ctx, when memory is
 * exhausted. Any thread but nng's. */
silk_channel *silk__ws_channel_to(silk_ctx *ctx, const silk_instance *gw);

/* silk__ws_gateway_failed returns what a push returns for its call to gw that failed with st,
 * the callee's message in ctx, and logs a gateway not reached:
 * - SILK_UNAVAILABLE, "gateway <id> at <address> cannot be reached: <why>", when the call
 *   was refused or lost (UNAVAILABLE), or not answered within the method's timeout
 *   (DEADLINE_EXCEEDED with time left on ctx);
 * - SILK_DEADLINE_EXCEEDED naming the gateway when ctx's own deadline passed first;
 * - st with the gateway's own message otherwise (it answered: NOT_FOUND for a session it
 *   does not have, UNAUTHENTICATED, ...), or when the call was not made (CANCELLED, ...). */
silk_status silk__ws_gateway_failed(silk_ctx *ctx, const silk_instance *gw, silk_status st);

/* silk__ws_call_fn makes one gateway's call on ch for business_id, naming the gateway it is
 * meant for (gateway_id: the request's gateway_id field): SILK_OK, or its failure with the
 * reason in ctx. */
typedef silk_status silk__ws_call_fn(silk_channel *ch, silk_ctx *ctx, const char *gateway_id,
                                     const char *business_id, void *arg);

/* silk__ws_ask_gateways makes call on each gateway holding sessions of business_id: those the
 * session directory names, or every registered one without a directory. A call that is
 * refused, lost or not answered in time makes SILK_UNAVAILABLE naming the gateway; one
 * answered NOT_FOUND by another gateway at its address (it was replaced) is skipped. With
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
