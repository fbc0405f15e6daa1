/* jwt.c - JSON Web Tokens: the key's kind, the header's "alg" checked before any signature,
 * signatures by OpenSSL with the key parsed once (HS, RS, PS) or libjwt (ES), the claims by
 * jansson. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "auth/jwt.h"

/* The largest key file read. */
#define MAX_KEY_FILE (64 * 1024)

typedef enum key_kind { KEY_HMAC, KEY_RSA, KEY_EC } key_kind;

struct silk__gw_jwt {
    key_kind kind;
    int ec_bits;    /* KEY_EC: 256, 384 or 521 */
    uint8_t *key;   /* the secret, or the PEM text libjwt parses */
    size_t key_len; /* without a NUL (the PEM text has one after it) */
    EVP_PKEY *pkey; /* KEY_RSA and KEY_EC: the key, parsed once, for RS* and PS* */
    /* KEY_HMAC: for SHA-256, -384 and -512, a MAC context keyed once, copied per token. */
    EVP_MAC_CTX *hmac[3];
    silk__gw_jwt_opts opts;
};

/* ============================================================================
 * The algorithms, by key kind
 * ========================================================================== */

typedef struct alg_info {
    const char *name; /* as the header writes it, compared exactly */
    key_kind kind;
    int sha;     /* 256, 384 or 512 */
    bool pss;    /* RSASSA-PSS: verified here, libjwt 1.10 has none */
    int ec_bits; /* ES*: the curve the key must be on */
} alg_info;

static const alg_info algs[] = {
    {"HS256", KEY_HMAC, 256, false, 0}, {"HS384", KEY_HMAC, 384, false, 0},
    {"HS512", KEY_HMAC, 512, false, 0}, {"RS256", KEY_RSA, 256, false, 0},
    {"RS384", KEY_RSA, 384, false, 0},  {"RS512", KEY_RSA, 512, false, 0},
    {"PS256", KEY_RSA, 256, true, 0},   {"PS384", KEY_RSA, 384, true, 0},
    {"PS512", KEY_RSA, 512, true, 0},   {"ES256", KEY_EC, 256, false, 256},
    {"ES384", KEY_EC, 384, false, 384}, {"ES512", KEY_EC, 512, false, 521},
};

/* accepted_alg returns the algorithm named alg when j's key accepts it, else NULL: "none",
 * an algorithm of another key kind (an HS256 token against an RSA key: the confusion attack),
 * ES* on another curve, or HS* with a secret shorter than its hash (RFC 7518 3.2). */
static const alg_info *accepted_alg(const silk__gw_jwt *j, const char *alg)
{
    for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++) {
        const alg_info *a = &algs[i];
        if (strcmp(a->name, alg) != 0 || a->kind != j->kind)
            continue;
        if (a->kind == KEY_EC && a->ec_bits != j->ec_bits)
            return NULL;
        if (a->kind == KEY_HMAC && j->key_len < (size_t)a->sha / 8)
            return NULL;
        return a;
    }
    return NULL;
}

static const EVP_MD *digest(int sha)
{
    return sha == 512 ? EVP_sha512() : sha == 384 ? EVP_sha384() : EVP_sha256();
}

/* ============================================================================
 * base64url and JSON segments
 * ========================================================================== */

static int b64url_value(unsigned char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '-')
        return 62;
    if (ch == '_')
        return 63;
    return -1;
}

/* b64url_decode decodes len bytes of unpadded base64url (RFC 7515 2) into a new buffer with a
 * NUL after the *out_len bytes. The unused low bits of the last character must be zero, so
 * that one segment has one spelling. It returns the buffer (the caller frees it), or NULL when
 * the text is not base64url or memory is exhausted. */
