/* session_manager.c - silk.ws.SessionManager served by the gateway, so that services can push. */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <silk/ctx.h>
#include <silk/log.h>
#include <silk/server.h>
#include <silk/ws.h>

#include "silk/ws.silk.h"

#include "conn/client.h"
#include "loop/gateway.h"
#include "core/mutex.h"
#include "core/clock.h"
#include "sessions/push.h"
#include "sessions/repeats.h"
#include "sessions/session_manager.h"
#include "streams/streams.h"

/* These handlers run on the runtime's worker threads, never on the gateway's loop: they read
 * the session table under the gateway's lock and hand sends and closes to the loop that owns
 * the session, without waiting for it. */

/* route_of copies a request's route without leading or trailing '/' ("" means any route). */
static const char *route_of(const char *route, char *buf, size_t size)
{
    if (route == NULL)
        return "";
    while (*route == '/')
        route++;
    size_t n = strlen(route);
    while (n > 0 && route[n - 1] == '/')
        n--;
    snprintf(buf, size, "%.*s", (int)n, route);
    return buf;
}

typedef struct collect {
    silk_ctx *ctx;
    char **ids;
    size_t n;
    bool nomem;
} collect;

static void collect_one(silk__gw_session *s, void *arg)
{
    collect *c = arg;
    char *id = silk_ctx_strdup(c->ctx, s->id);
    if (id == NULL)
        c->nomem = true;
    else
        c->ids[c->n++] = id;
}

/* taken counts a call of a SessionManager method (SILK__GW_SM_*) for /metrics, and refuses
 * one meant for another gateway (one this gateway replaced at its address, whose record has
 * not expired yet), which would otherwise reach this gateway's sessions a second time:
 * NOT_FOUND, which pushers take as "that gateway is gone". SILK_OK when the call is this
 * gateway's (or names none). */
static silk_status taken(silk_ctx *ctx, silk__gw *gw, int method, const char *meant_for)
{
    atomic_fetch_add_explicit(&gw->session_manager_calls[method], 1, memory_order_relaxed);
    if (meant_for == NULL || meant_for[0] == '\0' || strcmp(meant_for, gw->opts.id) == 0)
        return SILK_OK;
    return silk_ctx_fail(ctx, SILK_NOT_FOUND, "this is gateway %s, not %.100s", gw->opts.id,
                         meant_for);
}

/* collect_ids fills c with the ids of business_id's sessions on route (every route: ""),
 * copied into ctx's memory; SILK_OK, or SILK_RESOURCE_EXHAUSTED. */
static silk_status collect_ids(silk__gw *gw, silk_ctx *ctx, const char *route,
                               const char *business_id, collect *c)
{
    silk__mutex_lock(&gw->lock);
    size_t n = silk__gw_sessions_business(&gw->sessions, route, business_id, NULL, NULL);
    *c = (collect){.ctx = ctx, .ids = n ? silk_ctx_alloc(ctx, n * sizeof(char *)) : NULL};
    if (n > 0 && c->ids != NULL)
        silk__gw_sessions_business(&gw->sessions, route, business_id, collect_one, c);
    silk__mutex_unlock(&gw->lock);
    return (n > 0 && c->ids == NULL) || c->nomem ? SILK_RESOURCE_EXHAUSTED : SILK_OK;
}

static silk_status sm_sessions(silk_ctx *ctx, const Silk__Ws__SessionsRequest *req,
                               Silk__Ws__SessionsReply *resp, void *user)
{
    silk__gw *gw = user;
    if (taken(ctx, gw, SILK__GW_SM_SESSIONS, req->gateway_id) != SILK_OK)
        return SILK_NOT_FOUND;
    char buf[256];
    const char *route = route_of(req->route, buf, sizeof buf);
    if (req->business_id == NULL || req->business_id[0] == '\0')
        return silk_ctx_fail(ctx, SILK_INVALID_ARGUMENT, "business_id is required");

    collect c;
    if (collect_ids(gw, ctx, route, req->business_id, &c) != SILK_OK)
        return silk_ctx_fail(ctx, SILK_RESOURCE_EXHAUSTED, "out of memory");
    resp->n_session_ids = c.n;
    resp->session_ids = c.ids;
    return SILK_OK;
}

