/* server_call.c - a server's calls: taken off a connection, run on a worker, answered. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <silk/log.h>

#include "clock.h"
#include "ctx_internal.h"
#include "server_internal.h"

/* call_job is one request waiting for a worker, with a copy of its header and payload. */
typedef struct call_job {
    silk__job job; /* first: a silk__job * is a call_job * */
    sconn *sc;
    uint64_t id;
    int64_t received_us;
    size_t hlen;
    size_t plen;
    uint8_t data[]; /* header, then payload */
} call_job;

/* reply sends a response frame; a response too large for a frame becomes an error. */
static void reply(sconn *sc, uint64_t id, silk_status st, const char *msg,
                  const ProtobufCMessage *resp)
{
    Silk__Rpc__ResponseHeader h = SILK__RPC__RESPONSE_HEADER__INIT;
    h.status = (uint32_t)st;
    h.message = (char *)(msg != NULL ? msg : "");
    silk_status rc = silk__conn_send(&sc->conn, SILK__FRAME_RESPONSE, id, &h.base, resp);
    if (rc == SILK_RESOURCE_EXHAUSTED) {
        h.status = SILK_RESOURCE_EXHAUSTED;
        h.message = "the response exceeds the message limit";
        silk__conn_send(&sc->conn, SILK__FRAME_RESPONSE, id, &h.base, NULL);
    }
}

/* call_done counts a call as answered; the last one of a stopping server wakes it. */
static void call_done(silk_server *srv)
{
    if (atomic_fetch_sub(&srv->inflight, 1) == 1 && atomic_load(&srv->stopping)) {
        pthread_mutex_lock(&srv->mu);
        pthread_cond_broadcast(&srv->cv);
        pthread_mutex_unlock(&srv->mu);
    }
}

/* ============================== on a worker ============================== */

static bool token_ok(const silk_server *srv, const char *token)
{
    if (srv->token == NULL)
        return true;
    size_t n = strlen(srv->token);
    if (token == NULL || strlen(token) != n)
        return false;
    unsigned char diff = 0; /* compared in constant time */
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(token[i] ^ srv->token[i]);
    return diff == 0;
}

/* invoke runs the handler of method with the request's payload and answers the call. */
static void invoke(call_job *cj, silk_ctx *ctx, const hosted *svc, const silk_method_desc *m)
{
    const uint8_t *payload = cj->data + cj->hlen;
    ProtobufCMessage *req = protobuf_c_message_unpack(m->input, NULL, cj->plen, payload);
    if (req == NULL) {
        silk_ctx_fail(ctx, SILK_INVALID_ARGUMENT, "cannot decode the request as %s",
                      m->input->name);
        reply(cj->sc, cj->id, SILK_INVALID_ARGUMENT, silk_ctx_message(ctx), NULL);
        return;
    }
    ProtobufCMessage *resp = calloc(1, m->output->sizeof_message);
    silk_status st = SILK_RESOURCE_EXHAUSTED;
    if (resp != NULL) {
        protobuf_c_message_init(m->output, resp);
        silk__ctx_set_service(ctx, svc->desc);
        st = m->invoke != NULL ? m->invoke(ctx, req, resp, svc->handlers, svc->user)
                               : SILK_UNIMPLEMENTED;
        if ((unsigned)st >= SILK_STATUS_COUNT)
            st = SILK_UNKNOWN;
    }
    reply(cj->sc, cj->id, st, silk_ctx_message(ctx), st == SILK_OK ? resp : NULL);
    free(resp); /* the handler's fields point to the request, the ctx or static memory */
    protobuf_c_message_free_unpacked(req, NULL);
}

/* handle checks a call in the order the protocol promises - header, token, method, deadline,
 * payload - and runs it. */
static silk_status handle(call_job *cj, const char **path)
{
    silk_server *srv = cj->sc->srv;
    Silk__Rpc__RequestHeader *h = silk__rpc__request_header__unpack(NULL, cj->hlen, cj->data);
    if (h == NULL) {
        reply(cj->sc, cj->id, SILK_INVALID_ARGUMENT, "cannot decode the request header", NULL);
        return SILK_INVALID_ARGUMENT;
    }
    *path = "";
    silk_status st = SILK_OK;
    const hosted *svc;
    const silk_method_desc *m;
    silk_ctx *ctx = NULL;
    char msg[300];
    if (!token_ok(srv, h->token)) {
        st = SILK_UNAUTHENTICATED;
        reply(cj->sc, cj->id, st, "missing or wrong cluster token", NULL);
    } else if (!silk__server_find(srv, h->method, &svc, &m)) {
        st = SILK_UNIMPLEMENTED;
        snprintf(msg, sizeof msg, "unknown method %.200s", h->method);
        reply(cj->sc, cj->id, st, msg, NULL);
    } else if ((ctx = silk__ctx_from_header(h, cj->received_us)) == NULL) {
        st = SILK_RESOURCE_EXHAUSTED;
        reply(cj->sc, cj->id, st, "out of memory", NULL);
    } else if (h->budget_us != 0 && silk_ctx_remaining_us(ctx) == 0) {
        st = SILK_DEADLINE_EXCEEDED;
        reply(cj->sc, cj->id, st, "the deadline passed before the call started", NULL);
    } else {
        *path = m->path;
        invoke(cj, ctx, svc, m);
    }
    silk_ctx_free(ctx);
    silk__rpc__request_header__free_unpacked(h, NULL);
    return st;
}

