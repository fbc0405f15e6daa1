/* interceptor.c - running chains of interceptors, and the logging interceptor silk ships. */
#include <stdlib.h>
#include <string.h>

#include <silk/log.h>

#include "rpc/interceptor_internal.h"

silk_status silk__chain_add(silk__chain *chain, const silk_interceptor *ic)
{
    if (ic == NULL || (ic->before == NULL && ic->after == NULL))
        return SILK_INVALID_ARGUMENT;
    silk_interceptor *items = realloc(chain->items, (chain->n + 1) * sizeof *items);
    if (items == NULL)
        return SILK_RESOURCE_EXHAUSTED;
    items[chain->n++] = *ic;
    chain->items = items;
    return SILK_OK;
}

void silk__chain_fini(silk__chain *chain)
{
    free(chain->items);
    *chain = (silk__chain){0};
}

silk_status silk__chain_before(const silk__chain *chain, const silk_call_info *info,
                               const ProtobufCMessage *req, size_t *ran)
{
    *ran = 0;
    for (size_t i = 0; i < chain->n; i++) {
        const silk_interceptor *ic = &chain->items[i];
        *ran = i + 1;
        silk_status st = ic->before != NULL ? ic->before(info, req, ic->arg) : SILK_OK;
        if (st != SILK_OK)
            return st;
    }
    return SILK_OK;
}

void silk__chain_after(const silk__chain *chain, size_t ran, const silk_call_info *info,
                       const ProtobufCMessage *resp)
{
    for (size_t i = ran; i > 0; i--) {
        const silk_interceptor *ic = &chain->items[i - 1];
        if (ic->after != NULL)
            ic->after(info, resp, ic->arg);
    }
}

/* ============================== the logging interceptor ============================== */

static void log_after(const silk_call_info *info, const ProtobufCMessage *resp, void *arg)
{
    (void)resp;
    (void)arg;
    if (!silk_log_enabled(SILK_LOG_INFO))
        return;
    silk_log(SILK_LOG_INFO, "rpc",
             "call side=%s method=%s status=%s us=%lld trace=%s target=%s%s%s%s",
             info->server ? "server" : "client", info->method->path, silk_status_str(info->status),
             (long long)info->elapsed_us, info->trace_id != NULL ? info->trace_id : "-",
             info->target != NULL ? info->target : "-",
             info->message != NULL && info->message[0] != '\0' ? " message=\"" : "",
             info->message != NULL ? info->message : "",
             info->message != NULL && info->message[0] != '\0' ? "\"" : "");
}

const silk_interceptor silk_log_interceptor = {
    .name = "log",
    .after = log_after,
};
