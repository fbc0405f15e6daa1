/* items_service.c - silk-gateway-items: serves gwtest.Items (items_desc.c) until SIGTERM. */
#include <stdio.h>

#include "items_desc.h"

int main(void)
{
    silk_server *srv = silk_server_new(NULL);
    if (srv == NULL)
        return 1;
    silk_status st = silk_server_add_service(srv, &gwtest_items_desc, NULL, NULL);
    if (st != SILK_OK) {
        fprintf(stderr, "silk-gateway-items: %s\n", silk_status_str(st));
        silk_server_free(srv);
        return 1;
    }
    return silk_server_run(srv);
}
