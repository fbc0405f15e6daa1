/* server_call.c - a server's calls: taken off a connection, run on a worker, answered. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <silk/log.h>

#include "core/assert.h"
#include "core/clock.h"
#include "core/secret.h"
#include "rpc/ctx_internal.h"
#include "core/scratch.h"
#include "server/server_internal.h"
#include "wire/header.h"

/* call_job is one request waiting for a worker, with a copy of its header and payload. It is
 * on its connection's list of calls from when it is taken until it is answered, so that a
 * cancel frame finds it. */
typedef struct call_job {
    silk__job job; /* first: a silk__job * is a call_job * */
    sconn *sc;
    struct call_job *prev; /* on sc->calls, under the connection's mutex */
    struct call_job *next;
    silk__cancel cancel; /* the caller cancelled; frees the job when the last child is done */
    struct call_job *fire_next; /* on a list of calls whose cancellation is to fire */
    uint64_t id;
    int64_t received_us;
    bool holds_slot; /* one of max_concurrent, until its answer is about to be queued */
    size_t hlen;
    size_t plen;
    uint8_t data[]; /* header, then payload */
} call_job;
SILK__FIRST_MEMBER(call_job, job);

/* ============================== calls of a connection ============================== */

static void calls_add(sconn *sc, call_job *cj)
{
    silk__stream_conn_lock(&sc->conn);
    cj->prev = NULL;
    cj->next = sc->calls;
    if (cj->next != NULL)
        cj->next->prev = cj;
    sc->calls = cj;
    silk__stream_conn_unlock(&sc->conn);
}

static void calls_remove(sconn *sc, call_job *cj)
{
    silk__stream_conn_lock(&sc->conn);
    if (cj->prev != NULL)
        cj->prev->next = cj->next;
    else
        sc->calls = cj->next;
    if (cj->next != NULL)
        cj->next->prev = cj->prev;
    silk__stream_conn_unlock(&sc->conn);
}

/* cancel marks the call id of a cancel frame cancelled: a queued call is then dropped, a
 * running handler sees silk_ctx_cancelled(). At most max_concurrent calls are on the list. */
static void cancel(sconn *sc, uint64_t id)
{
    call_job *found = NULL;
    silk__stream_conn_lock(&sc->conn);
    for (call_job *cj = sc->calls; cj != NULL; cj = cj->next) {
        if (cj->id == id) {
            found = cj;
            atomic_store(&cj->cancel.cancelled, true);
            silk__cancel_hold(&cj->cancel);
            break;
        }
    }
    silk__stream_conn_unlock(&sc->conn);
    if (found != NULL) { /* outside the connection's lock: children complete on this thread */
        silk__cancel_fire(&found->cancel);
        silk__cancel_rele(&found->cancel);
    }
}

/* reply sends a response frame; a response too large for a frame becomes an error. */
static void reply(sconn *sc, uint64_t id, silk_status st, const char *msg,
                  const ProtobufCMessage *resp)
{
    Silk__Rpc__ResponseHeader h = SILK__RPC__RESPONSE_HEADER__INIT;
    h.status = (uint32_t)st;
    h.message = (char *)(msg != NULL ? msg : "");
    /* With more calls waiting for a worker, more answers are coming: this one may wait for
     * them a little, to leave in one send (stream_conn.h). */
    bool more = sc->srv->pool != NULL && silk__pool_backlog(sc->srv->pool);
    silk_status rc =
        silk__stream_conn_send(&sc->conn, SILK__FRAME_RESPONSE, id, &h.base, resp, more);
    if (rc == SILK_RESOURCE_EXHAUSTED) {
        h.status = SILK_RESOURCE_EXHAUSTED;
        h.message = "the response exceeds the message limit";
        silk__stream_conn_send(&sc->conn, SILK__FRAME_RESPONSE, id, &h.base, NULL, more);
    }
}

/* give_back_slot gives the call's max_concurrent slot back, once: before its answer is
 * queued, so that a request its caller sends on that answer finds the slot free. */
