/* registry_test.c - the file registry: register, resolve, heartbeat, staleness and cleanup,
 * atomic records, list, watch, names. */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
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

#include "registry/backend.h"

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

/* age_file sets a file's mtime seconds in the past. */
static void age_file(const char *path, int seconds)
{
    struct timespec times[2];
    clock_gettime(CLOCK_REALTIME, &times[0]);
    times[0].tv_sec -= seconds;
    times[1] = times[0];
    assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
}

/* count_entries counts the directory's entries but . and .. */
static int count_entries(const char *path)
{
    DIR *d = opendir(path);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
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
    assert_string_equal(list.items[0].gateway_id, "");
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
    age_file(path, SILK_REGISTRY_TTL_MS / 1000 + 2);

    silk_instance_list list;
    assert_int_equal(silk_registry_resolve(reg, "s.Stale", &list), SILK_OK);
    assert_int_equal(list.count, 1);
    assert_string_equal(list.items[0].id, "live");
    silk_instance_list_fini(&list);
    assert_int_equal(access(path, F_OK), -1); /* removed by resolve */

    /* A heartbeat keeps a record alive: touch after ageing. */
    snprintf(path, sizeof path, "%s/nested/reg/s.Stale/live", dir);
    age_file(path, SILK_REGISTRY_TTL_MS / 1000 + 2);
    assert_int_equal(silk_registry_heartbeat(reg, "s.Stale", "live"), SILK_OK);
    assert_int_equal(silk_registry_resolve(reg, "s.Stale", &list), SILK_OK);
    assert_int_equal(list.count, 1);
    silk_instance_list_fini(&list);
    silk_registry_close(reg);
}

/* The record is the file, whole: what it holds, and no temporary file left beside it. */
static void test_record_file_is_whole(void **state)
{
    (void)state;
    silk_registry *reg = open_reg();
    silk_instance g = inst("silk.ws.SessionManager", "gw-1", "tcp://127.0.0.1:7");
    g.gateway_id = "gw-1";
    assert_int_equal(silk_registry_register(reg, &g), SILK_OK);
    char path[512], text[512] = "";
    snprintf(path, sizeof path, "%s/nested/reg/silk.ws.SessionManager/gw-1", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    assert_string_equal(text, "address=tcp://127.0.0.1:7\nweight=2\nversion=1.2\n"
                              "started_ms=1700000000123\ngateway_id=gw-1\n");
    snprintf(path, sizeof path, "%s/nested/reg/silk.ws.SessionManager", dir);
    assert_int_equal(count_entries(path), 1);

    silk_instance_list list;
    assert_int_equal(silk_registry_resolve(reg, "silk.ws.SessionManager", &list), SILK_OK);
    assert_int_equal(list.count, 1);
    assert_string_equal(list.items[0].gateway_id, "gw-1");
    silk_instance_list_fini(&list);
    silk_registry_close(reg);
}

typedef struct rewriter {
    silk_registry *reg;
    volatile int stop;
} rewriter;

static void *rewrite_main(void *arg)
{
    rewriter *rw = arg;
    for (unsigned k = 0; !rw->stop; k++) {
        silk_instance i = inst("s.Atomic", "one", k % 2 ? "tcp://127.0.0.1:1111" : "ipc:///x/y");
        i.version = k % 2 ? "odd-version-of-some-length" : "even";
        silk_registry_register(rw->reg, &i);
    }
    return NULL;
}

/* While one thread replaces a record over and over, readers see one whole record every time:
 * never none, never a mix of two. */
static void test_replacing_is_atomic(void **state)
{
    (void)state;
    silk_registry *reg = open_reg();
    silk_instance i = inst("s.Atomic", "one", "ipc:///x/y");
    i.version = "even";
    assert_int_equal(silk_registry_register(reg, &i), SILK_OK);
    rewriter rw = {.reg = reg};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, rewrite_main, &rw), 0);
    for (int k = 0; k < 2000; k++) {
        silk_instance_list list;
        assert_int_equal(silk_registry_resolve(reg, "s.Atomic", &list), SILK_OK);
        assert_int_equal(list.count, 1);
        bool odd = strcmp(list.items[0].address, "tcp://127.0.0.1:1111") == 0;
        assert_true(odd || strcmp(list.items[0].address, "ipc:///x/y") == 0);
        assert_string_equal(list.items[0].version, odd ? "odd-version-of-some-length" : "even");
        silk_instance_list_fini(&list);
    }
    rw.stop = 1;
    pthread_join(t, NULL);
    char path[512];
    snprintf(path, sizeof path, "%s/nested/reg/s.Atomic", dir);
    assert_int_equal(count_entries(path), 1); /* no temporary file left */
    silk_registry_close(reg);
}

