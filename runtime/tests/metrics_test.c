/* metrics_test.c - a server's counters in Prometheus' text format, SILK_METRICS_LISTEN's
 * address, and the process's listener answering real HTTP requests on loopback. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "metrics/exporter.h"
#include "metrics/metrics.h"

static void fake_gauges(void *arg, uint64_t *in_flight, uint64_t *connections)
{
    *in_flight = (uint64_t)(uintptr_t)arg;
    *connections = 2;
}

static void test_parse_address(void **state)
{
    (void)state;
    char host[64], port[8];
    assert_true(
        silk__metrics_parse_address("127.0.0.1:9464", host, sizeof host, port, sizeof port));
    assert_string_equal(host, "127.0.0.1");
    assert_string_equal(port, "9464");
    assert_true(silk__metrics_parse_address("[::1]:0", host, sizeof host, port, sizeof port));
    assert_string_equal(host, "::1");
    assert_string_equal(port, "0");
    assert_true(silk__metrics_parse_address("localhost:80", host, sizeof host, port, sizeof port));
    const char *bad[] = {"",         "9464",      ":9464",           "127.0.0.1:",
                         "::1:9464", "[::1]9464", "127.0.0.1:65536", "127.0.0.1:94a4",
                         "[]:9464",  "h:123456"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(silk__metrics_parse_address(bad[i], host, sizeof host, port, sizeof port));
}

static void test_text_adds_up_servers(void **state)
{
    (void)state;
    silk__metrics *a = silk__metrics_new(2), *b = silk__metrics_new(1);
    assert_non_null(a);
    assert_non_null(b);
    a->methods[0].path = "/t.T/Shared";
    a->methods[1].path = "/t.T/Only";
    b->methods[0].path = "/t.T/Shared";
    a->next = b;
    a->gauges = fake_gauges;
    a->gauges_arg = (void *)(uintptr_t)3;
    silk__metrics_call(a, 0, SILK_OK, 100);      /* 0.5 ms bucket */
    silk__metrics_call(a, 0, SILK_OK, 3000);     /* 5 ms bucket */
    silk__metrics_call(b, 0, SILK_NOT_FOUND, 7); /* the same method on another server */
    silk__metrics_call(a, 1, SILK_OK, 9000000);  /* +Inf */
    silk__metrics_call(a, 5, SILK_OK, 1);        /* no such method: ignored */
    silk__metrics_call(NULL, 0, SILK_OK, 1);     /* metrics off */
    silk__metrics_refused(a, SILK__REFUSED_MAX_CONCURRENT, 2);
    silk__metrics_refused(b, SILK__REFUSED_MAX_CONCURRENT, 1);
    silk__metrics_heartbeat(a, true);
    silk__metrics_heartbeat(b, false);
    char *t = silk__metrics_text(a);
    assert_non_null(t);
    assert_non_null(strstr(t, "# TYPE silk_server_calls_total counter\n"));
    assert_non_null(strstr(t, "silk_server_calls_total{method=\"/t.T/Shared\",code=\"OK\"} 2\n"));
    assert_non_null(
        strstr(t, "silk_server_calls_total{method=\"/t.T/Shared\",code=\"NOT_FOUND\"} 1\n"));
    assert_null(strstr(t, "code=\"INTERNAL\""));
    assert_non_null(strstr(
        t, "silk_server_call_duration_seconds_bucket{method=\"/t.T/Shared\",le=\"0.0005\"} 2\n"));
    assert_non_null(strstr(
        t, "silk_server_call_duration_seconds_bucket{method=\"/t.T/Shared\",le=\"0.0025\"} 2\n"));
    assert_non_null(strstr(
        t, "silk_server_call_duration_seconds_bucket{method=\"/t.T/Shared\",le=\"0.005\"} 3\n"));
    assert_non_null(
        strstr(t, "silk_server_call_duration_seconds_bucket{method=\"/t.T/Only\",le=\"5\"} 0\n"));
    assert_non_null(strstr(
        t, "silk_server_call_duration_seconds_bucket{method=\"/t.T/Only\",le=\"+Inf\"} 1\n"));
    assert_non_null(
        strstr(t, "silk_server_call_duration_seconds_count{method=\"/t.T/Shared\"} 3\n"));
    assert_non_null(
        strstr(t, "silk_server_call_duration_seconds_sum{method=\"/t.T/Shared\"} 0.003107\n"));
    /* One series per method, though two servers host Shared. */
    const char *first = strstr(t, "_count{method=\"/t.T/Shared\"}");
    assert_null(strstr(first + 1, "_count{method=\"/t.T/Shared\"}"));
    assert_non_null(strstr(t, "silk_server_calls_in_flight 3\n"));
    assert_non_null(strstr(t, "silk_server_connections 2\n"));
    assert_non_null(strstr(t, "silk_server_refusals_total{reason=\"max_concurrent\"} 3\n"));
    assert_non_null(strstr(t, "silk_server_refusals_total{reason=\"max_connections\"} 0\n"));
    assert_non_null(strstr(t, "silk_registry_heartbeats_total 2\n"));
    assert_non_null(strstr(t, "silk_registry_heartbeat_failures_total 1\n"));
    free(t);
    silk__metrics_free(a);
    silk__metrics_free(b);
}

