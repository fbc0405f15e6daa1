/* stream_redis_test.c - the streams in the Redis registry (registry/stream.h), against a real
 * redis-server this test starts on a free loopback port with persistence off, and always kills:
 * offsets in order, ranges with their bytes, trimming and gaps, ttl expiry and new epochs,
 * idempotency keys, streams kept apart, appends from many threads at once (sent in batches),
 * Redis's script cache emptied, Redis down and restarted, bad arguments, a key of another type,
 * the file backend's UNIMPLEMENTED, and a timing of 1,000 appends. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include <silk/registry.h>

#include "core/clock.h"
#include "registry/stream.h"

#include "redis_fixture.h"

static const silk__stream_limits lim = {.size = 100, .ttl_s = 60};

/* append appends a text message and returns its offset, checking it was no duplicate. */
static uint64_t append(silk_registry *reg, const char *route, const char *business,
                       const silk__stream_limits *l, const char *text, char *epoch)
{
    uint64_t off = 0;
    bool dup = true;
    assert_int_equal(silk__stream_append(reg, route, business, l, text, strlen(text), false, NULL,
                                         epoch, &off, &dup),
                     SILK_OK);
    assert_false(dup);
    return off;
}

/* The message of offset i: binary every third one, with a NUL inside. */
static size_t message(uint64_t i, char *buf, size_t cap, bool *binary)
{
    int n = snprintf(buf, cap, "m%llu", (unsigned long long)i);
    *binary = i % 3 == 0;
    if (*binary)
        buf[n++] = '\0'; /* one more byte, and a NUL in it */
    return (size_t)n;
}

static void test_offsets_and_ranges(void **state)
{
    (void)state;
    silk_registry *reg = open_reg();
    char epoch[SILK__STREAM_EPOCH_MAX + 1], first_epoch[SILK__STREAM_EPOCH_MAX + 1];
    for (uint64_t i = 1; i <= 20; i++) {
        char buf[32];
        bool bin;
        size_t n = message(i, buf, sizeof buf, &bin);
        uint64_t off = 0;
        bool dup = true;
        assert_int_equal(
            silk__stream_append(reg, "api/ws", "b1", &lim, buf, n, bin, NULL, epoch, &off, &dup),
            SILK_OK);
        assert_int_equal(off, i);
        assert_false(dup);
        if (i == 1)
            memcpy(first_epoch, epoch, sizeof epoch);
        assert_string_equal(epoch, first_epoch);
    }
    assert_int_equal(strlen(first_epoch), 16);

    silk__stream_range r;
    assert_int_equal(silk__stream_read(reg, "api/ws", "b1", &lim, 7, 100, &r), SILK_OK);
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
    assert_null(r.entries);

    /* At most max; none with max 0 (just the meta); none past the top. */
    assert_int_equal(silk__stream_read(reg, "api/ws", "b1", &lim, 0, 5, &r), SILK_OK);
    assert_int_equal(r.n, 5);
    assert_int_equal(r.entries[0].offset, 1);
    assert_int_equal(r.entries[4].offset, 5);
    silk__stream_range_fini(&r);
    const uint64_t nothing_after[] = {20, 25, UINT64_MAX};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(silk__stream_read(reg, "api/ws", "b1", &lim, nothing_after[i], 10, &r),
                         SILK_OK);
        assert_int_equal(r.n, 0);
        assert_int_equal(r.top, 20);
        silk__stream_range_fini(&r);
    }
    assert_int_equal(silk__stream_read(reg, "api/ws", "b1", &lim, 3, 0, &r), SILK_OK);
    assert_int_equal(r.n, 0);
    assert_int_equal(r.top, 20);
    assert_int_equal(r.first, 1);
    assert_string_equal(r.epoch, first_epoch);
    silk__stream_range_fini(&r);

    /* An empty message is one too. */
    uint64_t off;
    bool dup;
    assert_int_equal(
        silk__stream_append(reg, "api/ws", "b1", &lim, NULL, 0, true, NULL, epoch, &off, &dup),
        SILK_OK);
    assert_int_equal(off, 21);
    assert_int_equal(silk__stream_read(reg, "api/ws", "b1", &lim, 20, 10, &r), SILK_OK);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.entries[0].len, 0);
    assert_true(r.entries[0].binary);
    silk__stream_range_fini(&r);
    silk_registry_close(reg);
}

