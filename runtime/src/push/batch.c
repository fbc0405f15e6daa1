/* batch.c - silk_ws_batch_*: a handler's sends to many sessions, as a few SessionManager.SendMany
 * calls per gateway, on push.c's gateways, channels and rules.
 *
 * A batch reads the registry once, when it opens. Each send is copied into an item and queued
 * on its gateway. A gateway has one call in flight at a time: the first carries the first send
 * alone, and each later one everything queued meanwhile (REQUEST_MAX at most), so the sends
 * of a handler faster than the round trip ride together and one session's arrive in order.
 * The thread that owns the batch (the only one that touches its ctx) starts the calls; their
 * completions, on nng's threads, count down under the batch's mutex and wake it. A call the
 * gateway refuses as busy (its server's max_concurrent) was never run: its items are queued
 * again, first, and sent after a pause that doubles each time (BUSY_PAUSE_*). A gateway not
 * reached fails the batch's later sends to it at once, so that one silent gateway costs one
 * timeout. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <silk/channel.h>
#include <silk/ws.h>

#include "core/mutex.h"
#include "push/push_internal.h"
#include "rpc/ctx_internal.h"
#include "silk/ws.silk.h"
#include "wire/frame.h"

/* REQUEST_MAX is the most sends one SendMany carries (a gateway takes 4096). */
#define REQUEST_MAX 1024

/* After a refusal as busy a gateway's next call waits BUSY_PAUSE_FIRST_NS, doubled after each
 * refusal in a row up to BUSY_PAUSE_MAX_NS; after BUSY_GIVE_UP_NS of refusals the sends fail. */
#define BUSY_PAUSE_FIRST_NS 1000000LL
#define BUSY_PAUSE_MAX_NS   64000000LL
#define BUSY_GIVE_UP_NS     2000000000LL

typedef struct batch_gw batch_gw;

/* item is one send: its message and session id, copied. */
typedef struct item {
    struct item *next;
    size_t len;
    char *session_id; /* in data, after the message */
    uint8_t data[];
} item;

/* batch_gw is a gateway the batch sends to: its call in flight and the sends waiting. */
struct batch_gw {
    silk_ws_batch *b;
    const silk_instance *inst; /* in the batch's gws */
    silk_channel *ch;          /* NULL until the first send to it; the batch's thread only */
    item *sending;             /* the items of the call in flight; NULL: none */
    size_t n_sending;
    bool unreachable;   /* a call failed at the transport: the rest fail at once */
    int64_t retry_at;   /* refused as busy: no call before this (CLOCK_MONOTONIC ns) */
    int64_t busy_pause; /* the pause after the next refusal */
    int64_t busy_since; /* the first refusal in a row; 0: none */
    item *head, *tail;  /* sends waiting for the next call */
};

