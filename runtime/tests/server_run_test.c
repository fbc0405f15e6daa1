/* server_run_test.c - silk_server_run in a child process: registers, serves, and on SIGTERM
 * or SIGINT deregisters and exits 0; and where silk_server_start may listen unprotected. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <nng/nng.h>

#include <silk/silk.h>

#include "core/reap.h"
#include "silk/rpc.pb-c.h"

static char dir[128];
static char url[256];

static silk_status echo(silk_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp,
                        const void *h, void *user)
{
    (void)ctx;
    (void)h;
    (void)user;
    ((Silk__Rpc__Metadata *)resp)->value = ((const Silk__Rpc__Metadata *)req)->value;
    return SILK_OK;
}

static const silk_method_desc methods[] = {{.name = "Echo",
                                            .path = "/run.Test/Echo",
                                            .input = &silk__rpc__metadata__descriptor,
                                            .output = &silk__rpc__metadata__descriptor,
                                            .invoke = echo}};
static const silk_service_desc desc = {
    .name = "run.Test", .route = "api/run", .n_methods = 1, .methods = methods};

/* serve is the child: a service host as a user writes one. */
static void serve(void)
{
    silk_server *srv = silk_server_new(NULL);
    if (srv == NULL || silk_server_add_service(srv, &desc, NULL, NULL) != SILK_OK)
        _exit(3);
    int rc = silk_server_run(srv);
    silk__reap_fini();
    nng_fini(); /* a tidy exit, for valgrind */
    exit(rc);
}

/* instances counts the registered instances of run.Test. */
static size_t instances(void)
{
    silk_registry *reg;
    assert_int_equal(silk_registry_open(&reg, url), SILK_OK);
    silk_instance_list list;
    assert_int_equal(silk_registry_resolve(reg, "run.Test", &list), SILK_OK);
    size_t n = list.count;
    silk_instance_list_fini(&list);
    silk_registry_close(reg);
    return n;
}

static void run_and_stop(int sig)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        serve();
    for (int i = 0; i < 500 && instances() == 0; i++)
        usleep(10000);
    assert_int_equal(instances(), 1);
    assert_int_equal(kill(pid, sig), 0);
    int status = 0;
    for (int i = 0; i < 1000 && waitpid(pid, &status, WNOHANG) == 0; i++)
        usleep(10000);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(instances(), 0);
}

static void test_sigterm(void **state)
{
    (void)state;
    run_and_stop(SIGTERM);
}

static void test_sigint(void **state)
{
    (void)state;
    run_and_stop(SIGINT);
}

/* starts tells whether a server without token or TLS starts on address (insecure or not). */
static silk_status starts(const char *address, bool insecure)
{
    silk_server *srv = silk_server_new(
        &(silk_server_opts){.listen = address, .no_register = true, .insecure = insecure});
    assert_non_null(srv);
    silk_status st = silk_server_start(srv);
    silk_server_free(srv);
    return st;
}

/* Beyond loopback a server needs the token, mutual TLS or insecure; on loopback or ipc://
 * nothing. Runs last: it starts nng in this process, and the tests above fork. */
static void test_listen_beyond_loopback(void **state)
{
    (void)state;
    char ipc[300];
    snprintf(ipc, sizeof ipc, "ipc://%s/run.sock", dir);
    const char *local[] = {"tcp://127.0.0.1:0", "tcp://127.9.8.7:0", "tcp://[::1]:0",
                           "tcp://localhost:0", ipc};
    for (size_t i = 0; i < sizeof local / sizeof local[0]; i++)
        assert_int_equal(starts(local[i], false), SILK_OK);
    const char *open[] = {"tcp://0.0.0.0:0", "tcp://:0", "tcp://[::]:0"};
    for (size_t i = 0; i < sizeof open / sizeof open[0]; i++) {
        assert_int_equal(starts(open[i], false), SILK_FAILED_PRECONDITION);
        assert_int_equal(starts(open[i], true), SILK_OK);
    }
    setenv("SILK_TOKEN", "t0ken", 1);
    assert_int_equal(starts("tcp://0.0.0.0:0", false), SILK_OK);
    unsetenv("SILK_TOKEN");
    setenv("SILK_INSECURE", "1", 1);
    assert_int_equal(starts("tcp://0.0.0.0:0", false), SILK_OK);
    unsetenv("SILK_INSECURE");
}

int main(void)
{
    /* No nng before the forks: a child of a process with nng's threads could not use it. */
    snprintf(dir, sizeof dir, "/tmp/silk-run-test-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return 1;
    snprintf(url, sizeof url, "file:%s", dir);
    setenv("SILK_REGISTRY", url, 1);
    setenv("SILK_LISTEN", "tcp://127.0.0.1:0", 1);
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigterm),
        cmocka_unit_test(test_sigint),
        cmocka_unit_test(test_listen_beyond_loopback),
    };
    /* clang-format on */
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return failed != 0 || system(cmd) != 0;
}
