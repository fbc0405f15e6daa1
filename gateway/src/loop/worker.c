/* worker.c - one worker: a loop with its listener, accepting clients, running what other threads
 * post to it, sweeping idle sessions, and shutting down on a signal. */
#define _GNU_SOURCE /* accept4 */
#include <assert.h>
#include <errno.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>

#include <silk/log.h>

#include "conn/client.h"
#include "loop/gateway.h"
#include "core/mutex.h"
#include "loop/loop.h"
#include "loop/upstream.h"
#include "loop/worker.h"
#include "streams/streams.h"
#include "tls/tls.h"

#define LOG "gateway"

/* How long shutdown waits for every connection to finish, in seconds. */
#define SHUTDOWN_TIMEOUT 5.0

/* Seconds between sweeps that let idle sessions hibernate. */
#define SWEEP_INTERVAL 0.5

/* ============================================================================
 * The queue and the sweep
 * ========================================================================== */

/* run_queue runs what other threads posted, then writes out together what it queued for
 * sessions (a session given several messages sends them at once). */
static void run_queue(silk__gw_loop *l)
{
    SILK__GW_ASSERT_ON_LOOP(l);
    silk__gw_loop_run_queue(l);
    silk__gw_client_flush(l);
}

static void on_queue(struct ev_loop *ev, ev_async *w, int revents)
{
    (void)ev;
    (void)revents;
    run_queue(w->data);
}

/* How long a refused connection lingers before it is closed, in seconds. */
#define LINGER_SECONDS 1.0

/* drain_and_close drops what a refused client sent, then closes its socket: closing with unread
 * bytes would send a reset. */
static void drain_and_close(silk__gw_loop *l, int fd)
{
    for (int i = 0; i < 4 && recv(fd, l->rbuf, sizeof l->rbuf, MSG_DONTWAIT) > 0; i++)
        ;
    close(fd);
}

/* linger_sweep closes the refused connections that have lingered long enough (all of them
 * with all set). */
static void linger_sweep(silk__gw_loop *l, ev_tstamp now, bool all)
{
    while (l->n_lingering > 0) {
        size_t i = l->linger_head;
        if (!all && now - l->lingering[i].since < LINGER_SECONDS)
            break;
        drain_and_close(l, l->lingering[i].fd);
        l->linger_head = (i + 1) % SILK__GW_LINGER_MAX;
        l->n_lingering--;
    }
}

/* linger keeps a refused, answered connection open a while, half-closed: its request, sent
 * before it read the answer, then arrives at an open socket instead of one that would reset
 * the connection and destroy the answer. */
static void linger(silk__gw_loop *l, int fd)
{
    shutdown(fd, SHUT_WR);
    if (l->n_lingering == SILK__GW_LINGER_MAX) {
        drain_and_close(l, l->lingering[l->linger_head].fd);
        l->linger_head = (l->linger_head + 1) % SILK__GW_LINGER_MAX;
        l->n_lingering--;
    }
    size_t at = (l->linger_head + l->n_lingering) % SILK__GW_LINGER_MAX;
    l->lingering[at].fd = fd;
    l->lingering[at].since = ev_now(l->ev);
    l->n_lingering++;
}

/* on_sweep lets idle sessions hibernate, twice a second: often enough that an idle session
 * soon costs under 1 KiB, seldom enough that a busy one keeps its wslay context; closes the
 * sessions whose token has expired (half a second is fine for a claim in whole seconds);
 * enforces the deadlines of the loop's own calls; closes refused connections that lingered;
 * and, on loop 0, lets the limits forget idle addresses. */
static void on_sweep(struct ev_loop *ev, ev_timer *w, int revents)
{
    (void)revents;
    silk__gw_loop *l = w->data;
    silk__gw_client_sweep(l);
    silk__gw_upstream_tick(l);
    linger_sweep(l, ev_now(ev), false);
    if (l->index == 0) {
        silk__gw_peers_sweep(&l->gw->peers, ev_now(ev));
        silk__gw_store_sweep(l->gw, ev_now(ev));
    }
}

