/* channel.c - the client side: a connection per instance, calls multiplexed on it by call id.
 *
 * A channel keeps one peer per instance address. A peer is a conn (conn.h) with a dial
 * phase, a table of the calls in flight keyed by call id, and one timer aio that fails calls
 * whose deadline passes. The table, the call ids and the timer's state are under the conn's
 * mutex, so that a call is entered, sent, answered, timed out or failed by a lost connection
 * exactly once. Completions run on nng's threads. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>

#include <silk/channel.h>
#include <silk/log.h>
#include <silk/registry.h>

#include "balance.h"
#include "clock.h"
#include "conn.h"
#include "ctx_internal.h"
#include "interceptor_internal.h"
#include "registry_internal.h"
#include "thread.h"

/* A channel to a service name has its resolver thread read the registry this often. */
#define RESOLVE_EVERY_MS 1000
/* An idempotent call that failed UNAVAILABLE is sent again this long after. */
#define RETRY_GAP_US 50000
/* How often a blocking call made with a handler's ctx looks whether that was cancelled. */
#define CANCEL_POLL_MS 20
/* Its retries when its method sets none. */
#define DEFAULT_RETRIES 3
/* How long a connection attempt may take. */
#define DIAL_TIMEOUT_MS 10000
/* A connection that received nothing for this long is pinged; one that then stays silent
 * for as long again is closed, failing its calls with UNAVAILABLE ($SILK_KEEPALIVE_MS sets
 * it; 0 turns keepalive off). It finds a peer that vanished without closing its socket. */
#define KEEPALIVE_MS 10000

/* call is one call in flight. */
typedef struct call {
    struct call *next; /* in its bucket, or in a list of calls to complete */
    uint64_t id;
    int64_t deadline_us;
    int64_t sent_us; /* when it was queued: a deadline with nothing heard since is a failure */
    const silk_method_desc *method;
    silk_call_cb cb;
    void *arg;
} call;

/* parked is a call the channel's own thread holds: waiting for the registry to be read (no
 * instance was known when it started), or to be sent again after UNAVAILABLE (an idempotent
 * method, up to its retries, RETRY_GAP_US apart, within its deadline). It keeps copies of the
 * request and the ctx, since the caller's need not outlive silk_call_async. */
typedef struct parked {
    struct parked *next; /* on ch->parked */
    silk_channel *ch;
    silk_call_id id; /* the same at every send, so that silk_call_cancel finds it */
    const silk_method_desc *method;
    silk_ctx *ctx;
    ProtobufCMessage *req;
    silk_call_cb cb; /* the caller's */
    void *arg;
    unsigned sends;     /* attempts so far */
    silk__route route;  /* its key and the instances it tried */
    bool unsent;        /* its last send failed before a byte left: the dial failed */
    bool wait_resolve;  /* due once the registry has been read after gen */
    uint64_t gen;       /* ch->resolve_started when it was parked */
    int64_t not_before; /* else due at this time */
} parked;

