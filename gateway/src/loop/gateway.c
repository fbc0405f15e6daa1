/* gateway.c - the gateway process: its loop, listener, inbox, signals, and what threads ask. */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>

#include <silk/log.h>
#include <silk/ws.h>

#include "conn/client.h"
#include "loop/gateway.h"
#include "loop/loop.h"
#include "loop/upstream.h"
#include "ws/frames.h"

#define LOG "gateway"

/* How long shutdown waits for every connection to finish, in seconds. */
#define SHUTDOWN_TIMEOUT 5.0

/* Seconds between sweeps that let idle sessions hibernate. */
#define SWEEP_INTERVAL 0.5

typedef silk__gw_cmd cmd;
typedef silk__gw_payload payload;

/* ============================================================================
 * The inbox: commands from other threads, run on the loop.
 * ========================================================================== */

/* push_list hands l the commands head..tail, linked through next, at once. */
static void push_list(silk__gw_loop *l, cmd *head, cmd *tail)
{
    tail->next = NULL;
    pthread_mutex_lock(&l->inbox_lock);
    if (l->inbox_tail != NULL)
        l->inbox_tail->next = head;
    else
        l->inbox_head = head;
    l->inbox_tail = tail;
    pthread_mutex_unlock(&l->inbox_lock);
    ev_async_send(l->ev, &l->inbox_w);
}

void silk__gw_loop_push(silk__gw_loop *l, cmd *k)
{
    push_list(l, k, k);
}

static void payload_unref(payload *p)
{
    if (p != NULL && atomic_fetch_sub(&p->refs, 1) == 1)
        free(p);
}

silk__gw_client *silk__gw_loop_find_client(silk__gw_loop *l, const char *session_id)
{
    silk__gw *gw = l->gw;
    pthread_mutex_lock(&gw->lock);
    silk__gw_session *s = silk__gw_sessions_find(&gw->sessions, session_id);
    silk__gw_client *c = s ? s->data : NULL;
    pthread_mutex_unlock(&gw->lock);
    return c != NULL && silk__gw_client_loop(c) == l ? c : NULL;
}

static void begin_shutdown(silk__gw_loop *l);

static void run_cmd(silk__gw_loop *l, cmd *k)
{
    silk__gw_client *c;
    switch (k->kind) {
    case SILK__GW_CMD_SEND:
        if ((c = silk__gw_loop_find_client(l, k->session_id)) != NULL)
            silk__gw_client_send(c, k->payload);
        payload_unref(k->payload);
        free(k);
        break;
    case SILK__GW_CMD_CLOSE:
        if ((c = silk__gw_loop_find_client(l, k->session_id)) != NULL)
            silk__gw_client_close_session(c, k->code, k->reason);
        free(k);
        break;
    case SILK__GW_CMD_SHUTDOWN:
        free(k);
        begin_shutdown(l);
        break;
    }
}

static void on_inbox(struct ev_loop *ev, ev_async *w, int revents)
{
    silk__gw_loop *l = w->data;
    (void)ev;
    (void)revents;
    pthread_mutex_lock(&l->inbox_lock);
    cmd *k = l->inbox_head;
    l->inbox_head = l->inbox_tail = NULL;
    pthread_mutex_unlock(&l->inbox_lock);
    while (k != NULL) {
        cmd *next = k->next;
        run_cmd(l, k);
        k = next;
    }
    silk__gw_upstream_run_tasks(l);
    silk__gw_client_flush(l);
}

/* on_sweep lets idle sessions hibernate, twice a second: often enough that an idle session
 * soon costs under 1 KiB, seldom enough that a busy one keeps its wslay context; and enforces
 * the deadlines of the loop's own calls. */
static void on_sweep(struct ev_loop *ev, ev_timer *w, int revents)
{
    (void)ev;
    (void)revents;
    silk__gw_client_sweep(w->data);
    silk__gw_upstream_tick(w->data);
}

/* ============================================================================
 * What other threads may ask: sends and closes, handed to the owning loop.
 * ========================================================================== */

static cmd *cmd_new(silk__gw_cmd_kind kind, const char *session_id)
{
    cmd *k = calloc(1, sizeof *k);
    if (k == NULL)
        return NULL;
    k->kind = kind;
    snprintf(k->session_id, sizeof k->session_id, "%s", session_id);
    return k;
}

