/* cors.c - CORS for the web API (--cors-origin): which origins may read it, and the headers of
 * preflights and of actual responses. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http/cors.h"
#include "loop/gateway.h"

/* The headers a page may send with a call: its body's type, its token, the business id's
 * headers (routes.h); the --forward-header names follow. */
#define ALLOW_HEADERS "Content-Type, Authorization, BusinessId, Business-Id"

/* The headers of a response a page may read beyond the safelisted ones. */
#define EXPOSE_HEADERS "Retry-After, WWW-Authenticate"

bool silk__gw_cors_origin_valid(const char *origin)
{
    if (strcmp(origin, "*") == 0)
        return true;
    size_t n = strlen(origin);
    const char *host = strncasecmp(origin, "https://", 8) == 0  ? origin + 8
                       : strncasecmp(origin, "http://", 7) == 0 ? origin + 7
                                                                : NULL;
    if (host == NULL || *host == '\0' || *host == ':' || n > SILK__GW_CORS_ORIGIN_MAX)
        return false;
    bool port = false;
    for (const char *p = host; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == ':' && !port && p[1] != '\0') {
            port = true;
            continue;
        }
        bool ok = port ? c >= '0' && c <= '9'
                       : (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                             (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '[' ||
                             c == ']' || c == '_';
        if (!ok)
            return false;
    }
    return true;
}

/* any_origin tells whether --cors-origin '*' is given. */
static bool any_origin(const silk__gw_opts *o)
{
    for (size_t i = 0; i < o->n_cors_origins; i++)
        if (strcmp(o->cors_origins[i], "*") == 0)
            return true;
    return false;
}

const char *silk__gw_cors_allow_origin(const silk__gw_opts *o, const silk__gw_http_request *req)
{
    if (o->n_cors_origins == 0 || silk__gw_http_header_count(req, "Origin") != 1)
        return NULL;
    if (any_origin(o))
        return "*";
    const char *origin = silk__gw_http_header_get(req, "Origin");
    for (size_t i = 0; i < o->n_cors_origins; i++)
        if (strcasecmp(origin, o->cors_origins[i]) == 0)
            return origin;
    return NULL;
}

bool silk__gw_cors_is_preflight(const silk__gw_opts *o, const silk__gw_http_request *req)
{
    return o->n_cors_origins > 0 && req->method == HTTP_OPTIONS &&
           silk__gw_http_header_get(req, "Origin") != NULL &&
           silk__gw_http_header_get(req, "Access-Control-Request-Method") != NULL;
}

silk__gw_verbs silk__gw_cors_api_verbs(const silk__gw *gw, const char *path)
{
    static const enum http_method verbs[] = {HTTP_GET, HTTP_POST, HTTP_PUT, HTTP_PATCH,
                                             HTTP_DELETE};
    silk__gw_verbs out = 0;
    silk__gw_route r;
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
        if (silk__gw_route_find(gw->services, gw->n_services, verbs[i], path, &r) !=
            SILK__GW_ROUTE_CALL)
            continue;
        out |= 1u << (unsigned)verbs[i];
        if (verbs[i] == HTTP_GET)
            out |= 1u << (unsigned)HTTP_HEAD;
    }
    return out;
}

/* APPEND adds what snprintf makes of its arguments to out at *n (size bytes in all); when it
 * does not fit, the function it is in returns 0. */
#define APPEND(out, n, size, ...)                                                                  \
    do {                                                                                           \
        int w_ = snprintf((out) + *(n), (size) - *(n), __VA_ARGS__);                               \
        if (w_ < 0 || (size_t)w_ >= (size) - *(n))                                                 \
            return 0;                                                                              \
        *(n) += (size_t)w_;                                                                        \
    } while (0)

size_t silk__gw_cors_preflight_headers(const silk__gw_opts *o, const char *allow_origin,
                                       silk__gw_verbs verbs, char *out, size_t size)
{
    char methods[128];
    size_t n = 0;
    if (size == 0)
        return 0;
    bool any = strcmp(allow_origin, "*") == 0;
    APPEND(out, &n, size, "Access-Control-Allow-Origin: %s\r\n%s", allow_origin,
           any ? "" : "Vary: Origin\r\n");
    APPEND(out, &n, size, "Access-Control-Allow-Methods: %s\r\n",
           silk__gw_route_allow(verbs, methods, sizeof methods));
    APPEND(out, &n, size, "Access-Control-Allow-Headers: " ALLOW_HEADERS);
    for (size_t i = 0; i < o->n_forward_headers; i++)
        APPEND(out, &n, size, ", %s", o->forward_headers[i]);
    APPEND(out, &n, size, "\r\nAccess-Control-Max-Age: %d\r\n", SILK__GW_CORS_MAX_AGE);
    return n;
}

size_t silk__gw_cors_response_headers(const silk__gw_opts *o, const silk__gw_http_request *req,
                                      char *out, size_t size)
{
    size_t n = 0;
    if (o->n_cors_origins == 0 || size == 0)
        return 0;
    /* With '*' every answer is the same, Origin or none, so that a cache may keep any. */
    const char *allow = any_origin(o) ? "*" : silk__gw_cors_allow_origin(o, req);
    if (allow != NULL)
        APPEND(out, &n, size,
               "Access-Control-Allow-Origin: %s\r\nAccess-Control-Expose-Headers: " EXPOSE_HEADERS
               "\r\n",
               allow);
    if (!any_origin(o))
        APPEND(out, &n, size, "Vary: Origin\r\n");
    return n;
}
