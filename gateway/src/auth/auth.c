/* auth.c - a request's bearer token found and verified, its business ids checked, and the
 * identity put in call metadata. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/auth.h"

/* bearer_token copies the request's token into out (out_size bytes with the NUL): the
 * Authorization header's, when it says Bearer, else the access_token parameter's. It returns
 * 0, or -1 when there is none or it does not fit. */
static int bearer_token(const silk__gw_http_request *req, char *out, size_t out_size)
{
    const char *h = silk__gw_http_header_get(req, "Authorization");
    if (h != NULL) {
        if (strncasecmp(h, "Bearer ", 7) != 0)
            return -1;
        h += 7;
        h += strspn(h, " ");
        size_t n = strlen(h);
        if (n == 0 || n >= out_size)
            return -1;
        memcpy(out, h, n + 1);
        return 0;
    }
    return silk__gw_http_query_get(req->query, SILK__GW_AUTH_TOKEN_PARAM, out, out_size) > 0 ? 0
                                                                                             : -1;
}

int silk__gw_auth_request(const silk__gw_jwt *jwt, const silk__gw_http_request *req,
                          bool public_route, double now, silk__gw_jwt_claims *out, const char **why)
{
    char token[SILK__GW_JWT_MAX_TOKEN + 1];
    memset(out, 0, sizeof *out);
    if (jwt == NULL || public_route)
        return 0;
    if (bearer_token(req, token, sizeof token) != 0) {
        *why = "a bearer token is required";
        return 401;
    }
    int rv = silk__gw_jwt_verify(jwt, token, now, out, why) == 0 ? 0 : 401;
    memset(token, 0, sizeof token);
    return rv;
}

int silk__gw_auth_business(const silk__gw_jwt *jwt, const silk__gw_jwt_claims *claims,
                           const char *business_id, const char **why)
{
    if (jwt == NULL || claims->json == NULL || !silk__gw_jwt_business_bound(jwt) ||
        business_id == NULL || silk__gw_jwt_allows(claims, business_id))
        return 0;
    *why = "the token does not allow this business id";
    return 403;
}

bool silk__gw_auth_is_token_param(const char *name)
{
    return strcasecmp(name, SILK__GW_AUTH_TOKEN_PARAM) == 0;
}

bool silk__gw_auth_reserved_key(const char *name)
{
    return strcasecmp(name, SILK__GW_MD_AUTH_SUBJECT) == 0 ||
           strcasecmp(name, SILK__GW_MD_AUTH_CLAIMS) == 0;
}

silk_status silk__gw_auth_set_metadata(silk_ctx *ctx, const char *subject, const char *json)
{
    if (json == NULL)
        return SILK_OK;
    silk_status st = silk_ctx_set(ctx, SILK__GW_MD_AUTH_SUBJECT, subject ? subject : "");
    if (st == SILK_OK)
        st = silk_ctx_set(ctx, SILK__GW_MD_AUTH_CLAIMS, json);
    return st;
}

/* is_token_pair tells whether a raw "name=value" pair of len bytes names the token. */
static bool is_token_pair(const char *pair, size_t len)
{
    char name[sizeof SILK__GW_AUTH_TOKEN_PARAM + 1];
    size_t name_len = strcspn(pair, "=&");
    if (name_len > len)
        name_len = len;
    return silk__gw_http_url_decode(pair, name_len, name, sizeof name) >= 0 &&
           silk__gw_auth_is_token_param(name);
}

char *silk__gw_auth_strip_query(const char *query)
{
    char *out = malloc(strlen(query) + 1);
    size_t n = 0;
    if (out == NULL)
        return NULL;
    for (const char *p = query; *p != '\0';) {
        size_t len = strcspn(p, "&");
        if (len > 0 && !is_token_pair(p, len)) {
            if (n > 0)
                out[n++] = '&';
            memcpy(out + n, p, len);
            n += len;
        }
        p += len;
        if (*p == '&')
            p++;
    }
    out[n] = '\0';
    return out;
}
