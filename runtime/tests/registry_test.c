/* registry_test.c - the file registry: register, resolve, heartbeat, staleness, names. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <silk/registry.h>

static char dir[256];

static int make_dir(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/silk-registry-test-XXXXXX");
    return mkdtemp(dir) != NULL ? 0 : -1;
}

static int remove_dir(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static silk_registry *open_reg(void)
{
    char url[300];
    snprintf(url, sizeof url, "file:%s/nested/reg", dir);
    silk_registry *reg = NULL;
    assert_int_equal(silk_registry_open(&reg, url), SILK_OK);
    return reg;
}

static silk_instance inst(const char *service, const char *id, const char *address)
{
    return (silk_instance){.service = (char *)service,
                           .id = (char *)id,
                           .address = (char *)address,
                           .weight = 2,
                           .version = "1.2",
                           .started_ms = 1700000000123};
}

static void test_register_resolve_deregister(void **state)
{
    (void)state;
    silk_registry *reg = open_reg();
    silk_instance b = inst("wstest.WsTest", "bbb", "tcp://127.0.0.1:2");
    silk_instance a = inst("wstest.WsTest", "aaa", "ipc:///tmp/a.sock");
    assert_int_equal(silk_registry_register(reg, &b), SILK_OK);
    assert_int_equal(silk_registry_register(reg, &a), SILK_OK);

    silk_instance_list list;
    assert_int_equal(silk_registry_resolve(reg, "wstest.WsTest", &list), SILK_OK);
    assert_int_equal(list.count, 2);
    assert_string_equal(list.items[0].id, "aaa"); /* ordered by id */
    assert_string_equal(list.items[0].address, "ipc:///tmp/a.sock");
    assert_string_equal(list.items[0].service, "wstest.WsTest");
    assert_string_equal(list.items[0].version, "1.2");
    assert_int_equal(list.items[0].weight, 2);
    assert_true(list.items[0].started_ms == 1700000000123);
    assert_string_equal(list.items[1].address, "tcp://127.0.0.1:2");
    silk_instance_list_fini(&list);
    assert_int_equal(list.count, 0);

    /* Registering again replaces the record. */
    b.address = "tcp://127.0.0.1:3";
    assert_int_equal(silk_registry_register(reg, &b), SILK_OK);
    assert_int_equal(silk_registry_heartbeat(reg, "wstest.WsTest", "bbb"), SILK_OK);
    assert_int_equal(silk_registry_heartbeat(reg, "wstest.WsTest", "zzz"), SILK_NOT_FOUND);
    assert_int_equal(silk_registry_deregister(reg, "wstest.WsTest", "aaa"), SILK_OK);
    assert_int_equal(silk_registry_deregister(reg, "wstest.WsTest", "aaa"), SILK_OK);
    assert_int_equal(silk_registry_resolve(reg, "wstest.WsTest", &list), SILK_OK);
    assert_int_equal(list.count, 1);
    assert_string_equal(list.items[0].address, "tcp://127.0.0.1:3");
    silk_instance_list_fini(&list);

    /* A service nobody registered has no instance; that is not an error. */
    assert_int_equal(silk_registry_resolve(reg, "nobody.Here", &list), SILK_OK);
    assert_int_equal(list.count, 0);
    silk_registry_close(reg);
}

static void test_stale_is_ignored_and_removed(void **state)
{
    (void)state;
    silk_registry *reg = open_reg();
    silk_instance live = inst("s.Stale", "live", "tcp://127.0.0.1:1");
    silk_instance old = inst("s.Stale", "old", "tcp://127.0.0.1:2");
    assert_int_equal(silk_registry_register(reg, &live), SILK_OK);
    assert_int_equal(silk_registry_register(reg, &old), SILK_OK);

    /* Age one record past the TTL, as a process that died without deregistering leaves it. */
    char path[512];
    snprintf(path, sizeof path, "%s/nested/reg/s.Stale/old", dir);
    struct timespec times[2];
    clock_gettime(CLOCK_REALTIME, &times[0]);
    times[0].tv_sec -= SILK_REGISTRY_TTL_MS / 1000 + 2;
    times[1] = times[0];
    assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);

    silk_instance_list list;
    assert_int_equal(silk_registry_resolve(reg, "s.Stale", &list), SILK_OK);
    assert_int_equal(list.count, 1);
    assert_string_equal(list.items[0].id, "live");
    silk_instance_list_fini(&list);
    assert_int_equal(access(path, F_OK), -1); /* removed by resolve */

    /* A heartbeat keeps a record alive: touch after ageing. */
    snprintf(path, sizeof path, "%s/nested/reg/s.Stale/live", dir);
    assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
    assert_int_equal(silk_registry_heartbeat(reg, "s.Stale", "live"), SILK_OK);
    assert_int_equal(silk_registry_resolve(reg, "s.Stale", &list), SILK_OK);
    assert_int_equal(list.count, 1);
    silk_instance_list_fini(&list);
    silk_registry_close(reg);
}