static payload *payload_new(int binary, const void *data, size_t len)
{
    payload *p = malloc(sizeof *p + len);
    if (p == NULL)
        return NULL;
    atomic_init(&p->refs, 1);
    p->binary = binary;
    p->len = len;
    if (len > 0)
        memcpy(p->data, data, len);
    return p;
}

/* owner returns the loop of a session; the caller holds gw->lock. */
static silk__gw_loop *owner(silk__gw_session *s)
{
    return silk__gw_client_loop(s->data);
}

silk_status silk__gw_send(silk__gw *gw, const char *session_id, int binary, const void *data,
                          size_t len)
{
    if (strlen(session_id) > SILK__GW_SESSION_ID_MAX)
        return SILK_NOT_FOUND;
    payload *p = payload_new(binary, data, len);
    cmd *k = cmd_new(SILK__GW_CMD_SEND, session_id);
    if (p == NULL || k == NULL) {
        free(p);
        free(k);
        return SILK_RESOURCE_EXHAUSTED;
    }
    k->payload = p;
    pthread_mutex_lock(&gw->lock);
    silk__gw_session *s = silk__gw_sessions_find(&gw->sessions, session_id);
    silk__gw_loop *l = s ? owner(s) : NULL;
    pthread_mutex_unlock(&gw->lock);
    if (l == NULL) {
        payload_unref(p);
        free(k);
        return SILK_NOT_FOUND;
    }
    silk__gw_loop_push(l, k);
    return SILK_OK;
}

/* send_visit gathers a business's sends per loop while the session table is locked; they are
 * handed over after it is unlocked, one inbox run per loop. */
typedef struct send_visit {
    payload *p;
    cmd **head, **tail; /* per loop, by index */
    size_t queued;
    bool nomem;
} send_visit;

static void send_one(silk__gw_session *s, void *arg)
{
    send_visit *v = arg;
    cmd *k = cmd_new(SILK__GW_CMD_SEND, s->id);
    if (k == NULL) {
        v->nomem = true;
        return;
    }
    atomic_fetch_add(&v->p->refs, 1);
    k->payload = v->p;
    size_t i = owner(s)->index;
    if (v->tail[i] != NULL)
        v->tail[i]->next = k;
    else
        v->head[i] = k;
    v->tail[i] = k;
    v->queued++;
}

silk_status silk__gw_send_business(silk__gw *gw, const char *route, const char *business_id,
                                   int binary, const void *data, size_t len, size_t *delivered)
{
    size_t n = gw->opts.workers;
    send_visit v = {.p = payload_new(binary, data, len),
                    .head = calloc(n, sizeof *v.head),
                    .tail = calloc(n, sizeof *v.tail)};
    *delivered = 0;
    silk_status st = SILK_RESOURCE_EXHAUSTED;
    if (v.p != NULL && v.head != NULL && v.tail != NULL) {
        pthread_mutex_lock(&gw->lock);
        silk__gw_sessions_business(&gw->sessions, route, business_id, send_one, &v);
        pthread_mutex_unlock(&gw->lock);
        for (size_t i = 0; i < n; i++)
            if (v.head[i] != NULL)
                push_list(gw->loops[i], v.head[i], v.tail[i]);
        *delivered = v.queued;
        st = v.nomem ? SILK_RESOURCE_EXHAUSTED : SILK_OK;
    }
    payload_unref(v.p);
    free(v.head);
    free(v.tail);
    return st;
}

