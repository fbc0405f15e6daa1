/* method.c - one method: its options and checks, handler field, typed calls, trampoline, entry. */
#include <stdlib.h>
#include <string.h>

#include "silkgen.h"

static const char *const verb_names[] = {
    [SILKGEN_POST] = "SILK_HTTP_POST",   [SILKGEN_GET] = "SILK_HTTP_GET",
    [SILKGEN_PUT] = "SILK_HTTP_PUT",     [SILKGEN_DELETE] = "SILK_HTTP_DELETE",
    [SILKGEN_PATCH] = "SILK_HTTP_PATCH",
};

static const char *const segment_kinds[] = {
    [SILKGEN_SEG_LITERAL] = "SILK_PATH_LITERAL", [SILKGEN_SEG_ANY] = "SILK_PATH_ANY",
    [SILKGEN_SEG_REST] = "SILK_PATH_REST",       [SILKGEN_SEG_VAR_BEGIN] = "SILK_PATH_VAR_BEGIN",
    [SILKGEN_SEG_VAR_END] = "SILK_PATH_VAR_END",
};

char *silkgen_method_where(const silkgen_service *svc, size_t index, int32_t option)
{
    /* FileDescriptorProto.service (6) [service], ServiceDescriptorProto.method (2) [method],
     * MethodDescriptorProto.options (4), the option's field number. */
    const int32_t path[] = {6, (int32_t)svc->index, 2, (int32_t)index, 4, option};
    return silkgen_where(svc->file, path, option != 0 ? 6 : 4);
}

/* find_field returns the field of req (NULL: not found) named name[0..len). */
static const Google__Protobuf__FieldDescriptorProto *find_field(const silkgen_message_proto *req,
                                                                const char *name, size_t len)
{
    for (size_t i = 0; req != NULL && i < req->n_field; i++)
        if (strlen(req->field[i]->name) == len && strncmp(req->field[i]->name, name, len) == 0)
            return req->field[i];
    return NULL;
}

/* is_scalar tells whether a field's value can be a hash key or a path parameter: not a
 * message, a group, a repeated field or a map. */
static bool is_scalar(const Google__Protobuf__FieldDescriptorProto *f)
{
    return f->label != GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_REPEATED &&
           f->type != GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_MESSAGE &&
           f->type != GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_GROUP;
}

/* check_hash_key reports a hash_key that names no field of the request, or a field whose
 * value cannot be hashed. */
static void check_hash_key(silkgen_run *run, const char *where, const silkgen_method *m,
                           const silkgen_message_proto *req, const char *type)
{
    const char *key = m->opts.hash_key;
    const Google__Protobuf__FieldDescriptorProto *f = find_field(req, key, strlen(key));
    if (f == NULL)
        silkgen_error(run, where, m->full_name, "hash_key \"%s\" names no field of %s", key, type);
    else if (!is_scalar(f))
        silkgen_error(run, where, m->full_name,
                      "hash_key \"%s\" is not a scalar field of %s (a message, repeated or map "
                      "field cannot be hashed)",
                      key, type);
}

static bool is_ident(const char *s, size_t len)
{
    if (len == 0 || (s[0] >= '0' && s[0] <= '9'))
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
    }
    return true;
}

/* field_path_ok resolves a dotted field path ("inner.x") from req through singular message
 * fields to a scalar field; otherwise it reports why and returns false. */
static bool field_path_ok(silkgen_run *run, const char *where, const silkgen_method *m,
                          const silkgen_message_proto *req, const char *type, const char *name,
                          size_t n)
{
    const silkgen_message_proto *msg = req;
    for (const char *p = name, *end = name + n; msg != NULL;) {
        size_t len = strcspn(p, ".");
        if (p + len > end)
            len = (size_t)(end - p);
        const Google__Protobuf__FieldDescriptorProto *f = find_field(msg, p, len);
        bool last = p + len == end;
        if (f == NULL) {
            silkgen_error(run, where, m->full_name, "path parameter {%.*s} names no field of %s",
                          (int)n, name, type);
            return false;
        }
        if (last && is_scalar(f))
            return true;
        if (last || f->label == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_REPEATED ||
            f->type != GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_MESSAGE) {
            silkgen_error(run, where, m->full_name,
                          "path parameter {%.*s} is not a scalar field of %s (a message, "
                          "repeated or map field cannot be a path segment)",
                          (int)n, name, type);
            return false;
        }
        const silkgen_file_proto *file;
        msg = silkgen_find_message(run, f->type_name, &file);
        p += len + 1;
    }
    return false; /* a message type protoc gave but silkgen cannot find */
}

