/* direct.c - blocking calls made on the caller's own thread: the caller sends its request on
 * a connection of its own (transport/socket/sock_conn.h, the loop channels' transport) and
 * reads the answer itself, so no other thread is woken for it. The caller is that
 * connection's event loop while its call lasts: it polls the socket, the channel's eventfd
 * (readable once the channel is closing) and the connection's own (readable when its call is
 * cancelled: a handler's nested call goes down with the handler's), and hands what is ready
 * to the connection.
 *
 * A channel keeps at most one such connection per instance address, driven by one caller at
 * a time. A call that finds it busy - another thread's blocking call - or that this file does
 * not make (interceptors, TLS, another kind of address) goes the channel's way (call.c), as
 * does everything about picking and retrying: the instance is picked by silk__channel_pick,
 * outcomes go to silk__channel_report, and a failure the channel would retry hands a copy of
 * the call to it (silk__channel_retry). Nothing here allocates per call but the response the
 * caller gets (and, for a handler's call, its place in the cancellation tree). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <silk/loop_channel.h>

#include "client/channel_internal.h"
#include "core/clock.h"
#include "core/scratch.h"
#include "transport/socket/sock_conn.h"

/* How long a connection attempt may take, as the channel's own dial. */
#define DIAL_TIMEOUT_US 10000000
/* The longest address this file connects to. */
#define ADDRESS_MAX 256

struct silk__direct {
    silk__sock_conn sock; /* first: a silk__sock_conn * is a silk__direct * */
    silk__direct *next;   /* on ch->direct, under ch->mu */
    silk_channel *ch;
    char *address;
    bool busy;    /* under ch->mu: a caller drives it */
    bool open;    /* sock is open (made or being made) */
    bool failing; /* failures were reported: the next answer is reported too */
    bool dial_failed;
    char closed_why[128]; /* why sock last closed */
    /* A call made with a handler's ctx is in its cancellation tree: silk_channel_cancel of
     * cancel_id (silk__direct_cancel_locked, under ch->mu) sets cancel_hit and makes cancel_fd,
     * an eventfd the caller polls, readable. */
    int cancel_fd;
    atomic_uint_fast64_t cancel_id; /* 0: none */
    bool cancel_hit;                /* under ch->mu */

    /* The call in progress, for on_frame. */
    uint64_t call_id; /* 0: none */
    const silk_method_desc *method;
    bool heard;         /* a frame arrived since it was sent */
    int64_t last_rx_us; /* when a frame last arrived, or the call was sent */
    bool done;
    silk_status st;
    ProtobufCMessage *resp;
    char *why;
    size_t why_cap;
};
SILK__FIRST_MEMBER(silk__direct, sock);

/* ============================== the connection ============================== */

/* watch is the connection's silk_loop_ops.io: the caller polls for what sock->events says. */
static int watch(void *loop, void **state, int fd, int events, void *token)
{
    (void)loop;
    (void)state;
    (void)fd;
    (void)events;
    (void)token;
    return 0;
}

static void post_nothing(void *loop, silk_loop_task *task)
{
    (void)loop;
    (void)task; /* a socket conn never posts */
}

static void on_connected(silk__sock_conn *k)
{
    silk__direct *d = (silk__direct *)k;
    silk_channel *ch = d->ch;
    silk__mutex_lock(&ch->mu);
    silk__lb_conn_made(&ch->lb, d->address); /* its backoff ends */
    silk__mutex_unlock(&ch->mu);
}

static void on_dial_failed(silk__sock_conn *k)
{
    silk__direct *d = (silk__direct *)k;
    d->dial_failed = true;
}

/* decode completes the call in progress with the response frame f. The header is unpacked
 * on the stack; only the response, which the caller frees, is allocated. */
static void decode(silk__direct *d, const silk__frame *f, const ProtobufCMessageDescriptor *output)
{
    silk__scratch mem;
    silk__scratch_init(&mem);
    silk__response r;
    silk__response_decode(&r, f, output, &mem.allocator, NULL);
    d->st = r.st;
    d->resp = r.msg;
    snprintf(d->why, d->why_cap, "%s", r.message);
    silk__response_fini(&r);
    silk__scratch_fini(&mem);
}

/* answers tells whether the frame f, which just arrived on d, answers the call in progress.
 * A late answer to an earlier call of the connection (its deadline passed) is dropped;
 * servers do not ping. */
static bool answers(silk__direct *d, const silk__frame *f)
{
    d->heard = true;
    d->last_rx_us = silk__now_us();
    return f->kind == SILK__FRAME_RESPONSE && d->call_id != 0 && f->call_id == d->call_id &&
           !d->done;
}

