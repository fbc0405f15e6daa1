/* http_fuzz.c - libFuzzer driver for the gateway's HTTP request parser and WebSocket handshake:
 * requests fed in chunks (pipelined, as a connection feeds them), each complete one checked as
 * an opening handshake, its business id looked up and an answer formatted. The first byte of
 * the input picks the chunk size. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ws/handshake.h"
#include "http/parser.h"
#include "http/routes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* check_request does what the gateway does with a complete request before routing it. */
static void check_request(const silk__gw_http_request *req)
{
    char accept[SILK__GW_WS_ACCEPT_LEN + 1];
    const char *why = NULL;
    int status = silk__gw_ws_handshake(req, accept, &why);
    if (status == 101) {
        size_t len;
        char *resp = silk__gw_ws_response(accept, "gw.00", "chat", &len);
        if (resp != NULL && (len < 12 || memcmp(resp, "HTTP/1.1 101", 12) != 0))
            abort();
        free(resp);
    } else if (why == NULL || (status != 400 && status != 426)) {
        abort(); /* every refusal says why, with one of the two statuses */
    }
    char bid[SILK__GW_BUSINESS_ID_MAX + 1];
    long n = silk__gw_route_business_id(req, bid, sizeof bid);
    if (n > 0 && (size_t)n != strlen(bid))
        abort();
    (void)silk__gw_http_header_has_token(req, "Connection", "upgrade");
    (void)silk__gw_http_header_get(req, "Origin");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t chunk = (size_t)data[0] % 64 + 1;
    const char *p = (const char *)data + 1;
    size_t left = size - 1;
    silk__gw_http_parser parser;
    silk__gw_http_parser_init(&parser);
    while (left > 0) {
        size_t n = left < chunk ? left : chunk, used = 0;
        int rv = silk__gw_http_feed(&parser, p, n, &used);
        if (used > n)
            abort();
        p += used;
        left -= used;
        if (rv == SILK__GW_HTTP_DONE) {
            check_request(&parser.req);
            silk__gw_http_reset(&parser);
        } else if (rv < 0) {
            int status = silk__gw_http_error_status(rv);
            if (status < 400 || status > 599)
                abort();
            break;
        } else if (used == 0) {
            break; /* MORE with nothing used: no progress possible */
        }
    }
    silk__gw_http_parser_fini(&parser);
    return 0;
}