static void test_trimming_shows_the_gap(void **state)
{
    (void)state;
    silk_registry *reg = open_reg();
    char epoch[SILK__STREAM_EPOCH_MAX + 1];
    for (int i = 1; i <= 150; i++)
        assert_int_equal(append(reg, "api/ws", "trim", &lim, "x", epoch), i);
    assert_int_equal(raw("XLEN %s%s", "silk/stream/api%2Fws/trim", ""), 100);

    silk__stream_range r;
    assert_int_equal(silk__stream_read(reg, "api/ws", "trim", &lim, 10, 1000, &r), SILK_OK);
    assert_int_equal(r.top, 150);
    assert_int_equal(r.first, 51);
    assert_true(r.first > 10 + 1); /* the caller sees that 11..50 are lost */
    assert_int_equal(r.n, 100);
    assert_int_equal(r.entries[0].offset, 51);
    assert_int_equal(r.entries[99].offset, 150);
    silk__stream_range_fini(&r);

    /* first is what is really kept, whoever trimmed. */
    assert_int_equal(raw("XTRIM %s MAXLEN %s", "silk/stream/api%2Fws/trim", "10"), 90);
    assert_int_equal(silk__stream_read(reg, "api/ws", "trim", &lim, 0, 1000, &r), SILK_OK);
    assert_int_equal(r.first, 141);
    assert_int_equal(r.n, 10);
    assert_int_equal(r.entries[0].offset, 141);
    silk__stream_range_fini(&r);
    silk_registry_close(reg);
}

static void test_ttl_makes_a_new_epoch(void **state)
{
    (void)state;
    silk_registry *reg = open_reg();
    const silk__stream_limits brief = {.size = 10, .ttl_s = 1};
    char old[SILK__STREAM_EPOCH_MAX + 1], epoch[SILK__STREAM_EPOCH_MAX + 1];
    for (int i = 1; i <= 3; i++)
        assert_int_equal(append(reg, "api/ws", "ttl", &brief, "x", old), i);
    assert_true(raw("TTL %s%s", "silk/stream/api%2Fws/ttl", "") > 0);
    assert_true(raw("TTL %s%s", "silk/stream-meta/api%2Fws/ttl", "") > 0);
    sleep_ms(2200);

    silk__stream_range r;
    assert_int_equal(silk__stream_read(reg, "api/ws", "ttl", &brief, 0, 10, &r), SILK_OK);
    assert_string_not_equal(r.epoch, old);
    assert_int_equal(r.top, 0);
    assert_int_equal(r.first, 1);
    assert_int_equal(r.n, 0);
    memcpy(epoch, r.epoch, sizeof epoch);
    silk__stream_range_fini(&r);
    /* The welcome's epoch is stable: read again, then appended to. */
    assert_true(raw("TTL %s%s", "silk/stream-meta/api%2Fws/ttl", "") > 0);
    assert_int_equal(silk__stream_read(reg, "api/ws", "ttl", &brief, 0, 10, &r), SILK_OK);
    assert_string_equal(r.epoch, epoch);
    silk__stream_range_fini(&r);
    char now[SILK__STREAM_EPOCH_MAX + 1];
    assert_int_equal(append(reg, "api/ws", "ttl", &brief, "y", now), 1);
    assert_string_equal(now, epoch);

    /* A stream only read expires too. */
    assert_int_equal(silk__stream_read(reg, "api/ws", "only-read", &brief, 0, 0, &r), SILK_OK);
    memcpy(old, r.epoch, sizeof old);
    silk__stream_range_fini(&r);
    sleep_ms(2200);
    assert_int_equal(silk__stream_read(reg, "api/ws", "only-read", &brief, 0, 0, &r), SILK_OK);
    assert_string_not_equal(r.epoch, old);
    silk__stream_range_fini(&r);
    silk_registry_close(reg);
}

