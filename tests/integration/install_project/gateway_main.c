/* gateway_main.c - a user's own silk-gateway: the gateway with GreeterService's descriptor. */
#include <silk/gateway.h>

#include "greet/v1/greeter.silk.h"

int main(int argc, char **argv)
{
    static const silk_service_desc *const services[] = {&greet__v1__greeter_service__silk_desc};
    return silk_gateway_main(argc, argv, services, sizeof services / sizeof services[0]);
}
