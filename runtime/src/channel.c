/* channel.c - the client side: a connection per instance, calls multiplexed on it by call id.
 *
 * A channel keeps one peer per instance address. A peer is a conn (conn.h) with a dial
 * phase, a table of the calls in flight keyed by call id, and one timer aio that fails calls
 * whose deadline passes. The table, the call ids and the timer's state are under the conn's
 * mutex, so that a call is entered, sent, answered, timed out or failed by a lost connection
 * exactly once. Completions run on nng's threads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>

#include <silk/channel.h>
#include <silk/log.h>
#include <silk/registry.h>

#include "clock.h"
#include "conn.h"
#include "ctx_internal.h"
#include "registry_internal.h"

/* A channel to a service name reads the registry again at most this often. */
#define RESOLVE_EVERY_US 1000000
/* An instance whose connection failed is passed over for this long, while others are up. */
#define DOWN_US 2000000
/* How long a connection attempt may take. */
#define DIAL_TIMEOUT_MS 10000

/* call is one call in flight. */
typedef struct call {
    struct call *next; /* in its bucket, or in a list of calls to complete */
    uint64_t id;
    int64_t deadline_us;
    const silk_method_desc *method;
    silk_call_cb cb;
    void *arg;
} call;

/* peer is the connection to one instance. */
typedef struct peer {
    silk__conn conn; /* first: a silk__conn * is a peer * */
    silk_channel *ch;
    char *address;
    nng_stream_dialer *dialer;
    nng_aio *dial_aio; /* holds a reference while a dial is in flight */
    nng_aio *timer_aio;

    /* Under ch->mu. */
    struct peer *next;
    bool in_table;

    /* Under the conn's mutex. */
    call **buckets;
    size_t nbuckets; /* a power of two */
    size_t ncalls;
    uint64_t last_id;
    bool timer_busy;  /* a sleep is in flight on timer_aio */
    int64_t timer_at; /* when it ends */
} peer;

struct silk_channel {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *target;
    bool by_name;
    char *token;
    uint32_t max_message;
    silk_registry *reg;

    /* Under mu. */
    bool closing;
    silk_instance_list insts;
    int64_t resolved_us;
    size_t rr;
    peer *peers;     /* live peers, one per address */
    unsigned npeers; /* peers not yet finalized */
    struct down {
        char *address;
        int64_t until;
    } * down; /* instances whose connection failed lately */
    size_t ndown;
};

/* ============================== the table of calls ============================== */

static bool table_grow(peer *l)
{
    size_t n = l->nbuckets * 2;
    call **b = calloc(n, sizeof *b);
    if (b == NULL)
        return false;
    for (size_t i = 0; i < l->nbuckets; i++) {
        for (call *c = l->buckets[i], *next; c != NULL; c = next) {
            next = c->next;
            c->next = b[c->id & (n - 1)];
            b[c->id & (n - 1)] = c;
        }
    }
    free(l->buckets);
    l->buckets = b;
    l->nbuckets = n;
    return true;
}

static bool table_add(peer *l, call *c)
{
    if (l->ncalls >= l->nbuckets && !table_grow(l) && l->ncalls >= 4 * l->nbuckets)
        return false;
    call **b = &l->buckets[c->id & (l->nbuckets - 1)];
    c->next = *b;
    *b = c;
    l->ncalls++;
    return true;
}

static call *table_remove(peer *l, uint64_t id)
{
    for (call **p = &l->buckets[id & (l->nbuckets - 1)]; *p != NULL; p = &(*p)->next) {
        call *c = *p;
        if (c->id == id) {
            *p = c->next;
            l->ncalls--;
            return c;
        }
    }
    return NULL;
}