static void on_frame(silk__sock_conn *k, const silk__frame *f)
{
    silk__direct *d = (silk__direct *)k;
    if (!answers(d, f))
        return;
    decode(d, f, d->method->output);
    d->done = true;
}

static void on_too_big(silk__sock_conn *k, const silk__frame *f)
{
    silk__direct *d = (silk__direct *)k;
    if (!answers(d, f))
        return;
    d->st = SILK_RESOURCE_EXHAUSTED;
    d->resp = NULL;
    snprintf(d->why, d->why_cap, "the response exceeds the message limit");
    d->done = true;
}

static void on_closed(silk__sock_conn *k, silk_status st, const char *why)
{
    silk__direct *d = (silk__direct *)k;
    d->open = false;
    snprintf(d->closed_why, sizeof d->closed_why, "%s", why);
    if (st == SILK_UNAVAILABLE && k->connected)
        silk__channel_report(d->ch, d->address, SILK__OUTCOME_LOST);
}

static const silk__sock_conn_ops direct_ops = {
    .connected = on_connected,
    .dial_failed = on_dial_failed,
    .frame = on_frame,
    .too_big = on_too_big,
    .closed = on_closed,
};

/* ============================== taking one ============================== */

/* take picks the instance of a call on route r as the channel's calls are picked, and
 * returns its blocking connection, made busy for this caller; NULL when the channel must make
 * the call (nothing to connect to now, the connection is another caller's, or memory). */
static silk__direct *take(silk_channel *ch, silk__route *r)
{
    char address[ADDRESS_MAX];
    if (!silk__channel_pick(ch, r, address, sizeof address))
        return NULL;
    silk__mutex_lock(&ch->mu);
    silk__direct *d = ch->direct;
    while (d != NULL && strcmp(d->address, address) != 0)
        d = d->next;
    if (d == NULL && !silk__sock_conn_address_ok(address)) {
        /* Picked twice, for this call and the channel's: with round-robin that could send
         * every call to one instance. Not again. */
        atomic_store(&ch->direct_off, true);
        silk__mutex_unlock(&ch->mu);
        return NULL;
    }
    if (ch->closing || (d != NULL && d->busy)) {
        silk__mutex_unlock(&ch->mu);
        return NULL;
    }
    if (ch->wake_fd < 0)
        ch->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (d == NULL && ch->wake_fd >= 0 && (d = calloc(1, sizeof *d)) != NULL) {
        d->ch = ch;
        d->cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (d->cancel_fd < 0 || (d->address = strdup(address)) == NULL) {
            if (d->cancel_fd >= 0)
                close(d->cancel_fd);
            free(d);
            d = NULL;
        } else {
            d->next = ch->direct;
            ch->direct = d;
        }
    }
    if (d != NULL) {
        d->busy = true;
        ch->direct_busy++;
        uint64_t n;
        if (d->cancel_hit && read(d->cancel_fd, &n, sizeof n) < 0)
            (void)0; /* a cancel that came as its call ended: read, so that it ends no other */
        d->cancel_hit = false;
    }
    silk__mutex_unlock(&ch->mu);
    return d;
}

/* release gives d back; the caller must not touch ch after it. */
static void release(silk__direct *d)
{
    silk_channel *ch = d->ch;
    d->call_id = 0;
    d->why = NULL;
    silk__mutex_lock(&ch->mu);
    d->busy = false;
    if (--ch->direct_busy == 0 && ch->closing)
        pthread_cond_broadcast(&ch->cv);
    silk__mutex_unlock(&ch->mu);
}

void silk__direct_wake(silk_channel *ch)
{
    SILK__ASSERT_HELD(&ch->mu);
    uint64_t one = 1;
    if (ch->wake_fd >= 0 && write(ch->wake_fd, &one, sizeof one) < 0)
        (void)0; /* a counter cannot overflow from one write */
}

void silk__direct_cancel_locked(silk_channel *ch, silk_call_id id)
{
    SILK__ASSERT_HELD(&ch->mu);
    uint64_t one = 1;
    for (silk__direct *d = ch->direct; d != NULL; d = d->next) {
        if (d->busy && atomic_load(&d->cancel_id) == id) {
            d->cancel_hit = true;
            if (write(d->cancel_fd, &one, sizeof one) < 0)
                (void)0; /* a counter cannot overflow from one write */
        }
    }
}

