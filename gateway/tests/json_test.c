/* json_test.c - unit tests of json.c: JSON bodies to messages and back, and the errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "google/protobuf/empty.pb-c.h"
#include "gwtest.pb-c.h"
#include "json.h"

static ProtobufCMessage *decode(const ProtobufCMessageDescriptor *d, const char *json,
                                silk_status want, char *err)
{
    ProtobufCMessage *msg = (ProtobufCMessage *)1;
    silk_status st = silk__gw_json_to_message(d, json, strlen(json), &msg, err, 256);
    assert_int_equal(st, want);
    if (st != SILK_OK)
        assert_null(msg);
    return msg;
}

static void test_json_names(void **state)
{
    (void)state;
    char out[64];
    assert_string_equal(silk__gw_json_name("business_id", out, sizeof out), "businessId");
    assert_string_equal(silk__gw_json_name("msg", out, sizeof out), "msg");
    assert_string_equal(silk__gw_json_name("a_b_c", out, sizeof out), "aBC");
    assert_string_equal(silk__gw_json_name("x_1", out, sizeof out), "x1");
}

static void test_echo_request(void **state)
{
    (void)state;
    char err[256];
    static const char *const bodies[] = {
        "{\"businessId\":\"100\",\"msg\":\"hi\"}",
        "{\"business_id\":\"100\",\"msg\":\"hi\"}",
        "  {\"msg\":\"hi\", \"businessId\":\"100\"}\n",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        Gwtest__EchoRequest *r = (Gwtest__EchoRequest *)decode(&gwtest__echo_request__descriptor,
                                                               bodies[i], SILK_OK, err);
        assert_string_equal(r->business_id, "100");
        assert_string_equal(r->msg, "hi");
        protobuf_c_message_free_unpacked(&r->base, NULL);
    }
    /* Missing fields keep their defaults; an empty body is {}. */
    Gwtest__EchoRequest *r = (Gwtest__EchoRequest *)decode(&gwtest__echo_request__descriptor,
                                                           "{\"msg\":\"x\"}", SILK_OK, err);
    assert_string_equal(r->business_id, "");
    protobuf_c_message_free_unpacked(&r->base, NULL);
    r = (Gwtest__EchoRequest *)decode(&gwtest__echo_request__descriptor, "", SILK_OK, err);
    assert_string_equal(r->msg, "");
    protobuf_c_message_free_unpacked(&r->base, NULL);
    /* Null is the default; a key given by both names: the last one wins, nothing leaks. */
    r = (Gwtest__EchoRequest *)decode(&gwtest__echo_request__descriptor,
                                      "{\"msg\":null,\"business_id\":\"1\",\"businessId\":\"2\"}",
                                      SILK_OK, err);
    assert_string_equal(r->business_id, "2");
    protobuf_c_message_free_unpacked(&r->base, NULL);
}

static void test_errors(void **state)
{
    (void)state;
    char err[256];
    const ProtobufCMessageDescriptor *d = &gwtest__echo_request__descriptor;
    decode(d, "{not json", SILK_INVALID_ARGUMENT, err);
    assert_non_null(strstr(err, "malformed JSON"));
    decode(d, "[1,2]", SILK_INVALID_ARGUMENT, err);
    assert_non_null(strstr(err, "object"));
    decode(d, "{\"nope\":1}", SILK_INVALID_ARGUMENT, err);
    assert_non_null(strstr(err, "unknown field \"nope\""));
    decode(d, "{\"BusinessId\":\"1\"}", SILK_INVALID_ARGUMENT, err); /* names match exactly */
    decode(d, "{\"msg\":1}", SILK_INVALID_ARGUMENT, err);
    assert_non_null(strstr(err, "msg"));
    decode(d, "{\"msg\":\"a\\u0000b\"}", SILK_INVALID_ARGUMENT, err);
    decode(d, "{\"msg\":\"a\",\"msg\":\"b\"}", SILK_INVALID_ARGUMENT, err);
    /* An error after a string was set frees it. */
    decode(d, "{\"msg\":\"a\",\"business_id\":[]}", SILK_INVALID_ARGUMENT, err);
    decode(&gwtest__nested__descriptor, "{\"inner\":{}}", SILK_UNIMPLEMENTED, err);
    decode(&gwtest__nested__descriptor, "{\"blob\":\"AA==\"}", SILK_UNIMPLEMENTED, err);
}