/* table_take removes the calls for which pick(c, arg) holds and returns them as a list. */
static call *table_take(peer *l, bool (*pick)(const call *c, int64_t arg), int64_t arg)
{
    call *out = NULL;
    for (size_t i = 0; i < l->nbuckets; i++) {
        for (call **p = &l->buckets[i]; *p != NULL;) {
            call *c = *p;
            if (!pick(c, arg)) {
                p = &c->next;
                continue;
            }
            *p = c->next;
            l->ncalls--;
            c->next = out;
            out = c;
        }
    }
    return out;
}

static bool any_call(const call *c, int64_t arg)
{
    (void)c;
    (void)arg;
    return true;
}

static bool expired(const call *c, int64_t now)
{
    return c->deadline_us <= now;
}

/* complete_all completes a list of calls with one status and frees them. */
static void complete_all(call *list, silk_status st, const char *why)
{
    for (call *c = list, *next; c != NULL; c = next) {
        next = c->next;
        c->cb(st, NULL, why, c->arg);
        free(c);
    }
}

/* ============================== deadlines ============================== */

/* arm_timer_locked makes the timer end no later than at. */
static void arm_timer_locked(peer *l, int64_t at)
{
    if (l->timer_busy) {
        if (at < l->timer_at) {
            l->timer_at = at;
            nng_aio_cancel(l->timer_aio); /* its callback arms it again, earlier */
        }
        return;
    }
    int64_t left = at - silk__now_us();
    l->timer_busy = true;
    l->timer_at = at;
    nng_sleep_aio(left > 0 ? (nng_duration)((left + 999) / 1000) : 0, l->timer_aio);
}

/* timer_cb fails the calls whose deadline has passed and arms the timer for the next one. */
static void timer_cb(void *arg)
{
    peer *l = arg;
    int64_t now = silk__now_us();
    silk__conn_lock(&l->conn);
    l->timer_busy = false;
    call *late = table_take(l, expired, now);
    for (call *c = late; c != NULL; c = c->next) /* tell the server to drop them */
        silk__conn_send_locked(&l->conn, SILK__FRAME_CANCEL, c->id, NULL, NULL);
    int64_t next = INT64_MAX;
    for (size_t i = 0; i < l->nbuckets; i++) {
        for (call *c = l->buckets[i]; c != NULL; c = c->next)
            next = c->deadline_us < next ? c->deadline_us : next;
    }
    if (next != INT64_MAX && !silk__conn_closed_locked(&l->conn))
        arm_timer_locked(l, next);
    silk__conn_unlock(&l->conn);
    complete_all(late, SILK_DEADLINE_EXCEEDED, "deadline exceeded");
}

/* ============================== choosing an instance ============================== */

/* mark_down records that the connection to address failed; ch->mu is held. */
static void mark_down(silk_channel *ch, const char *address)
{
    int64_t until = silk__now_us() + DOWN_US;
    for (size_t i = 0; i < ch->ndown; i++) {
        if (strcmp(ch->down[i].address, address) == 0) {
            ch->down[i].until = until;
            return;
        }
    }
    struct down *d = realloc(ch->down, (ch->ndown + 1) * sizeof *d);
    if (d == NULL)
        return;
    ch->down = d;
    if ((d[ch->ndown].address = strdup(address)) != NULL)
        d[ch->ndown++].until = until;
}

/* is_down tells whether address failed lately, forgetting failures that are old; ch->mu is
 * held. */
static bool is_down(silk_channel *ch, const char *address, int64_t now)
{
    bool down = false;
    for (size_t i = 0; i < ch->ndown;) {
        if (ch->down[i].until <= now) {
            free(ch->down[i].address);
            ch->down[i] = ch->down[--ch->ndown];
            continue;
        }
        down = down || strcmp(ch->down[i].address, address) == 0;
        i++;
    }
    return down;
}

/* pick_address chooses the instance to call: round-robin over the registered instances,
 * passing over those whose connection failed lately unless all did; ch->mu is held. */
