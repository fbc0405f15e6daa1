/* loop_channel_test.c - silk_loop_channel driven by a small poll() loop written here, against
 * in-process servers (tcp://127.0.0.1, ipc://, by name through a file registry) and raw
 * sockets that misbehave on purpose: batches of calls, routing, deadlines, lost connections,
 * the wrapped channel's path, malformed frames, keepalive, and freeing with calls in flight.
 *
 * The loop is the test's main thread: io keeps a table of descriptors, post a locked list of
 * tasks and an eventfd that wakes poll(). Every wait is bounded (WAIT_MS); nothing is timed. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>
#include <nng/nng.h>

#include <silk/loop_channel.h>
#include <silk/silk.h>

#include "core/clock.h"
#include "wire/frame.h"
#include "core/reap.h"

/* How long any wait may take before the test fails. */
#define WAIT_MS 10000

typedef Silk__Rpc__Metadata Msg; /* key + value: the test's request and response */

static char tmpdir[128];
/* Loops, servers and raw servers not yet stopped: a failed test leaves some behind. */
static atomic_int live;

/* ============================== the service ============================== */

typedef struct handlers {
    int unused;
} handlers;

static _Thread_local bool is_loop_thread; /* the thread runs a test_loop */
static atomic_int handled_on_loop;        /* handlers run on a test_loop's thread */
static atomic_int waits_started;          /* "wait" calls whose handler began */
static atomic_int cancels_seen;           /* and saw their call cancelled */

/* Echo answers "<instance>:<value>" (the instance is the server's user pointer); key "wait"
 * first waits up to value ms for the call to be cancelled; key "md" answers with the ctx's
 * metadata of key value instead of value, "budget" with whether the ctx's remaining time is
 * within the method's 5 s default, and "fail" fails NOT_FOUND "no <value>". */
static silk_status echo(silk_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp,
                        const void *h, void *user)
{
    (void)h;
    const Msg *in = (const Msg *)req;
    if (is_loop_thread)
        atomic_fetch_add(&handled_on_loop, 1);
    if (strcmp(in->key, "fail") == 0)
        return silk_ctx_fail(ctx, SILK_NOT_FOUND, "no %s", in->value);
    const char *value = in->value;
    if (strcmp(in->key, "md") == 0)
        value = silk_ctx_get(ctx, in->value) != NULL ? silk_ctx_get(ctx, in->value) : "(none)";
    if (strcmp(in->key, "budget") == 0) {
        int64_t left = silk_ctx_remaining_us(ctx);
        value = left > 0 && left <= 5000000 ? "within" : "outside";
    }
    if (strcmp(in->key, "wait") == 0) {
        atomic_fetch_add(&waits_started, 1);
        for (int waited = 0; waited < atoi(in->value) && !silk_ctx_cancelled(ctx); waited += 5)
            usleep(5000);
        if (silk_ctx_cancelled(ctx))
            atomic_fetch_add(&cancels_seen, 1);
    }
    Msg *out = (Msg *)resp;
    out->key = "echo";
    out->value = silk_ctx_printf(ctx, "%s:%s", (const char *)user, value);
    return SILK_OK;
}

static silk_status relay(silk_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp,
                         const void *h, void *user);

enum { ECHO, IDEM, RELAY };

static const silk_method_desc methods[] = {
    [ECHO] = {.name = "Echo",
              .path = "/looptest.Echo/Echo",
              .input = &silk__rpc__metadata__descriptor,
              .output = &silk__rpc__metadata__descriptor,
              .invoke = echo},
    [IDEM] = {.name = "Idem",
              .path = "/looptest.Echo/Idem",
              .input = &silk__rpc__metadata__descriptor,
              .output = &silk__rpc__metadata__descriptor,
              .idempotent = true,
              .invoke = echo},
    [RELAY] = {.name = "Relay",
               .path = "/looptest.Echo/Relay",
               .input = &silk__rpc__metadata__descriptor,
               .output = &silk__rpc__metadata__descriptor,
               .invoke = relay},
};

static const silk_service_desc echo_desc = {
    .name = "looptest.Echo",
    .route = "api/looptest",
    .n_methods = sizeof methods / sizeof methods[0],
    .methods = methods,
    .handlers_size = sizeof(handlers),
};

/* server_start starts a server of looptest.Echo on listen answering as instance id,
 * registered in the file registry when reg. */
static silk_server *server_start(const char *listen, const char *id, bool reg)
{
    silk_server_opts opts = {.listen = listen,
                             .instance_id = id,
                             .workers = 8,
                             .max_concurrent = 1000,
                             .no_register = !reg};
    silk_server *srv = silk_server_new(&opts);
    assert_non_null(srv);
    assert_int_equal(silk_server_add_service(srv, &echo_desc, &(handlers){0}, (void *)id), SILK_OK);
    assert_int_equal(silk_server_start(srv), SILK_OK);
    live++;
    return srv;
}

static void server_stop(silk_server *srv)
{
    silk_server_free(srv);
    live--;
}

/* ============================== the loop ============================== */

#define MAX_WATCHES 32

typedef struct watch {
    bool used;
    unsigned gen; /* tells a reused slot from the one poll() was given */
    int fd;
    int events;
    void *token;
} watch;

typedef struct test_loop {
    watch w[MAX_WATCHES];
    unsigned gen;
    bool io_fails; /* io refuses to watch anything */
    unsigned watch_starts, watch_stops, io_misuse;
    int wake_fd;
    pthread_mutex_t mu;
    silk_loop_task *head, *tail; /* under mu */
    unsigned posts;              /* under mu */
    silk_loop_ops ops;
    silk_loop_channel *lc; /* ticked every tick_ms */
    int tick_ms;
    int64_t last_tick_us;
} test_loop;

static _Thread_local int calling; /* silk_loop_channel_call is running on the thread */

static int loop_io(void *loop, void **state, int fd, int events, void *token)
{
    test_loop *lp = loop;
    watch *w = *state;
    if (!is_loop_thread || (w != NULL && w->fd != fd))
        lp->io_misuse++;
    if (events == 0) {
        if (w != NULL) {
            w->used = false;
            lp->watch_stops++;
        }
        *state = NULL;
        return 0;
    }
    if (lp->io_fails)
        return -1;
    if (w == NULL) {
        for (size_t i = 0; i < MAX_WATCHES && w == NULL; i++)
            if (!lp->w[i].used)
                w = &lp->w[i];
        if (w == NULL)
            return -1;
        *w = (watch){.used = true, .gen = ++lp->gen};
        lp->watch_starts++;
        *state = w;
    }
    w->fd = fd;
    w->events = events;
    w->token = token;
    return 0;
}

static void loop_post(void *loop, silk_loop_task *task)
{
    test_loop *lp = loop;
    task->next = NULL;
    pthread_mutex_lock(&lp->mu);
    if (lp->tail != NULL)
        lp->tail->next = task;
    else
        lp->head = task;
    lp->tail = task;
    lp->posts++;
    pthread_mutex_unlock(&lp->mu);
    uint64_t one = 1;
    if (write(lp->wake_fd, &one, sizeof one) < 0) {
        /* the counter is full: the loop wakes anyway */
    }
}

static const silk_loop_ops *loop_ops(test_loop *lp)
{
    lp->ops = (silk_loop_ops){.loop = lp, .io = loop_io, .post = loop_post};
    return &lp->ops;
}

static void loop_init(test_loop *lp)
{
    *lp = (test_loop){.tick_ms = 20};
    lp->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    assert_true(lp->wake_fd >= 0);
    pthread_mutex_init(&lp->mu, NULL);
    is_loop_thread = true;
    live++;
}

/* loop_close frees what the loop holds; false when it was left with tasks or watches. */
static bool loop_close(test_loop *lp)
{
    bool clean = lp->head == NULL && lp->watch_starts == lp->watch_stops && lp->io_misuse == 0;
    close(lp->wake_fd);
    pthread_mutex_destroy(&lp->mu);
    is_loop_thread = false;
    live--;
    return clean;
}

static void loop_fini(test_loop *lp)
{
    assert_null(lp->head);
    assert_int_equal(lp->watch_starts, lp->watch_stops); /* every watch was stopped */
    assert_int_equal(lp->io_misuse, 0);
    assert_true(loop_close(lp));
}

static unsigned loop_posts(test_loop *lp)
{
    pthread_mutex_lock(&lp->mu);
    unsigned n = lp->posts;
    pthread_mutex_unlock(&lp->mu);
    return n;
}

static void run_tasks(test_loop *lp)
{
    pthread_mutex_lock(&lp->mu);
    silk_loop_task *t = lp->head;
    lp->head = lp->tail = NULL;
    pthread_mutex_unlock(&lp->mu);
    while (t != NULL) {
        silk_loop_task *next = t->next;
        t->run(t);
        t = next;
    }
}

/* loop_turn waits up to timeout_ms for descriptors or tasks and handles what is ready. */
static void loop_turn(test_loop *lp, int timeout_ms)
{
    if (lp->ops.flushes && lp->lc != NULL) /* as a libev loop's ev_prepare would */
        silk_loop_channel_flush(lp->lc);
    struct pollfd pfd[MAX_WATCHES + 1];
    watch *pw[MAX_WATCHES + 1];
    unsigned pg[MAX_WATCHES + 1];
    nfds_t n = 0;
    pfd[n++] = (struct pollfd){.fd = lp->wake_fd, .events = POLLIN};
    for (size_t i = 0; i < MAX_WATCHES; i++) {
        watch *w = &lp->w[i];
        if (!w->used)
            continue;
        short ev = (short)(((w->events & SILK_LOOP_READ) ? POLLIN : 0) |
                           ((w->events & SILK_LOOP_WRITE) ? POLLOUT : 0));
        pw[n] = w;
        pg[n] = w->gen;
        pfd[n++] = (struct pollfd){.fd = w->fd, .events = ev};
    }
    if (poll(pfd, n, timeout_ms) < 0)
        assert_int_equal(errno, EINTR);
    for (nfds_t i = 1; i < n; i++) {
        watch *w = pw[i];
        short re = pfd[i].revents;
        if (re == 0 || !w->used || w->gen != pg[i])
            continue; /* stopped, or the slot is another descriptor's now */
        int ready = 0;
        if ((re & (POLLIN | POLLHUP | POLLERR)) && (w->events & SILK_LOOP_READ))
            ready |= SILK_LOOP_READ;
        if ((re & (POLLOUT | POLLHUP | POLLERR)) && (w->events & SILK_LOOP_WRITE))
            ready |= SILK_LOOP_WRITE;
        if (ready != 0)
            silk_loop_io_ready(w->token, ready);
    }
    uint64_t count;
    if (pfd[0].revents & POLLIN)
        assert_int_equal(read(lp->wake_fd, &count, sizeof count), (ssize_t)sizeof count);
    run_tasks(lp);
    int64_t now = silk__now_us();
    if (lp->lc != NULL && now - lp->last_tick_us >= (int64_t)lp->tick_ms * 1000) {
        lp->last_tick_us = now;
        silk_loop_channel_tick(lp->lc);
    }
}

/* run_until turns the loop until done(arg) or WAIT_MS pass; it returns done(arg). */
static bool run_until(test_loop *lp, bool (*done)(void *), void *arg)
{
    int64_t end = silk__now_us() + WAIT_MS * 1000;
    while (!done(arg) && silk__now_us() < end)
        loop_turn(lp, 10);
    return done(arg);
}

