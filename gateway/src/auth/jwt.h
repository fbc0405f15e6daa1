/* jwt.h - JSON Web Tokens (RFC 7519) at the gateway: a key loaded once, tokens verified with it.
 *
 * Free of I/O but for reading the key file, and of the gateway's other parts, so that
 * tests/fuzz/jwt_fuzz.c can drive it alone. Signatures are checked by libjwt (RS*, ES*) or
 * OpenSSL (PS*, which libjwt 1.10 lacks, and HS*, which it compares in variable time); the
 * header's "alg" and every claim are checked here, with jansson. */
#ifndef SILK_GATEWAY_JWT_H
#define SILK_GATEWAY_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest token verified, in bytes; a longer one is refused. */
#define SILK__GW_JWT_MAX_TOKEN 8192

/* The longest payload passed on as auth-claims, in bytes of compact JSON (a metadata value's
 * limit, SILK_MD_MAX_VALUE); a token with a larger one is refused. */
#define SILK__GW_JWT_MAX_CLAIMS 4096

/* What is checked besides the signature; every string is the caller's and must outlive the
 * key it was given to. */
typedef struct silk__gw_jwt_opts {
    const char *issuer;         /* "iss" must equal it; NULL: not checked */
    const char *audience;       /* "aud" (a string or an array) must hold it; NULL: not checked */
    long leeway;                /* seconds of clock skew allowed for "exp" and "nbf" */
    const char *business_claim; /* the claim listing the business ids; NULL: none */
} silk__gw_jwt_opts;

/* A verification key and its options: read-only once made, so any thread may verify with it. */
typedef struct silk__gw_jwt silk__gw_jwt;

/* What a verified token says. Every pointer is the struct's own, freed by
 * silk__gw_jwt_claims_fini(). */
typedef struct silk__gw_jwt_claims {
    char *subject;       /* "sub", or "" when the token has none */
    char *json;          /* the payload as compact JSON */
    double expires;      /* "exp" plus the leeway, seconds since the epoch; 0: no "exp" */
    char **business_ids; /* the business claim's ids (with a business claim configured) */
    size_t n_business_ids;
} silk__gw_jwt_claims;

/* silk__gw_jwt_new makes a key from len bytes: a PEM public key (RSA: RS256/384/512 and
 * PS256/384/512; EC on P-256, P-384 or P-521: ES256, ES384 or ES512) or, when the bytes hold
 * no PEM block, an HMAC secret (HS256, HS384 and HS512, each only with a secret at least as
 * long as its hash: 32, 48, 64 bytes) without its trailing line end. The key's kind fixes the
 * algorithms it accepts. On success it returns 0 and *out, the caller's to free with
 * silk__gw_jwt_free(); on error -1 with why in err (err_size bytes with the NUL; never the
 * key's bytes). opts is copied, not its strings. */
int silk__gw_jwt_new(const uint8_t *key, size_t len, const silk__gw_jwt_opts *opts,
                     silk__gw_jwt **out, char *err, size_t err_size);

/* silk__gw_jwt_load is silk__gw_jwt_new with the bytes of the file at path (64 KiB at most). */
int silk__gw_jwt_load(const char *path, const silk__gw_jwt_opts *opts, silk__gw_jwt **out,
                      char *err, size_t err_size);

/* silk__gw_jwt_free frees a key; NULL is ignored. */
void silk__gw_jwt_free(silk__gw_jwt *j);

/* silk__gw_jwt_describe returns what kind of key j is ("an HMAC secret", "an RSA public key",
 * "an EC P-256 public key"), as a static string. */
const char *silk__gw_jwt_describe(const silk__gw_jwt *j);

/* silk__gw_jwt_verify verifies a compact JWS token at now (seconds since the epoch): three
 * base64url segments; a header whose "alg" the key accepts ("none" never) and whose JSON has
 * no duplicate names; the signature; a payload that is a JSON object whose "exp" (when
 * present) is after now - leeway, "nbf" (when present) at most now + leeway, "iss" and "aud"
 * as configured, and the business claim (when configured and present) a string or an array
 * of strings. On success it returns 0 and fills *out (the caller's: silk__gw_jwt_claims_fini).
 * On error it returns -1, *out is zeroed and *why says what was wrong, as a static string
 * that never holds any part of the token. Any thread. */
int silk__gw_jwt_verify(const silk__gw_jwt *j, const char *token, double now,
                        silk__gw_jwt_claims *out, const char **why);

/* silk__gw_jwt_business_bound tells whether j binds tokens to business ids (a business claim
 * is configured). */
bool silk__gw_jwt_business_bound(const silk__gw_jwt *j);

/* silk__gw_jwt_allows tells whether verified claims list business_id (compared exactly). */
bool silk__gw_jwt_allows(const silk__gw_jwt_claims *c, const char *business_id);

/* silk__gw_jwt_claims_fini frees what c holds and zeroes it; a zeroed c is fine. */
void silk__gw_jwt_claims_fini(silk__gw_jwt_claims *c);

#endif /* SILK_GATEWAY_JWT_H */
