/* gateway_main.c - bench-gateway: silk-gateway with bench-http's benchhttp.Api linked in, so
 * that it serves POST /api/bench/echo. */
#include <silk/gateway.h>

#include "http.silk.h"

int main(int argc, char **argv)
{
    static const silk_service_desc *const services[] = {&benchhttp__api__silk_desc};
    return silk_gateway_main(argc, argv, services, sizeof services / sizeof services[0]);
}
