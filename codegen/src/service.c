/* service.c - generates one service: its descriptor, handler table, serve function and calls. */
#include <stdlib.h>
#include <string.h>

#include "codegen.h"

/* method_info is what the generator derives for one method. */
typedef struct method_info {
    const Google__Protobuf__MethodDescriptorProto *proto;
    silkgen_method_opts opts;
    char *field;     /* handler field and call suffix: "send_to_business" */
    char *in_type;   /* "Wstest__EchoRequest" */
    char *in_lower;  /* "wstest__echo_request" */
    char *out_type;  /* "Google__Protobuf__Empty" */
    char *out_lower; /* "google__protobuf__empty" */
    char *http_path; /* "api/wstest/echo" */
    const char *comment;
} method_info;

/* service_info is what the generator derives for one service. */
typedef struct service_info {
    const Google__Protobuf__ServiceDescriptorProto *proto;
    char *full_name; /* "wstest.WsTest" */
    char *type;      /* "Wstest__WsTest" */
    char *lower;     /* "wstest__ws_test" */
    char *route;     /* "api/wstest" */
    bool websocket;
    const char *comment;
    size_t n_methods;
    method_info *methods;
} service_info;

static const char *const verb_names[] = {
    [SILKGEN_POST] = "SILK_HTTP_POST",   [SILKGEN_GET] = "SILK_HTTP_GET",
    [SILKGEN_PUT] = "SILK_HTTP_PUT",     [SILKGEN_DELETE] = "SILK_HTTP_DELETE",
    [SILKGEN_PATCH] = "SILK_HTTP_PATCH",
};

/* emit_cstr writes s as a C string literal. */
static void emit_cstr(silkgen_buf *out, const char *s)
{
    silkgen_printf(out, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\')
            silkgen_printf(out, "\\%c", *p);
        else if (*p < 0x20 || *p >= 0x7f)
            silkgen_printf(out, "\\%03o", *p);
        else
            silkgen_printf(out, "%c", *p);
    }
    silkgen_printf(out, "\"");
}

/* emit_comment copies a proto comment as a C comment, indented, never closing early. */
static void emit_comment(silkgen_buf *out, const char *indent, const char *comment)
{
    if (comment == NULL || *comment == '\0')
        return;
    silkgen_printf(out, "%s/*", indent);
    const char *line = comment;
    while (*line != '\0') {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        if (line != comment)
            silkgen_printf(out, "\n%s *", indent);
        for (size_t i = 0; i < len; i++) {
            if (line[i] == '*' && i + 1 < len && line[i + 1] == '/')
                silkgen_printf(out, "* ");
            else
                silkgen_printf(out, "%c", line[i]);
        }
        line += len + (nl != NULL);
        if (*line == '\0' || strspn(line, " \n") == strlen(line))
            break;
    }
    silkgen_printf(out, " */\n");
}

/* field_is_scalar tells whether a field can be a hash key: singular, not a message. */
static bool field_is_scalar(const Google__Protobuf__FieldDescriptorProto *f)
{
    return f->label != GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_REPEATED &&
           f->type != GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_MESSAGE &&
           f->type != GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_GROUP;
}

static void check_hash_key(silkgen_ctx *g, const char *file, const char *element,
                           const method_info *m)
{
    const Google__Protobuf__DescriptorProto *msg = silkgen_find_message(g, m->proto->input_type);
    if (msg == NULL)
        return;
    for (size_t i = 0; i < msg->n_field; i++) {
        if (strcmp(msg->field[i]->name, m->opts.hash_key) != 0)
            continue;
        if (!field_is_scalar(msg->field[i]))
            silkgen_error(g, file, element, "hash_key \"%s\" is not a scalar field of %s",
                          m->opts.hash_key, m->proto->input_type + 1);
        return;
    }
    silkgen_error(g, file, element, "hash_key \"%s\" names no field of %s", m->opts.hash_key,
                  m->proto->input_type + 1);
}

static void method_init(silkgen_ctx *g, const Google__Protobuf__FileDescriptorProto *file,
                        const service_info *s, size_t si, size_t mi, method_info *m)
{
    const Google__Protobuf__MethodDescriptorProto *mp = s->proto->method[mi];
    char *element = silkgen_strdup_printf("%s.%s", s->full_name, mp->name);
    m->proto = mp;
    const char *err = silkgen_read_method_opts(mp->options ? &mp->options->base : NULL, &m->opts);
    if (err != NULL)
        silkgen_error(g, file->name, element, "bad silk option: %s", err);
    if (mp->client_streaming || mp->server_streaming)
        silkgen_error(g, file->name, element,
                      "streaming methods are not supported yet; make it unary");
    if (m->opts.hash_key != NULL)
        check_hash_key(g, file->name, element, m);
    m->field = silkgen_camel_to_lower(mp->name);
    m->in_type = silkgen_type_name(mp->input_type);
    m->in_lower = silkgen_lower_name(mp->input_type);
    m->out_type = silkgen_type_name(mp->output_type);
    m->out_lower = silkgen_lower_name(mp->output_type);
    char *rel = m->opts.http_path
                    ? silkgen_strdup(m->opts.http_path + strspn(m->opts.http_path, "/"))
                    : silkgen_lowercase(mp->name);
    m->http_path = *rel ? silkgen_strdup_printf("%s/%s", s->route, rel) : silkgen_strdup(s->route);
    free(rel);
    const int32_t path[] = {6, (int32_t)si, 2, (int32_t)mi};
    m->comment = silkgen_comment(file, path, 4);
    free(element);
}

