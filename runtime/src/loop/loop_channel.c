/* loop_channel.c - calls made on connections the caller's event loop drives (loop_channel.h):
 * one connection per instance on the socket transport (transport/socket/sock_conn.h) with its
 * table of calls, deadlines and keepalive, and the hand-over of the calls it does not make
 * itself to the channel path. The client is reached only through its functions for loop channels
 * (client/channel_internal.h). All of it runs on the loop's thread but handover_done, which runs
 * on nng's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <silk/log.h>
#include <silk/loop_channel.h>

#include "client/channel_internal.h"
#include "core/assert.h"
#include "core/clock.h"
#include "core/spares.h"
#include "core/thread.h"
#include "transport/socket/sock_conn.h"
#include "core/scratch.h"
#include "rpc/ctx_internal.h"
#include "server/local.h"
#include "wire/frame.h"

#define LOG "channel"

/* A connection not made within this long is given up: the calls queued on it were never
 * sent, and the channel gives them to another instance. */
#define CONNECT_TIMEOUT_US 10000000
/* The longest address a loop channel connects to itself. */
#define ADDRESS_MAX 256

/* lcall is a call in flight on a loop channel's connection. */
typedef struct lcall {
    silk__call call; /* first: the table's silk__call * is an lcall * */
    /* On a channel to a name, a call of an idempotent method, or one queued while its
     * connection is being made, has a copy made by the channel: a failure the channel would
     * retry hands the copy over (finish), and its answer comes back through post. */
    struct silk__call_copy *copy;
    struct handover *copy_handover;
    bool lent; /* made by silk_loop_channel_call_lent: the response is freed after cb */
} lcall;
SILK__FIRST_MEMBER(lcall, call);

/* loop_peer is the loop channel's connection to one instance, and the calls in flight on it. */
typedef struct loop_peer {
    silk__sock_conn sock;   /* first: a silk__sock_conn * is a loop_peer * */
    struct loop_peer *next; /* on lc->peers */
    silk_loop_channel *lc;
    char *address;
    bool failing; /* failures were reported: the next answer is reported too */
    silk__call_table calls;
    uint64_t last_id;
    int64_t last_rx_us; /* when a frame last arrived; until it is made, when it was opened */
    bool ping_out;
    int64_t ping_at;
} loop_peer;
SILK__FIRST_MEMBER(loop_peer, sock);

/* here_call is a call the loop channel's local server ran on the loop's thread
 * (silk_loop_channel_set_local), waiting for the next flush to be completed: a callback never
 * runs before the call that made it returns. */
typedef struct here_call {
    struct here_call *next; /* first: on lc's list, or among its spares */
    silk_call_cb cb;
    void *arg;
    silk__local_answer answer;
    ProtobufCMessage *owned; /* a call not lent: the callback's copy of the response */
    silk__scratch mem;       /* the handler's ctx and the response */
} here_call;

struct silk_loop_channel {
    silk_channel *ch;
    silk_loop_ops ops;
    loop_peer *peers;
    silk__spares spare_calls; /* finished lcalls, for the next ones */
    silk_server *local;       /* answers the calls of its inline services, or NULL */
    here_call *here;          /* answered here, oldest first, to complete at the next flush */
    here_call **here_tail;
    silk__spares spare_here;
    uint32_t max_frame;
    bool closing;
    uintptr_t thread; /* debug builds: the loop's, the first to call, tick or do I/O */
};

/* on_loop_thread checks, in debug builds, that lc is driven by one thread only - its loop's,
 * taken to be the first that calls, ticks or reports I/O (it may be opened elsewhere). */
static void on_loop_thread(silk_loop_channel *lc)
{
#ifdef SILK_DEBUG_ASSERTS
    if (lc->thread == 0)
        lc->thread = silk__thread_id();
    SILK__ASSERT(lc->thread == silk__thread_id());
#else
    (void)lc;
#endif
}

/* ========================= the hand-over to the channel path ========================= */

