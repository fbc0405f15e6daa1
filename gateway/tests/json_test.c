/* json_test.c - unit tests of json.c: the gateway's error bodies and Silky's wrapped replies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json.h"

static void test_error(void **state)
{
    (void)state;
    char *s = silk__gw_json_error(SILK_NOT_FOUND, "no session for businessId 9");
    assert_string_equal(s, "{\"code\":5,\"message\":\"no session for businessId 9\"}");
    free(s);
    s = silk__gw_json_error(SILK_INVALID_ARGUMENT, "a \"quoted\"\n\\ word");
    assert_string_equal(s, "{\"code\":3,\"message\":\"a \\\"quoted\\\"\\n\\\\ word\"}");
    free(s);
    s = silk__gw_json_error(SILK_INTERNAL, "bad \xff byte");
    assert_string_equal(s, "{\"code\":13,\"message\":\"bad ? byte\"}");
    free(s);
    s = silk__gw_json_error(SILK_UNKNOWN, NULL);
    assert_string_equal(s, "{\"code\":2,\"message\":\"\"}");
    free(s);
}

static void test_wrapped(void **state)
{
    (void)state;
    char *s = silk__gw_json_wrapped(200, SILK_OK, "{\"a\":1}", NULL);
    assert_string_equal(s, "{\"result\":{\"a\":1},\"status\":200,\"code\":0,\"errorMessage\":null,"
                           "\"validErrors\":null}");
    free(s);
    s = silk__gw_json_wrapped(404, SILK_NOT_FOUND, NULL, "gone \"x\"");
    assert_string_equal(s, "{\"result\":null,\"status\":404,\"code\":5,"
                           "\"errorMessage\":\"gone \\\"x\\\"\",\"validErrors\":null}");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error),
        cmocka_unit_test(test_wrapped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
