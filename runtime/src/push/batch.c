/* batch.c - silk_ws_batch_*: a handler's sends to many sessions, pipelined as asynchronous
 * calls of each gateway's SessionManager.Send, on push.c's gateways, channels and rules.
 *
 * A batch reads the registry once, when it opens. Each send is copied into an item and queued
 * on its gateway; the thread that owns the batch (the only one that touches its ctx) starts
 * what the gateway's window has room for, and the completions, on nng's threads, count down
 * under the batch's mutex and wake it. A gateway's window starts at FIRST_WINDOW calls and
 * grows by one for each window's worth answered, up to SILK_WS_BATCH_WINDOW; a call the
 * gateway refuses as busy (its server's max_concurrent) was never run, so it is queued again
 * and the window halved, once per round of calls in flight. A gateway not reached fails the
 * batch's later sends to it at once, so that one silent gateway costs one timeout, not one
 * per window. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <silk/channel.h>
#include <silk/ws.h>

#include "core/mutex.h"
#include "push/push_internal.h"
#include "rpc/ctx_internal.h"
#include "silk/ws.silk.h"
#include "wire/frame.h"

/* FIRST_WINDOW is a gateway's first window: below the 50 calls a server runs at once by
 * default (silk_server_opts.max_concurrent), which the gateways' SessionManagers keep. */
#define FIRST_WINDOW 32

typedef struct batch_gw batch_gw;

/* item is one send: its message and session id, copied. */
typedef struct item {
    struct item *next;
    silk_ws_batch *b;
    batch_gw *g;
    size_t len;
    char *session_id; /* in data, after the message */
    uint8_t data[];
} item;

/* batch_gw is a gateway the batch sends to: its window, and the sends waiting for room. */
struct batch_gw {
    const silk_instance *inst; /* in the batch's gws */
    silk_channel *ch;          /* NULL until the first send to it; the batch's thread only */
    unsigned in_flight;        /* calls started and not completed */
    unsigned window;           /* calls in flight at most */
    unsigned answered;         /* calls answered since the window last grew */
    unsigned cut_pending;      /* calls in flight when the window was cut, not yet completed */
    bool unreachable;          /* a call failed at the transport: the rest fail at once */
    item *head, *tail;         /* sends waiting for room in the window */
};

struct silk_ws_batch {
    silk_ctx *ctx;
    silk_instance_list gws;
    batch_gw *g; /* one per gws item */
    silk__mutex mu;
    pthread_cond_t cv;              /* a send completed, or was queued again */
    size_t held;                    /* sends queued or in flight; SILK_WS_BATCH_WINDOW at most */
    size_t queued;                  /* of which waiting in a gateway's queue */
    size_t delivered;               /* sends the gateways took */
    silk_status failed;             /* the first failure */
    char *why;                      /* its message (NULL: out of memory) */
    const silk_instance *failed_gw; /* its gateway; NULL when the session had none */
};

/* ============================== counting down ============================== */

/* fail_locked records a send's failure, st with message (the first one is close's answer),
 * and marks its gateway unreachable when the call failed at the transport. */
static void fail_locked(silk_ws_batch *b, batch_gw *g, silk_status st, const char *message)
{
    SILK__ASSERT_HELD(&b->mu);
    if (g != NULL && (st == SILK_UNAVAILABLE || st == SILK_DEADLINE_EXCEEDED))
        g->unreachable = true;
    if (b->failed != SILK_OK)
        return;
    b->failed = st;
    b->why = strdup(message != NULL ? message : "");
    b->failed_gw = g != NULL ? g->inst : NULL;
}

/* done_locked finishes a send: it no longer counts against the batch's window. */
static void done_locked(silk_ws_batch *b, item *it)
{
    SILK__ASSERT_HELD(&b->mu);
    b->held--;
    free(it);
}

static bool refused_busy(silk_status st, const char *message)
{
    return st == SILK_RESOURCE_EXHAUSTED && message != NULL && strcmp(message, SILK__MSG_BUSY) == 0;
}

