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

/* silk_path_segment_kind says what one element of a parsed web path template stands for. */
typedef enum silk_path_segment_kind {
    SILK_PATH_LITERAL = 0, /* one request segment, the text written in the template */
    SILK_PATH_ANY,         /* "*": any one non-empty segment */
    SILK_PATH_REST,        /* "**": the rest of the path, one or more segments; always last */
    SILK_PATH_VAR_BEGIN,   /* a {field} or {field=pattern} binding opens; matches no segment */
    SILK_PATH_VAR_END,     /* the binding opened last closes; matches no segment */
} silk_path_segment_kind;

/* silk_path_segment is one element of a method's web path, parsed by protoc-gen-silk so that
 * nothing parses the template at run time. The elements between a SILK_PATH_VAR_BEGIN and the
 * next SILK_PATH_VAR_END are one or more LITERAL, ANY and REST elements (bindings never nest);
 * the request segments they match, with the '/' between them, are the value of the field.
 * "api/items/{id}" is LITERAL "api", LITERAL "items", VAR_BEGIN "id", ANY, VAR_END;
 * "{name=shelves/ *}" (without the space) is VAR_BEGIN "name", LITERAL "shelves", ANY, VAR_END. */
typedef struct silk_path_segment {
    silk_path_segment_kind kind;
    /* LITERAL: the segment as the template writes it ("items"); VAR_BEGIN: the field, a
     * dotted path through singular message fields of the request ("id", "page.size");
     * NULL for ANY, REST and VAR_END. */
    const char *text;
} silk_path_segment;

/* silk_method_desc describes one method: its wire path, message types and options. */
typedef struct silk_method_desc {
    const char *name;                         /* "Echo" */
    const char *path;                         /* "/wstest.WsTest/Echo" */
    const ProtobufCMessageDescriptor *input;  /* request type */
    const ProtobufCMessageDescriptor *output; /* response type */
    silk_http_verb http_verb;                 /* default POST */
    const char *http_path;                    /* full path, "api/wstest/echo" */
    /* http_path parsed, route included, one element per segment or binding edge: the
     * generator always fills them (a path has at least one segment); NULL and 0 in a
     * descriptor made by hand without them. */
    const silk_path_segment *http_segments;
    size_t n_http_segments;
    const char *hash_key; /* request field name, or NULL */
    /* The number of the request's business_id field, 0 when it has none. It counts only a
     * top-level field of that name, of type string (not bytes, nor string_as_bytes), not
     * repeated and not a member of a oneof (a proto3 optional field counts: its oneof is
     * protoc's synthetic one); field numbers start at 1, so 0 is "none". */
    uint32_t business_id_field;
    uint32_t timeout_ms; /* 0: the default, 5000 */
    uint32_t retries;    /* 0: the default, 3 (idempotent only) */
    bool idempotent;
    /* The gateway serves it without a token even when it verifies tokens: the method has
     * option (silk.public) = true, or its service (silk.public_service) = true. */
    bool public_access;
    silk_invoke_fn invoke; /* server-side trampoline */
} silk_method_desc;

/* silk_json_name is a field whose JSON name is not the default one: protobuf-c's descriptors
 * carry no json_name, so the generator lists the fields whose [json_name] option differs
 * from the lowerCamelCase of the field name (protoc's rule: each '_' dropped and the ASCII
 * letter after it upper-cased, as silk_json_field_name() gives it). */
typedef struct silk_json_name {
    const ProtobufCMessageDescriptor *message; /* the message the field belongs to */
    uint32_t field;                            /* its number */
    const char *json_name;                     /* as [json_name] gives it */
} silk_json_name;

/* silk_service_desc describes one service, as declared in its .proto. */
typedef struct silk_service_desc {
    const char *name;  /* full name, "wstest.WsTest": the registry key */
    const char *route; /* "api/wstest", never with a leading or trailing '/' */
    bool websocket;    /* sessions may be opened on the route */
    /* option (silk.public_service) = true: the gateway opens sessions on the route and serves
     * every method without a token (each method's public_access is set too). */
    bool public_access;
    /* option (silk.history): messages kept per (route, business id) stream, and for how
     * long after the last push, in seconds; 0 and 0 without history (docs/proto-options.md). */
    uint32_t history_size;
    uint32_t history_ttl_s;
    size_t n_methods;
    const silk_method_desc *methods;
    size_t handlers_size; /* sizeof the generated handler table */
    /* The fields with a JSON name of their own, in every message a method's request or
     * response reaches (through message fields, map values, nested and imported types);
     * one message's fields are adjacent. NULL and 0 when there are none. */
    const silk_json_name *json_names;
    size_t n_json_names;
    /* The service's part of an OpenAPI 3.1 document, as compact JSON: {"tags": [the service,
     * its comment], "paths": {each method's operation, as the gateway serves it}, "components":
     * {"schemas": {every message and enum its methods reach, as the JSON mapping writes them,
     * and silk.Error}, "parameters": {...}, "responses": {"silk.Error": the error body}}}, the
     * .proto's comments as descriptions; each operation's reply is its responses' "200"
     * content "application/json" schema. silk-gateway --openapi merges the parts of the
     * services it routes into GET /openapi.json, and silkc --openapi writes the same parts as
     * one document (docs/codegen.md, "OpenAPI"). NULL in a descriptor made by hand. */
    const char *openapi;
} silk_service_desc;

/* silk_service_find_method returns the method of desc with the given name ("Echo"), or NULL. */
const silk_method_desc *silk_service_find_method(const silk_service_desc *desc, const char *name);

/* silk_method_business_id returns the value of req's business_id field (the one
 * method->business_id_field names) when it is set and not empty, else NULL: also when req is
 * not a method->input. The string is req's. Any thread. */
const char *silk_method_business_id(const silk_method_desc *method, const ProtobufCMessage *req);

#ifdef __cplusplus
}
#endif

#endif /* SILK_SERVICE_H */