static const char *pick_address(silk_channel *ch, char *why, size_t cap)
{
    if (!ch->by_name)
        return ch->target;
    int64_t now = silk__now_us();
    if (ch->insts.count == 0 || now - ch->resolved_us > RESOLVE_EVERY_US) {
        silk_instance_list fresh;
        if (silk_registry_resolve(ch->reg, ch->target, &fresh) == SILK_OK) {
            silk_instance_list_fini(&ch->insts);
            ch->insts = fresh;
            ch->resolved_us = now;
        }
    }
    size_t n = ch->insts.count;
    if (n == 0) {
        snprintf(why, cap, "no live instance of %s in the registry", ch->target);
        return NULL;
    }
    size_t first = ch->rr++ % n;
    for (size_t k = 0; k < n; k++) {
        const char *address = ch->insts.items[(first + k) % n].address;
        if (!is_down(ch, address, now))
            return address;
    }
    return ch->insts.items[first].address;
}

/* ============================== peer hooks ============================== */

/* complete_response completes a call with the response frame f. */
static void complete_response(call *c, const silk__frame *f)
{
    Silk__Rpc__ResponseHeader *h =
        silk__rpc__response_header__unpack(NULL, f->header_len, f->header);
    if (h == NULL) {
        c->cb(SILK_INTERNAL, NULL, "cannot decode the response header", c->arg);
        return;
    }
    silk_status st = h->status < SILK_STATUS_COUNT ? (silk_status)h->status : SILK_UNKNOWN;
    ProtobufCMessage *resp = NULL;
    const char *msg = h->message != NULL ? h->message : "";
    if (st == SILK_OK) {
        resp = protobuf_c_message_unpack(c->method->output, NULL, f->payload_len, f->payload);
        if (resp == NULL) {
            st = SILK_INTERNAL;
            msg = "cannot decode the response";
        }
    }
    c->cb(st, resp, st == SILK_OK ? "" : msg, c->arg);
    silk__rpc__response_header__free_unpacked(h, NULL);
}

static void on_frame(silk__conn *conn, const silk__frame *f)
{
    peer *l = (peer *)conn;
    if (f->kind == SILK__FRAME_PING) {
        silk__conn_send(conn, SILK__FRAME_PONG, f->call_id, NULL, NULL);
        return;
    }
    if (f->kind != SILK__FRAME_RESPONSE)
        return;
    silk__conn_lock(conn);
    call *c = table_remove(l, f->call_id);
    silk__conn_unlock(conn);
    if (c != NULL) /* else it timed out already */
        complete_response(c, f);
    free(c);
}

static void on_too_big(silk__conn *conn, const silk__frame *f)
{
    peer *l = (peer *)conn;
    silk__conn_lock(conn);
    call *c = f->kind == SILK__FRAME_RESPONSE ? table_remove(l, f->call_id) : NULL;
    silk__conn_unlock(conn);
    if (c != NULL)
        c->cb(SILK_RESOURCE_EXHAUSTED, NULL, "the response exceeds the message limit", c->arg);
    free(c);
}

/* on_closed fails every call in flight and takes the peer out of its channel's table, so
 * that the next call connects again. */
static void on_closed(silk__conn *conn, silk_status st, const char *why)
{
    peer *l = (peer *)conn;
    silk__conn_lock(conn);
    call *calls = table_take(l, any_call, 0);
    silk__conn_unlock(conn);
    nng_aio_cancel(l->dial_aio);
    nng_aio_cancel(l->timer_aio);

    silk_channel *ch = l->ch;
    pthread_mutex_lock(&ch->mu);
    if (st == SILK_UNAVAILABLE && ch->by_name)
        mark_down(ch, l->address);
    bool in_table = l->in_table;
    if (in_table) {
        peer **p = &ch->peers;
        while (*p != l)
            p = &(*p)->next;
        *p = l->next;
        l->in_table = false;
    }
    pthread_mutex_unlock(&ch->mu);

    if (st != SILK_CANCELLED)
        silk_log(SILK_LOG_DEBUG, "channel", "peer closed address=%s reason=\"%s\"", l->address,
                 why);
    complete_all(calls, st, why);
    if (in_table)
        silk__conn_rele(conn); /* the table's reference */
}

