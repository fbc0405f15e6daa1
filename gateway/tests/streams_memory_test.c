/* streams_memory_test.c - unit tests of streams/memory.c on a fake clock: offsets and ranges,
 * trimming and gaps, ttl expiry by sweep and on access, idempotency keys, streams kept apart,
 * bad arguments, and four threads appending to one stream. */
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "streams/memory.h"

static double fake_now = 1000;

static double fake_clock(void)
{
    return fake_now;
}

static const silk__stream_limits lim = {.size = 100, .ttl_s = 60};

static silk__gw_streams *store(void)
{
    silk__gw_streams *s = silk__gw_streams_new();
    assert_non_null(s);
    silk__gw_streams_set_clock(s, fake_clock);
    fake_now = 1000;
    return s;
}

/* append appends a text message and returns its offset, checking it was no duplicate. */
static uint64_t append(silk__gw_streams *s, const char *route, const char *business,
                       const silk__stream_limits *l, char *epoch)
{
    uint64_t off = 0;
    bool dup = true;
    assert_int_equal(
        silk__gw_streams_append(s, route, business, l, "x", 1, false, NULL, epoch, &off, &dup),
        SILK_OK);
    assert_false(dup);
    return off;
}

/* top_of reads the stream's top, and its epoch into epoch. */
static uint64_t top_of(silk__gw_streams *s, const char *route, const char *business,
                       const silk__stream_limits *l, char *epoch)
{
    silk__stream_range r;
    assert_int_equal(silk__gw_streams_range(s, route, business, l, 0, 0, &r), SILK_OK);
    memcpy(epoch, r.epoch, sizeof r.epoch);
    uint64_t top = r.top;
    silk__stream_range_fini(&r);
    return top;
}

/* The message of offset i: binary every third one, with a NUL inside. */
static size_t message(uint64_t i, char *buf, size_t cap, bool *binary)
{
    int n = snprintf(buf, cap, "m%llu", (unsigned long long)i);
    *binary = i % 3 == 0;
    if (*binary)
        buf[n++] = '\0';
    return (size_t)n;
}

static void test_offsets_and_ranges(void **state)
{
    (void)state;
    silk__gw_streams *s = store();
    char epoch[SILK__STREAM_EPOCH_MAX + 1], first_epoch[SILK__STREAM_EPOCH_MAX + 1];
    for (uint64_t i = 1; i <= 20; i++) {
        char buf[32];
        bool bin;
        size_t n = message(i, buf, sizeof buf, &bin);
        uint64_t off = 0;
        bool dup = true;
        assert_int_equal(
            silk__gw_streams_append(s, "api/ws", "b1", &lim, buf, n, bin, NULL, epoch, &off, &dup),
            SILK_OK);
        assert_int_equal(off, i);
        assert_false(dup);
        if (i == 1)
            memcpy(first_epoch, epoch, sizeof epoch);
        assert_string_equal(epoch, first_epoch);
    }
    assert_int_equal(strlen(first_epoch), 16);

    silk__stream_range r;
    assert_int_equal(silk__gw_streams_range(s, "api/ws", "b1", &lim, 7, 100, &r), SILK_OK);
    assert_string_equal(r.epoch, first_epoch);
    assert_int_equal(r.top, 20);
    assert_int_equal(r.first, 1);
    assert_int_equal(r.n, 13);
    for (size_t k = 0; k < r.n; k++) {
        char buf[32];
        bool bin;
        size_t n = message(8 + k, buf, sizeof buf, &bin);
        assert_int_equal(r.entries[k].offset, 8 + k);
        assert_int_equal(r.entries[k].len, n);
        assert_memory_equal(r.entries[k].data, buf, n);
        assert_int_equal(r.entries[k].binary, bin);
    }
    silk__stream_range_fini(&r);

    assert_int_equal(silk__gw_streams_range(s, "api/ws", "b1", &lim, 0, 5, &r), SILK_OK);
    assert_int_equal(r.n, 5);
    assert_int_equal(r.entries[0].offset, 1);
    assert_int_equal(r.entries[4].offset, 5);
    silk__stream_range_fini(&r);
    const uint64_t nothing_after[] = {20, 25, UINT64_MAX};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(silk__gw_streams_range(s, "api/ws", "b1", &lim, nothing_after[i], 10, &r),
                         SILK_OK);
        assert_int_equal(r.n, 0);
        assert_null(r.entries);
        assert_int_equal(r.top, 20);
        silk__stream_range_fini(&r);
    }
    assert_int_equal(silk__gw_streams_range(s, "api/ws", "b1", &lim, 3, 0, &r), SILK_OK);
    assert_int_equal(r.n, 0);
    assert_int_equal(r.first, 1);
    silk__stream_range_fini(&r);

    uint64_t off;
    bool dup;
    assert_int_equal(
        silk__gw_streams_append(s, "api/ws", "b1", &lim, NULL, 0, true, NULL, epoch, &off, &dup),
        SILK_OK);
    assert_int_equal(off, 21);
    assert_int_equal(silk__gw_streams_range(s, "api/ws", "b1", &lim, 20, 10, &r), SILK_OK);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.entries[0].len, 0);
    assert_true(r.entries[0].binary);
    silk__stream_range_fini(&r);

    /* A new stream read first: a new epoch, top 0, that the first append keeps. */
    assert_int_equal(silk__gw_streams_range(s, "api/ws", "new", &lim, 0, 10, &r), SILK_OK);
    assert_int_equal(r.top, 0);
    assert_int_equal(r.first, 1);
    assert_string_not_equal(r.epoch, first_epoch);
    assert_int_equal(append(s, "api/ws", "new", &lim, epoch), 1);
    assert_string_equal(epoch, r.epoch);
    silk__stream_range_fini(&r);
    silk__gw_streams_free(s);
}