static silk_status sm_send(silk_ctx *ctx, const Silk__Ws__SendRequest *req,
                           Silk__Ws__SendReply *resp, void *user)
{
    silk__gw *gw = user;
    if (taken(ctx, gw, SILK__GW_SM_SEND, req->gateway_id) != SILK_OK)
        return SILK_NOT_FOUND;
    if (req->session_id == NULL || req->session_id[0] == '\0')
        return silk_ctx_fail(ctx, SILK_INVALID_ARGUMENT, "session_id is required");
    silk__gw_fate fate;
    silk_status st =
        silk__gw_send(gw, req->session_id, req->binary, req->data.data, req->data.len, &fate);
    if (st == SILK_NOT_FOUND && fate == SILK__GW_CLOSING)
        return silk_ctx_fail(ctx, st, "session %s is closing on gateway %s", req->session_id,
                             gw->opts.id);
    if (st == SILK_NOT_FOUND)
        return silk_ctx_fail(ctx, st, "no session %s on gateway %s", req->session_id, gw->opts.id);
    if (st != SILK_OK)
        return silk_ctx_fail(ctx, st, "cannot queue the message");
    resp->delivered = 1;
    return SILK_OK;
}

/* SEND_MANY_MAX is the most messages a SendMany may carry (ws.proto). */
#define SEND_MANY_MAX 4096

static silk_status sm_send_many(silk_ctx *ctx, const Silk__Ws__SendManyRequest *req,
                                Silk__Ws__SendManyReply *resp, void *user)
{
    silk__gw *gw = user;
    if (taken(ctx, gw, SILK__GW_SM_SEND_MANY, req->gateway_id) != SILK_OK)
        return SILK_NOT_FOUND;
    size_t n = req->n_messages;
    if (n > SEND_MANY_MAX)
        return silk_ctx_fail(ctx, SILK_INVALID_ARGUMENT, "%zu messages, over %d", n, SEND_MANY_MAX);
    silk__gw_message *msgs = silk_ctx_alloc(ctx, (n ? n : 1) * sizeof *msgs);
    silk__gw_fate *fate = silk_ctx_alloc(ctx, (n ? n : 1) * sizeof *fate);
    if (msgs == NULL || fate == NULL)
        return silk_ctx_fail(ctx, SILK_RESOURCE_EXHAUSTED, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const Silk__Ws__SendItem *m = req->messages[i];
        if (m->session_id[0] == '\0')
            return silk_ctx_fail(ctx, SILK_INVALID_ARGUMENT, "message %zu has no session_id", i);
        msgs[i] = (silk__gw_message){.session_id = m->session_id,
                                     .data = m->data.data,
                                     .len = m->data.len,
                                     .binary = m->binary};
        msgs[i].repeat = req->idempotency_key[0] != '\0' && gw->repeats != NULL &&
                         silk__gw_repeats_seen(gw->repeats, req->idempotency_key, m->session_id,
                                               m->data.data, m->data.len, silk__now_us() / 1e6);
    }
    size_t delivered;
    silk_status st = silk__gw_send_many(gw, msgs, n, fate, &delivered);
    resp->delivered = (uint32_t)delivered;
    if (st != SILK_OK)
        return silk_ctx_fail(ctx, st, "queued %zu messages of %zu only", delivered, n);
    if (delivered == n)
        return SILK_OK;
    resp->missing = silk_ctx_alloc(ctx, (n - delivered) * sizeof(char *));
    if (resp->missing == NULL)
        return silk_ctx_fail(ctx, SILK_RESOURCE_EXHAUSTED, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (fate[i] == SILK__GW_QUEUED)
            continue; /* the others are gone, or closing */
        if ((resp->missing[resp->n_missing++] = silk_ctx_strdup(ctx, msgs[i].session_id)) == NULL)
            return silk_ctx_fail(ctx, SILK_RESOURCE_EXHAUSTED, "out of memory");
    }
    return SILK_OK;
}

/* place_push finds a push's place in its stream: the one the caller appended it at, or, on a
 * route with history, where this gateway's store appends it now; at->offset 0 for a route
 * without. SILK_OK, or why it cannot be kept (the push is not sent then). */
