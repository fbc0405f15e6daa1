/* handshake.c - the RFC 6455 opening handshake: checking the request, computing the accept key. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "ws/handshake.h"

/* RFC 6455 1.3: the GUID appended to the client's key before hashing. */
static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

int silk__gw_ws_accept_key(const char *key, char out[SILK__GW_WS_ACCEPT_LEN + 1])
{
    unsigned char digest[SHA_DIGEST_LENGTH];
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md == NULL)
        return -1;
    int ok = EVP_DigestInit_ex(md, EVP_sha1(), NULL) && EVP_DigestUpdate(md, key, strlen(key)) &&
             EVP_DigestUpdate(md, ws_guid, sizeof ws_guid - 1) &&
             EVP_DigestFinal_ex(md, digest, NULL);
    EVP_MD_CTX_free(md);
    if (!ok)
        return -1;
    /* EVP_EncodeBlock writes 4 * ceil(20 / 3) = 28 characters and a NUL. */
    return EVP_EncodeBlock((unsigned char *)out, digest, sizeof digest) == SILK__GW_WS_ACCEPT_LEN
               ? 0
               : -1;
}

/* key_is_valid tells whether key is base64 for exactly 16 bytes: 22 characters of the
 * alphabet and "==" (RFC 6455 4.2.1, item 5). */
static int key_is_valid(const char *key)
{
    unsigned char raw[24];
    if (strlen(key) != 24 || key[22] != '=' || key[23] != '=')
        return 0;
    /* EVP_DecodeBlock counts the padding as zero bytes: 24 characters give 18. It fails on
     * any character outside the alphabet. */
    return EVP_DecodeBlock(raw, (const unsigned char *)key, 24) == 18;
}

int silk__gw_ws_handshake(const silk__gw_http_request *req, char accept[SILK__GW_WS_ACCEPT_LEN + 1],
                          const char **why)
{
    const char *dummy;
    if (why == NULL)
        why = &dummy;

    if (req->method != HTTP_GET) {
        *why = "a WebSocket handshake must be a GET";
        return 400;
    }
    if (req->http_major < 1 || (req->http_major == 1 && req->http_minor < 1)) {
        *why = "a WebSocket handshake needs HTTP/1.1";
        return 400;
    }
    if (silk__gw_http_header_get(req, "Host") == NULL) {
        *why = "the Host header is missing";
        return 400;
    }
    if (!silk__gw_http_header_has_token(req, "Upgrade", "websocket")) {
        *why = "Upgrade: websocket is missing";
        return 400;
    }
    if (!silk__gw_http_header_has_token(req, "Connection", "upgrade")) {
        *why = "Connection: upgrade is missing";
        return 400;
    }
    const char *version = silk__gw_http_header_get(req, "Sec-WebSocket-Version");
    if (version == NULL || strcmp(version, "13") != 0) {
        *why = "only Sec-WebSocket-Version 13 is supported";
        return 426;
    }
    const char *key = silk__gw_http_header_get(req, "Sec-WebSocket-Key");
    if (key == NULL || !key_is_valid(key)) {
        *why = "Sec-WebSocket-Key must be 16 bytes in base64";
        return 400;
    }
    if (silk__gw_ws_accept_key(key, accept) != 0) {
        *why = "the accept key could not be computed";
        return 500;
    }
    *why = "";
    return 101;
}

char *silk__gw_ws_response(const char accept[SILK__GW_WS_ACCEPT_LEN + 1], const char *session_id,
                           const char *subprotocol, size_t *len)
{
    char headers[512];
    bool sub = subprotocol != NULL && subprotocol[0] != '\0';
    int n = snprintf(headers, sizeof headers,
                     "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
                     "Silk-Session-Id: %s\r\n%s%.200s%s",
                     accept, session_id, sub ? "Sec-WebSocket-Protocol: " : "",
                     sub ? subprotocol : "", sub ? "\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof headers)
        return NULL;
    return silk__gw_http_response(101, headers, NULL, NULL, 0, false, len);
}
