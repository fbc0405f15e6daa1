/* gateway_main.c - bench-gateway: silk-gateway with the seed's WsTest (WebSocket sessions,
 * pushes) and bench-http's benchhttp.Api (a JSON web API) linked in. */
#include <silk/gateway.h>

#include "http.silk.h"
#include "wstest.silk.h"

int main(int argc, char **argv)
{
    static const silk_service_desc *const services[] = {&wstest__ws_test__silk_desc,
                                                        &benchhttp__api__silk_desc};
    return silk_gateway_main(argc, argv, services, sizeof services / sizeof services[0]);
}