/* run_for turns the loop for ms: to let things happen that must not. */
static void run_for(test_loop *lp, int ms)
{
    int64_t end = silk__now_us() + (int64_t)ms * 1000;
    while (silk__now_us() < end)
        loop_turn(lp, 5);
}

/* connected: the loop watches n descriptors, none for writing (every connect finished). */
typedef struct watching {
    test_loop *lp;
    unsigned n;
} watching;

static bool all_connected(void *arg)
{
    watching *wg = arg;
    unsigned n = 0;
    for (size_t i = 0; i < MAX_WATCHES; i++) {
        if (!wg->lp->w[i].used)
            continue;
        if (wg->lp->w[i].events != SILK_LOOP_READ)
            return false;
        n++;
    }
    return n == wg->n;
}

/* at_least waits for *counter >= want. */
typedef struct at_least {
    atomic_int *counter;
    int want;
} at_least;

static bool reached(void *arg)
{
    at_least *a = arg;
    return atomic_load(a->counter) >= a->want;
}

/* ============================== calls ============================== */

/* result is what a call's callback saw. */
typedef struct result {
    int count; /* callbacks run */
    silk_status st;
    char message[200];
    char value[200];
    bool wrong_thread; /* ran off the loop's thread */
    bool early;        /* ran before silk_loop_channel_call returned */
    bool no_resp;      /* SILK_OK without a response */
    size_t value_len;  /* the whole response value's length */
    char value_last;   /* and its last byte */
    /* When set, the callback makes a call on recall_lc and keeps its status. */
    silk_loop_channel *recall_lc;
    silk_status recall_st;
    /* When set, the callback starts the call of chain_next (a chain of calls). */
    struct result *chain_next;
    char chain_value[32];
    bool lent; /* made with silk_loop_channel_call_lent: resp is not the callback's */
} result;

static void on_done(silk_status st, ProtobufCMessage *resp, const char *message, void *arg);
static silk_loop_channel *chain_lc; /* where chained calls go */

static silk_status start_call(silk_loop_channel *lc, silk_ctx *ctx, int method, const char *key,
                              const char *value, result *r)
{
    Msg req = SILK__RPC__METADATA__INIT;
    req.key = (char *)key;
    req.value = (char *)value;
    calling++;
    silk_status st = silk_loop_channel_call(lc, ctx, &methods[method], &req.base, on_done, r);
    calling--;
    return st;
}

/* start_lent is start_call with silk_loop_channel_call_lent. */
static silk_status start_lent(silk_loop_channel *lc, const char *value, result *r)
{
    Msg req = SILK__RPC__METADATA__INIT;
    req.key = "x";
    req.value = (char *)value;
    r->lent = true;
    calling++;
    silk_status st = silk_loop_channel_call_lent(lc, NULL, &methods[ECHO], &req.base, on_done, r);
    calling--;
    return st;
}

static void never(silk_status st, ProtobufCMessage *resp, const char *message, void *arg)
{
    (void)st;
    (void)message;
    (void)resp;
    ((result *)arg)->count += 100; /* fails the test's count checks */
}

static void on_done(silk_status st, ProtobufCMessage *resp, const char *message, void *arg)
{
    result *r = arg;
    r->count++;
    r->st = st;
    snprintf(r->message, sizeof r->message, "%s", message != NULL ? message : "(null)");
    r->value[0] = '\0';
    if (!is_loop_thread)
        r->wrong_thread = true;
    if (calling != 0)
        r->early = true;
    if (resp != NULL) {
        const char *v = ((Msg *)resp)->value;
        snprintf(r->value, sizeof r->value, "%s", v);
        r->value_len = strlen(v);
        r->value_last = r->value_len > 0 ? v[r->value_len - 1] : '\0';
        if (!r->lent)
            protobuf_c_message_free_unpacked(resp, NULL);
    } else if (st == SILK_OK) {
        r->no_resp = true;
    }
    if (r->recall_lc != NULL) {
        Msg req = SILK__RPC__METADATA__INIT;
        req.key = "x";
        req.value = "again";
        r->recall_st =
            silk_loop_channel_call(r->recall_lc, NULL, &methods[ECHO], &req.base, never, r);
    }
    if (r->chain_next != NULL && st == SILK_OK)
        r->recall_st =
            start_call(chain_lc, NULL, ECHO, "x", r->chain_next->chain_value, r->chain_next);
}

/* results is a batch of n results to wait for. */
typedef struct results {
    result *r;
    size_t n;
} results;

static bool all_done(void *arg)
{
    results *rs = arg;
    for (size_t i = 0; i < rs->n; i++)
        if (rs->r[i].count == 0)
            return false;
    return true;
}

static void wait_all(test_loop *lp, result *r, size_t n)
{
    results rs = {r, n};
    assert_true(run_until(lp, all_done, &rs));
}

/* expect checks how a call ended: once, on the loop's thread, after silk_loop_channel_call
 * returned; value (for SILK_OK) or a part of the message (else), when not NULL. */
static void expect(const result *r, silk_status st, const char *want)
{
    assert_int_equal(r->count, 1);
    assert_false(r->wrong_thread);
    assert_false(r->early);
    if (r->st != st)
        fail_msg("status %s (%s), want %s", silk_status_str(r->st), r->message,
                 silk_status_str(st));
    assert_false(r->no_resp);
    if (want != NULL && st == SILK_OK)
        assert_string_equal(r->value, want);
    else if (want != NULL && strstr(r->message, want) == NULL)
        fail_msg("message \"%s\" does not say \"%s\"", r->message, want);
}

/* call_and_wait makes one call and waits for it. */
static void call_and_wait(test_loop *lp, silk_loop_channel *lc, silk_ctx *ctx, int method,
                          const char *key, const char *value, result *r)
{
    memset(r, 0, sizeof *r);
    assert_int_equal(start_call(lc, ctx, method, key, value, r), SILK_OK);
    assert_int_equal(r->count, 0);
    wait_all(lp, r, 1);
}

/* ============================== raw servers ============================== */

/* A raw server listens on a unix socket and serves one connection at a time with frames it
 * writes by hand, as the request's key says:
 *   "hang": no answer; a cancel of it is noted and answered late (OK "late");
 *   "close": the connection is closed at once;
 *   "big": a response frame longer than the limit, sent in full (to be skipped);
 *   "badhdr" / "badpayload": a response whose header / payload does not decode;
 *   "garbage" / "unknownkind": bytes that are no frame / a frame of kind 9;
 *   anything else: OK with value "raw:<value>".
 * It answers pings with pongs while pong is set, and pings the client when send_ping is. */
typedef struct raw_server {
    char path[160];
    char address[200];
    int lfd;
    pthread_t thread;
    atomic_bool stop;
    atomic_bool pong;           /* answer pings */
    atomic_bool send_ping;      /* send one ping (id 77) */
    atomic_bool answer_hung;    /* answer the "hang" calls now */
    atomic_bool go;             /* answer the "answerclose" call, then close */
    atomic_int closed;          /* connections it closed */
    pthread_t conn_threads[16]; /* one per connection, the main thread's */
    int nconns;
    atomic_int accepted;
    atomic_int requests, cancels, pings, pongs;
    atomic_ullong last_request_id, last_cancel_id, last_ping_id, last_pong_id;
    uint32_t max_frame; /* the client's frame limit */
} raw_server;

/* rconn is the raw server's side of one connection. */
typedef struct rconn {
    int fd;
    uint8_t buf[1 << 16];
    size_t len;
    uint64_t hung[64];
    size_t nhung;
    uint64_t closing_id; /* an "answerclose" call, 0: none */
} rconn;

static bool write_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        b += w;
        n -= (size_t)w;
    }
    return true;
}

/* put_frame writes a frame of header and payload bytes given as they are (hlen < 128). */
static bool put_frame(int fd, uint8_t kind, uint64_t id, const void *hdr, size_t hlen,
                      const void *payload, size_t plen)
{
    uint8_t head[SILK__FRAME_PREFIX + 1];
    uint32_t rest = (uint32_t)(9 + 1 + hlen + plen);
    head[0] = (uint8_t)(rest >> 24);
    head[1] = (uint8_t)(rest >> 16);
    head[2] = (uint8_t)(rest >> 8);
    head[3] = (uint8_t)rest;
    head[4] = kind;
    for (int i = 0; i < 8; i++)
        head[5 + i] = (uint8_t)(id >> (56 - 8 * i));
    head[13] = (uint8_t)hlen;
    return write_all(fd, head, sizeof head) && write_all(fd, hdr, hlen) &&
           write_all(fd, payload, plen);
}

/* put_response answers call id with status OK and a Metadata of value. */
static bool put_response(int fd, uint64_t id, const char *value)
{
    Silk__Rpc__ResponseHeader h = SILK__RPC__RESPONSE_HEADER__INIT;
    Msg m = SILK__RPC__METADATA__INIT;
    m.key = "raw";
    m.value = (char *)value;
    uint8_t hb[64], mb[512];
    size_t hl = silk__rpc__response_header__pack(&h, hb);
    size_t ml = silk__rpc__metadata__pack(&m, mb);
    return put_frame(fd, SILK__FRAME_RESPONSE, id, hb, hl, mb, ml);
}

/* put_too_big sends a response frame of id whose length is one more than the client's limit,
 * all of it. */
static bool put_too_big(raw_server *rs, int fd, uint64_t id)
{
    uint32_t rest = rs->max_frame + 1;
    uint8_t head[SILK__FRAME_PREFIX] = {(uint8_t)(rest >> 24), (uint8_t)(rest >> 16),
                                        (uint8_t)(rest >> 8), (uint8_t)rest, SILK__FRAME_RESPONSE};
    for (int i = 0; i < 8; i++)
        head[5 + i] = (uint8_t)(id >> (56 - 8 * i));
    if (!write_all(fd, head, sizeof head))
        return false;
    static uint8_t zeros[1 << 16];
    for (size_t left = rest - 9; left > 0;) {
        size_t n = left < sizeof zeros ? left : sizeof zeros;
        if (!write_all(fd, zeros, n))
            return false;
        left -= n;
    }
    return true;
}