static void service_init(silkgen_ctx *g, const Google__Protobuf__FileDescriptorProto *file,
                         size_t si, service_info *s)
{
    s->proto = file->service[si];
    s->full_name = file->package && *file->package
                       ? silkgen_strdup_printf("%s.%s", file->package, s->proto->name)
                       : silkgen_strdup(s->proto->name);
    s->type = silkgen_type_name(s->full_name);
    s->lower = silkgen_lower_name(s->full_name);
    silkgen_service_opts opts;
    const char *err =
        silkgen_read_service_opts(s->proto->options ? &s->proto->options->base : NULL, &opts);
    if (err != NULL)
        silkgen_error(g, file->name, s->full_name, "bad silk option: %s", err);
    s->route = silkgen_route(opts.route, s->proto->name);
    s->websocket = opts.websocket;
    silkgen_service_opts_fini(&opts);
    const int32_t path[] = {6, (int32_t)si};
    s->comment = silkgen_comment(file, path, 2);
    s->n_methods = s->proto->n_method;
    s->methods = calloc(s->n_methods ? s->n_methods : 1, sizeof *s->methods);
    if (s->methods == NULL)
        abort();
    for (size_t mi = 0; mi < s->n_methods; mi++)
        method_init(g, file, s, si, mi, &s->methods[mi]);
}

static void service_fini(service_info *s)
{
    for (size_t i = 0; i < s->n_methods; i++) {
        method_info *m = &s->methods[i];
        silkgen_method_opts_fini(&m->opts);
        free(m->field);
        free(m->in_type);
        free(m->in_lower);
        free(m->out_type);
        free(m->out_lower);
        free(m->http_path);
    }
    free(s->methods);
    free(s->full_name);
    free(s->type);
    free(s->lower);
    free(s->route);
}

static void emit_header(const service_info *s, silkgen_buf *h)
{
    emit_comment(h, "", s->comment);
    silkgen_printf(h, "/* %s: route \"%s\"%s. */\n", s->full_name, s->route,
                   s->websocket ? ", WebSocket sessions" : "");
    silkgen_printf(h, "extern const silk_service_desc %s__silk_desc;\n\n", s->lower);
    silkgen_printf(h,
                   "/* %s_Handlers is the table of %s's handlers; a NULL entry answers\n"
                   " * UNIMPLEMENTED. */\n",
                   s->type, s->proto->name);
    silkgen_printf(h, "typedef struct %s_Handlers {\n", s->type);
    for (size_t i = 0; i < s->n_methods; i++) {
        const method_info *m = &s->methods[i];
        emit_comment(h, "    ", m->comment);
        silkgen_printf(h,
                       "    silk_status (*%s)(silk_ctx *ctx, const %s *req, %s *resp, "
                       "void *user);\n",
                       m->field, m->in_type, m->out_type);
    }
    if (s->n_methods == 0)
        silkgen_printf(h, "    void *reserved;\n");
    silkgen_printf(h, "} %s_Handlers;\n\n", s->type);
    silkgen_printf(h,
                   "/* %s__serve hosts %s on srv with a copy of handlers; user is passed to\n"
                   " * every handler. See silk_server_add_service(). */\n"
                   "silk_status %s__serve(silk_server *srv, const %s_Handlers *handlers, "
                   "void *user);\n",
                   s->lower, s->proto->name, s->lower, s->type);
    for (size_t i = 0; i < s->n_methods; i++) {
        const method_info *m = &s->methods[i];
        silkgen_printf(h,
                       "\n/* %s__call_%s calls %s.%s and waits for the reply; on SILK_OK *resp\n"
                       " * is the caller's to free with %s__free_unpacked(). See silk_call(). */\n"
                       "silk_status %s__call_%s(silk_channel *ch, silk_ctx *ctx, const %s *req,\n"
                       "    %s **resp);\n",
                       s->lower, m->field, s->proto->name, m->proto->name, m->out_lower, s->lower,
                       m->field, m->in_type, m->out_type);
        silkgen_printf(h,
                       "/* %s__call_%s_async starts the call and returns at once; cb runs\n"
                       " * exactly once unless this returns an error. See silk_call_async(). */\n"
                       "silk_status %s__call_%s_async(silk_channel *ch, silk_ctx *ctx, "
                       "const %s *req,\n    silk_call_cb cb, void *arg);\n",
                       s->lower, m->field, s->lower, m->field, m->in_type);
    }
    silkgen_printf(h, "\n");
}