/* peer is the connection to one instance. */
typedef struct peer {
    silk__conn conn; /* first: a silk__conn * is a peer * */
    silk_channel *ch;
    char *address;
    nng_stream_dialer *dialer;
    nng_aio *dial_aio; /* holds a reference while a dial is in flight */
    nng_aio *timer_aio;
    nng_aio *keepalive_aio;
    atomic_int_fast64_t last_rx_us; /* when a frame last arrived */
    bool dial_failed;               /* set before the dial's failure closes the conn */
    uint64_t addr_hash;             /* silk__lb_address_hash(address) */
    atomic_bool watched;            /* the instance has failures: report answers to the breaker */
    atomic_bool connected;          /* the dial succeeded */

    /* Under ch->mu. */
    struct peer *next;
    bool in_table;

    /* Under the conn's mutex. */
    call **buckets;
    size_t nbuckets; /* a power of two */
    size_t ncalls;
    bool ping_out;    /* a keepalive ping is unanswered */
    int64_t ping_at;  /* when it was sent */
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
    atomic_uint_fast64_t last_id; /* call ids are unique in the channel, for silk_call_cancel */
    unsigned keepalive_ms;        /* 0: no keepalive pings */
    silk__chain chain;            /* interceptors, fixed before the first call */
    atomic_int policy;            /* a silk_lb_policy: how new calls are routed */

    /* A channel to a service name reads the registry on a thread of its own, so that no call
     * ever waits for the registry's I/O on the caller's thread (a gateway's event loop). */
    pthread_t resolver;
    bool resolver_running;
    pthread_cond_t resolver_cv; /* wakes the resolver early: a call found no instance */

    /* Under mu. */
    bool closing;
    bool resolve_now;
    uint64_t resolve_started; /* registry reads begun */
    uint64_t resolve_done;    /* the count of the last one finished */
    parked *parked;
    silk__balancer lb; /* the instances the resolver found last, and their health */
    peer *peers;       /* live peers, one per address */
    unsigned npeers;   /* peers not yet finalized */
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

static void report(peer *l, bool failed, size_t n);

/* timer_cb fails the calls whose deadline has passed and arms the timer for the next one. A
 * call that timed out while the instance sent nothing at all on its connection counts as a
 * failure for the breaker: a slow handler on a live instance does not. */
static void timer_cb(void *arg)
{
    peer *l = arg;
    int64_t now = silk__now_us();
    int64_t last_rx = atomic_load_explicit(&l->last_rx_us, memory_order_relaxed);
    size_t silent = 0;
    silk__conn_lock(&l->conn);
    l->timer_busy = false;
    call *late = table_take(l, expired, now);
    for (call *c = late; c != NULL; c = c->next) { /* tell the server to drop them */
        silk__conn_send_locked(&l->conn, SILK__FRAME_CANCEL, c->id, NULL, NULL);
        silent += c->sent_us != 0 && last_rx < c->sent_us;
    }
    int64_t next = INT64_MAX;
    for (size_t i = 0; i < l->nbuckets; i++) {
        for (call *c = l->buckets[i]; c != NULL; c = c->next)
            next = c->deadline_us < next ? c->deadline_us : next;
    }
    if (next != INT64_MAX && !silk__conn_closed_locked(&l->conn))
        arm_timer_locked(l, next);
    silk__conn_unlock(&l->conn);
    report(l, true, silent);
    complete_all(late, SILK_DEADLINE_EXCEEDED, "deadline exceeded");
}

/* ============================== choosing an instance ============================== */

/* resolve reads the registry and replaces the channel's view when the read succeeds. */
static void resolve(silk_channel *ch)
{
    silk_instance_list fresh;
    silk__lb_view view;
    silk_status st = silk_registry_resolve(ch->reg, ch->target, &fresh);
    if (st == SILK_OK)
        st = silk__lb_prepare_view(&view, &fresh);
    if (st != SILK_OK) {
        /* The last known view keeps serving. */
        silk_log(SILK_LOG_WARN, "channel", "cannot read the registry service=%s status=%s",
                 ch->target, silk_status_str(st));
        return;
    }
    pthread_mutex_lock(&ch->mu);
    silk__lb_set_view(&ch->lb, &view);
    pthread_mutex_unlock(&ch->mu);
    silk__lb_view_fini(&view);
}

/* ============================== the channel's thread ============================== */

/* unsent tells, for a send that failed at once, what became of it. */
typedef enum unsent {
    UNSENT_OTHER,     /* failed for a reason of its own */
    UNSENT_NONE,      /* the registry knows no instance */
    UNSENT_ELSEWHERE, /* the instance picked could take nothing: another may, at once */
    UNSENT_BREAKERS,  /* every instance's breaker is open: fail fast */
} unsent;

static silk_status send_somewhere(silk_channel *ch, silk_ctx *ctx, const silk_method_desc *method,
                                  const ProtobufCMessage *req, silk_call_id id, silk_call_cb cb,
                                  void *arg, silk__route *r, bool adopt, unsent *how, char *why,
                                  size_t cap);

static void parked_free(parked *p)
{
    silk_ctx_free(p->ctx);
    if (p->req != NULL)
        protobuf_c_message_free_unpacked(p->req, NULL);
    free(p);
}

/* copy_message makes a copy of msg, by packing and unpacking it; NULL when out of memory. */
static ProtobufCMessage *copy_message(const ProtobufCMessage *msg)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(n != 0 ? n : 1);
    if (buf == NULL)
        return NULL;
    protobuf_c_message_pack(msg, buf);
    ProtobufCMessage *copy = protobuf_c_message_unpack(msg->descriptor, NULL, n, buf);
    free(buf);
    return copy;
}

/* parked_new copies a call so that the channel's thread can send it later. */
static parked *parked_new(silk_channel *ch, silk_ctx *ctx, const silk_method_desc *method,
                          const ProtobufCMessage *req, uint64_t budget, silk_call_id id,
                          silk_call_cb cb, void *arg, const silk__route *route)
{
    parked *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    *p = (parked){.ch = ch, .id = id, .method = method, .cb = cb, .arg = arg, .route = *route};
    if ((p->ctx = silk__ctx_clone(ctx, budget)) == NULL || (p->req = copy_message(req)) == NULL) {
        parked_free(p);
        return NULL;
    }
    return p;
}

/* park hands p to the channel's thread; false when the channel is closing. */
static bool park(parked *p, bool wait_resolve, int64_t not_before)
{
    silk_channel *ch = p->ch;
    pthread_mutex_lock(&ch->mu);
    bool ok = !ch->closing;
    if (ok) {
        p->wait_resolve = wait_resolve;
        p->gen = ch->resolve_started;
        p->not_before = not_before;
        p->next = ch->parked;
        ch->parked = p;
        ch->resolve_now = ch->resolve_now || wait_resolve;
        pthread_cond_signal(&ch->resolver_cv);
    }
    pthread_mutex_unlock(&ch->mu);
    return ok;
}