/* handover is a call handed over to the channel path (silk_channel_call_async), or a copy the
 * channel made of one: its completion, on nng's threads, is posted to the loop. */
typedef struct handover {
    silk_loop_task task; /* first: a silk_loop_task * is a handover * */
    silk_loop_ops ops;
    silk_call_cb cb;
    void *arg;
    bool lent; /* resp is freed once cb returns */
    silk_status st;
    ProtobufCMessage *resp;
    char *message;
} handover;
SILK__FIRST_MEMBER(handover, task);

static void handover_run(silk_loop_task *task)
{
    handover *h = (handover *)task;
    h->cb(h->st, h->resp, h->message != NULL ? h->message : "", h->arg);
    if (h->lent && h->resp != NULL)
        protobuf_c_message_free_unpacked(h->resp, NULL);
    free(h->message);
    free(h);
}

/* handover_done is the channel's completion of h: the loop runs handover_run with it. */
static void handover_done(silk_status st, ProtobufCMessage *resp, const char *message, void *arg)
{
    handover *h = arg;
    h->st = st;
    h->resp = resp;
    h->message = message != NULL && message[0] != '\0' ? strdup(message) : NULL;
    h->ops.post(h->ops.loop, &h->task);
}

static handover *handover_new(silk_loop_channel *lc, silk_call_cb cb, void *arg, bool lent)
{
    handover *h = calloc(1, sizeof *h);
    if (h != NULL)
        *h = (handover){
            .task = {.run = handover_run}, .ops = lc->ops, .cb = cb, .arg = arg, .lent = lent};
    return h;
}

/* call_through_channel hands a call over to the channel path. */
static silk_status call_through_channel(silk_loop_channel *lc, silk_ctx *ctx,
                                        const silk_method_desc *method, const ProtobufCMessage *req,
                                        silk_call_cb cb, void *arg, bool lent)
{
    handover *h = handover_new(lc, cb, arg, lent);
    if (h == NULL) {
        silk__ctx_set_message(ctx, "out of memory");
        return SILK_RESOURCE_EXHAUSTED;
    }
    silk_status st = silk_channel_call_async(lc->ch, ctx, method, req, handover_done, h, NULL);
    if (st != SILK_OK)
        free(h);
    return st;
}

/* ============================== completing calls ============================== */

/* lcall_new returns one of lc's spare calls, or a new one; NULL when memory is exhausted. */
static lcall *lcall_new(silk_loop_channel *lc)
{
    return silk__spares_take(&lc->spare_calls, sizeof(lcall));
}

/* lcall_free keeps c, whose copy is freed or given away, among lc's spares, or frees it. */
static void lcall_free(silk_loop_channel *lc, lcall *c)
{
    silk__spares_give(&lc->spare_calls, c, SILK__SPARE_CALLS);
}

/* finish completes c with st (and resp, on SILK_OK) and frees it; a call with a copy made by
 * the channel that failed as the channel retries is handed over to the channel instead. */
static void finish(silk_loop_channel *lc, lcall *c, silk_status st, ProtobufCMessage *resp,
                   const char *why, bool never_sent)
{
    if (c->copy != NULL && st != SILK_OK && !lc->closing &&
        silk__channel_retry(c->copy, st, why, never_sent)) {
        lcall_free(lc, c); /* the channel owns the copy and its handover now */
        return;
    }
    silk__channel_copy_free(c->copy);
    free(c->copy_handover);
    silk_call_cb cb = c->call.cb;
    void *arg = c->call.arg;
    lcall_free(lc, c); /* before cb: the calls cb starts may use it */
    cb(st, resp, why, arg);
}

/* complete_all completes the calls of list (never_sent: their connection was never made). */
static void complete_all(silk_loop_channel *lc, silk__call *list, silk_status st, const char *why,
                         bool never_sent)
{
    while (list != NULL) {
        lcall *c = (lcall *)list;
        list = list->next;
        finish(lc, c, st, NULL, why, never_sent);
    }
}

