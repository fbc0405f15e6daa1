/* gateway_main.c - silk-gateway for the seed: the gateway with WsTest's descriptor linked in. */
#include <silk/gateway.h>

#include "wstest.silk.h"

int main(int argc, char **argv)
{
    static const silk_service_desc *const services[] = {&wstest__ws_test__silk_desc};
    return silk_gateway_main(argc, argv, services, sizeof services / sizeof services[0]);
}
