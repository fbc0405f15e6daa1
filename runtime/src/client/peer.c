/* peer.c - the client's connections: one peer per instance address, dialled lazily,
 * with the table of calls in flight on it, their deadlines, keepalive pings, and the
 * completions of responses, timeouts and lost connections (see channel_internal.h). */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>

#include <silk/log.h>

#include "client/channel_internal.h"
#include "core/clock.h"
#include "core/scratch.h"

/* How long a connection attempt may take. */
#define DIAL_TIMEOUT_MS 10000

/* ============================== completing calls ============================== */

/* complete_all completes a list of calls with one status and frees them. */
static void complete_all(silk__call *list, silk_status st, const char *why)
{
    for (silk__call *c = list, *next; c != NULL; c = next) {
        next = c->next;
        c->cb(st, NULL, why, c->arg);
        free(c);
    }
}

/* take_answered takes the call id out of l's table, a copy of it into *out, and keeps the call
 * among l's spares (or frees it); false when l does not have it. l's mutex is held. */
static bool take_answered(silk__peer *l, uint64_t id, silk__call *out)
{
    SILK__ASSERT_HELD(&l->conn.mu);
    silk__call *c = silk__call_table_remove(&l->calls, id);
    if (c == NULL)
        return false;
    *out = *c;
    silk__spares_give(&l->spare_calls, c, SILK__SPARE_CALLS);
    return true;
}

/* new_call_locked returns one of l's spare calls, or a new one; NULL when memory is exhausted.
 * l's mutex is held. */
static silk__call *new_call_locked(silk__peer *l)
{
    SILK__ASSERT_HELD(&l->conn.mu);
    return silk__spares_take(&l->spare_calls, sizeof(silk__call));
}

/* ============================== deadlines ============================== */

