/* push.c - pushing to WebSocket sessions: ask the gateways' SessionManagers, found by registry.
 *
 * Every gateway registers silk.ws.SessionManager under its gateway id, and every session id
 * starts with the id of the gateway that owns it. A handler finds the gateways in the registry
 * of the server running it (silk_server_opts.registry, else $SILK_REGISTRY's); a ctx of no
 * server, in a process-wide registry opened from the environment. The channels to the
 * gateways are kept in a process-wide cache by address for the life of the process
 * (silk__ws_shutdown closes them and that registry; nothing does at exit, where blocking
 * teardown has no place).
 *
 * A gateway that cannot be reached - its port refuses, the connection is lost, or it does not
 * answer within the method's timeout - fails the push with SILK_UNAVAILABLE naming it: its
 * sessions may exist, so "no session" or "delivered to none" would be a wrong answer. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <silk/channel.h>
#include <silk/log.h>
#include <silk/registry.h>
#include <silk/ws.h>

#include "core/clock.h"
#include "rpc/ctx_internal.h"
#include "server/server_internal.h"
#include "silk/ws.silk.h"
#include "push/push_internal.h"
#include "registry/directory.h"
#include "registry/stream.h"

typedef struct gateway {
    struct gateway *next;
    char *address;
    silk_channel *ch;
} gateway;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static silk_registry *reg; /* for a ctx of no server */
static gateway *cache;

void silk__ws_shutdown(void)
{
    pthread_mutex_lock(&mu);
    gateway *list = cache;
    cache = NULL;
    silk_registry *r = reg;
    reg = NULL;
    pthread_mutex_unlock(&mu);
    for (gateway *g = list, *next; g != NULL; g = next) {
        next = g->next;
        silk_channel_close(g->ch);
        free(g->address);
        free(g);
    }
    silk_registry_close(r);
}

/* process_registry gives *regp the process-wide registry, opened from the environment on
 * first use. */
static silk_status process_registry(silk_registry **regp)
{
    pthread_mutex_lock(&mu);
    silk_status st = SILK_OK;
    if (reg == NULL)
        st = silk_registry_open(&reg, NULL);
    *regp = reg;
    pthread_mutex_unlock(&mu);
    return st;
}

/* keep_view_warm reads every gateway's record now and then (once a second at most), so that
 * the registry's view of them stays fresh while pushes go through the directory: when the
 * directory cannot be trusted (Redis restarted empty), the pushes fall back on that view, and
 * the Redis backend keeps its last one for a TTL after a reconnection. */
static void keep_view_warm(silk_registry *r)
{
    static _Atomic int64_t warmed_at_ms;
    int64_t now = silk__now_us() / 1000, then = atomic_load(&warmed_at_ms);
    if (now - then < 1000 || !atomic_compare_exchange_strong(&warmed_at_ms, &then, now))
        return;
    silk_instance_list all;
    if (silk_registry_resolve(r, SILK_WS_SESSION_MANAGER, &all) == SILK_OK)
        silk_instance_list_fini(&all);
}

silk_status silk__ws_find_gateways(const silk_ctx *ctx, const char *business_id,
                                   silk_instance_list *out)
{
    *out = (silk_instance_list){0};
    silk_server *srv = silk__ctx_server(ctx);
    silk_registry *r = NULL;
    silk_status st = srv != NULL ? silk__server_registry(srv, &r) : process_registry(&r);
    if (st == SILK_OK && business_id != NULL) {
        silk_status ds = silk__directory_lookup(r, business_id, out);
        if (ds == SILK_OK) {
            keep_view_warm(r);
            return SILK_OK;
        }
        if (ds != SILK_UNIMPLEMENTED) /* the registry warns of an outage once */
            silk_log(SILK_LOG_DEBUG, "ws", "no session directory, asking every gateway status=%s",
                     silk_status_str(ds));
    }
    if (st == SILK_OK)
        st = silk_registry_resolve(r, SILK_WS_SESSION_MANAGER, out);
    if (st != SILK_OK)
        silk_log(SILK_LOG_WARN, "ws", "cannot read the registry status=%s", silk_status_str(st));
    return st;
}