static silk_status place_push(silk_ctx *ctx, silk__gw *gw, const char *route,
                              const Silk__Ws__SendToBusinessRequest *req, Silk__Ws__SendReply *resp,
                              silk__gw_stream_place *at)
{
    silk__stream_limits lim;
    *at = (silk__gw_stream_place){.epoch = "", .offset = 0};
    if (!silk__gw_history_of_route(gw, route, &lim))
        return SILK_OK;
    if (req->offset != 0) {
        *at = (silk__gw_stream_place){.epoch = req->epoch, .offset = req->offset};
        return SILK_OK;
    }
    char *epoch = silk_ctx_alloc(ctx, SILK__STREAM_EPOCH_MAX + 1);
    if (epoch == NULL)
        return silk_ctx_fail(ctx, SILK_RESOURCE_EXHAUSTED, "out of memory");
    const char *key = req->idempotency_key[0] != '\0' ? req->idempotency_key : NULL;
    bool duplicate = false;
    silk_status st =
        silk__gw_store_append(gw, route, req->business_id, &lim, req->data.data, req->data.len,
                              req->binary, key, epoch, &resp->offset, &duplicate);
    if (st != SILK_OK)
        return silk_ctx_fail(ctx, st, "cannot keep the push in its stream: %s",
                             silk_status_str(st));
    resp->duplicate = duplicate;
    silk__gw_count_append(gw, duplicate);
    resp->epoch = epoch;
    *at = (silk__gw_stream_place){.epoch = epoch, .offset = resp->offset};
    return SILK_OK;
}

static silk_status sm_send_to_business(silk_ctx *ctx, const Silk__Ws__SendToBusinessRequest *req,
                                       Silk__Ws__SendReply *resp, void *user)
{
    silk__gw *gw = user;
    char buf[256];
    if (taken(ctx, gw, SILK__GW_SM_SEND_TO_BUSINESS, req->gateway_id) != SILK_OK)
        return SILK_NOT_FOUND;
    if (req->business_id == NULL || req->business_id[0] == '\0')
        return silk_ctx_fail(ctx, SILK_INVALID_ARGUMENT, "business_id is required");
    const char *route = route_of(req->route, buf, sizeof buf);
    silk__gw_stream_place at;
    silk_status st = place_push(ctx, gw, route, req, resp, &at);
    if (st != SILK_OK)
        return st;
    size_t delivered;
    st = silk__gw_send_business(gw, route, req->business_id, at.offset ? &at : NULL, req->binary,
                                req->data.data, req->data.len, &delivered);
    resp->delivered = (uint32_t)delivered;
    if (st != SILK_OK)
        return silk_ctx_fail(ctx, st, "queued for %zu sessions only", delivered);
    return SILK_OK;
}

static silk_status sm_close(silk_ctx *ctx, const Silk__Ws__CloseRequest *req,
                            Google__Protobuf__Empty *resp, void *user)
{
    silk__gw *gw = user;
    (void)resp;
    if (taken(ctx, gw, SILK__GW_SM_CLOSE, req->gateway_id) != SILK_OK)
        return SILK_NOT_FOUND;
    if (req->session_id == NULL || req->session_id[0] == '\0')
        return silk_ctx_fail(ctx, SILK_INVALID_ARGUMENT, "session_id is required");
    uint32_t code = req->code ? req->code : 1000;
    silk_status st = code > 0xffff
                         ? SILK_INVALID_ARGUMENT
                         : silk__gw_close_session(gw, req->session_id, (uint16_t)code, req->reason);
    if (st == SILK_NOT_FOUND)
        return silk_ctx_fail(ctx, st, "no session %s on gateway %s", req->session_id, gw->opts.id);
    if (st == SILK_INVALID_ARGUMENT)
        return silk_ctx_fail(ctx, st, "%u is not a close code a server may send", code);
    return st;
}

/* A presence answer being gathered under the gateway's lock. */
typedef struct presence {
    silk__gw *gw;
    silk_ctx *ctx;
    Silk__Ws__Presence **items;
    size_t n;
    bool nomem;
} presence;

static void presence_one(silk__gw_session *s, void *arg)
{
    presence *p = arg;
    const silk__gw_client *c = s->data;
    Silk__Ws__Presence *item = silk_ctx_alloc(p->ctx, sizeof *item);
    if (item == NULL) {
        p->nomem = true;
        return;
    }
    silk__ws__presence__init(item);
    item->session_id = silk_ctx_strdup(p->ctx, s->id);
    item->gateway_id = p->gw->opts.id;
    item->route = silk_ctx_strdup(p->ctx, s->route);
    item->opened_at_ms = c->opened_at_ms;
    item->subject = silk_ctx_strdup(p->ctx, c->auth.subject ? c->auth.subject : "");
    if (item->session_id == NULL || item->route == NULL || item->subject == NULL)
        p->nomem = true;
    else
        p->items[p->n++] = item;
}