/* is_field_path tells whether name[0..n) is identifiers joined by single dots. */
static bool is_field_path(const char *name, size_t n)
{
    for (size_t start = 0, i = 0; i <= n; i++) {
        if (i < n && name[i] != '.')
            continue;
        if (!is_ident(name + start, i - start))
            return false;
        start = i + 1;
    }
    return true;
}

/* segment_len returns the length of the template segment at p: up to a '/' outside braces. */
static size_t segment_len(const char *p)
{
    size_t i = 0;
    for (int depth = 0; p[i] != '\0' && (p[i] != '/' || depth > 0); i++)
        depth += p[i] == '{' ? 1 : p[i] == '}' ? -1 : 0;
    return i;
}

/* add_segment appends an element of kind to m's segments, with text[0..len) when text is
 * not NULL. */
static void add_segment(silkgen_method *m, silkgen_segment_kind kind, const char *text, size_t len)
{
    silkgen_segment *segs = realloc(m->segments, (m->n_segments + 1) * sizeof *segs);
    if (segs == NULL)
        abort();
    m->segments = segs;
    segs[m->n_segments++] = (silkgen_segment){
        .kind = kind,
        .text = text != NULL ? silkgen_format("%.*s", (int)len, text) : NULL,
    };
}

/* add_pieces appends the '/'-separated pieces of p[0..len) as literals, "*" or "**"; empty
 * pieces are skipped. */
static void add_pieces(silkgen_method *m, const char *p, size_t len)
{
    for (const char *end = p + len; p < end;) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        size_t n = (size_t)((slash != NULL ? slash : end) - p);
        if (n == 1 && p[0] == '*')
            add_segment(m, SILKGEN_SEG_ANY, NULL, 0);
        else if (n == 2 && p[0] == '*' && p[1] == '*')
            add_segment(m, SILKGEN_SEG_REST, NULL, 0);
        else if (n > 0)
            add_segment(m, SILKGEN_SEG_LITERAL, p, n);
        p += n + 1;
    }
}

/* pattern_ok tells whether p[0..len) is '/'-separated segments without braces, each a literal
 * without '*', "*", or "**", with "**" only last; *rest is set when "**" is among them. */
static bool pattern_ok(const char *p, size_t len, bool *rest)
{
    const char *end = p + len;
    for (;;) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        size_t n = (size_t)((slash != NULL ? slash : end) - p);
        bool star = memchr(p, '*', n) != NULL;
        if (n == 0 || *rest || memchr(p, '{', n) != NULL || memchr(p, '}', n) != NULL ||
            (star && !(n == 1 || (n == 2 && p[0] == '*' && p[1] == '*'))))
            return false;
        *rest = n == 2 && star;
        if (slash == NULL)
            return true;
        p = slash + 1;
    }
}

/* parse_variable reports what is wrong with the variable segment seg[0..len) ("{field}" or
 * "{field=pattern}") of m's http path, and appends its elements to m's segments when it is
 * well-formed. */
static void parse_variable(silkgen_run *run, const char *where, silkgen_method *m,
                           const silkgen_message_proto *req, const char *type, const char *seg,
                           size_t len, bool *rest)
{
    const char *path = m->opts.http_path;
    const char *close = memchr(seg + 1, '}', len - 1);
    if (len < 2 || seg[0] != '{' || seg[len - 1] != '}' || close != seg + len - 1 ||
        memchr(seg + 1, '{', len - 2) != NULL) {
        silkgen_error(run, where, m->full_name,
                      "http path \"%s\" is malformed: \"%.*s\" must be a whole path segment "
                      "of one {field} or {field=pattern}, with balanced braces",
                      path, (int)len, seg);
        return;
    }
    const char *name = seg + 1, *eq = memchr(name, '=', len - 2);
    size_t n = eq != NULL ? (size_t)(eq - name) : len - 2;
    if (!is_field_path(name, n)) {
        silkgen_error(run, where, m->full_name,
                      "http path \"%s\" is malformed: \"%.*s\" does not hold a field name", path,
                      (int)len, seg);
        return;
    }
    if (eq != NULL && !pattern_ok(eq + 1, len - 3 - n, rest)) {
        silkgen_error(run, where, m->full_name,
                      "http path \"%s\" is malformed: the pattern of \"%.*s\" must be "
                      "segments of literals, * or ** (** last)",
                      path, (int)len, seg);
        return;
    }
    add_segment(m, SILKGEN_SEG_VAR_BEGIN, name, n);
    if (eq != NULL)
        add_pieces(m, eq + 1, len - 3 - n);
    else
        add_segment(m, SILKGEN_SEG_ANY, NULL, 0);
    add_segment(m, SILKGEN_SEG_VAR_END, NULL, 0);
    if (!field_path_ok(run, where, m, req, type, name, n))
        return;
    for (const char *q = path; q < seg; q++)
        if (*q == '{' && strncmp(q + 1, name, n) == 0 && strchr("}=", q[n + 1]) != NULL) {
            silkgen_error(run, where, m->full_name, "path parameter {%.*s} appears twice in \"%s\"",
                          (int)n, name, path);
            break;
        }
}

