/* ctl_test_main.c - silk-ctl-test: silk-ctl with gwtest.Items linked in, for gateway_test.py. */
#include <silk/ctl.h>

#include "items_desc.h"

int main(int argc, char **argv)
{
    static const silk_service_desc *const services[] = {&gwtest_items_desc};
    return silk_ctl_main(argc, argv, services, 1);
}