static uint8_t *b64url_decode(const char *in, size_t len, size_t *out_len)
{
    if (len % 4 == 1)
        return NULL;
    uint8_t *out = malloc(len / 4 * 3 + 3);
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;
    for (size_t i = 0; out != NULL && i < len; i++) {
        int v = b64url_value((unsigned char)in[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (out != NULL && acc != 0) {
        free(out);
        return NULL;
    }
    if (out != NULL) {
        out[n] = '\0';
        *out_len = n;
    }
    return out;
}

/* segment_object decodes a base64url segment holding a JSON object; NULL when it does not,
 * or names a member twice (so that libjwt, which keeps the last, and this file agree). */
static json_t *segment_object(const char *seg, size_t len)
{
    size_t n;
    uint8_t *text = b64url_decode(seg, len, &n);
    if (text == NULL)
        return NULL;
    json_t *v = json_loadb((const char *)text, n, JSON_REJECT_DUPLICATES, NULL);
    free(text);
    if (v != NULL && !json_is_object(v)) {
        json_decref(v);
        v = NULL;
    }
    return v;
}

/* ============================================================================
 * Signatures
 * ========================================================================== */

/* pss_params sets RSASSA-PSS on pctx (RFC 7518 3.5: MGF1 with the same hash, a salt as long
 * as the hash); 1 on success, as OpenSSL's setters return. */
static int pss_params(EVP_PKEY_CTX *pctx, const EVP_MD *md)
{
    return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
           EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1 &&
           EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) == 1;
}

/* verify_rsa checks an RS* (PKCS #1 v1.5) or PS* signature over the signing input, the token
 * up to its second '.', with the key parsed once at start (libjwt 1.10 parses the PEM text
 * again for every token, which made an RS256 handshake 16 times dearer than one without). */
static int verify_rsa(const silk__gw_jwt *j, const alg_info *a, const char *input, size_t input_len,
                      const char *sig_b64, size_t sig_b64_len)
{
    size_t sig_len;
    uint8_t *sig = b64url_decode(sig_b64, sig_b64_len, &sig_len);
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    const EVP_MD *md = digest(a->sha);
    int ok = sig != NULL && mctx != NULL &&
             EVP_DigestVerifyInit(mctx, &pctx, md, NULL, j->pkey) == 1 &&
             (!a->pss || pss_params(pctx, md) == 1) &&
             EVP_DigestVerify(mctx, sig, sig_len, (const unsigned char *)input, input_len) == 1;
    EVP_MD_CTX_free(mctx);
    free(sig);
    return ok ? 0 : -1;
}

/* hmac_index is where j->hmac keeps the context of a SHA-2 size. */
static int hmac_index(int sha)
{
    return sha == 512 ? 2 : sha == 384 ? 1 : 0;
}

/* verify_hmac checks an HS* signature in constant time (libjwt 1.10 compares with strcmp,
 * which tells a timing attacker how much of a forged signature is right). */
static int verify_hmac(const silk__gw_jwt *j, const alg_info *a, const char *input,
                       size_t input_len, const char *sig_b64, size_t sig_b64_len)
{
    uint8_t mac[EVP_MAX_MD_SIZE];
    size_t mac_len = 0, sig_len;
    uint8_t *sig = b64url_decode(sig_b64, sig_b64_len, &sig_len);
    /* A copy of the keyed context: no digest fetched and no key scheduled per token. */
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup(j->hmac[hmac_index(a->sha)]);
    int ok = sig != NULL && ctx != NULL &&
             EVP_MAC_update(ctx, (const unsigned char *)input, input_len) == 1 &&
             EVP_MAC_final(ctx, mac, &mac_len, sizeof mac) == 1 && sig_len == mac_len &&
             CRYPTO_memcmp(sig, mac, mac_len) == 0;
    EVP_MAC_CTX_free(ctx);
    free(sig);
    return ok ? 0 : -1;
}

/* verify_signature checks the token's signature with j's key under algorithm a, already known
 * to be one the key accepts. libjwt reads the header's "alg" again and finds the same one. */
static int verify_signature(const silk__gw_jwt *j, const alg_info *a, const char *token,
                            size_t input_len)
{
    const char *sig = token + input_len + 1;
    int rv;
    if (a->kind == KEY_HMAC) {
        rv = verify_hmac(j, a, token, input_len, sig, strlen(sig));
    } else if (a->kind == KEY_RSA) {
        rv = verify_rsa(j, a, token, input_len, sig, strlen(sig));
    } else {
        jwt_t *t = NULL;
        rv = jwt_decode(&t, token, j->key, (int)j->key_len) == 0 ? 0 : -1;
        jwt_free(t);
    }
    ERR_clear_error(); /* this thread's OpenSSL errors belong to no one after a refusal */
    return rv;
}

/* ============================================================================
 * Claims
 * ========================================================================== */

/* audience_ok tells whether "aud", a string or an array of strings, holds want. */
static bool audience_ok(const json_t *aud, const char *want)
{
    if (json_is_string(aud))
        return strcmp(json_string_value(aud), want) == 0;
    size_t i;
    const json_t *v;
    json_array_foreach(aud, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), want) == 0)
            return true;
    }
    return false;
}