/* ============================== connections ============================== */

static void peer_free(loop_peer *p)
{
    silk__call_table_fini(&p->calls);
    free(p->address);
    free(p);
}

/* drop_dial_copies frees, once p is connected, the copies made only in case it would not
 * be: of calls of methods the channel does not send twice. */
static void drop_dial_copies(loop_peer *p)
{
    for (size_t i = 0; i < p->calls.nbuckets; i++) {
        for (silk__call *call = p->calls.buckets[i]; call != NULL; call = call->next) {
            lcall *c = (lcall *)call;
            if (c->copy == NULL || call->method->idempotent)
                continue;
            silk__channel_copy_free(c->copy);
            free(c->copy_handover);
            c->copy = NULL;
            c->copy_handover = NULL;
        }
    }
}

static void on_connected(silk__sock_conn *k)
{
    loop_peer *p = (loop_peer *)k;
    p->last_rx_us = silk__now_us();
    silk__channel_report(p->lc->ch, p->address, SILK__OUTCOME_CONNECTED);
    drop_dial_copies(p);
}

static void on_dial_failed(silk__sock_conn *k)
{
    loop_peer *p = (loop_peer *)k;
    silk__channel_report(p->lc->ch, p->address, SILK__OUTCOME_DIAL_FAILED);
}

/* on_closed fails p's calls with st and frees p. */
static void on_closed(silk__sock_conn *k, silk_status st, const char *why)
{
    loop_peer *p = (loop_peer *)k;
    silk_loop_channel *lc = p->lc;
    loop_peer **pp = &lc->peers;
    while (*pp != p)
        pp = &(*pp)->next;
    *pp = p->next;
    if (st == SILK_UNAVAILABLE && k->connected)
        silk__channel_report(lc->ch, p->address, SILK__OUTCOME_LOST);
    if (st != SILK_CANCELLED)
        silk_log(SILK_LOG_DEBUG, LOG, "loop connection closed address=%s reason=\"%s\"", p->address,
                 why);
    silk__call *calls = silk__call_table_take(&p->calls, INT64_MAX);
    bool never_sent = !k->connected;
    peer_free(p);
    complete_all(lc, calls, st, why, never_sent);
}

static void on_frame(silk__sock_conn *k, const silk__frame *f);
static void on_too_big(silk__sock_conn *k, const silk__frame *f);

static const silk__sock_conn_ops peer_ops = {
    .connected = on_connected,
    .dial_failed = on_dial_failed,
    .frame = on_frame,
    .too_big = on_too_big,
    .closed = on_closed,
};

/* peer_open starts a connection to address; NULL when the loop channel cannot make it
 * itself (another kind of address, no descriptor, refused at once), the channel's way then. */
static loop_peer *peer_open(silk_loop_channel *lc, const char *address)
{
    loop_peer *p = calloc(1, sizeof *p);
    if (p == NULL || (p->address = strdup(address)) == NULL || !silk__call_table_init(&p->calls)) {
        if (p != NULL)
            peer_free(p);
        return NULL;
    }
    p->lc = lc;
    if (!silk__sock_conn_open(&p->sock, &peer_ops, &lc->ops, address, lc->max_frame)) {
        peer_free(p);
        return NULL;
    }
    /* Failures may have been recorded before it (a lost connection, the channel's calls):
     * its first answer is reported, so that it ends a run of failures as the channel's do. */
    p->failing = silk__channel_by_name(lc->ch);
    p->last_rx_us = silk__now_us();
    p->next = lc->peers;
    lc->peers = p;
    if (!silk__sock_conn_closing(&p->sock))
        return p;
    silk__sock_conn_hold(&p->sock); /* the loop cannot watch it: the release closes it */
    silk__sock_conn_release(&p->sock);
    return NULL;
}

static loop_peer *peer_find(silk_loop_channel *lc, const char *address)
{
    for (loop_peer *p = lc->peers; p != NULL; p = p->next)
        if (strcmp(p->address, address) == 0)
            return p;
    return NULL;
}

