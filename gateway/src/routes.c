/* routes.c - which linked service a request is for: a WebSocket route or a method's web path. */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "routes.h"

/* path_is compares a request path with a route ("api/wstest") or with route + "/" + suffix
 * when suffix is not NULL: one leading '/' in path, case ignored, one trailing '/' allowed. */
static int path_is(const char *path, const char *route, const char *suffix)
{
    if (*path == '/')
        path++;
    size_t n = strlen(route);
    if (strncasecmp(path, route, n) != 0)
        return 0;
    path += n;
    if (suffix != NULL) {
        if (*path++ != '/')
            return 0;
        n = strlen(suffix);
        if (strncasecmp(path, suffix, n) != 0)
            return 0;
        path += n;
    }
    return path[0] == '\0' || (path[0] == '/' && path[1] == '\0');
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

/* method_path_is matches path against a method's web path. */
static int method_path_is(const char *path, const silk_service_desc *svc, const silk_method_desc *m)
{
    if (m->http_path != NULL && m->http_path[0] != '\0') {
        const char *p = m->http_path;
        while (*p == '/')
            p++;
        return path_is(path, p, NULL);
    }
    char lower[128];
    size_t i;
    for (i = 0; m->name[i] != '\0' && i + 1 < sizeof lower; i++)
        lower[i] = (char)tolower((unsigned char)m->name[i]);
    lower[i] = '\0';
    return path_is(path, svc->route, lower);
}

silk__gw_route_kind silk__gw_route_find(const silk_service_desc *const *services, size_t n_services,
                                        enum http_method method, const char *path,
                                        silk__gw_route *out)
{
    memset(out, 0, sizeof *out);
    if (strcmp(path, "/healthz") == 0) {
        out->kind = method == HTTP_GET ? SILK__GW_ROUTE_HEALTH : SILK__GW_ROUTE_BAD_METHOD;
        return out->kind;
    }
    for (size_t i = 0; i < n_services; i++) {
        const silk_service_desc *svc = services[i];
        for (size_t j = 0; j < svc->n_methods; j++) {
            const silk_method_desc *m = &svc->methods[j];
            if (!method_path_is(path, svc, m))
                continue;
            out->service_index = i;
            out->service = svc;
            out->method = m;
            if (http_method_of(m->http_verb) == method) {
                out->kind = SILK__GW_ROUTE_CALL;
                return out->kind;
            }
            out->kind = SILK__GW_ROUTE_BAD_METHOD;
        }
        if (svc->websocket && path_is(path, svc->route, NULL)) {
            out->service_index = i;
            out->service = svc;
            out->method = NULL;
            out->kind = method == HTTP_GET ? SILK__GW_ROUTE_WEBSOCKET : SILK__GW_ROUTE_BAD_METHOD;
            return out->kind;
        }
    }
    return out->kind;
}

/* The names a business id goes by. */
static const char *const query_names[] = {"businessId", "bussinessId"};
static const char *const header_names[] = {"businessId", "bussinessId", "business-id"};

long silk__gw_route_business_id(const silk__gw_http_request *req, char *out, size_t out_size)
{
    for (size_t i = 0; i < sizeof query_names / sizeof query_names[0]; i++) {
        long n = silk__gw_http_query_get(req->query, query_names[i], out, out_size);
        if (n > 0 && n <= SILK__GW_BUSINESS_ID_MAX)
            return n;
    }
    for (size_t i = 0; i < sizeof header_names / sizeof header_names[0]; i++) {
        const char *v = silk__gw_http_header_get(req, header_names[i]);
        size_t n = v ? strlen(v) : 0;
        if (n > 0 && n <= SILK__GW_BUSINESS_ID_MAX && n < out_size) {
            memcpy(out, v, n + 1);
            return (long)n;
        }
    }
    return -1;
}
