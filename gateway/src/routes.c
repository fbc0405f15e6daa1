/* routes.c - which linked service a request is for: a WebSocket route or a method's web path. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "routes.h"

/* ============================================================================
 * Paths as segments
 * ========================================================================== */

/* next_segment returns the length of the segment at *p (up to '/' or the end) and sets *next
 * past it and its '/', or to NULL at the end. */
static size_t next_segment(const char *p, const char **next)
{
    const char *slash = strchr(p, '/');
    if (slash == NULL) {
        *next = NULL;
        return strlen(p);
    }
    *next = slash + 1;
    return (size_t)(slash - p);
}

/* match_template matches a request path (without its leading '/') against a web path
 * template. It returns the number of literal segments matched, or -1 when it does not
 * match; params are filled. */
static int match_template(const char *path, const char *tmpl, silk__gw_route *out)
{
    int literals = 0;
    size_t n_params = 0;
    while (*tmpl == '/')
        tmpl++;
    const char *p = path, *t = tmpl;
    for (;;) {
        const char *pn, *tn;
        size_t pl = next_segment(p, &pn), tl = next_segment(t, &tn);
        /* One trailing '/' on the request is ignored: "a/b/" is "a/b". */
        if (pn != NULL && *pn == '\0')
            pn = NULL;
        if (tl >= 2 && t[0] == '{' && t[tl - 1] == '}') {
            if (pl == 0 || n_params == SILK__GW_ROUTE_MAX_PARAMS)
                return -1;
            out->params[n_params++] = (silk__gw_route_param){
                .name = t + 1, .name_len = tl - 2, .value = p, .value_len = pl};
        } else {
            if (pl != tl || strncasecmp(p, t, tl) != 0)
                return -1;
            literals++;
        }
        if ((pn == NULL) != (tn == NULL))
            return -1;
        if (pn == NULL)
            break;
        p = pn;
        t = tn;
    }
    out->n_params = n_params;
    return literals;
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

/* method_template returns a method's web path, or writes the default into buf. */
static const char *method_template(const silk_service_desc *svc, const silk_method_desc *m,
                                   char *buf, size_t size)
{
    if (m->http_path != NULL && m->http_path[0] != '\0')
        return m->http_path;
    int n = snprintf(buf, size, "%s/", svc->route);
    for (size_t i = 0; m->name[i] != '\0' && n >= 0 && (size_t)n + 1 < size; i++)
        buf[n++] = (char)tolower((unsigned char)m->name[i]);
    if (n >= 0 && (size_t)n < size)
        buf[n] = '\0';
    return buf;
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
    if (strcmp(path, "healthz") == 0 || strcmp(path, "metrics") == 0) {
        out->allow = VERB(HTTP_GET) | VERB(HTTP_HEAD);
        out->kind = method != HTTP_GET ? SILK__GW_ROUTE_BAD_METHOD
                    : path[0] == 'h'   ? SILK__GW_ROUTE_HEALTH
                                       : SILK__GW_ROUTE_METRICS;
        return out->kind;
    }
    int best = -1;
    silk__gw_route r;
    for (size_t i = 0; i < n_services; i++) {
        const silk_service_desc *svc = services[i];
        for (size_t j = 0; j < svc->n_methods; j++) {
            const silk_method_desc *m = &svc->methods[j];
            char buf[256];
            memset(&r, 0, sizeof r);
            int score = match_template(path, method_template(svc, m, buf, sizeof buf), &r);
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
