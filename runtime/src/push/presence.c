/* presence.c - who is online for a business, and closing all its sessions, on every gateway
 * that holds some (through push.c's silk__ws_ask_gateways). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <silk/ws.h>

#include "push/push_internal.h"
#include "silk/ws.silk.h"

void silk_presence_list_fini(silk_presence_list *list)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < list->count; i++) {
        silk_presence *p = &list->items[i];
        free(p->session_id);
        free(p->gateway_id);
        free(p->route);
        free(p->subject);
    }
    free(list->items);
    *list = (silk_presence_list){0};
}

/* add_presence copies a gateway's answer into out. */
static silk_status add_presence(silk_presence_list *out, const Silk__Ws__PresenceReply *r)
{
    if (r->n_sessions == 0)
        return SILK_OK;
    silk_presence *items = realloc(out->items, (out->count + r->n_sessions) * sizeof *items);
    if (items == NULL)
        return SILK_RESOURCE_EXHAUSTED;
    out->items = items;
    for (size_t i = 0; i < r->n_sessions; i++) {
        const Silk__Ws__Presence *from = r->sessions[i];
        silk_presence *p = &items[out->count];
        *p = (silk_presence){
            .session_id = strdup(from->session_id),
            .gateway_id = strdup(from->gateway_id),
            .route = strdup(from->route),
            .subject = strdup(from->subject),
            .opened_at_ms = from->opened_at_ms,
        };
        out->count++; /* counted first, so that fini frees what was copied */
        if (p->session_id == NULL || p->gateway_id == NULL || p->route == NULL ||
            p->subject == NULL)
            return SILK_RESOURCE_EXHAUSTED;
    }
    return SILK_OK;
}

static silk_status presence_call(silk_channel *ch, silk_ctx *ctx, const char *business_id,
                                 void *arg)
{
    Silk__Ws__PresenceRequest req = SILK__WS__PRESENCE_REQUEST__INIT;
    req.business_id = (char *)business_id;
    req.route = (char *)silk__ws_route_of(ctx);
    Silk__Ws__PresenceReply *r = NULL;
    silk_status st = silk__ws__session_manager__call_presence(ch, ctx, &req, &r);
    if (st == SILK_OK) {
        st = add_presence(arg, r);
        silk__ws__presence_reply__free_unpacked(r, NULL);
    }
    return st;
}

silk_status silk_ws_presence(silk_ctx *ctx, const char *business_id, silk_presence_list *out)
{
    if (out == NULL)
        return SILK_INVALID_ARGUMENT;
    *out = (silk_presence_list){0};
    if (business_id == NULL || business_id[0] == '\0')
        return silk_ctx_fail(ctx, SILK_INVALID_ARGUMENT, "a business id is required");
    silk_status st = silk__ws_ask_gateways(ctx, business_id, false, presence_call, out);
    if (st != SILK_OK)
        silk_presence_list_fini(out);
    return st;
}

/* What closing a business's sessions asks for. */
typedef struct closing {
    uint16_t code;
    const char *reason;
} closing;

static silk_status close_call(silk_channel *ch, silk_ctx *ctx, const char *business_id,
                              void *arg)
{
    const closing *k = arg;
    Silk__Ws__CloseBusinessRequest req = SILK__WS__CLOSE_BUSINESS_REQUEST__INIT;
    req.business_id = (char *)business_id;
    req.route = (char *)silk__ws_route_of(ctx);
    req.code = k->code;
    req.reason = (char *)(k->reason != NULL ? k->reason : "");
    Silk__Ws__CloseBusinessReply *r = NULL;
    silk_status st = silk__ws__session_manager__call_close_business(ch, ctx, &req, &r);
    if (st == SILK_OK)
        silk__ws__close_business_reply__free_unpacked(r, NULL);
    return st;
}

silk_status silk_ws_close_business(silk_ctx *ctx, const char *business_id, uint16_t code,
                                   const char *reason)
{
    if (business_id == NULL || business_id[0] == '\0')
        return silk_ctx_fail(ctx, SILK_INVALID_ARGUMENT, "a business id is required");
    closing k = {.code = code ? code : 1000, .reason = reason};
    return silk__ws_ask_gateways(ctx, business_id, true, close_call, &k);
}