static void give_back_slot(call_job *cj)
{
    if (cj->holds_slot) {
        cj->holds_slot = false;
        atomic_fetch_sub(&cj->sc->srv->busy, 1);
    }
}

/* answer sends a taken call's response, after giving back its slot. */
static void answer(call_job *cj, silk_status st, const char *msg, const ProtobufCMessage *resp)
{
    give_back_slot(cj);
    reply(cj->sc, cj->id, st, msg, resp);
}

void silk__server_call_done(silk_server *srv)
{
    if (atomic_fetch_sub(&srv->inflight, 1) == 1 && atomic_load(&srv->stopping)) {
        silk__mutex_lock(&srv->mu);
        pthread_cond_broadcast(&srv->cv);
        silk__mutex_unlock(&srv->mu);
    }
}

/* ============================== refusals ============================== */

void silk__server_tell(silk_server *srv, const Silk__Rpc__RequestHeader *h,
                       const silk_method_desc *m, silk_ctx *ctx, int64_t received_us,
                       silk_status st, const char *msg)
{
    if (srv->chain.n == 0)
        return;
    silk_ctx *own = NULL;
    if (ctx == NULL && h != NULL)
        ctx = own = silk__ctx_from_header(h, received_us);
    const silk_method_desc unknown = {.name = "",
                                      .path = h != NULL && h->method != NULL ? h->method : ""};
    silk_call_info info = {.server = true,
                           .method = m != NULL ? m : &unknown,
                           .ctx = ctx,
                           .target = srv->address,
                           .trace_id = silk_ctx_get(ctx, SILK_MD_TRACE_ID),
                           .status = st,
                           .message = msg,
                           .elapsed_us = silk__now_us() - received_us};
    silk__chain_after(&srv->chain, srv->chain.n, &info, NULL);
    silk_ctx_free(own);
}

/* refuse answers a taken call refused before its handler would run, for reason, after
 * telling the server's interceptors (see tell) and counting it. */
static void refuse(call_job *cj, const Silk__Rpc__RequestHeader *h, const silk_method_desc *m,
                   silk_ctx *ctx, silk_status st, const char *msg, silk__metrics_reason reason)
{
    silk__metrics_refused(cj->sc->srv->metrics, reason, 1);
    silk__server_tell(cj->sc->srv, h, m, ctx, cj->received_us, st, msg);
    answer(cj, st, msg, NULL);
}

/* tell_frame is tell for a request still in its frame: its header is decoded only when there
 * are interceptors to tell. */
static void tell_frame(silk_server *srv, const silk__frame *f, int64_t received_us, silk_status st,
                       const char *msg)
{
    if (srv->chain.n == 0)
        return;
    Silk__Rpc__RequestHeader *h = NULL;
    const hosted *svc;
    const silk_method_desc *m = NULL;
    silk__scratch mem;
    silk__scratch_init(&mem);
    if (f->header != NULL) {
        h = silk__request_header_read(f->header, f->header_len, &mem);
        if (h != NULL && !silk__server_find(srv, h->method, &svc, &m))
            m = NULL;
    }
    silk__server_tell(srv, h, m, NULL, received_us, st, msg);
    silk__scratch_fini(&mem);
}

/* refuse_frame answers a request still in its frame (on nng's receive callback), refused for
 * reason, after telling the server's interceptors and counting it. */
static void refuse_frame(sconn *sc, const silk__frame *f, silk_status st, const char *msg,
                         silk__metrics_reason reason)
{
    silk__metrics_refused(sc->srv->metrics, reason, 1);
    tell_frame(sc->srv, f, silk__now_us(), st, msg);
    reply(sc, f->call_id, st, msg, NULL);
}

/* ============================== on a worker ============================== */

/* token_ok tells whether a call carries the cluster token, when the server has one: compared
 * in constant time (core/secret.h). */
static bool token_ok(const silk_server *srv, const char *token)
{
    return srv->token == NULL || silk__secret_equal(srv->token, token);
}