/* ============================================================================
 * Listening and accepting
 * ========================================================================== */

/* listen_on makes a listening socket; with reuse_port, several may share the port. */
static int listen_on(const char *host, const char *port, bool reuse_port)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res;
    int rv = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (rv != 0) {
        silk_log(SILK_LOG_ERROR, LOG, "cannot resolve listen address host=%s error=\"%s\"", host,
                 gai_strerror(rv));
        return -1;
    }
    int fd = -1, err = 0;
    for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (reuse_port)
            setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
            err = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        silk_log(SILK_LOG_ERROR, LOG, "cannot listen host=%s port=%s error=\"%s\"", host, port,
                 strerror(err));
    return fd;
}

/* total_clients counts the connections of every loop. */
static size_t total_clients(silk__gw *gw)
{
    size_t n = 0;
    for (size_t i = 0; i < gw->opts.workers; i++)
        n += atomic_load(&gw->loops[i]->n_clients);
    return n;
}

/* The answers to a connection refused when it is accepted, before it has sent anything. */
#define BUSY_ANSWER(body)                                                                          \
    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: "       \
    "%zu\r\nConnection: close\r\n\r\n" body
static const char busy_body[] = "{\"code\":14,\"message\":\"too many connections\"}\n";
static const char busy_address_body[] =
    "{\"code\":14,\"message\":\"too many connections from this address\"}\n";

/* refuse answers a connection refused when accepted with 503 and body, and lets it linger; a
 * TLS port, which cannot answer in plain text, only closes it. */
static void refuse(silk__gw_loop *l, int fd, const char *body)
{
    char answer[256];
    if (l->tls_ctx != NULL) {
        close(fd);
        return;
    }
    int len = snprintf(answer, sizeof answer, BUSY_ANSWER("%s"), strlen(body), body);
    ssize_t n = send(fd, answer, (size_t)len, MSG_NOSIGNAL);
    (void)n;
    linger(l, fd);
}

/* admit serves an accepted connection, or refuses it: past --max-connections, or past its
 * address's cap. */
static void admit(silk__gw_loop *l, int fd, const struct sockaddr_storage *ss, socklen_t len)
{
    if (total_clients(l->gw) >= l->gw->opts.max_connections) {
        pthread_mutex_lock(&l->metrics_lock);
        l->metrics.refused_max_connections++;
        pthread_mutex_unlock(&l->metrics_lock);
        refuse(l, fd, busy_body);
        return;
    }
    silk__gw_addr peer;
    bool has_peer = silk__gw_addr_from_sockaddr((const struct sockaddr *)ss, len, &peer);
    silk__gw_client_limits limits;
    if (silk__gw_limits_admit(l, has_peer ? &peer : NULL, &limits) != 0) {
        refuse(l, fd, busy_address_body);
        return;
    }
    if (silk__gw_client_open(l, fd, &limits) == NULL) {
        silk_log(SILK_LOG_WARN, LOG, "out of memory accepting a connection");
        silk__gw_limits_release(l, &limits);
        close(fd);
    }
}

static void on_accept_pause(struct ev_loop *ev, ev_timer *w, int revents)
{
    silk__gw_loop *l = w->data;
    (void)revents;
    if (!l->stopping)
        ev_io_start(ev, &l->accept_w);
}

static void on_accept(struct ev_loop *ev, ev_io *w, int revents)
{
    silk__gw_loop *l = w->data;
    (void)revents;
    /* A bounded batch per wake-up, so that a flood of connections cannot starve the rest. */
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int fd = accept4(l->listen_fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* Out of descriptors: stop accepting for a second rather than spin. */
                silk_log(SILK_LOG_WARN, LOG, "cannot accept error=\"%s\" connections=%zu",
                         strerror(errno), l->n_clients);
                ev_io_stop(ev, &l->accept_w);
                ev_timer_set(&l->accept_pause_w, 1., 0.);
                ev_timer_start(ev, &l->accept_pause_w);
            }
            return;
        }
        admit(l, fd, &ss, len);
    }
}