/* http sends request to the listener on port and returns what came back (the caller frees). */
static char *http(int port, const char *request)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    size_t len = strlen(request);
    assert_int_equal(send(fd, request, len, MSG_NOSIGNAL), (ssize_t)len);
    size_t cap = 1 << 16, n = 0;
    char *out = malloc(cap + 1);
    ssize_t r;
    while (n < cap && (r = recv(fd, out + n, cap - n, 0)) > 0)
        n += (size_t)r;
    out[n] = '\0';
    close(fd);
    return out;
}

static void test_listener_answers_http(void **state)
{
    (void)state;
    setenv("SILK_METRICS_LISTEN", "not an address", 1);
    assert_false(silk__metrics_wanted());
    setenv("SILK_METRICS_LISTEN", "127.0.0.1:0", 1);
    assert_true(silk__metrics_wanted());
    silk__metrics *a = silk__metrics_new(1), *b = silk__metrics_new(1);
    a->methods[0].path = "/t.T/A";
    b->methods[0].path = "/t.T/B";
    silk__metrics_call(a, 0, SILK_OK, 10);
    silk__metrics_attach(a);
    int port = silk__metrics_port();
    assert_true(port > 0);
    silk__metrics_attach(b); /* one listener per process: the second server joins it */
    assert_int_equal(silk__metrics_port(), port);

    char *got = http(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_non_null(strstr(got, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(got, "Content-Type: text/plain; version=0.0.4"));
    assert_non_null(strstr(got, "Connection: close\r\n"));
    assert_non_null(strstr(got, "silk_server_calls_total{method=\"/t.T/A\",code=\"OK\"} 1\n"));
    assert_non_null(strstr(got, "silk_server_calls_total{method=\"/t.T/B\",code=\"OK\"} 0\n"));
    free(got);
    got = http(port, "GET /metrics?x=1 HTTP/1.0\r\n\r\n");
    assert_non_null(strstr(got, " 200 OK\r\n"));
    free(got);
    got = http(port, "GET / HTTP/1.1\r\n\r\n");
    assert_non_null(strstr(got, "HTTP/1.1 404 Not Found\r\n"));
    free(got);
    got = http(port, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    assert_non_null(strstr(got, " 404 "));
    free(got);
    got = http(port, "garbage\r\n\r\n");
    assert_non_null(strstr(got, " 400 "));
    free(got);
    char *big = malloc(10000);
    memcpy(big, "GET /metrics HTTP/1.1\r\nX: ", 26);
    memset(big + 26, 'a', 10000 - 27);
    big[9999] = '\0';
    got = http(port, big);
    assert_non_null(strstr(got, " 431 "));
    free(got);
    free(big);

    silk__metrics_detach(a);
    assert_int_equal(silk__metrics_port(), port); /* b is still attached */
    got = http(port, "GET /metrics HTTP/1.1\r\n\r\n");
    assert_null(strstr(got, "/t.T/A"));
    assert_non_null(strstr(got, "/t.T/B"));
    free(got);
    silk__metrics_detach(b);
    assert_int_equal(silk__metrics_port(), 0);
    silk__metrics_detach(b); /* not attached: nothing */
    silk__metrics_free(a);
    silk__metrics_free(b);
    unsetenv("SILK_METRICS_LISTEN");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_address),
        cmocka_unit_test(test_text_adds_up_servers),
        cmocka_unit_test(test_listener_answers_http),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