/* on_fini runs on the reaper: the peer's own aios stop, then it is freed. */
static void on_fini(silk__conn *conn)
{
    peer *l = (peer *)conn;
    silk_channel *ch = l->ch;
    nng_aio_free(l->dial_aio);
    nng_aio_free(l->timer_aio);
    nng_stream_dialer_free(l->dialer);
    free(l->buckets);
    free(l->address);
    silk__conn_fini(conn);
    free(l);

    pthread_mutex_lock(&ch->mu);
    ch->npeers--;
    pthread_cond_broadcast(&ch->cv);
    pthread_mutex_unlock(&ch->mu);
}

static const silk__conn_ops peer_ops = {
    .frame = on_frame,
    .too_big = on_too_big,
    .closed = on_closed,
    .fini = on_fini,
};

/* ============================== connecting ============================== */

static void dial_cb(void *arg)
{
    peer *l = arg;
    int rv = nng_aio_result(l->dial_aio);
    if (rv == 0)
        silk__conn_attach(&l->conn, nng_aio_get_output(l->dial_aio, 0));
    else
        silk__conn_close(&l->conn, SILK_UNAVAILABLE, "cannot connect to %s: %s", l->address,
                         nng_strerror(rv));
    silk__conn_rele(&l->conn); /* the dial's reference */
}

/* peer_new makes the peer to address and starts dialing; ch->mu is held. The peer has one
 * reference, the table's. */
static silk_status peer_new(silk_channel *ch, const char *address, peer **lp, char *why, size_t cap)
{
    peer *l = calloc(1, sizeof *l);
    if (l == NULL)
        return SILK_RESOURCE_EXHAUSTED;
    if (silk__conn_init(&l->conn, &peer_ops, ch->max_message + SILK__FRAME_HEADER_ROOM) !=
        SILK_OK) {
        free(l);
        return SILK_RESOURCE_EXHAUSTED;
    }
    l->ch = ch;
    l->nbuckets = 16;
    int rv = 0;
    if ((l->address = strdup(address)) == NULL ||
        (l->buckets = calloc(l->nbuckets, sizeof *l->buckets)) == NULL ||
        (rv = nng_aio_alloc(&l->dial_aio, dial_cb, l)) != 0 ||
        (rv = nng_aio_alloc(&l->timer_aio, timer_cb, l)) != 0 ||
        (rv = nng_stream_dialer_alloc(&l->dialer, address)) != 0) {
        snprintf(why, cap, "cannot dial %s: %s", address,
                 rv != 0 ? nng_strerror(rv) : "out of memory");
        nng_aio_free(l->dial_aio);
        nng_aio_free(l->timer_aio);
        free(l->buckets);
        free(l->address);
        silk__conn_fini(&l->conn);
        free(l);
        return rv == NNG_ENOMEM || rv == 0 ? SILK_RESOURCE_EXHAUSTED : SILK_UNAVAILABLE;
    }
    nng_stream_dialer_set_bool(l->dialer, NNG_OPT_TCP_NODELAY, true); /* not on ipc */
    l->in_table = true;
    l->next = ch->peers;
    ch->peers = l;
    ch->npeers++;
    silk__conn_hold(&l->conn); /* the dial's */
    nng_aio_set_timeout(l->dial_aio, DIAL_TIMEOUT_MS);
    nng_stream_dialer_dial(l->dialer, l->dial_aio);
    *lp = l;
    return SILK_OK;
}