/* raw_request handles one request frame; false to close the connection. */
static bool raw_request(raw_server *rs, rconn *c, const silk__frame *f)
{
    atomic_fetch_add(&rs->requests, 1);
    atomic_store(&rs->last_request_id, f->call_id);
    Msg *m = silk__rpc__metadata__unpack(NULL, f->payload_len, f->payload);
    if (m == NULL)
        return false;
    char key[32], value[128];
    snprintf(key, sizeof key, "%s", m->key);
    snprintf(value, sizeof value, "raw:%s", m->value);
    silk__rpc__metadata__free_unpacked(m, NULL);
    static const uint8_t truncated[] = {0x12, 0x05, 'x'}; /* a field of 5 bytes with 1 */
    static const uint8_t garbage[16] = {0, 0, 0, 2, 0xde, 0xad, 0xbe, 0xef};
    if (strcmp(key, "hang") == 0) {
        if (c->nhung < sizeof c->hung / sizeof c->hung[0])
            c->hung[c->nhung++] = f->call_id;
        return true;
    }
    if (strcmp(key, "close") == 0)
        return false;
    if (strcmp(key, "stall") == 0) { /* stops reading until go, then closes */
        while (!atomic_load(&rs->stop) && !atomic_load(&rs->go))
            usleep(1000);
        return false;
    }
    if (strcmp(key, "answerclose") == 0) {
        c->closing_id = f->call_id;
        return true;
    }
    if (strcmp(key, "big") == 0)
        return put_too_big(rs, c->fd, f->call_id);
    if (strcmp(key, "badhdr") == 0)
        return put_frame(c->fd, SILK__FRAME_RESPONSE, f->call_id, truncated, sizeof truncated, NULL,
                         0);
    if (strcmp(key, "badpayload") == 0) {
        static const uint8_t ok_header[] = {0x08, 0x00}; /* status 0 */
        return put_frame(c->fd, SILK__FRAME_RESPONSE, f->call_id, ok_header, sizeof ok_header,
                         truncated, sizeof truncated);
    }
    if (strcmp(key, "status99") == 0) {
        static const uint8_t status99[] = {0x08, 99, 0x12, 3, 'o', 'd', 'd'};
        return put_frame(c->fd, SILK__FRAME_RESPONSE, f->call_id, status99, sizeof status99, NULL,
                         0);
    }
    if (strcmp(key, "text") == 0) { /* what an HTTP server says to a silk request */
        static const char http[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
        return write_all(c->fd, http, sizeof http - 1);
    }
    if (strcmp(key, "garbage") == 0)
        return write_all(c->fd, garbage, sizeof garbage);
    if (strcmp(key, "unknownkind") == 0)
        return put_frame(c->fd, 9, f->call_id, NULL, 0, NULL, 0);
    return put_response(c->fd, f->call_id, value);
}

/* raw_frame handles one frame of any kind; false to close the connection. */
static bool raw_frame(raw_server *rs, rconn *c, const silk__frame *f)
{
    switch (f->kind) {
    case SILK__FRAME_REQUEST:
        return raw_request(rs, c, f);
    case SILK__FRAME_CANCEL:
        atomic_store(&rs->last_cancel_id, f->call_id);
        atomic_fetch_add(&rs->cancels, 1);
        for (size_t i = 0; i < c->nhung; i++)
            if (c->hung[i] == f->call_id) {
                c->hung[i] = c->hung[--c->nhung];
                return put_response(c->fd, f->call_id, "late");
            }
        return true;
    case SILK__FRAME_PING:
        atomic_store(&rs->last_ping_id, f->call_id);
        atomic_fetch_add(&rs->pings, 1);
        return !atomic_load(&rs->pong) ||
               put_frame(c->fd, SILK__FRAME_PONG, f->call_id, NULL, 0, NULL, 0);
    case SILK__FRAME_PONG:
        atomic_store(&rs->last_pong_id, f->call_id);
        atomic_fetch_add(&rs->pongs, 1);
        return true;
    default:
        return false;
    }
}

/* raw_idle does what the test asked for between frames; false to close the connection. */
static bool raw_idle(raw_server *rs, rconn *c)
{
    if (atomic_exchange(&rs->send_ping, false) &&
        !put_frame(c->fd, SILK__FRAME_PING, 77, NULL, 0, NULL, 0))
        return false;
    if (atomic_exchange(&rs->answer_hung, false)) {
        for (size_t i = 0; i < c->nhung; i++)
            if (!put_response(c->fd, c->hung[i], "raw:released"))
                return false;
        c->nhung = 0;
    }
    if (c->closing_id != 0 && atomic_load(&rs->go)) {
        put_response(c->fd, c->closing_id, "raw:answered");
        return false;
    }
    return true;
}

/* raw_serve serves one connection until it closes, a frame asks to close it, or stop. */
static void raw_serve(raw_server *rs, int fd)
{
    rconn *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->fd = fd;
    while (!atomic_load(&rs->stop) && raw_idle(rs, c)) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 10) <= 0)
            continue;
        ssize_t n = recv(fd, c->buf + c->len, sizeof c->buf - c->len, 0);
        if (n <= 0)
            break;
        c->len += (size_t)n;
        silk__frame f;
        long used;
        bool open = true;
        size_t off = 0;
        while (open && (used = silk__frame_decode(c->buf + off, c->len - off, 1u << 15, &f)) > 0) {
            open = raw_frame(rs, c, &f);
            off += (size_t)used;
        }
        if (!open || used < 0)
            break;
        memmove(c->buf, c->buf + off, c->len - off);
        c->len -= off;
    }
    free(c);
}

/* raw_conn is a connection's thread: each is served on its own, so that a channel's
 * connection and a loop channel's can be open at once. */
typedef struct raw_conn_arg {
    raw_server *rs;
    int fd;
} raw_conn_arg;

static void *raw_conn_main(void *arg)
{
    raw_conn_arg a = *(raw_conn_arg *)arg;
    free(arg);
    raw_serve(a.rs, a.fd);
    close(a.fd);
    atomic_fetch_add(&a.rs->closed, 1);
    return NULL;
}

static void *raw_main(void *arg)
{
    raw_server *rs = arg;
    while (!atomic_load(&rs->stop)) {
        struct pollfd p = {.fd = rs->lfd, .events = POLLIN};
        if (poll(&p, 1, 10) <= 0)
            continue;
        int fd = accept(rs->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        struct timeval tv = {.tv_sec = 5};
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        raw_conn_arg *a = malloc(sizeof *a);
        if (rs->nconns == sizeof rs->conn_threads / sizeof rs->conn_threads[0] || a == NULL) {
            free(a);
            close(fd); /* more than a test makes */
            continue;
        }
        *a = (raw_conn_arg){rs, fd};
        atomic_fetch_add(&rs->accepted, 1);
        if (pthread_create(&rs->conn_threads[rs->nconns], NULL, raw_conn_main, a) != 0) {
            free(a);
            close(fd);
            continue;
        }
        rs->nconns++;
    }
    for (int i = 0; i < rs->nconns; i++)
        pthread_join(rs->conn_threads[i], NULL);
    return NULL;
}

static raw_server *raw_start(const char *name)
{
    raw_server *rs = calloc(1, sizeof *rs);
    assert_non_null(rs);
    snprintf(rs->path, sizeof rs->path, "%s/%s.sock", tmpdir, name);
    snprintf(rs->address, sizeof rs->address, "ipc://%s", rs->path);
    rs->max_frame = SILK__MAX_MESSAGE_DEFAULT + SILK__FRAME_HEADER_ROOM;
    unlink(rs->path);
    rs->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(rs->lfd >= 0);
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    assert_true(strlen(rs->path) < sizeof un.sun_path);
    memcpy(un.sun_path, rs->path, strlen(rs->path) + 1);
    assert_int_equal(bind(rs->lfd, (struct sockaddr *)&un, sizeof un), 0);
    assert_int_equal(listen(rs->lfd, 16), 0);
    assert_int_equal(pthread_create(&rs->thread, NULL, raw_main, rs), 0);
    live++;
    return rs;
}

static void raw_stop(raw_server *rs)
{
    atomic_store(&rs->stop, true);
    pthread_join(rs->thread, NULL);
    close(rs->lfd);
    unlink(rs->path);
    free(rs);
    live--;
}

/* ============================== setups ============================== */

/* fixture is a loop, a channel to target and a loop channel over it. */
typedef struct fixture {
    test_loop lp;
    silk_channel *ch;
    silk_loop_channel *lc;
} fixture;

static void fixture_open(fixture *fx, const char *target)
{
    loop_init(&fx->lp);
    assert_int_equal(silk_channel_open(&fx->ch, target), SILK_OK);
    assert_int_equal(silk_loop_channel_open(&fx->lc, fx->ch, loop_ops(&fx->lp)), SILK_OK);
    fx->lp.lc = fx->lc;
}

static bool no_tasks(void *arg)
{
    test_loop *lp = arg;
    pthread_mutex_lock(&lp->mu);
    bool none = lp->head == NULL;
    pthread_mutex_unlock(&lp->mu);
    return none;
}

static void fixture_close(fixture *fx)
{
    fx->lp.lc = NULL;
    silk_loop_channel_close(fx->lc);
    silk_channel_close(fx->ch);
    run_until(&fx->lp, no_tasks, &fx->lp);
    loop_fini(&fx->lp);
}

static void ipc_address(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "ipc://%s/%s.sock", tmpdir, name);
}

/* serve_on_ipc starts a server answering as "srv" on an ipc address of name, unregistered,
 * and opens fx on it. */
static silk_server *serve_on_ipc(fixture *fx, const char *name)
{
    char address[200];
    ipc_address(address, sizeof address, name);
    silk_server *srv = server_start(address, "srv", false);
    fixture_open(fx, address);
    return srv;
}

/* ============================== 1. batches ============================== */

#define BATCH 300

/* batch makes BATCH calls in one turn of the loop on a connection already made: all of them
 * are answered right, on the loop's thread, after silk_loop_channel_call returned, none through the
 * channel; then a chain of calls each made from the previous one's callback. */
static void batch(fixture *fx)
{
    result *r = calloc(BATCH, sizeof *r);
    assert_non_null(r);
    char value[32], want[48];
    unsigned posts = loop_posts(&fx->lp);
    for (int i = 0; i < BATCH; i++) {
        snprintf(value, sizeof value, "v%d", i);
        assert_int_equal(start_call(fx->lc, NULL, ECHO, "x", value, &r[i]), SILK_OK);
    }
    for (int i = 0; i < BATCH; i++)
        assert_int_equal(r[i].count, 0); /* nothing completes inside silk_loop_channel_call */
    wait_all(&fx->lp, r, BATCH);
    for (int i = 0; i < BATCH; i++) {
        snprintf(want, sizeof want, "srv:v%d", i);
        expect(&r[i], SILK_OK, want);
    }
    assert_int_equal(loop_posts(&fx->lp), posts); /* all on the loop channel's connection */

    /* A chain: each callback makes the next call, on the connection it was answered on. */
    enum { CHAIN = 20 };
    memset(r, 0, CHAIN * sizeof *r);
    for (int i = 0; i < CHAIN; i++) {
        snprintf(r[i].chain_value, sizeof r[i].chain_value, "c%d", i);
        if (i + 1 < CHAIN)
            r[i].chain_next = &r[i + 1];
    }
    chain_lc = fx->lc;
    assert_int_equal(start_call(fx->lc, NULL, ECHO, "x", r[0].chain_value, &r[0]), SILK_OK);
    wait_all(&fx->lp, r, CHAIN);
    for (int i = 0; i < CHAIN; i++) {
        snprintf(want, sizeof want, "srv:c%d", i);
        expect(&r[i], SILK_OK, want);
        assert_int_equal(r[i].recall_st, SILK_OK);
    }
    assert_int_equal(loop_posts(&fx->lp), posts);
    free(r);
}

static void test_batch_tcp(void **state)
{
    (void)state;
    silk_server *srv = server_start("tcp://127.0.0.1:0", "srv", false);
    fixture fx;
    fixture_open(&fx, silk_server_address(srv));
    /* The first call finds the connection being made: it goes through the channel. */
    result r;
    call_and_wait(&fx.lp, fx.lc, NULL, ECHO, "x", "first", &r);
    expect(&r, SILK_OK, "srv:first");
    assert_true(loop_posts(&fx.lp) <= 1);
    assert_true(run_until(&fx.lp, all_connected, &(watching){&fx.lp, 1}));
    batch(&fx);
    assert_int_equal(fx.lp.watch_starts, 1); /* one connection for every call */
    fixture_close(&fx);
    server_stop(srv);
}

