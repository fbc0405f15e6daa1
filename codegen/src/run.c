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

/* push_path appends a, b to t's path; false when it is full. */
static bool push_path(silkgen_type *t, int32_t a, int32_t b)
{
    if (t->path_len + 2 > SILKGEN_TYPE_PATH_MAX)
        return false;
    t->path[t->path_len++] = a;
    t->path[t->path_len++] = b;
    return true;
}

/* find_in searches msgs (field `field` of what t->path names so far: 4 of a file, 3 of a
 * message), whose full names are scope + "." + name, their nested messages and enums for
 * name (relative to scope), extending t's path on the way. */
static bool find_in(silkgen_message_proto *const *msgs, size_t n, int32_t field, const char *name,
                    silkgen_type *t)
{
    size_t depth = t->path_len;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(msgs[i]->name);
        if (strncmp(name, msgs[i]->name, len) != 0 || (name[len] != '\0' && name[len] != '.'))
            continue;
        t->path_len = depth;
        if (!push_path(t, field, (int32_t)i))
            return false;
        if (name[len] == '\0') {
            t->message = msgs[i];
            return true;
        }
        const char *rest = name + len + 1;
        for (size_t k = 0; k < msgs[i]->n_enum_type; k++) {
            if (strcmp(rest, msgs[i]->enum_type[k]->name) == 0 && push_path(t, 4, (int32_t)k)) {
                t->enumeration = msgs[i]->enum_type[k];
                return true;
            }
        }
        if (find_in(msgs[i]->nested_type, msgs[i]->n_nested_type, 3, rest, t))
            return true;
    }
    t->path_len = depth;
    return false;
}

/* find_in_file searches file for rel, a full name without the file's package. */
static bool find_in_file(const silkgen_file_proto *f, const char *rel, silkgen_type *t)
{
    memset(t, 0, sizeof *t);
    t->file = f;
    for (size_t k = 0; k < f->n_enum_type; k++) {
        if (strcmp(rel, f->enum_type[k]->name) == 0 && push_path(t, 5, (int32_t)k)) {
            t->enumeration = f->enum_type[k];
            return true;
        }
    }
    return find_in(f->message_type, f->n_message_type, 4, rel, t);
}

bool silkgen_find_type(const silkgen_run *run, const char *full_name, silkgen_type *out)
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
        if (find_in_file(f, rel, out))
            return true;
    }
    memset(out, 0, sizeof *out);
    return false;
}

const silkgen_message_proto *silkgen_find_message(const silkgen_run *run, const char *full_name,
                                                  const silkgen_file_proto **file)
{
    silkgen_type t;
    if (!silkgen_find_type(run, full_name, &t) || t.message == NULL)
        return NULL;
    *file = t.file;
    return t.message;
}

/* find_location returns the SourceCodeInfo location of path in file, or NULL. */
static const Google__Protobuf__SourceCodeInfo__Location *
find_location(const silkgen_file_proto *file, const int32_t *path, size_t len)
{
    const Google__Protobuf__SourceCodeInfo *info = file->source_code_info;
    for (size_t i = 0; info != NULL && i < info->n_location; i++) {
        const Google__Protobuf__SourceCodeInfo__Location *loc = info->location[i];
        if (loc->n_path == len && memcmp(loc->path, path, len * sizeof *path) == 0)
            return loc;
    }
    return NULL;
}

const char *silkgen_comment(const silkgen_file_proto *file, const int32_t *path, size_t len)
{
    const Google__Protobuf__SourceCodeInfo__Location *loc = find_location(file, path, len);
    return loc != NULL ? loc->leading_comments : NULL;
}

/* is_blank_line tells whether line[0..len) holds only spaces and tabs. */
static bool is_blank_line(const char *line, size_t len)
{
    return strspn(line, " \t") >= len;
}

char *silkgen_description(const silkgen_file_proto *file, const int32_t *path, size_t len)
{
    const Google__Protobuf__SourceCodeInfo__Location *loc = find_location(file, path, len);
    const char *text = loc == NULL                     ? NULL
                       : loc->leading_comments != NULL ? loc->leading_comments
                                                       : loc->trailing_comments;
    if (text == NULL)
        return NULL;
    silkgen_buf out = {0};
    size_t blank = 0; /* blank lines held back: kept only between lines of text */
    for (const char *line = text; *line != '\0';) {
        size_t n = strcspn(line, "\r\n"), end = n;
        while (end > 0 && (line[end - 1] == ' ' || line[end - 1] == '\t' || line[end - 1] == '\r'))
            end--;
        if (is_blank_line(line, end)) {
            blank += out.len > 0;
        } else {
            const char *from = line + (line[0] == ' ');
            silkgen_printf(&out, "%s", out.len > 0 ? "\n" : "");
            for (; blank > 0; blank--)
                silkgen_printf(&out, "\n");
            silkgen_printf(&out, "%.*s", (int)(line + end - from), from);
        }
        line += n;
        line += *line == '\r';
        line += *line == '\n';
    }
    return out.len > 0 ? silkgen_buf_take(&out) : NULL;
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