static void test_idempotency_key(void **state)
{
    (void)state;
    silk_registry *reg = open_reg();
    char epoch[SILK__STREAM_EPOCH_MAX + 1], again[SILK__STREAM_EPOCH_MAX + 1];
    assert_int_equal(append(reg, "api/ws", "idem", &lim, "before", epoch), 1);
    for (int i = 0; i < 3; i++) {
        uint64_t off = 0;
        bool dup = i == 0;
        assert_int_equal(silk__stream_append(reg, "api/ws", "idem", &lim, "once", 4, false,
                                             "req-42", again, &off, &dup),
                         SILK_OK);
        assert_int_equal(off, 2);
        assert_int_equal(dup, i > 0);
        assert_string_equal(again, epoch);
    }
    silk__stream_range r;
    assert_int_equal(silk__stream_read(reg, "api/ws", "idem", &lim, 0, 10, &r), SILK_OK);
    assert_int_equal(r.top, 2);
    assert_int_equal(r.n, 2);
    silk__stream_range_fini(&r);
    assert_true(raw("TTL %s%s", "silk/stream-idem/api%2Fws/idem/req-42", "") > 0);

    /* Another key appends; the same key on another stream is another key. */
    uint64_t off;
    bool dup;
    assert_int_equal(silk__stream_append(reg, "api/ws", "idem", &lim, "b", 1, false, "req-43",
                                         again, &off, &dup),
                     SILK_OK);
    assert_int_equal(off, 3);
    assert_false(dup);
    assert_int_equal(silk__stream_append(reg, "api/ws", "idem-2", &lim, "c", 1, false, "req-42",
                                         again, &off, &dup),
                     SILK_OK);
    assert_int_equal(off, 1);
    assert_false(dup);
    silk_registry_close(reg);
}

static void test_streams_are_apart(void **state)
{
    (void)state;
    silk_registry *reg = open_reg();
    char e1[SILK__STREAM_EPOCH_MAX + 1], e2[SILK__STREAM_EPOCH_MAX + 1];
    assert_int_equal(append(reg, "api/ws", "apart-1", &lim, "x", e1), 1);
    assert_int_equal(append(reg, "api/ws", "apart-1", &lim, "x", e1), 2);
    assert_int_equal(append(reg, "api/ws", "apart-2", &lim, "x", e2), 1);
    assert_string_not_equal(e1, e2);
    assert_int_equal(append(reg, "api/other", "apart-1", &lim, "x", e2), 1);
    /* The names are escaped: "a/b" + "c" is not "a" + "b/c", any byte but NUL may come. */
    assert_int_equal(append(reg, "a/b", "c", &lim, "x", e1), 1);
    assert_int_equal(append(reg, "a", "b/c", &lim, "x", e1), 1);
    assert_int_equal(append(reg, "a%2Fb", "c", &lim, "x", e1), 1);
    assert_int_equal(append(reg, "a/b", "c", &lim, "x", e1), 2);
    assert_int_equal(append(reg, "r \x01\xff\n", "{b} \"*\"", &lim, "x", e1), 1);
    assert_int_equal(raw("EXISTS %s%s", "silk/stream/a%2Fb/c", ""), 1);
    assert_int_equal(raw("EXISTS %s%s", "silk/stream/a/b%2Fc", ""), 1);
    assert_int_equal(raw("EXISTS %s%s", "silk/stream/a%252Fb/c", ""), 1);
    assert_int_equal(raw("EXISTS %s%s", "silk/stream-meta/r%20%01%FF%0A/{b}%20\"*\"", ""), 1);
    silk_registry_close(reg);
}

/* One thread's appends in test_concurrent_appends: the offset each got. */
#define THREADS    8
#define PER_THREAD 150
typedef struct appender {
    silk_registry *reg;
    int id;
    uint64_t offsets[PER_THREAD];
    char epoch[SILK__STREAM_EPOCH_MAX + 1];
    silk_status st;
} appender;

static const silk__stream_limits wide = {.size = THREADS * PER_THREAD, .ttl_s = 60};

