/* hooks_service.c - silk-gateway-hooks: a WsTest with silk.ws.Hooks, for the gateway's tests.
 *
 * OnOpen refuses business "deny" (PERMISSION_DENIED), closes business "kick" with 1008 and
 * "kick1005" with 1005 (a code the gateway must not send), and chooses "chat.v2" when the
 * client offers it; OnMessage answers "reply:<msg>;bid=<business-id metadata>;sid=<session-id
 * metadata>" (binary messages come back as they are, "silent" gets no reply, and "whoami" gets
 * "whoami:subject=<auth-subject>;claims=<auth-claims>"); every hook prints a line on standard
 * output for the test to read, OnOpen's and OnClose's ending with the auth metadata (OnOpen's
 * then with ws-since and ws-recovered). It serves the hooks of gwtest.Streams too (api/streams
 * in silk-gateway-test, with history). */
#include <stdio.h>
#include <string.h>

#include <silk/silk.h>

#include "google/protobuf/empty.pb-c.h"
#include "gwtest.pb-c.h"
#include "silk/ws.silk.h"

static const silk_method_desc wstest_methods[] = {{
    .name = "Echo",
    .path = "/wstest.WsTest/Echo",
    .input = &gwtest__echo_request__descriptor,
    .output = &google__protobuf__empty__descriptor,
}};

static const silk_service_desc wstest = {
    .name = "wstest.WsTest",
    .route = "api/wstest",
    .websocket = true,
    .n_methods = 1,
    .methods = wstest_methods,
};

/* gwtest.Streams, a WebSocket service with history and no methods: its hooks are these. */
static const silk_service_desc streams = {
    .name = "gwtest.Streams",
    .route = "api/streams",
    .websocket = true,
    .history_size = 5000,
    .history_ttl_s = 300,
};

static const char *md(silk_ctx *ctx, const char *key)
{
    const char *v = silk_ctx_get(ctx, key);
    return v ? v : "";
}

static silk_status on_open(silk_ctx *ctx, const Silk__Ws__OpenRequest *req,
                           Silk__Ws__OpenReply *resp, void *user)
{
    (void)user;
    printf("onopen session_id=%s business_id=%s md_business_id=%s md_session_id=%s origin=%s "
           "route=%s subprotocols=%zu query=%s auth_subject=%s auth_claims=%s ws_since=%s "
           "ws_recovered=%s\n",
           req->session_id, req->business_id, md(ctx, SILK_MD_BUSINESS_ID),
           md(ctx, SILK_MD_SESSION_ID), req->origin, req->route, req->n_subprotocols, req->query,
           md(ctx, "auth-subject"), md(ctx, "auth-claims"), md(ctx, "ws-since"),
           md(ctx, "ws-recovered"));
    fflush(stdout);
    if (strcmp(req->business_id, "deny") == 0)
        return silk_ctx_fail(ctx, SILK_PERMISSION_DENIED, "business deny may not connect");
    if (strcmp(req->business_id, "kick") == 0) {
        resp->close_code = 1008;
        resp->close_reason = "kicked";
    }
    if (strcmp(req->business_id, "kick1005") == 0)
        resp->close_code = 1005; /* a code no endpoint may send */
    for (size_t i = 0; i < req->n_subprotocols; i++)
        if (strcmp(req->subprotocols[i], "chat.v2") == 0)
            resp->subprotocol = "chat.v2";
    return SILK_OK;
}

static silk_status on_message(silk_ctx *ctx, const Silk__Ws__MessageRequest *req,
                              Silk__Ws__MessageReply *resp, void *user)
{
    (void)user;
    if (req->binary) {
        resp->data = req->data;
        resp->binary = true;
        return SILK_OK;
    }
    if (req->data.len == 6 && memcmp(req->data.data, "silent", 6) == 0)
        return SILK_OK;
    if (req->data.len == 6 && memcmp(req->data.data, "whoami", 6) == 0) {
        const char *who = silk_ctx_printf(ctx, "whoami:subject=%s;claims=%s",
                                          md(ctx, "auth-subject"), md(ctx, "auth-claims"));
        if (who == NULL)
            return SILK_RESOURCE_EXHAUSTED;
        resp->data.data = (uint8_t *)who;
        resp->data.len = strlen(who);
        return SILK_OK;
    }
    char *text = silk_ctx_alloc(ctx, req->data.len + 200 + 2 * SILK_MD_MAX_VALUE);
    if (text == NULL)
        return SILK_RESOURCE_EXHAUSTED;
    int n =
        sprintf(text, "reply:%.*s;bid=%s;sid=%s", (int)req->data.len, (const char *)req->data.data,
                md(ctx, SILK_MD_BUSINESS_ID), md(ctx, SILK_MD_SESSION_ID));
    resp->data.data = (uint8_t *)text;
    resp->data.len = (size_t)n;
    return SILK_OK;
}

static silk_status on_close(silk_ctx *ctx, const Silk__Ws__CloseEvent *req,
                            Google__Protobuf__Empty *resp, void *user)
{
    (void)resp;
    (void)user;
    printf("onclose session_id=%s business_id=%s md_session_id=%s code=%u auth_subject=%s\n",
           req->session_id, req->business_id, md(ctx, SILK_MD_SESSION_ID), req->code,
           md(ctx, "auth-subject"));
    fflush(stdout);
    return SILK_OK;
}

int main(void)
{
    silk_server *srv = silk_server_new(&(silk_server_opts){.max_concurrent = 1024});
    if (srv == NULL)
        return 1;
    Silk__Ws__Hooks_Handlers hooks = {
        .on_open = on_open, .on_message = on_message, .on_close = on_close};
    silk_status st = silk_server_add_service(srv, &wstest, NULL, NULL);
    if (st == SILK_OK)
        st = silk_server_add_service(srv, &streams, NULL, NULL);
    if (st == SILK_OK)
        st = silk__ws__hooks__serve(srv, &hooks, NULL);
    if (st != SILK_OK) {
        fprintf(stderr, "silk-gateway-hooks: %s\n", silk_status_str(st));
        silk_server_free(srv);
        return 1;
    }
    return silk_server_run(srv);
}
