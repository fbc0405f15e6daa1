/* shapes_service.c - silk-openapi-shapes: serves shapes.v1.Shapes, each call answered with its
 * request, so that the gateway's real JSON can be checked against the OpenAPI document. */
#include <stdio.h>

#include <silk/silk.h>

#include "shapes.silk.h"

/* echo answers with the request: the reply points into it, which outlives the packing. */
static silk_status echo(silk_ctx *ctx, const Shapes__V1__All *req, Shapes__V1__All *resp,
                        void *user)
{
    (void)ctx;
    (void)user;
    *resp = *req;
    return SILK_OK;
}

static silk_status drop(silk_ctx *ctx, const Shapes__V1__Inner *req, Google__Protobuf__Empty *resp,
                        void *user)
{
    (void)ctx;
    (void)req;
    (void)resp;
    (void)user;
    return SILK_OK;
}

int main(void)
{
    silk_server *srv = silk_server_new(NULL);
    if (srv == NULL)
        return 1;
    Shapes__V1__Shapes_Handlers handlers = {.echo = echo, .get = echo, .put = echo, .drop = drop};
    silk_status st = shapes__v1__shapes__serve(srv, &handlers, NULL);
    if (st != SILK_OK) {
        fprintf(stderr, "silk-openapi-shapes: %s\n", silk_status_str(st));
        silk_server_free(srv);
        return 1;
    }
    return silk_server_run(srv);
}
