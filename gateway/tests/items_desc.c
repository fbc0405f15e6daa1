/* items_desc.c - gwtest.Items as protoc-gen-silk would describe it, for the gateway's tests:
 * one method per verb, with {field} and {field=pattern} path parameters, and a public one. */
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
    const char *subject = silk_ctx_get(ctx, "auth-subject");
    const char *claims = silk_ctx_get(ctx, "auth-claims");
    out->seen_business_id = silk_ctx_strdup(ctx, bid ? bid : "");
    out->seen_trace = silk_ctx_strdup(ctx, trace ? trace : "");
    out->seen_subject = silk_ctx_strdup(ctx, subject ? subject : "");
    out->seen_claims = silk_ctx_strdup(ctx, claims ? claims : "");
    return SILK_OK;
}

/* The web paths parsed, as protoc-gen-silk emits them (see silk_path_segment). */
static const silk_path_segment items[] = {
    {SILK_PATH_LITERAL, "api"},
    {SILK_PATH_LITERAL, "items"},
};
static const silk_path_segment item[] = {
    {SILK_PATH_LITERAL, "api"}, {SILK_PATH_LITERAL, "items"}, {SILK_PATH_VAR_BEGIN, "id"},
    {SILK_PATH_ANY, NULL},      {SILK_PATH_VAR_END, NULL},
};
static const silk_path_segment special[] = {
    {SILK_PATH_LITERAL, "api"},
    {SILK_PATH_LITERAL, "items"},
    {SILK_PATH_LITERAL, "special"},
};
static const silk_path_segment shelf_item[] = {
    {SILK_PATH_LITERAL, "api"},  {SILK_PATH_LITERAL, "shelves"}, {SILK_PATH_VAR_BEGIN, "shelf"},
    {SILK_PATH_ANY, NULL},       {SILK_PATH_VAR_END, NULL},      {SILK_PATH_LITERAL, "items"},
    {SILK_PATH_VAR_BEGIN, "id"}, {SILK_PATH_ANY, NULL},          {SILK_PATH_VAR_END, NULL},
};
static const silk_path_segment pages[] = {
    {SILK_PATH_LITERAL, "api"}, {SILK_PATH_LITERAL, "pages"}, {SILK_PATH_VAR_BEGIN, "page.size"},
    {SILK_PATH_ANY, NULL},      {SILK_PATH_VAR_END, NULL},
};
static const silk_path_segment fail[] = {
    {SILK_PATH_LITERAL, "api"},
    {SILK_PATH_LITERAL, "items"},
    {SILK_PATH_LITERAL, "fail"},
};
static const silk_path_segment files[] = {
    {SILK_PATH_LITERAL, "api"}, {SILK_PATH_LITERAL, "files"}, {SILK_PATH_VAR_BEGIN, "id"},
    {SILK_PATH_REST, NULL},     {SILK_PATH_VAR_END, NULL},
};
static const silk_path_segment public_items[] = {
    {SILK_PATH_LITERAL, "api"},
    {SILK_PATH_LITERAL, "public"},
    {SILK_PATH_LITERAL, "items"},
};
static const silk_path_segment book[] = {
    {SILK_PATH_LITERAL, "api"},     {SILK_PATH_LITERAL, "v1"},   {SILK_PATH_VAR_BEGIN, "shelf"},
    {SILK_PATH_LITERAL, "shelves"}, {SILK_PATH_ANY, NULL},       {SILK_PATH_VAR_END, NULL},
    {SILK_PATH_LITERAL, "books"},   {SILK_PATH_VAR_BEGIN, "id"}, {SILK_PATH_ANY, NULL},
    {SILK_PATH_VAR_END, NULL},
};

/* Every method takes a gwtest.Item, whose business_id is field 14; public ones need no token
 * at a gateway that verifies tokens. */
#define ITEMS_METHOD_OF(n, verb, p, segs, public)                                                  \
    {                                                                                              \
        .name = n, .path = "/gwtest.Items/" n, .input = &gwtest__item__descriptor,                 \
        .output = &gwtest__item__descriptor, .http_verb = verb, .http_path = p,                    \
        .http_segments = segs, .n_http_segments = sizeof segs / sizeof segs[0],                    \
        .business_id_field = 14, .public_access = public, .invoke = echo                           \
    }
#define ITEMS_METHOD(n, verb, p, segs) ITEMS_METHOD_OF(n, verb, p, segs, false)

static const silk_method_desc items_methods[] = {
    ITEMS_METHOD("List", SILK_HTTP_GET, "api/items", items),
    ITEMS_METHOD("Get", SILK_HTTP_GET, "api/items/{id}", item),
    ITEMS_METHOD("Special", SILK_HTTP_GET, "api/items/special", special),
    ITEMS_METHOD("Create", SILK_HTTP_POST, "api/items", items),
    ITEMS_METHOD("Update", SILK_HTTP_PUT, "api/items/{id}", item),
    ITEMS_METHOD("Patch", SILK_HTTP_PATCH, "api/shelves/{shelf}/items/{id}", shelf_item),
    ITEMS_METHOD("Delete", SILK_HTTP_DELETE, "api/items/{id}", item),
    ITEMS_METHOD("Paged", SILK_HTTP_GET, "api/pages/{page.size}", pages),
    ITEMS_METHOD("Fail", SILK_HTTP_POST, "api/items/fail", fail),
    ITEMS_METHOD("File", SILK_HTTP_GET, "api/files/{id=**}", files),
    ITEMS_METHOD("Book", SILK_HTTP_GET, "api/v1/{shelf=shelves/*}/books/{id}", book),
    ITEMS_METHOD_OF("PublicList", SILK_HTTP_GET, "api/public/items", public_items, true),
};

/* The [json_name]s of gwtest.proto's messages, as protoc-gen-silk would list them. */
static const silk_json_name items_json_names[] = {
    {&gwtest__item__descriptor, 15, "displayName"},
};

const silk_service_desc gwtest_items_desc = {
    .name = "gwtest.Items",
    .route = "api/items",
    .n_methods = sizeof items_methods / sizeof items_methods[0],
    .methods = items_methods,
    .json_names = items_json_names,
    .n_json_names = sizeof items_json_names / sizeof items_json_names[0],
};
