/* http_test.c - unit tests of http/parser.c: requests parsed from scripted bytes, limits, helpers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/parser.h"

/* feed_all feeds s in pieces of step bytes (all at once when step is 0) and returns the last
 * result; *used counts the bytes consumed. */
static int feed_all(silk__gw_http_parser *p, const char *s, size_t len, size_t step, size_t *used)
{
    size_t off = 0;
    int rc = SILK__GW_HTTP_MORE;
    while (off < len) {
        size_t n = step && len - off > step ? step : len - off;
        size_t u;
        rc = silk__gw_http_feed(p, s + off, n, &u);
        off += u;
        if (rc != SILK__GW_HTTP_MORE)
            break;
    }
    *used = off;
    return rc;
}

static void test_simple_get(void **state)
{
    (void)state;
    static const char req[] = "GET /api/wstest?businessId=100&x=y HTTP/1.1\r\n"
                              "Host: 127.0.0.1:5000\r\n"
                              "X-Spaces:   padded value  \r\n"
                              "\r\n";
    for (size_t step = 0; step < 5; step++) {
        silk__gw_http_parser p;
        size_t used;
        silk__gw_http_parser_init(&p);
        assert_int_equal(feed_all(&p, req, sizeof req - 1, step, &used), SILK__GW_HTTP_DONE);
        assert_int_equal(used, sizeof req - 1);
        assert_int_equal(p.req.method, HTTP_GET);
        assert_int_equal(p.req.http_major, 1);
        assert_int_equal(p.req.http_minor, 1);
        assert_string_equal(p.req.target, "/api/wstest?businessId=100&x=y");
        assert_string_equal(p.req.path, "/api/wstest");
        assert_string_equal(p.req.query, "businessId=100&x=y");
        assert_int_equal(p.req.n_headers, 2);
        assert_string_equal(silk__gw_http_header_get(&p.req, "host"), "127.0.0.1:5000");
        assert_string_equal(silk__gw_http_header_get(&p.req, "x-spaces"), "padded value");
        assert_null(silk__gw_http_header_get(&p.req, "Missing"));
        assert_true(p.req.keep_alive);
        assert_false(p.req.upgrade);
        assert_int_equal(p.req.body_len, 0);
        silk__gw_http_parser_fini(&p);
    }
}

static void test_post_body_and_pipelining(void **state)
{
    (void)state;
    static const char reqs[] = "POST /api/wstest/echo HTTP/1.1\r\n"
                               "Content-Length: 11\r\n"
                               "\r\n"
                               "{\"a\":\"b\"}\r\n"
                               "GET /healthz HTTP/1.1\r\n"
                               "Connection: close\r\n"
                               "\r\n";
    silk__gw_http_parser p;
    size_t used, off = 0;
    silk__gw_http_parser_init(&p);
    assert_int_equal(silk__gw_http_feed(&p, reqs, sizeof reqs - 1, &used), SILK__GW_HTTP_DONE);
    assert_int_equal(p.req.method, HTTP_POST);
    assert_int_equal(p.req.body_len, 11);
    assert_memory_equal(p.req.body, "{\"a\":\"b\"}\r\n", 11);
    assert_true(p.req.keep_alive);
    off += used;
    silk__gw_http_reset(&p);
    assert_int_equal(silk__gw_http_feed(&p, reqs + off, sizeof reqs - 1 - off, &used),
                     SILK__GW_HTTP_DONE);
    off += used;
    assert_int_equal(off, sizeof reqs - 1);
    assert_string_equal(p.req.path, "/healthz");
    assert_string_equal(p.req.query, "");
    assert_false(p.req.keep_alive);
    silk__gw_http_parser_fini(&p);
}

static void test_chunked_body(void **state)
{
    (void)state;
    static const char req[] = "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
    silk__gw_http_parser p;
    size_t used;
    silk__gw_http_parser_init(&p);
    assert_int_equal(feed_all(&p, req, sizeof req - 1, 3, &used), SILK__GW_HTTP_DONE);
    assert_int_equal(p.req.body_len, 5);
    assert_string_equal(p.req.body, "abcde");
    silk__gw_http_parser_fini(&p);
}

