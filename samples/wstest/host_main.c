/* host_main.c - wstest-host: silk-gateway with the WsTest service in its process, so that
 * OnMessage runs on the gateway's loops with no socket between them. */
#include <silk/gateway.h>

#include "wstest.h"
#include "wstest.silk.h"

int main(int argc, char **argv)
{
    static const silk_service_desc *const services[] = {&wstest__ws_test__silk_desc};
    /* Its own port: $SILK_LISTEN is SessionManager's (--rpc-listen). */
    silk_server *srv = wstest_server_new("tcp://127.0.0.1:0", "wstest-host");
    if (srv == NULL)
        return 1;
    return silk_gateway_main_hosting(argc, argv, services, sizeof services / sizeof services[0],
                                     srv);
}