static unsigned retries_of(const silk_method_desc *m)
{
    return m->idempotent ? (m->retries != 0 ? m->retries : DEFAULT_RETRIES) : 0;
}

/* may_resend tells whether a parked call that ended with st may be sent again: its method
 * allows another attempt, and the instance failed or refused it before running it. */
static bool may_resend(const parked *p, silk_status st, const char *message)
{
    if (silk_ctx_remaining_us(p->ctx) <= RETRY_GAP_US)
        return false;
    if (p->unsent && st == SILK_UNAVAILABLE) /* nothing left: any method may go elsewhere */
        return p->sends < SILK__LB_MAX_TRIED;
    if (p->sends > retries_of(p->method))
        return false;
    return st == SILK_UNAVAILABLE || (st == SILK_RESOURCE_EXHAUSTED && message != NULL &&
                                      strcmp(message, SILK__MSG_BUSY) == 0);
}

/* parked_cb is the completion of every send of a parked call: it parks it again when the
 * method allows another attempt, and else completes the caller's call. */
static void parked_cb(silk_status st, ProtobufCMessage *resp, const char *message, void *arg)
{
    parked *p = arg;
    if (may_resend(p, st, message) && park(p, false, silk__now_us() + RETRY_GAP_US))
        return;
    p->cb(st, resp, message, p->arg);
    parked_free(p);
}

/* resend sends a parked call again, on the channel's thread. */
static void resend(parked *p)
{
    char why[256] = "";
    unsent how = UNSENT_OTHER;
    p->sends++;
    p->unsent = false;
    silk_status st = SILK_DEADLINE_EXCEEDED;
    if (silk_ctx_remaining_us(p->ctx) == 0)
        snprintf(why, sizeof why, "the deadline passed before the call could be sent");
    else
        st = send_somewhere(p->ch, p->ctx, p->method, p->req, p->id, parked_cb, p, &p->route, false,
                            &how, why, sizeof why);
    if (st == SILK_OK)
        return;
    if (how == UNSENT_BREAKERS) { /* no point in waiting 50 ms */
        p->cb(st, NULL, why, p->arg);
        parked_free(p);
        return;
    }
    parked_cb(st, NULL, why, p);
}

/* take_due removes the parked calls that are due and returns them; ch->mu is held. */
static parked *take_due(silk_channel *ch, int64_t now, int64_t *next)
{
    parked *due = NULL;
    for (parked **pp = &ch->parked; *pp != NULL;) {
        parked *p = *pp;
        bool ready = p->wait_resolve ? ch->resolve_done > p->gen : p->not_before <= now;
        if (!ready) {
            if (!p->wait_resolve && p->not_before < *next)
                *next = p->not_before;
            pp = &p->next;
            continue;
        }
        *pp = p->next;
        p->next = due;
        due = p;
    }
    return due;
}

/* channel_main reads the registry every RESOLVE_EVERY_MS (at once when a call asks) for a
 * channel to a name, and sends parked calls when they are due. */
static void *channel_main(void *arg)
{
    silk_channel *ch = arg;
    int64_t next_resolve = silk__now_us() + RESOLVE_EVERY_MS * 1000;
    pthread_mutex_lock(&ch->mu);
    while (!ch->closing) {
        int64_t now = silk__now_us();
        if (ch->by_name && (ch->resolve_now || now >= next_resolve)) {
            ch->resolve_now = false;
            uint64_t gen = ++ch->resolve_started;
            pthread_mutex_unlock(&ch->mu);
            resolve(ch);
            pthread_mutex_lock(&ch->mu);
            ch->resolve_done = gen;
            next_resolve = silk__now_us() + RESOLVE_EVERY_MS * 1000;
            continue;
        }
        int64_t next = ch->by_name ? next_resolve : now + RESOLVE_EVERY_MS * 1000;
        parked *due = take_due(ch, now, &next);
        if (due != NULL) {
            pthread_mutex_unlock(&ch->mu);
            for (parked *p = due, *n; p != NULL; p = n) {
                n = p->next;
                resend(p);
            }
            pthread_mutex_lock(&ch->mu);
            continue;
        }
        if (ch->resolve_now)
            continue;
        struct timespec at;
        clock_gettime(CLOCK_MONOTONIC, &at);
        int64_t wait_us = next - now > 0 ? next - now : 0;
        at.tv_sec += (time_t)(wait_us / 1000000);
        at.tv_nsec += (long)(wait_us % 1000000) * 1000;
        if (at.tv_nsec >= 1000000000) {
            at.tv_sec++;
            at.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&ch->resolver_cv, &ch->mu, &at);
    }
    pthread_mutex_unlock(&ch->mu);
    return NULL;
}

/* ============================== peer hooks ============================== */

