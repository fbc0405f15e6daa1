/* bodies_test.c - unit tests of json.c: the gateway's error bodies and Silky's wrapped replies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/bodies.h"

static void test_error(void **state)
{
    (void)state;
    char *s = silk__gw_body_error(SILK_NOT_FOUND, "no session for businessId 9");
    assert_string_equal(s, "{\"code\":5,\"message\":\"no session for businessId 9\"}");
    free(s);
    s = silk__gw_body_error(SILK_INVALID_ARGUMENT, "a \"quoted\"\n\\ word");
    assert_string_equal(s, "{\"code\":3,\"message\":\"a \\\"quoted\\\"\\n\\\\ word\"}");
    free(s);
    s = silk__gw_body_error(SILK_INTERNAL, "bad \xff byte");
    /* U+FFFD, as the JSON mapping repairs strings (silk__utf8_repair) */
    assert_string_equal(s, "{\"code\":13,\"message\":\"bad \xef\xbf\xbd byte\"}");
    free(s);
    s = silk__gw_body_error(SILK_UNKNOWN, NULL);
    assert_string_equal(s, "{\"code\":2,\"message\":\"\"}");
    free(s);
}

static void test_wrapped(void **state)
{
    (void)state;
    char *s = silk__gw_body_wrapped(200, SILK_OK, "{\"a\":1}", NULL);
    assert_string_equal(s, "{\"result\":{\"a\":1},\"status\":200,\"code\":0,\"errorMessage\":null,"
                           "\"validErrors\":null}");
    free(s);
    s = silk__gw_body_wrapped(404, SILK_NOT_FOUND, NULL, "gone \"x\"");
    assert_string_equal(s, "{\"result\":null,\"status\":404,\"code\":5,"
                           "\"errorMessage\":\"gone \\\"x\\\"\",\"validErrors\":null}");
    free(s);
}

/* valid_errors_of wraps an INVALID_ARGUMENT reply with message and returns its validErrors. */
static char *valid_errors_of(const char *message)
{
    char *s = silk__gw_body_wrapped(400, SILK_INVALID_ARGUMENT, NULL, message);
    assert_non_null(s);
    const char *v = strstr(s, "\"validErrors\":");
    assert_non_null(v);
    char *out = strdup(v + strlen("\"validErrors\":"));
    out[strlen(out) - 1] = '\0'; /* the closing brace of the reply */
    free(s);
    return out;
}

static void assert_valid_errors(const char *message, const char *want)
{
    char *got = valid_errors_of(message);
    assert_string_equal(got, want);
    free(got);
}

static void test_valid_errors(void **state)
{
    (void)state;
    assert_valid_errors(
        "field \"page.size\": expected an integer (int32), got a string",
        "[{\"memberName\":\"page.size\",\"errorMessages\":[\"field \\\"page.size\\\": "
        "expected an integer (int32), got a string\"]}]");
    assert_valid_errors(
        "unknown field \"nope\" in gwtest.Item",
        "[{\"memberName\":\"nope\",\"errorMessages\":[\"unknown field \\\"nope\\\" in "
        "gwtest.Item\"]}]");
    assert_valid_errors(
        "field \"page\": unknown field \"zz\" in gwtest.Page",
        "[{\"memberName\":\"page.zz\",\"errorMessages\":[\"field \\\"page\\\": unknown "
        "field \\\"zz\\\" in gwtest.Page\"]}]");
    assert_valid_errors("query parameter count: \"x\" is not an integer (int32)",
                        "[{\"memberName\":\"count\",\"errorMessages\":[\"query parameter count: "
                        "\\\"x\\\" is not an integer (int32)\"]}]");
    assert_valid_errors("path parameter id: badly escaped or too long",
                        "[{\"memberName\":\"id\",\"errorMessages\":[\"path parameter id: badly "
                        "escaped or too long\"]}]");
    /* No field named: a ValidError of the whole request. */
    assert_valid_errors(
        "malformed JSON at line 1 column 2: x",
        "[{\"memberName\":null,\"errorMessages\":[\"malformed JSON at line 1 column "
        "2: x\"]}]");
    assert_valid_errors("field \"unterminated", "[{\"memberName\":null,\"errorMessages\":[\"field "
                                                "\\\"unterminated\"]}]");
    /* Other codes have none. */
    char *s = silk__gw_body_wrapped(503, SILK_UNAVAILABLE, NULL, "field \"x\": down");
    assert_non_null(strstr(s, "\"validErrors\":null}"));
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error),
        cmocka_unit_test(test_wrapped),
        cmocka_unit_test(test_valid_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