/* ============================== answers ============================== */

/* answered tells the balancer about an answer of status st, when it needs to know. */
static void answered(loop_peer *p, silk_status st)
{
    if (st == SILK_UNAVAILABLE) {
        silk__channel_report(p->lc->ch, p->address, SILK__OUTCOME_FAILED);
        p->failing = true;
    } else if (p->failing) {
        silk__channel_report(p->lc->ch, p->address, SILK__OUTCOME_ANSWERED);
        p->failing = false;
    }
}

/* complete_response completes c with the response frame f: its header decoded on this
 * stack, and so is the response of a call that lends it (the callback's to free otherwise). */
static void complete_response(loop_peer *p, lcall *c, const silk__frame *f)
{
    silk__scratch mem;
    silk__scratch_init(&mem);
    silk__response r;
    silk__response_decode(&r, f, c->call.method->output, &mem.allocator,
                          c->lent ? &mem.allocator : NULL);
    answered(p, r.st);
    finish(p->lc, c, r.st, r.msg, r.message, false);
    silk__response_fini(&r);
    silk__scratch_fini(&mem);
}

static void on_frame(silk__sock_conn *k, const silk__frame *f)
{
    loop_peer *p = (loop_peer *)k;
    p->last_rx_us = silk__now_us();
    p->ping_out = false;
    if (f->kind == SILK__FRAME_PING &&
        !silk__sock_conn_send(k, SILK__FRAME_PONG, f->call_id, NULL, NULL))
        silk__sock_conn_close(k, SILK_UNAVAILABLE, "cannot answer a ping");
    if (f->kind != SILK__FRAME_RESPONSE)
        return;
    lcall *c = (lcall *)silk__call_table_remove(&p->calls, f->call_id);
    if (c != NULL) /* else it timed out already */
        complete_response(p, c, f);
}

static void on_too_big(silk__sock_conn *k, const silk__frame *f)
{
    loop_peer *p = (loop_peer *)k;
    lcall *c = f->kind == SILK__FRAME_RESPONSE
                   ? (lcall *)silk__call_table_remove(&p->calls, f->call_id)
                   : NULL;
    if (c != NULL)
        finish(p->lc, c, SILK_RESOURCE_EXHAUSTED, NULL, "the response exceeds the message limit",
               false);
}

void silk_loop_io_ready(void *token, int ready)
{
    on_loop_thread(((loop_peer *)token)->lc);
    silk__sock_conn_ready(token, ready);
}

/* ============================== deadlines and keepalive ============================== */

/* expire fails p's calls whose deadline passed, telling the server to drop them. */
static void expire(loop_peer *p, int64_t now)
{
    silk__call *late = silk__call_table_take(&p->calls, now);
    for (silk__call *c = late; c != NULL; c = c->next) {
        silk__sock_conn_send(&p->sock, SILK__FRAME_CANCEL, c->id, NULL, NULL);
        if (p->last_rx_us < c->sent_us) { /* not a word from the instance since */
            silk__channel_report(p->lc->ch, p->address, SILK__OUTCOME_FAILED);
            p->failing = true;
        }
    }
    complete_all(p->lc, late, SILK_DEADLINE_EXCEEDED, "the deadline passed", false);
}

static void keepalive(loop_peer *p, int64_t now)
{
    int64_t every = (int64_t)silk__channel_keepalive_ms(p->lc->ch) * 1000;
    if (!p->sock.connected && now - p->last_rx_us >= CONNECT_TIMEOUT_US) {
        silk__channel_report(p->lc->ch, p->address, SILK__OUTCOME_DIAL_FAILED);
        silk__sock_conn_close(&p->sock, SILK_UNAVAILABLE, "cannot connect: timed out");
        return;
    }
    if (every == 0 || !p->sock.connected)
        return;
    if (p->ping_out && now - p->ping_at >= every)
        silk__sock_conn_close(&p->sock, SILK_UNAVAILABLE, "no answer to a keepalive ping");
    else if (!p->ping_out && now - p->last_rx_us >= every &&
             silk__sock_conn_send(&p->sock, SILK__FRAME_PING, 0, NULL, NULL)) {
        p->ping_out = true;
        p->ping_at = now;
    }
}