silk_channel *silk__ws_channel_to(silk_ctx *ctx, const silk_instance *gw)
{
    const char *address = gw->address;
    pthread_mutex_lock(&mu);
    gateway *g = cache;
    while (g != NULL && strcmp(g->address, address) != 0)
        g = g->next;
    if (g == NULL && (g = calloc(1, sizeof *g)) != NULL) {
        if ((g->address = strdup(address)) == NULL ||
            silk_channel_open(&g->ch, address) != SILK_OK) {
            free(g->address);
            free(g);
            g = NULL;
        } else {
            g->next = cache;
            cache = g;
        }
    }
    pthread_mutex_unlock(&mu);
    if (g == NULL)
        silk_ctx_fail(ctx, SILK_RESOURCE_EXHAUSTED, "out of memory for a channel to gateway %s",
                      gw->id);
    return g != NULL ? g->ch : NULL;
}

const char *silk__ws_route_of(const silk_ctx *ctx)
{
    const silk_service_desc *svc = silk__ctx_service(ctx);
    return svc != NULL && svc->route != NULL ? svc->route : "";
}

silk_status silk__ws_gateway_failed(silk_ctx *ctx, const silk_instance *gw, silk_status st)
{
    if (st != SILK_UNAVAILABLE && st != SILK_DEADLINE_EXCEEDED)
        return st;
    silk_log(SILK_LOG_WARN, "ws",
             "gateway not reached gateway=%s address=%s status=%s reason=\"%s\"", gw->id,
             gw->address, silk_status_str(st), silk_ctx_message(ctx));
    if (st == SILK_DEADLINE_EXCEEDED && silk_ctx_remaining_us(ctx) == 0)
        return silk_ctx_fail(ctx, st, "gateway %s at %s did not answer before the deadline", gw->id,
                             gw->address);
    return silk_ctx_fail(ctx, SILK_UNAVAILABLE, "gateway %s at %s cannot be reached: %s", gw->id,
                         gw->address, silk_ctx_message(ctx));
}

silk_status silk__ws_ask_gateways(silk_ctx *ctx, const char *business_id, bool all_of_them,
                                  silk__ws_call_fn *call, void *arg)
{
    silk_instance_list gws;
    silk_status st = silk__ws_find_gateways(ctx, business_id, &gws);
    silk_status failed = SILK_OK; /* the first gateway's failure, its reason in why */
    char *why = NULL;
    for (size_t i = 0; st == SILK_OK && i < gws.count; i++) {
        silk_channel *ch = silk__ws_channel_to(ctx, &gws.items[i]);
        silk_status cs =
            ch != NULL ? call(ch, ctx, gws.items[i].id, business_id, arg) : SILK_RESOURCE_EXHAUSTED;
        if (cs == SILK_OK || cs == SILK_NOT_FOUND) /* NOT_FOUND: the gateway was replaced */
            continue;
        if (ch != NULL)
            cs = silk__ws_gateway_failed(ctx, &gws.items[i], cs);
        if (!all_of_them) {
            st = cs;
            break;
        }
        if (failed == SILK_OK) {
            failed = cs;
            why = strdup(silk_ctx_message(ctx));
        }
    }
    silk_instance_list_fini(&gws);
    if (st == SILK_OK && failed != SILK_OK) {
        st = failed;
        silk__ctx_set_message(ctx, why != NULL ? why : "out of memory");
    }
    free(why);
    return st;
}

void silk_session_list_fini(silk_session_list *list)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < list->count; i++)
        free(list->ids[i]);
    free(list->ids);
    *list = (silk_session_list){0};
}

static silk_status add_ids(silk_session_list *out, const Silk__Ws__SessionsReply *r)
{
    if (r->n_session_ids == 0)
        return SILK_OK;
    char **ids = realloc(out->ids, (out->count + r->n_session_ids) * sizeof *ids);
    if (ids == NULL)
        return SILK_RESOURCE_EXHAUSTED;
    out->ids = ids;
    for (size_t i = 0; i < r->n_session_ids; i++) {
        if ((ids[out->count] = strdup(r->session_ids[i])) == NULL)
            return SILK_RESOURCE_EXHAUSTED;
        out->count++;
    }
    return SILK_OK;
}