/* get_peer returns, with a reference, the peer a new call goes on. */
static silk_status get_peer(silk_channel *ch, peer **lp, char *why, size_t cap)
{
    silk_status st = SILK_OK;
    pthread_mutex_lock(&ch->mu);
    const char *address = NULL;
    if (ch->closing) {
        snprintf(why, cap, "the channel is closing");
        st = SILK_CANCELLED;
    } else if ((address = pick_address(ch, why, cap)) == NULL) {
        st = SILK_UNAVAILABLE;
    }
    peer *l = ch->peers;
    while (st == SILK_OK && l != NULL && strcmp(l->address, address) != 0)
        l = l->next;
    if (st == SILK_OK && l == NULL)
        st = peer_new(ch, address, &l, why, cap);
    if (st == SILK_OK) {
        silk__conn_hold(&l->conn);
        *lp = l;
    }
    pthread_mutex_unlock(&ch->mu);
    return st;
}

/* ============================== calls ============================== */

/* submit enters the call in the peer's table and queues its frame. */
static silk_status submit(peer *l, call *c, const Silk__Rpc__RequestHeader *h,
                          const ProtobufCMessage *req, char *why, size_t cap)
{
    silk_status st = SILK_OK;
    silk__conn_lock(&l->conn);
    c->id = ++l->last_id;
    if (silk__conn_closed_locked(&l->conn)) {
        /* It closed between get_peer and now: a dial that failed at once, most likely. */
        snprintf(why, cap, "%s", l->conn.why);
        st = SILK_UNAVAILABLE;
    } else if (!table_add(l, c)) {
        st = SILK_RESOURCE_EXHAUSTED;
    } else if ((st = silk__conn_send_locked(&l->conn, SILK__FRAME_REQUEST, c->id, &h->base, req)) !=
               SILK_OK) {
        table_remove(l, c->id);
        snprintf(why, cap, "the request exceeds the message limit or the send queue is full");
    } else {
        arm_timer_locked(l, c->deadline_us);
    }
    silk__conn_unlock(&l->conn);
    return st;
}

/* start_call starts a call; on a synchronous failure why says what went wrong. */
static silk_status start_call(silk_channel *ch, silk_ctx *ctx, const silk_method_desc *method,
                              const ProtobufCMessage *req, silk_call_cb cb, void *arg, char *why,
                              size_t cap)
{
    if (ch == NULL || method == NULL || req == NULL || cb == NULL ||
        req->descriptor != method->input) {
        snprintf(why, cap, "invalid arguments");
        return SILK_INVALID_ARGUMENT;
    }
    uint64_t budget = silk__ctx_budget_us(ctx, method->timeout_ms);
    if (budget == 0) {
        snprintf(why, cap, "the deadline passed before the call started");
        return SILK_DEADLINE_EXCEEDED;
    }
    call *c = malloc(sizeof *c);
    if (c == NULL)
        return SILK_RESOURCE_EXHAUSTED;
    *c = (call){
        .deadline_us = silk__now_us() + (int64_t)budget, .method = method, .cb = cb, .arg = arg};
    silk__reqhdr rh;
    silk_status st = silk__reqhdr_init(&rh, ctx, method, req, budget, ch->token);
    if (st != SILK_OK) {
        free(c);
        return st;
    }
    peer *l = NULL;
    st = get_peer(ch, &l, why, cap);
    if (st == SILK_OK) {
        st = submit(l, c, &rh.h, req, why, cap);
        silk__conn_rele(&l->conn);
    }
    silk__reqhdr_fini(&rh);
    if (st != SILK_OK)
        free(c);
    return st;
}

silk_status silk_call_async(silk_channel *ch, silk_ctx *ctx, const silk_method_desc *method,
                            const ProtobufCMessage *req, silk_call_cb cb, void *arg)
{
    char why[256] = "";
    return start_call(ch, ctx, method, req, cb, arg, why, sizeof why);
}

/* waiter is what a blocking call waits on. */
typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    silk_status st;
    ProtobufCMessage *resp;
    char *message;
} waiter;

