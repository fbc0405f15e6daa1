/* core_test.c - the private helpers every component shares: UTF-8 repair, the environment,
 * random ids, and the record of who holds a silk__mutex. */
#include <pthread.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <silk/log.h>

#include "core/env.h"
#include "core/mutex.h"
#include "core/random.h"
#include "core/secret.h"
#include "core/utf8.h"

static void test_utf8_len(void **state)
{
    (void)state;
    assert_int_equal(silk__utf8_len((const unsigned char *)"a", 1), 1);
    assert_int_equal(silk__utf8_len((const unsigned char *)"\xc3\xa9", 2), 2);
    assert_int_equal(silk__utf8_len((const unsigned char *)"\xe2\x82\xac", 3), 3);
    assert_int_equal(silk__utf8_len((const unsigned char *)"\xf0\x9f\x98\x80", 4), 4);
    assert_int_equal(silk__utf8_len((const unsigned char *)"\xc0\xaf", 2), 0);     /* overlong */
    assert_int_equal(silk__utf8_len((const unsigned char *)"\xed\xa0\x80", 3), 0); /* surrogate */
    assert_int_equal(silk__utf8_len((const unsigned char *)"\xf4\x90\x80\x80", 4),
                     0);                                                       /* > 10FFFF */
    assert_int_equal(silk__utf8_len((const unsigned char *)"\x80", 1), 0);     /* continuation */
    assert_int_equal(silk__utf8_len((const unsigned char *)"\xe2\x82", 2), 0); /* cut short */
    assert_true(silk__utf8_valid("h\xc3\xa9llo", 6));
    assert_false(silk__utf8_valid("h\xffllo", 5));
}

static void test_utf8_repair_replaces_each_bad_byte(void **state)
{
    (void)state;
    size_t len = 0;
    char *s = silk__utf8_repair("a\xff\xfe"
                                "b\xe2\x82\xac",
                                7, &len);
    assert_non_null(s);
    assert_string_equal(s, "a\xef\xbf\xbd\xef\xbf\xbd"
                           "b\xe2\x82\xac");
    assert_int_equal(len, strlen(s));
    free(s);
    s = silk__utf8_repair("", 0, NULL);
    assert_string_equal(s, "");
    free(s);
}

static void test_env_long(void **state)
{
    (void)state;
    long v = 7;
    unsetenv("SILK_CORE_TEST");
    assert_false(silk__env_long("SILK_CORE_TEST", 0, 100, &v));
    assert_int_equal(v, 7);
    setenv("SILK_CORE_TEST", "", 1);
    assert_false(silk__env_long("SILK_CORE_TEST", 0, 100, &v));
    assert_null(silk__env_str("SILK_CORE_TEST"));
    setenv("SILK_CORE_TEST", "42", 1);
    assert_true(silk__env_long("SILK_CORE_TEST", 0, 100, &v));
    assert_int_equal(v, 42);
    assert_string_equal(silk__env_str("SILK_CORE_TEST"), "42");
    setenv("SILK_CORE_TEST", "-1", 1);
    assert_true(silk__env_long("SILK_CORE_TEST", -10, 100, &v));
    assert_int_equal(v, -1);
    v = 7;
    assert_false(silk__env_long("SILK_CORE_TEST", 0, 100, &v)); /* below the range */
    setenv("SILK_CORE_TEST", "101", 1);
    assert_false(silk__env_long("SILK_CORE_TEST", 0, 100, &v)); /* above it */
    setenv("SILK_CORE_TEST", "12ms", 1);
    assert_false(silk__env_long("SILK_CORE_TEST", 0, 100, &v)); /* not a number */
    assert_int_equal(v, 7);
    unsetenv("SILK_CORE_TEST");
}

/* log_line runs silk_log with stderr sent to a file and returns the line it wrote. */
static void log_line(char *out, size_t cap, const char *value)
{
    char path[] = "/tmp/silk-core-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    silk_log(SILK_LOG_WARN, "test", "business_id=%s done", value);
    dup2(saved, STDERR_FILENO);
    close(saved);
    ssize_t n = pread(fd, out, cap - 1, 0);
    assert_true(n > 0);
    out[n] = '\0';
    close(fd);
    unlink(path);
}

/* A value a client chose cannot end a log line or forge the next one. */
static void test_log_escapes_control_bytes(void **state)
{
    (void)state;
    char line[512];
    log_line(line, sizeof line, "100\r\n2026-01-01T00:00:00Z ERROR forged\x1b[31m");
    const char *nl = strchr(line, '\n');
    assert_non_null(nl);
    assert_int_equal(nl[1], '\0'); /* one line, ending in its own newline */
    assert_non_null(strstr(line, "business_id=100\\x0d\\x0a2026-01-01T00:00:00Z ERROR "
                                 "forged\\x1b[31m done"));
    log_line(line, sizeof line, "caf\xc3\xa9");
    assert_non_null(strstr(line, "business_id=caf\xc3\xa9 done")); /* UTF-8 stays as it is */
}

static void test_random_hex(void **state)
{
    (void)state;
    char a[33], b[33];
    silk__random_hex(a, 16);
    silk__random_hex(b, 16);
    assert_int_equal(strlen(a), 32);
    assert_int_equal(strspn(a, "0123456789abcdef"), 32);
    assert_string_not_equal(a, b);
}

static void *held_elsewhere(void *arg)
{
    static bool held;
    held = silk__mutex_held(arg);
    return &held;
}

/* In debug builds a silk__mutex knows its holder: the thread that locked it, and no other,
 * until it unlocks or waits. */
static void test_mutex_holder(void **state)
{
    (void)state;
#ifdef SILK_DEBUG_ASSERTS
    silk__mutex m;
    silk__mutex_init(&m);
    assert_false(silk__mutex_held(&m));
    silk__mutex_lock(&m);
    assert_true(silk__mutex_held(&m));
    pthread_t t;
    void *elsewhere;
    assert_int_equal(pthread_create(&t, NULL, held_elsewhere, &m), 0);
    assert_int_equal(pthread_join(t, &elsewhere), 0);
    assert_false(*(bool *)elsewhere);
    pthread_cond_t cv;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&cv, &attr);
    pthread_condattr_destroy(&attr);
    struct timespec at;
    clock_gettime(CLOCK_MONOTONIC, &at);
    silk__cond_timedwait(&cv, &m, &at); /* already past: returns at once, held again */
    assert_true(silk__mutex_held(&m));
    silk__mutex_unlock(&m);
    assert_false(silk__mutex_held(&m));
    pthread_cond_destroy(&cv);
    silk__mutex_destroy(&m);
#else
    (void)held_elsewhere;
    skip();
#endif
}

/* The cluster token's compare: equal only for the same string, whatever the lengths. */
static void test_secret_equal(void **state)
{
    (void)state;
    assert_true(silk__secret_equal("s3cret", "s3cret"));
    assert_false(silk__secret_equal("s3cret", "s3creT"));
    assert_false(silk__secret_equal("s3cret", "s3cre"));
    assert_false(silk__secret_equal("s3cret", "s3crett"));
    assert_false(silk__secret_equal("s3cret", ""));
    assert_false(silk__secret_equal("s3cret", NULL));
    assert_false(silk__secret_equal("a", "aa"));
    assert_true(silk__secret_equal("", ""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_len),
        cmocka_unit_test(test_utf8_repair_replaces_each_bad_byte),
        cmocka_unit_test(test_env_long),
        cmocka_unit_test(test_random_hex),
        cmocka_unit_test(test_log_escapes_control_bytes),
        cmocka_unit_test(test_mutex_holder),
        cmocka_unit_test(test_secret_equal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
