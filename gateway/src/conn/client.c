/* client.c - one client connection: its socket, state machine and timer, opening and closing. */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>

#include <silk/log.h>

#include "conn/client.h"
#include "core/mutex.h"
#include "sessions/directory.h"
#include "tls/tls.h"
#include "streams/streams.h"

#define LOG "gateway"

/* How long a session we close may take to answer our close frame, in seconds. */
#define CLOSE_TIMEOUT 5.0

typedef silk__gw_client client;

/* ============================================================================
 * The state machine
 * ========================================================================== */

static void set_watcher(struct ev_loop *ev, ev_io *w, bool on)
{
    if (on && !ev_is_active(w))
        ev_io_start(ev, w);
    else if (!on && ev_is_active(w))
        ev_io_stop(ev, w);
}

/* update_watchers watches c's socket for what its state needs, and for what TLS waits for.
 * While a request is answered the read watcher is left as it is: stopping it and starting it
 * again for the next request would cost an epoll_ctl per request. on_readable stops it if the
 * client sends meanwhile. Bytes TLS holds decrypted already will not make the socket readable:
 * reading is fed to the loop instead. */
static void update_watchers(client *c)
{
    bool r = ev_is_active(&c->rio), w = c->out != NULL;
    switch (c->state) {
    case SILK__GW_CLIENT_READING:
        r = true;
        break;
    case SILK__GW_CLIENT_CALLING:
    case SILK__GW_CLIENT_WRITING:
        break;
    case SILK__GW_CLIENT_WS:
        r = silk__gw_ws_want_read(c->ws) && c->backlog == NULL &&
            !silk__gw_limits_reading_paused(c);
        w = w || silk__gw_ws_want_write(c->ws);
        break;
    }
    r = r || c->io.write_wants_read;
    w = w || c->io.read_wants_write;
    set_watcher(c->loop->ev, &c->rio, r);
    set_watcher(c->loop->ev, &c->wio, w);
    if (r && silk__gw_io_pending(&c->io) > 0)
        ev_feed_event(c->loop->ev, &c->rio, EV_READ);
}

/* flush_out writes the pending response: 1 when all of it is written, 0 when the socket
 * would block, -1 on a socket error. */
static int flush_out(client *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = silk__gw_io_write(&c->io, c->out + c->out_off, c->out_len - c->out_off);
        if (n == SILK__GW_IO_AGAIN)
            return 0;
        if (n < 0)
            return -1;
        c->out_off += (size_t)n;
    }
    free(c->out);
    c->out = NULL;
    c->out_len = c->out_off = 0;
    return 1;
}

/* write_out writes the pending response and, once it is out, closes the connection or readies
 * it for the next request. It returns 1 when it is out, 0 when the socket would block, -1 when
 * it closed (and freed) c. */
static int write_out(client *c)
{
    int rv = flush_out(c);
    if (rv < 0) {
        silk__gw_client_close(c, "send failed");
        return -1;
    }
    if (rv == 0)
        return 0;
    if (c->close_after) {
        silk__gw_client_close(c, NULL);
        return -1;
    }
    if (c->state == SILK__GW_CLIENT_WRITING) {
        silk__gw_http_reset(c->http);
        c->state = SILK__GW_CLIENT_READING;
        c->continued = false;
        c->req_start = 0;
        c->req_route = NULL;
    }
    return 1;
}

/* watch_head keeps the deadline of the request head being read (--header-timeout), which
 * --idle-timeout alone would not end while a client sends a byte now and then: it starts with
 * a head's first bytes (a connection's first head: when it is accepted) and ends once the head
 * is complete. The timer is brought forward when it would fire later. */
static void watch_head(client *c)
{
    silk__gw_client_limits *lim = &c->limits;
    if (c->state != SILK__GW_CLIENT_READING || silk__gw_http_headers_complete(c->http)) {
        lim->head_deadline = 0;
        return;
    }
    if (lim->head_deadline > 0 || !silk__gw_http_started(c->http))
        return;
    struct ev_loop *ev = c->loop->ev;
    double timeout = c->loop->gw->opts.header_timeout;
    lim->head_deadline = ev_now(ev) + timeout;
    if (ev_timer_remaining(ev, &c->timer) > timeout) {
        ev_timer_stop(ev, &c->timer);
        ev_timer_set(&c->timer, timeout, 0.);
        ev_timer_start(ev, &c->timer);
    }
}