static void test_upgrade_leaves_frames(void **state)
{
    (void)state;
    static const char req[] = "GET /api/wstest HTTP/1.1\r\n"
                              "Host: h\r\n"
                              "Upgrade: websocket\r\n"
                              "Connection: Upgrade\r\n"
                              "\r\n"
                              "\x81\x85XYZW";
    silk__gw_http_parser p;
    size_t used;
    silk__gw_http_parser_init(&p);
    assert_int_equal(silk__gw_http_feed(&p, req, sizeof req - 1, &used), SILK__GW_HTTP_DONE);
    assert_true(p.req.upgrade);
    assert_false(p.req.keep_alive);
    /* Exactly the request is consumed: the frame bytes are left for wslay. */
    assert_int_equal(used, sizeof req - 1 - 6);
    silk__gw_http_parser_fini(&p);
}

static void test_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "THIS IS NOT HTTP\r\n\r\n",
        "GET / HTTP/1.1\r\nBad Header\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "GET /\x01 HTTP/1.1\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        silk__gw_http_parser p;
        size_t used;
        silk__gw_http_parser_init(&p);
        int rc = silk__gw_http_feed(&p, bad[i], strlen(bad[i]), &used);
        assert_int_equal(rc, SILK__GW_HTTP_ERR_MALFORMED);
        assert_int_equal(silk__gw_http_error_status(rc), 400);
        /* Once failed, it stays failed. */
        assert_int_equal(silk__gw_http_feed(&p, "GET", 3, &used), SILK__GW_HTTP_ERR_MALFORMED);
        silk__gw_http_parser_fini(&p);
    }
}

/* refused_at feeds req in pieces of step bytes and asserts that it is refused with want. */
static void refused_at(const char *req, size_t len, int want)
{
    for (size_t step = 0; step <= 7; step += 1) {
        silk__gw_http_parser p;
        size_t used;
        silk__gw_http_parser_init(&p);
        int rc = feed_all(&p, req, len, step, &used);
        if (rc != want)
            print_error("step %zu: %.*s\n", step, (int)len, req);
        assert_int_equal(rc, want);
        assert_non_null(p.why);
        /* Once failed, it stays failed. */
        assert_int_equal(silk__gw_http_feed(&p, "GET", 3, &used), want);
        silk__gw_http_parser_fini(&p);
    }
}

#define REFUSED(req, want) refused_at((req), sizeof(req) - 1, (want))

/* RFC 9112 5.1: no whitespace between a field name and its colon; the name is a token. */
static void test_strict_field_names(void **state)
{
    (void)state;
    REFUSED("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
            SILK__GW_HTTP_ERR_MALFORMED);
    REFUSED("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length\t: 3\r\n\r\nabc",
            SILK__GW_HTTP_ERR_MALFORMED);
    REFUSED("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length : 3\r\n\r\nabc",
            SILK__GW_HTTP_ERR_MALFORMED);
    REFUSED("GET / HTTP/1.1\r\nHost: h\r\nX Y: 1\r\n\r\n", SILK__GW_HTTP_ERR_MALFORMED);
    REFUSED("GET / HTTP/1.1\r\nHost: h\r\nX(Y: 1\r\n\r\n", SILK__GW_HTTP_ERR_MALFORMED);
    REFUSED("GET / HTTP/1.1\r\nHost: h\r\nX\"Y: 1\r\n\r\n", SILK__GW_HTTP_ERR_MALFORMED);
    REFUSED("GET / HTTP/1.1\r\nHost: h\r\n: 1\r\n\r\n", SILK__GW_HTTP_ERR_MALFORMED);
    /* What a token may hold is taken. */
    static const char ok[] = "GET / HTTP/1.1\r\nHost: h\r\nX-a.b_c!#$%&'*+^`|~9: 1\r\n\r\n";
    silk__gw_http_parser p;
    size_t used;
    silk__gw_http_parser_init(&p);
    assert_int_equal(feed_all(&p, ok, sizeof ok - 1, 3, &used), SILK__GW_HTTP_DONE);
    assert_string_equal(p.req.headers[1].name, "X-a.b_c!#$%&'*+^`|~9");
    silk__gw_http_parser_fini(&p);
}

/* RFC 9112 5.2 and 2.2: a line that starts with whitespace (obs-fold, or before the first
 * field) is refused. */
