/* wstest.h - the seed's WsTest handlers, served by wstest-service and by wstest-host. */
#ifndef WSTEST_SAMPLE_H
#define WSTEST_SAMPLE_H

#include <silk/silk.h>

/* wstest_server_new makes a server, not started, listening on listen (NULL: $SILK_LISTEN, else
 * tcp://127.0.0.1:0) and hosting wstest.WsTest (Echo) and its silk.ws.Hooks (OnMessage echoes,
 * inline), with room for many OnMessage calls at once. Returns it, to free with
 * silk_server_free() unless silk_server_run() or silk_gateway_main_hosting() takes it; or
 * NULL, with why on stderr after prog. */
silk_server *wstest_server_new(const char *listen, const char *prog);

#endif /* WSTEST_SAMPLE_H */