/* sent is every send's completion, on one of nng's threads. */
static void sent(silk_status st, ProtobufCMessage *resp, const char *message, void *arg)
{
    item *it = arg;
    silk_ws_batch *b = it->b;
    batch_gw *g = it->g;
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    silk__mutex_lock(&b->mu);
    g->in_flight--;
    if (g->cut_pending > 0)
        g->cut_pending--;
    if (refused_busy(st, message)) { /* never run: again, with a smaller window */
        if (g->cut_pending == 0) {
            g->window = g->window > 1 ? g->window / 2 : 1;
            g->cut_pending = g->in_flight;
            g->answered = 0;
        }
        it->next = g->head;
        g->head = it;
        if (g->tail == NULL)
            g->tail = it;
        b->queued++;
    } else {
        if (st == SILK_OK) {
            b->delivered++;
            if (++g->answered >= g->window && g->window < SILK_WS_BATCH_WINDOW) {
                g->window++;
                g->answered = 0;
            }
        } else {
            fail_locked(b, g, st, message);
        }
        done_locked(b, it);
    }
    pthread_cond_signal(&b->cv);
    silk__mutex_unlock(&b->mu);
}

/* ============================== starting ============================== */

/* start starts it's call, on the batch's thread without its mutex. */
static void start(silk_ws_batch *b, item *it)
{
    batch_gw *g = it->g;
    silk_status st = SILK_OK;
    if (g->ch == NULL && (g->ch = silk__ws_channel_to(b->ctx, g->inst)) == NULL)
        st = SILK_RESOURCE_EXHAUSTED;
    if (st == SILK_OK) {
        Silk__Ws__SendRequest req = SILK__WS__SEND_REQUEST__INIT;
        req.gateway_id = g->inst->id;
        req.session_id = it->session_id;
        req.data.data = it->data;
        req.data.len = it->len;
        st = silk__ws__session_manager__call_send_async(g->ch, b->ctx, &req, sent, it, NULL);
    }
    if (st == SILK_OK)
        return;
    silk__mutex_lock(&b->mu);
    g->in_flight--;
    fail_locked(b, g, st, silk_ctx_message(b->ctx));
    done_locked(b, it);
    silk__mutex_unlock(&b->mu);
}

/* pump_locked starts the queued sends the gateways' windows have room for (and ends at once
 * those to a gateway not reached). It gives up the mutex while it starts a call, whose
 * completion may run before silk_channel_call_async returns. */
static void pump_locked(silk_ws_batch *b)
{
    SILK__ASSERT_HELD(&b->mu);
    for (size_t i = 0; i < b->gws.count && b->queued > 0; i++) {
        batch_gw *g = &b->g[i];
        while (g->head != NULL && (g->unreachable || g->in_flight < g->window)) {
            item *it = g->head;
            if ((g->head = it->next) == NULL)
                g->tail = NULL;
            b->queued--;
            if (g->unreachable) {
                done_locked(b, it);
                continue;
            }
            g->in_flight++;
            silk__mutex_unlock(&b->mu);
            start(b, it);
            silk__mutex_lock(&b->mu);
        }
    }
}

/* ============================== the API ============================== */

silk_status silk_ws_batch_open(silk_ctx *ctx, silk_ws_batch **out)
{
    if (out == NULL)
        return SILK_INVALID_ARGUMENT;
    *out = NULL;
    silk_ws_batch *b = calloc(1, sizeof *b);
    if (b == NULL)
        return silk_ctx_fail(ctx, SILK_RESOURCE_EXHAUSTED, "out of memory for a batch");
    silk_status st = silk__ws_find_gateways(ctx, NULL, &b->gws);
    if (st != SILK_OK) {
        free(b);
        return st;
    }
    b->g = calloc(b->gws.count != 0 ? b->gws.count : 1, sizeof *b->g);
    if (b->g == NULL) {
        silk_instance_list_fini(&b->gws);
        free(b);
        return silk_ctx_fail(ctx, SILK_RESOURCE_EXHAUSTED, "out of memory for a batch");
    }
    for (size_t i = 0; i < b->gws.count; i++)
        b->g[i] = (batch_gw){.inst = &b->gws.items[i], .window = FIRST_WINDOW};
    b->ctx = ctx;
    silk__mutex_init(&b->mu);
    pthread_cond_init(&b->cv, NULL);
    *out = b;
    return SILK_OK;
}