/* ============================================================================
 * Shutdown: SIGTERM or SIGINT closes every session with 1001 and stops the loop.
 * ========================================================================== */

static void on_shutdown_timeout(struct ev_loop *ev, ev_timer *w, int revents)
{
    silk__gw_loop *l = w->data;
    (void)revents;
    silk_log(SILK_LOG_WARN, LOG, "shutdown timed out connections=%zu", l->n_clients);
    ev_break(ev, EVBREAK_ALL);
}

static void begin_shutdown(silk__gw_loop *l);

/* A shutdown handed to another loop: begin shutting down, or, when it has begun, stop now. */
typedef struct shutdown_cmd {
    silk_loop_task task; /* first: run_shutdown casts the task back */
    silk__gw_loop *loop;
} shutdown_cmd;
static_assert(offsetof(shutdown_cmd, task) == 0, "run_shutdown casts its task to the shutdown");

static void run_shutdown(silk_loop_task *task)
{
    silk__gw_loop *l = ((shutdown_cmd *)task)->loop;
    free(task);
    begin_shutdown(l);
}

/* tell_others hands the shutdown on from loop 0, which takes the signals, to the other loops. */
static void tell_others(silk__gw_loop *l)
{
    for (size_t i = 1; l->index == 0 && i < l->gw->opts.workers; i++) {
        shutdown_cmd *k = calloc(1, sizeof *k);
        if (k != NULL) {
            k->task.run = run_shutdown;
            k->loop = l->gw->loops[i];
            silk__gw_loop_post(k->loop, &k->task);
        }
    }
}

static void begin_shutdown(silk__gw_loop *l)
{
    SILK__GW_ASSERT_ON_LOOP(l);
    tell_others(l);
    if (l->stopping) {
        ev_break(l->ev, EVBREAK_ALL); /* a second signal: stop now */
        return;
    }
    l->stopping = true;
    silk__mutex_lock(&l->gw->lock);
    size_t n_sessions = silk__gw_sessions_count(&l->gw->sessions);
    silk__mutex_unlock(&l->gw->lock);
    silk_log(SILK_LOG_INFO, LOG, "shutting down sessions=%zu connections=%zu", n_sessions,
             l->n_clients);
    ev_io_stop(l->ev, &l->accept_w);
    ev_timer_stop(l->ev, &l->accept_pause_w);
    close(l->listen_fd);
    l->listen_fd = -1;

    silk__gw_client_shutdown_all(l);
    if (l->n_clients == 0 && l->hook_calls == 0) {
        ev_break(l->ev, EVBREAK_ALL);
        return;
    }
    ev_timer_set(&l->shutdown_w, SHUTDOWN_TIMEOUT, 0.);
    ev_timer_start(l->ev, &l->shutdown_w);
}

static void on_signal(struct ev_loop *ev, ev_signal *w, int revents)
{
    (void)ev;
    (void)revents;
    begin_shutdown(w->data);
}

/* on_hangup reloads the TLS certificate (SIGHUP, on loop 0). */
static void on_hangup(struct ev_loop *ev, ev_signal *w, int revents)
{
    silk__gw_loop *l = w->data;
    (void)ev;
    (void)revents;
    silk__gw_tls_reload(l->gw);
}

/* ============================================================================
 * Opening and closing
 * ========================================================================== */

/* bound_port writes the port a socket is bound to; -1 when it cannot tell. */
static int bound_port(int fd, char *out, size_t size)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return -1;
    unsigned port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                             : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    snprintf(out, size, "%u", port);
    return 0;
}

