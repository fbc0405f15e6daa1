/* host_main.c - wstest-host: silk-gateway with the WsTest service in its process, so that
 * OnMessage runs on the gateway's loops with no socket between them. */
#include <stdio.h>

#include <silk/gateway.h>

#include "wstest.h"
#include "wstest.silk.h"

int main(int argc, char **argv)
{
    static const silk_service_desc *const services[] = {&wstest__ws_test__silk_desc};
    /* Its own port: $SILK_LISTEN is SessionManager's (--rpc-listen). */
    silk_server *srv =
        silk_server_new(&(silk_server_opts){.listen = "tcp://127.0.0.1:0", .max_concurrent = 4096});
    if (srv == NULL)
        return 1;
    silk_status st = wstest_serve(srv);
    if (st != SILK_OK) {
        fprintf(stderr, "wstest-host: cannot serve WsTest: %s\n", silk_status_str(st));
        silk_server_free(srv);
        return 1;
    }
    return silk_gateway_main_hosting(argc, argv, services, sizeof services / sizeof services[0],
                                     srv);
}