static silk_status sm_presence(silk_ctx *ctx, const Silk__Ws__PresenceRequest *req,
                               Silk__Ws__PresenceReply *resp, void *user)
{
    silk__gw *gw = user;
    char buf[256];
    const char *route = route_of(req->route, buf, sizeof buf);
    if (taken(ctx, gw, SILK__GW_SM_PRESENCE, req->gateway_id) != SILK_OK)
        return SILK_NOT_FOUND;
    if (req->business_id == NULL || req->business_id[0] == '\0')
        return silk_ctx_fail(ctx, SILK_INVALID_ARGUMENT, "business_id is required");
    silk__mutex_lock(&gw->lock);
    size_t n = silk__gw_sessions_business(&gw->sessions, route, req->business_id, NULL, NULL);
    presence p = {
        .gw = gw, .ctx = ctx, .items = n ? silk_ctx_alloc(ctx, n * sizeof(void *)) : NULL};
    if (n > 0 && p.items != NULL)
        silk__gw_sessions_business(&gw->sessions, route, req->business_id, presence_one, &p);
    silk__mutex_unlock(&gw->lock);
    if ((n > 0 && p.items == NULL) || p.nomem)
        return silk_ctx_fail(ctx, SILK_RESOURCE_EXHAUSTED, "out of memory");
    resp->n_sessions = p.n;
    resp->sessions = p.items;
    return SILK_OK;
}

static silk_status sm_close_business(silk_ctx *ctx, const Silk__Ws__CloseBusinessRequest *req,
                                     Silk__Ws__CloseBusinessReply *resp, void *user)
{
    silk__gw *gw = user;
    char buf[256];
    const char *route = route_of(req->route, buf, sizeof buf);
    if (taken(ctx, gw, SILK__GW_SM_CLOSE_BUSINESS, req->gateway_id) != SILK_OK)
        return SILK_NOT_FOUND;
    if (req->business_id == NULL || req->business_id[0] == '\0')
        return silk_ctx_fail(ctx, SILK_INVALID_ARGUMENT, "business_id is required");
    uint32_t code = req->code ? req->code : 1000;
    if (code > 0xffff || !silk__gw_ws_close_code_sendable((uint16_t)code))
        return silk_ctx_fail(ctx, SILK_INVALID_ARGUMENT, "%u is not a close code a server may send",
                             code);
    collect c;
    if (collect_ids(gw, ctx, route, req->business_id, &c) != SILK_OK)
        return silk_ctx_fail(ctx, SILK_RESOURCE_EXHAUSTED, "out of memory");
    for (size_t i = 0; i < c.n; i++) /* one that closed meanwhile is NOT_FOUND: not counted */
        if (silk__gw_close_session(gw, c.ids[i], (uint16_t)code, req->reason) == SILK_OK)
            resp->closed++;
    silk_log(SILK_LOG_INFO, "gateway", "closing a business's sessions business_id=%s closed=%u",
             req->business_id, resp->closed);
    return SILK_OK;
}

static const Silk__Ws__SessionManager_Handlers handlers = {
    .sessions = sm_sessions,
    .send = sm_send,
    .send_many = sm_send_many,
    .send_to_business = sm_send_to_business,
    .close = sm_close,
    .presence = sm_presence,
    .close_business = sm_close_business,
};

silk_status silk__gw_session_manager_start(silk__gw *gw)
{
    silk_server_opts o = {.listen = gw->opts.rpc_listen,
                          .instance_id = gw->opts.id,
                          .gateway_id = gw->opts.id,
                          .insecure = gw->opts.insecure};
    if ((gw->repeats = silk__gw_repeats_new()) == NULL)
        return SILK_RESOURCE_EXHAUSTED;
    gw->server = silk_server_new(&o);
    if (gw->server == NULL)
        return SILK_INTERNAL; /* silk_server_new has logged why */
    silk_status st = silk__ws__session_manager__serve(gw->server, &handlers, gw);
    if (st == SILK_OK)
        st = silk_server_start(gw->server);
    if (st != SILK_OK) {
        silk_server_free(gw->server);
        gw->server = NULL;
        return st;
    }
    silk_log(SILK_LOG_INFO, "gateway", "serving %s address=%s id=%s", SILK_WS_SESSION_MANAGER,
             silk_server_address(gw->server), gw->opts.id);
    return SILK_OK;
}

void silk__gw_session_manager_stop(silk__gw *gw)
{
    silk_server_free(gw->server);
    gw->server = NULL;
    silk__gw_repeats_free(gw->repeats);
    gw->repeats = NULL;
}