static void test_strict_obs_fold(void **state)
{
    (void)state;
    REFUSED("GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n 2\r\n\r\n", SILK__GW_HTTP_ERR_MALFORMED);
    REFUSED("GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\t2\r\n\r\n", SILK__GW_HTTP_ERR_MALFORMED);
    REFUSED("GET / HTTP/1.1\r\n Host: h\r\n\r\n", SILK__GW_HTTP_ERR_MALFORMED);
    REFUSED("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n 0\r\n\r\n0123456789",
            SILK__GW_HTTP_ERR_MALFORMED);
}

/* RFC 9112 2.2: every line of the head ends in CRLF; a bare LF or a bare CR is refused. */
static void test_strict_line_ends(void **state)
{
    (void)state;
    REFUSED("GET / HTTP/1.1\nHost: h\r\n\r\n", SILK__GW_HTTP_ERR_MALFORMED);
    REFUSED("GET / HTTP/1.1\r\nHost: h\n\r\n", SILK__GW_HTTP_ERR_MALFORMED);
    REFUSED("GET / HTTP/1.1\r\nHost: h\r\n\n", SILK__GW_HTTP_ERR_MALFORMED);
    REFUSED("GET / HTTP/1.1\nHost: h\n\n", SILK__GW_HTTP_ERR_MALFORMED);
    REFUSED("\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", SILK__GW_HTTP_ERR_MALFORMED);
    REFUSED("GET / HTTP/1.1\rHost: h\r\n\r\n", SILK__GW_HTTP_ERR_MALFORMED);
    REFUSED("GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", SILK__GW_HTTP_ERR_MALFORMED);
    REFUSED("GET / HTTP/1.1\r\nHo\rst: h\r\n\r\n", SILK__GW_HTTP_ERR_MALFORMED);
    REFUSED("GET / HTTP/1.1\r\nHost: h\r\n\r\r\n", SILK__GW_HTTP_ERR_MALFORMED);
    /* The trailer section of a chunked body is held to the same rules. */
    REFUSED("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\n",
            SILK__GW_HTTP_ERR_MALFORMED);
    REFUSED("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\n\r\n",
            SILK__GW_HTTP_ERR_MALFORMED);
    REFUSED("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
            "0\r\nX: a\r\n b\r\n\r\n",
            SILK__GW_HTTP_ERR_MALFORMED);
    REFUSED("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
            "0\r\nX Y: a\r\n\r\n",
            SILK__GW_HTTP_ERR_MALFORMED);
    /* So are a chunk's size line and the CRLF after its data. */
    REFUSED("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
            "3\r\nabcXY0\r\n\r\n",
            SILK__GW_HTTP_ERR_MALFORMED);
    REFUSED("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
            "3\r\nabc\r\r0\r\n\r\n",
            SILK__GW_HTTP_ERR_MALFORMED);
    REFUSED("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
            "3;a\nb\r\nabc\r\n0\r\n\r\n",
            SILK__GW_HTTP_ERR_MALFORMED);
    REFUSED("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
            "3\rXabc\r\n0\r\n\r\n",
            SILK__GW_HTTP_ERR_MALFORMED);
    REFUSED("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
            "3\r\nabc\r\n0\rX\r\n",
            SILK__GW_HTTP_ERR_MALFORMED);
    /* A bare LF in a body is the body's business; an empty line before the request is
     * ignored (RFC 9112 2.2). */
    static const char ok[] = "\r\nPOST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\na\nb"
                             "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    for (size_t step = 0; step <= 5; step++) {
        silk__gw_http_parser p;
        size_t used;
        silk__gw_http_parser_init(&p);
        assert_int_equal(feed_all(&p, ok, sizeof ok - 1, step, &used), SILK__GW_HTTP_DONE);
        assert_memory_equal(p.req.body, "a\nb", 3);
        size_t off = used;
        silk__gw_http_reset(&p);
        assert_int_equal(feed_all(&p, ok + off, sizeof ok - 1 - off, step, &used),
                         SILK__GW_HTTP_DONE);
        assert_int_equal(off + used, sizeof ok - 1);
        silk__gw_http_parser_fini(&p);
    }
}