static void test_junk_files_are_ignored(void **state)
{
    (void)state;
    silk_registry *reg = open_reg();
    silk_instance i = inst("s.Junk", "ok", "tcp://127.0.0.1:1");
    assert_int_equal(silk_registry_register(reg, &i), SILK_OK);
    char path[512];
    snprintf(path, sizeof path, "%s/nested/reg/s.Junk/.ok.1234.tmp", dir);
    FILE *f = fopen(path, "w");
    fputs("address=tcp://127.0.0.1:9\n", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/nested/reg/s.Junk/noaddress", dir);
    f = fopen(path, "w");
    fputs("weight=1\n", f);
    fclose(f);
    silk_instance_list list;
    assert_int_equal(silk_registry_resolve(reg, "s.Junk", &list), SILK_OK);
    assert_int_equal(list.count, 1);
    assert_string_equal(list.items[0].id, "ok");
    silk_instance_list_fini(&list);
    silk_registry_close(reg);
}

static void test_names_are_validated(void **state)
{
    (void)state;
    silk_registry *reg = open_reg();
    const char *bad[] = {"", ".hidden", "a/b", "..", "sp ace", "new\nline"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        silk_instance i = inst(bad[k], "id", "tcp://127.0.0.1:1");
        assert_int_equal(silk_registry_register(reg, &i), SILK_INVALID_ARGUMENT);
        i = inst("s.Ok", bad[k], "tcp://127.0.0.1:1");
        assert_int_equal(silk_registry_register(reg, &i), SILK_INVALID_ARGUMENT);
        assert_int_equal(silk_registry_deregister(reg, "s.Ok", bad[k]), SILK_INVALID_ARGUMENT);
        assert_int_equal(silk_registry_heartbeat(reg, bad[k], "id"), SILK_INVALID_ARGUMENT);
        silk_instance_list list;
        assert_int_equal(silk_registry_resolve(reg, bad[k], &list), SILK_INVALID_ARGUMENT);
        assert_int_equal(list.count, 0);
    }
    silk_instance i = inst("s.Ok", "id", "tcp://1\nweight=9");
    assert_int_equal(silk_registry_register(reg, &i), SILK_INVALID_ARGUMENT);
    i = inst("s.Ok", "id", "");
    assert_int_equal(silk_registry_register(reg, &i), SILK_INVALID_ARGUMENT);
    silk_registry_close(reg);
}

static void test_urls(void **state)
{
    (void)state;
    silk_registry *reg = NULL;
    assert_int_equal(silk_registry_open(&reg, "redis-not-yet://x"), SILK_INVALID_ARGUMENT);
    assert_int_equal(silk_registry_open(&reg, "nocolon"), SILK_INVALID_ARGUMENT);
    assert_int_equal(silk_registry_open(&reg, "file:"), SILK_INVALID_ARGUMENT);
    assert_int_equal(silk_registry_open(&reg, "file:/proc/silk-cannot-be-here/x"),
                     SILK_UNAVAILABLE);

    /* "file:///dir" is "file:/dir"; $SILK_REGISTRY is the default. */
    char url[300];
    snprintf(url, sizeof url, "file://%s/env", dir);
    setenv("SILK_REGISTRY", url, 1);
    assert_int_equal(silk_registry_open(&reg, NULL), SILK_OK);
    silk_instance i = inst("s.Env", "one", "tcp://127.0.0.1:1");
    assert_int_equal(silk_registry_register(reg, &i), SILK_OK);
    silk_registry_close(reg);
    char path[512];
    snprintf(path, sizeof path, "%s/env/s.Env/one", dir);
    assert_int_equal(access(path, F_OK), 0);
    unsetenv("SILK_REGISTRY");
    silk_registry_close(NULL);
}

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register_resolve_deregister),
        cmocka_unit_test(test_stale_is_ignored_and_removed),
        cmocka_unit_test(test_junk_files_are_ignored),
        cmocka_unit_test(test_names_are_validated),
        cmocka_unit_test(test_urls),
    };
    /* clang-format on */
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