/* arm_timer_locked makes the timer end no later than at. */
static void arm_timer_locked(silk__peer *l, int64_t at)
{
    SILK__ASSERT_HELD(&l->conn.mu);
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

static void report(silk__peer *l, bool failed, size_t n);

/* timer_cb fails the calls whose deadline has passed and arms the timer for the next one. A
 * call that timed out while the instance sent nothing at all on its connection counts as a
 * failure for the breaker: a slow handler on a live instance does not. */
static void timer_cb(void *arg)
{
    silk__peer *l = arg;
    int64_t now = silk__now_us();
    int64_t last_rx = atomic_load_explicit(&l->last_rx_us, memory_order_relaxed);
    size_t silent = 0;
    silk__stream_conn_lock(&l->conn);
    l->timer_busy = false;
    silk__call *late = silk__call_table_take(&l->calls, now);
    for (silk__call *c = late; c != NULL; c = c->next) { /* tell the server to drop them */
        silk__stream_conn_send_locked(&l->conn, SILK__FRAME_CANCEL, c->id, NULL, NULL);
        silent += c->sent_us != 0 && last_rx < c->sent_us;
    }
    int64_t next = silk__call_table_next_deadline(&l->calls);
    if (next != INT64_MAX && !silk__stream_conn_closed_locked(&l->conn))
        arm_timer_locked(l, next);
    silk__stream_conn_unlock(&l->conn);
    report(l, true, silent);
    complete_all(late, SILK_DEADLINE_EXCEEDED, "deadline exceeded");
}

/* ============================== peer hooks ============================== */

/* report tells the breaker how n calls on l ended: failed (UNAVAILABLE, or a deadline that
 * passed in silence) or answered. An answer costs nothing unless the instance has failures. */
static void report(silk__peer *l, bool failed, size_t n)
{
    silk_channel *ch = l->ch;
    if (!ch->by_name || n == 0 ||
        (!failed && !atomic_load_explicit(&l->watched, memory_order_relaxed)))
        return;
    int64_t now = silk__now_us();
    silk__mutex_lock(&ch->mu);
    for (size_t i = 0; i < n && failed; i++)
        silk__lb_failed(&ch->lb, l->address, now);
    if (!failed)
        silk__lb_succeeded(&ch->lb, l->address);
    atomic_store_explicit(&l->watched, failed, memory_order_relaxed);
    silk__mutex_unlock(&ch->mu);
}

/* complete_response completes a call with the response frame f, which arrived on l. */
static void complete_response(silk__peer *l, silk__call *c, const silk__frame *f)
{
    silk__scratch mem; /* the header's, on this stack */
    silk__scratch_init(&mem);
    silk__response r;
    silk__response_decode(&r, f, c->method->output, &mem.allocator, NULL);
    report(l, r.st == SILK_UNAVAILABLE, 1); /* before a failover picks again */
    c->cb(r.st, r.msg, r.message, c->arg);
    silk__response_fini(&r);
    silk__scratch_fini(&mem);
}

/* made records that the connection of l is made: its dial's backoff ends, and calls
 * queued on it from now on are sent without a copy. */
static void made(silk__peer *l)
{
    silk__mutex_lock(&l->ch->mu);
    silk__lb_conn_made(&l->ch->lb, l->address);
    silk__mutex_unlock(&l->ch->mu);
    atomic_store(&l->connected, true);
}

static void on_frame(silk__stream_conn *conn, const silk__frame *f)
{
    silk__peer *l = (silk__peer *)conn;
    int64_t before = atomic_exchange_explicit(&l->last_rx_us, silk__now_us(), memory_order_relaxed);
    if (before == 0 && !atomic_load(&l->connected))
        made(l); /* a TLS connection: the handshake is over once a frame arrived */
    if (f->kind == SILK__FRAME_PING) {
        silk__stream_conn_send(conn, SILK__FRAME_PONG, f->call_id, NULL, NULL, false);
        return;
    }
    if (f->kind != SILK__FRAME_RESPONSE)
        return;
    silk__call c;
    silk__stream_conn_lock(conn);
    bool found = take_answered(l, f->call_id, &c);
    silk__stream_conn_unlock(conn);
    if (found) /* else it timed out already */
        complete_response(l, &c, f);
}

static void on_too_big(silk__stream_conn *conn, const silk__frame *f)
{
    silk__peer *l = (silk__peer *)conn;
    silk__call c;
    silk__stream_conn_lock(conn);
    bool found = f->kind == SILK__FRAME_RESPONSE && take_answered(l, f->call_id, &c);
    silk__stream_conn_unlock(conn);
    if (found)
        c.cb(SILK_RESOURCE_EXHAUSTED, NULL, "the response exceeds the message limit", c.arg);
}

/* handshake_failed tells whether the TLS connection of l closed in its handshake: refused
 * by a peer whose certificate is not of the CA (or who refused ours) before any frame came.
 * Such a connection is a dial that failed: no request reached the peer. Its mutex is held. */
static bool handshake_failed(const silk__peer *l)
{
    int rv = l->conn.nng_error;
    return silk__tls_address(l->address) && !atomic_load(&l->connected) &&
           (rv == NNG_EPEERAUTH || rv == NNG_ECRYPTO);
}

/* on_closed fails every call in flight and takes the peer out of its channel's table, so
 * that the next call connects again. */
static void on_closed(silk__stream_conn *conn, silk_status st, const char *why)
{
    silk__peer *l = (silk__peer *)conn;
    char why_buf[sizeof conn->why + 64];
    silk__stream_conn_lock(conn);
    silk__call *calls = silk__call_table_take(&l->calls, INT64_MAX);
    bool refused = handshake_failed(l);
    if (refused) {
        l->dial_failed = true; /* nothing left the process but the handshake */
        snprintf(why_buf, sizeof why_buf,
                 "TLS handshake with %s failed (a certificate not of the CA?): %s", l->address,
                 nng_strerror(conn->nng_error));
        why = why_buf;
    }
    silk__stream_conn_unlock(conn);
    if (refused)
        silk_log(SILK_LOG_WARN, "channel", "%s", why);
    for (silk__call *c = calls; c != NULL && l->dial_failed; c = c->next)
        silk__call_mark_never_sent(c); /* nothing of it was sent */
    nng_aio_cancel(l->dial_aio);
    nng_aio_cancel(l->timer_aio);
    nng_aio_cancel(l->keepalive_aio);

    silk_channel *ch = l->ch;
    silk__mutex_lock(&ch->mu);
    if (st == SILK_UNAVAILABLE && (ch->by_name || l->dial_failed))
        silk__lb_conn_failed(&ch->lb, l->address, l->dial_failed, silk__now_us());
    bool in_table = l->in_table;
    if (in_table) {
        silk__peer **p = &ch->peers;
        while (*p != l)
            p = &(*p)->next;
        *p = l->next;
        l->in_table = false;
    }
    silk__mutex_unlock(&ch->mu);

    if (st != SILK_CANCELLED)
        silk_log(SILK_LOG_DEBUG, "channel", "peer closed address=%s reason=\"%s\"", l->address,
                 why);
    complete_all(calls, st, why);
    if (in_table)
        silk__stream_conn_rele(conn); /* the table's reference */
}

/* on_fini runs on the reaper: the peer's own aios stop, then it is freed. */
static void on_fini(silk__stream_conn *conn)
{
    SILK__ASSERT(silk__reap_on_reaper());
    silk__peer *l = (silk__peer *)conn;
    silk_channel *ch = l->ch;
    nng_aio_free(l->dial_aio);
    nng_aio_free(l->timer_aio);
    nng_aio_free(l->keepalive_aio);
    nng_stream_dialer_free(l->dialer);
    silk__call_table_fini(&l->calls);
    silk__spares_fini(&l->spare_calls);
    free(l->address);
    silk__stream_conn_fini(conn);
    free(l);

    silk__mutex_lock(&ch->mu);
    ch->npeers--;
    pthread_cond_broadcast(&ch->cv);
    silk__mutex_unlock(&ch->mu);
}

static const silk__stream_conn_ops peer_ops = {
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
    silk__peer *l = arg;
    if (nng_aio_result(l->keepalive_aio) != 0)
        return; /* cancelled: the connection is closing */
    unsigned ms = l->ch->keepalive_ms;
    int64_t now = silk__now_us();
    int64_t last = atomic_load_explicit(&l->last_rx_us, memory_order_relaxed);
    silk__stream_conn_lock(&l->conn);
    if (silk__stream_conn_closed_locked(&l->conn)) {
        silk__stream_conn_unlock(&l->conn);
        return;
    }
    if (l->ping_out && last < l->ping_at) {
        silk__stream_conn_unlock(&l->conn);
        silk__stream_conn_close(&l->conn, SILK_UNAVAILABLE, "%s did not answer a keepalive ping",
                                l->address);
        return;
    }
    l->ping_out = false;
    if (now - last >= (int64_t)ms * 1000 &&
        silk__stream_conn_send_locked(&l->conn, SILK__FRAME_PING, 0, NULL, NULL) == SILK_OK) {
        l->ping_out = true;
        l->ping_at = now;
    }
    nng_sleep_aio((nng_duration)ms, l->keepalive_aio);
    silk__stream_conn_unlock(&l->conn);
}

/* ============================== connecting ============================== */

static void dial_cb(void *arg)
{
    silk__peer *l = arg;
    int rv = nng_aio_result(l->dial_aio);
    if (rv == 0) {
        if (!silk__tls_address(l->address))
            made(l); /* a TLS connection is made when its handshake is: at its first frame */
        if (silk__stream_conn_attach(&l->conn, nng_aio_get_output(l->dial_aio, 0)) == SILK_OK &&
            l->ch->keepalive_ms != 0)
            nng_sleep_aio((nng_duration)l->ch->keepalive_ms, l->keepalive_aio);
    } else {
        l->dial_failed = true;
        silk__stream_conn_close(&l->conn, SILK_UNAVAILABLE, "cannot connect to %s: %s", l->address,
                                nng_strerror(rv));
    }
    silk__stream_conn_rele(&l->conn); /* the dial's reference */
}

/* dial_tls gives a peer's dialer to a tls+tcp:// address the channel's client configuration;
 * a channel that holds none ($SILK_TLS_CA unset) cannot verify the server, and says so. */
static int dial_tls(silk_channel *ch, nng_stream_dialer *d, char *why, size_t cap)
{
    if (ch->tls == NULL) {
        nng_tls_config *cfg = silk__tls_hold(SILK__TLS_CLIENT, why, cap); /* says what lacks */
        silk__tls_rele(cfg);
        if (cfg == NULL)
            return NNG_EINVAL;
        snprintf(why, cap, "SILK_TLS_CA was set after the channel opened");
        return NNG_EINVAL;
    }
    int rv = nng_stream_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, ch->tls);
    if (rv != 0)
        snprintf(why, cap, "TLS: %s", nng_strerror(rv));
    return rv;
}