silk_status silk__server_run_handler(silk_server *srv, const hosted *svc, const silk_method_desc *m,
                                     silk_ctx *ctx, const ProtobufCMessage *req,
                                     ProtobufCMessage *resp)
{
    silk__ctx_set_service(ctx, svc->desc);
    silk__ctx_set_server(ctx, srv);
    silk_call_info info = {.server = true,
                           .method = m,
                           .ctx = ctx,
                           .target = srv->address,
                           .trace_id = silk_ctx_get(ctx, SILK_MD_TRACE_ID)};
    int64_t start = srv->chain.n > 0 ? silk__now_us() : 0; /* for the afters' elapsed_us */
    size_t ran = 0;
    silk_status st = srv->chain.n > 0 ? silk__chain_before(&srv->chain, &info, req, &ran) : SILK_OK;
    if (st == SILK_OK)
        st = m->invoke != NULL ? m->invoke(ctx, req, resp, svc->handlers, svc->user)
                               : SILK_UNIMPLEMENTED;
    if ((unsigned)st >= SILK_STATUS_COUNT)
        st = SILK_UNKNOWN;
    if (ran > 0) {
        info.status = st;
        info.message = silk_ctx_message(ctx);
        info.elapsed_us = silk__now_us() - start;
        silk__chain_after(&srv->chain, ran, &info, st == SILK_OK ? resp : NULL);
    }
    return st;
}

/* invoke runs the handler of method with the request's payload and answers the call. It
 * returns the status answered, or CANCELLED when the caller stopped listening and nothing
 * was sent. */
static silk_status invoke(call_job *cj, silk__scratch *mem, const Silk__Rpc__RequestHeader *h,
                          silk_ctx *ctx, const hosted *svc, const silk_method_desc *m)
{
    const uint8_t *payload = cj->data + cj->hlen;
    ProtobufCMessage *req = protobuf_c_message_unpack(m->input, &mem->allocator, cj->plen, payload);
    if (req == NULL) {
        silk_ctx_fail(ctx, SILK_INVALID_ARGUMENT, "cannot decode the request as %s",
                      m->input->name);
        refuse(cj, h, m, ctx, SILK_INVALID_ARGUMENT, silk_ctx_message(ctx),
               SILK__REFUSED_UNDECODABLE);
        return SILK_INVALID_ARGUMENT;
    }
    /* The response's structure is the server's; the handler's fields point to the request,
     * the ctx or static memory. */
    ProtobufCMessage *resp = silk__scratch_alloc(mem, m->output->sizeof_message);
    if (resp == NULL) {
        refuse(cj, h, m, ctx, SILK_RESOURCE_EXHAUSTED, "out of memory",
               SILK__REFUSED_OUT_OF_MEMORY);
        return SILK_RESOURCE_EXHAUSTED;
    }
    protobuf_c_message_init(m->output, resp);
    silk__ctx_set_cancel(ctx, &cj->cancel);
    silk_status st = silk__server_run_handler(cj->sc->srv, svc, m, ctx, req, resp);
    if (atomic_load(&cj->cancel.cancelled))
        return SILK_CANCELLED; /* the caller stopped listening: nothing is sent */
    answer(cj, st, silk_ctx_message(ctx), st == SILK_OK ? resp : NULL);
    return st;
}

/* handle checks a call in the order the protocol promises - header, token, method, deadline,
 * payload - and runs it. It returns the status answered (CANCELLED: none), and counts it
 * for the method when the method is one srv hosts. */
