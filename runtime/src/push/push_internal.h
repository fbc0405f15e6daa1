/* push_internal.h - the WebSocket helpers' process-wide state. */
#ifndef SILK_SRC_WS_INTERNAL_H
#define SILK_SRC_WS_INTERNAL_H

/* silk__ws_shutdown closes the cached channels to gateways and the registry the helpers use;
 * they open again on the next use. Tests call it to finish clean; a process needs not (the
 * cache lives as long as it does). No helper may be running meanwhile. */
void silk__ws_shutdown(void);

#endif /* SILK_SRC_WS_INTERNAL_H */
