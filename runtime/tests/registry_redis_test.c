/* registry_redis_test.c - the Redis registry against a real redis-server this test starts on
 * a free loopback port with persistence off, and always kills: register, resolve,
 * deregister, TTL expiry and cleanup, pub/sub watch, Redis down (last known view, one
 * warning) and Redis restarted (heartbeats re-create the records, the view recovers). */
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

#include "registry/backend.h"

#include "redis_fixture.h"

static silk_instance inst(const char *service, const char *id, const char *address)
{
    return (silk_instance){.service = (char *)service,
                           .id = (char *)id,
                           .address = (char *)address,
                           .weight = 3,
                           .version = "2.0",
                           .started_ms = 1700000000999};
}

static size_t count_of(silk_registry *reg, const char *service)
{
    silk_instance_list list;
    assert_int_equal(silk_registry_resolve(reg, service, &list), SILK_OK);
    size_t n = list.count;
    silk_instance_list_fini(&list);
    return n;
}

static void test_register_resolve_deregister(void **state)
{
    (void)state;
    silk_registry *a = open_reg(), *b = open_reg();
    silk_instance x = inst("r.Svc", "x", "tcp://127.0.0.1:1");
    silk_instance y = inst("r.Svc", "y", "tcp://127.0.0.1:2");
    y.gateway_id = "gw-9";
    assert_int_equal(silk_registry_register(a, &y), SILK_OK);
    assert_int_equal(silk_registry_register(a, &x), SILK_OK);

    silk_instance_list list;
    assert_int_equal(silk_registry_resolve(b, "r.Svc", &list), SILK_OK);
    assert_int_equal(list.count, 2);
    assert_string_equal(list.items[0].id, "x");
    assert_string_equal(list.items[0].address, "tcp://127.0.0.1:1");
    assert_string_equal(list.items[0].version, "2.0");
    assert_int_equal(list.items[0].weight, 3);
    assert_true(list.items[0].started_ms == 1700000000999);
    assert_string_equal(list.items[0].gateway_id, "");
    assert_string_equal(list.items[1].gateway_id, "gw-9");
    silk_instance_list_fini(&list);

    assert_int_equal(silk_registry_list(b, &list), SILK_OK);
    assert_int_equal(list.count, 2);
    silk_instance_list_fini(&list);

    assert_int_equal(silk_registry_heartbeat(a, "r.Svc", "x"), SILK_OK);
    assert_int_equal(silk_registry_heartbeat(b, "r.Svc", "x"), SILK_OK); /* not b's: PEXPIRE */
    assert_int_equal(silk_registry_heartbeat(b, "r.Svc", "nobody"), SILK_NOT_FOUND);
    assert_int_equal(silk_registry_deregister(a, "r.Svc", "x"), SILK_OK);
    assert_int_equal(silk_registry_deregister(a, "r.Svc", "x"), SILK_OK);
    assert_int_equal(count_of(b, "r.Svc"), 1);
    assert_int_equal(raw("SISMEMBER %s %s", "silk/svc/r.Svc", "x"), 0);
    assert_int_equal(silk_registry_deregister(a, "r.Svc", "y"), SILK_OK);
    assert_int_equal(count_of(b, "r.Svc"), 0);
    assert_int_equal(count_of(b, "nobody.Here"), 0);
    silk_registry_close(a);
    silk_registry_close(b);
}

static void test_ttl_expiry_and_cleanup(void **state)
{
    (void)state;
    silk_registry *a = open_reg(), *b = open_reg();
    silk__registry_set_ttl(a, 800);
    silk_instance kept = inst("r.Ttl", "kept", "tcp://127.0.0.1:1");
    silk_instance dropped = inst("r.Ttl", "dropped", "tcp://127.0.0.1:2");
    assert_int_equal(silk_registry_register(a, &kept), SILK_OK);
    assert_int_equal(silk_registry_register(a, &dropped), SILK_OK);
    assert_int_equal(count_of(b, "r.Ttl"), 2);
    /* Heartbeats keep "kept" alive over two TTLs; "dropped" has none. */
    for (int i = 0; i < 8; i++) {
        sleep_ms(200);
        assert_int_equal(silk_registry_heartbeat(a, "r.Ttl", "kept"), SILK_OK);
    }
    silk_instance_list list;
    assert_int_equal(silk_registry_resolve(b, "r.Ttl", &list), SILK_OK);
    assert_int_equal(list.count, 1);
    assert_string_equal(list.items[0].id, "kept");
    silk_instance_list_fini(&list);
    /* The expired member was removed from the service's set. */
    assert_int_equal(raw("SISMEMBER %s %s", "silk/svc/r.Ttl", "dropped"), 0);
    assert_int_equal(raw("SISMEMBER %s %s", "silk/svc/r.Ttl", "kept"), 1);
    silk_registry_close(a);
    silk_registry_close(b);
}

/* A service whose instances all left or expired leaves silk/services when the registry is
 * listed; one with a live instance stays. */