int silk__gw_worker_open(silk__gw_loop *l, silk__gw *gw, size_t index)
{
    memset(l, 0, sizeof *l);
    l->gw = gw;
    l->index = index;
    bool many = gw->opts.workers > 1;
    char port[16];
    snprintf(port, sizeof port, "%s", gw->opts.port);
    if (index > 0 && bound_port(gw->loops[0]->listen_fd, port, sizeof port) != 0)
        return -1;
    l->listen_fd = listen_on(gw->opts.host, port, many);
    if (l->listen_fd < 0)
        return -1;
    l->ev = index == 0 ? ev_default_loop(EVFLAG_AUTO) : ev_loop_new(EVFLAG_AUTO);
    if (l->ev == NULL) {
        close(l->listen_fd);
        return -1;
    }
    if (silk__gw_upstream_init(l) != 0) {
        silk__gw_upstream_fini(l);
        ev_loop_destroy(l->ev);
        close(l->listen_fd);
        return -1;
    }
    pthread_mutex_init(&l->queue_lock, NULL);
    pthread_mutex_init(&l->metrics_lock, NULL);
    ev_io_init(&l->accept_w, on_accept, l->listen_fd, EV_READ);
    ev_timer_init(&l->accept_pause_w, on_accept_pause, 1., 0.);
    ev_async_init(&l->queue_w, on_queue);
    ev_signal_init(&l->sigterm_w, on_signal, SIGTERM);
    ev_signal_init(&l->sigint_w, on_signal, SIGINT);
    ev_signal_init(&l->sighup_w, on_hangup, SIGHUP);
    ev_timer_init(&l->shutdown_w, on_shutdown_timeout, SHUTDOWN_TIMEOUT, 0.);
    ev_timer_init(&l->sweep_w, on_sweep, SWEEP_INTERVAL, SWEEP_INTERVAL);
    l->accept_w.data = l->accept_pause_w.data = l->queue_w.data = l;
    l->sigterm_w.data = l->sigint_w.data = l->shutdown_w.data = l->sweep_w.data = l;
    l->sighup_w.data = l;
    l->tls_ctx = gw->tls_ctx != NULL ? silk__gw_tls_ctx_hold(gw->tls_ctx) : NULL;
    ev_io_start(l->ev, &l->accept_w);
    ev_async_start(l->ev, &l->queue_w);
    ev_timer_start(l->ev, &l->sweep_w);
    if (index == 0) {
        ev_signal_start(l->ev, &l->sigterm_w);
        ev_signal_start(l->ev, &l->sigint_w);
        ev_signal_start(l->ev, &l->sighup_w);
    }
    return 0;
}

void silk__gw_worker_close(silk__gw_loop *l)
{
    while (l->clients != NULL)
        silk__gw_client_close(l->clients, "shutdown");
    linger_sweep(l, 0, true);
    run_queue(l);
    ev_io_stop(l->ev, &l->accept_w);
    ev_timer_stop(l->ev, &l->accept_pause_w);
    ev_async_stop(l->ev, &l->queue_w);
    ev_signal_stop(l->ev, &l->sigterm_w);
    ev_signal_stop(l->ev, &l->sigint_w);
    ev_signal_stop(l->ev, &l->sighup_w);
    ev_timer_stop(l->ev, &l->shutdown_w);
    ev_timer_stop(l->ev, &l->sweep_w);
    free(l->dirty);
    silk__spares_fini(&l->spare_hook_calls);
    silk__spares_fini(&l->spare_http_calls);
    silk__gw_tls_ctx_free(l->tls_ctx);
    l->tls_ctx = NULL;
    if (l->listen_fd >= 0)
        close(l->listen_fd);
    pthread_mutex_destroy(&l->queue_lock);
    ev_loop_destroy(l->ev);
    silk__gw_metrics_fini(&l->metrics);
    pthread_mutex_destroy(&l->metrics_lock);
}