static void test_trimming_shows_the_gap(void **state)
{
    (void)state;
    silk__gw_streams *s = store();
    char epoch[SILK__STREAM_EPOCH_MAX + 1];
    for (uint64_t i = 1; i <= 150; i++) {
        char buf[32];
        bool bin;
        size_t n = message(i, buf, sizeof buf, &bin);
        uint64_t off;
        bool dup;
        assert_int_equal(silk__gw_streams_append(s, "api/ws", "trim", &lim, buf, n, bin, NULL,
                                                 epoch, &off, &dup),
                         SILK_OK);
        assert_int_equal(off, i);
    }
    silk__stream_range r;
    assert_int_equal(silk__gw_streams_range(s, "api/ws", "trim", &lim, 10, 1000, &r), SILK_OK);
    assert_int_equal(r.top, 150);
    assert_int_equal(r.first, 51);
    assert_true(r.first > 10 + 1);
    assert_int_equal(r.n, 100);
    for (size_t k = 0; k < r.n; k++) {
        char buf[32];
        bool bin;
        size_t n = message(51 + k, buf, sizeof buf, &bin);
        assert_int_equal(r.entries[k].offset, 51 + k);
        assert_memory_equal(r.entries[k].data, buf, n);
    }
    silk__stream_range_fini(&r);

    /* A smaller size from now on trims the ring to it. */
    const silk__stream_limits small = {.size = 10, .ttl_s = 60};
    assert_int_equal(append(s, "api/ws", "trim", &small, epoch), 151);
    assert_int_equal(silk__gw_streams_range(s, "api/ws", "trim", &small, 0, 1000, &r), SILK_OK);
    assert_int_equal(r.first, 142);
    assert_int_equal(r.n, 10);
    assert_int_equal(r.entries[9].offset, 151);
    silk__stream_range_fini(&r);

    /* size 1 keeps the last one. */
    const silk__stream_limits one = {.size = 1, .ttl_s = 60};
    for (int i = 1; i <= 5; i++)
        assert_int_equal(append(s, "api/ws", "one", &one, epoch), i);
    assert_int_equal(silk__gw_streams_range(s, "api/ws", "one", &one, 0, 10, &r), SILK_OK);
    assert_int_equal(r.first, 5);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.entries[0].offset, 5);
    silk__stream_range_fini(&r);
    silk__gw_streams_free(s);
}