/* list_call asks one gateway for the sessions' ids, adding them to the list (arg). */
static silk_status list_call(silk_channel *ch, silk_ctx *ctx, const char *gateway_id,
                             const char *business_id, void *arg)
{
    Silk__Ws__SessionsRequest req = SILK__WS__SESSIONS_REQUEST__INIT;
    req.gateway_id = (char *)gateway_id;
    req.business_id = (char *)business_id;
    req.route = (char *)silk__ws_route_of(ctx);
    Silk__Ws__SessionsReply *r = NULL;
    silk_status st = silk__ws__session_manager__call_sessions(ch, ctx, &req, &r);
    if (st == SILK_OK) {
        st = add_ids(arg, r);
        silk__ws__sessions_reply__free_unpacked(r, NULL);
    }
    return st;
}

silk_status silk_ws_session_list(silk_ctx *ctx, const char *business_id, silk_session_list *out)
{
    if (out == NULL)
        return SILK_INVALID_ARGUMENT;
    *out = (silk_session_list){0};
    if (business_id == NULL || business_id[0] == '\0')
        return silk_ctx_fail(ctx, SILK_INVALID_ARGUMENT, "a business id is required");
    silk_status st = silk__ws_ask_gateways(ctx, business_id, false, list_call, out);
    if (st != SILK_OK)
        silk_session_list_fini(out);
    return st;
}

const silk_instance *silk__ws_owner_of(const silk_instance_list *gws, const char *session_id)
{
    const char *dot = strchr(session_id, '.');
    size_t n = dot != NULL ? (size_t)(dot - session_id) : 0;
    for (size_t i = 0; n != 0 && i < gws->count; i++) {
        if (strlen(gws->items[i].id) == n && strncmp(gws->items[i].id, session_id, n) == 0)
            return &gws->items[i];
    }
    return NULL;
}

silk_status silk_ws_send(silk_ctx *ctx, const char *session_id, const void *data, size_t len)
{
    if (session_id == NULL || (data == NULL && len != 0))
        return SILK_INVALID_ARGUMENT;
    silk_instance_list gws;
    silk_status st = silk__ws_find_gateways(ctx, NULL, &gws);
    if (st != SILK_OK)
        return st;
    const silk_instance *gw = silk__ws_owner_of(&gws, session_id);
    silk_channel *ch = gw != NULL ? silk__ws_channel_to(ctx, gw) : NULL;
    if (gw == NULL) {
        st = silk_ctx_fail(ctx, SILK_NOT_FOUND, "no gateway owns session %s", session_id);
    } else if (ch == NULL) {
        st = SILK_RESOURCE_EXHAUSTED;
    } else {
        Silk__Ws__SendRequest req = SILK__WS__SEND_REQUEST__INIT;
        req.gateway_id = gw->id;
        req.session_id = (char *)session_id;
        req.data.data = (uint8_t *)data;
        req.data.len = len;
        Silk__Ws__SendReply *r = NULL;
        st = silk__ws__session_manager__call_send(ch, ctx, &req, &r);
        if (st == SILK_OK)
            silk__ws__send_reply__free_unpacked(r, NULL);
        else
            st = silk__ws_gateway_failed(ctx, gw, st);
    }
    silk_instance_list_fini(&gws);
    return st;
}

silk_status silk_ws_sendf(silk_ctx *ctx, const char *session_id, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = NULL;
    int n = vasprintf(&text, fmt, ap);
    va_end(ap);
    if (n < 0)
        return SILK_RESOURCE_EXHAUSTED;
    silk_status st = silk_ws_send(ctx, session_id, text, (size_t)n);
    free(text);
    return st;
}

/* What a push to a business sends, and what it counts. */
typedef struct business_push {
    const void *data;
    size_t len;
    const silk_ws_publish_opts *opts;
    const char *idempotency_key; /* NULL: none */
    silk_ws_published *out;
} business_push;