/* parse_in feeds the parser the bytes read after the last request, and acts on what it says.
 * It returns 0, or -1 when it closed (and freed) c. */
static int parse_in(client *c)
{
    size_t used;
    int parsed = silk__gw_http_feed(c->http, c->in + c->in_off, c->in_len - c->in_off, &used);
    c->in_off += used;
    if (c->in_off == c->in_len) {
        free(c->in);
        c->in = NULL;
        c->in_len = c->in_off = 0;
    }
    watch_head(c);
    if (silk__gw_request_act(c, parsed) != 0) {
        silk__gw_client_close(c, "cannot answer");
        return -1;
    }
    return 0;
}

int silk__gw_client_drive(client *c)
{
    SILK__GW_ASSERT_ON_LOOP(c->loop);
    for (;;) {
        /* A response written at once left no c->out: it ends here as one written later. */
        if (c->out != NULL || c->state == SILK__GW_CLIENT_WRITING) {
            int rv = write_out(c);
            if (rv < 0)
                return -1;
            if (rv == 0)
                break;
        }
        if (c->state == SILK__GW_CLIENT_READING && c->in != NULL) {
            if (parse_in(c) != 0)
                return -1;
            continue;
        }
        if (c->state == SILK__GW_CLIENT_WS && c->out == NULL &&
            ((silk__gw_ws_want_write(c->ws) && silk__gw_ws_write(c->ws) != 0) ||
             silk__gw_ws_finished(c->ws))) {
            silk__gw_client_close(c, NULL);
            return -1;
        }
        break;
    }
    /* A close wslay queued itself (the client's close answered, a protocol error) counts
     * like ours: the session takes no more pushes and has CLOSE_TIMEOUT to finish. */
    if (c->state == SILK__GW_CLIENT_WS && c->closing_since == 0 && silk__gw_ws_closing(c->ws))
        silk__gw_client_closing(c);
    update_watchers(c);
    return 0;
}

/* ============================================================================
 * The socket and the timer
 * ========================================================================== */

/* keep_rest keeps what follows a complete request in what was read, the next request or
 * WebSocket frames, before the request is handled: an upgrade hands them to wslay. It returns
 * 0, or -1 when memory is exhausted. */
static int keep_rest(client *c, const char *rest, size_t len)
{
    c->in = malloc(len);
    if (c->in == NULL)
        return -1;
    memcpy(c->in, rest, len);
    c->in_len = len;
    c->in_off = 0;
    return 0;
}

/* maybe_continue sends "100 Continue" when the request's headers ask for it. The client waits
 * for this before it sends the body. What the socket does not take at once is kept in c->out,
 * ahead of the response: a TLS stream must be offered the same bytes again. */
static void maybe_continue(client *c)
{
    if (c->continued || c->out != NULL || !silk__gw_http_headers_complete(c->http) ||
        !silk__gw_http_header_has_token(&c->http->req, "Expect", "100-continue"))
        return;
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    size_t len = sizeof cont - 1;
    ssize_t sent = silk__gw_io_write(&c->io, cont, len);
    c->continued = true;
    if (sent == SILK__GW_IO_ERROR || (size_t)sent == len)
        return; /* a failed socket shows on the next read */
    size_t rest = len - (sent > 0 ? (size_t)sent : 0);
    if ((c->out = malloc(rest)) == NULL)
        return;
    memcpy(c->out, cont + (len - rest), rest);
    c->out_len = rest;
    c->out_off = 0;
}

int silk__gw_client_set_out(client *c, char *out, size_t len)
{
    size_t left = c->out != NULL ? c->out_len - c->out_off : 0;
    if (left > 0) {
        char *both = malloc(left + len);
        if (both == NULL) {
            free(out);
            return -1;
        }
        memcpy(both, c->out + c->out_off, left);
        memcpy(both + left, out, len);
        free(out);
        out = both;
    }
    free(c->out);
    c->out = out;
    c->out_len = left + len;
    c->out_off = 0;
    return 0;
}