static void test_scalars_round_trip(void **state)
{
    (void)state;
    char err[256];
    static const char in[] =
        "{\"text\":\"h\\u00e9\",\"flag\":true,\"small\":-5,\"count\":\"7\",\"big\":\"-"
        "9007199254740993\","
        "\"huge\":\"18446744073709551615\",\"ratio\":0.5,\"weight\":2,\"color\":\"COLOR_BLUE\","
        "\"tags\":[\"a\",\"b\"],\"numbers\":[1,2,3]}";
    Gwtest__Scalars *s = (Gwtest__Scalars *)decode(&gwtest__scalars__descriptor, in, SILK_OK, err);
    assert_string_equal(s->text, "h\xc3\xa9");
    assert_true(s->flag);
    assert_int_equal(s->small, -5);
    assert_int_equal(s->count, 7);
    assert_true(s->big == -9007199254740993LL);
    assert_true(s->huge == UINT64_MAX);
    assert_true(s->ratio == 0.5);
    assert_true(s->weight == 2.0f);
    assert_int_equal(s->color, GWTEST__COLOR__COLOR_BLUE);
    assert_int_equal(s->n_tags, 2);
    assert_string_equal(s->tags[1], "b");
    assert_int_equal(s->n_numbers, 3);
    assert_int_equal(s->numbers[2], 3);

    char *json = silk__gw_json_from_message(&s->base, err, sizeof err);
    assert_non_null(json);
    assert_string_equal(
        json, "{\"text\":\"h\xc3\xa9\",\"flag\":true,\"small\":-5,\"count\":7,"
              "\"big\":\"-9007199254740993\",\"huge\":\"18446744073709551615\","
              "\"ratio\":0.5,\"weight\":2.0,\"color\":\"COLOR_BLUE\",\"tags\":[\"a\",\"b\"],"
              "\"numbers\":[1,2,3]}");
    free(json);
    protobuf_c_message_free_unpacked(&s->base, NULL);

    /* Out of range or of the wrong kind. */
    decode(&gwtest__scalars__descriptor, "{\"small\":2147483648}", SILK_INVALID_ARGUMENT, err);
    decode(&gwtest__scalars__descriptor, "{\"count\":-1}", SILK_INVALID_ARGUMENT, err);
    decode(&gwtest__scalars__descriptor, "{\"flag\":\"true\"}", SILK_INVALID_ARGUMENT, err);
    decode(&gwtest__scalars__descriptor, "{\"color\":\"PURPLE\"}", SILK_INVALID_ARGUMENT, err);
    decode(&gwtest__scalars__descriptor, "{\"numbers\":[1,\"x\"]}", SILK_INVALID_ARGUMENT, err);
    decode(&gwtest__scalars__descriptor, "{\"tags\":\"a\"}", SILK_INVALID_ARGUMENT, err);
    decode(&gwtest__scalars__descriptor, "{\"small\":1.5}", SILK_INVALID_ARGUMENT, err);
}

static void test_replies(void **state)
{
    (void)state;
    char err[256];
    Google__Protobuf__Empty empty = GOOGLE__PROTOBUF__EMPTY__INIT;
    char *json = silk__gw_json_from_message(&empty.base, err, sizeof err);
    assert_string_equal(json, "{}");
    free(json);

    Gwtest__EchoRequest r = GWTEST__ECHO_REQUEST__INIT;
    r.business_id = "100";
    json = silk__gw_json_from_message(&r.base, err, sizeof err);
    assert_string_equal(json, "{\"businessId\":\"100\",\"msg\":\"\"}");
    free(json);

    Gwtest__Nested n = GWTEST__NESTED__INIT;
    assert_null(silk__gw_json_from_message(&n.base, err, sizeof err));
    assert_non_null(strstr(err, "not mapped"));
}

static void test_error_body(void **state)
{
    (void)state;
    char *json = silk__gw_json_error(SILK_INVALID_ARGUMENT, "businessId is required");
    assert_string_equal(json, "{\"code\":3,\"message\":\"businessId is required\"}");
    free(json);
    json = silk__gw_json_error(SILK_NOT_FOUND, "say \"hi\"\n");
    assert_string_equal(json, "{\"code\":5,\"message\":\"say \\\"hi\\\"\\n\"}");
    free(json);
    json = silk__gw_json_error(SILK_INTERNAL, "bad \xff byte");
    assert_string_equal(json, "{\"code\":13,\"message\":\"bad ? byte\"}");
    free(json);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_names), cmocka_unit_test(test_echo_request),
        cmocka_unit_test(test_errors),     cmocka_unit_test(test_scalars_round_trip),
        cmocka_unit_test(test_replies),    cmocka_unit_test(test_error_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