void silk__direct_close_all(silk_channel *ch)
{
    for (silk__direct *d = ch->direct, *next; d != NULL; d = next) {
        next = d->next;
        if (d->open)
            silk__sock_conn_close(&d->sock, SILK_CANCELLED, "the channel is closed");
        close(d->cancel_fd);
        free(d->address);
        free(d);
    }
    ch->direct = NULL;
    if (ch->wake_fd >= 0)
        close(ch->wake_fd);
    ch->wake_fd = -1;
}

/* ============================== driving it ============================== */

/* What drive waited for. */
typedef enum wait_end {
    WAIT_DONE,      /* what it waited for happened (or the connection closed) */
    WAIT_DEADLINE,  /* until passed first */
    WAIT_CLOSING,   /* the channel is closing */
    WAIT_CANCELLED, /* the call was cancelled (its handler's call was) */
} wait_end;

/* drive is the connection's loop: it polls the socket for what it wants and hands what is
 * ready to it until until_done tells it is over, the time until passes or the channel
 * closes. */
static wait_end drive(silk__direct *d, int64_t until, bool (*until_done)(const silk__direct *d))
{
    while (d->open && !until_done(d)) {
        int64_t left = until - silk__now_us();
        if (left <= 0)
            return WAIT_DEADLINE;
        struct pollfd p[3] = {
            {.fd = d->sock.fd,
             .events = (short)((d->sock.events & SILK_LOOP_READ ? POLLIN : 0) |
                               (d->sock.events & SILK_LOOP_WRITE ? POLLOUT : 0))},
            {.fd = d->ch->wake_fd, .events = POLLIN},
            {.fd = d->cancel_fd, .events = POLLIN},
        };
        int64_t ms = (left + 999) / 1000;
        int n = poll(p, 3, ms > 60000 ? 60000 : (int)ms);
        if (n < 0 && errno != EINTR)
            return WAIT_CLOSING; /* cannot happen with valid descriptors */
        if (n <= 0)
            continue;
        if (p[1].revents != 0)
            return WAIT_CLOSING;
        if (p[2].revents != 0)
            return WAIT_CANCELLED;
        int ready = (p[0].revents & (POLLIN | POLLHUP | POLLERR) ? SILK_LOOP_READ : 0) |
                    (p[0].revents & (POLLOUT | POLLHUP | POLLERR) ? SILK_LOOP_WRITE : 0);
        if (ready != 0)
            silk__sock_conn_ready(&d->sock, ready);
    }
    return WAIT_DONE;
}

static bool is_connected(const silk__direct *d)
{
    return d->sock.connected;
}

static bool is_answered(const silk__direct *d)
{
    return d->done;
}

/* connect_now makes d's connection, on this thread, within until. It returns SILK_OK, or a
 * failure with why: UNAVAILABLE (the dial failed: recorded for the backoff; nothing was
 * sent), DEADLINE_EXCEEDED or CANCELLED (the channel is closing). */
static silk_status connect_now(silk__direct *d, int64_t until, bool *not_mine, char *why,
                               size_t cap)
{
    silk_channel *ch = d->ch;
    silk_loop_ops ops = {.loop = d, .io = watch, .post = post_nothing};
    d->dial_failed = false;
    if (!silk__sock_conn_open(&d->sock, &direct_ops, &ops, d->address,
                              silk__channel_max_frame(ch))) {
        *not_mine = true; /* no descriptor, or refused at once: the channel's dial says why */
        return SILK_UNAVAILABLE;
    }
    d->open = true;
    int64_t dial_until = silk__now_us() + DIAL_TIMEOUT_US;
    wait_end end = drive(d, dial_until < until ? dial_until : until, is_connected);
    if (end == WAIT_DONE && d->open)
        return SILK_OK;
    silk_status st = SILK_UNAVAILABLE;
    if (end == WAIT_DEADLINE && dial_until >= until) {
        st = SILK_DEADLINE_EXCEEDED;
        snprintf(why, cap, "deadline exceeded");
    } else if (end == WAIT_CLOSING || end == WAIT_CANCELLED) {
        st = SILK_CANCELLED;
        snprintf(why, cap,
                 end == WAIT_CLOSING ? "the channel is closed" : "the call was cancelled");
    }
    if (d->open)
        silk__sock_conn_close(&d->sock, st, "the connection was given up");
    if (st == SILK_UNAVAILABLE) {
        const char *cause = strncmp(d->closed_why, "cannot connect: ", 16) == 0 ? d->closed_why + 16
                            : end == WAIT_DEADLINE                              ? "timed out"
                                                                                : d->closed_why;
        snprintf(why, cap, "cannot connect to %s: %s", d->address, cause);
        silk__mutex_lock(&ch->mu);
        silk__lb_conn_failed(&ch->lb, d->address, true, silk__now_us()); /* it backs off */
        silk__mutex_unlock(&ch->mu);
    }
    return st;
}