static void run_call(silk__job *job)
{
    call_job *cj = (call_job *)job;
    silk_server *srv = cj->sc->srv;
    if (atomic_load(&srv->abandon)) {
        reply(cj->sc, cj->id, SILK_UNAVAILABLE, "the server is shutting down", NULL);
    } else {
        const char *path = "";
        int64_t start = silk__now_us();
        silk_status st = handle(cj, &path);
        if (silk_log_enabled(SILK_LOG_DEBUG))
            silk_log(SILK_LOG_DEBUG, "server", "call method=%s status=%s us=%lld", path,
                     silk_status_str(st), (long long)(silk__now_us() - start));
    }
    silk__conn_rele(&cj->sc->conn);
    free(cj);
    call_done(srv);
}

/* ============================== on nng's receive callback ============================== */

/* take_call queues a request for a worker, or refuses it at once. */
static void take_call(sconn *sc, const silk__frame *f)
{
    silk_server *srv = sc->srv;
    if (atomic_fetch_add(&srv->inflight, 1) >= srv->max_concurrent) {
        call_done(srv);
        reply(sc, f->call_id, SILK_RESOURCE_EXHAUSTED, "the server is at max_concurrent calls",
              NULL);
        return;
    }
    call_job *cj = NULL;
    if (atomic_load(&srv->stopping)) {
        reply(sc, f->call_id, SILK_UNAVAILABLE, "the server is shutting down", NULL);
    } else if (f->payload_len > srv->max_message) {
        reply(sc, f->call_id, SILK_RESOURCE_EXHAUSTED, "the request exceeds the message limit",
              NULL);
    } else if ((cj = malloc(sizeof *cj + f->header_len + f->payload_len)) == NULL) {
        reply(sc, f->call_id, SILK_RESOURCE_EXHAUSTED, "out of memory", NULL);
    }
    if (cj == NULL) {
        call_done(srv);
        return;
    }
    cj->job.run = run_call;
    cj->sc = sc;
    cj->id = f->call_id;
    cj->received_us = silk__now_us();
    cj->hlen = f->header_len;
    cj->plen = f->payload_len;
    memcpy(cj->data, f->header, f->header_len);
    memcpy(cj->data + f->header_len, f->payload, f->payload_len);
    silk__conn_hold(&sc->conn);
    if (!silk__pool_push(srv->pool, &cj->job)) { /* the server stopped meanwhile */
        reply(sc, f->call_id, SILK_UNAVAILABLE, "the server is shutting down", NULL);
        silk__conn_rele(&sc->conn);
        free(cj);
        call_done(srv);
    }
}

static void on_frame(silk__conn *c, const silk__frame *f)
{
    sconn *sc = (sconn *)c;
    switch (f->kind) {
    case SILK__FRAME_REQUEST:
        take_call(sc, f);
        break;
    case SILK__FRAME_PING:
        silk__conn_send(c, SILK__FRAME_PONG, f->call_id, NULL, NULL);
        break;
    default:
        /* CANCEL is not acted on yet: the call runs to its end and its answer is dropped by
         * the caller. RESPONSE and PONG are not for a server. */
        break;
    }
}

static void on_too_big(silk__conn *c, const silk__frame *f)
{
    if (f->kind == SILK__FRAME_REQUEST)
        reply((sconn *)c, f->call_id, SILK_RESOURCE_EXHAUSTED,
              "the request exceeds the message limit", NULL);
}

static void on_closed(silk__conn *c, silk_status st, const char *why)
{
    (void)c;
    silk_log(SILK_LOG_DEBUG, "server", "connection closed status=%s reason=\"%s\"",
             silk_status_str(st), why);
}

/* on_fini runs on the reaper: the connection leaves the server's list and is freed. */
static void on_fini(silk__conn *c)
{
    sconn *sc = (sconn *)c;
    silk_server *srv = sc->srv;
    pthread_mutex_lock(&srv->mu);
    if (sc->prev != NULL)
        sc->prev->next = sc->next;
    else
        srv->conns = sc->next;
    if (sc->next != NULL)
        sc->next->prev = sc->prev;
    srv->n_conns--;
    pthread_cond_broadcast(&srv->cv);
    pthread_mutex_unlock(&srv->mu);
    silk__conn_fini(&sc->conn);
    free(sc);
}

const silk__conn_ops silk__server_conn_ops = {
    .frame = on_frame,
    .too_big = on_too_big,
    .closed = on_closed,
    .fini = on_fini,
};