static void test_services_without_instances_are_dropped(void **state)
{
    (void)state;
    silk_registry *a = open_reg(), *b = open_reg();
    silk__registry_set_ttl(a, 300);
    silk_instance stay = inst("r.Stay", "s", "tcp://127.0.0.1:1");
    silk_instance left = inst("r.Left", "l", "tcp://127.0.0.1:2");
    silk_instance expired = inst("r.Expired", "e", "tcp://127.0.0.1:3");
    assert_int_equal(silk_registry_register(a, &stay), SILK_OK);
    assert_int_equal(silk_registry_register(a, &left), SILK_OK);
    assert_int_equal(silk_registry_register(a, &expired), SILK_OK);
    assert_int_equal(raw("SISMEMBER %s %s", "silk/services", "r.Expired"), 1);
    assert_int_equal(silk_registry_deregister(a, "r.Left", "l"), SILK_OK);
    for (int i = 0; i < 4; i++) { /* r.Stay's heartbeats; r.Expired has none */
        sleep_ms(150);
        assert_int_equal(silk_registry_heartbeat(a, "r.Stay", "s"), SILK_OK);
    }
    silk_instance_list list;
    assert_int_equal(silk_registry_list(b, &list), SILK_OK);
    bool saw_stay = false;
    for (size_t i = 0; i < list.count; i++) {
        assert_string_not_equal(list.items[i].service, "r.Left");
        assert_string_not_equal(list.items[i].service, "r.Expired");
        saw_stay |= strcmp(list.items[i].service, "r.Stay") == 0;
    }
    assert_true(saw_stay);
    silk_instance_list_fini(&list);
    assert_int_equal(raw("SISMEMBER %s %s", "silk/services", "r.Left"), 0);
    assert_int_equal(raw("SISMEMBER %s %s", "silk/services", "r.Expired"), 0);
    assert_int_equal(raw("SISMEMBER %s %s", "silk/services", "r.Stay"), 1);
    assert_int_equal(raw("SISMEMBER %s %s", "silk/svc/r.Expired", "e"), 0);
    /* Back, it is listed again. */
    assert_int_equal(silk_registry_register(a, &expired), SILK_OK);
    assert_int_equal(raw("SISMEMBER %s %s", "silk/services", "r.Expired"), 1);
    assert_int_equal(silk_registry_deregister(a, "r.Stay", "s"), SILK_OK);
    assert_int_equal(silk_registry_deregister(a, "r.Expired", "e"), SILK_OK);
    silk_registry_close(a);
    silk_registry_close(b);
}

typedef struct seen {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int calls;
    size_t last_count;
} seen;

