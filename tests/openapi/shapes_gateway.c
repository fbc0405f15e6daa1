/* shapes_gateway.c - silk-gateway-shapes: the gateway with shapes.v1.Shapes linked in. */
#include <silk/gateway.h>

#include "shapes.silk.h"

int main(int argc, char **argv)
{
    static const silk_service_desc *const services[] = {&shapes__v1__shapes__silk_desc};
    return silk_gateway_main(argc, argv, services, sizeof services / sizeof services[0]);
}