/* parse_path_template reports a malformed http path template and path parameters that name
 * no scalar field of the request, and appends the template's elements to m's segments. The
 * path is segments between '/': a literal, "*", "**" (last only), or one variable "{field}"
 * or "{field=pattern}", field a dotted path through singular message fields to a scalar
 * field of the request, each named once. */
static void parse_path_template(silkgen_run *run, const char *where, silkgen_method *m,
                                const silkgen_message_proto *req, const char *type)
{
    const char *path = m->opts.http_path;
    bool rest = false;
    for (const char *p = path; *p != '\0'; p += *p == '/') {
        size_t len = segment_len(p);
        const char *seg = p;
        p += len;
        if (rest) {
            silkgen_error(run, where, m->full_name,
                          "http path \"%s\" is malformed: \"%.*s\" follows \"**\", which must be "
                          "last",
                          path, (int)len, seg);
            break;
        }
        bool braces = memchr(seg, '{', len) != NULL || memchr(seg, '}', len) != NULL;
        if (braces)
            parse_variable(run, where, m, req, type, seg, len, &rest);
        else if (len > 0 && !pattern_ok(seg, len, &rest))
            silkgen_error(run, where, m->full_name,
                          "http path \"%s\" is malformed: \"%.*s\" must be a literal, * or ** "
                          "(** last)",
                          path, (int)len, seg);
        else
            add_pieces(m, seg, len);
    }
}

void silkgen_method_init(silkgen_run *run, const silkgen_service *svc, size_t index,
                         silkgen_method *m)
{
    const silkgen_method_proto *mp = svc->proto->method[index];
    char *where = silkgen_method_where(svc, index, 0);
    memset(m, 0, sizeof *m);
    m->proto = mp;
    m->full_name = silkgen_format("%s.%s", svc->full_name, mp->name);

    char *err = silkgen_method_opts_read(mp->options, &m->opts);
    if (err != NULL) {
        char *at = silkgen_method_where(svc, index, (int32_t)m->opts.malformed);
        silkgen_error(run, at, m->full_name, "%s", err);
        free(at);
    }
    free(err);
    if (mp->client_streaming || mp->server_streaming)
        silkgen_error(run, where, m->full_name,
                      "streaming is not supported yet (a %s-streaming method); make it unary",
                      mp->client_streaming ? "client" : "server");

    m->lower = silkgen_camel_to_lower(mp->name);
    if (silkgen_is_c_keyword(m->lower))
        silkgen_error(run, where, m->full_name,
                      "its C name \"%s\" is a C keyword; rename the method", m->lower);

    const silkgen_file_proto *in_file = NULL, *out_file = NULL;
    const silkgen_message_proto *in = silkgen_find_message(run, mp->input_type, &in_file);
    silkgen_find_message(run, mp->output_type, &out_file);
    m->in_type = silkgen_c_name(mp->input_type, in_file);
    m->in_lower = silkgen_c_lower(mp->input_type, in_file);
    m->out_type = silkgen_c_name(mp->output_type, out_file);
    m->out_lower = silkgen_c_lower(mp->output_type, out_file);
    const char *type = mp->input_type + (mp->input_type[0] == '.');
    if (m->opts.hash_key != NULL) {
        char *at = silkgen_method_where(svc, index, SILKGEN_OPT_HASH_KEY);
        check_hash_key(run, at, m, in, type);
        free(at);
    }
    m->business_id_field = silkgen_business_id_field(in);
    if (m->opts.has_http) {
        char *at = silkgen_method_where(svc, index, SILKGEN_OPT_HTTP);
        add_pieces(m, svc->route, strlen(svc->route));
        parse_path_template(run, at, m, in, type);
        free(at);
    }

    m->http_path = silkgen_http_path(svc->route, m->opts.http_path, mp->name);
    if (!m->opts.has_http) /* the route and the method's name: literals only */
        add_pieces(m, m->http_path, strlen(m->http_path));
    /* The SourceCodeInfo path of the method: FileDescriptorProto.service (6) [service],
     * ServiceDescriptorProto.method (2) [method]. */
    const int32_t path[] = {6, (int32_t)svc->index, 2, (int32_t)index};
    m->comment = silkgen_comment(svc->file, path, 4);
    free(where);
}