/* complete_here completes the calls answered here, the ones their callbacks make included,
 * with their answers, or with st and why when st is not SILK_OK (the loop channel closes). It
 * returns whether there were any. */
static bool complete_here(silk_loop_channel *lc, silk_status st, const char *why)
{
    bool any = lc->here != NULL;
    while (lc->here != NULL) {
        here_call *c = lc->here;
        lc->here = c->next;
        if (lc->here == NULL)
            lc->here_tail = &lc->here;
        const silk__local_answer *a = &c->answer;
        if (st != SILK_OK) {
            if (c->owned != NULL)
                protobuf_c_message_free_unpacked(c->owned, NULL);
            c->cb(st, NULL, why, c->arg);
        } else {
            c->cb(a->status, c->owned != NULL ? c->owned : a->resp, a->message, c->arg);
        }
        silk_ctx_free(c->answer.ctx);
        silk__scratch_fini(&c->mem);
        silk__spares_give(&lc->spare_here, c, SILK__SPARE_CALLS);
    }
    return any;
}

bool silk_loop_channel_flush(silk_loop_channel *lc)
{
    on_loop_thread(lc);
    bool wrote = complete_here(lc, SILK_OK, NULL);
    for (loop_peer *p = lc->peers, *next; p != NULL; p = next) {
        silk__sock_conn_hold(&p->sock); /* a connection closed meanwhile closes on release */
        wrote |= silk__sock_conn_flush(&p->sock);
        next = p->next;
        silk__sock_conn_release(&p->sock);
    }
    return wrote;
}

void silk_loop_channel_tick(silk_loop_channel *lc)
{
    on_loop_thread(lc);
    silk_loop_channel_flush(lc); /* a flush the loop missed waits no longer than a tick */
    int64_t now = silk__now_us();
    for (loop_peer *p = lc->peers, *next; p != NULL; p = next) {
        silk__sock_conn_hold(&p->sock); /* a connection closed meanwhile closes on release */
        expire(p, now);
        if (!silk__sock_conn_closing(&p->sock))
            keepalive(p, now);
        next = p->next;
        silk__sock_conn_release(&p->sock);
    }
}

/* ============================== calls ============================== */

/* direct_peer returns the connection a call on route r goes on, when the loop channel makes
 * it itself; NULL when the channel must. */
static loop_peer *direct_peer(silk_loop_channel *lc, silk__route *r)
{
    char address[ADDRESS_MAX];
    if (!silk__channel_pick(lc->ch, r, address, sizeof address))
        return NULL;
    loop_peer *p = peer_find(lc, address);
    if (p == NULL)
        p = peer_open(lc, address);
    return p != NULL && !silk__sock_conn_closing(&p->sock) ? p : NULL; /* made, or being made */
}

/* make_copy has the channel copy c, on a channel to a name, for a second attempt: a call of
 * an idempotent method, and any call while its connection is being made (never_sent: should
 * it never be made, the call may go to another instance). False when memory is exhausted. */
static bool make_copy(silk_loop_channel *lc, lcall *c, silk_ctx *ctx, const ProtobufCMessage *req,
                      uint64_t budget, const silk__route *r, bool never_sent)
{
    const silk__call *call = &c->call;
    if (!silk__channel_copies(lc->ch, call->method, never_sent))
        return true;
    c->copy_handover = handover_new(lc, call->cb, call->arg, c->lent);
    if (c->copy_handover != NULL)
        c->copy = silk__channel_copy_call(lc->ch, ctx, call->method, req, budget, r, never_sent,
                                          handover_done, c->copy_handover);
    if (c->copy != NULL)
        return true;
    free(c->copy_handover);
    c->copy_handover = NULL;
    return false;
}