/* A temporary file a crashed writer left is removed once older than the TTL. */
static void test_stale_temporary_files_are_removed(void **state)
{
    (void)state;
    silk_registry *reg = open_reg();
    silk_instance i = inst("s.Tmp", "ok", "tcp://127.0.0.1:1");
    assert_int_equal(silk_registry_register(reg, &i), SILK_OK);
    char fresh[512], old[512];
    snprintf(fresh, sizeof fresh, "%s/nested/reg/s.Tmp/.ok.fresh.tmp", dir);
    snprintf(old, sizeof old, "%s/nested/reg/s.Tmp/.ok.old.tmp", dir);
    fclose(fopen(fresh, "w"));
    fclose(fopen(old, "w"));
    age_file(old, SILK_REGISTRY_TTL_MS / 1000 + 2);
    silk_instance_list list;
    assert_int_equal(silk_registry_resolve(reg, "s.Tmp", &list), SILK_OK);
    assert_int_equal(list.count, 1);
    silk_instance_list_fini(&list);
    assert_int_equal(access(old, F_OK), -1);
    assert_int_equal(access(fresh, F_OK), 0); /* may be a write in progress */
    silk_registry_close(reg);
}

static void test_list_every_service(void **state)
{
    (void)state;
    char url[300];
    snprintf(url, sizeof url, "file:%s/listing", dir);
    silk_registry *reg = NULL;
    assert_int_equal(silk_registry_open(&reg, url), SILK_OK);
    assert_string_equal(silk_registry_url(reg), url);
    silk_instance_list list;
    assert_int_equal(silk_registry_list(reg, &list), SILK_OK);
    assert_int_equal(list.count, 0);
    silk_instance a = inst("b.Svc", "x", "tcp://127.0.0.1:1");
    silk_instance b = inst("a.Svc", "y", "tcp://127.0.0.1:2");
    silk_instance c = inst("a.Svc", "x", "tcp://127.0.0.1:3");
    silk_instance gone = inst("c.Gone", "z", "tcp://127.0.0.1:4");
    assert_int_equal(silk_registry_register(reg, &a), SILK_OK);
    assert_int_equal(silk_registry_register(reg, &b), SILK_OK);
    assert_int_equal(silk_registry_register(reg, &c), SILK_OK);
    assert_int_equal(silk_registry_register(reg, &gone), SILK_OK);
    assert_int_equal(silk_registry_deregister(reg, "c.Gone", "z"), SILK_OK);
    assert_int_equal(silk_registry_list(reg, &list), SILK_OK);
    assert_int_equal(list.count, 3);
    assert_string_equal(list.items[0].service, "a.Svc");
    assert_string_equal(list.items[0].id, "x");
    assert_string_equal(list.items[1].service, "a.Svc");
    assert_string_equal(list.items[1].id, "y");
    assert_string_equal(list.items[2].service, "b.Svc");
    silk_instance_list_fini(&list);
    silk_registry_close(reg);
}

/* ============================== watch ============================== */

typedef struct seen {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int calls;
    int wrong_service;
    size_t last_count;
    char last_ids[256];
} seen;

