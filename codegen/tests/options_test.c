/* options_test.c - protoc-gen-silk reads silk's options from unknown fields, names as protoc-c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codegen.h"
#include "silk/options.pb-c.h"

/* wire is a tiny protobuf writer, enough to build options as protoc encodes them. */
typedef struct wire {
    uint8_t data[512];
    size_t len;
} wire;

static void put_varint(wire *w, uint64_t v)
{
    do {
        w->data[w->len++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v != 0);
}

static void put_string(wire *w, uint32_t field, const char *s)
{
    put_varint(w, (uint64_t)field << 3 | 2);
    put_varint(w, strlen(s));
    memcpy(w->data + w->len, s, strlen(s));
    w->len += strlen(s);
}

static void put_uint(wire *w, uint32_t field, uint64_t v)
{
    put_varint(w, (uint64_t)field << 3);
    put_varint(w, v);
}

static void reads_service_options(void **state)
{
    wire w = {0};
    put_uint(&w, 3, 1); /* deprecated = true: a known field, ignored */
    put_string(&w, SILKGEN_OPT_ROUTE, "api/{service}/v1");
    put_uint(&w, SILKGEN_OPT_WEBSOCKET, 1);
    Google__Protobuf__ServiceOptions *o =
        google__protobuf__service_options__unpack(NULL, w.len, w.data);
    assert_non_null(o);
    silkgen_service_opts opts;
    assert_null(silkgen_read_service_opts(&o->base, &opts));
    assert_string_equal(opts.route, "api/{service}/v1");
    assert_true(opts.websocket);
    char *route = silkgen_route(opts.route, "OrderAppService");
    assert_string_equal(route, "api/order/v1");
    free(route);
    silkgen_service_opts_fini(&opts);
    google__protobuf__service_options__free_unpacked(o, NULL);
}

static void reads_method_options(void **state)
{
    Silk__HttpRule rule = SILK__HTTP_RULE__INIT;
    rule.pattern_case = SILK__HTTP_RULE__PATTERN_GET;
    rule.get = "items/{id}";
    uint8_t rule_bytes[64];
    size_t rule_len = silk__http_rule__pack(&rule, rule_bytes);

    wire w = {0};
    put_varint(&w, (uint64_t)SILKGEN_OPT_HTTP << 3 | 2);
    put_varint(&w, rule_len);
    memcpy(w.data + w.len, rule_bytes, rule_len);
    w.len += rule_len;
    put_string(&w, SILKGEN_OPT_HASH_KEY, "business_id");
    put_uint(&w, SILKGEN_OPT_TIMEOUT_MS, 250);
    put_uint(&w, SILKGEN_OPT_RETRIES, 2);
    put_uint(&w, SILKGEN_OPT_IDEMPOTENT, 1);
    Google__Protobuf__MethodOptions *o =
        google__protobuf__method_options__unpack(NULL, w.len, w.data);
    assert_non_null(o);
    silkgen_method_opts opts;
    assert_null(silkgen_read_method_opts(&o->base, &opts));
    assert_true(opts.has_http);
    assert_int_equal(opts.verb, SILKGEN_GET);
    assert_string_equal(opts.http_path, "items/{id}");
    assert_string_equal(opts.hash_key, "business_id");
    assert_int_equal(opts.timeout_ms, 250);
    assert_int_equal(opts.retries, 2);
    assert_true(opts.idempotent);
    silkgen_method_opts_fini(&opts);
    google__protobuf__method_options__free_unpacked(o, NULL);
}

static void refuses_wrong_wire_type(void **state)
{
    wire w = {0};
    put_uint(&w, SILKGEN_OPT_ROUTE, 7); /* a varint where a string belongs */
    Google__Protobuf__ServiceOptions *o =
        google__protobuf__service_options__unpack(NULL, w.len, w.data);
    assert_non_null(o);
    silkgen_service_opts opts;
    assert_non_null(silkgen_read_service_opts(&o->base, &opts));
    silkgen_service_opts_fini(&opts);
    google__protobuf__service_options__free_unpacked(o, NULL);
}

static void no_options_means_defaults(void **state)
{
    silkgen_method_opts m;
    assert_null(silkgen_read_method_opts(NULL, &m));
    assert_false(m.has_http);
    assert_null(m.hash_key);
    assert_int_equal(m.timeout_ms, 0);
    silkgen_service_opts s;
    assert_null(silkgen_read_service_opts(NULL, &s));
    assert_null(s.route);
    assert_false(s.websocket);
}

static void check_name(char *(*fn)(const char *), const char *in, const char *want)
{
    char *got = fn(in);
    assert_string_equal(got, want);
    free(got);
}

/* The expectations are what protoc-c 1.4.1 itself emits for these names. */
static void mangles_names_as_protoc_c(void **state)
{
    check_name(silkgen_type_name, ".a.b_c.Outer.Inner", "A__BC__Outer__Inner");
    check_name(silkgen_type_name, "wstest.WsTest", "Wstest__WsTest");
    check_name(silkgen_lower_name, "a.b_c.HTTPThing", "a__b_c__httpthing");
    check_name(silkgen_lower_name, ".wstest.WsTest", "wstest__ws_test");
    check_name(silkgen_lower_name, "a.b_c.my_svc", "a__b_c__my_svc");
    check_name(silkgen_camel_to_lower, "GetURL", "get_url");
    check_name(silkgen_camel_to_lower, "SendToBusiness", "send_to_business");
    check_name(silkgen_file_ident, "silk/ws.proto", "silk_2fws_2eproto");
    check_name(silkgen_file_stem, "silk/ws.proto", "silk/ws");
}

static void derives_default_routes(void **state)
{
    char *r;
    r = silkgen_route(NULL, "WsTest");
    assert_string_equal(r, "api/wstest");
    free(r);
    r = silkgen_route("", "IWsTestAppService");
    assert_string_equal(r, "api/iwstest");
    free(r);
    r = silkgen_route(NULL, "OrderService");
    assert_string_equal(r, "api/order");
    free(r);
    r = silkgen_route("/api/wstest/", "Anything");
    assert_string_equal(r, "api/wstest");
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reads_service_options),     cmocka_unit_test(reads_method_options),
        cmocka_unit_test(refuses_wrong_wire_type),   cmocka_unit_test(no_options_means_defaults),
        cmocka_unit_test(mangles_names_as_protoc_c), cmocka_unit_test(derives_default_routes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
