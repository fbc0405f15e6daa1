/* health_test.c - every server answers silk.health.Health/Check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <nng/nng.h>

#include <silk/silk.h>

#include "core/reap.h"
#include "silk/health.silk.h"

static const silk_service_desc other = {.name = "test.Other", .route = "api/other"};

static void test_check(void **state)
{
    (void)state;
    silk_server *srv = silk_server_new(&(silk_server_opts){.no_register = true, .workers = 1});
    assert_int_equal(silk_server_add_service(srv, &other, NULL, NULL), SILK_OK);
    assert_int_equal(silk_server_start(srv), SILK_OK);
    silk_channel *ch;
    assert_int_equal(silk_channel_open(&ch, silk_server_address(srv)), SILK_OK);

    Silk__Health__HealthCheckRequest req = SILK__HEALTH__HEALTH_CHECK_REQUEST__INIT;
    Silk__Health__HealthCheckResponse *resp = NULL;
    const char *serving[] = {"", "test.Other", "silk.health.Health"};
    for (size_t i = 0; i < sizeof serving / sizeof serving[0]; i++) {
        req.service = (char *)serving[i];
        assert_int_equal(silk__health__health__call_check(ch, NULL, &req, &resp), SILK_OK);
        assert_int_equal(resp->status,
                         SILK__HEALTH__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
        silk__health__health_check_response__free_unpacked(resp, NULL);
    }
    silk_ctx *ctx = silk_ctx_new();
    req.service = "no.Such";
    assert_int_equal(silk__health__health__call_check(ch, ctx, &req, &resp), SILK_NOT_FOUND);
    assert_string_equal(silk_ctx_message(ctx), "service no.Such is not served here");
    silk_ctx_free(ctx);
    silk_channel_close(ch);
    silk_server_free(srv);
}

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check),
    };
    /* clang-format on */
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    silk__reap_fini();
    nng_fini();
    return failed != 0;
}
