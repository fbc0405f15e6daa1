/* sessions_test.c - unit tests of sessions.c: the table and its business-id index per route. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sessions/table.h"

typedef struct seen {
    const char *ids[16];
    size_t n;
} seen;

static void remember(silk__gw_session *s, void *arg)
{
    seen *v = arg;
    v->ids[v->n++] = s->id;
}

static int has(const seen *v, const char *id)
{
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->ids[i], id) == 0)
            return 1;
    return 0;
}

static int data_a, data_b, data_c;

static void test_add_find_remove(void **state)
{
    (void)state;
    silk__gw_sessions t;
    assert_int_equal(silk__gw_sessions_init(&t), 0);
    assert_int_equal(silk__gw_sessions_add(&t, "gw1.a", "api/wstest", "100", &data_a), 0);
    assert_int_equal(silk__gw_sessions_add(&t, "gw1.b", "api/wstest", "100", &data_b), 0);
    assert_int_equal(silk__gw_sessions_add(&t, "gw1.c", "api/wstest", "200", &data_c), 0);
    assert_int_equal(silk__gw_sessions_add(&t, "gw1.a", "api/other", "300", &data_c),
                     SILK__GW_SESSIONS_EXISTS);
    assert_int_equal(silk__gw_sessions_count(&t), 3);

    silk__gw_session *s = silk__gw_sessions_find(&t, "gw1.b");
    assert_non_null(s);
    assert_ptr_equal(s->data, &data_b);
    assert_string_equal(s->route, "api/wstest");
    assert_string_equal(s->business_id, "100");
    /* Ids are case-sensitive. */
    assert_null(silk__gw_sessions_find(&t, "GW1.B"));

    seen v = {0};
    assert_int_equal(silk__gw_sessions_business(&t, "api/wstest", "100", remember, &v), 2);
    assert_int_equal(v.n, 2);
    assert_true(has(&v, "gw1.a") && has(&v, "gw1.b"));
    assert_int_equal(silk__gw_sessions_business(&t, "api/wstest", "200", NULL, NULL), 1);
    assert_int_equal(silk__gw_sessions_business(&t, "api/wstest", "999", NULL, NULL), 0);
    /* Business ids are case-sensitive too. */
    assert_int_equal(silk__gw_sessions_business(&t, "api/wstest", "1000", NULL, NULL), 0);

    assert_ptr_equal(silk__gw_sessions_remove(&t, "gw1.a"), &data_a);
    assert_null(silk__gw_sessions_remove(&t, "gw1.a"));
    assert_null(silk__gw_sessions_find(&t, "gw1.a"));
    memset(&v, 0, sizeof v);
    assert_int_equal(silk__gw_sessions_business(&t, "api/wstest", "100", remember, &v), 1);
    assert_string_equal(v.ids[0], "gw1.b");
    assert_ptr_equal(silk__gw_sessions_remove(&t, "gw1.b"), &data_b);
    assert_int_equal(silk__gw_sessions_business(&t, "api/wstest", "100", NULL, NULL), 0);
    assert_int_equal(silk__gw_sessions_count(&t), 1);

    /* The id can be used again once removed. */
    assert_int_equal(silk__gw_sessions_add(&t, "gw1.a", "api/wstest", "100", &data_a), 0);
    assert_int_equal(silk__gw_sessions_business(&t, "api/wstest", "100", NULL, NULL), 1);
    silk__gw_sessions_fini(&t);
}

static void test_routes_are_separate(void **state)
{
    (void)state;
    silk__gw_sessions t;
    assert_int_equal(silk__gw_sessions_init(&t), 0);
    assert_int_equal(silk__gw_sessions_add(&t, "g.1", "api/wstest", "100", NULL), 0);
    assert_int_equal(silk__gw_sessions_add(&t, "g.2", "api/chat", "100", NULL), 0);
    assert_int_equal(silk__gw_sessions_add(&t, "g.3", "api/chat", "100", NULL), 0);

    seen v = {0};
    assert_int_equal(silk__gw_sessions_business(&t, "api/wstest", "100", remember, &v), 1);
    assert_string_equal(v.ids[0], "g.1");
    assert_int_equal(silk__gw_sessions_business(&t, "api/chat", "100", NULL, NULL), 2);
    assert_int_equal(silk__gw_sessions_business(&t, "api/none", "100", NULL, NULL), 0);
    /* No route: every route. */
    memset(&v, 0, sizeof v);
    assert_int_equal(silk__gw_sessions_business(&t, NULL, "100", remember, &v), 3);
    assert_true(has(&v, "g.1") && has(&v, "g.2") && has(&v, "g.3"));
    assert_int_equal(silk__gw_sessions_business(&t, "", "100", NULL, NULL), 3);
    silk__gw_sessions_fini(&t);
}

static void test_many(void **state)
{
    (void)state;
    enum { N = 20000 };
    silk__gw_sessions t;
    char id[32], biz[32];
    assert_int_equal(silk__gw_sessions_init(&t), 0);
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof id, "gw.%08x", i);
        snprintf(biz, sizeof biz, "%d", i % 1000);
        assert_int_equal(silk__gw_sessions_add(&t, id, i % 2 ? "api/a" : "api/b", biz, NULL), 0);
    }
    assert_int_equal(silk__gw_sessions_count(&t), N);
    assert_int_equal(silk__gw_sessions_business(&t, NULL, "7", NULL, NULL), N / 1000);
    assert_int_equal(silk__gw_sessions_business(&t, "api/a", "7", NULL, NULL), N / 1000);
    assert_int_equal(silk__gw_sessions_business(&t, "api/b", "8", NULL, NULL), N / 1000);
    for (int i = 0; i < N; i += 2) {
        snprintf(id, sizeof id, "gw.%08x", i);
        assert_non_null(silk__gw_sessions_find(&t, id));
        silk__gw_sessions_remove(&t, id);
    }
    assert_int_equal(silk__gw_sessions_count(&t), N / 2);
    assert_int_equal(silk__gw_sessions_business(&t, NULL, "8", NULL, NULL), 0);
    assert_int_equal(silk__gw_sessions_business(&t, NULL, "7", NULL, NULL), N / 1000);
    snprintf(id, sizeof id, "gw.%08x", 1);
    assert_non_null(silk__gw_sessions_find(&t, id));
    /* fini frees what is left. */
    silk__gw_sessions_fini(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_find_remove),
        cmocka_unit_test(test_routes_are_separate),
        cmocka_unit_test(test_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
