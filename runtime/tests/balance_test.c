/* balance_test.c - picking instances (balance.c) with a clock of its own: rendezvous hashing
 * (stability, what moves, weights), weighted round-robin, keys read from request fields, failover
 * away from tried instances, and the breaker's open, half-open and closed states. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client/balance.h"
#include "json_test.pb-c.h"
#include "registry/backend.h"

#define SEC 1000000

/* set_view gives b the instances ids[0..n) at tcp://127.0.0.1:1000+i, with weights. */
static void set_view(silk__balancer *b, const char *const *ids, size_t n, const uint32_t *weights)
{
    silk_instance_list list = {0};
    for (size_t i = 0; i < n; i++) {
        char address[64];
        snprintf(address, sizeof address, "tcp://127.0.0.1:%zu", 1000 + (size_t)(ids[i][0]));
        silk_instance in = {.service = "t.T",
                            .id = (char *)ids[i],
                            .address = address,
                            .weight = weights != NULL ? weights[i] : 1,
                            .version = ""};
        assert_int_equal(silk__instance_list_add(&list, &in), SILK_OK);
    }
    silk__lb_view v;
    assert_int_equal(silk__lb_prepare_view(&v, &list), SILK_OK);
    silk__lb_set_view(b, &v);
    silk__lb_view_fini(&v);
}

static silk__route keyed(int k)
{
    char key[32];
    snprintf(key, sizeof key, "key%d", k);
    Silkjt__All req = SILKJT__ALL__INIT;
    req.text = key;
    silk_method_desc m = {.hash_key = "text"};
    silk__route r;
    silk__lb_route_init(&r, SILK_LB_ROUND_ROBIN, &m, &req.base, NULL);
    assert_true(r.hashed);
    return r;
}

/* pick picks for r, and checks the address hash the pick gives with it. */
static const char *pick(silk__balancer *b, const silk__route *r, int64_t now)
{
    bool none = false;
    char why[256];
    uint64_t hash = 0;
    const char *address = silk__lb_pick(b, r, now, &none, &hash, why, sizeof why);
    if (address != NULL)
        assert_true(hash == silk__lb_address_hash(address));
    return address;
}

static void test_rendezvous_moves_only_the_keys_of_the_one_that_left(void **state)
{
    (void)state;
    silk__balancer b;
    silk__lb_init(&b, "t.T");
    const char *three[] = {"a", "b", "c"}, *two[] = {"a", "b"};
    enum { N = 600 };
    static char before[N][64];
    set_view(&b, three, 3, NULL);
    int on_c = 0;
    for (int k = 0; k < N; k++) {
        silk__route r = keyed(k);
        snprintf(before[k], sizeof before[k], "%s", pick(&b, &r, 1));
        assert_string_equal(pick(&b, &r, 2), before[k]); /* stable */
        on_c += strstr(before[k], ":1099") != NULL;
    }
    assert_in_range(on_c, N / 5, N / 2);
    set_view(&b, two, 2, NULL);
    int moved = 0;
    for (int k = 0; k < N; k++) {
        silk__route r = keyed(k);
        const char *now = pick(&b, &r, 3);
        if (strcmp(now, before[k]) != 0) {
            assert_non_null(strstr(before[k], ":1099")); /* only c's keys move */
            moved++;
        }
    }
    assert_int_equal(moved, on_c);
    silk__lb_fini(&b);
}

static void test_weights_share_keys(void **state)
{
    (void)state;
    silk__balancer b;
    silk__lb_init(&b, "t.T");
    const char *ids[] = {"a", "b", "c"};
    uint32_t w[] = {1, 1, 2};
    set_view(&b, ids, 3, w);
    int on_c = 0;
    for (int k = 0; k < 4000; k++) {
        silk__route r = keyed(k);
        on_c += strstr(pick(&b, &r, 1), ":1099") != NULL;
    }
    assert_in_range(on_c, 1700, 2300); /* half of the keys, give or take 6 sigma */
    silk__lb_fini(&b);
}

