/* ws.h - pushing to WebSocket sessions from service code (Silky's WsAppServiceBase).
 *
 * The gateways own the sessions; these helpers find them through the registry, where each
 * gateway serves silk.ws.SessionManager under its gateway id: in a handler, the registry of the
 * server running it (silk_server_opts.registry, else $SILK_REGISTRY's); with a ctx made by
 * silk_ctx_new (or NULL), $SILK_REGISTRY's. A session id is
 * "<gateway id>.<128 random bits in hex>", so a push by session id goes straight to the
 * gateway that owns the session. The seed's Echo, written with them:
 *
 *     static silk_status echo(silk_ctx *ctx, const Wstest__EchoRequest *req,
 *                             Google__Protobuf__Empty *resp, void *user)
 *     {
 *         silk_session_list sessions;
 *         silk_status st = silk_ws_session_list(ctx, req->business_id, &sessions);
 *         if (st != SILK_OK)
 *             return st;
 *         if (sessions.count == 0)
 *             return silk_ctx_fail(ctx, SILK_NOT_FOUND, "no session for businessId %s",
 *                                  req->business_id);
 *         for (size_t i = 0; i < sessions.count; i++)
 *             silk_ws_sendf(ctx, sessions.ids[i], "message:%s,sessionId:%s", req->msg,
 *                           sessions.ids[i]);
 *         silk_session_list_fini(&sessions);
 *         return SILK_OK;
 *     }
 *
 * The other way round, a WebSocket service learns of its sessions by serving silk.ws.Hooks
 * (silk/ws.silk.h) on the same server: OnOpen (an error refuses the session), OnMessage (a
 * reply with data goes back to the session) and OnClose, each called by the gateway with the
 * metadata "business-id" and "session-id". Hooks left NULL answer UNIMPLEMENTED, which the
 * gateway remembers; samples/wstest/service.c serves OnMessage only:
 *
 *     silk__ws__hooks__serve(srv, &(Silk__Ws__Hooks_Handlers){.on_message = on_message}, NULL);
 */
#ifndef SILK_WS_H
#define SILK_WS_H

#include <stddef.h>

#include <silk/ctx.h>
#include <silk/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The service every gateway serves, and the registry key it is found under. */
#define SILK_WS_SESSION_MANAGER "silk.ws.SessionManager"

/* silk_session_list holds session ids; free with silk_session_list_fini. */
typedef struct silk_session_list {
    size_t count;
    char **ids;
} silk_session_list;

/* silk_session_list_fini frees the ids and empties the list. */
void silk_session_list_fini(silk_session_list *list);

/* silk_ws_session_list fills out with the sessions of business_id on the route of the service
 * whose handler ctx belongs to (any route for a ctx made with silk_ctx_new), asking every
 * registered gateway. No gateway or no session is SILK_OK with out->count 0; a gateway
 * that cannot be reached is skipped and logged. The caller frees out. */
silk_status silk_ws_session_list(silk_ctx *ctx, const char *business_id, silk_session_list *out);

/* silk_ws_send queues a text message for one session on its gateway. SILK_NOT_FOUND when
 * the session (or its gateway) is gone. data need not be NUL-terminated. */
silk_status silk_ws_send(silk_ctx *ctx, const char *session_id, const void *data, size_t len);

/* silk_ws_sendf is silk_ws_send with a printf-style message. */
silk_status silk_ws_sendf(silk_ctx *ctx, const char *session_id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* silk_ws_send_business queues a text message for every session of business_id on the
 * ctx's route, on every gateway; *delivered (may be NULL) counts the sessions reached. */
silk_status silk_ws_send_business(silk_ctx *ctx, const char *business_id, const void *data,
                                  size_t len, size_t *delivered);

#ifdef __cplusplus
}
#endif

#endif /* SILK_WS_H */