static void on_change(void *arg, const char *service, const silk_instance_list *now)
{
    (void)service;
    seen *s = arg;
    pthread_mutex_lock(&s->mu);
    s->calls++;
    s->last_count = now->count;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static size_t wait_calls(seen *s, int calls)
{
    struct timespec at;
    clock_gettime(CLOCK_REALTIME, &at);
    at.tv_sec += 10;
    pthread_mutex_lock(&s->mu);
    while (s->calls < calls && pthread_cond_timedwait(&s->cv, &s->mu, &at) == 0) {
    }
    int got = s->calls;
    size_t n = s->last_count;
    pthread_mutex_unlock(&s->mu);
    assert_int_equal(got, calls);
    return n;
}

static void test_watch_is_told_by_pubsub(void **state)
{
    (void)state;
    silk_registry *a = open_reg(), *b = open_reg();
    seen s = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    uint64_t id;
    assert_int_equal(silk_registry_watch(b, "r.Watch", on_change, &s, &id), SILK_OK);
    silk_instance w = inst("r.Watch", "w", "tcp://127.0.0.1:1");
    assert_int_equal(silk_registry_register(a, &w), SILK_OK);
    assert_int_equal(wait_calls(&s, 1), 1);
    assert_int_equal(silk_registry_deregister(a, "r.Watch", "w"), SILK_OK);
    assert_int_equal(wait_calls(&s, 2), 0);
    silk_registry_unwatch(b, id);
    silk_registry_close(b);
    silk_registry_close(a);
}

/* read_file reads a whole (small) file into buf. */
static void read_file(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

static int count_in(const char *text, const char *what)
{
    int n = 0;
    for (const char *p = strstr(text, what); p != NULL; p = strstr(p + 1, what))
        n++;
    return n;
}

/* Redis goes away: resolve answers the last view, warns once; then Redis comes back empty and
 * the heartbeat re-creates the record, so a registry with no cached view finds it too. */
static void test_redis_down_then_restarted(void **state)
{
    (void)state;
    silk_registry *server = open_reg(), *client = open_reg();
    silk_instance d = inst("r.Down", "d", "tcp://127.0.0.1:1");
    assert_int_equal(silk_registry_register(server, &d), SILK_OK);
    assert_int_equal(count_of(client, "r.Down"), 1);

    /* Capture stderr, where silk_log writes, while Redis is down. */
    char log_path[] = "/tmp/silk-redis-test-log-XXXXXX";
    int log_fd = mkstemp(log_path);
    assert_true(log_fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(log_fd, 2);

    kill_redis();
    for (int i = 0; i < 5; i++) {
        silk_instance_list list;
        assert_int_equal(silk_registry_resolve(client, "r.Down", &list), SILK_OK);
        assert_int_equal(list.count, 1);
        assert_string_equal(list.items[0].address, "tcp://127.0.0.1:1");
        silk_instance_list_fini(&list);
        sleep_ms(300); /* past the reconnection back-off: every read tries again */
    }
    silk_instance_list none;
    assert_int_equal(silk_registry_resolve(client, "r.NeverRead", &none), SILK_UNAVAILABLE);
    assert_int_equal(silk_registry_heartbeat(server, "r.Down", "d"), SILK_UNAVAILABLE);
    silk_registry *late = NULL; /* opening while Redis is down is no error */
    assert_int_equal(silk_registry_open(&late, url), SILK_OK);
    assert_int_equal(silk_registry_resolve(late, "r.Down", &none), SILK_UNAVAILABLE);

    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char text[8192];
    read_file(log_path, text, sizeof text);
    close(log_fd);
    unlink(log_path);
    /* One warning per handle and outage: the client's, the server's, the late one's. */
    assert_int_equal(count_in(text, "unreachable"), 3);

    assert_int_equal(start_redis(), 0); /* empty: persistence is off */
    assert_int_equal(raw("EXISTS %s%s", "silk/inst/r.Down/d", ""), 0);
    silk_status st = SILK_UNAVAILABLE;
    for (int i = 0; i < 40 && st != SILK_OK; i++) {
        sleep_ms(100);
        st = silk_registry_heartbeat(server, "r.Down", "d");
    }
    assert_int_equal(st, SILK_OK);
    assert_int_equal(raw("EXISTS %s%s", "silk/inst/r.Down/d", ""), 1);
    silk_instance_list list = {0};
    st = SILK_UNAVAILABLE;
    for (int i = 0; i < 40 && (st != SILK_OK || list.count != 1); i++) {
        silk_instance_list_fini(&list);
        sleep_ms(100);
        st = silk_registry_resolve(late, "r.Down", &list);
    }
    assert_int_equal(st, SILK_OK);
    assert_int_equal(list.count, 1);
    assert_string_equal(list.items[0].version, "2.0"); /* the whole record, not just a TTL */
    silk_instance_list_fini(&list);
    assert_int_equal(count_of(client, "r.Down"), 1);
    silk_registry_close(late);
    silk_registry_close(client);
    silk_registry_close(server);
}

/* For one TTL after Redis comes back empty, the last view is kept beside what Redis holds:
 * instances not yet re-created by their heartbeat stay found. */
static void test_view_kept_while_redis_refills(void **state)
{
    (void)state;
    silk_registry *server = open_reg(), *client = open_reg();
    silk_instance k = inst("r.Refill", "k", "tcp://127.0.0.1:1");
    assert_int_equal(silk_registry_register(server, &k), SILK_OK);
    assert_int_equal(count_of(client, "r.Refill"), 1);
    kill_redis();
    assert_int_equal(count_of(client, "r.Refill"), 1);
    assert_int_equal(start_redis(), 0);
    sleep_ms(600);                                     /* past the back-off */
    assert_int_equal(count_of(client, "r.Refill"), 1); /* Redis is empty; the view is kept */
    assert_int_equal(silk_registry_deregister(server, "r.Refill", "k"), SILK_OK);
    silk_registry_close(client);
    silk_registry_close(server);
}

/* Nothing listens: every operation fails soon with UNAVAILABLE, nothing hangs. */
static void test_nothing_listening(void **state)
{
    (void)state;
    char dead[64];
    snprintf(dead, sizeof dead, "redis://127.0.0.1:%d", free_port());
    silk_registry *reg = NULL;
    assert_int_equal(silk_registry_open(&reg, dead), SILK_OK);
    silk_instance n = inst("r.None", "n", "tcp://127.0.0.1:1");
    assert_int_equal(silk_registry_register(reg, &n), SILK_UNAVAILABLE);
    silk_instance_list list;
    assert_int_equal(silk_registry_resolve(reg, "r.None", &list), SILK_UNAVAILABLE);
    assert_int_equal(silk_registry_list(reg, &list), SILK_UNAVAILABLE);
    assert_int_equal(silk_registry_deregister(reg, "r.None", "n"), SILK_UNAVAILABLE);
    silk_registry_close(reg);
}

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register_resolve_deregister),
        cmocka_unit_test(test_ttl_expiry_and_cleanup),
        cmocka_unit_test(test_services_without_instances_are_dropped),
        cmocka_unit_test(test_watch_is_told_by_pubsub),
        cmocka_unit_test(test_redis_down_then_restarted),
        cmocka_unit_test(test_view_kept_while_redis_refills),
        cmocka_unit_test(test_nothing_listening),
    };
    /* clang-format on */
    return cmocka_run_group_tests(tests, setup, teardown);
}