/* peer_new makes the peer to address and starts dialing; ch->mu is held. The peer has one
 * reference, the table's. */
static silk_status peer_new(silk_channel *ch, const char *address, silk__peer **lp, char *why,
                            size_t cap)
{
    SILK__ASSERT_HELD(&ch->mu);
    silk__peer *l = calloc(1, sizeof *l);
    if (l == NULL)
        return SILK_RESOURCE_EXHAUSTED;
    if (silk__stream_conn_init(&l->conn, &peer_ops, silk__channel_max_frame(ch)) != SILK_OK) {
        free(l);
        return SILK_RESOURCE_EXHAUSTED;
    }
    l->ch = ch;
    l->addr_hash = silk__lb_address_hash(address);
    atomic_init(&l->watched, ch->by_name && silk__lb_watch(&ch->lb, address));
    int rv = 0;
    char tls_why[512] = "";
    if ((l->address = strdup(address)) == NULL || !silk__call_table_init(&l->calls) ||
        (rv = nng_aio_alloc(&l->dial_aio, dial_cb, l)) != 0 ||
        (rv = nng_aio_alloc(&l->timer_aio, timer_cb, l)) != 0 ||
        (rv = nng_aio_alloc(&l->keepalive_aio, keepalive_cb, l)) != 0 ||
        (rv = nng_stream_dialer_alloc(&l->dialer, address)) != 0 ||
        (silk__tls_address(address) && (rv = dial_tls(ch, l->dialer, tls_why, sizeof tls_why)))) {
        snprintf(why, cap, "cannot dial %s: %s", address,
                 tls_why[0] != '\0' ? tls_why
                 : rv != 0          ? nng_strerror(rv)
                                    : "out of memory");
        nng_stream_dialer_free(l->dialer);
        nng_aio_free(l->dial_aio);
        nng_aio_free(l->timer_aio);
        nng_aio_free(l->keepalive_aio);
        silk__call_table_fini(&l->calls);
        free(l->address);
        silk__stream_conn_fini(&l->conn);
        free(l);
        return rv == NNG_ENOMEM || rv == 0 ? SILK_RESOURCE_EXHAUSTED : SILK_UNAVAILABLE;
    }
    nng_stream_dialer_set_bool(l->dialer, NNG_OPT_TCP_NODELAY, true); /* not on ipc */
    l->in_table = true;
    l->next = ch->peers;
    ch->peers = l;
    ch->npeers++;
    silk__stream_conn_hold(&l->conn); /* the dial's */
    nng_aio_set_timeout(l->dial_aio, DIAL_TIMEOUT_MS);
    nng_stream_dialer_dial(l->dialer, l->dial_aio);
    *lp = l;
    return SILK_OK;
}

