/* session_manager.h - silk.ws.SessionManager, served by the gateway so that services can push. */
#ifndef SILK_GATEWAY_SESSION_MANAGER_H
#define SILK_GATEWAY_SESSION_MANAGER_H

#include <silk/status.h>

#include "loop/gateway.h"

/* silk__gw_session_manager_start serves silk.ws.SessionManager for gw on a silk_server whose
 * instance id is the gateway id, registered in the registry. SILK_OK, or why not. On the main
 * thread; the handlers run on the runtime's worker threads. */
silk_status silk__gw_session_manager_start(silk__gw *gw);

/* silk__gw_session_manager_stop deregisters and frees the server, after its calls in flight;
 * on the main thread. Once more, or without a start, it does nothing. */
void silk__gw_session_manager_stop(silk__gw *gw);

#endif /* SILK_GATEWAY_SESSION_MANAGER_H */