void silkgen_method_fini(silkgen_method *m)
{
    silkgen_method_opts_fini(&m->opts);
    free(m->full_name);
    free(m->lower);
    free(m->in_type);
    free(m->in_lower);
    free(m->out_type);
    free(m->out_lower);
    free(m->http_path);
    for (size_t i = 0; i < m->n_segments; i++)
        free(m->segments[i].text);
    free(m->segments);
    memset(m, 0, sizeof *m);
}

void silkgen_method_print_segments(const silkgen_service *svc, const silkgen_method *m,
                                   silkgen_buf *c)
{
    silkgen_printf(c, "\nstatic const silk_path_segment %s__%s__http_segments[%zu] = {\n",
                   svc->c_lower, m->lower, m->n_segments);
    for (size_t i = 0; i < m->n_segments; i++) {
        silkgen_printf(c, "    {%s, ", segment_kinds[m->segments[i].kind]);
        if (m->segments[i].text != NULL)
            silkgen_print_cstr(c, m->segments[i].text);
        else
            silkgen_printf(c, "NULL");
        silkgen_printf(c, "},\n");
    }
    silkgen_printf(c, "};\n");
}

void silkgen_method_print_handler(const silkgen_service *svc, const silkgen_method *m,
                                  silkgen_buf *h)
{
    char *head = silkgen_format("    silk_status (*%s)", m->lower);
    char *req = silkgen_format("const %s *req", m->in_type);
    char *resp = silkgen_format("%s *resp", m->out_type);
    const char *params[] = {"silk_ctx *ctx", req, resp, "void *user"};
    silkgen_print_proto_comment(h, "    ", m->comment);
    silkgen_print_call(h, head, params, 4, ";\n");
    free(head);
    free(req);
    free(resp);
}

void silkgen_method_print_call_decls(const silkgen_service *svc, const silkgen_method *m,
                                     silkgen_buf *h)
{
    char *req = silkgen_format("const %s *req", m->in_type);
    char *resp = silkgen_format("%s **resp", m->out_type);
    char *head = silkgen_format("silk_status %s__call_%s", svc->c_lower, m->lower);
    const char *params[] = {"silk_channel *ch", "silk_ctx *ctx", req, resp};
    silkgen_printf(h, "\n");
    silkgen_print_doc(h, "",
                      "%s__call_%s calls %s.%s and waits for the reply. On SILK_OK *resp is a "
                      "new %s, the caller's to free with protobuf_c_message_free_unpacked(); on "
                      "failure it is NULL. See silk_channel_call().",
                      svc->c_lower, m->lower, svc->proto->name, m->proto->name, m->out_type);
    silkgen_print_call(h, head, params, 4, ";\n");
    free(head);

    head = silkgen_format("silk_status %s__call_%s_async", svc->c_lower, m->lower);
    const char *async_params[] = {"silk_channel *ch", "silk_ctx *ctx", req,
                                  "silk_call_cb cb",  "void *arg",     "silk_call_id *idp"};
    silkgen_print_doc(h, "",
                      "%s__call_%s_async starts a call of %s.%s and returns at once; unless it "
                      "returns an error, cb runs exactly once, with a %s on SILK_OK, and the "
                      "call's id is stored in *idp (may be NULL). See silk_channel_call_async().",
                      svc->c_lower, m->lower, svc->proto->name, m->proto->name, m->out_type);
    silkgen_print_call(h, head, async_params, 6, ";\n");
    free(head);
    free(req);
    free(resp);
}