static silk_status handle(call_job *cj, const char **path)
{
    silk_server *srv = cj->sc->srv;
    silk__scratch mem;
    silk__scratch_init(&mem);
    Silk__Rpc__RequestHeader *h = silk__request_header_read(cj->data, cj->hlen, &mem);
    if (h == NULL) {
        silk__scratch_fini(&mem);
        refuse(cj, NULL, NULL, NULL, SILK_INVALID_ARGUMENT, "cannot decode the request header",
               SILK__REFUSED_UNDECODABLE);
        return SILK_INVALID_ARGUMENT;
    }
    *path = "";
    silk_status st = SILK_OK;
    const hosted *svc = NULL;
    const silk_method_desc *m = NULL;
    silk_ctx *ctx = NULL;
    char msg[300];
    if (!token_ok(srv, h->token)) {
        st = SILK_UNAUTHENTICATED;
        refuse(cj, h, NULL, NULL, st, "missing or wrong cluster token",
               SILK__REFUSED_UNAUTHENTICATED);
    } else if (!silk__server_find(srv, h->method, &svc, &m)) {
        st = SILK_UNIMPLEMENTED;
        m = NULL;
        snprintf(msg, sizeof msg, "unknown method %.200s", h->method);
        refuse(cj, h, NULL, NULL, st, msg, SILK__REFUSED_UNIMPLEMENTED);
    } else if ((ctx = silk__ctx_from_header_in(&mem, h, cj->received_us)) == NULL) {
        st = SILK_RESOURCE_EXHAUSTED;
        refuse(cj, h, m, NULL, st, "out of memory", SILK__REFUSED_OUT_OF_MEMORY);
    } else if (h->budget_us != 0 && silk_ctx_remaining_us(ctx) == 0) {
        st = SILK_DEADLINE_EXCEEDED;
        refuse(cj, h, m, ctx, st, "the deadline passed before the call started",
               SILK__REFUSED_DEADLINE);
    } else {
        *path = m->path;
        st = invoke(cj, &mem, h, ctx, svc, m);
    }
    if (m != NULL && srv->metrics != NULL)
        silk__metrics_call(srv->metrics, silk__server_method_index(svc, m), st,
                           silk__now_us() - cj->received_us);
    silk_ctx_free(ctx);
    silk__scratch_fini(&mem); /* the header and the request */
    return st;
}

static void run_call(silk__job *job)
{
    call_job *cj = (call_job *)job;
    silk_server *srv = cj->sc->srv;
    if (atomic_load(&cj->cancel.cancelled)) {
        silk__frame f = {.call_id = cj->id, .header = cj->data, .header_len = cj->hlen};
        silk__metrics_refused(srv->metrics, SILK__REFUSED_CANCELLED, 1);
        tell_frame(srv, &f, cj->received_us, SILK_CANCELLED, "cancelled before it ran");
        silk_log(SILK_LOG_DEBUG, "server", "call dropped: cancelled before it ran id=%llu",
                 (unsigned long long)cj->id);
    } else if (atomic_load(&srv->abandon)) {
        silk__frame f = {.call_id = cj->id, .header = cj->data, .header_len = cj->hlen};
        silk__metrics_refused(srv->metrics, SILK__REFUSED_STOPPING, 1);
        tell_frame(srv, &f, cj->received_us, SILK_UNAVAILABLE, "the server is shutting down");
        answer(cj, SILK_UNAVAILABLE, "the server is shutting down", NULL);
    } else {
        const char *path = "";
        int64_t start = silk__now_us();
        silk_status st = handle(cj, &path);
        if (silk_log_enabled(SILK_LOG_DEBUG))
            silk_log(SILK_LOG_DEBUG, "server", "call method=%s status=%s us=%lld", path,
                     silk_status_str(st), (long long)(silk__now_us() - start));
    }
    give_back_slot(cj); /* a call dropped unanswered */
    calls_remove(cj->sc, cj);
    silk__stream_conn_rele(&cj->sc->conn);
    silk__cancel_rele(&cj->cancel); /* the calls it started may keep it a while */
    silk__server_call_done(srv);
}

static void free_job(silk__cancel *cx)
{
    free((call_job *)((char *)cx - offsetof(call_job, cancel)));
}

/* ============================== on nng's receive callback ============================== */

/* runs_inline tells whether the request in f is for a service marked inline. It reads the
 * method path where protobuf-c puts it, first in the header (tag 1, length-delimited); a
 * header laid out otherwise goes to a worker, which is always safe. */