/* append_many appends "t<id>-<j>" PER_THREAD times, one after the other, to api/ws "many",
 * and every other one also to a business of its own thread. */
static void *append_many(void *arg)
{
    appender *ap = arg;
    char text[32], own[32], epoch[SILK__STREAM_EPOCH_MAX + 1];
    snprintf(own, sizeof own, "own-%d", ap->id);
    ap->st = SILK_OK;
    for (int j = 0; j < PER_THREAD && ap->st == SILK_OK; j++) {
        int n = snprintf(text, sizeof text, "t%d-%d", ap->id, j);
        bool dup;
        ap->st = silk__stream_append(ap->reg, "api/ws", "many", &wide, text, (size_t)n, false, NULL,
                                     ap->epoch, &ap->offsets[j], &dup);
        uint64_t off = 0;
        if (ap->st == SILK_OK && j % 2 == 0)
            ap->st = silk__stream_append(ap->reg, "api/ws", own, &wide, text, (size_t)n, false,
                                         NULL, epoch, &off, &dup);
        if (ap->st == SILK_OK && j % 2 == 0 && off != (uint64_t)j / 2 + 1)
            ap->st = SILK_INTERNAL;
    }
    return NULL;
}

/* Many threads appending at once (their appends go to Redis in batches): every append gets an
 * offset of its own, the offsets run 1..N without a gap, each thread's increase, and the
 * entry at each offset is the one appended there. */
