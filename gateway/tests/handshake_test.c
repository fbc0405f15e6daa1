/* handshake_test.c - unit tests of handshake.c: RFC 6455's sample key and every refusal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ws/handshake.h"

/* parse parses a request given as header lines into p; it must be complete. */
static void parse(silk__gw_http_parser *p, const char *head)
{
    size_t used;
    silk__gw_http_parser_init(p);
    assert_int_equal(silk__gw_http_feed(p, head, strlen(head), &used), SILK__GW_HTTP_DONE);
}

/* handshake builds a request from a method line and headers, and runs the check. */
static int handshake(const char *line, const char *upgrade, const char *connection,
                     const char *version, const char *key, char *accept, const char **why)
{
    char req[1024];
    int n = sprintf(req, "%s\r\nHost: 127.0.0.1\r\n", line);
    if (upgrade)
        n += sprintf(req + n, "Upgrade: %s\r\n", upgrade);
    if (connection)
        n += sprintf(req + n, "Connection: %s\r\n", connection);
    if (version)
        n += sprintf(req + n, "Sec-WebSocket-Version: %s\r\n", version);
    if (key)
        n += sprintf(req + n, "Sec-WebSocket-Key: %s\r\n", key);
    sprintf(req + n, "\r\n");
    silk__gw_http_parser p;
    parse(&p, req);
    int status = silk__gw_ws_handshake(&p.req, accept, why);
    silk__gw_http_parser_fini(&p);
    return status;
}

#define GET    "GET /api/wstest?businessId=100 HTTP/1.1"
#define SAMPLE "dGhlIHNhbXBsZSBub25jZQ=="

static void test_rfc_sample_key(void **state)
{
    (void)state;
    char accept[SILK__GW_WS_ACCEPT_LEN + 1];
    assert_int_equal(silk__gw_ws_accept_key(SAMPLE, accept), 0);
    assert_string_equal(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void test_valid_handshake(void **state)
{
    (void)state;
    char accept[SILK__GW_WS_ACCEPT_LEN + 1];
    const char *why;
    assert_int_equal(handshake(GET, "websocket", "Upgrade", "13", SAMPLE, accept, &why), 101);
    assert_string_equal(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    /* Tokens in lists and in any case. */
    assert_int_equal(handshake(GET, "WebSocket", "keep-alive, UPGRADE", "13", SAMPLE, accept, &why),
                     101);

    size_t len;
    char *resp = silk__gw_ws_response(accept, "gw1.00ff", NULL, &len);
    static const char want[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                               "Connection: Upgrade\r\n"
                               "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                               "Silk-Session-Id: gw1.00ff\r\n\r\n";
    assert_int_equal(len, sizeof want - 1);
    assert_memory_equal(resp, want, len);
    free(resp);

    resp = silk__gw_ws_response(accept, "gw1.00ff", "chat.v2", &len);
    static const char want_sub[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                   "Connection: Upgrade\r\n"
                                   "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                                   "Silk-Session-Id: gw1.00ff\r\n"
                                   "Sec-WebSocket-Protocol: chat.v2\r\n\r\n";
    assert_int_equal(len, sizeof want_sub - 1);
    assert_memory_equal(resp, want_sub, len);
    free(resp);
}

static void test_bad_key(void **state)
{
    (void)state;
    char accept[SILK__GW_WS_ACCEPT_LEN + 1];
    const char *why;
    static const char *const bad[] = {
        "",                           /* empty */
        "dGhlIHNhbXBsZSBub25jZQ",     /* no padding */
        "dGhlIHNhbXBsZSBub25jZQ=",    /* short */
        "dGhlIHNhbXBsZSBub25jZSE=",   /* 17 bytes */
        "dGhlIHNhbXBsZSBub25j",       /* 15 bytes */
        "dGhlIHNhbXBsZSBub2*jZQ==",   /* outside the alphabet */
        "dGhlIHNhbXBsZSBub25jZQ==AA", /* too long */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(handshake(GET, "websocket", "Upgrade", "13", bad[i], accept, &why), 400);
        assert_non_null(strstr(why, "Sec-WebSocket-Key"));
    }
    assert_int_equal(handshake(GET, "websocket", "Upgrade", "13", NULL, accept, &why), 400);
    assert_non_null(strstr(why, "Sec-WebSocket-Key"));
}

static void test_wrong_version_is_426(void **state)
{
    (void)state;
    char accept[SILK__GW_WS_ACCEPT_LEN + 1];
    const char *why;
    assert_int_equal(handshake(GET, "websocket", "Upgrade", "8", SAMPLE, accept, &why), 426);
    assert_int_equal(handshake(GET, "websocket", "Upgrade", "14", SAMPLE, accept, &why), 426);
    assert_int_equal(handshake(GET, "websocket", "Upgrade", NULL, SAMPLE, accept, &why), 426);
    assert_non_null(strstr(why, "13"));
}

static void test_bad_upgrade(void **state)
{
    (void)state;
    char accept[SILK__GW_WS_ACCEPT_LEN + 1];
    const char *why;
    assert_int_equal(handshake(GET, NULL, "Upgrade", "13", SAMPLE, accept, &why), 400);
    assert_non_null(strstr(why, "Upgrade"));
    assert_int_equal(handshake(GET, "h2c", "Upgrade", "13", SAMPLE, accept, &why), 400);
    assert_int_equal(handshake(GET, "websocket", NULL, "13", SAMPLE, accept, &why), 400);
    assert_non_null(strstr(why, "Connection"));
    assert_int_equal(handshake(GET, "websocket", "keep-alive", "13", SAMPLE, accept, &why), 400);
    assert_int_equal(
        handshake("POST /api/wstest HTTP/1.1", "websocket", "Upgrade", "13", SAMPLE, accept, &why),
        400);
    assert_non_null(strstr(why, "GET"));
    assert_int_equal(
        handshake("GET /api/wstest HTTP/1.0", "websocket", "Upgrade", "13", SAMPLE, accept, &why),
        400);

    /* No Host. */
    silk__gw_http_parser p;
    parse(&p, "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " SAMPLE "\r\n\r\n");
    assert_int_equal(silk__gw_ws_handshake(&p.req, accept, &why), 400);
    assert_non_null(strstr(why, "Host"));
    silk__gw_http_parser_fini(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc_sample_key), cmocka_unit_test(test_valid_handshake),
        cmocka_unit_test(test_bad_key),        cmocka_unit_test(test_wrong_version_is_426),
        cmocka_unit_test(test_bad_upgrade),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
