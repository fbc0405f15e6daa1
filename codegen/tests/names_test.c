/* names_test.c - protoc-gen-silk names things as protoc-c 1.4.1 does, and derives silk's routes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "silkgen.h"

#define expect_name(call, want)                                                                    \
    do {                                                                                           \
        char *got_ = (call);                                                                       \
        assert_string_equal(got_, (want));                                                         \
        free(got_);                                                                                \
    } while (0)

/* The expectations are what protoc-c 1.4.1 itself emits for these names (see the generated
 * .pb-c.h of codegen/tests/protos, which the generated-code test compiles against). */
static void mangles_type_names_as_protoc_c(void **state)
{
    Google__Protobuf__FileDescriptorProto file = GOOGLE__PROTOBUF__FILE_DESCRIPTOR_PROTO__INIT;
    file.package = "acme.shop_v1";
    expect_name(silkgen_c_name(".acme.shop_v1.Order.Line", &file), "Acme__ShopV1__Order__Line");
    expect_name(silkgen_c_name("acme.shop_v1.HTTPAudit", &file), "Acme__ShopV1__HTTPAudit");
    expect_name(silkgen_c_name(".google.protobuf.Empty", NULL), "Google__Protobuf__Empty");
    expect_name(silkgen_c_name(".wstest.WsTest", NULL), "Wstest__WsTest");
    expect_name(silkgen_c_name(".Ping", NULL), "Ping");
    expect_name(silkgen_c_name(".a.b.lower_case_msg", NULL), "A__B__LowerCaseMsg");
}

static void mangles_lower_names_as_protoc_c(void **state)
{
    expect_name(silkgen_c_lower(".wstest.WsTest", NULL), "wstest__ws_test");
    expect_name(silkgen_c_lower(".wstest.EchoRequest", NULL), "wstest__echo_request");
    expect_name(silkgen_c_lower("acme.shop_v1.HTTPAudit", NULL), "acme__shop_v1__httpaudit");
    expect_name(silkgen_c_lower(".acme.shop_v1.Order.Line", NULL), "acme__shop_v1__order__line");
    expect_name(silkgen_c_lower(".silk.ws.SessionManager", NULL), "silk__ws__session_manager");
    expect_name(silkgen_c_lower(".google.protobuf.Empty", NULL), "google__protobuf__empty");
    expect_name(silkgen_camel_to_lower("SendToBusiness"), "send_to_business");
    expect_name(silkgen_camel_to_lower("GetURL"), "get_url");
    expect_name(silkgen_camel_to_lower("HTTPGet"), "httpget");
    expect_name(silkgen_camel_to_lower("V2Thing"), "v2_thing");
    expect_name(silkgen_camel_to_lower("already_lower"), "already_lower");
}

/* pb_c_file_options packs FileOptions carrying (pb_c_file).c_package, as protoc sends them,
 * and unpacks them with protobuf-c, so that the option is an unknown field. */
static Google__Protobuf__FileOptions *pb_c_file_options(const char *c_package)
{
    uint8_t buf[128], inner[64];
    size_t n = strlen(c_package), in = 0, len = 0;
    inner[in++] = SILKGEN_PB_C_C_PACKAGE << 3 | 2;
    inner[in++] = (uint8_t)n;
    memcpy(inner + in, c_package, n);
    in += n;
    /* Tag 1019, wire type 2, as a varint: 1019 << 3 | 2 = 8154 = 0xda 0x3f. */
    buf[len++] = 0xda;
    buf[len++] = 0x3f;
    buf[len++] = (uint8_t)in;
    memcpy(buf + len, inner, in);
    len += in;
    return google__protobuf__file_options__unpack(NULL, len, buf);
}

static void honours_c_package(void **state)
{
    Google__Protobuf__FileOptions *opts = pb_c_file_options("bill");
    assert_non_null(opts);
    Google__Protobuf__FileDescriptorProto file = GOOGLE__PROTOBUF__FILE_DESCRIPTOR_PROTO__INIT;
    file.options = opts;
    file.package = "acme.billing.v1";
    expect_name(silkgen_c_package(&file), "bill");
    expect_name(silkgen_c_name(".acme.billing.v1.Invoice.Item", &file), "Bill__Invoice__Item");
    expect_name(silkgen_c_lower("acme.billing.v1.BillingService", &file), "bill__billing_service");
    file.package = NULL; /* no package: c_package becomes one */
    expect_name(silkgen_c_name("Invoice", &file), "Bill__Invoice");
    file.options = NULL;
    assert_null(silkgen_c_package(&file));
    google__protobuf__file_options__free_unpacked(opts, NULL);
}

static void names_files_as_protoc_c(void **state)
{
    expect_name(silkgen_proto_stem("silk/ws.proto"), "silk/ws");
    expect_name(silkgen_proto_stem("old.protodevel"), "old");
    expect_name(silkgen_proto_stem("noext"), "noext");
    expect_name(silkgen_header_guard("wstest.silk.h"), "SILK_GENERATED_WSTEST_SILK_H");
    expect_name(silkgen_header_guard("silk/ws.silk.h"), "SILK_GENERATED_SILK_WS_SILK_H");
    expect_name(silkgen_header_guard("a-b/c.silk.h"), "SILK_GENERATED_A_B_C_SILK_H");
    assert_true(silkgen_is_c_keyword("default"));
    assert_true(silkgen_is_c_keyword("switch"));
    assert_false(silkgen_is_c_keyword("delete")); /* C++'s, not C's */
    assert_false(silkgen_is_c_keyword("echo"));
}

static void derives_routes(void **state)
{
    expect_name(silkgen_service_slug("WsTest"), "wstest");
    expect_name(silkgen_service_slug("OrderAppService"), "order");
    expect_name(silkgen_service_slug("OrderService"), "order");
    expect_name(silkgen_service_slug("IWsTestAppService"), "iwstest");
    expect_name(silkgen_service_slug("Service"), "service"); /* nothing would be left */
    expect_name(silkgen_route(NULL, "WsTest"), "api/wstest");
    expect_name(silkgen_route("", "OrderAppService"), "api/order");
    expect_name(silkgen_route("api/wstest", "Anything"), "api/wstest");
    expect_name(silkgen_route("/api/wstest/", "Anything"), "api/wstest");
    expect_name(silkgen_route("v2/{service}/x/{service}", "FooService"), "v2/foo/x/foo");
    expect_name(silkgen_route("/", "Foo"), "");
}

static void derives_http_paths(void **state)
{
    expect_name(silkgen_http_path("api/wstest", NULL, "Echo"), "api/wstest/echo");
    expect_name(silkgen_http_path("api/wstest", NULL, "SendToBusiness"),
                "api/wstest/sendtobusiness");
    expect_name(silkgen_http_path("api/x", "items/{id}", "Get"), "api/x/items/{id}");
    expect_name(silkgen_http_path("api/x", "/items/{id}/", "Get"), "api/x/items/{id}");
    expect_name(silkgen_http_path("api/x", "", "Get"), "api/x");
    expect_name(silkgen_http_path("api/x", "/", "Get"), "api/x");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mangles_type_names_as_protoc_c),
        cmocka_unit_test(mangles_lower_names_as_protoc_c),
        cmocka_unit_test(honours_c_package),
        cmocka_unit_test(names_files_as_protoc_c),
        cmocka_unit_test(derives_routes),
        cmocka_unit_test(derives_http_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