static void test_round_robin_follows_weights(void **state)
{
    (void)state;
    silk__balancer b;
    silk__lb_init(&b, "t.T");
    b.policy = SILK_LB_ROUND_ROBIN;
    const char *ids[] = {"a", "b", "c"};
    uint32_t w[] = {5, 1, 2};
    set_view(&b, ids, 3, w);
    int count[3] = {0}, run = 0, longest = 0;
    const char *last = "";
    for (int i = 0; i < 800; i++) {
        const char *at = pick(&b, NULL, 1);
        count[at[strlen(at) - 1] - '7']++; /* ports 1097, 1098, 1099 */
        run = strcmp(at, last) == 0 ? run + 1 : 1;
        longest = run > longest ? run : longest;
        last = at;
    }
    assert_int_equal(count[0], 500); /* exactly in proportion: 5/8, 1/8, 2/8 */
    assert_int_equal(count[1], 100);
    assert_int_equal(count[2], 200);
    assert_true(longest <= 2); /* spread out, not five of a in a row */
    /* An instance whose connection was lost is passed over; the others keep their shares. */
    silk__lb_conn_failed(&b, "tcp://127.0.0.1:1097", false, 1);
    int on_b = 0;
    for (int i = 0; i < 300; i++) {
        const char *at = pick(&b, NULL, 2);
        assert_string_not_equal(at, "tcp://127.0.0.1:1097");
        on_b += strcmp(at, "tcp://127.0.0.1:1098") == 0;
    }
    assert_int_equal(on_b, 100);
    silk__lb_fini(&b);
}

static void test_keys_from_fields(void **state)
{
    (void)state;
    Silkjt__All req = SILKJT__ALL__INIT;
    silk__route r, r2;
    silk_method_desc by_num = {.hash_key = "u64"}, by_text = {.hash_key = "text"},
                     by_choice = {.hash_key = "choice_text"}, by_nothing = {.hash_key = "nope"};
    req.u64 = 42;
    silk__lb_route_init(&r, SILK_LB_ROUND_ROBIN, &by_num, &req.base, NULL);
    assert_true(r.hashed);
    req.text = "42"; /* an integer hashes as its decimal text */
    silk__lb_route_init(&r2, SILK_LB_ROUND_ROBIN, &by_text, &req.base, NULL);
    assert_true(r2.hashed);
    assert_true(r.key_hash == r2.key_hash);
    req.text = "";
    silk__lb_route_init(&r, SILK_LB_ROUND_ROBIN, &by_text, &req.base, NULL);
    assert_false(r.hashed); /* an empty string is no key */
    silk__lb_route_init(&r, SILK_LB_ROUND_ROBIN, &by_choice, &req.base, NULL);
    assert_false(r.hashed); /* a oneof member that is not set */
    req.choice_case = SILKJT__ALL__CHOICE_CHOICE_TEXT;
    req.choice_text = "x";
    silk__lb_route_init(&r, SILK_LB_ROUND_ROBIN, &by_choice, &req.base, NULL);
    assert_true(r.hashed);
    silk__lb_route_init(&r, SILK_LB_HASH, &by_nothing, &req.base, NULL);
    assert_false(r.hashed); /* no such field, and no business id */
}

static void test_failover_goes_elsewhere(void **state)
{
    (void)state;
    silk__balancer b;
    silk__lb_init(&b, "t.T");
    const char *ids[] = {"a", "b", "c"};
    set_view(&b, ids, 3, NULL);
    for (int k = 0; k < 50; k++) {
        silk__route r = keyed(k);
        const char *first = pick(&b, &r, 1);
        r.tried[r.ntried++] = silk__lb_address_hash(first);
        const char *second = pick(&b, &r, 1);
        assert_string_not_equal(first, second);
        r.tried[r.ntried++] = silk__lb_address_hash(second);
        const char *third = pick(&b, &r, 1);
        assert_string_not_equal(third, first);
        assert_string_not_equal(third, second);
        r.tried[r.ntried++] = silk__lb_address_hash(third);
        assert_non_null(pick(&b, &r, 1)); /* all tried: any, rather than none */
    }
    silk__lb_fini(&b);
}

static void test_breaker_opens_probes_once_and_closes(void **state)
{
    (void)state;
    silk__balancer b;
    silk__lb_init(&b, "t.T");
    b.breaker_failures = 3;
    b.breaker_open_us = 10 * SEC;
    const char *ids[] = {"a", "b"};
    set_view(&b, ids, 2, NULL);
    const char *bad = "tcp://127.0.0.1:1098";
    int64_t t = 100 * SEC;
    for (int i = 0; i < 3; i++)
        silk__lb_failed(&b, bad, t);
    for (int i = 0; i < 100; i++) /* open: never picked */
        assert_string_not_equal(pick(&b, NULL, t + i * 1000), bad);
    int64_t later = t + 10 * SEC;
    int probes = 0;
    for (int i = 0; i < 100; i++) /* half-open: exactly one call goes through */
        probes += strcmp(pick(&b, NULL, later + i), bad) == 0;
    assert_int_equal(probes, 1);
    silk__lb_failed(&b, bad, later + 200); /* the probe fails: open again */
    for (int i = 0; i < 100; i++)
        assert_string_not_equal(pick(&b, NULL, later + 5 * SEC + i), bad);
    probes = 0;
    for (int i = 0; i < 100; i++)
        probes += strcmp(pick(&b, NULL, later + 10 * SEC + i), bad) == 0;
    assert_int_equal(probes, 1);
    assert_true(silk__lb_watch(&b, bad));
    silk__lb_succeeded(&b, bad); /* the probe answers: closed */
    assert_false(silk__lb_watch(&b, bad));
    probes = 0;
    for (int i = 0; i < 100; i++)
        probes += strcmp(pick(&b, NULL, later + 11 * SEC + i), bad) == 0;
    assert_int_equal(probes, 50);
    silk__lb_fini(&b);
}