static void wake(silk_status st, ProtobufCMessage *resp, const char *message, void *arg)
{
    waiter *w = arg;
    char *copy = message != NULL && message[0] != '\0' ? strdup(message) : NULL;
    pthread_mutex_lock(&w->mu);
    w->st = st;
    w->resp = resp;
    w->message = copy;
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

silk_status silk_call(silk_channel *ch, silk_ctx *ctx, const silk_method_desc *method,
                      const ProtobufCMessage *req, ProtobufCMessage **resp)
{
    if (resp == NULL)
        return SILK_INVALID_ARGUMENT;
    *resp = NULL;
    waiter w = {.done = false};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    char why[256] = "";
    silk_status st = start_call(ch, ctx, method, req, wake, &w, why, sizeof why);
    if (st == SILK_OK) {
        pthread_mutex_lock(&w.mu);
        while (!w.done)
            pthread_cond_wait(&w.cv, &w.mu);
        pthread_mutex_unlock(&w.mu);
        st = w.st;
        *resp = w.resp;
    }
    if (st != SILK_OK)
        silk__ctx_set_message(ctx, w.message != NULL ? w.message : why);
    free(w.message);
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.mu);
    return st;
}

/* ============================== open and close ============================== */

static bool valid_target(const char *target, bool *by_name)
{
    if (target == NULL || target[0] == '\0')
        return false;
    *by_name = strstr(target, "://") == NULL;
    if (*by_name)
        return silk__registry_valid_name(target) && strchr(target, ':') == NULL;
    nng_url *u;
    if (nng_url_parse(&u, target) != 0)
        return false;
    nng_url_free(u);
    return true;
}

silk_status silk_channel_open(silk_channel **chp, const char *target)
{
    bool by_name = false;
    if (chp == NULL || !valid_target(target, &by_name))
        return SILK_INVALID_ARGUMENT;
    silk_channel *ch = calloc(1, sizeof *ch);
    if (ch == NULL || (ch->target = strdup(target)) == NULL) {
        free(ch);
        return SILK_RESOURCE_EXHAUSTED;
    }
    ch->by_name = by_name;
    ch->max_message = SILK__MAX_MESSAGE_DEFAULT;
    const char *token = getenv("SILK_TOKEN");
    silk_status st = SILK_OK;
    if (token != NULL && token[0] != '\0' && (ch->token = strdup(token)) == NULL)
        st = SILK_RESOURCE_EXHAUSTED;
    if (st == SILK_OK && by_name)
        st = silk_registry_open(&ch->reg, NULL);
    if (st != SILK_OK) {
        silk_registry_close(ch->reg);
        free(ch->token);
        free(ch->target);
        free(ch);
        return st;
    }
    pthread_mutex_init(&ch->mu, NULL);
    pthread_cond_init(&ch->cv, NULL);
    *chp = ch;
    return SILK_OK;
}

void silk_channel_close(silk_channel *ch)
{
    if (ch == NULL)
        return;
    pthread_mutex_lock(&ch->mu);
    ch->closing = true;
    peer *peers = ch->peers;
    ch->peers = NULL;
    for (peer *l = peers; l != NULL; l = l->next)
        l->in_table = false; /* the table's references are now ours */
    pthread_mutex_unlock(&ch->mu);

    for (peer *l = peers, *next; l != NULL; l = next) {
        next = l->next;
        silk__conn_close(&l->conn, SILK_CANCELLED, "the channel is closed");
        silk__conn_rele(&l->conn);
    }

    pthread_mutex_lock(&ch->mu);
    while (ch->npeers > 0)
        pthread_cond_wait(&ch->cv, &ch->mu);
    pthread_mutex_unlock(&ch->mu);

    silk_instance_list_fini(&ch->insts);
    for (size_t i = 0; i < ch->ndown; i++)
        free(ch->down[i].address);
    free(ch->down);
    silk_registry_close(ch->reg);
    free(ch->token);
    free(ch->target);
    pthread_cond_destroy(&ch->cv);
    pthread_mutex_destroy(&ch->mu);
    free(ch);
}
