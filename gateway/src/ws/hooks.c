/* hooks.c - silk.ws.Hooks of a session's service, called without blocking the loop: the calls
 * and their completions, OnMessage with the session's backlog, and OnClose. */
#include <assert.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <silk/ctx.h>
#include <silk/log.h>

#include "auth/auth.h"
#include "conn/client.h"
#include "streams/streams.h"
#include "silk/ws.silk.h"

#define LOG "gateway"

/* The deadline of a hook call, in milliseconds. */
#define HOOK_TIMEOUT_MS 10000

/* How long a hook that answered UNIMPLEMENTED is left alone, in milliseconds. */
#define HOOK_RETRY_MS 60000

/* One OnMessage call is in flight per session (its client's message_call), so that a
 * session's messages reach the service, and its replies come back, in the order the client
 * sent them, as a WebSocket handler in Silky sees them; more messages wait in the session's
 * backlog, and the gateway stops reading from the session while it is full. Allowing more
 * would need the replies put back in order here. */

typedef silk__gw_client client;
typedef silk__gw_backlog backlog;

/* A hook call: what its completion needs to know besides the client that waits. */
typedef struct silk__gw_hook_call {
    silk__gw_client_call base; /* first: hook_done casts the call back */
    int hook;                  /* SILK__GW_HOOK_* */
    size_t service;            /* by index */
    char session_id[SILK__GW_SESSION_ID_MAX + 1];
    silk__gw_hook_then *then; /* the starter's part of the completion, or NULL */
} hook_call;
static_assert(offsetof(hook_call, base) == 0, "hook_done casts its call to the hook call");
/* A response is read as its message type, a request made as one (protobuf-c's base first). */
static_assert(offsetof(Silk__Ws__MessageReply, base) == 0, "message_done casts the response");
static_assert(offsetof(Silk__Ws__MessageRequest, base) == 0, "hook requests are made as messages");
static_assert(offsetof(Silk__Ws__CloseEvent, base) == 0, "hook requests are made as messages");

static const char *const hook_names[SILK__GW_N_HOOKS] = {"OnOpen", "OnMessage", "OnClose"};

/* ============================================================================
 * Calling a hook
 * ========================================================================== */

static int64_t now_ms(void)
{
    return (int64_t)(ev_time() * 1000);
}

bool silk__gw_hook_wanted(silk__gw *gw, size_t service, int hook)
{
    int64_t until = atomic_load(&gw->hooks[service].missing_until_ms[hook]);
    return !atomic_load(&gw->hooks_off) && (until == 0 || until <= now_ms()); /* 0: never missed */
}

static void hook_missing(silk__gw *gw, size_t service, int hook)
{
    atomic_store(&gw->hooks[service].missing_until_ms[hook], now_ms() + HOOK_RETRY_MS);
    silk_log(SILK_LOG_INFO, LOG, "hook unimplemented hook=%s service=%s: not called for %d s",
             hook_names[hook], gw->services[service]->name, HOOK_RETRY_MS / 1000);
}

/* since_metadata gives an opening session's OnOpen the since it asked for, as "ws-since", and
 * whether everything after it is kept, as "ws-recovered" ("true" or "false"). */
static silk_status since_metadata(silk_ctx *ctx, const client *c)
{
    silk__gw_since since;
    if (c->http == NULL || silk__gw_since_parse(c->http->req.query, &since) != 0 || !since.given)
        return SILK_OK;
    char v[SILK__STREAM_EPOCH_MAX + 24];
    snprintf(v, sizeof v, "%s:%llu", since.epoch, (unsigned long long)since.offset);
    silk_status st = silk_ctx_set(ctx, "ws-since", v);
    return st != SILK_OK ? st
                         : silk_ctx_set(ctx, "ws-recovered", c->since_recovered ? "true" : "false");
}

/* hook_ctx makes the ctx of a hook call: the session's ids and verified identity as metadata,
 * and the deadline. */
static silk_status hook_ctx(silk_ctx **out, const client *c)
{
    silk_ctx *ctx = silk__gw_upstream_ctx(c->loop);
    silk_status st = ctx != NULL ? SILK_OK : SILK_RESOURCE_EXHAUSTED;
    if (st == SILK_OK)
        st = silk_ctx_set(ctx, SILK_MD_BUSINESS_ID, c->business_id);
    if (st == SILK_OK)
        st = silk_ctx_set(ctx, SILK_MD_SESSION_ID, c->session_id);
    if (st == SILK_OK)
        st = silk__gw_auth_set_metadata(ctx, c->auth.subject, c->auth.json);
    if (st == SILK_OK)
        st = since_metadata(ctx, c);
    if (st == SILK_OK)
        silk_ctx_set_timeout(ctx, HOOK_TIMEOUT_MS);
    *out = ctx;
    return st;
}

/* hook_call_new returns a zeroed hook call, one of l's spares when it has any; NULL when
 * memory is exhausted. */