/* ready_to_send makes sure d has a live connection before a request goes on it: what came
 * since the last call is read first (a late answer, dropped; or the end of the stream - the
 * server closed the connection meanwhile - and then it is made again, nothing having been
 * sent on it). */
static silk_status ready_to_send(silk__direct *d, int64_t until, bool *not_mine, char *why,
                                 size_t cap)
{
    if (d->open && d->sock.connected)
        silk__sock_conn_ready(&d->sock, SILK_LOOP_READ);
    if (d->open)
        return SILK_OK;
    return connect_now(d, until, not_mine, why, cap);
}

/* ============================== a call ============================== */

/* answered tells the balancer about an answer of status st, when it needs to know. */
static void answered(silk__direct *d, silk_status st)
{
    if (st == SILK_UNAVAILABLE) {
        silk__channel_report(d->ch, d->address, SILK__OUTCOME_FAILED);
        d->failing = true;
    } else if (d->failing) {
        silk__channel_report(d->ch, d->address, SILK__OUTCOME_ANSWERED);
        d->failing = false;
    }
}

/* await waits for the answer of the call in progress until deadline, pinging the connection
 * when it was silent for the channel's keepalive interval and closing it, as lost, when the
 * ping goes unanswered that long: a stopped process keeps its socket open. */
static wait_end await(silk__direct *d, int64_t deadline)
{
    int64_t every = (int64_t)d->ch->keepalive_ms * 1000;
    bool ping_out = false;
    int64_t ping_at = 0;
    d->last_rx_us = silk__now_us();
    for (;;) {
        int64_t tick = every != 0 ? silk__now_us() + every : INT64_MAX;
        wait_end end = drive(d, tick < deadline ? tick : deadline, is_answered);
        int64_t now = silk__now_us();
        if (end != WAIT_DEADLINE || now >= deadline)
            return end;
        if (ping_out && d->last_rx_us < ping_at) {
            char why[ADDRESS_MAX + 48];
            snprintf(why, sizeof why, "%s did not answer a keepalive ping", d->address);
            silk__sock_conn_close(&d->sock, SILK_UNAVAILABLE, why);
            return WAIT_DONE;
        }
        ping_out = false;
        if (now - d->last_rx_us >= every &&
            silk__sock_conn_send(&d->sock, SILK__FRAME_PING, 0, NULL, NULL)) {
            silk__sock_conn_ready(&d->sock, SILK_LOOP_WRITE);
            ping_out = true;
            ping_at = now;
        }
    }
}

/* exchange sends the request of a call on d and waits for its answer until the deadline.
 * *sent tells whether the request may have left. */
static silk_status exchange(silk__direct *d, silk_ctx *ctx, const silk_method_desc *method,
                            const ProtobufCMessage *req, silk_call_id id, uint64_t budget,
                            int64_t deadline, bool *not_mine, bool *sent, ProtobufCMessage **resp,
                            char *why, size_t cap)
{
    silk_channel *ch = d->ch;
    silk_status st = ready_to_send(d, deadline, not_mine, why, cap);
    if (st != SILK_OK)
        return st;
    silk__reqhdr rh;
    if (silk__reqhdr_init(&rh, ctx, method, req, budget, ch->token) != SILK_OK) {
        snprintf(why, cap, "out of memory");
        return SILK_RESOURCE_EXHAUSTED;
    }
    d->call_id = id;
    d->done = false;
    d->heard = false;
    d->why = why;
    d->why_cap = cap;
    d->method = method;
    bool queued = silk__sock_conn_send(&d->sock, SILK__FRAME_REQUEST, d->call_id, &rh.h.base, req);
    silk__reqhdr_fini(&rh);
    if (!queued) {
        snprintf(why, cap, "the request exceeds the message limit or the send queue is full");
        return SILK_RESOURCE_EXHAUSTED;
    }
    *sent = true;
    silk__sock_conn_ready(&d->sock, SILK_LOOP_WRITE); /* at once: the socket is seldom full */
    wait_end end = await(d, deadline);
    if (d->done) {
        answered(d, d->st);
        *resp = d->resp;
        return d->st;
    }
    if (end == WAIT_CLOSING) {
        silk__sock_conn_close(&d->sock, SILK_CANCELLED, "the channel is closed");
        snprintf(why, cap, "the channel is closed");
        return SILK_CANCELLED;
    }
    if (end == WAIT_DEADLINE || end == WAIT_CANCELLED) /* tell the server to drop it */
        if (silk__sock_conn_send(&d->sock, SILK__FRAME_CANCEL, d->call_id, NULL, NULL))
            silk__sock_conn_ready(&d->sock, SILK_LOOP_WRITE);
    if (end == WAIT_CANCELLED) {
        snprintf(why, cap, "the call was cancelled");
        return SILK_CANCELLED;
    }
    if (end == WAIT_DEADLINE) { /* a silent instance counts as failing */
        if (!d->heard) {
            silk__channel_report(ch, d->address, SILK__OUTCOME_FAILED);
            d->failing = true;
        }
        snprintf(why, cap, "deadline exceeded");
        return SILK_DEADLINE_EXCEEDED;
    }
    snprintf(why, cap, "%s", d->closed_why); /* the connection was lost */
    return SILK_UNAVAILABLE;
}