/* refuse_plain refuses to dial an address that is not tls+tcp:// on a channel that dials
 * TLS only, as a dial that failed: the instance backs off, and another may take the call,
 * which was never sent. ch->mu is held. */
static void refuse_plain(silk_channel *ch, silk__route *r, const char *address,
                         silk__send_fail *how, char *why, size_t cap)
{
    SILK__ASSERT_HELD(&ch->mu);
    snprintf(why, cap, "refusing to dial %s: with SILK_TLS_CA set, channels dial tls+tcp:// only",
             address);
    silk_log(SILK_LOG_WARN, "channel", "%s", why);
    silk__lb_conn_failed(&ch->lb, address, true, silk__now_us());
    r->tried[r->ntried++ % SILK__LB_MAX_TRIED] = silk__lb_address_hash(address);
    *how = SILK__SEND_FAIL_ELSEWHERE;
}

/* silk__peer_get: see channel_internal.h. */
silk_status silk__peer_get(silk_channel *ch, silk__route *r, silk__peer **lp, silk__send_fail *how,
                           char *why, size_t cap)
{
    silk_status st = SILK_OK;
    int64_t now = ch->by_name ? silk__now_us() : 0; /* a channel to an address needs no clock */
    silk__mutex_lock(&ch->mu);
    const char *address = NULL;
    bool none = false;
    if (ch->closing) {
        snprintf(why, cap, "the channel is closing");
        st = SILK_CANCELLED;
    } else if ((address = ch->by_name ? silk__lb_pick(&ch->lb, r, now, &none, NULL, why, cap)
                                      : ch->target) == NULL) {
        *how = none ? SILK__SEND_FAIL_NO_INSTANCE : SILK__SEND_FAIL_BREAKERS;
        st = SILK_UNAVAILABLE;
    }
    silk__peer *l = ch->peers;
    while (st == SILK_OK && l != NULL && strcmp(l->address, address) != 0)
        l = l->next;
    unsigned failures = 0;
    int64_t wait_us = st == SILK_OK && l == NULL && ch->lb.nhealth != 0
                          ? silk__lb_backoff_us(&ch->lb, address, silk__now_us(), &failures)
                          : 0;
    if (wait_us > 0) {
        snprintf(why, cap, "cannot connect to %s: %u attempts failed, the next in %lld ms", address,
                 failures, (long long)(wait_us + 999) / 1000);
        *how = SILK__SEND_FAIL_ELSEWHERE;
        st = SILK_UNAVAILABLE;
        r->tried[r->ntried++ % SILK__LB_MAX_TRIED] = silk__lb_address_hash(address);
    } else if (st == SILK_OK && l == NULL && ch->tls_only && !silk__tls_address(address)) {
        refuse_plain(ch, r, address, how, why, cap);
        st = SILK_UNAVAILABLE;
    } else if (st == SILK_OK && l == NULL) {
        st = peer_new(ch, address, &l, why, cap);
    }
    if (st == SILK_OK) {
        silk__stream_conn_hold(&l->conn);
        r->tried[r->ntried++ % SILK__LB_MAX_TRIED] = l->addr_hash;
        *lp = l;
    }
    silk__mutex_unlock(&ch->mu);
    return st;
}