/* read_http reads what the client sent into the loop's buffer and parses it. */
static void read_http(client *c)
{
    silk__gw_loop *l = c->loop;
    ssize_t n = silk__gw_io_read(&c->io, l->rbuf, sizeof l->rbuf);
    if (n == SILK__GW_IO_AGAIN) {
        update_watchers(c); /* TLS may wait for the socket to be writable */
        return;
    }
    if (n <= 0) {
        silk__gw_client_close(c, NULL);
        return;
    }
    size_t used;
    int parsed = silk__gw_http_feed(c->http, l->rbuf, (size_t)n, &used);
    if (parsed == SILK__GW_HTTP_DONE && used < (size_t)n &&
        keep_rest(c, l->rbuf + used, (size_t)n - used) != 0) {
        silk__gw_client_close(c, "out of memory");
        return;
    }
    if (parsed == SILK__GW_HTTP_MORE)
        maybe_continue(c);
    watch_head(c);
    if (silk__gw_request_act(c, parsed) != 0) {
        silk__gw_client_close(c, "cannot answer");
        return;
    }
    silk__gw_client_drive(c);
}

/* readable reads what c's socket has for it. */
static void readable(client *c)
{
    struct ev_loop *ev = c->loop->ev;
    if (c->io.write_wants_read) { /* TLS: a write waited for this */
        c->io.write_wants_read = false;
        silk__gw_client_drive(c);
        return;
    }
    if (c->state == SILK__GW_CLIENT_CALLING || c->state == SILK__GW_CLIENT_WRITING) {
        ev_io_stop(ev, &c->rio); /* the next request waits until this one is answered */
        return;
    }
    c->last_active = ev_now(ev);
    if (c->state != SILK__GW_CLIENT_WS) {
        read_http(c);
        return;
    }
    if (silk__gw_ws_read(c->ws) != 0) {
        silk__gw_client_close(c, NULL);
        return;
    }
    silk__gw_client_drive(c);
}

static void on_readable(struct ev_loop *ev, ev_io *w, int revents)
{
    (void)ev;
    (void)revents;
    readable(w->data);
}

static void on_writable(struct ev_loop *ev, ev_io *w, int revents)
{
    client *c = w->data;
    (void)ev;
    (void)revents;
    if (c->io.read_wants_write) { /* TLS: a read waited for this */
        c->io.read_wants_write = false;
        readable(c);
        return;
    }
    silk__gw_client_drive(c);
}

/* abort_if_stuck makes the close of c's socket a reset when bytes we wrote are still waiting in
 * the kernel: the client has not taken them for CLOSE_TIMEOUT, and a plain close would leave
 * them (up to the socket's send buffer) queued to a peer that never reads, for minutes. */
