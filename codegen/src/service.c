/* service.c - one service: its descriptor, handler table, serve function, and its methods' parts.
 */
#include <stdlib.h>
#include <string.h>

#include "silkgen.h"

/* path_ok tells whether a route or web path uses only what the gateway matches literally:
 * letters, digits, "-._~" and '/', and, when templates is set, {field=pattern} templates,
 * '*' and ':'. */
static bool path_ok(const char *path, bool templates)
{
    for (const char *p = path; *p != '\0'; p++) {
        bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                     (*p >= '0' && *p <= '9') || strchr("-._~/", *p) != NULL;
        if (!plain && !(templates && strchr("{}:=*", *p) != NULL))
            return false;
    }
    return strstr(path, "//") == NULL;
}

char *silkgen_service_where(const silkgen_service *svc, int32_t option)
{
    /* FileDescriptorProto.service (6) [service], ServiceDescriptorProto.options (3), the
     * option's field number. */
    const int32_t path[] = {6, (int32_t)svc->index, 3, option};
    return silkgen_where(svc->file, path, option != 0 ? 4 : 2);
}

/* --- the C names a service's output defines, and protoc-c's for the same service --- */

typedef struct c_ident {
    char *name;
    char *owner; /* who defines it, for the error */
} c_ident;

typedef struct c_idents {
    c_ident *items;
    size_t count;
} c_idents;

static void add_ident(c_idents *ids, char *name, char *owner)
{
    c_ident *items = realloc(ids->items, (ids->count + 1) * sizeof *items);
    if (items == NULL)
        abort();
    ids->items = items;
    items[ids->count++] = (c_ident){.name = name, .owner = owner};
}

/* check_idents reports two definitions of one C name by silk's output and protoc-c's, which
 * a .silk.c sees together: a method "CallEcho" (protoc-c's wstest__ws_test__call_echo) beside
 * "Echo" (silk's call of it), or methods "Echo" and "EchoAsync". */
static void check_idents(silkgen_run *run, const silkgen_service *svc)
{
    c_idents ids = {0};
    const char *l = svc->c_lower;
    add_ident(&ids, silkgen_format("%s__silk_desc", l), silkgen_strdup("silk's descriptor"));
    add_ident(&ids, silkgen_format("%s__silk_methods", l), silkgen_strdup("silk's method table"));
    add_ident(&ids, silkgen_format("%s__serve", l), silkgen_strdup("silk's serve function"));
    add_ident(&ids, silkgen_format("%s__silk_json_names", l),
              silkgen_strdup("silk's json_names table"));
    add_ident(&ids, silkgen_format("%s__silk_openapi", l),
              silkgen_strdup("silk's OpenAPI description"));
    add_ident(&ids, silkgen_format("%s__descriptor", l), silkgen_strdup("protoc-c's descriptor"));
    add_ident(&ids, silkgen_format("%s__init", l), silkgen_strdup("protoc-c's init function"));
    for (size_t i = 0; i < svc->n_methods; i++) {
        const silkgen_method *m = &svc->methods[i];
        const char *name = m->proto->name;
        add_ident(&ids, silkgen_format("%s__call_%s", l, m->lower),
                  silkgen_format("silk's call of %s", name));
        add_ident(&ids, silkgen_format("%s__call_%s_async", l, m->lower),
                  silkgen_format("silk's async call of %s", name));
        add_ident(&ids, silkgen_format("%s__invoke_%s", l, m->lower),
                  silkgen_format("silk's trampoline of %s", name));
        add_ident(&ids, silkgen_format("%s__%s__http_segments", l, m->lower),
                  silkgen_format("silk's http path segments of %s", name));
        add_ident(&ids, silkgen_format("%s__%s", l, m->lower),
                  silkgen_format("protoc-c's stub of %s", name));
    }
    char *where = silkgen_service_where(svc, 0);
    for (size_t i = 0; i < ids.count; i++) {
        for (size_t k = i + 1; k < ids.count; k++) {
            if (strcmp(ids.items[i].name, ids.items[k].name) == 0)
                silkgen_error(run, where, svc->full_name,
                              "the C name %s would be both %s and %s; rename a method",
                              ids.items[i].name, ids.items[i].owner, ids.items[k].owner);
        }
    }
    free(where);
    for (size_t i = 0; i < ids.count; i++) {
        free(ids.items[i].name);
        free(ids.items[i].owner);
    }
    free(ids.items);
}