static hook_call *hook_call_new(silk__gw_loop *l)
{
    hook_call *h = silk__spares_take(&l->spare_hook_calls, sizeof *h);
    if (h != NULL)
        memset(h, 0, sizeof *h);
    return h;
}

/* hook_call_free keeps h among l's spares, or frees it when l has enough. */
static void hook_call_free(silk__gw_loop *l, hook_call *h)
{
    silk__spares_give(&l->spare_hook_calls, h, SILK__SPARE_CALLS);
}

/* hook_done is every hook call's completion: a hook that answered UNIMPLEMENTED is left
 * alone for a while, the starter's then runs, and the call is freed; a stopping loop may end. */
static void hook_done(silk__gw_call *k)
{
    hook_call *h = (hook_call *)k;
    silk__gw_loop *l = k->loop;
    if (k->st == SILK_UNIMPLEMENTED)
        hook_missing(l->gw, h->service, h->hook);
    if (h->then != NULL)
        h->then(&h->base);
    silk__gw_call_fini(k);
    hook_call_free(l, h);
    l->hook_calls--;
    silk__gw_loop_maybe_stop(l);
}

silk_status silk__gw_hook_call(client *c, int hook, const ProtobufCMessage *req,
                               silk__gw_client_call **wait, silk__gw_hook_then *then)
{
    SILK__GW_ASSERT_ON_LOOP(c->loop);
    silk__gw_loop *l = c->loop;
    hook_call *h = hook_call_new(l);
    silk_ctx *ctx;
    silk_status st = hook_ctx(&ctx, c);
    if (h == NULL)
        st = SILK_RESOURCE_EXHAUSTED;
    if (st == SILK_OK) {
        h->base.call.done = hook_done;
        h->base.call.req = (ProtobufCMessage *)req; /* encoded by the call, never kept */
        h->base.client = wait != NULL ? c : NULL;
        h->hook = hook;
        h->service = c->service;
        static_assert(sizeof h->session_id == sizeof c->session_id, "one size of session id");
        /* not snprintf, which cost 3.6% of the gateway's instructions per OnMessage */
        memcpy(h->session_id, c->session_id, sizeof h->session_id);
        h->then = then;
        const silk_method_desc *m =
            silk_service_find_method(&silk__ws__hooks__silk_desc, hook_names[hook]);
        st = silk__gw_upstream_call(l, &h->base.call, c->service, ctx, m);
        h->base.call.req = NULL;
    }
    if (st != SILK_OK) {
        silk_log(SILK_LOG_DEBUG, LOG, "hook not called hook=%s session_id=%s status=%s why=\"%s\"",
                 hook_names[hook], c->session_id, silk_status_str(st),
                 ctx ? silk_ctx_message(ctx) : "");
        if (h != NULL)
            hook_call_free(l, h);
    } else {
        l->hook_calls++;
        if (wait != NULL)
            *wait = &h->base;
    }
    silk__gw_upstream_ctx_done(l, ctx);
    return st;
}

void *silk__gw_hook_request_new(const ProtobufCMessageDescriptor *d)
{
    ProtobufCMessage *m = malloc(d->sizeof_message);
    if (m != NULL)
        protobuf_c_message_init(d, m);
    return m;
}

/* ============================================================================
 * OnMessage, one call in flight per session, the rest in its backlog
 * ========================================================================== */

static void message_done(silk__gw_client_call *k);

/* start_message calls OnMessage with req for c's session. */
static void start_message(client *c, const ProtobufCMessage *req)
{
    /* On success c->message_call is set. */
    silk__gw_hook_call(c, SILK__GW_HOOK_MESSAGE, req, &c->message_call, message_done);
}

/* start_backlog calls OnMessage for the messages waiting, while there is room. */
static void start_backlog(client *c)
{
    while (c->backlog != NULL && c->message_call == NULL) {
        backlog *b = c->backlog;
        c->backlog = b->next;
        if (c->backlog == NULL)
            c->backlog_tail = NULL;
        start_message(c, b->req);
        protobuf_c_message_free_unpacked(b->req, NULL);
        free(b);
    }
}

/* backlog_push puts req at the end of c's backlog; it frees req when memory is exhausted. */
static void backlog_push(client *c, ProtobufCMessage *req)
{
    backlog *b = malloc(sizeof *b);
    if (b == NULL) {
        protobuf_c_message_free_unpacked(req, NULL);
        silk_log(SILK_LOG_WARN, LOG, "out of memory: message dropped session_id=%s", c->session_id);
        return;
    }
    b->next = NULL;
    b->req = req;
    if (c->backlog_tail != NULL)
        c->backlog_tail->next = b;
    else
        c->backlog = b;
    c->backlog_tail = b;
}

void silk__gw_hook_backlog_free(client *c)
{
    while (c->backlog != NULL) {
        backlog *b = c->backlog;
        c->backlog = b->next;
        protobuf_c_message_free_unpacked(b->req, NULL);
        free(b);
    }
    c->backlog_tail = NULL;
}

/* message_borrowing fills req, an initialised OnMessage request, with a message from c's
 * client, pointing to c's ids and to data: no copy, for a call started at once. */
