/* wstest.c - the seed's WsTest handlers: Echo pushes to a business's sessions, OnMessage echoes. */
#include <stdio.h>

#include <silk/silk.h>

#include "silk/ws.silk.h"
#include "wstest.h"
#include "wstest.silk.h"

/* echo pushes "message:<msg>,sessionId:<id>" to every session of the request's business,
 * as Silky's WsTestAppService.Echo does, and fails NOT_FOUND when there is none. The sends go
 * in one batch: pipelined, many in flight to each gateway, not one round trip each. */
static silk_status echo(silk_ctx *ctx, const Wstest__EchoRequest *req,
                        Google__Protobuf__Empty *resp, void *user)
{
    (void)resp;
    (void)user;
    if (req->business_id == NULL || req->business_id[0] == '\0')
        return silk_ctx_fail(ctx, SILK_INVALID_ARGUMENT, "businessId is required");

    silk_session_list sessions;
    silk_status st = silk_ws_session_list(ctx, req->business_id, &sessions);
    if (st != SILK_OK)
        return st;
    if (sessions.count == 0)
        return silk_ctx_fail(ctx, SILK_NOT_FOUND, "no session for businessId %s", req->business_id);
    silk_ws_batch *b;
    st = silk_ws_batch_open(ctx, &b);
    for (size_t i = 0; i < sessions.count && st == SILK_OK; i++)
        st = silk_ws_batch_sendf(b, sessions.ids[i], "message:%s,sessionId:%s", req->msg,
                                 sessions.ids[i]);
    silk_status sent = silk_ws_batch_close(b, NULL); /* waits for every send */
    silk_session_list_fini(&sessions);
    return st != SILK_OK ? st : sent;
}

/* on_message is WsTest's silk.ws.Hooks OnMessage: it sends each message back to its session
 * (the reply goes back through the gateway). OnOpen and OnClose are left out, so the gateway
 * does not call them. */
static silk_status on_message(silk_ctx *ctx, const Silk__Ws__MessageRequest *req,
                              Silk__Ws__MessageReply *resp, void *user)
{
    (void)ctx;
    (void)user;
    resp->data = req->data; /* the request outlives the reply's packing */
    resp->binary = req->binary;
    return SILK_OK;
}

/* serve hosts WsTest and its hooks on srv. */
static silk_status serve(silk_server *srv)
{
    silk_status st = wstest__ws_test__serve(srv, &(Wstest__WsTest_Handlers){.echo = echo}, NULL);
    if (st == SILK_OK)
        st = silk__ws__hooks__serve(srv, &(Silk__Ws__Hooks_Handlers){.on_message = on_message},
                                    NULL);
    if (st == SILK_OK) /* on_message never blocks: run it where the request is read */
        st = silk_server_set_inline(srv, &silk__ws__hooks__silk_desc);
    return st;
}

silk_server *wstest_server_new(const char *listen, const char *prog)
{
    /* Every session's messages come as OnMessage calls: allow many at once. */
    silk_server *srv =
        silk_server_new(&(silk_server_opts){.listen = listen, .max_concurrent = 4096});
    if (srv == NULL) {
        fprintf(stderr, "%s: cannot make its server (the log says why)\n", prog);
        return NULL;
    }
    silk_status st = serve(srv);
    if (st != SILK_OK) {
        fprintf(stderr, "%s: cannot serve WsTest: %s\n", prog, silk_status_str(st));
        silk_server_free(srv);
        return NULL;
    }
    return srv;
}
