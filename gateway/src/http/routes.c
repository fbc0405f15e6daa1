/* routes.c - which linked service a request is for: a WebSocket route or a method's web path. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/utf8.h"
#include "http/console.h"
#include "http/routes.h"

/* ============================================================================
 * Web path templates
 *
 * protoc-gen-silk parses each method's template into segments (silk_path_segment, service.h):
 * literals, "*" (one segment), "**" (the rest of the path: one or more segments, last), and
 * variables, which open and close around the segments they take. A variable's value is the
 * request path's text its segments matched. Matching is a walk over them: nothing is parsed
 * per request.
 * ========================================================================== */

/* has_empty_segment tells whether the segments in p[0..len) have an empty one. */
static bool has_empty_segment(const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] == '/' && (i == 0 || i + 1 == len || p[i + 1] == '/'))
            return true;
    return false;
}

/* rest_is_last tells whether nothing but closing variables follows segment i. */
static bool rest_is_last(const silk_method_desc *m, size_t i)
{
    for (size_t j = i + 1; j < m->n_http_segments; j++)
        if (m->http_segments[j].kind != SILK_PATH_VAR_END)
            return false;
    return true;
}

/* open_variable starts the next of out's params for a variable named name; NULL when there
 * are too many. */
static silk__gw_route_param *open_variable(silk__gw_route *out, const char *name)
{
    if (out->n_params == SILK__GW_ROUTE_MAX_PARAMS)
        return NULL;
    silk__gw_route_param *v = &out->params[out->n_params++];
    *v = (silk__gw_route_param){.name = name, .name_len = strlen(name)};
    return v;
}

/* match_segments matches the request path (no leading '/', len bytes: one trailing '/'
 * already cut) against m's template. It returns the number of literal segments matched, or
 * -1; the variables' values are written into out->params. */
static int match_segments(const char *path, size_t len, const silk_method_desc *m,
                          silk__gw_route *out)
{
    const char *p = path, *end = path + len;
    silk__gw_route_param *var = NULL; /* the variable open, if any */
    int literals = 0;
    for (size_t i = 0; i < m->n_http_segments; i++) {
        const silk_path_segment *s = &m->http_segments[i];
        if (s->kind == SILK_PATH_VAR_BEGIN) {
            if ((var = open_variable(out, s->text)) == NULL)
                return -1;
            continue;
        }
        if (s->kind == SILK_PATH_VAR_END) {
            var = NULL;
            continue;
        }
        if (p == NULL || (s->kind == SILK_PATH_REST && !rest_is_last(m, i)))
            return -1; /* the path ended before the template, or a malformed template */
        const char *slash = memchr(p, '/', (size_t)(end - p));
        const char *stop = s->kind == SILK_PATH_REST ? end : slash != NULL ? slash : end;
        size_t seg = (size_t)(stop - p);
        if (seg == 0 || (s->kind == SILK_PATH_REST && has_empty_segment(p, seg)))
            return -1;
        if (s->kind == SILK_PATH_LITERAL) {
            if (strncasecmp(p, s->text, seg) != 0 || s->text[seg] != '\0')
                return -1;
            literals++;
        }
        if (var != NULL) {
            if (var->value == NULL)
                var->value = p;
            var->value_len = (size_t)(stop - var->value);
        }
        p = stop < end ? stop + 1 : NULL;
    }
    return p == NULL ? literals : -1; /* else the path goes on */
}

/* match_default matches the request path (as for match_segments) against the default web path
 * of a method whose descriptor has no segments (a hand-made one): "<route>/<method name>",
 * compared without regard to case. It returns its number of segments, or -1. */
static int match_default(const char *path, size_t len, const silk_service_desc *svc,
                         const silk_method_desc *m)
{
    size_t rl = strlen(svc->route), nl = strlen(m->name);
    if (len != rl + 1 + nl || strncasecmp(path, svc->route, rl) != 0 || path[rl] != '/' ||
        strncasecmp(path + rl + 1, m->name, nl) != 0)
        return -1;
    int segments = 2;
    for (size_t i = 0; i < rl; i++)
        segments += svc->route[i] == '/';
    return segments;
}

/* match_method matches the request path (as for match_segments) against m's web path. */
static int match_method(const char *path, size_t len, const silk_service_desc *svc,
                        const silk_method_desc *m, silk__gw_route *out)
{
    if (m->n_http_segments == 0)
        return match_default(path, len, svc, m);
    return match_segments(path, len, m, out);
}

static enum http_method http_method_of(silk_http_verb verb)
{
    switch (verb) {
    case SILK_HTTP_GET:
        return HTTP_GET;
    case SILK_HTTP_PUT:
        return HTTP_PUT;
    case SILK_HTTP_DELETE:
        return HTTP_DELETE;
    case SILK_HTTP_PATCH:
        return HTTP_PATCH;
    case SILK_HTTP_POST:
    default:
        return HTTP_POST;
    }
}

#define VERB(m) (1u << (unsigned)(m))

