/* run.c - one generator run over a CodeGeneratorRequest: errors, type lookup, route claims. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "silkgen.h"

struct silkgen_route_claim {
    char *route;
    char *service; /* full name */
    char *file;    /* where the service is declared */
};

void silkgen_run_init(silkgen_run *run, const Google__Protobuf__Compiler__CodeGeneratorRequest *req)
{
    memset(run, 0, sizeof *run);
    run->req = req;
}

void silkgen_run_fini(silkgen_run *run)
{
    for (size_t i = 0; i < run->n_routes; i++) {
        free(run->routes[i].route);
        free(run->routes[i].service);
        free(run->routes[i].file);
    }
    free(run->routes);
    silkgen_buf_fini(&run->errors);
    memset(run, 0, sizeof *run);
}

void silkgen_error(silkgen_run *run, const char *where, const char *element, const char *fmt, ...)
{
    va_list ap;
    silkgen_printf(&run->errors, "%s: %s: ", where, element);
    va_start(ap, fmt);
    silkgen_vprintf(&run->errors, fmt, ap);
    va_end(ap);
    silkgen_printf(&run->errors, "\n");
    run->n_errors++;
}

const silkgen_file_proto *silkgen_find_file(const silkgen_run *run, const char *name)
{
    for (size_t i = 0; i < run->req->n_proto_file; i++)
        if (strcmp(run->req->proto_file[i]->name, name) == 0)
            return run->req->proto_file[i];
    return NULL;
}

/* find_in searches msgs, whose full names are scope + "." + name, and their nested messages
 * for name (relative to scope). */
static const silkgen_message_proto *find_in(silkgen_message_proto *const *msgs, size_t n,
                                            const char *name)
{
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(msgs[i]->name);
        if (strncmp(name, msgs[i]->name, len) != 0)
            continue;
        if (name[len] == '\0')
            return msgs[i];
        if (name[len] == '.') {
            const silkgen_message_proto *m =
                find_in(msgs[i]->nested_type, msgs[i]->n_nested_type, name + len + 1);
            if (m != NULL)
                return m;
        }
    }
    return NULL;
}

const silkgen_message_proto *silkgen_find_message(const silkgen_run *run, const char *full_name,
                                                  const silkgen_file_proto **file)
{
    const char *name = full_name + (full_name[0] == '.');
    for (size_t i = 0; i < run->req->n_proto_file; i++) {
        const silkgen_file_proto *f = run->req->proto_file[i];
        const char *rel = name;
        size_t plen = f->package ? strlen(f->package) : 0;
        if (plen > 0) {
            if (strncmp(name, f->package, plen) != 0 || name[plen] != '.')
                continue;
            rel = name + plen + 1;
        }
        const silkgen_message_proto *m = find_in(f->message_type, f->n_message_type, rel);
        if (m != NULL) {
            *file = f;
            return m;
        }
    }
    return NULL;
}

const char *silkgen_comment(const silkgen_file_proto *file, const int32_t *path, size_t len)
{
    const Google__Protobuf__SourceCodeInfo *info = file->source_code_info;
    for (size_t i = 0; info != NULL && i < info->n_location; i++) {
        const Google__Protobuf__SourceCodeInfo__Location *loc = info->location[i];
        if (loc->n_path == len && memcmp(loc->path, path, len * sizeof *path) == 0)
            return loc->leading_comments;
    }
    return NULL;
}

char *silkgen_where(const silkgen_file_proto *file, const int32_t *path, size_t len)
{
    const Google__Protobuf__SourceCodeInfo *info = file->source_code_info;
    for (; info != NULL && len > 0; len--) {
        for (size_t i = 0; i < info->n_location; i++) {
            const Google__Protobuf__SourceCodeInfo__Location *loc = info->location[i];
            if (loc->n_path == len && loc->n_span >= 2 &&
                memcmp(loc->path, path, len * sizeof *path) == 0)
                return silkgen_format("%s:%d:%d", file->name, (int)loc->span[0] + 1,
                                      (int)loc->span[1] + 1);
        }
    }
    return silkgen_strdup(file->name);
}

void silkgen_claim_route(silkgen_run *run, const char *where, const char *service,
                         const char *route)
{
    for (size_t i = 0; i < run->n_routes; i++) {
        const silkgen_route_claim *c = &run->routes[i];
        if (strcmp(c->route, route) == 0) {
            silkgen_error(run, where, service, "route \"%s\" is taken by %s (%s)", route,
                          c->service, c->file);
            return;
        }
    }
    silkgen_route_claim *routes = realloc(run->routes, (run->n_routes + 1) * sizeof *routes);
    if (routes == NULL)
        abort();
    run->routes = routes;
    routes[run->n_routes++] = (silkgen_route_claim){
        .route = silkgen_strdup(route),
        .service = silkgen_strdup(service),
        .file = silkgen_strdup(where),
    };
}