/* check_web_paths reports a web path that is not well-formed, and two methods on one verb
 * and path. */
static void check_web_paths(silkgen_run *run, const silkgen_service *svc)
{
    for (size_t i = 0; i < svc->n_methods; i++) {
        const silkgen_method *m = &svc->methods[i];
        char *where = silkgen_method_where(svc, i, SILKGEN_OPT_HTTP);
        if (m->opts.has_http && !path_ok(m->http_path, true))
            silkgen_error(run, where, m->full_name,
                          "http path \"%s\" may hold only letters, digits, \"-._~/:*\" and "
                          "{field=pattern} templates, and no \"//\"",
                          m->http_path);
        for (size_t k = 0; k < i; k++) {
            const silkgen_method *o = &svc->methods[k];
            if (o->opts.verb == m->opts.verb && strcmp(o->http_path, m->http_path) == 0)
                silkgen_error(run, where, m->full_name, "its web route \"%s\" is %s's already",
                              m->http_path, o->proto->name);
        }
        free(where);
    }
}

/* history_where is silkgen_where for svc's option (silk.history): at field (size or ttl_s)
 * when that is set on a line of its own ("option (silk.history).size = 10;"), else at the
 * option. */
static char *history_where(const silkgen_service *svc, int32_t field)
{
    const int32_t path[] = {6, (int32_t)svc->index, 3, SILKGEN_OPT_HISTORY, field};
    return silkgen_where(svc->file, path, 5);
}

/* check_history reports a history (option (silk.history)) on a service without WebSocket
 * sessions, or with a size or ttl_s out of range; both 0 is no history and always fine. An
 * error about a field left unset points at the other one. */
static void check_history(silkgen_run *run, const silkgen_service *svc)
{
    uint32_t size = svc->history_size, ttl_s = svc->history_ttl_s;
    if (size == 0 && ttl_s == 0)
        return;
    char *size_at = history_where(svc, size != 0 ? SILKGEN_HISTORY_SIZE : SILKGEN_HISTORY_TTL_S);
    char *ttl_at = history_where(svc, ttl_s != 0 ? SILKGEN_HISTORY_TTL_S : SILKGEN_HISTORY_SIZE);
    if (!svc->websocket)
        silkgen_error(run, size_at, svc->full_name,
                      "option (silk.history) needs option (silk.websocket) = true: only "
                      "WebSocket pushes are kept");
    if (size < 1 || size > SILKGEN_HISTORY_SIZE_MAX)
        silkgen_error(run, size_at, svc->full_name,
                      "option (silk.history): size %u must be 1..%u (messages kept per business)",
                      (unsigned)size, (unsigned)SILKGEN_HISTORY_SIZE_MAX);
    if (ttl_s < 1 || ttl_s > SILKGEN_HISTORY_TTL_S_MAX)
        silkgen_error(run, ttl_at, svc->full_name,
                      "option (silk.history): ttl_s %u must be 1..%u (seconds after the last push)",
                      (unsigned)ttl_s, (unsigned)SILKGEN_HISTORY_TTL_S_MAX);
    free(size_at);
    free(ttl_at);
}

