/* routes_test.c - unit tests of routes.c: WebSocket routes, web paths, and the business id. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "http/routes.h"

/* Templates as protoc-gen-silk parses them (silk_path_segment). */
#define LIT(t)                                                                                     \
    {                                                                                              \
        SILK_PATH_LITERAL, t                                                                       \
    }
#define ANY                                                                                        \
    {                                                                                              \
        SILK_PATH_ANY, NULL                                                                        \
    }
#define REST                                                                                       \
    {                                                                                              \
        SILK_PATH_REST, NULL                                                                       \
    }
#define VAR(f)                                                                                     \
    {                                                                                              \
        SILK_PATH_VAR_BEGIN, f                                                                     \
    }
#define END                                                                                        \
    {                                                                                              \
        SILK_PATH_VAR_END, NULL                                                                    \
    }
#define SEGMENTS(a) .http_segments = a, .n_http_segments = sizeof a / sizeof a[0]

static const silk_path_segment wstest_items[] = {LIT("api"), LIT("wstest"), LIT("items")};
static const silk_path_segment items_id[] = {LIT("api"), LIT("items"), VAR("id"), ANY, END};
static const silk_path_segment items_special[] = {LIT("api"), LIT("items"), LIT("special")};
static const silk_path_segment shelves[] = {LIT("api"),   LIT("shelves"), VAR("shelf"), ANY, END,
                                            LIT("items"), VAR("item.id"), ANY,          END};
static const silk_path_segment files_read[] = {LIT("api"), LIT("files"), VAR("path"), REST, END};
static const silk_path_segment files_stat[] = {LIT("api"),  LIT("files"), LIT("stat"),
                                               VAR("path"), REST,         END};
static const silk_path_segment book[] = {LIT("api"), LIT("v1"),    VAR("name"), LIT("shelves"),
                                         ANY,        LIT("books"), ANY,         END};
static const silk_path_segment any_id[] = {LIT("api"), LIT("any"), ANY, VAR("id"), ANY, END};
/* "**" not last: malformed (protoc-gen-silk refuses it), so it matches nothing */
static const silk_path_segment bad[] = {LIT("api"), LIT("bad"), REST, LIT("x")};
static const silk_path_segment slashes[] = {LIT("api"), LIT("slashes"), LIT("x")};

static const silk_method_desc wstest_methods[] = {
    {.name = "Echo", .path = "/wstest.WsTest/Echo"},
    {.name = "Get",
     .path = "/wstest.WsTest/Get",
     .http_verb = SILK_HTTP_GET,
     .http_path = "api/wstest/items",
     SEGMENTS(wstest_items)},
};
static const silk_service_desc wstest = {.name = "wstest.WsTest",
                                         .route = "api/wstest",
                                         .websocket = true,
                                         .n_methods = 2,
                                         .methods = wstest_methods};
static const silk_method_desc plain_methods[] = {{.name = "Ping", .path = "/p.Plain/Ping"}};
static const silk_service_desc plain = {
    .name = "p.Plain", .route = "api/plain", .n_methods = 1, .methods = plain_methods};
static const silk_method_desc items_methods[] = {
    {.name = "Get", .http_verb = SILK_HTTP_GET, .http_path = "api/items/{id}", SEGMENTS(items_id)},
    {.name = "Special",
     .http_verb = SILK_HTTP_GET,
     .http_path = "api/items/special",
     SEGMENTS(items_special)},
    {.name = "Update",
     .http_verb = SILK_HTTP_PUT,
     .http_path = "api/items/{id}",
     SEGMENTS(items_id)},
    {.name = "Delete",
     .http_verb = SILK_HTTP_DELETE,
     .http_path = "api/items/{id}",
     SEGMENTS(items_id)},
    {.name = "Patch",
     .http_verb = SILK_HTTP_PATCH,
     .http_path = "api/shelves/{shelf}/items/{item.id}",
     SEGMENTS(shelves)},
};
static const silk_service_desc items = {
    .name = "p.Items", .route = "api/items", .n_methods = 5, .methods = items_methods};
static const silk_method_desc files_methods[] = {
    {.name = "Read",
     .http_verb = SILK_HTTP_GET,
     .http_path = "api/files/{path=**}",
     SEGMENTS(files_read)},
    {.name = "Stat",
     .http_verb = SILK_HTTP_GET,
     .http_path = "api/files/stat/{path=**}",
     SEGMENTS(files_stat)},
    {.name = "Book",
     .http_verb = SILK_HTTP_GET,
     .http_path = "api/v1/{name=shelves/*/books/*}",
     SEGMENTS(book)},
    {.name = "Any", .http_verb = SILK_HTTP_GET, .http_path = "api/any/*/{id}", SEGMENTS(any_id)},
    {.name = "Bad", .http_verb = SILK_HTTP_GET, .http_path = "api/bad/**/x", SEGMENTS(bad)},
    {.name = "Slashes",
     .http_verb = SILK_HTTP_GET,
     .http_path = "/api/slashes/x/",
     SEGMENTS(slashes)},
};
static const silk_service_desc files = {
    .name = "p.Files", .route = "api/files", .n_methods = 6, .methods = files_methods};