/* RFC 9112 6.1 and 6.3: only one way to tell where the body ends. */
static void test_strict_framing(void **state)
{
    (void)state;
    REFUSED("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
            "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            SILK__GW_HTTP_ERR_MALFORMED);
    REFUSED("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
            "Content-Length: 3\r\n\r\n0\r\n\r\n",
            SILK__GW_HTTP_ERR_MALFORMED);
    REFUSED("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
            SILK__GW_HTTP_ERR_MALFORMED);
    REFUSED("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
            SILK__GW_HTTP_ERR_MALFORMED);
    REFUSED("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\nabc",
            SILK__GW_HTTP_ERR_MALFORMED);
    REFUSED("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: +3\r\n\r\nabc",
            SILK__GW_HTTP_ERR_MALFORMED);
    /* chunked not last, or twice: the length cannot be told. */
    REFUSED("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\nabc",
            SILK__GW_HTTP_ERR_MALFORMED);
    REFUSED("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
            SILK__GW_HTTP_ERR_MALFORMED);
    REFUSED("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"
            "0\r\n\r\n",
            SILK__GW_HTTP_ERR_MALFORMED);
    REFUSED("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
            "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            SILK__GW_HTTP_ERR_MALFORMED);
    /* HTTP/1.0 has no transfer codings (RFC 9112 6.1). */
    REFUSED("POST /x HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            SILK__GW_HTTP_ERR_MALFORMED);
    /* A coding before chunked the gateway does not decode: 501 (RFC 9112 6.1). */
    REFUSED("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
            SILK__GW_HTTP_ERR_NOT_IMPLEMENTED);
    REFUSED("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n"
            "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            SILK__GW_HTTP_ERR_NOT_IMPLEMENTED);
    assert_int_equal(silk__gw_http_error_status(SILK__GW_HTTP_ERR_NOT_IMPLEMENTED), 501);
    /* chunked alone, in any case, is fine, chunk extensions and trailer fields too, and what
     * follows is the next request. */
    static const char ok[] = "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: CHUNKED\r\n\r\n"
                             "3;a=b\r\nabc\r\n2\r\n\r\n\r\n0\r\nX-T: 1\r\n\r\n"
                             "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    for (size_t step = 0; step <= 9; step++) {
        silk__gw_http_parser p;
        size_t used;
        silk__gw_http_parser_init(&p);
        assert_int_equal(feed_all(&p, ok, sizeof ok - 1, step, &used), SILK__GW_HTTP_DONE);
        assert_int_equal(p.req.body_len, 5);
        assert_memory_equal(p.req.body, "abc\r\n", 5);
        assert_int_equal(sizeof ok - 1 - used, sizeof "GET / HTTP/1.1\r\nHost: h\r\n\r\n" - 1);
        silk__gw_http_parser_fini(&p);
    }
}

/* Trailer fields are read and dropped: the request's headers stay where they were, however
 * long the trailer section (it used to grow the buffer the headers point into). */
static void test_trailers_leave_headers_alone(void **state)
{
    (void)state;
    char req[4096];
    int n = sprintf(req,
                    "POST /x HTTP/1.1\r\nHost: h\r\nX-Pad: %0400d\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n"
                    "X-Trailer: %01200d\r\nY: 1\r\n\r\n",
                    0, 0);
    for (size_t step = 0; step <= 64; step += 16) {
        silk__gw_http_parser p;
        size_t used;
        silk__gw_http_parser_init(&p);
        assert_int_equal(feed_all(&p, req, (size_t)n, step, &used), SILK__GW_HTTP_DONE);
        assert_int_equal(used, (size_t)n);
        assert_int_equal(p.req.n_headers, 3);
        assert_string_equal(silk__gw_http_header_get(&p.req, "Host"), "h");
        assert_null(silk__gw_http_header_get(&p.req, "X-Trailer"));
        assert_string_equal(p.req.body, "abc");
        silk__gw_http_parser_fini(&p);
    }
}

static void test_header_limit(void **state)
{
    (void)state;
    size_t n = SILK__GW_HTTP_MAX_HEADER_BYTES + 100;
    char *req = malloc(n + 64);
    int len = sprintf(req, "GET / HTTP/1.1\r\nX-Big: ");
    memset(req + len, 'a', n);
    len += (int)n;
    len += sprintf(req + len, "\r\n\r\n");
    for (size_t step = 0; step <= 1000; step += 1000) {
        silk__gw_http_parser p;
        size_t used;
        silk__gw_http_parser_init(&p);
        int rc = feed_all(&p, req, (size_t)len, step, &used);
        assert_int_equal(rc, SILK__GW_HTTP_ERR_HEADERS_LARGE);
        assert_int_equal(silk__gw_http_error_status(rc), 431);
        assert_true(used <= SILK__GW_HTTP_MAX_HEADER_BYTES);
        silk__gw_http_parser_fini(&p);
    }
    free(req);

    /* Just under the limit is fine. */
    size_t total = SILK__GW_HTTP_MAX_HEADER_BYTES;
    req = malloc(total + 1);
    len = sprintf(req, "GET / HTTP/1.1\r\nX-Big: ");
    size_t fill = total - (size_t)len - 4;
    memset(req + len, 'b', fill);
    memcpy(req + len + fill, "\r\n\r\n", 4);
    silk__gw_http_parser p;
    size_t used;
    silk__gw_http_parser_init(&p);
    assert_int_equal(silk__gw_http_feed(&p, req, total, &used), SILK__GW_HTTP_DONE);
    silk__gw_http_parser_fini(&p);
    free(req);

    /* Too many headers. */
    char many[8192];
    len = sprintf(many, "GET / HTTP/1.1\r\n");
    for (int i = 0; i <= SILK__GW_HTTP_MAX_HEADERS; i++)
        len += sprintf(many + len, "X-%d: v\r\n", i);
    len += sprintf(many + len, "\r\n");
    silk__gw_http_parser_init(&p);
    assert_int_equal(silk__gw_http_feed(&p, many, (size_t)len, &used),
                     SILK__GW_HTTP_ERR_HEADERS_LARGE);
    silk__gw_http_parser_fini(&p);
}

static void test_body_limit(void **state)
{
    (void)state;
    silk__gw_http_parser p;
    size_t used;
    char req[128];
    int len = sprintf(req, "POST / HTTP/1.1\r\nContent-Length: %d\r\n\r\n",
                      SILK__GW_HTTP_MAX_BODY_BYTES + 1);
    silk__gw_http_parser_init(&p);
    int rc = silk__gw_http_feed(&p, req, (size_t)len, &used);
    assert_int_equal(rc, SILK__GW_HTTP_ERR_BODY_LARGE);
    assert_int_equal(silk__gw_http_error_status(rc), 413);
    silk__gw_http_parser_fini(&p);

    /* A chunked body that grows past the limit. */
    silk__gw_http_parser_init(&p);
    static const char head[] = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_int_equal(silk__gw_http_feed(&p, head, sizeof head - 1, &used), SILK__GW_HTTP_MORE);
    char *chunk = malloc(1024 * 1024 + 32);
    len = sprintf(chunk, "100000\r\n");
    memset(chunk + len, 'z', 1024 * 1024);
    memcpy(chunk + len + 1024 * 1024, "\r\n", 2);
    size_t clen = (size_t)len + 1024 * 1024 + 2;
    for (int i = 0; i < 4; i++)
        assert_int_equal(silk__gw_http_feed(&p, chunk, clen, &used), SILK__GW_HTTP_MORE);
    assert_int_equal(silk__gw_http_feed(&p, chunk, clen, &used), SILK__GW_HTTP_ERR_BODY_LARGE);
    free(chunk);
    silk__gw_http_parser_fini(&p);
}

static void test_tokens_and_query(void **state)
{
    (void)state;
    static const char req[] =
        "GET /?BusinessId=a%20b&bussinessid=x+y&empty=&bad=%zz&flag HTTP/1.1\r\n"
        "Connection: keep-alive, Upgrade\r\n"
        "Connection: other\r\n"
        "Upgrade: WebSocket\r\n"
        "\r\n";
    silk__gw_http_parser p;
    size_t used;
    char out[16];
    silk__gw_http_parser_init(&p);
    assert_int_equal(silk__gw_http_feed(&p, req, sizeof req - 1, &used), SILK__GW_HTTP_DONE);
    assert_true(silk__gw_http_header_has_token(&p.req, "connection", "upgrade"));
    assert_true(silk__gw_http_header_has_token(&p.req, "Connection", "OTHER"));
    assert_false(silk__gw_http_header_has_token(&p.req, "Connection", "upgrad"));
    assert_true(silk__gw_http_header_has_token(&p.req, "Upgrade", "websocket"));

    assert_int_equal(silk__gw_http_query_get(p.req.query, "businessid", out, sizeof out), 3);
    assert_string_equal(out, "a b");
    assert_int_equal(silk__gw_http_query_get(p.req.query, "BUSSINESSID", out, sizeof out), 3);
    assert_string_equal(out, "x y");
    assert_int_equal(silk__gw_http_query_get(p.req.query, "empty", out, sizeof out), 0);
    assert_int_equal(silk__gw_http_query_get(p.req.query, "flag", out, sizeof out), 0);
    assert_int_equal(silk__gw_http_query_get(p.req.query, "bad", out, sizeof out), -1);
    assert_int_equal(silk__gw_http_query_get(p.req.query, "missing", out, sizeof out), -1);
    assert_int_equal(silk__gw_http_query_get("a=0123456789abcdef", "a", out, sizeof out), -1);
    assert_int_equal(silk__gw_http_query_get("a=%00", "a", out, sizeof out), -1);
    assert_int_equal(silk__gw_http_query_get("a=%4", "a", out, sizeof out), -1);
    assert_int_equal(silk__gw_http_query_get("a=%41", "a", out, sizeof out), 1);
    assert_string_equal(out, "A");
    silk__gw_http_parser_fini(&p);
}

static void test_response(void **state)
{
    (void)state;
    size_t len;
    char *r = silk__gw_http_response(404, "X-A: b\r\n", "application/json", "{}", 2, true, &len);
    static const char want[] = "HTTP/1.1 404 Not Found\r\nX-A: b\r\n"
                               "Content-Type: application/json\r\nContent-Length: 2\r\n"
                               "Connection: close\r\n\r\n{}";
    assert_int_equal(len, sizeof want - 1);
    assert_memory_equal(r, want, len);
    free(r);

    /* No body, no type, kept alive: the length still says 0. */
    r = silk__gw_http_response(200, NULL, NULL, NULL, 0, false, &len);
    static const char empty[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    assert_int_equal(len, sizeof empty - 1);
    assert_memory_equal(r, empty, len);
    free(r);

    /* A 204 has no Content-Length (RFC 9110 8.6). */
    r = silk__gw_http_response(204, "Vary: Origin\r\n", NULL, NULL, 0, false, &len);
    static const char none[] = "HTTP/1.1 204 No Content\r\nVary: Origin\r\n\r\n";
    assert_int_equal(len, sizeof none - 1);
    assert_memory_equal(r, none, len);
    free(r);

    /* A switch of protocols has no Content-Length. */
    r = silk__gw_http_response(101, "Upgrade: websocket\r\n", NULL, NULL, 0, false, &len);
    static const char upgrade[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
    assert_int_equal(len, sizeof upgrade - 1);
    assert_memory_equal(r, upgrade, len);
    free(r);
}

/* A body's length is written in full, whatever its number of digits. */
static void test_response_lengths(void **state)
{
    (void)state;
    static const size_t lengths[] = {1, 9, 10, 99, 100, 12345, 1048576};
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        size_t body_len = lengths[i], len;
        char *body = malloc(body_len);
        assert_non_null(body);
        memset(body, 'x', body_len);
        char *r = silk__gw_http_response(200, NULL, "text/plain", body, body_len, false, &len);
        char head[128];
        int n = snprintf(
            head, sizeof head,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n\r\n", body_len);
        assert_int_equal(len, (size_t)n + body_len);
        assert_memory_equal(r, head, (size_t)n);
        assert_memory_equal(r + n, body, body_len);
        free(r);
        free(body);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_get),
        cmocka_unit_test(test_post_body_and_pipelining),
        cmocka_unit_test(test_chunked_body),
        cmocka_unit_test(test_upgrade_leaves_frames),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_header_limit),
        cmocka_unit_test(test_body_limit),
        cmocka_unit_test(test_tokens_and_query),
        cmocka_unit_test(test_response),
        cmocka_unit_test(test_response_lengths),
        cmocka_unit_test(test_strict_field_names),
        cmocka_unit_test(test_strict_obs_fold),
        cmocka_unit_test(test_strict_line_ends),
        cmocka_unit_test(test_strict_framing),
        cmocka_unit_test(test_trailers_leave_headers_alone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