void silkgen_service_init(silkgen_run *run, const silkgen_file_proto *file, size_t index,
                          silkgen_service *svc)
{
    const silkgen_service_proto *sp = file->service[index];
    memset(svc, 0, sizeof *svc);
    svc->file = file;
    svc->proto = sp;
    svc->index = index;
    svc->full_name = file->package && *file->package
                         ? silkgen_format("%s.%s", file->package, sp->name)
                         : silkgen_strdup(sp->name);
    svc->c_name = silkgen_c_name(svc->full_name, file);
    svc->c_lower = silkgen_c_lower(svc->full_name, file);

    silkgen_service_opts opts;
    char *err = silkgen_service_opts_read(sp->options, &opts);
    char *where = silkgen_service_where(svc, (int32_t)opts.malformed);
    if (err != NULL)
        silkgen_error(run, where, svc->full_name, "%s", err);
    free(err);
    free(where);
    where = silkgen_service_where(svc, SILKGEN_OPT_ROUTE);
    svc->route = silkgen_route(opts.route, sp->name);
    svc->websocket = opts.websocket;
    svc->public_access = opts.public_access;
    svc->history_size = opts.history_size;
    svc->history_ttl_s = opts.history_ttl_s;
    if (*svc->route == '\0' || !path_ok(svc->route, false))
        silkgen_error(run, where, svc->full_name,
                      "route \"%s\" must be non-empty and hold only letters, digits, \"-._~/\" "
                      "and {service}, and no \"//\"",
                      opts.route ? opts.route : svc->route);
    else
        silkgen_claim_route(run, where, svc->full_name, svc->route);
    silkgen_service_opts_fini(&opts);
    free(where);

    /* The SourceCodeInfo path of the service: FileDescriptorProto.service (6) [index]. */
    const int32_t path[] = {6, (int32_t)index};
    svc->comment = silkgen_comment(file, path, 2);

    svc->n_methods = sp->n_method;
    svc->methods = silkgen_xcalloc(svc->n_methods, sizeof *svc->methods);
    for (size_t i = 0; i < svc->n_methods; i++) {
        silkgen_method_init(run, svc, i, &svc->methods[i]);
        silkgen_json_names_add(run, &svc->json_names, sp->method[i]->input_type);
        silkgen_json_names_add(run, &svc->json_names, sp->method[i]->output_type);
    }
    check_history(run, svc);
    check_idents(run, svc);
    check_web_paths(run, svc);
    svc->openapi = silkgen_openapi_service(run, svc);
}

void silkgen_service_fini(silkgen_service *svc)
{
    for (size_t i = 0; i < svc->n_methods; i++)
        silkgen_method_fini(&svc->methods[i]);
    free(svc->methods);
    silkgen_json_names_fini(&svc->json_names);
    silkgen_value_free(svc->openapi);
    free(svc->full_name);
    free(svc->c_name);
    free(svc->c_lower);
    free(svc->route);
    memset(svc, 0, sizeof *svc);
}

void silkgen_service_print_h(const silkgen_service *svc, silkgen_buf *h)
{
    const char *name = svc->proto->name;
    silkgen_print_proto_comment(h, "", svc->comment);
    char *history = svc->history_size > 0
                        ? silkgen_format("; history: %u messages, %u s",
                                         (unsigned)svc->history_size, (unsigned)svc->history_ttl_s)
                        : silkgen_strdup("");
    silkgen_print_doc(h, "", "%s__silk_desc describes %s to silk: route \"%s\"%s%s.", svc->c_lower,
                      svc->full_name, svc->route,
                      svc->websocket ? ", WebSocket sessions allowed" : "", history);
    free(history);
    silkgen_printf(h, "extern const silk_service_desc %s__silk_desc;\n\n", svc->c_lower);

    silkgen_print_doc(h, "",
                      "%s_Handlers is the table of %s's handlers, one a method; a NULL handler "
                      "answers SILK_UNIMPLEMENTED.",
                      svc->c_name, name);
    silkgen_printf(h, "typedef struct %s_Handlers {\n", svc->c_name);
    for (size_t i = 0; i < svc->n_methods; i++)
        silkgen_method_print_handler(svc, &svc->methods[i], h);
    if (svc->n_methods == 0)
        silkgen_printf(h, "    void *reserved; /* %s has no methods */\n", name);
    silkgen_printf(h, "} %s_Handlers;\n\n", svc->c_name);

    silkgen_print_doc(h, "",
                      "%s__serve hosts %s on srv with these handlers (copied); user is passed to "
                      "every handler. See silk_server_add_service().",
                      svc->c_lower, name);
    char *head = silkgen_format("silk_status %s__serve", svc->c_lower);
    char *handlers = silkgen_format("const %s_Handlers *handlers", svc->c_name);
    const char *params[] = {"silk_server *srv", handlers, "void *user"};
    silkgen_print_call(h, head, params, 3, ";\n");
    free(head);
    free(handlers);

    for (size_t i = 0; i < svc->n_methods; i++)
        silkgen_method_print_call_decls(svc, &svc->methods[i], h);
    silkgen_printf(h, "\n");
}