static const silk_service_desc *const services[] = {&plain, &wstest, &items, &files};

static silk__gw_route_kind find(enum http_method m, const char *path, silk__gw_route *r)
{
    return silk__gw_route_find(services, 4, m, path, r);
}

static void assert_param(const silk__gw_route *r, size_t i, const char *name, const char *value)
{
    assert_true(i < r->n_params);
    assert_int_equal(r->params[i].name_len, strlen(name));
    assert_memory_equal(r->params[i].name, name, strlen(name));
    assert_int_equal(r->params[i].value_len, strlen(value));
    assert_memory_equal(r->params[i].value, value, strlen(value));
}

static void test_templates(void **state)
{
    (void)state;
    silk__gw_route r;
    char allow[64];
    assert_int_equal(find(HTTP_GET, "/api/items/42", &r), SILK__GW_ROUTE_CALL);
    assert_ptr_equal(r.method, &items_methods[0]);
    assert_int_equal(r.service_index, 2);
    assert_int_equal(r.n_params, 1);
    assert_param(&r, 0, "id", "42");
    assert_int_equal(find(HTTP_HEAD, "/api/items/a%20b/", &r), SILK__GW_ROUTE_CALL);
    assert_param(&r, 0, "id", "a%20b");
    /* The most literal segments win. */
    assert_int_equal(find(HTTP_GET, "/api/items/special", &r), SILK__GW_ROUTE_CALL);
    assert_ptr_equal(r.method, &items_methods[1]);
    assert_int_equal(r.n_params, 0);
    assert_int_equal(find(HTTP_PUT, "/api/items/7", &r), SILK__GW_ROUTE_CALL);
    assert_ptr_equal(r.method, &items_methods[2]);
    assert_int_equal(find(HTTP_DELETE, "/api/items/7", &r), SILK__GW_ROUTE_CALL);
    assert_int_equal(find(HTTP_PATCH, "/API/Shelves/s1/items/i2", &r), SILK__GW_ROUTE_CALL);
    assert_int_equal(r.n_params, 2);
    assert_param(&r, 0, "shelf", "s1");
    assert_param(&r, 1, "item.id", "i2");
    /* Wrong verb: 405 with the verbs the path takes. */
    assert_int_equal(find(HTTP_POST, "/api/items/7", &r), SILK__GW_ROUTE_BAD_METHOD);
    assert_string_equal(silk__gw_route_allow(r.allow, allow, sizeof allow),
                        "GET, HEAD, PUT, DELETE");
    assert_int_equal(find(HTTP_POST, "/api/wstest", &r), SILK__GW_ROUTE_BAD_METHOD);
    assert_string_equal(silk__gw_route_allow(r.allow, allow, sizeof allow), "GET, HEAD");
    assert_int_equal(find(HTTP_POST, "/healthz", &r), SILK__GW_ROUTE_BAD_METHOD);
    assert_int_equal(find(HTTP_GET, "/metrics", &r), SILK__GW_ROUTE_METRICS);
    assert_int_equal(find(HTTP_GET, "/openapi.json", &r), SILK__GW_ROUTE_OPENAPI);
    assert_int_equal(find(HTTP_HEAD, "/openapi.json", &r), SILK__GW_ROUTE_OPENAPI);
    assert_int_equal(find(HTTP_POST, "/openapi.json", &r), SILK__GW_ROUTE_BAD_METHOD);
    /* An empty segment is no parameter; more or fewer segments do not match. */
    assert_int_equal(find(HTTP_GET, "/api/items//", &r), SILK__GW_ROUTE_NONE);
    assert_int_equal(find(HTTP_GET, "/api/items/1/2", &r), SILK__GW_ROUTE_NONE);
    assert_int_equal(find(HTTP_PATCH, "/api/shelves/s1/items", &r), SILK__GW_ROUTE_NONE);
}

