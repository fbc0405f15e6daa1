/* jwt_fuzz.c - libFuzzer driver for the gateway's token path (gateway/src/auth/jwt.c): the
 * header's base64url and JSON, the "alg" check, the signature and the claims, against a fixed
 * HMAC secret with an issuer, an audience and a business claim configured.
 *
 * An input whose first byte is even is a token, verbatim. An odd first byte makes the rest
 * "header JSON\npayload JSON": the driver encodes both and signs them with the secret (as
 * HS256 whatever the header says, so that alg mismatches are tried too), which takes every
 * input past the signature to the claims. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth/jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char secret[] = "jwt_fuzz's fixed HMAC secret, long enough for HS256";

/* b64url writes the unpadded base64url of n bytes at out and returns its length. */
static size_t b64url(const uint8_t *in, size_t n, char *out)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t len = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        size_t chars = n - i >= 3 ? 4 : n - i + 1;
        for (size_t k = 0; k < chars; k++)
            out[len++] = abc[(v >> (18 - 6 * k)) & 63];
    }
    return len;
}

/* signed_token makes "b64(header).b64(payload).b64(HMAC-SHA256)" from "header\npayload";
 * NULL when the input has no line break. */
static char *signed_token(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    if (nl == NULL)
        return NULL;
    size_t head_len = (size_t)(nl - data), body_len = size - head_len - 1;
    char *t = malloc((size + 32) / 3 * 4 + 64);
    if (t == NULL)
        return NULL;
    size_t n = b64url(data, head_len, t);
    t[n++] = '.';
    n += b64url(nl + 1, body_len, t + n);
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned mac_len = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const uint8_t *)t, n, mac, &mac_len);
    t[n++] = '.';
    n += b64url(mac, mac_len, t + n);
    t[n] = '\0';
    return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static silk__gw_jwt *jwt;
    char err[256];
    if (jwt == NULL) {
        silk__gw_jwt_opts opts = {.issuer = "https://issuer.example",
                                  .audience = "silk",
                                  .leeway = 5,
                                  .business_claim = "bids"};
        if (silk__gw_jwt_new((const uint8_t *)secret, strlen(secret), &opts, &jwt, err,
                             sizeof err) != 0)
            abort();
    }
    if (size == 0)
        return 0;
    char *token;
    if (data[0] & 1) {
        token = signed_token(data + 1, size - 1);
    } else if ((token = malloc(size)) != NULL) {
        memcpy(token, data + 1, size - 1);
        token[size - 1] = '\0';
    }
    if (token == NULL)
        return 0;
    silk__gw_jwt_claims claims;
    const char *why = NULL;
    if (silk__gw_jwt_verify(jwt, token, 1700000000.0, &claims, &why) == 0) {
        if (claims.subject == NULL || claims.json == NULL ||
            strlen(claims.json) > SILK__GW_JWT_MAX_CLAIMS)
            abort(); /* a verified token always has a subject ("" at least) and its JSON */
        for (size_t i = 0; i < claims.n_business_ids; i++)
            if (!silk__gw_jwt_allows(&claims, claims.business_ids[i]))
                abort();
        silk__gw_jwt_claims_fini(&claims);
    } else if (why == NULL || claims.json != NULL) {
        abort(); /* a refusal says why and hands out nothing */
    }
    free(token);
    return 0;
}
