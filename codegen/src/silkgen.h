/* silkgen.h - protoc-gen-silk's internals: one unit per entity, shared through this header. */
#ifndef SILKGEN_H
#define SILKGEN_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "google/protobuf/compiler/plugin.pb-c.h"
#include "google/protobuf/descriptor.pb-c.h"

/* The build passes the project's version; these are for builds that do not. */
#ifndef SILKGEN_VERSION_STRING
#define SILKGEN_VERSION_STRING "0.1.0"
#endif
/* The runtime version this generator writes code for, in SILK_VERSION_NUMBER's encoding
 * (major * 1000000 + minor * 1000 + patch). */
#ifndef SILKGEN_VERSION_NUMBER
#define SILKGEN_VERSION_NUMBER 1000
#endif

typedef Google__Protobuf__FileDescriptorProto silkgen_file_proto;
typedef Google__Protobuf__DescriptorProto silkgen_message_proto;
typedef Google__Protobuf__ServiceDescriptorProto silkgen_service_proto;
typedef Google__Protobuf__MethodDescriptorProto silkgen_method_proto;

/* ------------------------------------------------------------------------------------------ */
/* printer.c: a growable string buffer and the pieces of C every generator prints.            */
/* ------------------------------------------------------------------------------------------ */

typedef struct silkgen_buf {
    char *data;
    size_t len;
    size_t cap;
} silkgen_buf;

/* The generated code's line width, as the repo's .clang-format has it. */
#define SILKGEN_COLUMNS 100

/* silkgen_printf appends formatted text to buf. Like every allocation in the generator it
 * aborts when memory is exhausted: a code generator has nothing better to do. */
