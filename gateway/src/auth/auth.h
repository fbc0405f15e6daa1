/* auth.h - who a request comes from: its bearer token, from an Authorization header or the
 * access_token query parameter (RFC 6750 2.1 and 2.3), verified with the gateway's key, and
 * the call metadata that carries the identity to the services. */
#ifndef SILK_GATEWAY_AUTH_H
#define SILK_GATEWAY_AUTH_H

#include <stdbool.h>

#include <silk/ctx.h>
#include <silk/status.h>

#include "auth/jwt.h"
#include "http/parser.h"

/* The metadata the gateway sets from a verified token, and never from what a client sends:
 * the token's "sub", and its payload as JSON. */
#define SILK__GW_MD_AUTH_SUBJECT "auth-subject"
#define SILK__GW_MD_AUTH_CLAIMS  "auth-claims"

/* The query parameter a token may come in. */
#define SILK__GW_AUTH_TOKEN_PARAM "access_token"

/* The challenge every 401 of the gateway carries (RFC 6750 3). */
#define SILK__GW_AUTH_CHALLENGE "WWW-Authenticate: Bearer error=\"invalid_token\"\r\n"

/* silk__gw_auth_request authenticates a request: with no key (jwt NULL) or on a public route
 * it checks nothing and zeroes *out; otherwise the request's token must verify at now
 * (seconds since the epoch). It returns 0 with *out the token's claims (the caller's:
 * silk__gw_jwt_claims_fini), or 401 with *out zeroed and *why (static, never the token).
 * The Authorization header wins over the query parameter when both are sent. */
int silk__gw_auth_request(const silk__gw_jwt *jwt, const silk__gw_http_request *req,
                          bool public_route, double now, silk__gw_jwt_claims *out,
                          const char **why);

/* silk__gw_auth_business checks a business id against verified claims when the key binds
 * tokens to business ids: 0 when it may be used (or nothing binds: no key, a public route,
 * no business claim configured, or no business id), else 403 with *why. */
int silk__gw_auth_business(const silk__gw_jwt *jwt, const silk__gw_jwt_claims *claims,
                           const char *business_id, const char **why);

/* silk__gw_auth_is_token_param tells whether a query parameter's name is the token's. */
bool silk__gw_auth_is_token_param(const char *name);

/* silk__gw_auth_reserved_key tells whether a metadata key or header name (any case) is one
 * only a verified token sets: auth-subject and auth-claims. */
bool silk__gw_auth_reserved_key(const char *name);

/* silk__gw_auth_set_metadata sets auth-subject and auth-claims in ctx; with json NULL
 * (nothing was verified) it sets nothing. It returns SILK_OK or silk_ctx_set's error. */
silk_status silk__gw_auth_set_metadata(silk_ctx *ctx, const char *subject, const char *json);

/* silk__gw_auth_strip_query returns a new copy of a query string without its access_token
 * parameters (what OnOpen is told of), or NULL when memory is exhausted. */
char *silk__gw_auth_strip_query(const char *query);

#endif /* SILK_GATEWAY_AUTH_H */
