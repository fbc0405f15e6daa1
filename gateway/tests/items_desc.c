/* items_desc.c - gwtest.Items as protoc-gen-silk would describe it, for the gateway's tests:
 * one method per verb, with {field} and {field=pattern} path parameters. */
#include <string.h>

#include "items_desc.h"

/* echo answers with the request (the response points into it, which outlives the handler),
 * the call's metadata, or the status the request asks for. */
static silk_status echo(silk_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp,
                        const void *handlers, void *user)
{
    const Gwtest__Item *in = (const Gwtest__Item *)req;
    Gwtest__Item *out = (Gwtest__Item *)resp;
    (void)handlers;
    (void)user;
    if (in->fail_code != 0)
        return silk_ctx_fail(ctx, (silk_status)in->fail_code, "failing with %d as asked",
                             in->fail_code);
    memcpy(out, in, sizeof *out);
    const char *bid = silk_ctx_business_id(ctx);
    const char *trace = silk_ctx_get(ctx, "x-trace");
    out->seen_business_id = silk_ctx_strdup(ctx, bid ? bid : "");
    out->seen_trace = silk_ctx_strdup(ctx, trace ? trace : "");
    return SILK_OK;
}

#define ITEMS_METHOD(n, verb, p)                                                                   \
    {                                                                                              \
        .name = n, .path = "/gwtest.Items/" n, .input = &gwtest__item__descriptor,                 \
        .output = &gwtest__item__descriptor, .http_verb = verb, .http_path = p, .invoke = echo     \
    }

static const silk_method_desc items_methods[] = {
    ITEMS_METHOD("List", SILK_HTTP_GET, "api/items"),
    ITEMS_METHOD("Get", SILK_HTTP_GET, "api/items/{id}"),
    ITEMS_METHOD("Special", SILK_HTTP_GET, "api/items/special"),
    ITEMS_METHOD("Create", SILK_HTTP_POST, "api/items"),
    ITEMS_METHOD("Update", SILK_HTTP_PUT, "api/items/{id}"),
    ITEMS_METHOD("Patch", SILK_HTTP_PATCH, "api/shelves/{shelf}/items/{id}"),
    ITEMS_METHOD("Delete", SILK_HTTP_DELETE, "api/items/{id}"),
    ITEMS_METHOD("Paged", SILK_HTTP_GET, "api/pages/{page.size}"),
    ITEMS_METHOD("Fail", SILK_HTTP_POST, "api/items/fail"),
    ITEMS_METHOD("File", SILK_HTTP_GET, "api/files/{id=**}"),
    ITEMS_METHOD("Book", SILK_HTTP_GET, "api/v1/{shelf=shelves/*}/books/{id}"),
};

const silk_service_desc gwtest_items_desc = {
    .name = "gwtest.Items",
    .route = "api/items",
    .n_methods = sizeof items_methods / sizeof items_methods[0],
    .methods = items_methods,
};