static void test_ttl_expiry(void **state)
{
    (void)state;
    silk__gw_streams *s = store();
    const silk__stream_limits brief = {.size = 10, .ttl_s = 5};
    char old[SILK__STREAM_EPOCH_MAX + 1], epoch[SILK__STREAM_EPOCH_MAX + 1];
    for (int i = 1; i <= 3; i++)
        assert_int_equal(append(s, "api/ws", "ttl", &brief, old), i);

    /* Each append restarts the ttl. */
    fake_now = 1004;
    assert_int_equal(append(s, "api/ws", "ttl", &brief, epoch), 4);
    silk__gw_streams_sweep(s, 1008.9);
    fake_now = 1008.9;
    assert_int_equal(top_of(s, "api/ws", "ttl", &brief, epoch), 4);
    assert_string_equal(epoch, old);

    /* The sweep forgets it: checked with the clock still before its expiry, so that only the
     * sweep can have. */
    silk__gw_streams_sweep(s, 1009.1);
    assert_int_equal(top_of(s, "api/ws", "ttl", &brief, epoch), 0);
    assert_string_not_equal(epoch, old);

    /* Without a sweep, an expired stream is not seen either. */
    char read_epoch[SILK__STREAM_EPOCH_MAX + 1];
    memcpy(read_epoch, epoch, sizeof epoch);
    fake_now = 1020; /* the read-only stream made above lived until 1013.9 */
    assert_int_equal(append(s, "api/ws", "ttl", &brief, epoch), 1);
    assert_string_not_equal(epoch, read_epoch);
    memcpy(old, epoch, sizeof epoch);
    fake_now = 1025;
    assert_int_equal(top_of(s, "api/ws", "ttl", &brief, epoch), 0);
    assert_string_not_equal(epoch, old);

    /* Many streams of many ttls: a sweep frees exactly those expired. */
    fake_now = 2000;
    for (int i = 0; i < 500; i++) {
        char b[16];
        snprintf(b, sizeof b, "many-%d", i);
        const silk__stream_limits l = {.size = 4, .ttl_s = (uint32_t)(1 + (i * 7919) % 50)};
        assert_int_equal(append(s, "api/ws", b, &l, epoch), 1);
    }
    silk__gw_streams_sweep(s, 2025.5);
    for (int i = 0; i < 500; i++) {
        char b[16];
        snprintf(b, sizeof b, "many-%d", i);
        const silk__stream_limits l = {.size = 4, .ttl_s = (uint32_t)(1 + (i * 7919) % 50)};
        assert_int_equal(top_of(s, "api/ws", b, &l, epoch), l.ttl_s <= 25 ? 0 : 1);
    }
    silk__gw_streams_free(s);
}

static void test_idempotency_key(void **state)
{
    (void)state;
    silk__gw_streams *s = store();
    const silk__stream_limits l = {.size = 100, .ttl_s = 10};
    char epoch[SILK__STREAM_EPOCH_MAX + 1], again[SILK__STREAM_EPOCH_MAX + 1];
    assert_int_equal(append(s, "api/ws", "idem", &l, epoch), 1);
    for (int i = 0; i < 3; i++) {
        uint64_t off = 0;
        bool dup = i == 0;
        assert_int_equal(silk__gw_streams_append(s, "api/ws", "idem", &l, "once", 4, false,
                                                 "req-42", again, &off, &dup),
                         SILK_OK);
        assert_int_equal(off, 2);
        assert_int_equal(dup, i > 0);
        assert_string_equal(again, epoch);
    }
    assert_int_equal(top_of(s, "api/ws", "idem", &l, again), 2);

    uint64_t off;
    bool dup;
    assert_int_equal(silk__gw_streams_append(s, "api/ws", "idem", &l, "b", 1, false, "req-43",
                                             again, &off, &dup),
                     SILK_OK);
    assert_int_equal(off, 3);
    assert_false(dup);
    assert_int_equal(silk__gw_streams_append(s, "api/ws", "idem-2", &l, "c", 1, false, "req-42",
                                             again, &off, &dup),
                     SILK_OK);
    assert_int_equal(off, 1);
    assert_false(dup);

    /* The key expires ttl_s after its append, though the stream lives on. */
    fake_now = 1008;
    assert_int_equal(append(s, "api/ws", "idem", &l, epoch), 4);
    silk__gw_streams_sweep(s, 1010.5);
    fake_now = 1010.5;
    assert_int_equal(silk__gw_streams_append(s, "api/ws", "idem", &l, "once", 4, false, "req-42",
                                             again, &off, &dup),
                     SILK_OK);
    assert_int_equal(off, 5);
    assert_false(dup);
    assert_string_equal(again, epoch);
    silk__gw_streams_free(s);
}

