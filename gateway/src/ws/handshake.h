/* handshake.h - the RFC 6455 opening handshake: checking the request, computing the accept key. */
#ifndef SILK_GATEWAY_HANDSHAKE_H
#define SILK_GATEWAY_HANDSHAKE_H

#include <stddef.h>

#include "http/parser.h"

/* The length of a Sec-WebSocket-Accept value: base64 of a 20-byte SHA-1 digest. */
#define SILK__GW_WS_ACCEPT_LEN 28

/* silk__gw_ws_accept_key computes Sec-WebSocket-Accept for a Sec-WebSocket-Key: the base64 of
 * SHA-1(key + the RFC's GUID), written into out with a NUL. It returns 0, or -1 when
 * libcrypto fails. */
int silk__gw_ws_accept_key(const char *key, char out[SILK__GW_WS_ACCEPT_LEN + 1]);

/* silk__gw_ws_handshake checks that req is a valid opening handshake as RFC 6455 4.2.1 says: a
 * GET, HTTP/1.1 or later, Host, an Upgrade list holding "websocket", a Connection list
 * holding "upgrade", a Sec-WebSocket-Key of 16 bytes in base64 and Sec-WebSocket-Version 13.
 * On success it returns 101 and writes the accept key into accept. Otherwise it returns the
 * HTTP status to refuse with: 426 for a missing or other version (answer it with
 * "Sec-WebSocket-Version: 13"), 400 for the rest; *why (may be NULL) says what is wrong,
 * as a static string. */
int silk__gw_ws_handshake(const silk__gw_http_request *req, char accept[SILK__GW_WS_ACCEPT_LEN + 1],
                          const char **why);

/* silk__gw_ws_response formats the 101 response that completes a handshake, into a new
 * malloc'ed buffer; NULL when memory is exhausted. *len is its length. It tells the client
 * its session id in a Silk-Session-Id header, so that it can match pushes to itself, and the
 * subprotocol chosen (NULL or "": none) in Sec-WebSocket-Protocol. */
char *silk__gw_ws_response(const char accept[SILK__GW_WS_ACCEPT_LEN + 1], const char *session_id,
                           const char *subprotocol, size_t *len);

#endif /* SILK_GATEWAY_HANDSHAKE_H */