static void test_batch_ipc(void **state)
{
    (void)state;
    fixture fx;
    silk_server *srv = serve_on_ipc(&fx, "batch");
    batch(&fx); /* a unix socket connects at once: even the first call is the loop's */
    assert_int_equal(loop_posts(&fx.lp), 0);
    assert_int_equal(fx.lp.watch_starts, 1);
    fixture_close(&fx);
    server_stop(srv);
}

/* ============================== 2. by name, hashed ============================== */

enum { KEYS = 16 };

/* instance_of returns the instance a value "<instance>:..." names. */
static char instance_of(const char *value)
{
    return value[0] != '\0' && value[1] == ':' ? value[0] : '?';
}

/* hashed_round calls method once per business id, all in one turn, and checks each answer
 * came from the instance want[] names. */
static void hashed_round(fixture *fx, int method, const char want[KEYS])
{
    result r[KEYS] = {0};
    char bid[32], value[32];
    for (int k = 0; k < KEYS; k++) {
        silk_ctx *ctx = silk_ctx_new();
        snprintf(bid, sizeof bid, "user-%d", k);
        snprintf(value, sizeof value, "%d", k);
        assert_int_equal(silk_ctx_set(ctx, SILK_MD_BUSINESS_ID, bid), SILK_OK);
        assert_int_equal(start_call(fx->lc, ctx, method, "x", value, &r[k]), SILK_OK);
        silk_ctx_free(ctx); /* read by silk_loop_channel_call only */
    }
    wait_all(&fx->lp, r, KEYS);
    for (int k = 0; k < KEYS; k++) {
        expect(&r[k], SILK_OK, NULL);
        assert_int_equal(instance_of(r[k].value), want[k]);
    }
}

static void test_by_name_hash(void **state)
{
    (void)state;
    silk_server *a = server_start("tcp://127.0.0.1:0", "a", true);
    silk_server *b = server_start("tcp://127.0.0.1:0", "b", true);
    fixture fx;
    fixture_open(&fx, "looptest.Echo");
    assert_int_equal(silk_channel_set_policy(fx.ch, SILK_LB_HASH), SILK_OK);

    /* Where the wrapped channel's own calls of each business id go. */
    char want[KEYS];
    bool seen_a = false, seen_b = false;
    for (int k = 0; k < KEYS; k++) {
        char bid[32];
        snprintf(bid, sizeof bid, "user-%d", k);
        silk_ctx *ctx = silk_ctx_new();
        assert_int_equal(silk_ctx_set(ctx, SILK_MD_BUSINESS_ID, bid), SILK_OK);
        Msg req = SILK__RPC__METADATA__INIT;
        req.key = "x";
        req.value = "sync";
        ProtobufCMessage *resp = NULL;
        assert_int_equal(silk_channel_call(fx.ch, ctx, &methods[ECHO], &req.base, &resp), SILK_OK);
        want[k] = instance_of(((Msg *)resp)->value);
        seen_a |= want[k] == 'a';
        seen_b |= want[k] == 'b';
        protobuf_c_message_free_unpacked(resp, NULL);
        silk_ctx_free(ctx);
    }
    assert_true(seen_a && seen_b); /* 16 keys over 2 instances: both have some */

    /* The loop channel routes every key the same way, whether a call went through the
     * channel (a connection being made) or on the loop's connections. */
    hashed_round(&fx, ECHO, want);
    assert_true(run_until(&fx.lp, all_connected, &(watching){&fx.lp, 2}));
    unsigned posts = loop_posts(&fx.lp);
    hashed_round(&fx, ECHO, want);
    hashed_round(&fx, ECHO, want);
    assert_int_equal(loop_posts(&fx.lp), posts); /* the loop's own connections only */
    assert_int_equal(fx.lp.watch_starts, 2);

    /* An idempotent method is the loop's too (the channel keeps a copy for a second
     * attempt), hashed the same. */
    hashed_round(&fx, IDEM, want);
    assert_int_equal(loop_posts(&fx.lp), posts);
    assert_int_equal(fx.lp.watch_starts, 2);

    fixture_close(&fx);
    server_stop(a);
    server_stop(b);
}

/* ============================== 3. deadlines ============================== */

static void test_deadline_real_server(void **state)
{
    (void)state;
    atomic_store(&waits_started, 0);
    atomic_store(&cancels_seen, 0);
    fixture fx;
    silk_server *srv = serve_on_ipc(&fx, "deadline");
    silk_ctx *ctx = silk_ctx_new();
    silk_ctx_set_timeout(ctx, 200);
    result r;
    call_and_wait(&fx.lp, fx.lc, ctx, ECHO, "wait", "8000", &r);
    silk_ctx_free(ctx);
    expect(&r, SILK_DEADLINE_EXCEEDED, "the deadline passed");
    /* The cancel frame reached the handler, on a connection that stays. */
    assert_true(run_until(&fx.lp, reached, &(at_least){&cancels_seen, 1}));
    assert_int_equal(atomic_load(&waits_started), 1);
    call_and_wait(&fx.lp, fx.lc, NULL, ECHO, "x", "after", &r);
    expect(&r, SILK_OK, "srv:after");
    assert_int_equal(fx.lp.watch_starts, 1);
    assert_int_equal(loop_posts(&fx.lp), 0);
    fixture_close(&fx);
    server_stop(srv);
}

static void test_deadline_silent_server(void **state)
{
    (void)state;
    raw_server *rs = raw_start("silent");
    fixture fx;
    fixture_open(&fx, rs->address);
    silk_ctx *ctx = silk_ctx_new();
    silk_ctx_set_timeout(ctx, 150);
    result late;
    call_and_wait(&fx.lp, fx.lc, ctx, ECHO, "hang", "1", &late);
    silk_ctx_free(ctx);
    expect(&late, SILK_DEADLINE_EXCEEDED, "the deadline passed");
    /* The server is told: a cancel frame of the call's id. It answers anyway, late. */
    assert_true(run_until(&fx.lp, reached, &(at_least){&rs->cancels, 1}));
    assert_int_equal(atomic_load(&rs->last_cancel_id), atomic_load(&rs->last_request_id));
    result r;
    call_and_wait(&fx.lp, fx.lc, NULL, ECHO, "x", "next", &r);
    expect(&r, SILK_OK, "raw:next");
    assert_int_equal(late.count, 1); /* the late answer was dropped */
    assert_int_equal(atomic_load(&rs->accepted), 1);
    fixture_close(&fx);
    raw_stop(rs);
}

/* ============================== 4. lost connections ============================== */

/* three_in_flight makes two calls the raw server keeps and a third of key last in one turn,
 * and checks that all three fail with st saying why; then the next call works on a new
 * connection. */
static void three_in_flight(const char *name, const char *last, silk_status st, const char *why)
{
    raw_server *rs = raw_start(name);
    fixture fx;
    fixture_open(&fx, rs->address);
    result r[3] = {0};
    assert_int_equal(start_call(fx.lc, NULL, ECHO, "hang", "1", &r[0]), SILK_OK);
    assert_int_equal(start_call(fx.lc, NULL, ECHO, "hang", "2", &r[1]), SILK_OK);
    assert_int_equal(start_call(fx.lc, NULL, ECHO, last, "3", &r[2]), SILK_OK);
    wait_all(&fx.lp, r, 3);
    for (int i = 0; i < 3; i++)
        expect(&r[i], st, why);
    assert_int_equal(fx.lp.watch_stops, 1);
    result again;
    call_and_wait(&fx.lp, fx.lc, NULL, ECHO, "x", "again", &again);
    expect(&again, SILK_OK, "raw:again");
    assert_int_equal(atomic_load(&rs->accepted), 2);
    assert_int_equal(fx.lp.watch_starts, 2);
    assert_int_equal(loop_posts(&fx.lp), 0);
    fixture_close(&fx);
    raw_stop(rs);
}

static void test_server_closes_with_calls_in_flight(void **state)
{
    (void)state;
    three_in_flight("closing", "close", SILK_UNAVAILABLE, "connection lost");
}

/* call_maybe_refused makes a call of Echo that the channel may refuse at once (backing off
 * after failed dials) and returns how it ended. */
static silk_status call_maybe_refused(test_loop *lp, silk_loop_channel *lc, const char *value,
                                      result *r)
{
    memset(r, 0, sizeof *r);
    silk_ctx *ctx = silk_ctx_new();
    silk_status st = start_call(lc, ctx, ECHO, "x", value, r);
    if (st != SILK_OK)
        assert_string_not_equal(silk_ctx_message(ctx), ""); /* it says why */
    silk_ctx_free(ctx);
    if (st != SILK_OK)
        return st;
    wait_all(lp, r, 1);
    expect(r, r->st, NULL);
    return r->st;
}

/* A server answers a call and closes the connection (a graceful stop does) while the loop has
 * a request to write: the answer that arrived still completes its call. */
static void test_answer_then_close_while_writing(void **state)
{
    (void)state;
    raw_server *rs = raw_start("answerclose");
    fixture fx;
    fixture_open(&fx, rs->address);
    result a = {0}, b = {0};
    assert_int_equal(start_call(fx.lc, NULL, ECHO, "answerclose", "a", &a), SILK_OK);
    assert_true(run_until(&fx.lp, reached, &(at_least){&rs->requests, 1}));
    atomic_store(&rs->go, true);
    /* The answer and the close come in while the loop does not turn. */
    int64_t end = silk__now_us() + WAIT_MS * 1000;
    while (atomic_load(&rs->closed) == 0 && silk__now_us() < end)
        usleep(1000);
    assert_int_equal(atomic_load(&rs->closed), 1);
    assert_int_equal(start_call(fx.lc, NULL, ECHO, "x", "b", &b), SILK_OK);
    wait_all(&fx.lp, &a, 1);
    wait_all(&fx.lp, &b, 1);
    expect(&a, SILK_OK, "raw:answered");
    expect(&b, SILK_UNAVAILABLE, "connection lost");
    fixture_close(&fx);
    raw_stop(rs);
}

static bool stopped_watching(void *arg)
{
    test_loop *lp = arg;
    return lp->watch_stops == lp->watch_starts;
}

static void test_server_stops_and_comes_back(void **state)
{
    (void)state;
    char address[200];
    ipc_address(address, sizeof address, "restart");
    silk_server *srv = server_start(address, "one", false);
    fixture fx;
    fixture_open(&fx, address);
    result r;
    call_and_wait(&fx.lp, fx.lc, NULL, ECHO, "x", "before", &r);
    expect(&r, SILK_OK, "one:before");
    server_stop(srv);
    assert_true(run_until(&fx.lp, stopped_watching, &fx.lp)); /* the loop saw it close */
    assert_int_equal(call_maybe_refused(&fx.lp, fx.lc, "down", &r), SILK_UNAVAILABLE);

    srv = server_start(address, "two", false);
    /* While the channel backs off its dials after the failed one, calls go through it (and
     * may be refused at once); then they are the loop's again, on a new connection. */
    int64_t end = silk__now_us() + WAIT_MS * 1000;
    bool direct = false;
    while (!direct && silk__now_us() < end) {
        unsigned posts = loop_posts(&fx.lp);
        silk_status st = call_maybe_refused(&fx.lp, fx.lc, "back", &r);
        if (st == SILK_OK)
            expect(&r, SILK_OK, "two:back");
        else
            assert_int_equal(st, SILK_UNAVAILABLE);
        direct = st == SILK_OK && loop_posts(&fx.lp) == posts;
        if (!direct)
            run_for(&fx.lp, 50);
    }
    assert_true(direct);
    assert_int_equal(fx.lp.watch_starts, 2);
    fixture_close(&fx);
    server_stop(srv);
}