static silk_status business_call(silk_channel *ch, silk_ctx *ctx, const char *gateway_id,
                                 const char *business_id, void *arg)
{
    business_push *p = arg;
    Silk__Ws__SendToBusinessRequest req = SILK__WS__SEND_TO_BUSINESS_REQUEST__INIT;
    req.gateway_id = (char *)gateway_id;
    req.business_id = (char *)business_id;
    req.route = (char *)silk__ws_route_of(ctx);
    req.data.data = (uint8_t *)p->data;
    req.data.len = p->len;
    req.binary = p->opts->binary;
    req.epoch = p->out->epoch;
    req.offset = p->out->offset;
    req.idempotency_key = (char *)(p->idempotency_key ? p->idempotency_key : "");
    Silk__Ws__SendReply *r = NULL;
    silk_status st = silk__ws__session_manager__call_send_to_business(ch, ctx, &req, &r);
    if (st == SILK_OK) {
        p->out->delivered += r->delivered;
        silk__ws__send_reply__free_unpacked(r, NULL);
    }
    return st;
}

/* append_first appends p's push to its stream when the ctx's service keeps history and the
 * registry keeps streams (Redis): SILK_OK, also when there is nothing to append to (the
 * gateways number the push themselves), or why the push cannot go. */
static silk_status append_first(silk_ctx *ctx, const char *business_id, business_push *p)
{
    const silk_service_desc *svc = silk__ctx_service(ctx);
    if (svc == NULL || svc->history_size == 0)
        return SILK_OK;
    silk_registry *r = NULL;
    silk_server *srv = silk__ctx_server(ctx);
    silk_status st = srv != NULL ? silk__server_registry(srv, &r) : process_registry(&r);
    if (st != SILK_OK)
        return st;
    silk__stream_limits lim = {.size = svc->history_size, .ttl_s = svc->history_ttl_s};
    st = silk__stream_append(r, silk__ws_route_of(ctx), business_id, &lim, p->data, p->len,
                             p->opts->binary, p->idempotency_key, p->out->epoch, &p->out->offset,
                             &p->out->duplicate);
    if (st == SILK_UNIMPLEMENTED)
        return SILK_OK; /* the file registry: each gateway keeps its own */
    if (st != SILK_OK)
        return silk_ctx_fail(ctx, st, "cannot append to the stream of business %.200s: %s",
                             business_id, silk_status_str(st));
    return SILK_OK;
}

silk_status silk_ws_publish(silk_ctx *ctx, const char *business_id, const void *data, size_t len,
                            const silk_ws_publish_opts *opts, silk_ws_published *out)
{
    static const silk_ws_publish_opts none;
    silk_ws_published ignored;
    out = out != NULL ? out : &ignored;
    *out = (silk_ws_published){0};
    opts = opts != NULL ? opts : &none;
    if (business_id == NULL || business_id[0] == '\0' || (data == NULL && len != 0))
        return SILK_INVALID_ARGUMENT;
    const char *key =
        opts->idempotency_key ? opts->idempotency_key : silk_ctx_get(ctx, SILK_MD_IDEMPOTENCY_KEY);
    if (key != NULL && (key[0] == '\0' || strlen(key) > 255))
        return silk_ctx_fail(ctx, SILK_INVALID_ARGUMENT, "an idempotency key has 1 to 255 bytes");
    business_push p = {.data = data, .len = len, .opts = opts, .idempotency_key = key, .out = out};
    silk_status st = append_first(ctx, business_id, &p);
    if (st != SILK_OK)
        return st;
    /* Every gateway is asked, so that those reached deliver, whichever failed. */
    return silk__ws_ask_gateways(ctx, business_id, true, business_call, &p);
}

silk_status silk_ws_send_business(silk_ctx *ctx, const char *business_id, const void *data,
                                  size_t len, size_t *delivered)
{
    silk_ws_published out;
    silk_status st = silk_ws_publish(ctx, business_id, data, len, NULL, &out);
    if (delivered != NULL)
        *delivered = out.delivered;
    return st;
}
