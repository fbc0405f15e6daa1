/* ctl_main.c - silk-ctl for the seed: silk's grpcurl with WsTest's descriptor linked in. */
#include <silk/ctl.h>

#include "wstest.silk.h"

int main(int argc, char **argv)
{
    static const silk_service_desc *const services[] = {&wstest__ws_test__silk_desc};
    return silk_ctl_main(argc, argv, services, sizeof services / sizeof services[0]);
}