struct silk_ws_batch {
    silk_ctx *ctx;
    silk_instance_list gws;
    batch_gw *g; /* one per gws item */
    silk__mutex mu;
    pthread_cond_t cv;              /* a call completed (CLOCK_MONOTONIC) */
    size_t held;                    /* sends queued or in flight; SILK_WS_BATCH_WINDOW at most */
    size_t delivered;               /* sends the gateways took */
    silk_status failed;             /* the first failure */
    char *why;                      /* its message (NULL: out of memory) */
    const silk_instance *failed_gw; /* its gateway; NULL when the session had none */
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ============================== counting down ============================== */

/* fail_locked records a failure of sends to g (NULL: no gateway), st with message (the first
 * one is close's answer), and marks g unreachable when its call failed at the transport. */
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

/* drop_locked frees a list of items that no longer count against the batch's window. */
static void drop_locked(silk_ws_batch *b, item *it)
{
    SILK__ASSERT_HELD(&b->mu);
    while (it != NULL) {
        item *next = it->next;
        b->held--;
        free(it);
        it = next;
    }
}

static bool refused_busy(silk_status st, const char *message)
{
    return st == SILK_RESOURCE_EXHAUSTED && message != NULL && strcmp(message, SILK__MSG_BUSY) == 0;
}

/* requeue_busy_locked puts the items of g's refused call back first in its queue and sets
 * when it may call again; false once the gateway has refused for too long. */
static bool requeue_busy_locked(batch_gw *g)
{
    int64_t now = now_ns();
    if (g->busy_since == 0) {
        g->busy_since = now;
        g->busy_pause = BUSY_PAUSE_FIRST_NS;
    }
    if (now - g->busy_since > BUSY_GIVE_UP_NS)
        return false;
    g->retry_at = now + g->busy_pause;
    if (g->busy_pause < BUSY_PAUSE_MAX_NS)
        g->busy_pause *= 2;
    item *last = g->sending;
    while (last->next != NULL)
        last = last->next;
    last->next = g->head;
    if (g->head == NULL)
        g->tail = last;
    g->head = g->sending;
    g->sending = NULL;
    return true;
}

/* answered_locked counts what the gateway said of g's call: the sends it took, and the first
 * session it did not have. */
static void answered_locked(silk_ws_batch *b, batch_gw *g, const Silk__Ws__SendManyReply *r)
{
    b->delivered += r->delivered;
    g->busy_since = 0;
    if (r->n_missing > 0) {
        char why[360];
        snprintf(why, sizeof why, "no session %.200s on gateway %.100s", r->missing[0],
                 g->inst->id);
        fail_locked(b, g, SILK_NOT_FOUND, why);
    }
}

/* sent is each call's completion, on one of nng's threads. */
static void sent(silk_status st, ProtobufCMessage *resp, const char *message, void *arg)
{
    batch_gw *g = arg;
    silk_ws_batch *b = g->b;
    silk__mutex_lock(&b->mu);
    if (st == SILK_OK)
        answered_locked(b, g, (const Silk__Ws__SendManyReply *)resp);
    if (!refused_busy(st, message) || !requeue_busy_locked(g)) {
        if (st != SILK_OK)
            fail_locked(b, g, st, message);
        drop_locked(b, g->sending);
        g->sending = NULL;
    }
    pthread_cond_signal(&b->cv);
    silk__mutex_unlock(&b->mu);
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
}

/* ============================== starting ============================== */

/* start starts g's call of its n_sending items, on the batch's thread without its mutex. */
static void start(silk_ws_batch *b, batch_gw *g)
{
    silk_status st = SILK_OK;
    if (g->ch == NULL && (g->ch = silk__ws_channel_to(b->ctx, g->inst)) == NULL)
        st = SILK_RESOURCE_EXHAUSTED;
    Silk__Ws__SendItem *items = NULL, **ptrs = NULL;
    if (st == SILK_OK) {
        items = malloc(g->n_sending * sizeof *items);
        ptrs = malloc(g->n_sending * sizeof *ptrs);
        if (items == NULL || ptrs == NULL)
            st = silk_ctx_fail(b->ctx, SILK_RESOURCE_EXHAUSTED, "out of memory for a SendMany");
    }
    if (st == SILK_OK) {
        size_t i = 0;
        for (item *it = g->sending; it != NULL; it = it->next, i++) {
            silk__ws__send_item__init(&items[i]);
            items[i].session_id = it->session_id;
            items[i].data.data = it->data;
            items[i].data.len = it->len;
            ptrs[i] = &items[i];
        }
        Silk__Ws__SendManyRequest req = SILK__WS__SEND_MANY_REQUEST__INIT;
        req.gateway_id = g->inst->id;
        req.n_messages = g->n_sending;
        req.messages = ptrs;
        const char *key = silk_ctx_get(b->ctx, SILK_MD_IDEMPOTENCY_KEY); /* a retried call's */
        req.idempotency_key = (char *)(key != NULL ? key : "");
        st = silk__ws__session_manager__call_send_many_async(g->ch, b->ctx, &req, sent, g, NULL);
    }
    free(items); /* packed by the call */
    free(ptrs);
    if (st == SILK_OK)
        return;
    silk__mutex_lock(&b->mu);
    fail_locked(b, g, st, silk_ctx_message(b->ctx));
    drop_locked(b, g->sending);
    g->sending = NULL;
    pthread_cond_signal(&b->cv);
    silk__mutex_unlock(&b->mu);
}

/* pump_locked starts a call to each gateway with sends queued, none in flight and no pause to
 * wait (and ends at once those to a gateway not reached); *wake_at is the end of the earliest
 * pause still to wait (0: none). It gives up the mutex while it starts a call, whose completion
 * may run before the call returns. It returns whether a call is in flight. */
static bool pump_locked(silk_ws_batch *b, int64_t *wake_at)
{
    SILK__ASSERT_HELD(&b->mu);
    *wake_at = 0;
    int64_t now = 0;
    for (size_t i = 0; i < b->gws.count; i++) {
        batch_gw *g = &b->g[i];
        if (g->head == NULL || g->sending != NULL)
            continue;
        if (g->unreachable) {
            drop_locked(b, g->head);
            g->head = g->tail = NULL;
            continue;
        }
        if (g->retry_at != 0 && (now = now ? now : now_ns()) < g->retry_at) {
            if (*wake_at == 0 || g->retry_at < *wake_at)
                *wake_at = g->retry_at;
            continue;
        }
        g->retry_at = 0;
        item **end = &g->head;
        size_t n = 0;
        while (*end != NULL && n < REQUEST_MAX) {
            end = &(*end)->next;
            n++;
        }
        g->sending = g->head;
        g->n_sending = n;
        g->head = *end;
        *end = NULL;
        if (g->head == NULL)
            g->tail = NULL;
        silk__mutex_unlock(&b->mu);
        start(b, g);
        silk__mutex_lock(&b->mu);
    }
    for (size_t i = 0; i < b->gws.count; i++)
        if (b->g[i].sending != NULL)
            return true;
    return false;
}

/* wait_locked starts what can start, then waits for a completion or the end of a pause, if
 * there is one to wait for; the caller checks again what it waits for. */
static void wait_locked(silk_ws_batch *b)
{
    int64_t wake_at;
    bool in_flight = pump_locked(b, &wake_at);
    if (!in_flight && wake_at == 0)
        return;
    if (wake_at == 0) {
        silk__cond_wait(&b->cv, &b->mu);
        return;
    }
    struct timespec at = {.tv_sec = wake_at / 1000000000LL, .tv_nsec = wake_at % 1000000000LL};
    silk__cond_timedwait(&b->cv, &b->mu, &at);
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
        b->g[i] = (batch_gw){.b = b, .inst = &b->gws.items[i]};
    b->ctx = ctx;
    silk__mutex_init(&b->mu);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&b->cv, &attr);
    pthread_condattr_destroy(&attr);
    *out = b;
    return SILK_OK;
}