/* send_request queues the request of a call on p, which route r picked. */
static silk_status send_request(loop_peer *p, silk_ctx *ctx, const silk_method_desc *method,
                                const ProtobufCMessage *req, uint64_t budget, const silk__route *r,
                                silk_call_cb cb, void *arg, bool lent)
{
    silk__reqhdr rh;
    lcall *c = lcall_new(p->lc);
    if (c == NULL || silk__reqhdr_init(&rh, ctx, method, req, budget,
                                       silk__channel_token(p->lc->ch)) != SILK_OK) {
        lcall_free(p->lc, c);
        silk__ctx_set_message(ctx, "out of memory");
        return SILK_RESOURCE_EXHAUSTED;
    }
    *c = (lcall){.lent = lent};
    silk__call_init(&c->call, ++p->last_id, method, budget, cb, arg);
    silk_status st = SILK_OK;
    if (!make_copy(p->lc, c, ctx, req, budget, r, !p->sock.connected) ||
        !silk__call_table_add(&p->calls, &c->call)) {
        silk__ctx_set_message(ctx, "out of memory");
        st = SILK_RESOURCE_EXHAUSTED;
    } else if (!silk__sock_conn_send(&p->sock, SILK__FRAME_REQUEST, c->call.id, &rh.h.base, req)) {
        silk__call_table_remove(&p->calls, c->call.id);
        silk__ctx_set_message(ctx, "the request exceeds the message limit or the connection's "
                                   "send buffer is full");
        st = SILK_RESOURCE_EXHAUSTED;
    }
    silk__reqhdr_fini(&rh);
    if (st != SILK_OK) {
        silk__channel_copy_free(c->copy);
        free(c->copy_handover);
        lcall_free(p->lc, c);
    }
    return st;
}

/* own_copy gives a call that is not lent a response of its own, unpacked from the one in
 * mem; false when memory is exhausted. */
static bool own_copy(here_call *c)
{
    const ProtobufCMessage *resp = c->answer.resp;
    size_t n = protobuf_c_message_get_packed_size(resp);
    uint8_t *buf = silk__scratch_alloc(&c->mem, n != 0 ? n : 1);
    if (buf == NULL)
        return false;
    protobuf_c_message_pack(resp, buf);
    c->owned = protobuf_c_message_unpack(resp->descriptor, NULL, n, buf);
    return c->owned != NULL;
}

/* call_here has lc's local server run a call of method on this thread; its callback runs at
 * the next flush. */
static silk_status call_here(silk_loop_channel *lc, silk_ctx *ctx, const silk_method_desc *method,
                             const ProtobufCMessage *req, uint64_t budget, silk_call_cb cb,
                             void *arg, bool lent)
{
    here_call *c = silk__spares_take(&lc->spare_here, sizeof *c);
    silk__reqhdr rh;
    if (c == NULL || silk__reqhdr_init(&rh, ctx, method, req, budget, NULL) != SILK_OK) {
        silk__spares_give(&lc->spare_here, c, SILK__SPARE_CALLS);
        silk__ctx_set_message(ctx, "out of memory");
        return SILK_RESOURCE_EXHAUSTED;
    }
    c->next = NULL;
    c->cb = cb;
    c->arg = arg;
    c->owned = NULL;
    silk__scratch_init(&c->mem);
    silk__server_call_here(lc->local, &c->mem, &rh.h, method, req, &c->answer);
    silk__reqhdr_fini(&rh);
    if (c->answer.status == SILK_OK && !lent && !own_copy(c)) {
        c->answer = (silk__local_answer){
            .status = SILK_RESOURCE_EXHAUSTED, .message = "out of memory", .ctx = c->answer.ctx};
    }
    *lc->here_tail = c;
    lc->here_tail = &c->next;
    return SILK_OK;
}