void silkgen_service_print_segments(const silkgen_service *svc, silkgen_buf *c)
{
    for (size_t i = 0; i < svc->n_methods; i++)
        silkgen_method_print_segments(svc, &svc->methods[i], c);
}

void silkgen_service_print_json_names(const silkgen_service *svc, silkgen_buf *c)
{
    const silkgen_json_names *names = &svc->json_names;
    if (names->n_rows == 0)
        return;
    silkgen_printf(c, "\nstatic const silk_json_name %s__silk_json_names[%zu] = {\n", svc->c_lower,
                   names->n_rows);
    for (size_t i = 0; i < names->n_rows; i++) {
        const silkgen_json_name *row = &names->rows[i];
        silkgen_printf(c, "    {&%s__descriptor, %u, ", row->message_lower, (unsigned)row->number);
        silkgen_print_cstr(c, row->json_name);
        silkgen_printf(c, "}, /* %s */\n", row->field_name);
    }
    silkgen_printf(c, "};\n");
}

void silkgen_service_print_openapi(const silkgen_service *svc, silkgen_buf *c)
{
    silkgen_buf json = {0};
    silkgen_value_print(svc->openapi, false, &json);
    silkgen_printf(c, "\nstatic const char %s__silk_openapi[] =\n    ", svc->c_lower);
    silkgen_print_cstr_lines(c, "    ", json.data);
    silkgen_printf(c, ";\n");
    silkgen_buf_fini(&json);
}

void silkgen_service_print_c(const silkgen_service *svc, silkgen_buf *c)
{
    for (size_t i = 0; i < svc->n_methods; i++)
        silkgen_method_print_invoke(svc, &svc->methods[i], c);
    if (svc->n_methods > 0) {
        silkgen_printf(c, "static const silk_method_desc %s__silk_methods[%zu] = {\n", svc->c_lower,
                       svc->n_methods);
        for (size_t i = 0; i < svc->n_methods; i++)
            silkgen_method_print_desc(svc, &svc->methods[i], c);
        silkgen_printf(c, "};\n\n");
    }

    silkgen_printf(c, "const silk_service_desc %s__silk_desc = {\n    .name = ", svc->c_lower);
    silkgen_print_cstr(c, svc->full_name);
    silkgen_printf(c, ",\n    .route = ");
    silkgen_print_cstr(c, svc->route);
    silkgen_printf(c,
                   ",\n"
                   "    .websocket = %s,\n"
                   "    .public_access = %s,\n"
                   "    .history_size = %u,\n"
                   "    .history_ttl_s = %u,\n"
                   "    .n_methods = %zu,\n",
                   svc->websocket ? "true" : "false", svc->public_access ? "true" : "false",
                   (unsigned)svc->history_size, (unsigned)svc->history_ttl_s, svc->n_methods);
    if (svc->n_methods > 0)
        silkgen_printf(c, "    .methods = %s__silk_methods,\n", svc->c_lower);
    else
        silkgen_printf(c, "    .methods = NULL,\n");
    silkgen_printf(c, "    .handlers_size = sizeof(%s_Handlers),\n", svc->c_name);
    if (svc->json_names.n_rows > 0)
        silkgen_printf(c,
                       "    .json_names = %s__silk_json_names,\n"
                       "    .n_json_names = %zu,\n",
                       svc->c_lower, svc->json_names.n_rows);
    else
        silkgen_printf(c, "    .json_names = NULL,\n    .n_json_names = 0,\n");
    silkgen_printf(c, "    .openapi = %s__silk_openapi,\n};\n\n", svc->c_lower);

    char *head = silkgen_format("silk_status %s__serve", svc->c_lower);
    char *handlers = silkgen_format("const %s_Handlers *handlers", svc->c_name);
    const char *params[] = {"silk_server *srv", handlers, "void *user"};
    silkgen_print_call(c, head, params, 3, "\n{\n");
    char *desc = silkgen_format("&%s__silk_desc", svc->c_lower);
    const char *args[] = {"srv", desc, "handlers", "user"};
    silkgen_print_call(c, "    return silk_server_add_service", args, 4, ";\n}\n");
    free(desc);
    free(head);
    free(handlers);

    for (size_t i = 0; i < svc->n_methods; i++)
        silkgen_method_print_calls(svc, &svc->methods[i], i, c);
}