static void on_change(void *arg, const char *service, const silk_instance_list *now)
{
    seen *s = arg;
    pthread_mutex_lock(&s->mu);
    s->calls++;
    s->wrong_service += strcmp(service, "s.Watched") != 0;
    s->last_count = now->count;
    s->last_ids[0] = '\0';
    for (size_t i = 0; i < now->count; i++) {
        strncat(s->last_ids, now->items[i].id, sizeof s->last_ids - strlen(s->last_ids) - 2);
        strcat(s->last_ids, ",");
    }
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* wait_calls waits (at most 10 s) for the watcher to have been called `calls` times; it
 * returns the ids of the last view. */
static const char *wait_calls(seen *s, int calls)
{
    struct timespec at;
    clock_gettime(CLOCK_REALTIME, &at);
    at.tv_sec += 10;
    pthread_mutex_lock(&s->mu);
    while (s->calls < calls && pthread_cond_timedwait(&s->cv, &s->mu, &at) == 0) {
    }
    int got = s->calls;
    pthread_mutex_unlock(&s->mu);
    assert_int_equal(got, calls);
    return s->last_ids;
}

static void test_watch_sees_changes_and_expiry(void **state)
{
    (void)state;
    silk_registry *writer = open_reg(), *reader = open_reg();
    silk__registry_set_ttl(reader, 3000); /* the reader judges staleness */
    seen s = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    silk_instance a = inst("s.Watched", "a", "tcp://127.0.0.1:1");
    assert_int_equal(silk_registry_register(writer, &a), SILK_OK);
    uint64_t id = 0;
    assert_int_equal(silk_registry_watch(reader, "s.Watched", on_change, &s, &id), SILK_OK);

    silk_instance b = inst("s.Watched", "b", "tcp://127.0.0.1:2");
    assert_int_equal(silk_registry_register(writer, &b), SILK_OK);
    assert_string_equal(wait_calls(&s, 1), "a,b,");
    assert_int_equal(silk_registry_deregister(writer, "s.Watched", "a"), SILK_OK);
    assert_string_equal(wait_calls(&s, 2), "b,");
    b.weight = 7; /* a record replaced is a change too */
    assert_int_equal(silk_registry_register(writer, &b), SILK_OK);
    assert_string_equal(wait_calls(&s, 3), "b,");
    /* No heartbeat: b expires, the watcher is told and the file is removed. */
    assert_string_equal(wait_calls(&s, 4), "");
    char path[512];
    snprintf(path, sizeof path, "%s/nested/reg/s.Watched/b", dir);
    assert_int_equal(access(path, F_OK), -1);

    silk_registry_unwatch(reader, id);
    assert_int_equal(silk_registry_register(writer, &a), SILK_OK);
    silk_instance_list list; /* the reader still reads; the watcher is not called again */
    assert_int_equal(silk_registry_resolve(reader, "s.Watched", &list), SILK_OK);
    assert_int_equal(list.count, 1);
    silk_instance_list_fini(&list);
    assert_int_equal(silk_registry_deregister(writer, "s.Watched", "a"), SILK_OK);
    silk_registry_close(reader); /* joins the watcher thread */
    assert_int_equal(s.calls, 4);
    assert_int_equal(s.wrong_service, 0);
    silk_registry_unwatch(writer, 12345); /* unknown: ignored */
    silk_registry_close(writer);
    assert_int_equal(silk_registry_watch(NULL, "s.X", on_change, &s, &id), SILK_INVALID_ARGUMENT);
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
    assert_int_equal(silk_registry_open(&reg, "etcd://x"), SILK_INVALID_ARGUMENT);
    assert_int_equal(silk_registry_open(&reg, "redis:x"), SILK_INVALID_ARGUMENT);
    assert_int_equal(silk_registry_open(&reg, "redis://"), SILK_INVALID_ARGUMENT);
    assert_int_equal(silk_registry_open(&reg, "redis://h:99999"), SILK_INVALID_ARGUMENT);
    assert_int_equal(silk_registry_open(&reg, "redis://h:1/x"), SILK_INVALID_ARGUMENT);
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

/* A URL's password never leaves silk_registry_mask_url, nor silk_registry_url; a redis URL
 * with user information but no ':' is refused, as Redis's own URIs are. */
static void test_urls_with_passwords(void **state)
{
    (void)state;
    char buf[256];
    silk_registry_mask_url("redis://alice:pw@h:6379/2", buf, sizeof buf);
    assert_string_equal(buf, "redis://alice:***@h:6379/2");
    silk_registry_mask_url("redis://:p@w@h", buf, sizeof buf);
    assert_string_equal(buf, "redis://:***@h");
    silk_registry_mask_url("redis://secret@h", buf, sizeof buf);
    assert_string_equal(buf, "redis://***@h");
    silk_registry_mask_url("redis://h:6379/0", buf, sizeof buf);
    assert_string_equal(buf, "redis://h:6379/0");
    silk_registry_mask_url("file:/tmp/a@b", buf, sizeof buf);
    assert_string_equal(buf, "file:/tmp/a@b");
    silk_registry_mask_url("file:///tmp/a@b", buf, sizeof buf);
    assert_string_equal(buf, "file:///tmp/a@b");
    silk_registry *reg = NULL;
    assert_int_equal(silk_registry_open(&reg, "redis://secret@127.0.0.1:1"), SILK_INVALID_ARGUMENT);
    assert_int_equal(silk_registry_open(&reg, "redis://:p%zz@127.0.0.1:1"), SILK_INVALID_ARGUMENT);
    assert_int_equal(silk_registry_open(&reg, "redis://u:@127.0.0.1:1"), SILK_INVALID_ARGUMENT);
    /* Nothing listens on port 1: an outage, not an error; the URL it keeps is masked. */
    assert_int_equal(silk_registry_open(&reg, "redis://u:p%40ss@127.0.0.1:1/3"), SILK_OK);
    assert_string_equal(silk_registry_url(reg), "redis://u:***@127.0.0.1:1/3");
    silk_registry_close(reg);
}

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register_resolve_deregister),
        cmocka_unit_test(test_stale_is_ignored_and_removed),
        cmocka_unit_test(test_record_file_is_whole),
        cmocka_unit_test(test_replacing_is_atomic),
        cmocka_unit_test(test_stale_temporary_files_are_removed),
        cmocka_unit_test(test_list_every_service),
        cmocka_unit_test(test_watch_sees_changes_and_expiry),
        cmocka_unit_test(test_junk_files_are_ignored),
        cmocka_unit_test(test_names_are_validated),
        cmocka_unit_test(test_urls),
        cmocka_unit_test(test_urls_with_passwords),
    };
    /* clang-format on */
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