silk__direct_outcome silk__direct_call(silk_channel *ch, silk_ctx *ctx,
                                       const silk_method_desc *method, const ProtobufCMessage *req,
                                       silk_call_cb cb, void *arg, silk_status *stp,
                                       ProtobufCMessage **resp, char *why, size_t cap)
{
    if (ch == NULL || method == NULL || req == NULL || req->descriptor != method->input ||
        ch->chain.n != 0 || ch->tls_only || silk_ctx_cancelled(ctx) ||
        atomic_load_explicit(&ch->direct_off, memory_order_relaxed))
        return SILK__DIRECT_NOT_MADE;
    uint64_t budget = silk__ctx_budget_us(ctx, method->timeout_ms);
    if (budget == 0)
        return SILK__DIRECT_NOT_MADE; /* the channel's path says why */
    silk__route r;
    silk__channel_route_init(ch, &r, method, req, ctx);
    silk__direct *d = take(ch, &r);
    if (d == NULL)
        return SILK__DIRECT_NOT_MADE;
    silk_call_id id = atomic_fetch_add(&ch->last_id, 1) + 1;
    /* A handler's nested call goes down with the handler's own (cancel.h). */
    silk__cancel *cx = silk__ctx_cancel(ctx);
    silk__cancel_child *child = NULL;
    if (cx != NULL) {
        atomic_store(&d->cancel_id, id);
        if (silk__cancel_add_child(cx, ch, id, &cb, &arg, &child) != SILK_OK) {
            atomic_store(&d->cancel_id, 0);
            release(d);
            return SILK__DIRECT_NOT_MADE; /* cancelled, or memory: the channel's path says */
        }
    }
    if (!d->open)
        d->failing = ch->by_name; /* its first answer ends a run of failures */
    int64_t deadline = silk__now_us() + (int64_t)budget;
    bool not_mine = false, sent = false;
    silk_status st = silk__ctx_ensure_trace_id(ctx);
    if (st == SILK_OK)
        st = exchange(d, ctx, method, req, id, budget, deadline, &not_mine, &sent, resp, why, cap);
    else
        not_mine = true;
    silk__direct_outcome out = SILK__DIRECT_DONE;
    if (not_mine || (st == SILK_UNAVAILABLE && !sent && ch->by_name)) {
        out = SILK__DIRECT_NOT_MADE; /* never sent: the channel may give it to another */
    } else if (st != SILK_OK && silk__channel_copies(ch, method, false)) {
        /* A failure the channel may retry: it gets a copy, as the channel's own calls do,
         * with the same id, so that a cancellation finds it. */
        int64_t left = deadline - silk__now_us();
        silk__call_copy *p =
            left <= 0
                ? NULL
                : silk__channel_copy_call_as(ch, ctx, method, req, (uint64_t)left, &r, id, cb, arg);
        if (p != NULL && silk__channel_retry(p, st, why, false))
            out = SILK__DIRECT_HANDED;
        else
            silk__channel_copy_free(p);
    }
    if (child != NULL) {
        atomic_store(&d->cancel_id, 0);
        if (out == SILK__DIRECT_NOT_MADE) {
            silk__cancel_remove_child(child); /* the channel's path makes its own */
        } else if (out == SILK__DIRECT_DONE) {
            /* Out of the tree, before d (and with it the channel) is let go; the caller finds
             * the result where cb puts it. */
            cb(st, st == SILK_OK ? *resp : NULL, why, arg);
            *resp = NULL;
            out = SILK__DIRECT_HANDED;
        }
    }
    release(d); /* the last touch of ch */
    *stp = st;
    return out;
}
