/* items_desc.h - gwtest.Items, a hand-made service descriptor for the gateway's tests. */
#ifndef GWTEST_ITEMS_DESC_H
#define GWTEST_ITEMS_DESC_H

#include <silk/silk.h>

#include "gwtest.pb-c.h"

/* gwtest_items_desc: GET/POST api/items, GET/PUT/DELETE api/items/{id}, GET
 * api/items/special, PATCH api/shelves/{shelf}/items/{id}, GET api/pages/{page.size}, POST
 * api/items/fail; every method answers with its request (see items_desc.c). */
extern const silk_service_desc gwtest_items_desc;

#endif /* GWTEST_ITEMS_DESC_H */
