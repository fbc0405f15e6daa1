/* instances.h - the registry's instances of the routed services, kept for the console. */
#ifndef SILK_GATEWAY_INSTANCES_H
#define SILK_GATEWAY_INSTANCES_H

struct silk__gw;

/* silk__gw_instances_start opens the registry ($SILK_REGISTRY) and keeps a view of the live
 * instances of every routed service and of silk.ws.SessionManager (the gateways), read once
 * and then followed with silk_registry_watch on the registry's own thread, so that no loop
 * ever waits for the registry. On the main thread, before the loops run; gw->instances is
 * then set. It returns 0, also when the registry cannot be opened (logged; the view then says
 * so), or -1 when memory is exhausted. */
int silk__gw_instances_start(struct silk__gw *gw);

/* silk__gw_instances_stop stops the watches, closes the registry and frees the view; after
 * the loops have stopped. Nothing is done when it was not started. */
void silk__gw_instances_stop(struct silk__gw *gw);

/* silk__gw_instances_json returns the view as a new JSON string the caller frees:
 * {"registry": <its URL, password masked> | null, "error": <why there is no view> | null,
 * "services": [{"name", "route" (null for SessionManager), "websocket", "instances": [{"id",
 * "address", "version", "weight", "startedMs", "gatewayId"}] | null, "error": .. | null}]},
 * or NULL when memory is exhausted. Any thread. */
char *silk__gw_instances_json(struct silk__gw *gw);

#endif /* SILK_GATEWAY_INSTANCES_H */