static void test_concurrent_appends(void **state)
{
    (void)state;
    silk_registry *reg = open_reg();
    static appender aps[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        aps[i] = (appender){.reg = reg, .id = i};
        assert_int_equal(pthread_create(&t[i], NULL, append_many, &aps[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    static int who[THREADS * PER_THREAD + 1], which[THREADS * PER_THREAD + 1];
    memset(who, -1, sizeof who);
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(aps[i].st, SILK_OK);
        assert_string_equal(aps[i].epoch, aps[0].epoch);
        for (int j = 0; j < PER_THREAD; j++) {
            uint64_t off = aps[i].offsets[j];
            assert_true(off >= 1 && off <= THREADS * PER_THREAD);
            assert_int_equal(who[off], -1); /* no offset twice */
            assert_true(j == 0 || off > aps[i].offsets[j - 1]);
            who[off] = i;
            which[off] = j;
        }
    }
    silk__stream_range r;
    assert_int_equal(silk__stream_read(reg, "api/ws", "many", &wide, 0, 10000, &r), SILK_OK);
    assert_int_equal(r.top, THREADS * PER_THREAD);
    assert_int_equal(r.n, THREADS * PER_THREAD);
    for (size_t k = 0; k < r.n; k++) {
        char want[32];
        uint64_t off = r.entries[k].offset;
        assert_int_equal(off, k + 1);
        int n = snprintf(want, sizeof want, "t%d-%d", who[off], which[off]);
        assert_int_equal(r.entries[k].len, n);
        assert_memory_equal(r.entries[k].data, want, (size_t)n);
    }
    silk__stream_range_fini(&r);
    silk_registry_close(reg);
}

/* Redis's script cache emptied (SCRIPT FLUSH, as a restart with the connection kept would):
 * appends and reads go on, the script loaded again. */
static void test_script_cache_flushed(void **state)
{
    (void)state;
    silk_registry *reg = open_reg();
    char epoch[SILK__STREAM_EPOCH_MAX + 1], again[SILK__STREAM_EPOCH_MAX + 1];
    assert_int_equal(append(reg, "api/ws", "flushed", &lim, "a", epoch), 1);
    silk__stream_range r;
    assert_int_equal(silk__stream_read(reg, "api/ws", "flushed", &lim, 0, 10, &r), SILK_OK);
    silk__stream_range_fini(&r);
    raw("SCRIPT FLUSH%s%s", "", "");
    assert_int_equal(append(reg, "api/ws", "flushed", &lim, "b", again), 2);
    assert_string_equal(again, epoch);
    raw("SCRIPT FLUSH%s%s", "", "");
    assert_int_equal(silk__stream_read(reg, "api/ws", "flushed", &lim, 0, 10, &r), SILK_OK);
    assert_int_equal(r.n, 2);
    assert_memory_equal(r.entries[1].data, "b", 1);
    silk__stream_range_fini(&r);
    assert_int_equal(append(reg, "api/ws", "flushed", &lim, "c", again), 3);
    silk_registry_close(reg);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    silk_registry *reg = open_reg();
    char long_name[300], max_name[SILK__STREAM_NAME_MAX + 1];
    memset(long_name, 'a', 256);
    long_name[256] = '\0';
    memset(max_name, 'm', SILK__STREAM_NAME_MAX);
    max_name[SILK__STREAM_NAME_MAX] = '\0';
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
        assert_int_equal(silk__stream_append(reg, bad[i].route, bad[i].business, bad[i].lim, "x", 1,
                                             false, bad[i].idem, epoch, &off, &dup),
                         SILK_INVALID_ARGUMENT);
        assert_string_equal(epoch, "");
        assert_int_equal(off, 0);
        assert_false(dup);
        if (bad[i].idem != NULL)
            continue; /* valid for a range */
        silk__stream_range r;
        assert_int_equal(
            silk__stream_read(reg, bad[i].route, bad[i].business, bad[i].lim, 0, 10, &r),
            SILK_INVALID_ARGUMENT);
        assert_int_equal(r.n, 0);
        assert_null(r.entries);
    }
    char epoch[SILK__STREAM_EPOCH_MAX + 1];
    uint64_t off;
    bool dup;
    assert_int_equal(
        silk__stream_append(reg, "r", "b", &lim, NULL, 3, false, NULL, epoch, &off, &dup),
        SILK_INVALID_ARGUMENT);
    /* 255 bytes each is fine, escaped to the longest key. */
    char all[SILK__STREAM_NAME_MAX + 1];
    for (size_t i = 0; i < SILK__STREAM_NAME_MAX; i++)
        all[i] = (char)(1 + i % 255);
    all[SILK__STREAM_NAME_MAX] = '\0';
    assert_int_equal(
        silk__stream_append(reg, all, all, &lim, "x", 1, false, all, epoch, &off, &dup), SILK_OK);
    assert_int_equal(off, 1);
    assert_int_equal(append(reg, max_name, max_name, &lim, "x", epoch), 1);
    silk_registry_close(reg);

    /* The file backend keeps no streams. */
    char dir[] = "/tmp/silk-stream-test-XXXXXX", file_url[64];
    assert_non_null(mkdtemp(dir));
    snprintf(file_url, sizeof file_url, "file:%s", dir);
    silk_registry *file = NULL;
    assert_int_equal(silk_registry_open(&file, file_url), SILK_OK);
    assert_int_equal(
        silk__stream_append(file, "r", "b", &lim, "x", 1, false, NULL, epoch, &off, &dup),
        SILK_UNIMPLEMENTED);
    silk__stream_range r;
    assert_int_equal(silk__stream_read(file, "r", "b", &lim, 0, 10, &r), SILK_UNIMPLEMENTED);
    silk_registry_close(file);
    rmdir(dir);
}

/* A key of another type in a stream's place: INTERNAL, nothing written. */
static void test_key_of_another_type(void **state)
{
    (void)state;
    silk_registry *reg = open_reg();
    assert_int_equal(raw("SET %s %s", "silk/stream-meta/api%2Fws/typed", "x"), -1);
    char epoch[SILK__STREAM_EPOCH_MAX + 1];
    uint64_t off;
    bool dup;
    assert_int_equal(
        silk__stream_append(reg, "api/ws", "typed", &lim, "x", 1, false, NULL, epoch, &off, &dup),
        SILK_INTERNAL);
    silk__stream_range r;
    assert_int_equal(silk__stream_read(reg, "api/ws", "typed", &lim, 0, 10, &r), SILK_INTERNAL);
    assert_int_equal(raw("EXISTS %s%s", "silk/stream/api%2Fws/typed", ""), 0);
    silk_registry_close(reg);
}

/* Redis down: UNAVAILABLE, outputs empty; restarted empty: OK again, with a new epoch. */
static void test_redis_down_then_restarted(void **state)
{
    (void)state;
    silk_registry *reg = open_reg();
    char old[SILK__STREAM_EPOCH_MAX + 1], epoch[SILK__STREAM_EPOCH_MAX + 1] = "junk";
    assert_int_equal(append(reg, "api/ws", "down", &lim, "x", old), 1);
    assert_int_equal(append(reg, "api/ws", "down", &lim, "x", old), 2);

    kill_redis();
    uint64_t off = 7;
    bool dup = true;
    assert_int_equal(
        silk__stream_append(reg, "api/ws", "down", &lim, "x", 1, false, NULL, epoch, &off, &dup),
        SILK_UNAVAILABLE);
    assert_string_equal(epoch, "");
    assert_int_equal(off, 0);
    silk__stream_range r;
    assert_int_equal(silk__stream_read(reg, "api/ws", "down", &lim, 0, 10, &r), SILK_UNAVAILABLE);
    assert_int_equal(r.n, 0);
    assert_null(r.entries);

    assert_int_equal(start_redis(), 0); /* empty: persistence is off */
    silk_status st = SILK_UNAVAILABLE;
    for (int i = 0; i < 40 && st != SILK_OK; i++) {
        sleep_ms(100); /* past the reconnection back-off */
        st = silk__stream_read(reg, "api/ws", "down", &lim, 0, 10, &r);
    }
    assert_int_equal(st, SILK_OK);
    assert_string_not_equal(r.epoch, old);
    assert_int_equal(r.top, 0);
    memcpy(epoch, r.epoch, sizeof epoch);
    silk__stream_range_fini(&r);
    char now[SILK__STREAM_EPOCH_MAX + 1];
    assert_int_equal(append(reg, "api/ws", "down", &lim, "x", now), 1);
    assert_string_equal(now, epoch);
    silk_registry_close(reg);
}

/* 1,000 appends and a range of them all: timed, printed, not asserted. */
static void test_timing(void **state)
{
    (void)state;
    silk_registry *reg = open_reg();
    const silk__stream_limits big = {.size = 1000, .ttl_s = 60};
    char epoch[SILK__STREAM_EPOCH_MAX + 1], msg[200];
    memset(msg, 'p', sizeof msg);
    int64_t t0 = silk__now_us();
    for (uint64_t i = 1; i <= 1000; i++) {
        uint64_t off;
        bool dup;
        assert_int_equal(silk__stream_append(reg, "api/ws", "timing", &big, msg, sizeof msg, false,
                                             NULL, epoch, &off, &dup),
                         SILK_OK);
        assert_int_equal(off, i);
    }
    int64_t t1 = silk__now_us();
    silk__stream_range r;
    assert_int_equal(silk__stream_read(reg, "api/ws", "timing", &big, 0, 1000, &r), SILK_OK);
    int64_t t2 = silk__now_us();
    assert_int_equal(r.n, 1000);
    silk__stream_range_fini(&r);
    printf("stream_redis timing: 1000 appends of %zu bytes in %.1f ms (%.1f us each); a range of "
           "1000 in %.1f ms\n",
           sizeof msg, (double)(t1 - t0) / 1000, (double)(t1 - t0) / 1000,
           (double)(t2 - t1) / 1000);
    silk_registry_close(reg);
}

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_offsets_and_ranges),
        cmocka_unit_test(test_trimming_shows_the_gap),
        cmocka_unit_test(test_ttl_makes_a_new_epoch),
        cmocka_unit_test(test_idempotency_key),
        cmocka_unit_test(test_streams_are_apart),
        cmocka_unit_test(test_concurrent_appends),
        cmocka_unit_test(test_script_cache_flushed),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_key_of_another_type),
        cmocka_unit_test(test_timing),
        cmocka_unit_test(test_redis_down_then_restarted),
    };
    /* clang-format on */
    return cmocka_run_group_tests(tests, setup, teardown);
}