static void emit_method_entry(const service_info *s, const method_info *m, silkgen_buf *c)
{
    silkgen_printf(c, "    {\n        .name = ");
    emit_cstr(c, m->proto->name);
    silkgen_printf(c, ",\n        .path = \"/%s/%s\",\n", s->full_name, m->proto->name);
    silkgen_printf(c, "        .input = &%s__descriptor,\n", m->in_lower);
    silkgen_printf(c, "        .output = &%s__descriptor,\n", m->out_lower);
    silkgen_printf(c, "        .http_verb = %s,\n        .http_path = ", verb_names[m->opts.verb]);
    emit_cstr(c, m->http_path);
    silkgen_printf(c, ",\n        .hash_key = ");
    if (m->opts.hash_key)
        emit_cstr(c, m->opts.hash_key);
    else
        silkgen_printf(c, "NULL");
    silkgen_printf(c,
                   ",\n        .timeout_ms = %u,\n        .retries = %u,\n"
                   "        .idempotent = %s,\n        .invoke = %s__%s__invoke,\n    },\n",
                   m->opts.timeout_ms, m->opts.retries, m->opts.idempotent ? "true" : "false",
                   s->lower, m->field);
}

static void emit_source(const service_info *s, silkgen_buf *c)
{
    for (size_t i = 0; i < s->n_methods; i++) {
        const method_info *m = &s->methods[i];
        silkgen_printf(c,
                       "static silk_status %s__%s__invoke(silk_ctx *ctx, const ProtobufCMessage "
                       "*req,\n    ProtobufCMessage *resp, const void *handlers, void *user)\n"
                       "{\n"
                       "    const %s_Handlers *h = handlers;\n"
                       "    if (h->%s == NULL)\n"
                       "        return SILK_UNIMPLEMENTED;\n"
                       "    return h->%s(ctx, (const %s *)req, (%s *)resp, user);\n"
                       "}\n\n",
                       s->lower, m->field, s->type, m->field, m->field, m->in_type, m->out_type);
    }
    if (s->n_methods > 0) {
        silkgen_printf(c, "static const silk_method_desc %s__silk_methods[%zu] = {\n", s->lower,
                       s->n_methods);
        for (size_t i = 0; i < s->n_methods; i++)
            emit_method_entry(s, &s->methods[i], c);
        silkgen_printf(c, "};\n\n");
    }
    silkgen_printf(c, "const silk_service_desc %s__silk_desc = {\n    .name = \"%s\",\n", s->lower,
                   s->full_name);
    silkgen_printf(c, "    .route = ");
    emit_cstr(c, s->route);
    silkgen_printf(c, ",\n    .websocket = %s,\n    .n_methods = %zu,\n",
                   s->websocket ? "true" : "false", s->n_methods);
    if (s->n_methods > 0)
        silkgen_printf(c, "    .methods = %s__silk_methods,\n", s->lower);
    else
        silkgen_printf(c, "    .methods = NULL,\n");
    silkgen_printf(c, "    .handlers_size = sizeof(%s_Handlers),\n};\n\n", s->type);
    silkgen_printf(c,
                   "silk_status %s__serve(silk_server *srv, const %s_Handlers *handlers, "
                   "void *user)\n{\n"
                   "    return silk_server_add_service(srv, &%s__silk_desc, handlers, user);\n"
                   "}\n",
                   s->lower, s->type, s->lower);
    for (size_t i = 0; i < s->n_methods; i++) {
        const method_info *m = &s->methods[i];
        silkgen_printf(c,
                       "\nsilk_status %s__call_%s(silk_channel *ch, silk_ctx *ctx, const %s *req,\n"
                       "    %s **resp)\n{\n"
                       "    ProtobufCMessage *out = NULL;\n"
                       "    silk_status st = silk_call(ch, ctx, &%s__silk_methods[%zu], "
                       "&req->base, &out);\n"
                       "    *resp = (%s *)out;\n"
                       "    return st;\n}\n",
                       s->lower, m->field, m->in_type, m->out_type, s->lower, i, m->out_type);
        silkgen_printf(c,
                       "\nsilk_status %s__call_%s_async(silk_channel *ch, silk_ctx *ctx, "
                       "const %s *req,\n    silk_call_cb cb, void *arg)\n{\n"
                       "    return silk_call_async(ch, ctx, &%s__silk_methods[%zu], &req->base, "
                       "cb, arg);\n}\n",
                       s->lower, m->field, m->in_type, s->lower, i);
    }
    silkgen_printf(c, "\n");
}

void silkgen_service_emit(silkgen_ctx *g, const Google__Protobuf__FileDescriptorProto *file,
                          size_t index, silkgen_buf *h, silkgen_buf *c)
{
    service_info s = {0};
    service_init(g, file, index, &s);
    emit_header(&s, h);
    emit_source(&s, c);
    service_fini(&s);
}
