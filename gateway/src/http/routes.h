/* routes.h - which linked service a request is for: a WebSocket route or a method's web path. */
#ifndef SILK_GATEWAY_ROUTES_H
#define SILK_GATEWAY_ROUTES_H

#include <stddef.h>

#include <silk/service.h>

#include "http/parser.h"

typedef enum silk__gw_route_kind {
    SILK__GW_ROUTE_NONE = 0,   /* nothing here: 404 */
    SILK__GW_ROUTE_WEBSOCKET,  /* GET on a websocket-enabled service's route */
    SILK__GW_ROUTE_CALL,       /* a method's verb and web path */
    SILK__GW_ROUTE_BAD_METHOD, /* the path exists with other verbs: 405 */
    SILK__GW_ROUTE_HEALTH,     /* GET /healthz */
    SILK__GW_ROUTE_METRICS,    /* GET /metrics */
    SILK__GW_ROUTE_OPENAPI,    /* GET /openapi.json */
    SILK__GW_ROUTE_CONSOLE,    /* GET /_silk and under /_silk/ (http/console.h) */
} silk__gw_route_kind;

/* The most {field} parameters one web path may have. */
#define SILK__GW_ROUTE_MAX_PARAMS 8

/* A {field} of a method's web path and the request path's segments it matched: name is the
 * field's path ("id", "a.b", from the descriptor's segments), value (still percent-encoded,
 * not NUL-terminated) points into the request path. */
typedef struct silk__gw_route_param {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} silk__gw_route_param;

/* The verbs a path allows, for a 405's Allow header: bits (1 << enum http_method). */
typedef unsigned silk__gw_verbs;

typedef struct silk__gw_route {
    silk__gw_route_kind kind;
    size_t service_index; /* into the services given to silk__gw_route_find */
    const silk_service_desc *service;
    const silk_method_desc *method; /* for SILK__GW_ROUTE_CALL */
    size_t n_params;
    silk__gw_route_param params[SILK__GW_ROUTE_MAX_PARAMS];
    silk__gw_verbs allow; /* for SILK__GW_ROUTE_BAD_METHOD: the verbs the path takes */
} silk__gw_route;

/* The longest business id taken from a request, in bytes, and what a refusal of one says. */
#define SILK__GW_BUSINESS_ID_MAX  256
#define SILK__GW_BUSINESS_ID_RULE "businessId must be printable UTF-8 of at most 256 bytes"

/* silk__gw_route_find matches a request's verb and path against the gateway's own paths
 * (/healthz, /metrics, /openapi.json, /_silk and what is under /_silk/), the services' WebSocket
 * routes (GET on "/<route>" of a service with websocket set) and their methods' web paths, as
 * protoc-gen-silk parsed them into the descriptor's http_segments (a method without segments, from
 * a hand-made descriptor, has only "<route>/<method name>"). Literal segments compare without
 * regard to case, "{field}" (or "{a.b}") takes one non-empty segment into params, "{f=pattern}" the
 * segments its pattern matches; when several paths match, the one with the most literal segments
 * wins. One trailing '/' is ignored. HEAD counts as GET. It fills *out and returns its kind. */
silk__gw_route_kind silk__gw_route_find(const silk_service_desc *const *services, size_t n_services,
                                        enum http_method method, const char *path,
                                        silk__gw_route *out);

/* silk__gw_route_allow writes the verbs of allow as an Allow header's value ("GET, POST")
 * into out (out_size bytes with the NUL) and returns out. */
char *silk__gw_route_allow(silk__gw_verbs allow, char *out, size_t out_size);

/* silk__gw_business_id_valid tells whether id[0..len) may be a business id: 1 to
 * SILK__GW_BUSINESS_ID_MAX bytes of well-formed UTF-8 with no control byte (below 0x20, or
 * 0x7f), so that no id can break a log line, a header or a metadata value. */
bool silk__gw_business_id_valid(const char *id, size_t len);

/* silk__gw_route_business_id finds a request's business id: the query parameter businessId,
 * else a header businessId or business-id. Names compare without regard to case, and the
 * misspelling bussinessId of Silky's documentation is accepted too. It writes the id into
 * out (out_size bytes with the NUL) and returns its length; -1 when there is none (a query
 * value that is empty or badly escaped counts as none), -2 when the first one found does not
 * fit out or is not silk__gw_business_id_valid. */
long silk__gw_route_business_id(const silk__gw_http_request *req, char *out, size_t out_size);

/* silk__gw_route_is_business_id_name tells whether a query parameter's name is one the
 * business id goes by (compared without regard to case). */
bool silk__gw_route_is_business_id_name(const char *name);

#endif /* SILK_GATEWAY_ROUTES_H */