silk__gw_route_kind silk__gw_route_find(const silk_service_desc *const *services, size_t n_services,
                                        enum http_method method, const char *path,
                                        silk__gw_route *out)
{
    memset(out, 0, sizeof *out);
    if (method == HTTP_HEAD)
        method = HTTP_GET;
    while (*path == '/')
        path++;
    size_t console = strlen(SILK__GW_CONSOLE_NAME);
    bool is_console = strncmp(path, SILK__GW_CONSOLE_NAME, console) == 0 &&
                      (path[console] == '\0' || path[console] == '/');
    if (strcmp(path, "healthz") == 0 || strcmp(path, "metrics") == 0 ||
        strcmp(path, "openapi.json") == 0 || is_console) {
        out->allow = VERB(HTTP_GET) | VERB(HTTP_HEAD);
        out->kind = method != HTTP_GET ? SILK__GW_ROUTE_BAD_METHOD
                    : is_console       ? SILK__GW_ROUTE_CONSOLE
                    : path[0] == 'h'   ? SILK__GW_ROUTE_HEALTH
                    : path[0] == 'm'   ? SILK__GW_ROUTE_METRICS
                                       : SILK__GW_ROUTE_OPENAPI;
        return out->kind;
    }
    int best = -1;
    silk__gw_route r;
    size_t len = strlen(path);
    if (len > 0 && path[len - 1] == '/')
        len--;
    for (size_t i = 0; i < n_services; i++) {
        const silk_service_desc *svc = services[i];
        for (size_t j = 0; j < svc->n_methods; j++) {
            const silk_method_desc *m = &svc->methods[j];
            memset(&r, 0, sizeof r);
            int score = match_method(path, len, svc, m, &r);
            if (score < 0)
                continue;
            enum http_method verb = http_method_of(m->http_verb);
            out->allow |= VERB(verb) | (verb == HTTP_GET ? VERB(HTTP_HEAD) : 0);
            if (verb != method || score <= best)
                continue;
            best = score;
            silk__gw_verbs allow = out->allow;
            *out = r;
            out->allow = allow;
            out->kind = SILK__GW_ROUTE_CALL;
            out->service_index = i;
            out->service = svc;
            out->method = m;
        }
        size_t rl = strlen(svc->route);
        if (svc->websocket && strncasecmp(path, svc->route, rl) == 0 &&
            (path[rl] == '\0' || (path[rl] == '/' && path[rl + 1] == '\0'))) {
            out->allow |= VERB(HTTP_GET) | VERB(HTTP_HEAD);
            if (method == HTTP_GET && best < 0) {
                silk__gw_verbs allow = out->allow;
                memset(out, 0, sizeof *out);
                out->allow = allow;
                out->kind = SILK__GW_ROUTE_WEBSOCKET;
                out->service_index = i;
                out->service = svc;
                best = 1000; /* the route itself wins over any method path */
            }
        }
    }
    if (out->kind == SILK__GW_ROUTE_NONE && out->allow != 0)
        out->kind = SILK__GW_ROUTE_BAD_METHOD;
    return out->kind;
}

char *silk__gw_route_allow(silk__gw_verbs allow, char *out, size_t out_size)
{
    static const enum http_method order[] = {HTTP_GET, HTTP_HEAD,  HTTP_POST,
                                             HTTP_PUT, HTTP_PATCH, HTTP_DELETE};
    size_t n = 0;
    if (out_size == 0)
        return out;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        if (!(allow & VERB(order[i])))
            continue;
        int w = snprintf(out + n, out_size - n, "%s%s", n ? ", " : "", http_method_str(order[i]));
        if (w < 0 || (size_t)w >= out_size - n)
            break;
        n += (size_t)w;
    }
    return out;
}

/* ============================================================================
 * The business id
 * ========================================================================== */

/* The names a business id goes by. */
static const char *const query_names[] = {"businessId", "bussinessId"};
static const char *const header_names[] = {"businessId", "bussinessId", "business-id"};

bool silk__gw_route_is_business_id_name(const char *name)
{
    for (size_t i = 0; i < sizeof query_names / sizeof query_names[0]; i++)
        if (strcasecmp(name, query_names[i]) == 0)
            return true;
    return strcasecmp(name, "business_id") == 0;
}

bool silk__gw_business_id_valid(const char *id, size_t len)
{
    if (len == 0 || len > SILK__GW_BUSINESS_ID_MAX || !silk__utf8_valid(id, len))
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)id[i] < 0x20 || id[i] == 0x7f)
            return false;
    return true;
}

/* checked returns n, the length of the id in out, or -2 when that id is not valid. */
static long checked(const char *out, long n)
{
    return silk__gw_business_id_valid(out, (size_t)n) ? n : -2;
}

long silk__gw_route_business_id(const silk__gw_http_request *req, char *out, size_t out_size)
{
    for (size_t i = 0; i < sizeof query_names / sizeof query_names[0]; i++) {
        /* Read into room for more than out holds, so that an id too long is told from none
         * in the one pass over the query. */
        char value[4 * SILK__GW_BUSINESS_ID_MAX];
        long n = silk__gw_http_query_get(req->query, query_names[i], value, sizeof value);
        if (n <= 0)
            continue;
        if ((size_t)n >= out_size)
            return -2;
        memcpy(out, value, (size_t)n + 1);
        return checked(out, n);
    }
    for (size_t i = 0; i < sizeof header_names / sizeof header_names[0]; i++) {
        const char *v = silk__gw_http_header_get(req, header_names[i]);
        size_t n = v ? strlen(v) : 0;
        if (n == 0)
            continue;
        if (n >= out_size)
            return -2;
        memcpy(out, v, n + 1);
        return checked(out, (long)n);
    }
    return -1;
}