silk_status silk__gw_close_session(silk__gw *gw, const char *session_id, uint16_t code,
                                   const char *reason)
{
    if (!silk__gw_ws_close_code_sendable(code))
        return SILK_INVALID_ARGUMENT;
    if (strlen(session_id) > SILK__GW_SESSION_ID_MAX)
        return SILK_NOT_FOUND;
    cmd *k = cmd_new(SILK__GW_CMD_CLOSE, session_id);
    if (k == NULL)
        return SILK_RESOURCE_EXHAUSTED;
    k->code = code;
    snprintf(k->reason, sizeof k->reason, "%s", reason ? reason : "");
    pthread_mutex_lock(&gw->lock);
    silk__gw_session *s = silk__gw_sessions_find(&gw->sessions, session_id);
    silk__gw_loop *l = s ? owner(s) : NULL;
    pthread_mutex_unlock(&gw->lock);
    if (l == NULL) {
        free(k);
        return SILK_NOT_FOUND;
    }
    silk__gw_loop_push(l, k);
    return SILK_OK;
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
        int fd = accept4(l->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
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
        if (total_clients(l->gw) >= l->gw->opts.max_connections) {
            static const char busy[] =
                "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                "Content-Length: 46\r\nConnection: close\r\n\r\n"
                "{\"code\":14,\"message\":\"too many connections\"}\n";
            ssize_t n = send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL);
            (void)n;
            close(fd);
            continue;
        }
        if (silk__gw_client_open(l, fd) == NULL) {
            silk_log(SILK_LOG_WARN, LOG, "out of memory accepting a connection");
            close(fd);
        }
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

static void begin_shutdown(silk__gw_loop *l)
{
    if (l->stopping) {
        ev_break(l->ev, EVBREAK_ALL); /* a second signal: stop now */
        for (size_t i = 1; l->index == 0 && i < l->gw->opts.workers; i++) {
            cmd *k = calloc(1, sizeof *k);
            if (k != NULL) {
                k->kind = SILK__GW_CMD_SHUTDOWN;
                silk__gw_loop_push(l->gw->loops[i], k);
            }
        }
        return;
    }
    l->stopping = true;
    if (l->index == 0) {
        /* The signal came to the main loop: tell the others. */
        for (size_t i = 1; i < l->gw->opts.workers; i++) {
            cmd *k = calloc(1, sizeof *k);
            if (k != NULL) {
                k->kind = SILK__GW_CMD_SHUTDOWN;
                silk__gw_loop_push(l->gw->loops[i], k);
            }
        }
    }
    pthread_mutex_lock(&l->gw->lock);
    size_t n_sessions = silk__gw_sessions_count(&l->gw->sessions);
    pthread_mutex_unlock(&l->gw->lock);
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

/* ============================================================================
 * The gateway
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

/* loop_init makes loop number index: loop 0 is libev's default loop, which takes the signals;
 * with several workers each loop listens on its own socket of the same port (SO_REUSEPORT),
 * and the kernel spreads the connections. */
static int loop_init(silk__gw_loop *l, silk__gw *gw, size_t index)
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
    pthread_mutex_init(&l->inbox_lock, NULL);
    pthread_mutex_init(&l->metrics_lock, NULL);
    ev_io_init(&l->accept_w, on_accept, l->listen_fd, EV_READ);
    ev_timer_init(&l->accept_pause_w, on_accept_pause, 1., 0.);
    ev_async_init(&l->inbox_w, on_inbox);
    ev_signal_init(&l->sigterm_w, on_signal, SIGTERM);
    ev_signal_init(&l->sigint_w, on_signal, SIGINT);
    ev_timer_init(&l->shutdown_w, on_shutdown_timeout, SHUTDOWN_TIMEOUT, 0.);
    ev_timer_init(&l->sweep_w, on_sweep, SWEEP_INTERVAL, SWEEP_INTERVAL);
    l->accept_w.data = l->accept_pause_w.data = l->inbox_w.data = l;
    l->sigterm_w.data = l->sigint_w.data = l->shutdown_w.data = l->sweep_w.data = l;
    ev_io_start(l->ev, &l->accept_w);
    ev_async_start(l->ev, &l->inbox_w);
    ev_timer_start(l->ev, &l->sweep_w);
    if (index == 0) {
        ev_signal_start(l->ev, &l->sigterm_w);
        ev_signal_start(l->ev, &l->sigint_w);
    }
    return 0;
}

/* loop_fini runs after every producer of commands has stopped: it closes what is left, runs
 * the last commands (completions of cancelled calls) and frees the loop's resources. */
static void loop_fini(silk__gw_loop *l)
{
    while (l->clients != NULL)
        silk__gw_client_close(l->clients, "shutdown");
    on_inbox(l->ev, &l->inbox_w, 0);
    ev_io_stop(l->ev, &l->accept_w);
    ev_timer_stop(l->ev, &l->accept_pause_w);
    ev_async_stop(l->ev, &l->inbox_w);
    ev_signal_stop(l->ev, &l->sigterm_w);
    ev_signal_stop(l->ev, &l->sigint_w);
    ev_timer_stop(l->ev, &l->shutdown_w);
    ev_timer_stop(l->ev, &l->sweep_w);
    free(l->dirty);
    if (l->listen_fd >= 0)
        close(l->listen_fd);
    pthread_mutex_destroy(&l->inbox_lock);
    ev_loop_destroy(l->ev);
    silk__gw_metrics_fini(&l->metrics);
    pthread_mutex_destroy(&l->metrics_lock);
}

static void *loop_thread(void *arg)
{
    silk__gw_loop *l = arg;
    ev_run(l->ev, 0);
    return NULL;
}

static void close_channels(silk__gw *gw)
{
    for (size_t i = 0; gw->channels != NULL && i < gw->n_services; i++)
        silk_channel_close(gw->channels[i]);
    free(gw->channels);
    gw->channels = NULL;
}

/* gw_fini frees what silk__gw_run set up, after the loops are done with it. */
static void gw_fini(silk__gw *gw, size_t n_loops)
{
    for (size_t i = 0; i < n_loops; i++)
        silk__gw_upstream_fini(gw->loops[i]);
    close_channels(gw);
    for (size_t i = 0; i < n_loops; i++) {
        loop_fini(gw->loops[i]);
        free(gw->loops[i]);
    }
    free(gw->loops);
    free(gw->hooks);
    silk__gw_sessions_fini(&gw->sessions);
    pthread_mutex_destroy(&gw->lock);
}

int silk__gw_run(const silk__gw_opts *opts, const silk_service_desc *const *services,
                 size_t n_services)
{
    silk__gw gw = {.opts = *opts, .services = services, .n_services = n_services};
    size_t n_loops = 0;
    int code = 1;

    if (gw.opts.workers == 0)
        gw.opts.workers = 1;
    pthread_mutex_init(&gw.lock, NULL);
    atomic_init(&gw.hooks_off, false);
    gw.loops = calloc(gw.opts.workers, sizeof *gw.loops);
    gw.hooks = calloc(n_services ? n_services : 1, sizeof *gw.hooks);
    gw.channels = calloc(n_services ? n_services : 1, sizeof *gw.channels);
    if (gw.loops == NULL || gw.hooks == NULL || gw.channels == NULL ||
        silk__gw_sessions_init(&gw.sessions) != 0) {
        silk_log(SILK_LOG_ERROR, LOG, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n_services; i++) {
        silk_status st = silk_channel_open_service(&gw.channels[i], services[i]);
        if (st != SILK_OK) {
            silk_log(SILK_LOG_ERROR, LOG, "cannot open a channel service=%s status=%s",
                     services[i]->name, silk_status_str(st));
            goto out;
        }
    }
    for (; n_loops < gw.opts.workers; n_loops++) {
        silk__gw_loop *l = calloc(1, sizeof *l);
        if (l == NULL || loop_init(l, &gw, n_loops) != 0) {
            free(l);
            goto out;
        }
        gw.loops[n_loops] = l;
    }
    silk_status st = silk__gw_session_manager_start(&gw);
    if (st != SILK_OK) {
        silk_log(SILK_LOG_ERROR, LOG, "cannot serve %s status=%s", SILK_WS_SESSION_MANAGER,
                 silk_status_str(st));
        goto out;
    }
    for (size_t i = 1; i < n_loops; i++) {
        silk__gw_loop *l = gw.loops[i];
        l->has_thread = pthread_create(&l->thread, NULL, loop_thread, l) == 0;
        if (!l->has_thread)
            silk_log(SILK_LOG_WARN, LOG, "cannot start worker %zu: it will not accept", i);
    }
    silk_log(SILK_LOG_INFO, LOG, "listening on %s:%s id=%s services=%zu workers=%zu", opts->host,
             opts->port, opts->id, n_services, n_loops);
    ev_run(gw.loops[0]->ev, 0);
    for (size_t i = 1; i < n_loops; i++)
        if (gw.loops[i]->has_thread)
            pthread_join(gw.loops[i]->thread, NULL);

    atomic_store(&gw.hooks_off, true);
    silk__gw_session_manager_stop(&gw);
    silk_log(SILK_LOG_INFO, LOG, "stopped id=%s", opts->id);
    code = 0;
out:
    atomic_store(&gw.hooks_off, true);
    silk__gw_session_manager_stop(&gw);
    gw_fini(&gw, n_loops);
    return code;
}
