/* http_service.c - bench-http-service: benchhttp.Api for bench-http, registered like any
 * service, so that the gateway and the direct client reach the same instance by name. */
#include <stdio.h>
#include <string.h>

#include <silk/silk.h>

#include "http.silk.h"

/* The gateway and the direct client keep up to a few hundred calls in flight; the default
 * limit of 50 would answer some of them RESOURCE_EXHAUSTED. */
#define MAX_CONCURRENT 4096

/* echo answers with the request's message and sequence number and the message's length: a
 * message is decoded, looked at and encoded, as a small real method would. */
static silk_status echo(silk_ctx *ctx, const Benchhttp__EchoRequest *req,
                        Benchhttp__EchoReply *resp, void *user)
{
    (void)user;
    if (req->business_id == NULL || req->business_id[0] == '\0')
        return silk_ctx_fail(ctx, SILK_INVALID_ARGUMENT, "businessId is required");
    resp->msg = req->msg; /* the request lives until the reply is sent */
    resp->seq = req->seq;
    resp->length = req->msg != NULL ? (uint32_t)strlen(req->msg) : 0;
    return SILK_OK;
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        int help = strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0;
        fprintf(help ? stdout : stderr,
                "usage: bench-http-service\n\nServes benchhttp.Api (Echo) until SIGTERM or "
                "SIGINT, registered through $SILK_REGISTRY.\n");
        return help ? 0 : 2;
    }
    silk_server *srv = silk_server_new(&(silk_server_opts){.max_concurrent = MAX_CONCURRENT});
    if (srv == NULL)
        return 1;
    silk_status st = benchhttp__api__serve(srv, &(Benchhttp__Api_Handlers){.echo = echo}, NULL);
    if (st != SILK_OK) {
        fprintf(stderr, "bench-http-service: cannot serve: %s\n", silk_status_str(st));
        silk_server_free(srv);
        return 1;
    }
    return silk_server_run(srv);
}
