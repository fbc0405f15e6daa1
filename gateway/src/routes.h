/* routes.h - which linked service a request is for: a WebSocket route or a method's web path. */
#ifndef SILK_GATEWAY_ROUTES_H
#define SILK_GATEWAY_ROUTES_H

#include <stddef.h>

#include <silk/service.h>

#include "http.h"

typedef enum silk__gw_route_kind {
    SILK__GW_ROUTE_NONE = 0,   /* nothing here: 404 */
    SILK__GW_ROUTE_WEBSOCKET,  /* GET on a websocket-enabled service's route */
    SILK__GW_ROUTE_CALL,       /* a method's verb and web path */
    SILK__GW_ROUTE_BAD_METHOD, /* the path exists with another verb: 405 */
    SILK__GW_ROUTE_HEALTH,     /* GET /healthz */
} silk__gw_route_kind;

typedef struct silk__gw_route {
    silk__gw_route_kind kind;
    size_t service_index; /* into the services given to silk__gw_route_find */
    const silk_service_desc *service;
    const silk_method_desc *method; /* for SILK__GW_ROUTE_CALL */
} silk__gw_route;

/* The longest business id taken from a request, in bytes. */
#define SILK__GW_BUSINESS_ID_MAX 256

/* silk__gw_route_find matches a request's verb and path against the services' routes: a GET on
 * "/<route>" of a service with websocket set, or "<verb> /<http_path>" of a method (the
 * default http_path is "<route>/<method name lower-cased>"). Paths compare without regard to
 * case and ignore one trailing '/'. It fills *out and returns its kind. */
silk__gw_route_kind silk__gw_route_find(const silk_service_desc *const *services, size_t n_services,
                                        enum http_method method, const char *path,
                                        silk__gw_route *out);

/* silk__gw_route_business_id finds a request's business id: the query parameter businessId,
 * else a header businessId or business-id. Names compare without regard to case, and the
 * misspelling bussinessId of Silky's documentation is accepted too. It writes the id into
 * out (out_size bytes with the NUL) and returns its length, or -1 when there is none, it is
 * empty, longer than SILK__GW_BUSINESS_ID_MAX or badly escaped. */
long silk__gw_route_business_id(const silk__gw_http_request *req, char *out, size_t out_size);

#endif /* SILK_GATEWAY_ROUTES_H */