static void test_wildcards(void **state)
{
    (void)state;
    silk__gw_route r;
    /* {x=**} takes the rest of the path, slashes and all. */
    assert_int_equal(find(HTTP_GET, "/api/files/a/b/c.txt", &r), SILK__GW_ROUTE_CALL);
    assert_ptr_equal(r.method, &files_methods[0]);
    assert_int_equal(r.n_params, 1);
    assert_param(&r, 0, "path", "a/b/c.txt");
    assert_int_equal(find(HTTP_GET, "/api/files/one/", &r), SILK__GW_ROUTE_CALL);
    assert_param(&r, 0, "path", "one");
    /* More literal segments win over a wildcard. */
    assert_int_equal(find(HTTP_GET, "/api/files/stat/x/y", &r), SILK__GW_ROUTE_CALL);
    assert_ptr_equal(r.method, &files_methods[1]);
    assert_param(&r, 0, "path", "x/y");
    /* ** needs at least one segment and no empty one. */
    assert_int_equal(find(HTTP_GET, "/api/files", &r), SILK__GW_ROUTE_NONE);
    assert_int_equal(find(HTTP_GET, "/api/files/a//b", &r), SILK__GW_ROUTE_NONE);
    /* A variable over a pattern of literals and *. */
    assert_int_equal(find(HTTP_GET, "/api/v1/shelves/s1/books/b2", &r), SILK__GW_ROUTE_CALL);
    assert_ptr_equal(r.method, &files_methods[2]);
    assert_param(&r, 0, "name", "shelves/s1/books/b2");
    assert_int_equal(find(HTTP_GET, "/api/v1/shelves/s1/books", &r), SILK__GW_ROUTE_NONE);
    assert_int_equal(find(HTTP_GET, "/api/v1/shelves/s1/boxes/b2", &r), SILK__GW_ROUTE_NONE);
    assert_int_equal(find(HTTP_GET, "/api/v1/shelves/s1/books/b2/c", &r), SILK__GW_ROUTE_NONE);
    /* A bare * is one segment, bound to nothing. */
    assert_int_equal(find(HTTP_GET, "/api/any/zzz/7", &r), SILK__GW_ROUTE_CALL);
    assert_ptr_equal(r.method, &files_methods[3]);
    assert_int_equal(r.n_params, 1);
    assert_param(&r, 0, "id", "7");
    /* A template with ** before its end is malformed and matches nothing. */
    assert_int_equal(find(HTTP_GET, "/api/bad/q/x", &r), SILK__GW_ROUTE_NONE);
    /* A template's leading and trailing '/' do not count. */
    assert_int_equal(find(HTTP_GET, "/api/slashes/x", &r), SILK__GW_ROUTE_CALL);
    assert_ptr_equal(r.method, &files_methods[5]);
    assert_int_equal(find(HTTP_GET, "/API/Slashes/X/", &r), SILK__GW_ROUTE_CALL);
    assert_ptr_equal(r.method, &files_methods[5]);
    assert_int_equal(find(HTTP_GET, "/api/slashes", &r), SILK__GW_ROUTE_NONE);
    assert_int_equal(find(HTTP_GET, "/api/slashes/xy", &r), SILK__GW_ROUTE_NONE);
    assert_int_equal(find(HTTP_GET, "/api/slashes/x/y", &r), SILK__GW_ROUTE_NONE);
}

static void test_find(void **state)
{
    (void)state;
    silk__gw_route r;
    assert_int_equal(find(HTTP_GET, "/api/wstest", &r), SILK__GW_ROUTE_WEBSOCKET);
    assert_ptr_equal(r.service, &wstest);
    assert_int_equal(r.service_index, 1);
    assert_int_equal(find(HTTP_GET, "/api/wstest/", &r), SILK__GW_ROUTE_WEBSOCKET);
    assert_int_equal(find(HTTP_GET, "/API/WsTest", &r), SILK__GW_ROUTE_WEBSOCKET);
    assert_int_equal(find(HTTP_POST, "/api/wstest", &r), SILK__GW_ROUTE_BAD_METHOD);

    assert_int_equal(find(HTTP_POST, "/api/wstest/echo", &r), SILK__GW_ROUTE_CALL);
    assert_ptr_equal(r.method, &wstest_methods[0]);
    assert_int_equal(find(HTTP_POST, "/api/wstest/Echo/", &r), SILK__GW_ROUTE_CALL);
    assert_int_equal(find(HTTP_GET, "/api/wstest/echo", &r), SILK__GW_ROUTE_BAD_METHOD);
    assert_int_equal(find(HTTP_GET, "/api/wstest/items", &r), SILK__GW_ROUTE_CALL);
    assert_ptr_equal(r.method, &wstest_methods[1]);
    assert_int_equal(find(HTTP_POST, "/api/plain/ping", &r), SILK__GW_ROUTE_CALL);
    assert_int_equal(r.service_index, 0);

    /* Not WebSocket-enabled, unknown, or only a prefix. */
    assert_int_equal(find(HTTP_GET, "/api/plain", &r), SILK__GW_ROUTE_NONE);
    assert_int_equal(find(HTTP_GET, "/no/such/route", &r), SILK__GW_ROUTE_NONE);
    assert_int_equal(find(HTTP_GET, "/api/wstestx", &r), SILK__GW_ROUTE_NONE);
    assert_int_equal(find(HTTP_GET, "/api/wstest//", &r), SILK__GW_ROUTE_NONE);
    assert_int_equal(find(HTTP_POST, "/api/wstest/echox", &r), SILK__GW_ROUTE_NONE);
    assert_int_equal(find(HTTP_GET, "/healthz", &r), SILK__GW_ROUTE_HEALTH);
}