static void test_all_open_fails_fast(void **state)
{
    (void)state;
    silk__balancer b;
    silk__lb_init(&b, "t.T");
    b.breaker_failures = 3;
    b.breaker_open_us = 10 * SEC;
    const char *ids[] = {"a", "b"};
    set_view(&b, ids, 2, NULL);
    for (int i = 0; i < 3; i++) {
        silk__lb_failed(&b, "tcp://127.0.0.1:1097", SEC);
        silk__lb_failed(&b, "tcp://127.0.0.1:1098", SEC);
    }
    bool none = false;
    char why[256];
    assert_null(silk__lb_pick(&b, NULL, 2 * SEC, &none, NULL, why, sizeof why));
    assert_false(none);
    assert_non_null(strstr(why, "circuit breakers open, the next probe in 9000 ms"));
    silk__lb_fini(&b);
}

static void test_lost_connection_passed_over_while_others_are_up(void **state)
{
    (void)state;
    silk__balancer b;
    silk__lb_init(&b, "t.T");
    const char *ids[] = {"a", "b"};
    set_view(&b, ids, 2, NULL);
    silk__lb_conn_failed(&b, "tcp://127.0.0.1:1097", true, SEC);
    for (int i = 0; i < 10; i++)
        assert_string_equal(pick(&b, NULL, SEC + i), "tcp://127.0.0.1:1098");
    unsigned failures = 0;
    assert_true(silk__lb_backoff_us(&b, "tcp://127.0.0.1:1097", SEC, &failures) > 0);
    assert_int_equal(failures, 1);
    silk__lb_conn_made(&b, "tcp://127.0.0.1:1097");
    assert_int_equal(silk__lb_backoff_us(&b, "tcp://127.0.0.1:1097", SEC, &failures), 0);
    /* An instance the registry stops listing is forgotten: back, it starts afresh. */
    for (int i = 0; i < 3; i++)
        silk__lb_failed(&b, "tcp://127.0.0.1:1097", SEC);
    assert_true(silk__lb_watch(&b, "tcp://127.0.0.1:1097"));
    const char *one[] = {"b"};
    set_view(&b, one, 1, NULL);
    set_view(&b, ids, 2, NULL);
    assert_false(silk__lb_watch(&b, "tcp://127.0.0.1:1097"));
    silk__lb_fini(&b);
}

static void test_one_outage_is_one_failure(void **state)
{
    (void)state;
    silk__balancer b;
    silk__lb_init(&b, "t.T");
    b.breaker_failures = 3;
    b.breaker_open_us = 10 * SEC;
    const char *ids[] = {"a", "b"};
    set_view(&b, ids, 2, NULL);
    const char *bad = "tcp://127.0.0.1:1098";
    /* A dead process closes many connections at once (a gateway's loops and its channel):
     * however many report the loss, the breaker counts one failure. */
    for (int i = 0; i < 5; i++)
        silk__lb_conn_failed(&b, bad, false, SEC + i);
    int picked = 0;
    for (int i = 0; i < 100; i++)
        picked += strcmp(pick(&b, NULL, 5 * SEC + i), bad) == 0;
    assert_int_equal(picked, 50); /* not open: down only for a while, then shared again */
    /* Losses in separate outages each count, as every failed dial does. */
    silk__lb_conn_failed(&b, bad, false, 10 * SEC);
    silk__lb_conn_failed(&b, bad, true, 10 * SEC + 1);
    for (int i = 0; i < 100; i++)
        assert_string_not_equal(pick(&b, NULL, 15 * SEC + i), bad); /* open */
    silk__lb_fini(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rendezvous_moves_only_the_keys_of_the_one_that_left),
        cmocka_unit_test(test_weights_share_keys),
        cmocka_unit_test(test_round_robin_follows_weights),
        cmocka_unit_test(test_keys_from_fields),
        cmocka_unit_test(test_failover_goes_elsewhere),
        cmocka_unit_test(test_breaker_opens_probes_once_and_closes),
        cmocka_unit_test(test_all_open_fails_fast),
        cmocka_unit_test(test_lost_connection_passed_over_while_others_are_up),
        cmocka_unit_test(test_one_outage_is_one_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