/* ============================== 5. through the channel ============================== */

static void test_fallback_hostname(void **state)
{
    (void)state;
    silk_server *srv = server_start("tcp://127.0.0.1:0", "srv", false);
    const char *port = strrchr(silk_server_address(srv), ':');
    char address[64];
    snprintf(address, sizeof address, "tcp://localhost%s", port);
    fixture fx;
    fixture_open(&fx, address);
    result r[5] = {0};
    char value[8], want[16];
    for (int i = 0; i < 5; i++) {
        snprintf(value, sizeof value, "h%d", i);
        assert_int_equal(start_call(fx.lc, NULL, ECHO, "x", value, &r[i]), SILK_OK);
        assert_int_equal(r[i].count, 0);
    }
    wait_all(&fx.lp, r, 5);
    for (int i = 0; i < 5; i++) {
        snprintf(want, sizeof want, "srv:h%d", i);
        expect(&r[i], SILK_OK, want);
    }
    assert_int_equal(loop_posts(&fx.lp), 5); /* each through the channel, handed back */
    assert_int_equal(fx.lp.watch_starts, 0);
    fixture_close(&fx);
    server_stop(srv);
}

static atomic_int intercepted;

static void count_after(const silk_call_info *info, const ProtobufCMessage *resp, void *arg)
{
    (void)info;
    (void)resp;
    (void)arg;
    atomic_fetch_add(&intercepted, 1);
}

/* serve_intercepted starts a server answering as "srv" on an ipc address of name and opens fx
 * on it through a channel with an interceptor that counts calls: its calls go the channel's
 * way. */
static silk_server *serve_intercepted(fixture *fx, const char *name)
{
    char address[200];
    ipc_address(address, sizeof address, name);
    silk_server *srv = server_start(address, "srv", false);
    loop_init(&fx->lp);
    assert_int_equal(silk_channel_open(&fx->ch, address), SILK_OK);
    silk_interceptor ic = {.name = "count", .after = count_after};
    assert_int_equal(silk_channel_add_interceptor(fx->ch, &ic), SILK_OK);
    assert_int_equal(silk_loop_channel_open(&fx->lc, fx->ch, loop_ops(&fx->lp)), SILK_OK);
    fx->lp.lc = fx->lc;
    return srv;
}

static void test_fallback_interceptor(void **state)
{
    (void)state;
    atomic_store(&intercepted, 0);
    fixture fx;
    silk_server *srv = serve_intercepted(&fx, "intercepted");
    result r[3] = {0};
    for (int i = 0; i < 3; i++)
        assert_int_equal(start_call(fx.lc, NULL, ECHO, "x", "i", &r[i]), SILK_OK);
    wait_all(&fx.lp, r, 3);
    for (int i = 0; i < 3; i++)
        expect(&r[i], SILK_OK, "srv:i");
    assert_int_equal(atomic_load(&intercepted), 3); /* the channel's chain saw every call */
    assert_int_equal(loop_posts(&fx.lp), 3);
    assert_int_equal(fx.lp.watch_starts, 0);
    fixture_close(&fx);
    server_stop(srv);
}

static void test_fallback_when_the_loop_cannot_watch(void **state)
{
    (void)state;
    fixture fx;
    silk_server *srv = serve_on_ipc(&fx, "unwatched");
    fx.lp.io_fails = true;
    result r;
    call_and_wait(&fx.lp, fx.lc, NULL, ECHO, "x", "refused", &r);
    expect(&r, SILK_OK, "srv:refused");
    assert_int_equal(loop_posts(&fx.lp), 1);
    assert_int_equal(fx.lp.watch_starts, 0);
    fx.lp.io_fails = false;
    call_and_wait(&fx.lp, fx.lc, NULL, ECHO, "x", "watched", &r);
    expect(&r, SILK_OK, "srv:watched");
    assert_int_equal(loop_posts(&fx.lp), 1);
    assert_int_equal(fx.lp.watch_starts, 1);

    /* The loop cannot watch the connection for writing a request: the connection is given
     * up on the next tick and its call fails; the next call gets a new one. */
    fx.lp.io_fails = true;
    call_and_wait(&fx.lp, fx.lc, NULL, ECHO, "x", "stuck", &r);
    expect(&r, SILK_UNAVAILABLE, "the loop cannot watch the connection");
    assert_int_equal(fx.lp.watch_stops, 1);
    fx.lp.io_fails = false;
    call_and_wait(&fx.lp, fx.lc, NULL, ECHO, "x", "again", &r);
    expect(&r, SILK_OK, "srv:again");
    assert_int_equal(fx.lp.watch_starts, 2);
    assert_int_equal(loop_posts(&fx.lp), 1);
    fixture_close(&fx);
    server_stop(srv);
}

/* ============================== 6. malformed input ============================== */

static void test_garbage_is_a_protocol_error(void **state)
{
    (void)state;
    three_in_flight("garbage", "garbage", SILK_UNAVAILABLE, "protocol error");
}

static void test_unknown_kind_is_a_protocol_error(void **state)
{
    (void)state;
    three_in_flight("unknownkind", "unknownkind", SILK_UNAVAILABLE, "protocol error");
}

/* Text is no frame either, though its first bytes read as a length past the limit (so a
 * frame to skip, were its kind one of silk's): the calls fail at once, not at their deadline. */
static void test_text_is_a_protocol_error(void **state)
{
    (void)state;
    three_in_flight("text", "text", SILK_UNAVAILABLE, "protocol error");
}

static void test_too_big_response_is_skipped(void **state)
{
    (void)state;
    raw_server *rs = raw_start("big");
    fixture fx;
    fixture_open(&fx, rs->address);
    result r[3] = {0};
    assert_int_equal(start_call(fx.lc, NULL, ECHO, "big", "1", &r[0]), SILK_OK);
    assert_int_equal(start_call(fx.lc, NULL, ECHO, "x", "2", &r[1]), SILK_OK);
    wait_all(&fx.lp, r, 2);
    expect(&r[0], SILK_RESOURCE_EXHAUSTED, "exceeds the message limit");
    expect(&r[1], SILK_OK, "raw:2"); /* the frame after the skipped one */
    call_and_wait(&fx.lp, fx.lc, NULL, ECHO, "x", "3", &r[2]);
    expect(&r[2], SILK_OK, "raw:3");
    assert_int_equal(atomic_load(&rs->accepted), 1);
    assert_int_equal(fx.lp.watch_starts, 1);
    assert_int_equal(fx.lp.watch_stops, 0);
    fixture_close(&fx);
    raw_stop(rs);
}

static void test_undecodable_response(void **state)
{
    (void)state;
    raw_server *rs = raw_start("undecodable");
    fixture fx;
    fixture_open(&fx, rs->address);
    result r[4] = {0};
    assert_int_equal(start_call(fx.lc, NULL, ECHO, "badhdr", "1", &r[0]), SILK_OK);
    assert_int_equal(start_call(fx.lc, NULL, ECHO, "badpayload", "2", &r[1]), SILK_OK);
    assert_int_equal(start_call(fx.lc, NULL, ECHO, "status99", "3", &r[2]), SILK_OK);
    assert_int_equal(start_call(fx.lc, NULL, ECHO, "x", "4", &r[3]), SILK_OK);
    wait_all(&fx.lp, r, 4);
    expect(&r[0], SILK_INTERNAL, "cannot decode the response header");
    expect(&r[1], SILK_INTERNAL, "cannot decode the response");
    expect(&r[2], SILK_UNKNOWN, "odd"); /* a status silk does not know */
    expect(&r[3], SILK_OK, "raw:4");
    assert_int_equal(atomic_load(&rs->accepted), 1);
    assert_int_equal(fx.lp.watch_stops, 0);
    fixture_close(&fx);
    raw_stop(rs);
}

/* ============================== 7. keepalive ============================== */

static void test_keepalive(void **state)
{
    (void)state;
    raw_server *rs = raw_start("keepalive");
    fixture fx;
    setenv("SILK_KEEPALIVE_MS", "100", 1);
    fixture_open(&fx, rs->address);
    unsetenv("SILK_KEEPALIVE_MS");

    /* Silence: a ping, then the connection is given up. */
    silk_ctx *ctx = silk_ctx_new();
    silk_ctx_set_timeout(ctx, 60000); /* no deadline before the test ends */
    result r;
    call_and_wait(&fx.lp, fx.lc, ctx, ECHO, "hang", "1", &r);
    expect(&r, SILK_UNAVAILABLE, "no answer to a keepalive ping");
    assert_true(atomic_load(&rs->pings) >= 1);
    assert_int_equal(atomic_load(&rs->last_ping_id), 0);
    assert_int_equal(fx.lp.watch_stops, 1);

    /* Pongs keep the connection, and the client answers the server's pings. */
    atomic_store(&rs->pong, true);
    int pings = atomic_load(&rs->pings);
    memset(&r, 0, sizeof r);
    assert_int_equal(start_call(fx.lc, ctx, ECHO, "hang", "2", &r), SILK_OK);
    silk_ctx_free(ctx);
    assert_true(run_until(&fx.lp, reached, &(at_least){&rs->pings, pings + 3}));
    assert_int_equal(r.count, 0);
    assert_int_equal(fx.lp.watch_stops, 1);
    atomic_store(&rs->send_ping, true);
    assert_true(run_until(&fx.lp, reached, &(at_least){&rs->pongs, 1}));
    assert_int_equal(atomic_load(&rs->last_pong_id), 77);
    atomic_store(&rs->answer_hung, true);
    wait_all(&fx.lp, &r, 1);
    expect(&r, SILK_OK, "raw:released");
    assert_int_equal(atomic_load(&rs->accepted), 2);
    assert_int_equal(fx.lp.watch_stops, 1);
    fixture_close(&fx);
    raw_stop(rs);
}

/* ============================== 8. freeing with calls in flight ============================== */

static void test_free_with_calls_in_flight(void **state)
{
    (void)state;
    atomic_store(&waits_started, 0);
    atomic_store(&cancels_seen, 0);
    silk_server *srv = server_start("tcp://127.0.0.1:0", "c", true);
    fixture fx;
    fixture_open(&fx, "looptest.Echo");
    result warm;
    call_and_wait(&fx.lp, fx.lc, NULL, ECHO, "x", "warm", &warm);
    expect(&warm, SILK_OK, "c:warm");
    assert_true(run_until(&fx.lp, all_connected, &(watching){&fx.lp, 1}));

    /* Four calls on the loop's connection, one of them idempotent: a copy of it is kept
     * with the channel, which a closing loop channel does not hand it. */
    result r[4] = {0};
    unsigned posts = loop_posts(&fx.lp);
    silk_ctx *ctx = silk_ctx_new(); /* a deadline far beyond the test */
    silk_ctx_set_timeout(ctx, 60000);
    r[0].recall_lc = fx.lc;
    assert_int_equal(start_call(fx.lc, ctx, IDEM, "wait", "20000", &r[0]), SILK_OK);
    for (int i = 1; i < 4; i++) {
        r[i].recall_lc = fx.lc;
        assert_int_equal(start_call(fx.lc, ctx, ECHO, "wait", "20000", &r[i]), SILK_OK);
    }
    silk_ctx_free(ctx);
    assert_true(run_until(&fx.lp, reached, &(at_least){&waits_started, 4}));
    for (int i = 0; i < 4; i++)
        assert_int_equal(r[i].count, 0);

    fx.lp.lc = NULL;
    silk_loop_channel_close(fx.lc);
    for (int i = 0; i < 4; i++) {
        expect(&r[i], SILK_CANCELLED, "closed"); /* before free returned */
        assert_int_equal(r[i].recall_st, SILK_CANCELLED);
    }
    assert_int_equal(fx.lp.watch_starts, fx.lp.watch_stops);
    /* The connection's close cancelled the handlers. */
    assert_true(run_until(&fx.lp, reached, &(at_least){&cancels_seen, 4}));

    silk_channel_close(fx.ch);
    assert_int_equal(loop_posts(&fx.lp), posts); /* nothing went to the channel */
    loop_fini(&fx.lp);
    server_stop(srv);
}

