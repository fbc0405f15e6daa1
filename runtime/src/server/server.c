/* server.c - a silk server's life: configuration, the services it hosts, start, stop and
 * drain, and silk_server_run's signals. Its listener is server_listen.c's, its registry
 * records server_registry.c's, its calls server_call.c's. */
#include <limits.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <silk/log.h>

#include "core/env.h"
#include "core/clock.h"
#include "core/random.h"
#include "metrics/exporter.h"
#include "registry/backend.h"
#include "server/server_internal.h"

/* How long a stopping server lets calls in flight finish, and then lets answers go out. */
#define GRACE_MS 5000
#define FLUSH_MS 1000
/* The defaults of max_connections, idle_timeout_ms and first_frame_timeout_ms. */
#define MAX_CONNECTIONS_DEFAULT        10000
#define IDLE_TIMEOUT_MS_DEFAULT        300000
#define FIRST_FRAME_TIMEOUT_MS_DEFAULT 5000
/* How often silk_server_run looks at its signal pipe even without a wake-up. */
#define SIGNAL_POLL_MS 1000

/* ============================== configuration ============================== */

static char *dup_or(const char *s, const char *fallback)
{
    return strdup(s != NULL && s[0] != '\0' ? s : fallback);
}

/* configure fills srv from opts (NULL fields: defaults and the environment). */
static bool configure(silk_server *srv, const silk_server_opts *opts)
{
    const silk_server_opts none = {0};
    if (opts == NULL)
        opts = &none;
    char id[33];
    silk__random_hex(id, 8);
    const char *token = silk__env_str("SILK_TOKEN");
    const char *listen = opts->listen;
    if (listen == NULL || listen[0] == '\0')
        listen = silk__env_str("SILK_LISTEN");
    srv->listen = dup_or(listen, "tcp://127.0.0.1:0");
    srv->registry_url = opts->registry != NULL ? strdup(opts->registry) : NULL;
    srv->instance_id = dup_or(opts->instance_id, id);
    srv->gateway_id = dup_or(opts->gateway_id, "");
    srv->token = token != NULL ? strdup(token) : NULL;
    long env_insecure = 0;
    silk__env_long("SILK_INSECURE", 0, 1, &env_insecure);
    srv->insecure = opts->insecure || env_insecure == 1;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    long env_workers = 0, env_max_conns = 0, env_idle = 0, env_first = 0; /* 0: the default */
    silk__env_long("SILK_WORKERS", 0, 4096, &env_workers);
    silk__env_long("SILK_MAX_CONNECTIONS", 0, UINT_MAX, &env_max_conns);
    silk__env_long("SILK_IDLE_TIMEOUT_MS", INT_MIN, INT_MAX, &env_idle);
    silk__env_long("SILK_FIRST_FRAME_TIMEOUT_MS", INT_MIN, INT_MAX, &env_first);
    srv->workers = opts->workers != 0 ? opts->workers
                   : env_workers != 0 ? (unsigned)env_workers
                   : cores > 0        ? (unsigned)cores
                                      : 1;
    srv->max_concurrent = opts->max_concurrent != 0 ? opts->max_concurrent : 50;
    srv->max_message = opts->max_message != 0 ? opts->max_message : SILK__MAX_MESSAGE_DEFAULT;
    srv->no_register = opts->no_register;
    srv->max_connections = opts->max_connections != 0 ? opts->max_connections
                           : env_max_conns != 0       ? (unsigned)env_max_conns
                                                      : MAX_CONNECTIONS_DEFAULT;
    long long idle_ms = opts->idle_timeout_ms != 0 ? opts->idle_timeout_ms
                        : env_idle != 0            ? env_idle
                                                   : IDLE_TIMEOUT_MS_DEFAULT;
    srv->idle_timeout_us = idle_ms > 0 ? (int64_t)idle_ms * 1000 : 0;
    long long first_ms = opts->first_frame_timeout_ms != 0 ? opts->first_frame_timeout_ms
                         : env_first != 0                  ? env_first
                                                           : FIRST_FRAME_TIMEOUT_MS_DEFAULT;
    srv->first_frame_timeout_us = first_ms > 0 ? (int64_t)first_ms * 1000 : 0;
    if (srv->listen == NULL || srv->instance_id == NULL || srv->gateway_id == NULL ||
        (opts->registry != NULL && srv->registry_url == NULL) ||
        (token != NULL && srv->token == NULL)) {
        silk_log(SILK_LOG_ERROR, "server", "out of memory");
        return false;
    }
    if (!silk__registry_valid_name(srv->instance_id)) {
        silk_log(SILK_LOG_ERROR, "server", "invalid instance id id=\"%s\"", srv->instance_id);
        return false;
    }
    return true;
}