void silkgen_printf(silkgen_buf *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void silkgen_vprintf(silkgen_buf *buf, const char *fmt, va_list ap);
/* silkgen_buf_take returns buf's text (NUL-terminated, never NULL, the caller's to free) and
 * leaves buf empty. */
char *silkgen_buf_take(silkgen_buf *buf);
/* silkgen_buf_fini frees buf's text. */
void silkgen_buf_fini(silkgen_buf *buf);

/* silkgen_strdup is strdup that aborts when memory is exhausted. */
char *silkgen_strdup(const char *s);
/* silkgen_format returns a new formatted string, the caller's to free. */
char *silkgen_format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* silkgen_xcalloc is calloc that aborts when memory is exhausted; n may be 0. */
void *silkgen_xcalloc(size_t n, size_t size);

/* silkgen_print_cstr prints s as a C string literal. */
void silkgen_print_cstr(silkgen_buf *buf, const char *s);
/* silkgen_print_cstr_lines prints s as adjacent C string literals, a line each (the first
 * on the current line, the others after indent), every line within SILKGEN_COLUMNS. */
void silkgen_print_cstr_lines(silkgen_buf *buf, const char *indent, const char *s);
/* silkgen_print_proto_comment prints a comment from the .proto (SourceCodeInfo's leading
 * comment) as protobuf-c prints one: a block of " * " lines, indented; nothing in the text
 * can end the block early or open a nested one. Nothing is printed for NULL or blank text. */
void silkgen_print_proto_comment(silkgen_buf *buf, const char *indent, const char *text);
/* silkgen_print_doc prints a formatted sentence as a C comment, indented and wrapped at
 * SILKGEN_COLUMNS. */
void silkgen_print_doc(silkgen_buf *buf, const char *indent, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* silkgen_print_call prints "head(param, param...)" followed by tail, the parameters filling
 * lines of SILKGEN_COLUMNS, continued lines aligned after the '(', or all on new lines
 * indented four more than head when one would not fit there (as clang-format would). */
void silkgen_print_call(silkgen_buf *buf, const char *head, const char *const *params,
                        size_t n_params, const char *tail);

/* ------------------------------------------------------------------------------------------ */
/* value.c: JSON values as a tree, for the OpenAPI documents (openapi.c).                     */
/* ------------------------------------------------------------------------------------------ */

typedef enum silkgen_value_kind {
    SILKGEN_OBJECT,
    SILKGEN_ARRAY,
    SILKGEN_STRING,
    SILKGEN_LITERAL, /* true, false, null or a number, as written */
} silkgen_value_kind;

/* silkgen_value is a JSON value; an object keeps its members in the order they were set. */
typedef struct silkgen_value {
    silkgen_value_kind kind;
    char *text;                   /* STRING: its text (UTF-8, repaired); LITERAL: as written */
    char **keys;                  /* OBJECT: the members' names */
    struct silkgen_value **items; /* OBJECT: the members' values; ARRAY: the elements */
    size_t n, cap;
} silkgen_value;

/* The constructors; each value is the caller's until it is set or pushed into another. A
 * string's bytes that are not UTF-8 become U+FFFD, as the JSON mapping writes them. */
silkgen_value *silkgen_object(void);
silkgen_value *silkgen_array(void);
silkgen_value *silkgen_string(const char *s);
silkgen_value *silkgen_literal(const char *text);
/* silkgen_set makes v (taken) obj's member key, replacing (and freeing) one of that name, and
 * returns v. */
silkgen_value *silkgen_set(silkgen_value *obj, const char *key, silkgen_value *v);
/* silkgen_get returns obj's member key, or NULL (also when obj is NULL or no object). */
silkgen_value *silkgen_get(const silkgen_value *obj, const char *key);
/* silkgen_push appends v (taken) to arr and returns v. */
silkgen_value *silkgen_push(silkgen_value *arr, silkgen_value *v);
silkgen_value *silkgen_value_copy(const silkgen_value *v);
void silkgen_value_free(silkgen_value *v);
/* silkgen_value_print prints v as JSON: compact, or pretty (two spaces a level). */
void silkgen_value_print(const silkgen_value *v, bool pretty, silkgen_buf *out);

/* ------------------------------------------------------------------------------------------ */
/* names.c: protobuf-c's name mangling (so one program reads as one style) and silk's names.  */
/* ------------------------------------------------------------------------------------------ */

/* silkgen_c_name is protobuf-c's FullNameToC: the C type of a message or service declared in
 * file, from its full name (leading dot allowed): ".acme.shop_v1.Order.Line" gives
 * "Acme__ShopV1__Order__Line". file's (pb_c_file).c_package, if set, replaces its package.
 * Caller frees. */
char *silkgen_c_name(const char *full_name, const silkgen_file_proto *file);
/* silkgen_c_lower is protobuf-c's FullNameToLower, the prefix of functions and variables:
 * ".wstest.WsTest" gives "wstest__ws_test". Caller frees. */
char *silkgen_c_lower(const char *full_name, const silkgen_file_proto *file);
/* silkgen_camel_to_lower is protobuf-c's CamelToLower, used for method names:
 * "SendToBusiness" gives "send_to_business", "GetURL" gives "get_url". Caller frees. */
char *silkgen_camel_to_lower(const char *name);
/* silkgen_is_c_keyword tells whether name is reserved in C (it cannot name a field). */
bool silkgen_is_c_keyword(const char *name);
/* silkgen_proto_stem is protobuf-c's StripProto: "silk/ws.proto" gives "silk/ws". Caller
 * frees. */
char *silkgen_proto_stem(const char *proto_path);
/* silkgen_header_guard gives a generated header's include guard from its path:
 * "silk/ws.silk.h" gives "SILK_GENERATED_SILK_WS_SILK_H". Caller frees. */
char *silkgen_header_guard(const char *header_path);
/* silkgen_service_slug is a service's name in routes: lower-cased, without a trailing
 * "AppService" or "Service" ("OrderAppService" gives "order", "WsTest" gives "wstest").
 * Caller frees. */
char *silkgen_service_slug(const char *service_name);
/* silkgen_route expands a service's route template: NULL or "" means "api/{service}";
 * "{service}" is replaced by the service's slug; leading and trailing '/' are dropped.
 * Caller frees. */
char *silkgen_route(const char *route_template, const char *service_name);
/* silkgen_http_path is a method's full web path: route, then rel (an http rule's path,
 * relative to the route) or, when rel is NULL, the method name lower-cased. Slashes at
 * either end of rel are dropped. Caller frees. */
char *silkgen_http_path(const char *route, const char *rel, const char *method_name);

/* ------------------------------------------------------------------------------------------ */
/* options.c: silk's options, read from the options messages' unknown fields.                 */
/* ------------------------------------------------------------------------------------------ */

/* Field numbers of silk's options (proto/silk/options.proto). */
#define SILKGEN_OPT_ROUTE          50001
#define SILKGEN_OPT_WEBSOCKET      50002
#define SILKGEN_OPT_HTTP           50101
#define SILKGEN_OPT_HASH_KEY       50102
#define SILKGEN_OPT_TIMEOUT_MS     50103
#define SILKGEN_OPT_RETRIES        50104
#define SILKGEN_OPT_IDEMPOTENT     50105
#define SILKGEN_OPT_SERVICE_PUBLIC 50003
#define SILKGEN_OPT_METHOD_PUBLIC  50106
/* (silk.history), a silk.History message: size = 1, ttl_s = 2, and the values allowed. */
#define SILKGEN_OPT_HISTORY       50004
#define SILKGEN_HISTORY_SIZE      1
#define SILKGEN_HISTORY_TTL_S     2
#define SILKGEN_HISTORY_SIZE_MAX  100000
#define SILKGEN_HISTORY_TTL_S_MAX 86400
/* protobuf-c's own options (protobuf-c/protobuf-c.proto): pb_c_file = 1019, a
 * ProtobufCFileOptions whose c_package = 6 replaces the package in C names; pb_c_field, also
 * 1019, a ProtobufCFieldOptions whose string_as_bytes = 1 makes a string field bytes in C. */
#define SILKGEN_OPT_PB_C_FILE        1019
#define SILKGEN_PB_C_C_PACKAGE       6
#define SILKGEN_OPT_PB_C_FIELD       1019
#define SILKGEN_PB_C_STRING_AS_BYTES 1

/* silkgen_verb mirrors silk_http_verb in silk/service.h. */
typedef enum silkgen_verb {
    SILKGEN_POST = 0,
    SILKGEN_GET,
    SILKGEN_PUT,
    SILKGEN_DELETE,
    SILKGEN_PATCH,
} silkgen_verb;

/* silkgen_service_opts holds a service's silk options; zero is "all unset". */
typedef struct silkgen_service_opts {
    char *route; /* the template as written; NULL when unset */
    bool websocket;
    bool public_access;     /* (silk.public_service) */
    uint32_t history_size;  /* (silk.history).size; 0 when unset */
    uint32_t history_ttl_s; /* (silk.history).ttl_s; 0 when unset */
    uint32_t malformed;     /* the field number of the option found malformed; 0 when none */
} silkgen_service_opts;

/* silkgen_method_opts holds a method's silk options; zero is "all unset". */
typedef struct silkgen_method_opts {
    bool has_http;
    silkgen_verb verb; /* SILKGEN_POST unless an http rule says otherwise */
    char *http_path;   /* the rule's path, relative to the route; NULL without a rule */
    char *hash_key;    /* NULL when unset */
    uint32_t timeout_ms;
    uint32_t retries;
    bool idempotent;
    bool public_access; /* (silk.public) */
    uint32_t malformed; /* the field number of the option found malformed; 0 when none */
} silkgen_method_opts;

/* silkgen_service_opts_read fills out from opts (NULL: no options). It returns NULL on
 * success, or an error naming the malformed option (the caller's to free); out holds what
 * was read either way and must be released with silkgen_service_opts_fini(). */
char *silkgen_service_opts_read(const Google__Protobuf__ServiceOptions *opts,
                                silkgen_service_opts *out);
void silkgen_service_opts_fini(silkgen_service_opts *opts);
/* silkgen_method_opts_read is silkgen_service_opts_read for MethodOptions. */
char *silkgen_method_opts_read(const Google__Protobuf__MethodOptions *opts,
                               silkgen_method_opts *out);
void silkgen_method_opts_fini(silkgen_method_opts *opts);
/* silkgen_c_package returns file's (pb_c_file).c_package, or NULL when it is not set or
 * cannot be read. Caller frees. */
char *silkgen_c_package(const silkgen_file_proto *file);
/* silkgen_string_as_bytes tells whether field has protobuf-c's (pb_c_field).string_as_bytes
 * set, which makes protoc-c give a string field the C type and descriptor of bytes. */
bool silkgen_string_as_bytes(const Google__Protobuf__FieldDescriptorProto *field);

/* ------------------------------------------------------------------------------------------ */
/* run.c: one run over a CodeGeneratorRequest: errors, type lookup, request-wide checks.      */
/* ------------------------------------------------------------------------------------------ */

typedef struct silkgen_route_claim silkgen_route_claim;

/* silkgen_run is the state of one generator run. */
typedef struct silkgen_run {
    const Google__Protobuf__Compiler__CodeGeneratorRequest *req;
    silkgen_buf errors; /* "file: element: message\n" lines */
    size_t n_errors;
    silkgen_route_claim *routes; /* routes of the services generated so far */
    size_t n_routes;
} silkgen_run;

/* silkgen_run_init starts a run over req, which must outlive the run. */
void silkgen_run_init(silkgen_run *run,
                      const Google__Protobuf__Compiler__CodeGeneratorRequest *req);
void silkgen_run_fini(silkgen_run *run);
/* silkgen_error records an error naming where (the .proto file, with a line and column when
 * protoc gave source info: see silkgen_where) and the element ("pkg.Svc.Method"). */
void silkgen_error(silkgen_run *run, const char *file, const char *element, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* silkgen_find_file returns the request's file with that name, or NULL. */
const silkgen_file_proto *silkgen_find_file(const silkgen_run *run, const char *name);
/* silkgen_find_message finds a message by full name (".pkg.Outer.Inner") among all the
 * request's files, nested messages included, and sets *file to the file declaring it.
 * NULL when there is none. */
const silkgen_message_proto *silkgen_find_message(const silkgen_run *run, const char *full_name,
                                                  const silkgen_file_proto **file);

/* The deepest SourceCodeInfo path of a type silkgen_find_type finds: 15 levels of nesting. */
#define SILKGEN_TYPE_PATH_MAX 32

/* silkgen_type is a message or enum type of the request, and where it is declared. */
typedef struct silkgen_type {
    const silkgen_file_proto *file;
    const silkgen_message_proto *message;                     /* NULL for an enum */
    const Google__Protobuf__EnumDescriptorProto *enumeration; /* NULL for a message */
    int32_t path[SILKGEN_TYPE_PATH_MAX]; /* its SourceCodeInfo path in file: [4, i, 3, j...] */
    size_t path_len;
} silkgen_type;

/* silkgen_find_type finds a message or enum by full name (".pkg.Outer.Kind") among all the
 * request's files, nested types included, into *out; false when there is none. */
bool silkgen_find_type(const silkgen_run *run, const char *full_name, silkgen_type *out);
/* silkgen_comment returns the leading comment recorded for a SourceCodeInfo path in file,
 * or NULL (protoc records none without source info, or when there is no comment). */
const char *silkgen_comment(const silkgen_file_proto *file, const int32_t *path, size_t len);
/* silkgen_description returns the comment that documents the element at a SourceCodeInfo path
 * of file: its leading comment, else its trailing one ("int32 n = 1;  // the count"), as
 * one text without the space protoc keeps after each "//" and without blank lines at either
 * end; NULL when it has none. protoc sends source info only for the files it generates, so
 * types imported from other files have none. Caller frees. */
char *silkgen_description(const silkgen_file_proto *file, const int32_t *path, size_t len);
/* silkgen_where names a place in file for an error: "dir/a.proto:12:5" (line and column of
 * the SourceCodeInfo location of path, or of its longest prefix that has one), or just the
 * file's name when protoc sent no source info. Caller frees. */
char *silkgen_where(const silkgen_file_proto *file, const int32_t *path, size_t len);
/* silkgen_claim_route records that service (a full name, declared at where) answers on route
 * and reports an error when a service generated earlier in the run answers there already. */
void silkgen_claim_route(silkgen_run *run, const char *where, const char *service,
                         const char *route);

/* ------------------------------------------------------------------------------------------ */
/* message.c: what silk's descriptors say of the request and response types.                 */
/* ------------------------------------------------------------------------------------------ */

/* silkgen_json_default_name is protoc's ToJsonName, a field's JSON name without [json_name]:
 * each '_' dropped and an ASCII letter after one upper-cased ("page_token" gives
 * "pageToken", "_x" gives "X"). Caller frees. */
char *silkgen_json_default_name(const char *field_name);
/* silkgen_in_real_oneof tells whether f is a member of a oneof the .proto declares; a proto3
 * optional field is alone in a synthetic oneof protoc made for it, which does not count. */
bool silkgen_in_real_oneof(const Google__Protobuf__FieldDescriptorProto *f);
/* silkgen_business_id_field returns the number of msg's business_id field as the runtime
 * finds it in protobuf-c's descriptor: a field of msg itself named "business_id", of type
 * string (without string_as_bytes), not repeated, in no oneof but protoc's synthetic one of
 * a proto3 optional field. 0 when msg (NULL allowed) has no such field. */
uint32_t silkgen_business_id_field(const silkgen_message_proto *msg);

/* silkgen_json_name is one row of a service's json_names table. */
typedef struct silkgen_json_name {
    char *message_lower; /* the message's C prefix: "acme__shop_v1__order__line" */
    char *field_name;    /* "unit_price" */
    uint32_t number;
    char *json_name; /* "price" */
} silkgen_json_name;

/* silkgen_json_names is a json_names table being filled, and the messages visited so far. */
typedef struct silkgen_json_names {
    silkgen_json_name *rows;
    size_t n_rows;
    char **seen; /* full names, with the leading '.' */
    size_t n_seen;
} silkgen_json_names;

/* silkgen_json_names_add adds the rows of type_name (".pkg.Msg") and of every message it
 * reaches through message fields (map entries and their values included), each message
 * once, its rows together in the order its fields are declared. A type the request does not
 * describe is skipped. */
void silkgen_json_names_add(const silkgen_run *run, silkgen_json_names *names,
                            const char *type_name);
void silkgen_json_names_fini(silkgen_json_names *names);

/* ------------------------------------------------------------------------------------------ */
/* method.c and service.c: the entities, derived once, then printed.                          */
/* ------------------------------------------------------------------------------------------ */

/* silkgen_segment_kind mirrors silk_path_segment_kind in silk/service.h. */
typedef enum silkgen_segment_kind {
    SILKGEN_SEG_LITERAL = 0,
    SILKGEN_SEG_ANY,
    SILKGEN_SEG_REST,
    SILKGEN_SEG_VAR_BEGIN,
    SILKGEN_SEG_VAR_END,
} silkgen_segment_kind;

/* silkgen_segment is one element of a method's parsed web path (see silk_path_segment). */
typedef struct silkgen_segment {
    silkgen_segment_kind kind;
    char *text; /* the literal, or the bound field path; NULL for the others */
} silkgen_segment;

/* silkgen_method is what the generator derives for one method. */
typedef struct silkgen_method {
    const silkgen_method_proto *proto;
    char *full_name;           /* "wstest.WsTest.Echo": names the method in errors */
    char *lower;               /* handler field and call suffix: "send_to_business" */
    char *in_type;             /* "Wstest__EchoRequest" */
    char *in_lower;            /* "wstest__echo_request" */
    char *out_type;            /* "Google__Protobuf__Empty" */
    char *out_lower;           /* "google__protobuf__empty" */
    char *http_path;           /* "api/wstest/echo" */
    silkgen_segment *segments; /* http_path parsed, route included */
    size_t n_segments;
    uint32_t business_id_field; /* 0: none */
    silkgen_method_opts opts;
    const char *comment; /* from the .proto, or NULL */
} silkgen_method;

/* silkgen_service is what the generator derives for one service. */
typedef struct silkgen_service {
    const silkgen_file_proto *file;
    const silkgen_service_proto *proto;
    size_t index;    /* in file->service */
    char *full_name; /* "wstest.WsTest" */
    char *c_name;    /* "Wstest__WsTest" */
    char *c_lower;   /* "wstest__ws_test" */
    char *route;     /* "api/wstest" */
    bool websocket;
    bool public_access;    /* (silk.public_service): every method is public too */
    uint32_t history_size; /* (silk.history): 0 and 0 without history */
    uint32_t history_ttl_s;
    const char *comment;
    size_t n_methods;
    silkgen_method *methods;
    silkgen_json_names json_names; /* of every type its methods reach */
    silkgen_value *openapi;        /* its part of an OpenAPI document (openapi.c) */
} silkgen_service;

/* silkgen_method_where is silkgen_where for method index of svc: where option (a field
 * number of MethodOptions) is set, or the method when it is not set or option is 0. */
char *silkgen_method_where(const silkgen_service *svc, size_t index, int32_t option);
/* silkgen_service_where is silkgen_where for svc: where option (a field number of
 * ServiceOptions) is set, or the service when it is not set or option is 0. */
char *silkgen_service_where(const silkgen_service *svc, int32_t option);

/* silkgen_method_init derives method index of svc, reporting what is wrong with it. */
void silkgen_method_init(silkgen_run *run, const silkgen_service *svc, size_t index,
                         silkgen_method *m);
void silkgen_method_fini(silkgen_method *m);
/* The method's pieces of its service's output, in the order they appear. */
void silkgen_method_print_segments(const silkgen_service *svc, const silkgen_method *m,
                                   silkgen_buf *c);
void silkgen_method_print_handler(const silkgen_service *svc, const silkgen_method *m,
                                  silkgen_buf *h);
void silkgen_method_print_call_decls(const silkgen_service *svc, const silkgen_method *m,
                                     silkgen_buf *h);
void silkgen_method_print_invoke(const silkgen_service *svc, const silkgen_method *m,
                                 silkgen_buf *c);
void silkgen_method_print_desc(const silkgen_service *svc, const silkgen_method *m, silkgen_buf *c);
void silkgen_method_print_calls(const silkgen_service *svc, const silkgen_method *m, size_t index,
                                silkgen_buf *c);

/* silkgen_service_init derives service index of file and its methods, reporting errors. */
void silkgen_service_init(silkgen_run *run, const silkgen_file_proto *file, size_t index,
                          silkgen_service *svc);
void silkgen_service_fini(silkgen_service *svc);
/* silkgen_service_print_h prints the service's declarations; _c its definitions, which use
 * the tables _print_segments and _print_json_names print before them (_print_json_names
 * prints nothing when the service has no rows). */
void silkgen_service_print_h(const silkgen_service *svc, silkgen_buf *h);
void silkgen_service_print_segments(const silkgen_service *svc, silkgen_buf *c);
void silkgen_service_print_json_names(const silkgen_service *svc, silkgen_buf *c);
/* silkgen_service_print_openapi prints the service's part of an OpenAPI document as the C
 * string silk_service_desc.openapi points to. */
void silkgen_service_print_openapi(const silkgen_service *svc, silkgen_buf *c);
void silkgen_service_print_c(const silkgen_service *svc, silkgen_buf *c);

/* ------------------------------------------------------------------------------------------ */
/* openapi.c: OpenAPI 3.1, a service's part and silkc's whole document (docs/codegen.md).    */
/* ------------------------------------------------------------------------------------------ */

/* silkgen_openapi_service returns svc's part of an OpenAPI 3.1 document (the caller's):
 * {"tags": [svc], "paths": {its methods' operations}, "components": {"schemas": {every message
 * and enum they reach, and silk.Error}, "parameters": {...}, "responses": {silk.Error}}}, each
 * as the gateway serves and maps it, the .proto's comments as descriptions. */
silkgen_value *silkgen_openapi_service(const silkgen_run *run, const silkgen_service *svc);
/* silkgen_openapi_document returns an OpenAPI 3.1 document with nothing in it yet, titled
 * with the services' names[0..n) (joined by ", "; "silk" for none). */
silkgen_value *silkgen_openapi_document(const char *const *names, size_t n);
/* silkgen_openapi_merge adds what a service's part has and doc has not: its tag, the
 * operations of each path, each component (a name doc has already keeps doc's). The
 * gateway's /openapi.json merges the same way (gateway/src/http/openapi.c). */
void silkgen_openapi_merge(silkgen_value *doc, const silkgen_value *frag);
/* silkgen_openapi_generate returns the document of every service of the request's files to
 * generate, indented, with the errors of their options reported to run (caller frees). */
char *silkgen_openapi_generate(silkgen_run *run);

/* ------------------------------------------------------------------------------------------ */
/* file.c: one .proto file's foo.silk.h and foo.silk.c.                                       */
/* ------------------------------------------------------------------------------------------ */

/* silkgen_file_output is one generated file. */
typedef struct silkgen_file_output {
    char *name; /* relative to the output folder: "silk/ws.silk.h" */
    char *content;
} silkgen_file_output;

/* silkgen_file_generate generates file's header (out[0]) and source (out[1]); both are
 * written for every file, the services section only when it has services. Errors go to
 * run; the outputs are filled anyway and are the caller's to free. */
void silkgen_file_generate(silkgen_run *run, const silkgen_file_proto *file,
                           silkgen_file_output out[2]);

#endif /* SILKGEN_H */