/* check_times checks "exp" and "nbf" against now with the leeway; NULL or why not. */
static const char *check_times(const silk__gw_jwt *j, const json_t *payload, double now,
                               double *expires)
{
    const json_t *exp = json_object_get(payload, "exp");
    const json_t *nbf = json_object_get(payload, "nbf");
    double leeway = (double)j->opts.leeway;
    *expires = 0;
    if (exp != NULL) {
        if (!json_is_number(exp) || !isfinite(json_number_value(exp)))
            return "the token's exp is not a number";
        if (now >= json_number_value(exp) + leeway)
            return "the token has expired";
        *expires = json_number_value(exp) + leeway;
    }
    if (nbf != NULL) {
        if (!json_is_number(nbf) || !isfinite(json_number_value(nbf)))
            return "the token's nbf is not a number";
        if (now + leeway < json_number_value(nbf))
            return "the token is not valid yet";
    }
    return NULL;
}

/* check_names checks "iss" and "aud" as configured; NULL or why not. */
static const char *check_names(const silk__gw_jwt *j, const json_t *payload)
{
    const json_t *iss = json_object_get(payload, "iss");
    const json_t *aud = json_object_get(payload, "aud");
    if (j->opts.issuer != NULL &&
        (!json_is_string(iss) || strcmp(json_string_value(iss), j->opts.issuer) != 0))
        return "the token's issuer is not the one expected";
    if (j->opts.audience != NULL && (aud == NULL || !audience_ok(aud, j->opts.audience)))
        return "the token is not for this audience";
    return NULL;
}

/* take_business_ids copies the business claim's ids into out; NULL or why not. */
static const char *take_business_ids(const silk__gw_jwt *j, const json_t *payload,
                                     silk__gw_jwt_claims *out)
{
    const json_t *claim =
        j->opts.business_claim != NULL ? json_object_get(payload, j->opts.business_claim) : NULL;
    if (claim == NULL)
        return NULL; /* no ids: no business id is allowed */
    size_t n = json_is_array(claim) ? json_array_size(claim) : 1;
    if (!json_is_array(claim) && !json_is_string(claim))
        return "the token's business claim is not a string or an array of strings";
    out->business_ids = calloc(n ? n : 1, sizeof *out->business_ids);
    if (out->business_ids == NULL)
        return "out of memory";
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_is_array(claim) ? json_array_get(claim, i) : claim;
        if (!json_is_string(v))
            return "the token's business claim is not a string or an array of strings";
        if ((out->business_ids[i] = strdup(json_string_value(v))) == NULL)
            return "out of memory";
        out->n_business_ids = i + 1;
    }
    return NULL;
}

/* read_claims checks a verified token's payload and fills out; NULL or why not. */
static const char *read_claims(const silk__gw_jwt *j, const json_t *payload, double now,
                               silk__gw_jwt_claims *out)
{
    const char *why = check_times(j, payload, now, &out->expires);
    if (why == NULL)
        why = check_names(j, payload);
    if (why == NULL)
        why = take_business_ids(j, payload, out);
    if (why != NULL)
        return why;
    const json_t *sub = json_object_get(payload, "sub");
    out->subject = strdup(json_is_string(sub) ? json_string_value(sub) : "");
    out->json = json_dumps(payload, JSON_COMPACT);
    if (out->subject == NULL || out->json == NULL)
        return "out of memory";
    if (strlen(out->json) > SILK__GW_JWT_MAX_CLAIMS)
        return "the token's claims are too large";
    return NULL;
}