/* report tells the breaker how n calls on l ended: failed (UNAVAILABLE, or a deadline that
 * passed in silence) or answered. An answer costs nothing unless the instance has failures. */
static void report(peer *l, bool failed, size_t n)
{
    silk_channel *ch = l->ch;
    if (!ch->by_name || n == 0 ||
        (!failed && !atomic_load_explicit(&l->watched, memory_order_relaxed)))
        return;
    int64_t now = silk__now_us();
    pthread_mutex_lock(&ch->mu);
    for (size_t i = 0; i < n && failed; i++)
        silk__lb_failed(&ch->lb, l->address, now);
    if (!failed)
        silk__lb_succeeded(&ch->lb, l->address);
    atomic_store_explicit(&l->watched, failed, memory_order_relaxed);
    pthread_mutex_unlock(&ch->mu);
}

/* complete_response completes a call with the response frame f, which arrived on l. */
static void complete_response(peer *l, call *c, const silk__frame *f)
{
    Silk__Rpc__ResponseHeader *h =
        silk__rpc__response_header__unpack(NULL, f->header_len, f->header);
    if (h == NULL) {
        c->cb(SILK_INTERNAL, NULL, "cannot decode the response header", c->arg);
        return;
    }
    silk_status st = h->status < SILK_STATUS_COUNT ? (silk_status)h->status : SILK_UNKNOWN;
    report(l, st == SILK_UNAVAILABLE, 1); /* before a failover picks again */
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
    atomic_store_explicit(&l->last_rx_us, silk__now_us(), memory_order_relaxed);
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
        complete_response(l, c, f);
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
    for (call *c = calls; c != NULL && l->dial_failed; c = c->next) {
        if (c->cb == parked_cb) /* the channel's own copy: nothing of it was sent */
            ((parked *)c->arg)->unsent = true;
    }
    nng_aio_cancel(l->dial_aio);
    nng_aio_cancel(l->timer_aio);
    nng_aio_cancel(l->keepalive_aio);

    silk_channel *ch = l->ch;
    pthread_mutex_lock(&ch->mu);
    if (st == SILK_UNAVAILABLE && (ch->by_name || l->dial_failed))
        silk__lb_conn_failed(&ch->lb, l->address, l->dial_failed, silk__now_us());
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
    nng_aio_free(l->keepalive_aio);
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

/* ============================== keepalive ============================== */

/* keepalive_cb ticks every keepalive_ms while the connection is up: it pings a connection
 * that has been silent that long, and closes one that stayed silent after its ping. */
static void keepalive_cb(void *arg)
{
    peer *l = arg;
    if (nng_aio_result(l->keepalive_aio) != 0)
        return; /* cancelled: the connection is closing */
    unsigned ms = l->ch->keepalive_ms;
    int64_t now = silk__now_us();
    int64_t last = atomic_load_explicit(&l->last_rx_us, memory_order_relaxed);
    silk__conn_lock(&l->conn);
    if (silk__conn_closed_locked(&l->conn)) {
        silk__conn_unlock(&l->conn);
        return;
    }
    if (l->ping_out && last < l->ping_at) {
        silk__conn_unlock(&l->conn);
        silk__conn_close(&l->conn, SILK_UNAVAILABLE, "%s did not answer a keepalive ping",
                         l->address);
        return;
    }
    l->ping_out = false;
    if (now - last >= (int64_t)ms * 1000 &&
        silk__conn_send_locked(&l->conn, SILK__FRAME_PING, 0, NULL, NULL) == SILK_OK) {
        l->ping_out = true;
        l->ping_at = now;
    }
    nng_sleep_aio((nng_duration)ms, l->keepalive_aio);
    silk__conn_unlock(&l->conn);
}

/* ============================== connecting ============================== */

static void dial_cb(void *arg)
{
    peer *l = arg;
    int rv = nng_aio_result(l->dial_aio);
    if (rv == 0) {
        pthread_mutex_lock(&l->ch->mu);
        silk__lb_conn_made(&l->ch->lb, l->address);
        pthread_mutex_unlock(&l->ch->mu);
        atomic_store(&l->connected, true);
        atomic_store(&l->last_rx_us, silk__now_us());
        if (silk__conn_attach(&l->conn, nng_aio_get_output(l->dial_aio, 0)) == SILK_OK &&
            l->ch->keepalive_ms != 0)
            nng_sleep_aio((nng_duration)l->ch->keepalive_ms, l->keepalive_aio);
    } else {
        l->dial_failed = true;
        silk__conn_close(&l->conn, SILK_UNAVAILABLE, "cannot connect to %s: %s", l->address,
                         nng_strerror(rv));
    }
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
    l->addr_hash = silk__lb_address_hash(address);
    atomic_init(&l->watched, ch->by_name && silk__lb_watch(&ch->lb, address));
    int rv = 0;
    if ((l->address = strdup(address)) == NULL ||
        (l->buckets = calloc(l->nbuckets, sizeof *l->buckets)) == NULL ||
        (rv = nng_aio_alloc(&l->dial_aio, dial_cb, l)) != 0 ||
        (rv = nng_aio_alloc(&l->timer_aio, timer_cb, l)) != 0 ||
        (rv = nng_aio_alloc(&l->keepalive_aio, keepalive_cb, l)) != 0 ||
        (rv = nng_stream_dialer_alloc(&l->dialer, address)) != 0) {
        snprintf(why, cap, "cannot dial %s: %s", address,
                 rv != 0 ? nng_strerror(rv) : "out of memory");
        nng_aio_free(l->dial_aio);
        nng_aio_free(l->timer_aio);
        nng_aio_free(l->keepalive_aio);
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

/* get_peer returns, with a reference, the peer a new call on route r goes on, and records
 * it among those r tried; *how tells why it failed. */
static silk_status get_peer(silk_channel *ch, silk__route *r, peer **lp, unsent *how, char *why,
                            size_t cap)
{
    silk_status st = SILK_OK;
    int64_t now = ch->by_name ? silk__now_us() : 0; /* a channel to an address needs no clock */
    pthread_mutex_lock(&ch->mu);
    const char *address = NULL;
    bool none = false;
    if (ch->closing) {
        snprintf(why, cap, "the channel is closing");
        st = SILK_CANCELLED;
    } else if ((address = ch->by_name ? silk__lb_pick(&ch->lb, r, now, &none, why, cap)
                                      : ch->target) == NULL) {
        *how = none ? UNSENT_NONE : UNSENT_BREAKERS;
        st = SILK_UNAVAILABLE;
    }
    peer *l = ch->peers;
    while (st == SILK_OK && l != NULL && strcmp(l->address, address) != 0)
        l = l->next;
    unsigned failures = 0;
    int64_t wait_us = st == SILK_OK && l == NULL && ch->lb.nhealth != 0
                          ? silk__lb_backoff_us(&ch->lb, address, silk__now_us(), &failures)
                          : 0;
    if (wait_us > 0) {
        snprintf(why, cap, "cannot connect to %s: %u attempts failed, the next in %lld ms", address,
                 failures, (long long)(wait_us + 999) / 1000);
        *how = UNSENT_ELSEWHERE;
        st = SILK_UNAVAILABLE;
        r->tried[r->ntried++ % SILK__LB_MAX_TRIED] = silk__lb_address_hash(address);
    } else if (st == SILK_OK && l == NULL) {
        st = peer_new(ch, address, &l, why, cap);
    }
    if (st == SILK_OK) {
        silk__conn_hold(&l->conn);
        r->tried[r->ntried++ % SILK__LB_MAX_TRIED] = l->addr_hash;
        *lp = l;
    }
    pthread_mutex_unlock(&ch->mu);
    return st;
}

/* ============================== calls ============================== */

/* submit enters the call in the peer's table and queues its frame. */
static silk_status submit(peer *l, call *c, const Silk__Rpc__RequestHeader *h,
                          const ProtobufCMessage *req, unsent *how, char *why, size_t cap)
{
    silk_status st = SILK_OK;
    silk__conn_lock(&l->conn);
    if (silk__conn_closed_locked(&l->conn)) {
        /* It closed between get_peer and now: a dial that failed at once, most likely. */
        snprintf(why, cap, "%s", l->conn.why);
        st = SILK_UNAVAILABLE;
        *how = UNSENT_ELSEWHERE;
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

/* send_call builds a call's header and sends it on the peer picked for r, with the call id
 * given; when it fails at once, *how says whether another instance may take it. With adopt
 * (a call not parked, on a channel to a name), a call queued on a connection still being
 * made is parked - copied - first, so that another instance can take it if the dial fails:
 * nothing of it was sent then. Calls on connections already made cost no copy. */
static silk_status send_call(silk_channel *ch, silk_ctx *ctx, const silk_method_desc *method,
                             const ProtobufCMessage *req, silk_call_id id, silk_call_cb cb,
                             void *arg, silk__route *r, bool adopt, unsent *how, char *why,
                             size_t cap)
{
    uint64_t budget = silk__ctx_budget_us(ctx, method->timeout_ms);
    call *c = malloc(sizeof *c);
    if (c == NULL) {
        snprintf(why, cap, "out of memory");
        return SILK_RESOURCE_EXHAUSTED;
    }
    int64_t now = silk__now_us();
    *c = (call){.id = id,
                .deadline_us = now + (int64_t)budget,
                .sent_us = now,
                .method = method,
                .cb = cb,
                .arg = arg};
    silk__reqhdr rh;
    silk_status st = silk__reqhdr_init(&rh, ctx, method, req, budget, ch->token);
    if (st != SILK_OK) {
        snprintf(why, cap, "out of memory");
        free(c);
        return st;
    }
    peer *l = NULL;
    parked *adopted = NULL;
    st = get_peer(ch, r, &l, how, why, cap);
    if (st == SILK_OK && adopt && !atomic_load(&l->connected) &&
        (adopted = parked_new(ch, ctx, method, req, budget, id, cb, arg, r)) != NULL) {
        adopted->sends = 1;
        c->cb = parked_cb;
        c->arg = adopted;
    }
    if (st == SILK_OK) {
        st = submit(l, c, &rh.h, req, how, why, cap);
        silk__conn_rele(&l->conn);
    }
    silk__reqhdr_fini(&rh);
    if (st != SILK_OK) {
        free(c);
        if (adopted != NULL)
            parked_free(adopted);
    }
    return st;
}

/* send_somewhere is send_call, given to other instances at once while the one picked could
 * take nothing (nothing was queued, so this holds for every method). */
static silk_status send_somewhere(silk_channel *ch, silk_ctx *ctx, const silk_method_desc *method,
                                  const ProtobufCMessage *req, silk_call_id id, silk_call_cb cb,
                                  void *arg, silk__route *r, bool adopt, unsent *how, char *why,
                                  size_t cap)
{
    for (unsigned k = 0;; k++) {
        *how = UNSENT_OTHER;
        silk_status st = send_call(ch, ctx, method, req, id, cb, arg, r, adopt, how, why, cap);
        if (st != SILK_UNAVAILABLE || *how != UNSENT_ELSEWHERE || !ch->by_name ||
            k + 1 >= SILK__LB_MAX_TRIED)
            return st;
    }
}

/* intercepted is a call whose channel has interceptors: their afters run at completion. */
typedef struct intercepted {
    silk_channel *ch;
    const silk_method_desc *method;
    silk_call_cb cb; /* the caller's */
    void *arg;
    size_t ran;
    int64_t start_us;
    char trace_id[SILK_MD_MAX_VALUE + 1];
} intercepted;

static void run_afters(intercepted *ic, silk_status st, const ProtobufCMessage *resp,
                       const char *message)
{
    silk_call_info info = {.method = ic->method,
                           .target = ic->ch->target,
                           .trace_id = ic->trace_id,
                           .status = st,
                           .message = message != NULL ? message : "",
                           .elapsed_us = silk__now_us() - ic->start_us};
    silk__chain_after(&ic->ch->chain, ic->ran, &info, resp);
}

static void intercepted_cb(silk_status st, ProtobufCMessage *resp, const char *message, void *arg)
{
    intercepted *ic = arg;
    run_afters(ic, st, resp, message);
    ic->cb(st, resp, message, ic->arg);
    free(ic);
}

/* intercept runs the channel's befores for a call; on SILK_OK *icp wraps cb and arg. */
static silk_status intercept(silk_channel *ch, silk_ctx *ctx, const silk_method_desc *method,
                             const ProtobufCMessage *req, silk_call_cb cb, void *arg,
                             intercepted **icp, char *why, size_t cap)
{
    intercepted *ic = malloc(sizeof *ic);
    if (ic == NULL) {
        snprintf(why, cap, "out of memory");
        return SILK_RESOURCE_EXHAUSTED;
    }
    const char *trace = silk_ctx_get(ctx, SILK_MD_TRACE_ID);
    *ic =
        (intercepted){.ch = ch, .method = method, .cb = cb, .arg = arg, .start_us = silk__now_us()};
    snprintf(ic->trace_id, sizeof ic->trace_id, "%s", trace != NULL ? trace : "");
    silk_call_info info = {
        .method = method, .ctx = ctx, .target = ch->target, .trace_id = ic->trace_id};
    silk_status st = silk__chain_before(&ch->chain, &info, req, &ic->ran);
    if (st != SILK_OK) {
        snprintf(why, cap, "%s",
                 silk_ctx_message(ctx)[0] != '\0' ? silk_ctx_message(ctx)
                                                  : "refused by an interceptor");
        run_afters(ic, st, NULL, why);
        free(ic);
        return st;
    }
    *icp = ic;
    return SILK_OK;
}

/* start_call starts a call; on a synchronous failure why says what went wrong and the
 * callback is never called. A call of an idempotent method on a channel to a name is
 * parked - copied - so that it can be sent again; a call that finds no instance known waits
 * for the registry to be read again rather than read it on the caller's thread. */
static silk_status start_call(silk_channel *ch, silk_ctx *ctx, const silk_method_desc *method,
                              const ProtobufCMessage *req, silk_call_cb cb, void *arg,
                              silk_call_id *idp, char *why, size_t cap)
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
    if (silk_ctx_cancelled(ctx)) {
        snprintf(why, cap, "the caller's call was cancelled");
        return SILK_CANCELLED;
    }
    if (silk__ctx_ensure_trace_id(ctx) != SILK_OK) {
        snprintf(why, cap, "out of memory");
        return SILK_RESOURCE_EXHAUSTED;
    }
    intercepted *ic = NULL;
    if (ch->chain.n > 0) {
        silk_status st = intercept(ch, ctx, method, req, cb, arg, &ic, why, cap);
        if (st != SILK_OK)
            return st;
        cb = intercepted_cb;
        arg = ic;
    }
    silk_call_id id = atomic_fetch_add(&ch->last_id, 1) + 1;
    silk__route route = {.ntried = 0};
    if (ch->by_name)
        silk__lb_route_init(&route,
                            (silk_lb_policy)atomic_load_explicit(&ch->policy, memory_order_relaxed),
                            method, req, ctx);
    parked *p = NULL;
    if (ch->by_name && retries_of(method) > 0 &&
        (p = parked_new(ch, ctx, method, req, budget, id, cb, arg, &route)) == NULL) {
        snprintf(why, cap, "out of memory");
        if (ic != NULL) {
            run_afters(ic, SILK_RESOURCE_EXHAUSTED, NULL, why);
            free(ic);
        }
        return SILK_RESOURCE_EXHAUSTED;
    }
    unsent how = UNSENT_OTHER;
    if (p != NULL)
        p->sends = 1; /* before the send: its completion may run at once, and owns p */
    silk_status st = send_somewhere(ch, ctx, method, req, id, p != NULL ? parked_cb : cb,
                                    p != NULL ? (void *)p : arg, p != NULL ? &p->route : &route,
                                    ch->by_name && p == NULL, &how, why, cap);
    if (st == SILK_UNAVAILABLE && how == UNSENT_NONE) {
        if (p == NULL)
            p = parked_new(ch, ctx, method, req, budget, id, cb, arg, &route);
        else
            p->sends = 0; /* it was not sent */
        if (p != NULL && park(p, true, 0)) {
            p = NULL;
            st = SILK_OK;
        }
    } else if (st == SILK_OK) {
        p = NULL;
    } else if (st == SILK_UNAVAILABLE && p != NULL && how != UNSENT_BREAKERS &&
               silk_ctx_remaining_us(p->ctx) > RETRY_GAP_US &&
               park(p, false, silk__now_us() + RETRY_GAP_US)) {
        /* The instance picked is down (its connection just failed, or is backing off): the
         * method allows another attempt, which the channel's thread makes. */
        p = NULL;
        st = SILK_OK;
    }
    if (p != NULL)
        parked_free(p);
    if (st != SILK_OK && ic != NULL) {
        run_afters(ic, st, NULL, why);
        free(ic);
    }
    if (st == SILK_OK && idp != NULL)
        *idp = id;
    return st;
}

silk_status silk_channel_add_interceptor(silk_channel *ch, const silk_interceptor *ic)
{
    if (ch == NULL)
        return SILK_INVALID_ARGUMENT;
    return silk__chain_add(&ch->chain, ic);
}

silk_status silk_channel_set_policy(silk_channel *ch, silk_lb_policy policy)
{
    if (ch == NULL ||
        (policy != SILK_LB_ROUND_ROBIN && policy != SILK_LB_RANDOM && policy != SILK_LB_HASH))
        return SILK_INVALID_ARGUMENT;
    pthread_mutex_lock(&ch->mu);
    ch->lb.policy = policy;
    atomic_store(&ch->policy, (int)policy);
    pthread_mutex_unlock(&ch->mu);
    return SILK_OK;
}

silk_status silk_channel_set_breaker(silk_channel *ch, unsigned failures, uint32_t open_ms)
{
    if (ch == NULL)
        return SILK_INVALID_ARGUMENT;
    pthread_mutex_lock(&ch->mu);
    if (ch->by_name) {
        ch->lb.breaker_failures = failures;
        ch->lb.breaker_open_us = (int64_t)open_ms * 1000;
    }
    pthread_mutex_unlock(&ch->mu);
    return SILK_OK;
}

silk_status silk_call_start(silk_channel *ch, silk_ctx *ctx, const silk_method_desc *method,
                            const ProtobufCMessage *req, silk_call_cb cb, void *arg,
                            silk_call_id *idp)
{
    char why[256] = "";
    silk_status st = start_call(ch, ctx, method, req, cb, arg, idp, why, sizeof why);
    if (st != SILK_OK)
        silk__ctx_set_message(ctx, why);
    return st;
}

silk_status silk_call_async(silk_channel *ch, silk_ctx *ctx, const silk_method_desc *method,
                            const ProtobufCMessage *req, silk_call_cb cb, void *arg)
{
    return silk_call_start(ch, ctx, method, req, cb, arg, NULL);
}

void silk_call_cancel(silk_channel *ch, silk_call_id id)
{
    if (ch == NULL || id == 0)
        return;
    call *c = NULL;
    parked *p = NULL;
    pthread_mutex_lock(&ch->mu);
    for (parked **pp = &ch->parked; *pp != NULL; pp = &(*pp)->next) {
        if ((*pp)->id == id) {
            p = *pp;
            *pp = p->next;
            break;
        }
    }
    for (peer *l = ch->peers; l != NULL && c == NULL && p == NULL; l = l->next) {
        silk__conn_lock(&l->conn);
        if ((c = table_remove(l, id)) != NULL) /* tell the server to drop it */
            silk__conn_send_locked(&l->conn, SILK__FRAME_CANCEL, id, NULL, NULL);
        silk__conn_unlock(&l->conn);
    }
    pthread_mutex_unlock(&ch->mu);
    if (p != NULL) {
        p->cb(SILK_CANCELLED, NULL, "the call was cancelled", p->arg);
        parked_free(p);
    }
    if (c != NULL)
        c->cb(SILK_CANCELLED, NULL, "the call was cancelled", c->arg);
    free(c);
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
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w.cv, &attr);
    pthread_condattr_destroy(&attr);
    char why[256] = "";
    silk_call_id id = 0;
    silk_status st = start_call(ch, ctx, method, req, wake, &w, &id, why, sizeof why);
    if (st == SILK_OK) {
        /* A handler's nested call is cancelled with the handler's own call: the wait looks
         * at the ctx's cancel flag every CANCEL_POLL_MS, and a cancel travels on. */
        bool watch = silk__ctx_cancellable(ctx);
        pthread_mutex_lock(&w.mu);
        while (!w.done) {
            if (!watch) {
                pthread_cond_wait(&w.cv, &w.mu);
                continue;
            }
            struct timespec at;
            clock_gettime(CLOCK_MONOTONIC, &at);
            at.tv_nsec += CANCEL_POLL_MS * 1000000L;
            if (at.tv_nsec >= 1000000000) {
                at.tv_sec++;
                at.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&w.cv, &w.mu, &at);
            if (!w.done && silk_ctx_cancelled(ctx)) {
                pthread_mutex_unlock(&w.mu);
                silk_call_cancel(ch, id); /* completes it, unless it is completing */
                pthread_mutex_lock(&w.mu);
                watch = false;
            }
        }
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
    silk__lb_init(&ch->lb, ch->target);
    if (!by_name)
        ch->lb.breaker_failures = 0; /* one address: nothing to fail over to */
    atomic_init(&ch->policy, (int)ch->lb.policy);
    const char *keepalive = getenv("SILK_KEEPALIVE_MS");
    ch->keepalive_ms = keepalive != NULL && keepalive[0] != '\0'
                           ? (unsigned)strtoul(keepalive, NULL, 10)
                           : KEEPALIVE_MS;
    const char *token = getenv("SILK_TOKEN");
    silk_status st = SILK_OK;
    if (token != NULL && token[0] != '\0' && (ch->token = strdup(token)) == NULL)
        st = SILK_RESOURCE_EXHAUSTED;
    if (st == SILK_OK && by_name)
        st = silk_registry_open(&ch->reg, NULL);
    if (st != SILK_OK) {
        silk_registry_close(ch->reg);
        silk__lb_fini(&ch->lb);
        free(ch->token);
        free(ch->target);
        free(ch);
        return st;
    }
    pthread_mutex_init(&ch->mu, NULL);
    pthread_cond_init(&ch->cv, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&ch->resolver_cv, &attr);
    pthread_condattr_destroy(&attr);
    if (by_name) {
        /* The first view is read here, so that a call right after open finds the instances
         * already up; later ones are the channel thread's. */
        resolve(ch);
        if (silk__thread_start(&ch->resolver, channel_main, ch) != 0) {
            silk_channel_close(ch);
            return SILK_RESOURCE_EXHAUSTED;
        }
        ch->resolver_running = true;
    }
    *chp = ch;
    return SILK_OK;
}

silk_status silk_channel_open_service(silk_channel **chp, const silk_service_desc *desc)
{
    if (chp == NULL || desc == NULL)
        return SILK_INVALID_ARGUMENT;
    silk_status st = silk_channel_open(chp, desc->name);
    if (st == SILK_OK && desc->websocket)
        silk_channel_set_policy(*chp, SILK_LB_HASH);
    return st;
}

void silk_channel_close(silk_channel *ch)
{
    if (ch == NULL)
        return;
    pthread_mutex_lock(&ch->mu);
    ch->closing = true;
    pthread_cond_signal(&ch->resolver_cv);
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
    if (ch->resolver_running)
        pthread_join(ch->resolver, NULL);
    /* Calls parked when the thread stopped: nothing sends them now. */
    for (parked *p = ch->parked, *next; p != NULL; p = next) {
        next = p->next;
        p->cb(SILK_CANCELLED, NULL, "the channel is closed", p->arg);
        parked_free(p);
    }

    silk__lb_fini(&ch->lb);
    silk_registry_close(ch->reg);
    silk__chain_fini(&ch->chain);
    free(ch->token);
    free(ch->target);
    pthread_cond_destroy(&ch->resolver_cv);
    pthread_cond_destroy(&ch->cv);
    pthread_mutex_destroy(&ch->mu);
    free(ch);
}
