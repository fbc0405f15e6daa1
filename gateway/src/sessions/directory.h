/* directory.h - the gateway's entries in the session directory (runtime registry/directory.h):
 * which businesses it holds sessions of, written by a thread of its own so that no loop ever
 * waits for the store. */
#ifndef SILK_GATEWAY_DIRECTORY_H
#define SILK_GATEWAY_DIRECTORY_H

#include "loop/gateway.h"

/* silk__gw_directory_start opens the registry and starts the writer when its backend keeps a
 * directory (Redis); with one that does not (file), it does nothing. It forgets what an earlier
 * run under the same gateway id wrote. A store that cannot be reached now is no error: the
 * writer writes everything once it can. It returns 0, or -1 when memory is exhausted. */
int silk__gw_directory_start(silk__gw *gw);

/* silk__gw_directory_stop writes what is queued, removes the gateway's entries and stops the
 * writer; later changes are not written. */
void silk__gw_directory_stop(silk__gw *gw);

/* silk__gw_session_enter adds a session to gw->sessions (silk__gw_sessions_add, under gw->lock)
 * and, when it is the gateway's first of its business, has the business's entry written. It
 * returns what silk__gw_sessions_add returns. */
int silk__gw_session_enter(silk__gw *gw, const char *id, const char *route, const char *business,
                           void *data);

/* silk__gw_session_leave removes the session id of business from gw->sessions (under gw->lock)
 * and, when it was the gateway's last of its business, has the entry removed. */
void silk__gw_session_leave(silk__gw *gw, const char *id, const char *business);

#endif /* SILK_GATEWAY_DIRECTORY_H */