/* ============================================================================
 * Verifying
 * ========================================================================== */

/* split finds the two '.' of a compact JWS; -1 unless there are exactly two, with three
 * non-empty segments. */
static int split(const char *token, size_t *dot1, size_t *dot2)
{
    const char *a = strchr(token, '.');
    const char *b = a ? strchr(a + 1, '.') : NULL;
    if (a == NULL || b == NULL || strchr(b + 1, '.') != NULL || a == token || b == a + 1 ||
        b[1] == '\0')
        return -1;
    *dot1 = (size_t)(a - token);
    *dot2 = (size_t)(b - token);
    return 0;
}

/* header_alg reads the header segment's "alg" and returns the algorithm when j's key accepts
 * it; NULL (with *why) when the header is malformed or the algorithm is not accepted. */
static const alg_info *header_alg(const silk__gw_jwt *j, const char *token, size_t len,
                                  const char **why)
{
    json_t *header = segment_object(token, len);
    const json_t *alg = header ? json_object_get(header, "alg") : NULL;
    const alg_info *a = json_is_string(alg) ? accepted_alg(j, json_string_value(alg)) : NULL;
    if (header == NULL)
        *why = "the token's header is not base64url JSON";
    else if (!json_is_string(alg))
        *why = "the token's header has no alg";
    else if (a == NULL)
        *why = "the token's algorithm is not accepted for this key";
    json_decref(header);
    return a;
}

int silk__gw_jwt_verify(const silk__gw_jwt *j, const char *token, double now,
                        silk__gw_jwt_claims *out, const char **why)
{
    size_t dot1, dot2;
    memset(out, 0, sizeof *out);
    if (strlen(token) > SILK__GW_JWT_MAX_TOKEN || split(token, &dot1, &dot2) != 0) {
        *why = "the token is not a compact JWS";
        return -1;
    }
    const alg_info *a = header_alg(j, token, dot1, why);
    if (a == NULL)
        return -1;
    if (verify_signature(j, a, token, dot2) != 0) {
        *why = "the token's signature does not verify";
        return -1;
    }
    json_t *payload = segment_object(token + dot1 + 1, dot2 - dot1 - 1);
    *why = payload ? read_claims(j, payload, now, out) : "the token's payload is not a JSON object";
    json_decref(payload);
    if (*why != NULL) {
        silk__gw_jwt_claims_fini(out);
        return -1;
    }
    return 0;
}

bool silk__gw_jwt_business_bound(const silk__gw_jwt *j)
{
    return j->opts.business_claim != NULL;
}

bool silk__gw_jwt_allows(const silk__gw_jwt_claims *c, const char *business_id)
{
    for (size_t i = 0; i < c->n_business_ids; i++)
        if (strcmp(c->business_ids[i], business_id) == 0)
            return true;
    return false;
}

void silk__gw_jwt_claims_fini(silk__gw_jwt_claims *c)
{
    for (size_t i = 0; i < c->n_business_ids; i++)
        free(c->business_ids[i]);
    free(c->business_ids);
    free(c->subject);
    free(c->json);
    memset(c, 0, sizeof *c);
}

/* ============================================================================
 * The key
 * ========================================================================== */

/* read_public_key parses j's PEM text as a public key and sets its kind; -1 (with err) when it
 * is not an RSA or EC public key on a curve of ES256, ES384 or ES512. */
static int read_public_key(silk__gw_jwt *j, char *err, size_t err_size)
{
    BIO *bio = BIO_new_mem_buf(j->key, (int)j->key_len);
    j->pkey = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    ERR_clear_error();
    if (j->pkey == NULL) {
        snprintf(err, err_size,
                 "the PEM is not a public key (private keys and certificates "
                 "are not taken)");
        return -1;
    }
    int id = EVP_PKEY_base_id(j->pkey), bits = EVP_PKEY_bits(j->pkey);
    if (id == EVP_PKEY_RSA) {
        j->kind = KEY_RSA;
        return 0;
    }
    if (id == EVP_PKEY_EC && (bits == 256 || bits == 384 || bits == 521)) {
        j->kind = KEY_EC;
        j->ec_bits = bits;
        return 0;
    }
    snprintf(err, err_size, "the public key is neither RSA nor EC on P-256, P-384 or P-521");
    return -1;
}