void silkgen_method_print_invoke(const silkgen_service *svc, const silkgen_method *m,
                                 silkgen_buf *c)
{
    char *head = silkgen_format("static silk_status %s__invoke_%s", svc->c_lower, m->lower);
    const char *params[] = {"silk_ctx *ctx", "const ProtobufCMessage *req",
                            "ProtobufCMessage *resp", "const void *handlers", "void *user"};
    silkgen_print_call(c, head, params, 5, "\n");
    free(head);
    silkgen_printf(c,
                   "{\n"
                   "    const %s_Handlers *h = handlers;\n"
                   "\n"
                   "    if (h->%s == NULL)\n"
                   "        return SILK_UNIMPLEMENTED;\n",
                   svc->c_name, m->lower);
    head = silkgen_format("    return h->%s", m->lower);
    char *req = silkgen_format("(const %s *)req", m->in_type);
    char *resp = silkgen_format("(%s *)resp", m->out_type);
    const char *args[] = {"ctx", req, resp, "user"};
    silkgen_print_call(c, head, args, 4, ";\n}\n\n");
    free(head);
    free(req);
    free(resp);
}

void silkgen_method_print_desc(const silkgen_service *svc, const silkgen_method *m, silkgen_buf *c)
{
    silkgen_printf(c, "    {\n        .name = ");
    silkgen_print_cstr(c, m->proto->name);
    silkgen_printf(c, ",\n        .path = ");
    char *path = silkgen_format("/%s/%s", svc->full_name, m->proto->name);
    silkgen_print_cstr(c, path);
    free(path);
    silkgen_printf(c,
                   ",\n"
                   "        .input = &%s__descriptor,\n"
                   "        .output = &%s__descriptor,\n"
                   "        .http_verb = %s,\n"
                   "        .http_path = ",
                   m->in_lower, m->out_lower, verb_names[m->opts.verb]);
    silkgen_print_cstr(c, m->http_path);
    silkgen_printf(c,
                   ",\n"
                   "        .http_segments = %s__%s__http_segments,\n"
                   "        .n_http_segments = %zu,\n"
                   "        .hash_key = ",
                   svc->c_lower, m->lower, m->n_segments);
    if (m->opts.hash_key != NULL)
        silkgen_print_cstr(c, m->opts.hash_key);
    else
        silkgen_printf(c, "NULL");
    silkgen_printf(c,
                   ",\n"
                   "        .business_id_field = %u,\n"
                   "        .timeout_ms = %u,\n"
                   "        .retries = %u,\n"
                   "        .idempotent = %s,\n"
                   "        .public_access = %s,\n"
                   "        .invoke = %s__invoke_%s,\n"
                   "    },\n",
                   (unsigned)m->business_id_field, (unsigned)m->opts.timeout_ms,
                   (unsigned)m->opts.retries, m->opts.idempotent ? "true" : "false",
                   m->opts.public_access || svc->public_access ? "true" : "false", svc->c_lower,
                   m->lower);
}

void silkgen_method_print_calls(const silkgen_service *svc, const silkgen_method *m, size_t index,
                                silkgen_buf *c)
{
    char *req = silkgen_format("const %s *req", m->in_type);
    char *resp = silkgen_format("%s **resp", m->out_type);
    char *head = silkgen_format("silk_status %s__call_%s", svc->c_lower, m->lower);
    char *method = silkgen_format("&%s__silk_methods[%zu]", svc->c_lower, index);
    const char *params[] = {"silk_channel *ch", "silk_ctx *ctx", req, resp};
    silkgen_printf(c, "\n");
    silkgen_print_call(c, head, params, 4, "\n");
    silkgen_printf(c, "{\n    ProtobufCMessage *out = NULL;\n");
    const char *call_args[] = {"ch", "ctx", method, "(const ProtobufCMessage *)req", "&out"};
    silkgen_print_call(c, "    silk_status st = silk_channel_call", call_args, 5, ";\n");
    silkgen_printf(c,
                   "\n"
                   "    *resp = (%s *)out;\n"
                   "    return st;\n"
                   "}\n",
                   m->out_type);
    free(head);

    head = silkgen_format("silk_status %s__call_%s_async", svc->c_lower, m->lower);
    const char *async_params[] = {"silk_channel *ch", "silk_ctx *ctx", req,
                                  "silk_call_cb cb",  "void *arg",     "silk_call_id *idp"};
    silkgen_printf(c, "\n");
    silkgen_print_call(c, head, async_params, 6, "\n");
    silkgen_printf(c, "{\n");
    const char *async_args[] = {"ch", "ctx", method, "(const ProtobufCMessage *)req",
                                "cb", "arg", "idp"};
    silkgen_print_call(c, "    return silk_channel_call_async", async_args, 7, ";\n}\n");
    free(head);
    free(method);
    free(req);
    free(resp);
}
