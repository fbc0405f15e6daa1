/* ws_internal.h - the WebSocket helpers' process-wide state. */
#ifndef SILK_SRC_WS_INTERNAL_H
#define SILK_SRC_WS_INTERNAL_H

/* silk__ws_shutdown closes the cached channels to gateways and the registry the helpers use;
 * they open again on the next use. It runs at exit by itself; tests call it to finish clean.
 * No helper may be running meanwhile. */
void silk__ws_shutdown(void);

#endif /* SILK_SRC_WS_INTERNAL_H */
