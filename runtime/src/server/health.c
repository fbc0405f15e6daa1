/* health.c - silk.health.Health/Check, which every server answers. */
#include <string.h>

#include <silk/ctx.h>

#include "server/server_internal.h"
#include "silk/health.silk.h"

/* check answers SERVING for the server as a whole ("") and for every service it hosts, and
 * NOT_FOUND for others, as grpc.health.v1 does. */
static silk_status check(silk_ctx *ctx, const Silk__Health__HealthCheckRequest *req,
                         Silk__Health__HealthCheckResponse *resp, void *user)
{
    const silk_server *srv = user;
    bool known = req->service == NULL || req->service[0] == '\0';
    for (size_t i = 0; !known && i < srv->n_services; i++)
        known = strcmp(srv->services[i].desc->name, req->service) == 0;
    if (!known)
        return silk_ctx_fail(ctx, SILK_NOT_FOUND, "service %s is not served here", req->service);
    resp->status = SILK__HEALTH__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
    return SILK_OK;
}

silk_status silk__health_serve(silk_server *srv)
{
    const Silk__Health__Health_Handlers handlers = {.check = check};
    return silk__health__health__serve(srv, &handlers, srv);
}