static bool runs_inline(const silk_server *srv, const silk__frame *f)
{
    const uint8_t *h = f->header;
    size_t n = f->header_len;
    if (n < 2 || h[0] != 0x0a || h[1] >= 0x80 || (size_t)h[1] > n - 2)
        return false;
    const char *path = (const char *)h + 2;
    size_t len = h[1];
    const char *slash = len > 1 && path[0] == '/' ? memchr(path + 1, '/', len - 1) : NULL;
    if (slash == NULL)
        return false;
    size_t svc_len = (size_t)(slash - path - 1);
    for (size_t i = 0; i < srv->n_services; i++) {
        const hosted *hs = &srv->services[i];
        if (hs->run_inline && strlen(hs->desc->name) == svc_len &&
            memcmp(hs->desc->name, path + 1, svc_len) == 0)
            return true;
    }
    return false;
}

const char *silk__server_admit(silk_server *srv, silk_status *st, silk__metrics_reason *reason)
{
    atomic_fetch_add(&srv->inflight, 1);
    if (atomic_fetch_add(&srv->busy, 1) >= srv->max_concurrent) {
        *st = SILK_RESOURCE_EXHAUSTED;
        *reason = SILK__REFUSED_MAX_CONCURRENT;
        return SILK__MSG_BUSY;
    }
    if (atomic_load(&srv->stopping)) {
        *st = SILK_UNAVAILABLE;
        *reason = SILK__REFUSED_STOPPING;
        return "the server is shutting down";
    }
    return NULL;
}

/* take_call queues a request for a worker, runs it here when its service is inline, or
 * refuses it at once. The call counts in srv->inflight until its answer is queued (a stopping
 * server waits for that), and in srv->busy, against max_concurrent, until just before. */
static void take_call(sconn *sc, const silk__frame *f, int64_t now_us)
{
    silk_server *srv = sc->srv;
    call_job *cj = NULL;
    silk_status st = SILK_RESOURCE_EXHAUSTED;
    silk__metrics_reason reason = SILK__REFUSED_OUT_OF_MEMORY;
    const char *why = silk__server_admit(srv, &st, &reason);
    if (why == NULL && f->payload_len > srv->max_message) {
        why = "the request exceeds the message limit";
        reason = SILK__REFUSED_MAX_MESSAGE;
    } else if (why == NULL && (cj = malloc(sizeof *cj + f->header_len + f->payload_len)) == NULL) {
        why = "out of memory";
    }
    if (cj == NULL) {
        atomic_fetch_sub(&srv->busy, 1);
        refuse_frame(sc, f, st, why, reason);
        silk__server_call_done(srv);
        return;
    }
    cj->job.run = run_call;
    cj->sc = sc;
    silk__cancel_init(&cj->cancel, free_job);
    cj->id = f->call_id;
    cj->received_us = now_us;
    cj->holds_slot = true;
    cj->hlen = f->header_len;
    cj->plen = f->payload_len;
    memcpy(cj->data, f->header, f->header_len);
    memcpy(cj->data + f->header_len, f->payload, f->payload_len);
    silk__stream_conn_hold(&sc->conn);
    calls_add(sc, cj);
    if (srv->any_inline && runs_inline(srv, f)) {
        run_call(&cj->job);
        return;
    }
    if (!silk__pool_push(srv->pool, &cj->job)) { /* the server stopped meanwhile */
        give_back_slot(cj);
        refuse_frame(sc, f, SILK_UNAVAILABLE, "the server is shutting down",
                     SILK__REFUSED_STOPPING);
        calls_remove(sc, cj);
        silk__stream_conn_rele(&sc->conn);
        silk__cancel_rele(&cj->cancel);
        silk__server_call_done(srv);
    }
}

/* valid_first tells whether f ends a connection's first-frame deadline: any whole frame, or
 * with the cluster token a request carrying it (its header is decoded here only until one
 * came). */
static bool valid_first(const silk_server *srv, const silk__frame *f)
{
    if (srv->token == NULL)
        return true;
    if (f->kind != SILK__FRAME_REQUEST || f->header == NULL)
        return false;
    silk__scratch mem;
    silk__scratch_init(&mem);
    Silk__Rpc__RequestHeader *h = silk__request_header_read(f->header, f->header_len, &mem);
    bool ok = h != NULL && token_ok(srv, h->token);
    silk__scratch_fini(&mem);
    return ok;
}