/* ============================== calls ============================== */

/* silk__peer_submit: see channel_internal.h. */
silk_status silk__peer_submit(silk__peer *l, const silk__call *call,
                              const Silk__Rpc__RequestHeader *h, const ProtobufCMessage *req,
                              silk__send_fail *how, char *why, size_t cap)
{
    silk_status st = SILK_OK;
    silk__stream_conn_lock(&l->conn);
    silk__call *c = NULL;
    if (silk__stream_conn_closed_locked(&l->conn)) {
        /* It closed between silk__peer_get and now: a dial that failed at once, most likely. */
        snprintf(why, cap, "%s", l->conn.why);
        st = SILK_UNAVAILABLE;
        *how = SILK__SEND_FAIL_ELSEWHERE;
    } else if ((c = new_call_locked(l)) == NULL) {
        snprintf(why, cap, "out of memory");
        st = SILK_RESOURCE_EXHAUSTED;
    } else if (*c = *call, !silk__call_table_add(&l->calls, c)) {
        free(c);
        snprintf(why, cap, "out of memory");
        st = SILK_RESOURCE_EXHAUSTED;
    } else if ((st = silk__stream_conn_send_locked(&l->conn, SILK__FRAME_REQUEST, c->id, &h->base,
                                                   req)) != SILK_OK) {
        silk__call_table_remove(&l->calls, c->id);
        free(c);
        snprintf(why, cap, "the request exceeds the message limit or the send queue is full");
    } else {
        arm_timer_locked(l, c->deadline_us);
    }
    silk__stream_conn_unlock(&l->conn);
    return st;
}

silk__call *silk__peer_cancel(silk__peer *l, uint64_t id)
{
    silk__stream_conn_lock(&l->conn);
    silk__call *c = silk__call_table_remove(&l->calls, id);
    if (c != NULL) /* tell the server to drop it */
        silk__stream_conn_send_locked(&l->conn, SILK__FRAME_CANCEL, id, NULL, NULL);
    silk__stream_conn_unlock(&l->conn);
    return c;
}
