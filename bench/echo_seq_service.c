/* echo_seq_service.c - bench-echo-seq-service: wstest.WsTest whose Echo sends to its sessions
 * one at a time, waiting for each (silk_ws_sendf), as the seed's Echo did before batches; the
 * push benchmark (run_push10k.sh) measures it beside the seed's own wstest-service. */
#include <stdio.h>
#include <string.h>

#include <silk/silk.h>

#include "wstest.silk.h"

/* echo pushes "message:<msg>,sessionId:<id>" to every session of the request's business, one
 * round trip to the gateway each; NOT_FOUND when there is none. */
static silk_status echo(silk_ctx *ctx, const Wstest__EchoRequest *req,
                        Google__Protobuf__Empty *resp, void *user)
{
    (void)resp;
    (void)user;
    silk_session_list sessions;
    silk_status st = silk_ws_session_list(ctx, req->business_id, &sessions);
    if (st != SILK_OK)
        return st;
    if (sessions.count == 0)
        return silk_ctx_fail(ctx, SILK_NOT_FOUND, "no session for businessId %s", req->business_id);
    for (size_t i = 0; i < sessions.count && st == SILK_OK; i++)
        st = silk_ws_sendf(ctx, sessions.ids[i], "message:%s,sessionId:%s", req->msg,
                           sessions.ids[i]);
    silk_session_list_fini(&sessions);
    return st;
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        fprintf(stdout, "usage: bench-echo-seq-service\n\n"
                        "Serves wstest.WsTest with Echo sending one message at a time, until "
                        "SIGTERM or SIGINT\n(SILK_LISTEN, SILK_REGISTRY as wstest-service).\n");
        return strcmp(argv[1], "--help") == 0 ? 0 : 2;
    }
    silk_server *srv = silk_server_new(&(silk_server_opts){0});
    if (srv == NULL)
        return 1;
    silk_status st = wstest__ws_test__serve(srv, &(Wstest__WsTest_Handlers){.echo = echo}, NULL);
    if (st != SILK_OK) {
        fprintf(stderr, "bench-echo-seq-service: %s\n", silk_status_str(st));
        silk_server_free(srv);
        return 1;
    }
    return silk_server_run(srv);
}