/* take queues it on g, once the batch has room, and starts what can start. */
static void take(silk_ws_batch *b, batch_gw *g, item *it)
{
    int64_t wake_at;
    silk__mutex_lock(&b->mu);
    while (b->held >= SILK_WS_BATCH_WINDOW)
        wait_locked(b);
    b->held++;
    if (g->tail != NULL)
        g->tail->next = it;
    else
        g->head = it;
    g->tail = it;
    pump_locked(b, &wake_at);
    silk__mutex_unlock(&b->mu);
}

/* new_item makes an item for session_id with room for len bytes of message; NULL when the
 * session has no gateway (the batch's failure) or memory is exhausted. */
static item *new_item(silk_ws_batch *b, const char *session_id, size_t len, batch_gw **g,
                      silk_status *st)
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
    *it = (item){.len = len};
    *g = &b->g[gw - b->gws.items];
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
    batch_gw *g;
    item *it = new_item(b, session_id, len, &g, &st);
    if (it != NULL) {
        if (len != 0)
            memcpy(it->data, data, len);
        take(b, g, it);
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
    batch_gw *g;
    item *it = new_item(b, session_id, (size_t)n, &g, &st);
    if (it != NULL) {
        char *tmp = (char *)it->data; /* the message's bytes, then its session id's */
        char keep = tmp[n];
        va_start(ap, fmt);
        vsnprintf(tmp, (size_t)n + 1, fmt, ap); /* writes a NUL over the id's first byte */
        va_end(ap);
        tmp[n] = keep;
        take(b, g, it);
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
    while (b->held > 0)
        wait_locked(b);
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
