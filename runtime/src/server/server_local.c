/* server_local.c - calls from this process to a server's inline services (local.h): the checks,
 * ctx, interceptors and counts of a call off a connection, with no frame and no socket. */
#include <stdint.h>
#include <string.h>

#include <silk/log.h>

#include "core/clock.h"
#include "server/local.h"
#include "server/server_internal.h"
#include "wire/frame.h"

/* hosted_of returns the service of srv whose descriptor holds method, or NULL. */
static const hosted *hosted_of(const silk_server *srv, const silk_method_desc *method)
{
    uintptr_t m = (uintptr_t)method;
    for (size_t i = 0; i < srv->n_services; i++) {
        const silk_service_desc *d = srv->services[i].desc;
        if (m >= (uintptr_t)d->methods && m < (uintptr_t)(d->methods + d->n_methods))
            return &srv->services[i];
    }
    return NULL;
}

bool silk__server_runs_here(const silk_server *srv, const silk_method_desc *method)
{
    const hosted *svc = srv != NULL && method != NULL ? hosted_of(srv, method) : NULL;
    return svc != NULL && svc->run_inline;
}

/* refuse fills out with a call refused before its handler, told to the interceptors. */
static void refuse(silk_server *srv, const Silk__Rpc__RequestHeader *h, const silk_method_desc *m,
                   int64_t received_us, silk_status st, const char *msg,
                   silk__metrics_reason reason, silk__local_answer *out)
{
    silk__metrics_refused(srv->metrics, reason, 1);
    silk__server_tell(srv, h, m, out->ctx, received_us, st, msg);
    out->status = st;
    out->message = msg;
}

/* run makes the handler's ctx and response in mem and runs the handler. */
static void run(silk_server *srv, silk__scratch *mem, const Silk__Rpc__RequestHeader *h,
                const hosted *svc, const silk_method_desc *m, const ProtobufCMessage *req,
                int64_t received_us, silk__local_answer *out)
{
    ProtobufCMessage *resp = silk__scratch_alloc(mem, m->output->sizeof_message);
    out->ctx = silk__ctx_from_header_in(mem, h, received_us);
    if (resp == NULL || out->ctx == NULL) {
        refuse(srv, h, m, received_us, SILK_RESOURCE_EXHAUSTED, "out of memory",
               SILK__REFUSED_OUT_OF_MEMORY, out);
        return;
    }
    protobuf_c_message_init(m->output, resp);
    out->status = silk__server_run_handler(srv, svc, m, out->ctx, req, resp);
    out->resp = out->status == SILK_OK ? resp : NULL;
    out->message = silk_ctx_message(out->ctx);
}

void silk__server_call_here(silk_server *srv, silk__scratch *mem, const Silk__Rpc__RequestHeader *h,
                            const silk_method_desc *method, const ProtobufCMessage *req,
                            silk__local_answer *out)
{
    *out = (silk__local_answer){.message = ""};
    const hosted *svc = hosted_of(srv, method);
    SILK__ASSERT(svc != NULL && svc->run_inline);
    int64_t received_us = silk__now_us();
    silk_status st = SILK_OK;
    silk__metrics_reason reason = SILK__REFUSED_STOPPING;
    const char *why = silk__server_admit(srv, &st, &reason);
    if (why == NULL && !srv->started) { /* no connection brings a call before the start */
        st = SILK_UNAVAILABLE;
        why = "the server is not serving";
        reason = SILK__REFUSED_STOPPING;
    }
    bool taken = why == NULL; /* as a call off a connection: counted for its method once taken */
    if (taken)
        run(srv, mem, h, svc, method, req, received_us, out);
    else
        refuse(srv, h, method, received_us, st, why, reason, out);
    atomic_fetch_sub(&srv->busy, 1);
    if (taken && srv->metrics != NULL)
        silk__metrics_call(srv->metrics, silk__server_method_index(svc, method), out->status,
                           silk__now_us() - received_us);
    if (silk_log_enabled(SILK_LOG_DEBUG))
        silk_log(SILK_LOG_DEBUG, "server", "call here method=%s status=%s", method->path,
                 silk_status_str(out->status));
    silk__server_call_done(srv);
}