static void test_streams_are_apart(void **state)
{
    (void)state;
    silk__gw_streams *s = store();
    char e1[SILK__STREAM_EPOCH_MAX + 1], e2[SILK__STREAM_EPOCH_MAX + 1];
    assert_int_equal(append(s, "api/ws", "apart-1", &lim, e1), 1);
    assert_int_equal(append(s, "api/ws", "apart-1", &lim, e1), 2);
    assert_int_equal(append(s, "api/ws", "apart-2", &lim, e2), 1);
    assert_string_not_equal(e1, e2);
    assert_int_equal(append(s, "api/other", "apart-1", &lim, e2), 1);
    assert_int_equal(append(s, "ab", "c", &lim, e1), 1);
    assert_int_equal(append(s, "a", "bc", &lim, e1), 1);
    assert_int_equal(append(s, "a/b", "c", &lim, e1), 1);
    assert_int_equal(append(s, "a", "b/c", &lim, e1), 1);
    assert_int_equal(append(s, "ab", "c", &lim, e1), 2);
    /* Many streams: the table grows. */
    for (int i = 0; i < 2000; i++) {
        char b[16];
        snprintf(b, sizeof b, "grow-%d", i);
        assert_int_equal(append(s, "api/ws", b, &lim, e1), 1);
    }
    for (int i = 0; i < 2000; i += 97) {
        char b[16];
        snprintf(b, sizeof b, "grow-%d", i);
        assert_int_equal(append(s, "api/ws", b, &lim, e1), 2);
    }
    silk__gw_streams_free(s);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    silk__gw_streams *s = store();
    char long_name[300];
    memset(long_name, 'a', 256);
    long_name[256] = '\0';
    const silk__stream_limits no_size = {.size = 0, .ttl_s = 10}, no_ttl = {.size = 10, .ttl_s = 0};
    struct {
        const char *route, *business, *idem;
        const silk__stream_limits *lim;
    } bad[] = {
        {"", "b", NULL, &lim},     {NULL, "b", NULL, &lim},      {"r", "", NULL, &lim},
        {"r", NULL, NULL, &lim},   {long_name, "b", NULL, &lim}, {"r", long_name, NULL, &lim},
        {"r", "b", "", &lim},      {"r", "b", long_name, &lim},  {"r", "b", NULL, &no_size},
        {"r", "b", NULL, &no_ttl}, {"r", "b", NULL, NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char epoch[SILK__STREAM_EPOCH_MAX + 1] = "junk";
        uint64_t off = 9;
        bool dup = true;
        assert_int_equal(silk__gw_streams_append(s, bad[i].route, bad[i].business, bad[i].lim, "x",
                                                 1, false, bad[i].idem, epoch, &off, &dup),
                         SILK_INVALID_ARGUMENT);
        assert_string_equal(epoch, "");
        assert_int_equal(off, 0);
        assert_false(dup);
        if (bad[i].idem != NULL)
            continue;
        silk__stream_range r;
        assert_int_equal(
            silk__gw_streams_range(s, bad[i].route, bad[i].business, bad[i].lim, 0, 10, &r),
            SILK_INVALID_ARGUMENT);
        assert_int_equal(r.n, 0);
        assert_null(r.entries);
    }
    char epoch[SILK__STREAM_EPOCH_MAX + 1];
    uint64_t off;
    bool dup;
    assert_int_equal(
        silk__gw_streams_append(s, "r", "b", &lim, NULL, 3, false, NULL, epoch, &off, &dup),
        SILK_INVALID_ARGUMENT);
    long_name[255] = '\0'; /* 255 bytes: fine */
    assert_int_equal(silk__gw_streams_append(s, long_name, long_name, &lim, "x", 1, false,
                                             long_name, epoch, &off, &dup),
                     SILK_OK);
    assert_int_equal(off, 1);
    silk__gw_streams_free(s);
}

/* ============================================================================
 * Four threads appending to one stream, a fifth reading and sweeping
 * ========================================================================== */

#define THREADS    4
#define PER_THREAD 2500
#define TOTAL      (THREADS * PER_THREAD)

typedef struct worker {
    silk__gw_streams *s;
    uint64_t offsets[PER_THREAD];
    char epoch[SILK__STREAM_EPOCH_MAX + 1];
    bool failed;
} worker;

static void *appender(void *arg)
{
    worker *w = arg;
    const silk__stream_limits l = {.size = TOTAL, .ttl_s = 60};
    for (int i = 0; i < PER_THREAD; i++) {
        char key[32], msg[32];
        bool dup;
        snprintf(key, sizeof key, "k-%p-%d", (void *)w, i);
        int n = snprintf(msg, sizeof msg, "%p-%d", (void *)w, i);
        /* Every 10th with an idempotency key, sent twice. */
        for (int t = 0; t < (i % 10 == 0 ? 2 : 1); t++) {
            uint64_t off;
            if (silk__gw_streams_append(w->s, "api/ws", "hot", &l, msg, (size_t)n, false,
                                        i % 10 == 0 ? key : NULL, w->epoch, &off,
                                        &dup) != SILK_OK ||
                dup != (t == 1) || (t == 1 && off != w->offsets[i]))
                w->failed = true;
            w->offsets[i] = off;
        }
    }
    return NULL;
}

static atomic_bool readers_stop;

static void *reader(void *arg)
{
    silk__gw_streams *s = arg;
    const silk__stream_limits l = {.size = TOTAL, .ttl_s = 60};
    while (!atomic_load(&readers_stop)) {
        silk__stream_range r;
        if (silk__gw_streams_range(s, "api/ws", "hot", &l, 0, 50, &r) == SILK_OK)
            silk__stream_range_fini(&r);
        silk__gw_streams_sweep(s, fake_now);
    }
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_concurrent_appends(void **state)
{
    (void)state;
    silk__gw_streams *s = store();
    static worker w[THREADS];
    pthread_t t[THREADS], rt;
    atomic_store(&readers_stop, false);
    assert_int_equal(pthread_create(&rt, NULL, reader, s), 0);
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){.s = s};
        assert_int_equal(pthread_create(&t[i], NULL, appender, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    atomic_store(&readers_stop, true);
    pthread_join(rt, NULL);

    static uint64_t all[TOTAL];
    for (int i = 0; i < THREADS; i++) {
        assert_false(w[i].failed);
        assert_string_equal(w[i].epoch, w[0].epoch);
        memcpy(all + (size_t)i * PER_THREAD, w[i].offsets, sizeof w[i].offsets);
    }
    qsort(all, TOTAL, sizeof all[0], cmp_u64);
    for (size_t i = 0; i < TOTAL; i++)
        assert_int_equal(all[i], i + 1); /* unique and dense */

    const silk__stream_limits l = {.size = TOTAL, .ttl_s = 60};
    silk__stream_range r;
    assert_int_equal(silk__gw_streams_range(s, "api/ws", "hot", &l, 0, TOTAL, &r), SILK_OK);
    assert_int_equal(r.top, TOTAL);
    assert_int_equal(r.n, TOTAL);
    silk__stream_range_fini(&r);
    silk__gw_streams_free(s);
}

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_offsets_and_ranges),
        cmocka_unit_test(test_trimming_shows_the_gap),
        cmocka_unit_test(test_ttl_expiry),
        cmocka_unit_test(test_idempotency_key),
        cmocka_unit_test(test_streams_are_apart),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_concurrent_appends),
    };
    /* clang-format on */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