/* admit handles f on a connection that has sent no valid frame yet: it tells whether f is to
 * be handled - not when the server has already decided to close the connection for want of
 * one (server_listen.c's sweep) - and admits the connection when f is valid. The decision
 * and the admission are made under the connection's mutex, so one always comes first. */
static bool admit(sconn *sc, const silk__frame *f)
{
    bool valid = valid_first(sc->srv, f);
    silk__stream_conn_lock(&sc->conn);
    bool handle = !sc->expired;
    if (handle && valid)
        atomic_store_explicit(&sc->admitted, true, memory_order_relaxed);
    silk__stream_conn_unlock(&sc->conn);
    return handle;
}

static void on_frame(silk__stream_conn *c, const silk__frame *f)
{
    sconn *sc = (sconn *)c;
    if (!atomic_load_explicit(&sc->admitted, memory_order_relaxed) && !admit(sc, f))
        return; /* being closed: no valid frame came in time */
    int64_t now = silk__now_us();
    atomic_store_explicit(&sc->last_rx_us, now, memory_order_relaxed); /* not idle */
    switch (f->kind) {
    case SILK__FRAME_REQUEST:
        take_call(sc, f, now);
        break;
    case SILK__FRAME_CANCEL:
        cancel(sc, f->call_id);
        break;
    case SILK__FRAME_PING:
        silk__stream_conn_send(c, SILK__FRAME_PONG, f->call_id, NULL, NULL, false);
        break;
    default:
        break; /* RESPONSE and PONG are not for a server */
    }
}

static void on_too_big(silk__stream_conn *c, const silk__frame *f)
{
    if (f->kind == SILK__FRAME_REQUEST) /* its header is not read: the method is unknown */
        refuse_frame((sconn *)c, f, SILK_RESOURCE_EXHAUSTED,
                     "the request exceeds the message limit", SILK__REFUSED_MAX_MESSAGE);
}

/* on_closed cancels every call of the connection: no answer can reach its caller now, so
 * queued ones are dropped and running handlers see silk_ctx_cancelled(). */
static void on_closed(silk__stream_conn *c, silk_status st, const char *why)
{
    sconn *sc = (sconn *)c;
    call_job *fire = NULL;
    silk__stream_conn_lock(c);
    for (call_job *cj = sc->calls; cj != NULL; cj = cj->next) {
        atomic_store(&cj->cancel.cancelled, true);
        silk__cancel_hold(&cj->cancel);
        cj->fire_next = fire;
        fire = cj;
    }
    silk__stream_conn_unlock(c);
    for (call_job *cj = fire, *next; cj != NULL; cj = next) { /* outside the connection's lock */
        next = cj->fire_next;
        silk__cancel_fire(&cj->cancel);
        silk__cancel_rele(&cj->cancel);
    }
    silk_log(SILK_LOG_DEBUG, "server", "connection closed status=%s reason=\"%s\"",
             silk_status_str(st), why);
}

/* on_fini runs on the reaper: the connection leaves the server's list and is freed. */
static void on_fini(silk__stream_conn *c)
{
    SILK__ASSERT(silk__reap_on_reaper());
    sconn *sc = (sconn *)c;
    silk_server *srv = sc->srv;
    silk__mutex_lock(&srv->mu);
    if (sc->prev != NULL)
        sc->prev->next = sc->next;
    else
        srv->conns = sc->next;
    if (sc->next != NULL)
        sc->next->prev = sc->prev;
    srv->n_conns--;
    pthread_cond_broadcast(&srv->cv);
    silk__mutex_unlock(&srv->mu);
    silk__stream_conn_fini(&sc->conn);
    free(sc);
}

const silk__stream_conn_ops silk__server_conn_ops = {
    .frame = on_frame,
    .too_big = on_too_big,
    .closed = on_closed,
    .fini = on_fini,
};