silk_server *silk_server_new(const silk_server_opts *opts)
{
    silk_server *srv = calloc(1, sizeof *srv);
    if (srv == NULL) {
        silk_log(SILK_LOG_ERROR, "server", "out of memory");
        return NULL;
    }
    silk__mutex_init(&srv->mu);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&srv->cv, &attr);
    pthread_condattr_destroy(&attr);
    if (!configure(srv, opts)) {
        silk_server_free(srv);
        return NULL;
    }
    return srv;
}

silk_status silk_server_add_service(silk_server *srv, const silk_service_desc *desc,
                                    const void *handlers, void *user)
{
    if (srv == NULL || desc == NULL || desc->name == NULL ||
        (handlers == NULL && desc->handlers_size != 0))
        return SILK_INVALID_ARGUMENT;
    if (srv->started)
        return SILK_FAILED_PRECONDITION;
    for (size_t i = 0; i < srv->n_services; i++) {
        if (strcmp(srv->services[i].desc->name, desc->name) == 0)
            return SILK_ALREADY_EXISTS;
    }
    hosted *services = realloc(srv->services, (srv->n_services + 1) * sizeof *services);
    if (services == NULL)
        return SILK_RESOURCE_EXHAUSTED;
    srv->services = services;
    void *copy = malloc(desc->handlers_size != 0 ? desc->handlers_size : 1);
    if (copy == NULL)
        return SILK_RESOURCE_EXHAUSTED;
    if (desc->handlers_size != 0)
        memcpy(copy, handlers, desc->handlers_size);
    services[srv->n_services++] = (hosted){.desc = desc, .handlers = copy, .user = user};
    return SILK_OK;
}

silk_status silk_server_set_inline(silk_server *srv, const silk_service_desc *desc)
{
    if (srv == NULL || desc == NULL)
        return SILK_INVALID_ARGUMENT;
    if (srv->started)
        return SILK_FAILED_PRECONDITION;
    for (size_t i = 0; i < srv->n_services; i++) {
        if (strcmp(srv->services[i].desc->name, desc->name) == 0) {
            srv->services[i].run_inline = true;
            srv->any_inline = true;
            return SILK_OK;
        }
    }
    return SILK_NOT_FOUND;
}

silk_status silk_server_add_interceptor(silk_server *srv, const silk_interceptor *ic)
{
    if (srv == NULL)
        return SILK_INVALID_ARGUMENT;
    if (srv->started)
        return SILK_FAILED_PRECONDITION;
    return silk__chain_add(&srv->chain, ic);
}

bool silk__server_find(const silk_server *srv, const char *path, const hosted **svc,
                       const silk_method_desc **method)
{
    /* path is "/pkg.Service/Method". */
    const char *slash = path != NULL && path[0] == '/' ? strrchr(path, '/') : NULL;
    if (slash == NULL || slash == path)
        return false;
    size_t n = (size_t)(slash - path - 1);
    for (size_t i = 0; i < srv->n_services; i++) {
        const silk_service_desc *d = srv->services[i].desc;
        if (strlen(d->name) == n && strncmp(d->name, path + 1, n) == 0) {
            *svc = &srv->services[i];
            *method = silk_service_find_method(d, slash + 1);
            return *method != NULL;
        }
    }
    return false;
}

const char *silk_server_address(const silk_server *srv)
{
    return srv != NULL ? srv->address : NULL;
}

/* ============================== start and stop ============================== */

static void log_started(silk_server *srv)
{
    char names[1024] = "";
    size_t n = 0;
    for (size_t i = 0; i < srv->n_services && n < sizeof names; i++) {
        int m = snprintf(names + n, sizeof names - n, "%s%s", i != 0 ? "," : "",
                         srv->services[i].desc->name);
        n += m > 0 ? (size_t)m : 0;
    }
    silk_log(SILK_LOG_INFO, "server", "server listening address=%s services=%s instance=%s",
             srv->address, names, srv->instance_id);
}

/* read_gauges gives the exporter srv's calls in flight and connections (exporter.h). */
static void read_gauges(void *arg, uint64_t *in_flight, uint64_t *connections)
{
    silk_server *srv = arg;
    *in_flight = atomic_load_explicit(&srv->inflight, memory_order_acquire);
    silk__mutex_lock(&srv->mu);
    *connections = srv->n_conns;
    silk__mutex_unlock(&srv->mu);
}

/* make_metrics gives srv its counters when $SILK_METRICS_LISTEN asks for them, numbering
 * the methods of its services. Metrics are not worth refusing to serve: out of memory, srv
 * goes without. */
