/* service.c - wstest-service: the seed's WsTest service, pushing to WebSocket sessions. */
#include <stdio.h>
#include <string.h>

#include <silk/silk.h>

#include "silk/ws.silk.h"
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

static void usage(FILE *out)
{
    fprintf(out, "usage: wstest-service [--help]\n"
                 "\n"
                 "Serves wstest.WsTest (Echo) and its WebSocket hooks (OnMessage echoes)\n"
                 "until SIGTERM or SIGINT.\n"
                 "\n"
                 "environment:\n"
                 "  SILK_LISTEN    nng address to listen on (default tcp://127.0.0.1:0)\n"
                 "  SILK_REGISTRY  registry URL (default file:$XDG_RUNTIME_DIR/silk or "
                 "file:/tmp/silk-$UID)\n"
                 "  SILK_LOG       debug, info, warn or error (default info)\n");
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        int help = strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0;
        usage(help ? stdout : stderr);
        return help ? 0 : 2;
    }
    /* Every session's messages come as OnMessage calls: allow many at once. */
    silk_server *srv = silk_server_new(&(silk_server_opts){.max_concurrent = 4096});
    if (srv == NULL)
        return 1;
    silk_status st = wstest__ws_test__serve(srv, &(Wstest__WsTest_Handlers){.echo = echo}, NULL);
    if (st == SILK_OK)
        st = silk__ws__hooks__serve(srv, &(Silk__Ws__Hooks_Handlers){.on_message = on_message},
                                    NULL);
    if (st == SILK_OK) /* on_message never blocks: run it on nng's thread, no hand-off */
        st = silk_server_set_inline(srv, &silk__ws__hooks__silk_desc);
    if (st != SILK_OK) {
        fprintf(stderr, "wstest-service: cannot serve WsTest: %s\n", silk_status_str(st));
        silk_server_free(srv);
        return 1;
    }
    return silk_server_run(srv);
}