/* take queues it on its gateway, once the batch has room, and starts what can start. */
static void take(silk_ws_batch *b, item *it)
{
    silk__mutex_lock(&b->mu);
    pump_locked(b);
    while (b->held >= SILK_WS_BATCH_WINDOW) {
        silk__cond_wait(&b->cv, &b->mu);
        pump_locked(b);
    }
    b->held++;
    b->queued++;
    batch_gw *g = it->g;
    if (g->tail != NULL)
        g->tail->next = it;
    else
        g->head = it;
    g->tail = it;
    pump_locked(b);
    silk__mutex_unlock(&b->mu);
}

/* new_item makes an item for session_id with room for len bytes of message; NULL when the
 * session has no gateway (the batch's failure) or memory is exhausted. */
static item *new_item(silk_ws_batch *b, const char *session_id, size_t len, silk_status *st)
{
    const silk_instance *gw = silk__ws_owner_of(&b->gws, session_id);
    if (gw == NULL) {
        char why[256];
        snprintf(why, sizeof why, "no gateway owns session %.200s", session_id);
        silk__mutex_lock(&b->mu);
        fail_locked(b, NULL, SILK_NOT_FOUND, why);
        silk__mutex_unlock(&b->mu);
        *st = SILK_OK; /* the batch has taken it: close says what became of it */
        return NULL;
    }
    size_t id_len = strlen(session_id);
    item *it = malloc(sizeof *it + len + id_len + 1);
    if (it == NULL) {
        *st = silk_ctx_fail(b->ctx, SILK_RESOURCE_EXHAUSTED, "out of memory for a send");
        return NULL;
    }
    *it = (item){.b = b, .g = &b->g[gw - b->gws.items], .len = len};
    it->session_id = (char *)it->data + len;
    memcpy(it->session_id, session_id, id_len + 1);
    *st = SILK_OK;
    return it;
}

silk_status silk_ws_batch_send(silk_ws_batch *b, const char *session_id, const void *data,
                               size_t len)
{
    if (b == NULL || session_id == NULL || (data == NULL && len != 0))
        return SILK_INVALID_ARGUMENT;
    silk_status st;
    item *it = new_item(b, session_id, len, &st);
    if (it != NULL) {
        if (len != 0)
            memcpy(it->data, data, len);
        take(b, it);
    }
    return st;
}

silk_status silk_ws_batch_sendf(silk_ws_batch *b, const char *session_id, const char *fmt, ...)
{
    if (b == NULL || session_id == NULL || fmt == NULL)
        return SILK_INVALID_ARGUMENT;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return silk_ctx_fail(b->ctx, SILK_RESOURCE_EXHAUSTED, "the message cannot be formatted");
    silk_status st;
    item *it = new_item(b, session_id, (size_t)n, &st);
    if (it != NULL) {
        char *tmp = (char *)it->data; /* the message's bytes, then its session id's */
        char keep = tmp[n];
        va_start(ap, fmt);
        vsnprintf(tmp, (size_t)n + 1, fmt, ap); /* writes a NUL over the id's first byte */
        va_end(ap);
        tmp[n] = keep;
        take(b, it);
    }
    return st;
}

silk_status silk_ws_batch_close(silk_ws_batch *b, size_t *delivered)
{
    if (delivered != NULL)
        *delivered = 0;
    if (b == NULL)
        return SILK_OK;
    silk__mutex_lock(&b->mu);
    pump_locked(b);
    while (b->held > 0) {
        silk__cond_wait(&b->cv, &b->mu);
        pump_locked(b);
    }
    silk__mutex_unlock(&b->mu);
    silk_status st = b->failed;
    if (st != SILK_OK) {
        silk__ctx_set_message(b->ctx, b->why != NULL ? b->why : "out of memory");
        if (b->failed_gw != NULL)
            st = silk__ws_gateway_failed(b->ctx, b->failed_gw, st);
    }
    if (delivered != NULL)
        *delivered = b->delivered;
    pthread_cond_destroy(&b->cv);
    silk__mutex_destroy(&b->mu);
    silk_instance_list_fini(&b->gws);
    free(b->g);
    free(b->why);
    free(b);
    return st;
}