/* by_hand is an instance registered by the test itself, in the file registry. */
typedef struct by_hand {
    silk_registry *reg;
    silk_instance inst;
} by_hand;

static void register_by_hand(by_hand *h, const char *service, const char *id, const char *address)
{
    assert_int_equal(silk_registry_open(&h->reg, NULL), SILK_OK);
    h->inst = (silk_instance){.service = (char *)service,
                              .id = (char *)id,
                              .address = (char *)address,
                              .weight = 1,
                              .version = "",
                              .started_ms = silk__wall_ms()};
    assert_int_equal(silk_registry_register(h->reg, &h->inst), SILK_OK);
}

static void deregister_by_hand(by_hand *h)
{
    assert_int_equal(silk_registry_deregister(h->reg, h->inst.service, h->inst.id), SILK_OK);
    silk_registry_close(h->reg);
}

/* ============================== the breaker ============================== */

/* An instance's breaker opens after failures in a row: an answer in between, on a connection
 * made after the failures, starts the count again. The instance is a raw server registered
 * by hand; each "close" loses the connection (a failure). */
static void test_breaker_counts_failures_in_a_row(void **state)
{
    (void)state;
    raw_server *rs = raw_start("breaker");
    by_hand hand;
    register_by_hand(&hand, "looptest.Raw", "only", rs->address);
    fixture fx;
    fixture_open(&fx, "looptest.Raw");
    assert_int_equal(silk_channel_set_breaker(fx.ch, 2, 60000), SILK_OK);
    /* The channel's own calls count so: lost, answered, lost, answered. */
    for (int round = 0; round < 4; round++) {
        Msg req = SILK__RPC__METADATA__INIT;
        req.key = round % 2 == 0 ? "close" : "x";
        req.value = "sync";
        ProtobufCMessage *resp = NULL;
        assert_int_equal(silk_channel_call(fx.ch, NULL, &methods[ECHO], &req.base, &resp),
                         round % 2 == 0 ? SILK_UNAVAILABLE : SILK_OK);
        if (resp != NULL)
            protobuf_c_message_free_unpacked(resp, NULL);
    }
    result r;
    for (int round = 0; round < 3; round++) {
        call_and_wait(&fx.lp, fx.lc, NULL, ECHO, "close", "lost", &r);
        expect(&r, SILK_UNAVAILABLE, "connection lost");
        /* One failure since the last answer: the instance is still called. */
        assert_int_equal(call_maybe_refused(&fx.lp, fx.lc, "answered", &r), SILK_OK);
        expect(&r, SILK_OK, "raw:answered");
    }
    assert_int_equal(loop_posts(&fx.lp), 0);
    fixture_close(&fx);
    deregister_by_hand(&hand);
    raw_stop(rs);
}

/* ============================== idempotent calls ============================== */

/* An idempotent call whose loop connection is lost goes to the channel, which sends it again
 * to another instance: the caller gets that answer, through post, on the loop's thread. A
 * call of any other method fails. */
static void test_idempotent_call_fails_over(void **state)
{
    (void)state;
    raw_server *rs = raw_start("failover");
    silk_server *srv = server_start("tcp://127.0.0.1:0", "srv", true);
    by_hand hand;
    register_by_hand(&hand, "looptest.Echo", "raw", rs->address);
    fixture fx;
    fixture_open(&fx, "looptest.Echo");
    assert_int_equal(silk_channel_set_policy(fx.ch, SILK_LB_HASH), SILK_OK);

    /* A business id the raw instance owns, found with the channel's own calls. */
    silk_ctx *ctx = NULL;
    for (int k = 0; k < 64 && ctx == NULL; k++) {
        char bid[32];
        snprintf(bid, sizeof bid, "owner-%d", k);
        silk_ctx *c = silk_ctx_new();
        assert_int_equal(silk_ctx_set(c, SILK_MD_BUSINESS_ID, bid), SILK_OK);
        Msg req = SILK__RPC__METADATA__INIT;
        req.key = "x";
        req.value = "probe";
        ProtobufCMessage *resp = NULL;
        assert_int_equal(silk_channel_call(fx.ch, c, &methods[ECHO], &req.base, &resp), SILK_OK);
        if (strcmp(((Msg *)resp)->value, "raw:probe") == 0)
            ctx = c;
        else
            silk_ctx_free(c);
        protobuf_c_message_free_unpacked(resp, NULL);
    }
    assert_non_null(ctx); /* 64 keys over 2 instances: the raw one has some */

    result r;
    call_and_wait(&fx.lp, fx.lc, ctx, ECHO, "x", "warm", &r);
    expect(&r, SILK_OK, "raw:warm");
    assert_true(run_until(&fx.lp, all_connected, &(watching){&fx.lp, 1}));
    unsigned posts = loop_posts(&fx.lp);
    call_and_wait(&fx.lp, fx.lc, ctx, ECHO, "x", "direct", &r);
    expect(&r, SILK_OK, "raw:direct");
    assert_int_equal(loop_posts(&fx.lp), posts); /* on the loop's connection */

    call_and_wait(&fx.lp, fx.lc, ctx, IDEM, "close", "moved", &r);
    expect(&r, SILK_OK, "srv:moved"); /* lost on raw's connection, answered by srv */
    assert_int_equal(loop_posts(&fx.lp), posts + 1);

    fixture_close(&fx);
    silk_ctx_free(ctx);
    deregister_by_hand(&hand);
    raw_stop(rs);
    server_stop(srv);
}

/* Calls made while their connection is being made are the loop's: queued, they leave once it
 * is made; when it cannot be made, they were never sent, and the channel gives them to
 * another instance - whatever their method. */
static void test_unmade_connection_fails_over(void **state)
{
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0); /* bound, not listening */
    socklen_t len = sizeof sa;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    char dead[64];
    snprintf(dead, sizeof dead, "tcp://127.0.0.1:%u", ntohs(sa.sin_port));
    silk_server *srv = server_start("tcp://127.0.0.1:0", "srv", true);
    by_hand hand;
    register_by_hand(&hand, "looptest.Echo", "dead", dead);
    fixture fx;
    fixture_open(&fx, "looptest.Echo");
    assert_int_equal(silk_channel_set_policy(fx.ch, SILK_LB_ROUND_ROBIN), SILK_OK);

    enum { N = 8 };
    result r[N] = {0};
    char value[8], want[16];
    for (int i = 0; i < N; i++) { /* one turn: both connections are still being made */
        snprintf(value, sizeof value, "u%d", i);
        assert_int_equal(start_call(fx.lc, NULL, ECHO, "x", value, &r[i]), SILK_OK);
    }
    wait_all(&fx.lp, r, N);
    for (int i = 0; i < N; i++) {
        snprintf(want, sizeof want, "srv:u%d", i);
        expect(&r[i], SILK_OK, want);
    }
    /* Half went to srv on the loop's connection; the dead one's half came back by post. */
    assert_int_equal(loop_posts(&fx.lp), N / 2);

    fixture_close(&fx);
    deregister_by_hand(&hand);
    server_stop(srv);
    close(fd);
}

/* ============================== a handler's loop ============================== */

static silk_channel *relay_ch; /* Relay's way back to its own server */

/* Relay calls Echo of value with its handler's ctx on relay_ch, through a loop channel on a
 * loop of its own, and answers with what that call and the loop saw. A handler's ctx makes
 * the loop channel hand the call to the channel (it is cancelled with the handler's call). */
static silk_status relay(silk_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp,
                         const void *h, void *user)
{
    (void)h;
    (void)user;
    test_loop lp;
    loop_init(&lp);
    silk_loop_channel *lc = NULL;
    result r = {0};
    silk_status st = silk_loop_channel_open(&lc, relay_ch, loop_ops(&lp));
    if (st == SILK_OK)
        st = start_call(lc, ctx, ECHO, "x", ((const Msg *)req)->value, &r);
    if (st == SILK_OK)
        run_until(&lp, all_done, &(results){&r, 1});
    silk_loop_channel_close(lc);
    unsigned posts = loop_posts(&lp), watches = lp.watch_starts;
    bool clean = loop_close(&lp);
    if (st != SILK_OK)
        return silk_ctx_fail(ctx, st, "the relay's call failed: %s", silk_ctx_message(ctx));
    Msg *out = (Msg *)resp;
    out->key = "relay";
    out->value = silk_ctx_printf(
        ctx, "%s %s posts=%u watches=%u count=%d thread=%d early=%d clean=%d", r.value,
        silk_status_str(r.st), posts, watches, r.count, !r.wrong_thread, r.early, clean);
    return SILK_OK;
}

static void test_fallback_handler_ctx(void **state)
{
    (void)state;
    char address[200];
    ipc_address(address, sizeof address, "relay");
    silk_server *srv = server_start(address, "srv", false);
    assert_int_equal(silk_channel_open(&relay_ch, address), SILK_OK);
    fixture fx;
    fixture_open(&fx, address);
    result r;
    call_and_wait(&fx.lp, fx.lc, NULL, RELAY, "x", "nested", &r);
    expect(&r, SILK_OK, "srv:nested OK posts=1 watches=0 count=1 thread=1 early=0 clean=1");
    assert_int_equal(loop_posts(&fx.lp), 0); /* the outer call was the loop's own */
    fixture_close(&fx);
    silk_channel_close(relay_ch);
    relay_ch = NULL;
    server_stop(srv);
}

/* ============================== large messages ============================== */

/* Requests and answers larger than a read: many at once, written as the socket takes them
 * and read in pieces; one over the limit is refused at once and the connection goes on. */
