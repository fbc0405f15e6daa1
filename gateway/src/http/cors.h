/* cors.h - CORS for the web API (--cors-origin): which origins may read it, and the headers of
 * preflights and of actual responses. */
#ifndef SILK_GATEWAY_CORS_H
#define SILK_GATEWAY_CORS_H

#include <stdbool.h>
#include <stddef.h>

#include "http/parser.h"
#include "http/routes.h"

struct silk__gw;
struct silk__gw_opts;

/* The longest --cors-origin, in bytes: a scheme, a host name of 253 and a port fit. */
#define SILK__GW_CORS_ORIGIN_MAX 300

/* How long a browser may keep a preflight's answer, in seconds. */
#define SILK__GW_CORS_MAX_AGE 600

/* silk__gw_cors_origin_valid tells whether a --cors-origin may be given: '*', or an origin as
 * a browser sends it, "http://" or "https://" and a host with an optional port, no path. */
bool silk__gw_cors_origin_valid(const char *origin);

/* silk__gw_cors_allow_origin returns what Access-Control-Allow-Origin says to req: "*" when
 * --cors-origin '*' is given, the request's Origin when one --cors-origin names it (compared
 * without regard to case), or NULL: no flag, no Origin, Origin given twice, or not listed. */
const char *silk__gw_cors_allow_origin(const struct silk__gw_opts *o,
                                       const silk__gw_http_request *req);

/* silk__gw_cors_is_preflight tells whether req is a CORS preflight the flag applies to: OPTIONS
 * with Origin and Access-Control-Request-Method, with --cors-origin given. */
bool silk__gw_cors_is_preflight(const struct silk__gw_opts *o, const silk__gw_http_request *req);

/* silk__gw_cors_api_verbs returns the verbs the linked services' methods take on path (HEAD
 * with GET), or 0 when path is no method's: a WebSocket route, /healthz, /metrics, nothing. */
silk__gw_verbs silk__gw_cors_api_verbs(const struct silk__gw *gw, const char *path);

/* silk__gw_cors_preflight_headers writes the header lines of a preflight's 204 for
 * allow_origin (from silk__gw_cors_allow_origin) and verbs into out (size bytes with the NUL):
 * Access-Control-Allow-Origin (and Vary: Origin, unless "*"), -Allow-Methods, -Allow-Headers
 * (Content-Type, Authorization, the business id's headers and the --forward-header names)
 * and -Max-Age. It returns the length, or 0 when they do not fit. */
size_t silk__gw_cors_preflight_headers(const struct silk__gw_opts *o, const char *allow_origin,
                                       silk__gw_verbs verbs, char *out, size_t size);

/* silk__gw_cors_response_headers writes the CORS header lines of an actual response to req
 * into out (size bytes with the NUL): with a listed Origin (with '*', always),
 * Access-Control-Allow-Origin and -Expose-Headers; Vary: Origin whenever the flag lists
 * origins (not for '*'), so that
 * no cache hands one origin's answer to another. It returns the length: 0 without the flag,
 * or when they do not fit. */
size_t silk__gw_cors_response_headers(const struct silk__gw_opts *o,
                                      const silk__gw_http_request *req, char *out, size_t size);

#endif /* SILK_GATEWAY_CORS_H */
