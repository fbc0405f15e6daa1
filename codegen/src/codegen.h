/* codegen.h - protoc-gen-silk's internals: one unit per entity, shared through this header. */
#ifndef SILK_CODEGEN_H
#define SILK_CODEGEN_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "google/protobuf/compiler/plugin.pb-c.h"
#include "google/protobuf/descriptor.pb-c.h"

#define SILKGEN_VERSION_STRING "0.1.0"
/* The runtime version this generator writes code for (SILK_VERSION_NUMBER's encoding). */
#define SILKGEN_VERSION_NUMBER 1000

/* --- printer.c: a growable string --- */

typedef struct silkgen_buf {
    char *data;
    size_t len;
    size_t cap;
} silkgen_buf;

/* silkgen_printf appends formatted text; it aborts when memory is exhausted (a code
 * generator has nothing better to do). */
void silkgen_printf(silkgen_buf *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* silkgen_buf_take returns the text (NUL-terminated, the caller's to free) and empties buf. */
char *silkgen_buf_take(silkgen_buf *buf);
void silkgen_buf_fini(silkgen_buf *buf);
/* silkgen_strdup is strdup that aborts when memory is exhausted. */
char *silkgen_strdup(const char *s);
/* silkgen_strdup_printf formats into a new string (the caller's to free). */
char *silkgen_strdup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* --- names.c: protobuf-c's name mangling, and silk's own names --- */

/* silkgen_type_name turns a full name ("a.b_c.Outer.Inner", leading dot allowed) into
 * protobuf-c's C type name ("A__BC__Outer__Inner"). Caller frees. */
char *silkgen_type_name(const char *full_name);
/* silkgen_lower_name turns a full name into protobuf-c's lower-case prefix
 * ("a__b_c__outer__inner"). Caller frees. */
char *silkgen_lower_name(const char *full_name);
/* silkgen_camel_to_lower is protobuf-c's CamelToLower ("GetURL" -> "get_url"). */
char *silkgen_camel_to_lower(const char *name);
/* silkgen_file_stem returns the proto path without ".proto" ("silk/ws"). Caller frees. */
char *silkgen_file_stem(const char *proto_path);
/* silkgen_file_ident is protobuf-c's FilenameIdentifier ("wstest.proto" -> "wstest_2eproto"). */
char *silkgen_file_ident(const char *proto_path);
/* silkgen_route expands a route template for a service: NULL or "" gives "api/{service}";
 * "{service}" becomes the name lower-cased without a trailing "AppService" or "Service";
 * leading and trailing '/' are dropped. Caller frees. */
char *silkgen_route(const char *route_template, const char *service_name);
/* silkgen_lowercase returns s lower-cased. Caller frees. */
char *silkgen_lowercase(const char *s);

/* --- options.c: silk's options, read from the options messages' unknown fields --- */

typedef enum silkgen_verb {
    SILKGEN_POST = 0,
    SILKGEN_GET,
    SILKGEN_PUT,
    SILKGEN_DELETE,
    SILKGEN_PATCH,
} silkgen_verb;

typedef struct silkgen_service_opts {
    char *route; /* NULL when unset */
    bool websocket;
} silkgen_service_opts;

typedef struct silkgen_method_opts {
    bool has_http;
    silkgen_verb verb;
    char *http_path; /* relative to the route; NULL when unset */
    char *hash_key;  /* NULL when unset */
    uint32_t timeout_ms;
    uint32_t retries;
    bool idempotent;
} silkgen_method_opts;

/* Field numbers of silk's options (proto/silk/options.proto). */
#define SILKGEN_OPT_ROUTE      50001
#define SILKGEN_OPT_WEBSOCKET  50002
#define SILKGEN_OPT_HTTP       50101
#define SILKGEN_OPT_HASH_KEY   50102
#define SILKGEN_OPT_TIMEOUT_MS 50103
#define SILKGEN_OPT_RETRIES    50104
#define SILKGEN_OPT_IDEMPOTENT 50105

/* silkgen_read_service_opts fills out from a ServiceOptions' unknown fields (opts may be NULL).
 * It returns NULL on success or an error message (static) for a malformed option. */
const char *silkgen_read_service_opts(const ProtobufCMessage *opts, silkgen_service_opts *out);
/* silkgen_read_method_opts does the same for MethodOptions. */
const char *silkgen_read_method_opts(const ProtobufCMessage *opts, silkgen_method_opts *out);
void silkgen_service_opts_fini(silkgen_service_opts *o);
void silkgen_method_opts_fini(silkgen_method_opts *o);

/* --- file.c / service.c: the generators --- */

/* silkgen_ctx is what a generator needs to know about the request. */
typedef struct silkgen_ctx {
    const Google__Protobuf__Compiler__CodeGeneratorRequest *req;
    silkgen_buf errors; /* "file: element: message\n" lines */
} silkgen_ctx;

/* silkgen_error records a generation error naming the file and the element. */
void silkgen_error(silkgen_ctx *g, const char *file, const char *element, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* silkgen_find_message finds a message by full name (".pkg.Msg") among every file of the
 * request, nested ones included; NULL when absent. */
const Google__Protobuf__DescriptorProto *silkgen_find_message(const silkgen_ctx *g,
                                                              const char *full_name);

/* silkgen_comment returns the leading comment protoc recorded for a path in file (NULL when
 * there is none). */
const char *silkgen_comment(const Google__Protobuf__FileDescriptorProto *file, const int32_t *path,
                            size_t path_len);

/* silkgen_service_emit writes one service's declarations (h) and definitions (c). */
void silkgen_service_emit(silkgen_ctx *g, const Google__Protobuf__FileDescriptorProto *file,
                          size_t index, silkgen_buf *h, silkgen_buf *c);

/* silkgen_file_emit generates foo.silk.h and foo.silk.c for one file. The contents are new
 * strings (the caller's). */
void silkgen_file_emit(silkgen_ctx *g, const Google__Protobuf__FileDescriptorProto *file,
                       char **h_name, char **h_text, char **c_name, char **c_text);

#endif /* SILK_CODEGEN_H */