static void test_large_messages(void **state)
{
    (void)state;
    fixture fx;
    silk_server *srv = serve_on_ipc(&fx, "large");
    enum { N = 6, SIZE = 1 << 20 };
    char *value = malloc(SIZE + 1);
    assert_non_null(value);
    result r[N] = {0};
    for (int i = 0; i < N; i++) {
        memset(value, 'a' + i, SIZE);
        value[SIZE] = '\0';
        assert_int_equal(start_call(fx.lc, NULL, ECHO, "x", value, &r[i]), SILK_OK);
    }
    wait_all(&fx.lp, r, N);
    for (int i = 0; i < N; i++) {
        expect(&r[i], SILK_OK, NULL);
        assert_int_equal(r[i].value_len, SIZE + 4); /* "srv:" and the value */
        assert_int_equal(r[i].value_last, 'a' + i);
    }
    free(value);

    size_t too_big = SILK__MAX_MESSAGE_DEFAULT + SILK__FRAME_HEADER_ROOM;
    value = malloc(too_big + 1);
    assert_non_null(value);
    memset(value, 'z', too_big);
    value[too_big] = '\0';
    silk_ctx *ctx = silk_ctx_new();
    result over = {0};
    calling++;
    Msg req = SILK__RPC__METADATA__INIT;
    req.key = "x";
    req.value = value;
    assert_int_equal(silk_loop_channel_call(fx.lc, ctx, &methods[ECHO], &req.base, never, &over),
                     SILK_RESOURCE_EXHAUSTED);
    calling--;
    assert_non_null(strstr(silk_ctx_message(ctx), "exceeds the message limit"));
    silk_ctx_free(ctx);
    free(value);
    result after;
    call_and_wait(&fx.lp, fx.lc, NULL, ECHO, "x", "after", &after);
    expect(&after, SILK_OK, "srv:after");
    run_for(&fx.lp, 20);
    assert_int_equal(over.count, 0); /* its callback never runs */
    assert_int_equal(fx.lp.watch_starts, 1);
    assert_int_equal(loop_posts(&fx.lp), 0);
    fixture_close(&fx);
    server_stop(srv);
}

/* Lent responses: small and large (beyond the stack's few KiB), on the loop channel's own
 * connection and through the channel (an interceptor sends calls that way), are right in the
 * callback, which does not free them; the sanitizers' leak check sees that the loop channel
 * does, once. */
static void test_lent_responses(void **state)
{
    (void)state;
    enum { N = 8, SIZE = 64 * 1024 };
    char *value = malloc(SIZE + 1);
    assert_non_null(value);
    memset(value, 'q', SIZE);
    value[SIZE] = '\0';
    for (int through_channel = 0; through_channel < 2; through_channel++) {
        fixture fx;
        silk_server *srv =
            through_channel ? serve_intercepted(&fx, "lent-channel") : serve_on_ipc(&fx, "lent");
        result r[N] = {0};
        char small[32], want[48];
        for (int i = 0; i < N; i++) {
            snprintf(small, sizeof small, "lent%d", i);
            assert_int_equal(start_lent(fx.lc, i % 2 ? value : small, &r[i]), SILK_OK);
        }
        wait_all(&fx.lp, r, N);
        for (int i = 0; i < N; i++) {
            snprintf(want, sizeof want, "srv:lent%d", i);
            expect(&r[i], SILK_OK, i % 2 ? NULL : want);
            if (i % 2) {
                assert_int_equal(r[i].value_len, SIZE + 4);
                assert_int_equal(r[i].value_last, 'q');
            }
        }
        assert_int_equal(loop_posts(&fx.lp), through_channel ? N : 0);
        fixture_close(&fx);
        server_stop(srv);
    }
    free(value);
}

/* ============================== odds and ends ============================== */

/* A service that stops reading: requests pile up to the connection's limit, past it new calls
 * are refused at once; when the service closes, the calls queued fail and the next call gets
 * a new connection. */
static void test_send_buffer_limit(void **state)
{
    (void)state;
    raw_server *rs = raw_start("stall");
    fixture fx;
    fixture_open(&fx, rs->address);
    result stalled = {0};
    assert_int_equal(start_call(fx.lc, NULL, ECHO, "stall", "0", &stalled), SILK_OK);
    assert_true(run_until(&fx.lp, reached, &(at_least){&rs->requests, 1}));
    enum { MAX_CALLS = 64, SIZE = 1 << 20 };
    char *value = malloc(SIZE + 1);
    assert_non_null(value);
    memset(value, 'q', SIZE);
    value[SIZE] = '\0';
    result *r = calloc(MAX_CALLS, sizeof *r);
    assert_non_null(r);
    silk_status st = SILK_OK;
    int n = 0;
    silk_ctx *ctx = silk_ctx_new();
    while (n < MAX_CALLS && (st = start_call(fx.lc, ctx, ECHO, "x", value, &r[n])) == SILK_OK) {
        n++;
        run_for(&fx.lp, 2); /* the loop writes what the socket takes */
    }
    free(value);
    assert_int_equal(st, SILK_RESOURCE_EXHAUSTED);
    assert_non_null(strstr(silk_ctx_message(ctx), "send buffer is full"));
    silk_ctx_free(ctx);
    assert_true(n >= 15); /* 16 MiB held, less what the socket took */
    atomic_store(&rs->go, true);
    wait_all(&fx.lp, r, (size_t)n);
    wait_all(&fx.lp, &stalled, 1);
    for (int i = 0; i < n; i++)
        expect(&r[i], SILK_UNAVAILABLE, "connection lost");
    expect(&stalled, SILK_UNAVAILABLE, "connection lost");
    assert_int_equal(r[n].count, 0); /* the refused call is never completed */
    free(r);
    atomic_store(&rs->go, false);
    result again;
    call_and_wait(&fx.lp, fx.lc, NULL, ECHO, "x", "again", &again);
    expect(&again, SILK_OK, "raw:again");
    assert_int_equal(atomic_load(&rs->accepted), 2);
    fixture_close(&fx);
    raw_stop(rs);
}

/* A numeric IPv6 address is the loop's too (skipped where ::1 cannot be bound). */
static void test_ipv6_address(void **state)
{
    (void)state;
    silk_server_opts opts = {.listen = "tcp://[::1]:0", .workers = 2, .no_register = true};
    silk_server *srv = silk_server_new(&opts);
    assert_non_null(srv);
    assert_int_equal(silk_server_add_service(srv, &echo_desc, &(handlers){0}, "six"), SILK_OK);
    if (silk_server_start(srv) != SILK_OK) {
        silk_server_free(srv);
        skip();
    }
    live++;
    fixture fx;
    fixture_open(&fx, silk_server_address(srv));
    assert_non_null(strstr(silk_server_address(srv), "[::1]"));
    result r;
    call_and_wait(&fx.lp, fx.lc, NULL, ECHO, "x", "v6", &r);
    expect(&r, SILK_OK, "six:v6");
    assert_int_equal(fx.lp.watch_starts, 1); /* the loop dialled it */
    assert_true(run_until(&fx.lp, all_connected, &(watching){&fx.lp, 1}));
    unsigned posts = loop_posts(&fx.lp);
    call_and_wait(&fx.lp, fx.lc, NULL, ECHO, "x", "v6b", &r);
    expect(&r, SILK_OK, "six:v6b");
    assert_int_equal(loop_posts(&fx.lp), posts);
    fixture_close(&fx);
    server_stop(srv);
}

/* The cluster token travels with the loop's calls. */
static void test_token(void **state)
{
    (void)state;
    char address[200];
    ipc_address(address, sizeof address, "token");
    setenv("SILK_TOKEN", "s3cret", 1);
    silk_server *srv = server_start(address, "srv", false);
    fixture fx;
    fixture_open(&fx, address);
    unsetenv("SILK_TOKEN");
    result r;
    call_and_wait(&fx.lp, fx.lc, NULL, ECHO, "x", "in", &r);
    expect(&r, SILK_OK, "srv:in");
    fixture_close(&fx);
    fixture_open(&fx, address); /* no token */
    call_and_wait(&fx.lp, fx.lc, NULL, ECHO, "x", "out", &r);
    expect(&r, SILK_UNAUTHENTICATED, NULL);
    assert_int_equal(loop_posts(&fx.lp), 0);
    fixture_close(&fx);
    server_stop(srv);
}

/* On a channel to an address nothing is sent elsewhere: an idempotent method is the loop's. */
static void test_idempotent_to_an_address_is_direct(void **state)
{
    (void)state;
    fixture fx;
    silk_server *srv = serve_on_ipc(&fx, "idem");
    result r;
    call_and_wait(&fx.lp, fx.lc, NULL, IDEM, "x", "idem", &r);
    expect(&r, SILK_OK, "srv:idem");
    assert_int_equal(loop_posts(&fx.lp), 0);
    assert_int_equal(fx.lp.watch_starts, 1);
    fixture_close(&fx);
    server_stop(srv);
}

/* A dial that fails on the loop (nothing listens on the port) is cleaned up; the call goes
 * through the channel and fails UNAVAILABLE. */
static void test_dead_tcp_address(void **state)
{
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t len = sizeof sa;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    char address[64];
    snprintf(address, sizeof address, "tcp://127.0.0.1:%u", ntohs(sa.sin_port));
    fixture fx;
    fixture_open(&fx, address); /* bound, not listening: refused */
    result r;
    assert_int_equal(call_maybe_refused(&fx.lp, fx.lc, "dead", &r), SILK_UNAVAILABLE);
    assert_true(run_until(&fx.lp, stopped_watching, &fx.lp));
    fixture_close(&fx);
    close(fd);
}

/* A ctx whose deadline passed, or the loop channel closing: refused at once. */
static void test_spent_budget(void **state)
{
    (void)state;
    fixture fx;
    silk_server *srv = serve_on_ipc(&fx, "spent");
    silk_ctx *ctx = silk_ctx_new();
    silk_ctx_set_timeout(ctx, 1);
    usleep(3000);
    result r = {0};
    assert_int_equal(start_call(fx.lc, ctx, ECHO, "x", "late", &r), SILK_DEADLINE_EXCEEDED);
    assert_string_equal(silk_ctx_message(ctx), "the deadline passed before the call started");
    silk_ctx_free(ctx);
    run_for(&fx.lp, 20);
    assert_int_equal(r.count, 0);
    fixture_close(&fx);
    server_stop(srv);
}

/* ============================== the run ============================== */

static void test_arguments(void **state)
{
    (void)state;
    test_loop lp;
    loop_init(&lp);
    silk_channel *ch;
    assert_int_equal(silk_channel_open(&ch, "ipc:///nonexistent/x.sock"), SILK_OK);
    silk_loop_channel *lc = NULL;
    silk_loop_ops no_post = {.loop = &lp, .io = loop_io};
    assert_int_equal(silk_loop_channel_open(&lc, ch, &no_post), SILK_INVALID_ARGUMENT);
    assert_int_equal(silk_loop_channel_open(&lc, NULL, loop_ops(&lp)), SILK_INVALID_ARGUMENT);
    assert_int_equal(silk_loop_channel_open(&lc, ch, loop_ops(&lp)), SILK_OK);
    Silk__Rpc__ResponseHeader wrong = SILK__RPC__RESPONSE_HEADER__INIT;
    result r = {0};
    silk_ctx *ctx = silk_ctx_new();
    assert_int_equal(silk_loop_channel_call(lc, ctx, &methods[ECHO], &wrong.base, on_done, &r),
                     SILK_INVALID_ARGUMENT);
    assert_string_equal(silk_ctx_message(ctx), "invalid arguments");
    silk_ctx_free(ctx);
    silk_loop_channel_close(lc);
    silk_loop_channel_close(NULL);
    silk_channel_close(ch);
    assert_int_equal(r.count, 0);
    loop_fini(&lp);
}

/* A test that fails leaves servers and calls running that point into its stack, which is gone:
 * nothing of them can be cleaned up, so the tests after it are not run and the process ends
 * without the final teardown (which would wait for them). */
static bool abandoned;

/* ============================== calls answered in this process ============================== */

/* looptest.Pool is served beside looptest.Echo but not inline: its calls still go over a
 * socket, to a worker. */