static void abort_if_stuck(client *c)
{
    int unsent = 0;
    if (ioctl(c->io.fd, SIOCOUTQ, &unsent) != 0 || unsent == 0)
        return;
    struct linger reset = {.l_onoff = 1, .l_linger = 0};
    setsockopt(c->io.fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
}

/* session_tick checks a session: closed without an answer to our close frame, silent for two
 * ping intervals, or due a ping. It returns the seconds until the next check, or -1 when it
 * closed (and freed) c. */
static ev_tstamp session_tick(client *c, ev_tstamp now, ev_tstamp idle)
{
    const silk__gw_opts *o = &c->loop->gw->opts;
    if (silk__gw_limits_reading_paused(c)) { /* --session-rate: the silence is ours */
        c->last_active = now;
        idle = 0;
    }
    if (c->closing_since > 0 && now - c->closing_since >= CLOSE_TIMEOUT) {
        abort_if_stuck(c);
        silk__gw_client_close(c, "no answer to close");
        return -1;
    }
    if (idle >= 2 * o->ping_interval) {
        silk__gw_client_close(c, "no pong");
        return -1;
    }
    if (c->closing_since > 0)
        return CLOSE_TIMEOUT - (now - c->closing_since);
    if (idle < o->ping_interval)
        return o->ping_interval - idle;
    silk__gw_ws_hold(c->ws, c->out != NULL);
    silk__gw_ws_ping(c->ws);
    if (silk__gw_client_drive(c) != 0)
        return -1;
    /* The drive may have found the session closing; the timer is armed from what we return. */
    return c->closing_since > 0 ? CLOSE_TIMEOUT : o->ping_interval;
}

/* head_timeout ends a connection whose request head did not arrive in time: 408, or, in the
 * middle of a TLS handshake, a failed handshake. */
static void head_timeout(client *c)
{
    silk__gw_loop *l = c->loop;
    pthread_mutex_lock(&l->metrics_lock);
    l->metrics.head_timeouts++;
    pthread_mutex_unlock(&l->metrics_lock);
    if (c->io.handshaking) {
        if (c->io.handshake_error == NULL)
            c->io.handshake_error = "timeout";
        silk__gw_client_close(c, "request head timeout");
        return;
    }
    c->limits.head_deadline = 0;
    if (c->out != NULL ||
        silk__gw_respond_error(c, 408, SILK_DEADLINE_EXCEEDED,
                               "the request head did not arrive in time", NULL, true) != 0) {
        silk__gw_client_close(c, "request head timeout");
        return;
    }
    silk__gw_client_drive(c);
}

static void on_timer(struct ev_loop *ev, ev_timer *w, int revents)
{
    client *c = w->data;
    const silk__gw_opts *o = &c->loop->gw->opts;
    ev_tstamp now = ev_now(ev);
    ev_tstamp idle = now - c->last_active;
    ev_tstamp next;
    (void)revents;

    switch (c->state) {
    case SILK__GW_CLIENT_CALLING: /* the call has its own deadline */
        next = o->idle_timeout;
        break;
    case SILK__GW_CLIENT_READING:
    case SILK__GW_CLIENT_WRITING:
        if (c->limits.head_deadline > 0 && now >= c->limits.head_deadline) {
            head_timeout(c);
            return;
        }
        if (idle >= o->idle_timeout) {
            if (c->io.handshaking && c->io.handshake_error == NULL)
                c->io.handshake_error = "timeout";
            silk__gw_client_close(c, "idle");
            return;
        }
        next = o->idle_timeout - idle;
        if (c->limits.head_deadline > 0 && c->limits.head_deadline - now < next)
            next = c->limits.head_deadline - now;
        break;
    case SILK__GW_CLIENT_WS:
    default:
        next = session_tick(c, now, idle);
        if (next < 0)
            return;
        break;
    }
    ev_timer_set(w, next, 0.);
    ev_timer_start(ev, w);
}

/* ============================================================================
 * Opening and closing
 * ========================================================================== */

silk__gw_client *silk__gw_client_open(silk__gw_loop *l, int fd,
                                      const silk__gw_client_limits *limits)
{
    SILK__GW_ASSERT_ON_LOOP(l);
    client *c = calloc(1, sizeof *c);
    if (c == NULL || (c->http = malloc(sizeof *c->http)) == NULL) {
        free(c);
        return NULL;
    }
    if (l->tls_ctx == NULL) {
        silk__gw_io_init_plain(&c->io, fd);
    } else if (silk__gw_tls_open(&c->io, l->tls_ctx, fd) != 0) {
        free(c->http);
        free(c);
        return NULL;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    silk__gw_http_parser_init(c->http);
    c->loop = l;
    c->state = SILK__GW_CLIENT_READING;
    c->last_active = ev_now(l->ev);
    c->limits = *limits;
    c->limits.head_deadline = c->last_active + l->gw->opts.header_timeout;
    double first = l->gw->opts.idle_timeout < l->gw->opts.header_timeout
                       ? l->gw->opts.idle_timeout
                       : l->gw->opts.header_timeout;
    ev_io_init(&c->rio, on_readable, fd, EV_READ);
    ev_io_init(&c->wio, on_writable, fd, EV_WRITE);
    ev_timer_init(&c->timer, on_timer, first, 0.);
    c->rio.data = c->wio.data = c->timer.data = c->limits.resume.data = c;
    ev_io_start(l->ev, &c->rio);
    ev_timer_start(l->ev, &c->timer);
    c->next = l->clients;
    if (l->clients != NULL)
        l->clients->prev = c;
    l->clients = c;
    l->n_clients++;
    return c;
}

/* close_session tells the service, removes c's session from the table and logs its end. */
static void close_session(client *c, const char *why)
{
    silk__gw *gw = c->loop->gw;
    silk__gw_hook_on_close(c);
    silk__gw_session_leave(gw, c->session_id, c->business_id);
    silk_log(SILK_LOG_INFO, LOG, "session closed session_id=%s code_sent=%u code_received=%u%s%s",
             c->session_id, silk__gw_ws_close_sent(c->ws), silk__gw_ws_close_received(c->ws),
             why ? " reason=" : "", why ? why : "");
}

/* close_socket stops c's watchers, ends its stream and closes its socket. */
static void close_socket(client *c)
{
    silk__gw_loop *l = c->loop;
    int fd = c->io.fd;
    ev_io_stop(l->ev, &c->rio);
    ev_io_stop(l->ev, &c->wio);
    ev_timer_stop(l->ev, &c->timer);
    silk__gw_io_end(&c->io);
    if (c->state != SILK__GW_CLIENT_WS) {
        /* Closing with unread bytes sends a reset, which can destroy the answer we just sent
         * (a 413 before the rest of the body): end our side and drop what has arrived. */
        shutdown(fd, SHUT_WR);
        for (int i = 0; i < 16 && recv(fd, l->rbuf, sizeof l->rbuf, MSG_DONTWAIT) > 0; i++)
            ;
    }
    close(fd);
}

/* count_tls_failure counts and logs a failed TLS handshake of c: not TLS at all (plaintext,
 * garbage), a version or cipher refused, an alert from the client, or none finished in time. */
static void count_tls_failure(client *c)
{
    silk__gw_loop *l = c->loop;
    pthread_mutex_lock(&l->metrics_lock);
    l->metrics.tls_handshake_failures++;
    pthread_mutex_unlock(&l->metrics_lock);
    silk_log(SILK_LOG_DEBUG, LOG, "TLS handshake failed reason=\"%s\"", c->io.handshake_error);
}

/* client_free frees c and what it holds, and takes it off its loop's list. */
static void client_free(client *c)
{
    silk__gw_loop *l = c->loop;
    if (c->http != NULL) {
        silk__gw_http_parser_fini(c->http);
        free(c->http);
    }
    silk__gw_ws_free(c->ws);
    silk__gw_stream_close(c);
    silk__gw_hook_backlog_free(c);
    silk__gw_jwt_claims_fini(&c->auth);
    silk__gw_limits_release(l, &c->limits);
    free(c->business_id);
    free(c->in);
    free(c->out);
    for (size_t i = 0; c->dirty && i < l->n_dirty; i++)
        if (l->dirty[i] == c)
            l->dirty[i] = NULL;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        l->clients = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    l->n_clients--;
    free(c);
}

void silk__gw_client_close(client *c, const char *why)
{
    SILK__GW_ASSERT_ON_LOOP(c->loop);
    silk__gw_loop *l = c->loop;
    if (c->io.handshake_error != NULL)
        count_tls_failure(c);
    if (c->opened)
        close_session(c, why);
    else if (why != NULL)
        silk_log(SILK_LOG_DEBUG, LOG, "connection closed reason=%s", why);
    if (c->call != NULL)
        c->call->client = NULL;
    if (c->message_call != NULL)
        c->message_call->client = NULL;
    if (c->health != NULL)
        c->health->client = NULL;
    close_socket(c);
    client_free(c);
    silk__gw_loop_maybe_stop(l);
}

/* ============================================================================
 * What the loop asks of its connections
 * ========================================================================== */

silk__gw_loop *silk__gw_client_loop(const silk__gw_client *c)
{
    return c->loop;
}

int silk__gw_client_ws_send(client *c, int binary, const void *data, size_t len)
{
    SILK__GW_ASSERT_ON_LOOP(c->loop);
    silk__gw_ws_hold(c->ws, c->out != NULL); /* the 101 goes first */
    int rv = silk__gw_ws_send(c->ws, binary, data, len);
    if (rv == SILK__GW_WS_ERR_QUEUE_FULL) {
        silk__gw_client_closing(c);
        silk_log(SILK_LOG_WARN, LOG, "slow consumer closed with 1008 session_id=%s", c->session_id);
    }
    return rv;
}

void silk__gw_client_send(silk__gw_client *c, int binary, const void *data, size_t len)
{
    SILK__GW_ASSERT_ON_LOOP(c->loop);
    if (c->ws == NULL)
        return;
    int rv = silk__gw_client_ws_send(c, binary, data, len);
    if (rv == 0) {
        pthread_mutex_lock(&c->loop->metrics_lock);
        c->loop->metrics.pushes_sent++;
        pthread_mutex_unlock(&c->loop->metrics_lock);
    }
    if (c->dirty || rv == SILK__GW_WS_ERR_CLOSING)
        return;
    silk__gw_loop *l = c->loop;
    if (l->n_dirty == l->cap_dirty) {
        size_t cap = l->cap_dirty ? 2 * l->cap_dirty : 64;
        silk__gw_client **grown = realloc(l->dirty, cap * sizeof *grown);
        if (grown == NULL) {
            update_watchers(c); /* no room to wait for the flush: written when writable */
            return;
        }
        l->dirty = grown;
        l->cap_dirty = cap;
    }
    l->dirty[l->n_dirty++] = c;
    c->dirty = true;
}

void silk__gw_client_flush(silk__gw_loop *l)
{
    SILK__GW_ASSERT_ON_LOOP(l);
    for (size_t i = 0; i < l->n_dirty; i++) {
        client *c = l->dirty[i];
        if (c == NULL)
            continue; /* closed since */
        c->dirty = false;
        l->dirty[i] = NULL;
        silk__gw_client_drive(c);
    }
    l->n_dirty = 0;
}

/* token_expired tells whether c's session was opened with a token that has expired now. */
static bool token_expired(const client *c, ev_tstamp now)
{
    return c->auth.expires > 0 && now >= c->auth.expires && c->closing_since == 0;
}

void silk__gw_client_sweep(silk__gw_loop *l)
{
    SILK__GW_ASSERT_ON_LOOP(l);
    ev_tstamp now = ev_time();
    client *next;
    for (client *c = l->clients; c != NULL; c = next) {
        next = c->next;
        if (c->state != SILK__GW_CLIENT_WS || c->ws == NULL)
            continue;
        if (token_expired(c, now)) {
            silk_log(SILK_LOG_INFO, LOG, "session token expired session_id=%s", c->session_id);
            silk__gw_client_close_session(c, 4001, "token expired"); /* may free c */
            continue;
        }
        if (c->out == NULL) /* a hibernating session's frames go out at once (ws/frames.c) */
            silk__gw_ws_hibernate(c->ws);
    }
}

/* mark_closing marks c's entry in the session table closing, under the gateway's lock that
 * SessionManager's pushes hold while they pick their sessions (sessions/push.c): from now on
 * they skip it, and do not count it delivered. */
static void mark_closing(client *c)
{
    silk__gw *gw = c->loop->gw;
    silk__mutex_lock(&gw->lock);
    silk__gw_session *s = silk__gw_sessions_find(&gw->sessions, c->session_id);
    if (s != NULL && s->data == c)
        s->closing = true;
    silk__mutex_unlock(&gw->lock);
}

void silk__gw_client_closing(silk__gw_client *c)
{
    SILK__GW_ASSERT_ON_LOOP(c->loop);
    struct ev_loop *ev = c->loop->ev;
    if (c->closing_since > 0)
        return; /* the 5 s run from the first close */
    c->closing_since = ev_now(ev);
    if (c->opened)
        mark_closing(c);
    /* A timer that is not active is on_timer's own, running now: it arms it from what
     * session_tick answers, which counts from closing_since. */
    if (ev_is_active(&c->timer) && ev_timer_remaining(ev, &c->timer) > CLOSE_TIMEOUT) {
        ev_timer_stop(ev, &c->timer);
        ev_timer_set(&c->timer, CLOSE_TIMEOUT, 0.);
        ev_timer_start(ev, &c->timer);
    }
}

void silk__gw_client_close_session(silk__gw_client *c, uint16_t code, const char *reason)
{
    SILK__GW_ASSERT_ON_LOOP(c->loop);
    if (c->ws == NULL)
        return;
    if (silk__gw_ws_close(c->ws, code, reason) == 0)
        silk__gw_client_closing(c);
    silk__gw_client_drive(c);
}

void silk__gw_client_shutdown_all(silk__gw_loop *l)
{
    SILK__GW_ASSERT_ON_LOOP(l);
    client *next;
    for (client *c = l->clients; c != NULL; c = next) {
        next = c->next;
        switch (c->state) {
        case SILK__GW_CLIENT_WS:
            silk__gw_client_close_session(c, 1001, "going away");
            break;
        case SILK__GW_CLIENT_READING:
            silk__gw_client_close(c, NULL);
            break;
        case SILK__GW_CLIENT_CALLING:
        case SILK__GW_CLIENT_WRITING:
            c->close_after = true; /* answer what is in flight, then close */
            break;
        }
    }
}