/* key_hmacs makes j's keyed HMAC contexts, one per SHA-2 size; -1 when OpenSSL cannot. */
static int key_hmacs(silk__gw_jwt *j)
{
    static const char *const names[] = {"SHA256", "SHA384", "SHA512"};
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    int rv = mac != NULL ? 0 : -1;
    for (int i = 0; i < 3 && rv == 0; i++) {
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)names[i], 0),
            OSSL_PARAM_construct_end(),
        };
        j->hmac[i] = EVP_MAC_CTX_new(mac);
        if (j->hmac[i] == NULL || EVP_MAC_init(j->hmac[i], j->key, j->key_len, params) != 1)
            rv = -1;
    }
    EVP_MAC_free(mac); /* each context holds its own reference */
    return rv;
}

int silk__gw_jwt_new(const uint8_t *key, size_t len, const silk__gw_jwt_opts *opts,
                     silk__gw_jwt **out, char *err, size_t err_size)
{
    silk__gw_jwt *j = calloc(1, sizeof *j);
    *out = NULL;
    if (j == NULL || (j->key = malloc(len + 1)) == NULL) {
        free(j);
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    memcpy(j->key, key, len);
    j->key[len] = '\0';
    j->key_len = len;
    j->opts = *opts;
    int rv = 0;
    if (strstr((const char *)j->key, "-----BEGIN") != NULL) {
        rv = read_public_key(j, err, err_size);
    } else {
        j->kind = KEY_HMAC;
        while (j->key_len > 0 && (key[j->key_len - 1] == '\n' || key[j->key_len - 1] == '\r'))
            j->key_len--;
        if (j->key_len < 32) {
            snprintf(err, err_size, "an HMAC secret must be at least 32 bytes (HS256)");
            rv = -1;
        } else if (key_hmacs(j) != 0) {
            snprintf(err, err_size, "cannot set up HMAC: %s",
                     ERR_reason_error_string(ERR_get_error()));
            rv = -1;
        }
    }
    if (rv != 0) {
        silk__gw_jwt_free(j);
        return -1;
    }
    *out = j;
    return 0;
}

int silk__gw_jwt_load(const char *path, const silk__gw_jwt_opts *opts, silk__gw_jwt **out,
                      char *err, size_t err_size)
{
    FILE *f = fopen(path, "rb");
    *out = NULL;
    if (f == NULL) {
        snprintf(err, err_size, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    uint8_t *buf = malloc(MAX_KEY_FILE + 1);
    size_t n = buf ? fread(buf, 1, MAX_KEY_FILE + 1, f) : 0;
    int failed = ferror(f);
    fclose(f);
    int rv = -1;
    if (buf == NULL)
        snprintf(err, err_size, "out of memory");
    else if (failed)
        snprintf(err, err_size, "cannot read %s", path);
    else if (n > MAX_KEY_FILE)
        snprintf(err, err_size, "%s is larger than %d bytes", path, MAX_KEY_FILE);
    else
        rv = silk__gw_jwt_new(buf, n, opts, out, err, err_size);
    if (buf != NULL)
        memset(buf, 0, n); /* a secret stays in j alone */
    free(buf);
    return rv;
}

void silk__gw_jwt_free(silk__gw_jwt *j)
{
    if (j == NULL)
        return;
    EVP_PKEY_free(j->pkey);
    for (int i = 0; i < 3; i++)
        EVP_MAC_CTX_free(j->hmac[i]);
    if (j->key != NULL)
        memset(j->key, 0, j->key_len);
    free(j->key);
    free(j);
}

const char *silk__gw_jwt_describe(const silk__gw_jwt *j)
{
    switch (j->kind) {
    case KEY_HMAC:
        return "an HMAC secret";
    case KEY_RSA:
        return "an RSA public key";
    case KEY_EC:
    default:
        return j->ec_bits == 256   ? "an EC P-256 public key"
               : j->ec_bits == 384 ? "an EC P-384 public key"
                                   : "an EC P-521 public key";
    }
}