static const silk_method_desc pool_methods[] = {
    {.name = "Echo",
     .path = "/looptest.Pool/Echo",
     .input = &silk__rpc__metadata__descriptor,
     .output = &silk__rpc__metadata__descriptor,
     .invoke = echo},
};

static const silk_service_desc pool_desc = {
    .name = "looptest.Pool",
    .route = "api/looptestpool",
    .n_methods = 1,
    .methods = pool_methods,
    .handlers_size = sizeof(handlers),
};

static atomic_int server_befores, server_afters;

static silk_status count_server_before(const silk_call_info *info, const ProtobufCMessage *req,
                                       void *user)
{
    (void)info;
    (void)req;
    (void)user;
    atomic_fetch_add(&server_befores, 1);
    return SILK_OK;
}

static void count_server_after(const silk_call_info *info, const ProtobufCMessage *resp, void *user)
{
    (void)resp;
    (void)user;
    if (info->server)
        atomic_fetch_add(&server_afters, 1);
}

/* serve_here starts a server answering as "here" with looptest.Echo inline, looptest.Pool on
 * workers and an interceptor counting its calls, on an ipc address of name, and opens fx on it
 * with a loop that flushes and the server set as its local one. */
static silk_server *serve_here(fixture *fx, const char *name)
{
    char address[200];
    ipc_address(address, sizeof address, name);
    silk_server *srv = silk_server_new(&(silk_server_opts){
        .listen = address, .instance_id = "here", .workers = 2, .no_register = true});
    assert_non_null(srv);
    assert_int_equal(silk_server_add_service(srv, &echo_desc, &(handlers){0}, "here"), SILK_OK);
    assert_int_equal(silk_server_add_service(srv, &pool_desc, &(handlers){0}, "pool"), SILK_OK);
    assert_int_equal(silk_server_set_inline(srv, &echo_desc), SILK_OK);
    silk_interceptor ic = {
        .name = "count", .before = count_server_before, .after = count_server_after};
    assert_int_equal(silk_server_add_interceptor(srv, &ic), SILK_OK);
    assert_int_equal(silk_server_start(srv), SILK_OK);
    live++;
    loop_init(&fx->lp);
    assert_int_equal(silk_channel_open(&fx->ch, address), SILK_OK);
    silk_loop_ops ops = *loop_ops(&fx->lp);
    ops.flushes = true;
    fx->lp.ops.flushes = true; /* loop_turn flushes */
    assert_int_equal(silk_loop_channel_open(&fx->lc, fx->ch, &ops), SILK_OK);
    fx->lp.lc = fx->lc;
    assert_int_equal(silk_loop_channel_set_local(fx->lc, srv), SILK_OK);
    return srv;
}

static void test_local_inline_calls_run_here(void **state)
{
    (void)state;
    atomic_store(&handled_on_loop, 0);
    atomic_store(&server_befores, 0);
    atomic_store(&server_afters, 0);
    fixture fx;
    silk_server *srv = serve_here(&fx, "here");
    result r;
    call_and_wait(&fx.lp, fx.lc, NULL, ECHO, "x", "v", &r); /* its own response, to free */
    expect(&r, SILK_OK, "here:v");
    memset(&r, 0, sizeof r);
    assert_int_equal(start_lent(fx.lc, "lent", &r), SILK_OK);
    assert_int_equal(r.count, 0); /* completed at the flush, not from the call */
    wait_all(&fx.lp, &r, 1);
    expect(&r, SILK_OK, "here:lent");

    /* The handler's ctx is the one the call would have sent: its metadata, the business id
     * and a trace id made for it, and the budget. */
    silk_ctx *ctx = silk_ctx_new();
    assert_int_equal(silk_ctx_set(ctx, "business-id", "100"), SILK_OK);
    call_and_wait(&fx.lp, fx.lc, ctx, ECHO, "md", "business-id", &r);
    expect(&r, SILK_OK, "here:100");
    call_and_wait(&fx.lp, fx.lc, ctx, ECHO, "md", "trace-id", &r);
    assert_int_equal(strlen(r.value), strlen("here:") + 32);
    call_and_wait(&fx.lp, fx.lc, ctx, ECHO, "budget", "", &r);
    expect(&r, SILK_OK, "here:within");
    silk_ctx_free(ctx);

    /* A handler's status and message reach the caller as they are. */
    call_and_wait(&fx.lp, fx.lc, NULL, ECHO, "fail", "such thing", &r);
    expect(&r, SILK_NOT_FOUND, "no such thing");

    /* All of it ran on the loop's thread, through the server's interceptors, with no
     * connection and nothing posted. */
    assert_int_equal(atomic_load(&handled_on_loop), 6);
    assert_int_equal(atomic_load(&server_befores), 6);
    assert_int_equal(atomic_load(&server_afters), 6);
    assert_int_equal(fx.lp.watch_starts, 0);

    /* A method of a service that is not inline goes to the server over its socket. */
    Msg req = SILK__RPC__METADATA__INIT;
    req.key = "x";
    req.value = "pooled";
    memset(&r, 0, sizeof r);
    calling++;
    assert_int_equal(silk_loop_channel_call(fx.lc, NULL, &pool_methods[0], &req.base, on_done, &r),
                     SILK_OK);
    calling--;
    wait_all(&fx.lp, &r, 1);
    expect(&r, SILK_OK, "pool:pooled");
    assert_int_equal(atomic_load(&handled_on_loop), 6);
    assert_int_equal(atomic_load(&server_befores), 7);

    /* Without a local server, calls go over the socket again. */
    assert_int_equal(silk_loop_channel_set_local(fx.lc, NULL), SILK_OK);
    call_and_wait(&fx.lp, fx.lc, NULL, ECHO, "x", "sent", &r);
    expect(&r, SILK_OK, "here:sent");
    assert_int_equal(atomic_load(&handled_on_loop), 6);
    fixture_close(&fx);
    server_stop(srv);
}

static void test_local_close_cancels_what_waits(void **state)
{
    (void)state;
    fixture fx;
    silk_server *srv = serve_here(&fx, "herecl");
    result r[2] = {0};
    assert_int_equal(start_call(fx.lc, NULL, ECHO, "x", "a", &r[0]), SILK_OK);
    assert_int_equal(start_lent(fx.lc, "b", &r[1]), SILK_OK);
    fx.lp.lc = NULL;
    silk_loop_channel_close(fx.lc); /* before the flush that would complete them */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(r[i].count, 1);
        assert_int_equal(r[i].st, SILK_CANCELLED);
        assert_string_equal(r[i].message, "the loop channel is closed");
    }
    silk_channel_close(fx.ch);
    run_until(&fx.lp, no_tasks, &fx.lp);
    loop_fini(&fx.lp);
    server_stop(srv);
}

static void test_local_needs_a_loop_that_flushes(void **state)
{
    (void)state;
    fixture fx;
    silk_server *srv = server_start("tcp://127.0.0.1:0", "srv", false);
    fixture_open(&fx, silk_server_address(srv));
    assert_int_equal(silk_loop_channel_set_local(fx.lc, srv), SILK_FAILED_PRECONDITION);
    assert_int_equal(silk_loop_channel_set_local(NULL, srv), SILK_INVALID_ARGUMENT);
    assert_int_equal(silk_loop_channel_set_local(fx.lc, NULL), SILK_OK);
    fixture_close(&fx);
    server_stop(srv);
}

static int before_test(void **state)
{
    (void)state;
    if (abandoned)
        fprintf(stderr, "not run: a test before it failed with servers running\n");
    return abandoned ? -1 : 0;
}

static int after_test(void **state)
{
    (void)state;
    abandoned |= live != 0;
    return 0;
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/silk-loop-test-XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return 1;
    unsetenv("SILK_TOKEN");
    unsetenv("SILK_KEEPALIVE_MS");
    unsetenv("SILK_LB");
    char registry[200];
    snprintf(registry, sizeof registry, "file:%s/registry", tmpdir);
    setenv("SILK_REGISTRY", registry, 1);
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_arguments, before_test, after_test),
        cmocka_unit_test_setup_teardown(test_batch_tcp, before_test, after_test),
        cmocka_unit_test_setup_teardown(test_batch_ipc, before_test, after_test),
        cmocka_unit_test_setup_teardown(test_by_name_hash, before_test, after_test),
        cmocka_unit_test_setup_teardown(test_deadline_real_server, before_test, after_test),
        cmocka_unit_test_setup_teardown(test_deadline_silent_server, before_test, after_test),
        cmocka_unit_test_setup_teardown(test_server_closes_with_calls_in_flight, before_test, after_test),
        cmocka_unit_test_setup_teardown(test_answer_then_close_while_writing, before_test, after_test),
        cmocka_unit_test_setup_teardown(test_server_stops_and_comes_back, before_test, after_test),
        cmocka_unit_test_setup_teardown(test_fallback_hostname, before_test, after_test),
        cmocka_unit_test_setup_teardown(test_fallback_interceptor, before_test, after_test),
        cmocka_unit_test_setup_teardown(test_lent_responses, before_test, after_test),
        cmocka_unit_test_setup_teardown(test_fallback_when_the_loop_cannot_watch, before_test, after_test),
        cmocka_unit_test_setup_teardown(test_fallback_handler_ctx, before_test, after_test),
        cmocka_unit_test_setup_teardown(test_breaker_counts_failures_in_a_row, before_test, after_test),
        cmocka_unit_test_setup_teardown(test_garbage_is_a_protocol_error, before_test, after_test),
        cmocka_unit_test_setup_teardown(test_unknown_kind_is_a_protocol_error, before_test, after_test),
        cmocka_unit_test_setup_teardown(test_text_is_a_protocol_error, before_test, after_test),
        cmocka_unit_test_setup_teardown(test_too_big_response_is_skipped, before_test, after_test),
        cmocka_unit_test_setup_teardown(test_undecodable_response, before_test, after_test),
        cmocka_unit_test_setup_teardown(test_keepalive, before_test, after_test),
        cmocka_unit_test_setup_teardown(test_large_messages, before_test, after_test),
        cmocka_unit_test_setup_teardown(test_idempotent_to_an_address_is_direct, before_test, after_test),
        cmocka_unit_test_setup_teardown(test_idempotent_call_fails_over, before_test, after_test),
        cmocka_unit_test_setup_teardown(test_unmade_connection_fails_over, before_test, after_test),
        cmocka_unit_test_setup_teardown(test_dead_tcp_address, before_test, after_test),
        cmocka_unit_test_setup_teardown(test_spent_budget, before_test, after_test),
        cmocka_unit_test_setup_teardown(test_send_buffer_limit, before_test, after_test),
        cmocka_unit_test_setup_teardown(test_ipv6_address, before_test, after_test),
        cmocka_unit_test_setup_teardown(test_token, before_test, after_test),
        cmocka_unit_test_setup_teardown(test_free_with_calls_in_flight, before_test, after_test),
        cmocka_unit_test_setup_teardown(test_local_inline_calls_run_here, before_test, after_test),
        cmocka_unit_test_setup_teardown(test_local_close_cancels_what_waits, before_test, after_test),
        cmocka_unit_test_setup_teardown(test_local_needs_a_loop_that_flushes, before_test, after_test),
    };
    /* clang-format on */
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        failed++;
    if (abandoned) {
        fflush(NULL);
        _exit(1);
    }
    silk__reap_fini();
    nng_fini();
    return failed != 0;
}