static void make_metrics(silk_server *srv)
{
    if (!silk__metrics_wanted())
        return;
    size_t n = 0;
    for (size_t i = 0; i < srv->n_services; i++) {
        srv->services[i].metrics_base = n;
        n += srv->services[i].desc->n_methods;
    }
    silk__metrics *m = silk__metrics_new(n);
    if (m == NULL) {
        silk_log(SILK_LOG_WARN, "server", "out of memory: serving without metrics");
        return;
    }
    for (size_t i = 0; i < srv->n_services; i++) {
        const silk_service_desc *d = srv->services[i].desc;
        for (size_t j = 0; j < d->n_methods; j++)
            m->methods[srv->services[i].metrics_base + j].path = d->methods[j].path;
    }
    m->gauges = read_gauges;
    m->gauges_arg = srv;
    srv->metrics = m;
}

static void stop(silk_server *srv);

silk_status silk_server_start(silk_server *srv)
{
    if (srv == NULL)
        return SILK_INVALID_ARGUMENT;
    if (srv->started)
        return SILK_FAILED_PRECONDITION;
    silk_status st = silk__health_serve(srv);
    if (st == SILK_ALREADY_EXISTS) /* the application serves its own */
        st = SILK_OK;
    srv->started = true;
    if (st == SILK_OK)
        make_metrics(srv);
    if (st == SILK_OK)
        st = silk__pool_new(&srv->pool, srv->workers);
    if (st == SILK_OK)
        st = silk__server_listen(srv);
    if (st == SILK_OK && !srv->no_register)
        st = silk__server_register(srv);
    if (st != SILK_OK) {
        stop(srv);
        srv->started = false;
        return st;
    }
    log_started(srv);
    if (srv->metrics != NULL)
        silk__metrics_attach(srv->metrics);
    return SILK_OK;
}

/* wait_until waits on srv->cv (srv->mu held) until done(srv) or deadline_us passes. */
static bool wait_until(silk_server *srv, bool (*done)(silk_server *), int64_t deadline_us)
{
    SILK__ASSERT_HELD(&srv->mu);
    while (!done(srv)) {
        int64_t now = silk__now_us();
        if (now >= deadline_us)
            return false;
        int64_t left = deadline_us - now < 10000 ? deadline_us - now : 10000;
        struct timespec at;
        clock_gettime(CLOCK_MONOTONIC, &at);
        at.tv_nsec += (long)left * 1000;
        if (at.tv_nsec >= 1000000000) {
            at.tv_sec++;
            at.tv_nsec -= 1000000000;
        }
        silk__cond_timedwait(&srv->cv, &srv->mu, &at);
    }
    return true;
}

static bool no_calls(silk_server *srv)
{
    return atomic_load(&srv->inflight) == 0;
}

static bool all_flushed(silk_server *srv)
{
    for (sconn *sc = srv->conns; sc != NULL; sc = sc->next) {
        if (!silk__stream_conn_idle(&sc->conn))
            return false;
    }
    return true;
}

static bool no_conns(silk_server *srv)
{
    return srv->n_conns == 0;
}

/* drain lets the calls in flight finish and their answers go out, within the grace period,
 * then closes every connection and waits until they are all gone. */
static void drain(silk_server *srv)
{
    silk__mutex_lock(&srv->mu);
    if (!wait_until(srv, no_calls, silk__now_us() + GRACE_MS * 1000)) {
        silk_log(SILK_LOG_WARN, "server", "grace period over calls=%u",
                 atomic_load(&srv->inflight));
        atomic_store(&srv->abandon, true);
    }
    wait_until(srv, all_flushed, silk__now_us() + FLUSH_MS * 1000);
    for (sconn *sc = srv->conns; sc != NULL; sc = sc->next)
        silk__stream_conn_close(&sc->conn, SILK_UNAVAILABLE, "the server is stopping");
    silk__mutex_unlock(&srv->mu);

    /* Handlers still running finish; calls still queued are dropped. A receive callback
     * that took a call just now finds the pool refusing it. */
    silk__pool_stop(srv->pool);

    silk__mutex_lock(&srv->mu);
    while (!no_conns(srv))
        silk__cond_wait(&srv->cv, &srv->mu);
    silk__mutex_unlock(&srv->mu);
    silk__pool_free(srv->pool);
    srv->pool = NULL;
}