/* start_call is silk_loop_channel_call, and with lent silk_loop_channel_call_lent. */
static silk_status start_call(silk_loop_channel *lc, silk_ctx *ctx, const silk_method_desc *method,
                              const ProtobufCMessage *req, silk_call_cb cb, void *arg, bool lent)
{
    if (lc == NULL || method == NULL || req == NULL || cb == NULL ||
        req->descriptor != method->input) {
        silk__ctx_set_message(ctx, "invalid arguments");
        return SILK_INVALID_ARGUMENT;
    }
    on_loop_thread(lc);
    if (lc->closing) {
        silk__ctx_set_message(ctx, "the loop channel is closed");
        return SILK_CANCELLED;
    }
    silk_channel *ch = lc->ch;
    if (!silk__channel_direct(ch, ctx))
        return call_through_channel(lc, ctx, method, req, cb, arg, lent);
    uint64_t budget = silk__ctx_budget_us(ctx, method->timeout_ms);
    if (budget == 0) {
        silk__ctx_set_message(ctx, "the deadline passed before the call started");
        return SILK_DEADLINE_EXCEEDED;
    }
    if (silk_ctx_cancelled(ctx)) {
        silk__ctx_set_message(ctx, "the caller's call was cancelled");
        return SILK_CANCELLED;
    }
    if (lc->local != NULL && silk__server_runs_here(lc->local, method))
        return call_here(lc, ctx, method, req, budget, cb, arg, lent);
    silk__route r;
    silk__channel_route_init(ch, &r, method, req, ctx);
    loop_peer *p = direct_peer(lc, &r);
    if (p == NULL)
        return call_through_channel(lc, ctx, method, req, cb, arg, lent);
    return send_request(p, ctx, method, req, budget, &r, cb, arg, lent);
}

silk_status silk_loop_channel_call(silk_loop_channel *lc, silk_ctx *ctx,
                                   const silk_method_desc *method, const ProtobufCMessage *req,
                                   silk_call_cb cb, void *arg)
{
    return start_call(lc, ctx, method, req, cb, arg, false);
}

silk_status silk_loop_channel_call_lent(silk_loop_channel *lc, silk_ctx *ctx,
                                        const silk_method_desc *method, const ProtobufCMessage *req,
                                        silk_call_cb cb, void *arg)
{
    return start_call(lc, ctx, method, req, cb, arg, true);
}

/* ============================== the loop channel ============================== */

silk_status silk_loop_channel_open(silk_loop_channel **lcp, silk_channel *ch,
                                   const silk_loop_ops *ops)
{
    if (lcp == NULL || ch == NULL || ops == NULL || ops->io == NULL || ops->post == NULL)
        return SILK_INVALID_ARGUMENT;
    silk_loop_channel *lc = calloc(1, sizeof *lc);
    if (lc == NULL)
        return SILK_RESOURCE_EXHAUSTED;
    lc->ch = ch;
    lc->ops = *ops;
    lc->max_frame = silk__channel_max_frame(ch);
    lc->here_tail = &lc->here;
    *lcp = lc;
    return SILK_OK;
}

silk_status silk_loop_channel_set_local(silk_loop_channel *lc, silk_server *srv)
{
    if (lc == NULL)
        return SILK_INVALID_ARGUMENT;
    if (srv != NULL && !lc->ops.flushes)
        return SILK_FAILED_PRECONDITION;
    lc->local = srv; /* by the thread that opened lc, or the loop's: see loop_channel.h */
    return SILK_OK;
}

void silk_loop_channel_close(silk_loop_channel *lc)
{
    if (lc == NULL)
        return;
    lc->closing = true;
    complete_here(lc, SILK_CANCELLED, "the loop channel is closed");
    while (lc->peers != NULL)
        silk__sock_conn_close(&lc->peers->sock, SILK_CANCELLED, "the loop channel is closed");
    silk__spares_fini(&lc->spare_calls);
    silk__spares_fini(&lc->spare_here);
    free(lc);
}