static void parse(silk__gw_http_parser *p, const char *req)
{
    size_t used;
    silk__gw_http_parser_init(p);
    assert_int_equal(silk__gw_http_feed(p, req, strlen(req), &used), SILK__GW_HTTP_DONE);
}

static long business_id(const char *req, char *out)
{
    silk__gw_http_parser p;
    parse(&p, req);
    long n = silk__gw_route_business_id(&p.req, out, SILK__GW_BUSINESS_ID_MAX + 1);
    silk__gw_http_parser_fini(&p);
    return n;
}

static void test_business_id(void **state)
{
    (void)state;
    char id[SILK__GW_BUSINESS_ID_MAX + 1];
    assert_int_equal(business_id("GET /x?businessId=100 HTTP/1.1\r\n\r\n", id), 3);
    assert_string_equal(id, "100");
    assert_int_equal(business_id("GET /x?businessid=100 HTTP/1.1\r\n\r\n", id), 3);
    assert_int_equal(business_id("GET /x?BUSINESSID=200 HTTP/1.1\r\n\r\n", id), 3);
    assert_string_equal(id, "200");
    assert_int_equal(business_id("GET /x?a=1&bussinessId=Ab%2F HTTP/1.1\r\n\r\n", id), 3);
    assert_string_equal(id, "Ab/");
    assert_int_equal(business_id("GET /x?x=1 HTTP/1.1\r\nBusinessId: 300\r\n\r\n", id), 3);
    assert_string_equal(id, "300");
    assert_int_equal(business_id("GET /x HTTP/1.1\r\nbussinessid: 301\r\n\r\n", id), 3);
    assert_int_equal(business_id("GET /x HTTP/1.1\r\nBusiness-Id: 302\r\n\r\n", id), 3);
    assert_string_equal(id, "302");
    /* The query wins over a header; an empty query value falls back to the header. */
    assert_int_equal(business_id("GET /x?businessId=1 HTTP/1.1\r\nbusinessId: 2\r\n\r\n", id), 1);
    assert_string_equal(id, "1");
    assert_int_equal(business_id("GET /x?businessId= HTTP/1.1\r\nbusinessId: 2\r\n\r\n", id), 1);
    assert_string_equal(id, "2");
    /* Missing, empty, or another name. */
    assert_int_equal(business_id("GET /x HTTP/1.1\r\n\r\n", id), -1);
    assert_int_equal(business_id("GET /x?businessId= HTTP/1.1\r\n\r\n", id), -1);
    assert_int_equal(business_id("GET /x?business=1 HTTP/1.1\r\nX-Business: 1\r\n\r\n", id), -1);
    /* Given but unusable: control bytes, bad UTF-8, longer than the limit. */
    assert_int_equal(business_id("GET /x?businessId=1%0d%0aX HTTP/1.1\r\n\r\n", id), -2);
    assert_int_equal(business_id("GET /x?businessId=%1b%5b31m HTTP/1.1\r\n\r\n", id), -2);
    assert_int_equal(business_id("GET /x?businessId=%ff%fe HTTP/1.1\r\n\r\n", id), -2);
    assert_int_equal(business_id("GET /x?businessId=caf%c3%a9 HTTP/1.1\r\n\r\n", id), 5);
    assert_int_equal(business_id("GET /x HTTP/1.1\r\nbusinessId: a\tb\r\n\r\n", id), -2);
}

static void test_business_id_valid(void **state)
{
    (void)state;
    char long_id[SILK__GW_BUSINESS_ID_MAX + 2];
    memset(long_id, 'a', sizeof long_id);
    assert_true(silk__gw_business_id_valid("100", 3));
    assert_true(silk__gw_business_id_valid("gesch\xc3\xa4"
                                           "ft 7",
                                           11));
    assert_true(silk__gw_business_id_valid(long_id, SILK__GW_BUSINESS_ID_MAX));
    assert_false(silk__gw_business_id_valid(long_id, SILK__GW_BUSINESS_ID_MAX + 1));
    assert_false(silk__gw_business_id_valid("", 0));
    assert_false(silk__gw_business_id_valid("a\tb", 3));
    assert_false(silk__gw_business_id_valid("a\nb", 3));
    assert_false(silk__gw_business_id_valid("\xc0\xaf", 2)); /* overlong '/' */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_templates),
        cmocka_unit_test(test_wildcards),
        cmocka_unit_test(test_business_id),
        cmocka_unit_test(test_business_id_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