/* stop undoes silk_server_start, whatever part of it was done. */
static void stop(silk_server *srv)
{
    silk__metrics_detach(srv->metrics); /* first: a scrape reads srv's gauges */
    atomic_store(&srv->stopping, true);
    if (srv->address != NULL)
        silk_log(SILK_LOG_INFO, "server", "server stopping address=%s", srv->address);
    nng_aio_stop(srv->accept_aio); /* no new connections: an accept in flight is cancelled */
    nng_aio_stop(srv->sweep_aio);
    if (srv->listener != NULL)
        nng_stream_listener_close(srv->listener);
    silk__server_deregister(srv);
    if (srv->pool != NULL)
        drain(srv);
    silk__server_close_registry(srv); /* no handler runs now */
    nng_aio_free(srv->accept_aio);
    srv->accept_aio = NULL;
    nng_aio_free(srv->sweep_aio);
    srv->sweep_aio = NULL;
    nng_stream_listener_free(srv->listener);
    srv->listener = NULL;
    silk__tls_rele(srv->tls);
    srv->tls = NULL;
    silk__metrics_free(srv->metrics); /* nothing counts now: no connection, worker or heartbeat */
    srv->metrics = NULL;
    if (srv->address != NULL)
        silk_log(SILK_LOG_INFO, "server", "server stopped address=%s", srv->address);
    free(srv->address);
    srv->address = NULL;
}

void silk_server_free(silk_server *srv)
{
    if (srv == NULL)
        return;
    if (srv->started)
        stop(srv);
    for (size_t i = 0; i < srv->n_services; i++)
        free(srv->services[i].handlers);
    free(srv->services);
    silk__chain_fini(&srv->chain);
    free(srv->listen);
    free(srv->registry_url);
    free(srv->instance_id);
    free(srv->gateway_id);
    free(srv->token);
    pthread_cond_destroy(&srv->cv);
    silk__mutex_destroy(&srv->mu);
    free(srv);
}

/* ============================== run ============================== */

/* The write end of the pipe the signal handler wakes silk_server_run through. A handler,
 * not sigwait(): signals may land on any thread, nng's included, which silk cannot mask. */
static volatile sig_atomic_t signal_fd = -1;

static void on_signal(int sig)
{
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    if (signal_fd >= 0 && write(signal_fd, &b, 1) < 0) {
        /* Nothing to do: a byte is already waiting. */
    }
    errno = saved;
}

/* signal_watch holds what silk_server_run installs while it serves. */
typedef struct signal_watch {
    int fds[2];
    struct sigaction old_term;
    struct sigaction old_int;
} signal_watch;

/* watch_signals installs the handlers for SIGTERM and SIGINT; false when it cannot. It runs
 * before the server starts, so that a signal that comes as soon as the instance is
 * registered already stops it gracefully. */
static bool watch_signals(signal_watch *w)
{
    if (pipe2(w->fds, O_CLOEXEC) != 0)
        return false;
    fcntl(w->fds[1], F_SETFL, O_NONBLOCK);
    signal_fd = w->fds[1];
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, &w->old_term);
    sigaction(SIGINT, &sa, &w->old_int);
    return true;
}

/* unwatch_signals puts the previous handlers back. */
static void unwatch_signals(signal_watch *w)
{
    sigaction(SIGTERM, &w->old_term, NULL);
    sigaction(SIGINT, &w->old_int, NULL);
    signal_fd = -1;
    close(w->fds[0]);
    close(w->fds[1]);
}

/* wait_for_signal blocks until SIGTERM or SIGINT and returns it, then puts the previous
 * handlers back. It waits in poll(), with a timeout, rather than in a blocking read():
 * ThreadSanitizer defers a signal handler while its thread is in an interceptor it does not
 * count as blocking (read is one, poll is not), and SA_RESTART then restarts the read, so the
 * handler that would end it never ran and the process did not exit on SIGTERM. The timeout
 * bounds the wait for any runtime that defers handlers that way. */
static int wait_for_signal(signal_watch *w)
{
    unsigned char b = 0;
    for (;;) {
        struct pollfd pfd = {.fd = w->fds[0], .events = POLLIN};
        int n = poll(&pfd, 1, SIGNAL_POLL_MS);
        if (n > 0 && read(w->fds[0], &b, 1) == 1)
            break;
        if (n < 0 && errno != EINTR)
            break; /* cannot happen with a valid pipe; stop rather than spin */
    }
    unwatch_signals(w);
    return b;
}

int silk_server_run(silk_server *srv)
{
    if (srv == NULL)
        return 1;
    signal_watch w;
    if (!watch_signals(&w)) {
        silk_log(SILK_LOG_ERROR, "server", "cannot watch signals errno=%d", errno);
        silk_server_free(srv);
        return 1;
    }
    if (!srv->started) {
        silk_status st = silk_server_start(srv);
        if (st != SILK_OK) {
            silk_log(SILK_LOG_ERROR, "server", "cannot start status=%s", silk_status_str(st));
            unwatch_signals(&w);
            silk_server_free(srv);
            return 1;
        }
    }
    int sig = wait_for_signal(&w);
    silk_log(SILK_LOG_INFO, "server", "signal received signal=%s",
             sig == SIGTERM  ? "TERM"
             : sig == SIGINT ? "INT"
                             : "?");
    silk_server_free(srv);
    return 0;
}
