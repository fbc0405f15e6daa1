/* service.h - service descriptors: what protoc-gen-silk emits for each service and method. */
#ifndef SILK_SERVICE_H
#define SILK_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include <silk/ctx.h>
#include <silk/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The runtime's version (SILK_VERSION_NUMBER, SILK_VERSION_STRING) and the oldest generator
 * whose code it compiles (SILK_MIN_COMPATIBLE_VERSION) come from the build's project version,
 * the one protoc-gen-silk writes into its output's compile-time check. */
#include <silk/version.h>

/* silk_invoke_fn is the typed trampoline generated for each method: it casts the messages
 * and calls the user's handler from the handler table, or returns SILK_UNIMPLEMENTED when
 * the table has no function for the method. The response has been initialised by the
 * server; fields the handler sets must point to memory that outlives the handler's return:
 * string literals, the request's fields, or silk_ctx_alloc() memory. The server frees only
 * the response structure itself. */
typedef silk_status (*silk_invoke_fn)(silk_ctx *ctx, const ProtobufCMessage *req,
                                      ProtobufCMessage *resp, const void *handlers, void *user);

/* silk_http_verb is the verb of a method's web route. */
typedef enum silk_http_verb {
    SILK_HTTP_POST = 0,
    SILK_HTTP_GET,
    SILK_HTTP_PUT,
    SILK_HTTP_DELETE,
    SILK_HTTP_PATCH,
} silk_http_verb;

/* silk_method_desc describes one method: its wire path, message types and options. */
typedef struct silk_method_desc {
    const char *name;                         /* "Echo" */
    const char *path;                         /* "/wstest.WsTest/Echo" */
    const ProtobufCMessageDescriptor *input;  /* request type */
    const ProtobufCMessageDescriptor *output; /* response type */
    silk_http_verb http_verb;                 /* default POST */
    const char *http_path;                    /* full path, "api/wstest/echo" */
    const char *hash_key;                     /* request field name, or NULL */
    uint32_t timeout_ms;                      /* 0: the default, 5000 */
    uint32_t retries;                         /* 0: the default, 3 (idempotent only) */
    bool idempotent;
    silk_invoke_fn invoke; /* server-side trampoline */
} silk_method_desc;

/* silk_service_desc describes one service, as declared in its .proto. */
typedef struct silk_service_desc {
    const char *name;  /* full name, "wstest.WsTest": the registry key */
    const char *route; /* "api/wstest", never with a leading or trailing '/' */
    bool websocket;    /* sessions may be opened on the route */
    size_t n_methods;
    const silk_method_desc *methods;
    size_t handlers_size; /* sizeof the generated handler table */
} silk_service_desc;

/* silk_service_find_method returns the method of desc with the given name ("Echo"), or NULL. */
const silk_method_desc *silk_service_find_method(const silk_service_desc *desc, const char *name);

#ifdef __cplusplus
}
#endif

#endif /* SILK_SERVICE_H */