static void message_borrowing(Silk__Ws__MessageRequest *req, client *c, int binary,
                              const uint8_t *data, size_t len)
{
    req->session_id = c->session_id;
    req->business_id = c->business_id;
    req->route = (char *)c->loop->gw->services[c->service]->route;
    req->data.data = (uint8_t *)data; /* an empty message may come with no data at all */
    req->data.len = len;
    req->binary = binary != 0;
}

/* message_copy makes an OnMessage request of its own from borrowed, for the backlog; NULL
 * when memory is exhausted. */
static Silk__Ws__MessageRequest *message_copy(const Silk__Ws__MessageRequest *borrowed)
{
    Silk__Ws__MessageRequest *req =
        silk__gw_hook_request_new(&silk__ws__message_request__descriptor);
    if (req == NULL)
        return NULL;
    size_t len = borrowed->data.len;
    req->session_id = strdup(borrowed->session_id);
    req->business_id = strdup(borrowed->business_id);
    req->route = strdup(borrowed->route);
    req->data.data = malloc(len ? len : 1);
    req->data.len = len;
    req->binary = borrowed->binary;
    if (req->session_id == NULL || req->business_id == NULL || req->route == NULL ||
        req->data.data == NULL) {
        protobuf_c_message_free_unpacked(&req->base, NULL);
        return NULL;
    }
    if (len > 0)
        memcpy(req->data.data, borrowed->data.data, len);
    return req;
}

void silk__gw_hook_on_message(void *arg, int binary, const uint8_t *data, size_t len)
{
    client *c = arg;
    SILK__GW_ASSERT_ON_LOOP(c->loop);
    silk_log(SILK_LOG_DEBUG, LOG, "message from session session_id=%s bytes=%zu binary=%d",
             c->session_id, len, binary);
    if (!silk__gw_hook_wanted(c->loop->gw, c->service, SILK__GW_HOOK_MESSAGE) || c->loop->stopping)
        return;
    Silk__Ws__MessageRequest borrowed = SILK__WS__MESSAGE_REQUEST__INIT;
    message_borrowing(&borrowed, c, binary, data, len);
    if (c->backlog == NULL && c->message_call == NULL) {
        start_message(c, &borrowed.base);
        return;
    }
    /* Enough in flight: the message waits, and reading stops until replies come back (what
     * wslay has read already still comes: a few KiB at most). */
    silk__gw_ws_pause(c->ws);
    Silk__Ws__MessageRequest *req = message_copy(&borrowed);
    if (req == NULL) {
        silk_log(SILK_LOG_WARN, LOG, "out of memory: message dropped session_id=%s", c->session_id);
        return;
    }
    backlog_push(c, &req->base);
}

/* message_done sends OnMessage's reply, when there is one, to the session if it is still
 * there (a connection that closes forgets its call's client). */
static void message_done(silk__gw_client_call *k)
{
    client *c = k->client;
    const silk__gw_call *answer = &k->call;
    if (answer->st != SILK_OK && answer->st != SILK_UNIMPLEMENTED)
        silk_log(SILK_LOG_WARN, LOG, "OnMessage failed session_id=%s status=%s reason=\"%s\"",
                 ((const hook_call *)k)->session_id, silk_status_str(answer->st),
                 answer->message ? answer->message : "");
    if (c == NULL)
        return;
    c->message_call = NULL;
    if (answer->st == SILK_UNIMPLEMENTED)
        silk__gw_hook_backlog_free(c); /* no OnMessage: what waits has nowhere to go */
    const Silk__Ws__MessageReply *r = (const void *)answer->resp;
    if (answer->st == SILK_OK && r->data.len > 0 && c->ws != NULL)
        silk__gw_stream_reply(c, r->binary, r->data.data, r->data.len);
    start_backlog(c); /* after the reply is queued: replies keep the messages' order */
    silk__gw_client_drive(c);
}

/* ============================================================================
 * OnClose
 * ========================================================================== */

void silk__gw_hook_on_close(client *c)
{
    silk__gw *gw = c->loop->gw;
    if (!silk__gw_hook_wanted(gw, c->service, SILK__GW_HOOK_CLOSE))
        return;
    Silk__Ws__CloseEvent *req = silk__gw_hook_request_new(&silk__ws__close_event__descriptor);
    if (req == NULL)
        return;
    uint16_t code = silk__gw_ws_close_sent(c->ws);
    if (code == 0)
        code = silk__gw_ws_close_received(c->ws);
    req->code = code ? code : 1006;
    req->session_id = strdup(c->session_id);
    req->business_id = strdup(c->business_id);
    req->route = strdup(gw->services[c->service]->route);
    if (req->session_id == NULL || req->business_id == NULL || req->route == NULL) {
        protobuf_c_message_free_unpacked(&req->base, NULL);
        return;
    }
    silk__gw_hook_call(c, SILK__GW_HOOK_CLOSE, &req->base, NULL, NULL);
    protobuf_c_message_free_unpacked(&req->base, NULL);
}
