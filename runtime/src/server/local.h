/* local.h - calls from this process to a server's inline services, run on the caller's thread
 * with no socket (server_local.c): what a loop channel given a server by
 * silk_loop_channel_set_local() does instead of sending. */
#ifndef SILK_SRC_SERVER_LOCAL_H
#define SILK_SRC_SERVER_LOCAL_H

#include <stdbool.h>

#include <silk/server.h>

#include "core/scratch.h"
#include "rpc/ctx_internal.h"

/* silk__local_answer is what a call run here answered. */
typedef struct silk__local_answer {
    silk_status status;
    ProtobufCMessage *resp; /* on SILK_OK: the response, in the call's scratch; else NULL */
    const char *message;    /* the handler's message or the refusal's; never NULL */
    silk_ctx *ctx; /* the handler's ctx (holds message), to free with silk_ctx_free(); or NULL */
} silk__local_answer;

/* silk__server_runs_here tells whether srv hosts method's service inline
 * (silk_server_set_inline), so that a call of it may run on the caller's thread. Any thread. */
bool silk__server_runs_here(const silk_server *srv, const silk_method_desc *method);

/* silk__server_call_here runs a call of method with req on this thread, as a call that came
 * on a connection runs: refused with RESOURCE_EXHAUSTED past max_concurrent, UNAVAILABLE when
 * srv is not serving; the handler's ctx made from h (what the call would have sent: metadata,
 * and the budget, counted from now: the caller refuses a call whose deadline has passed, with
 * DEADLINE_EXCEEDED, before it gets here), the interceptors, the counts. The
 * cluster token is not asked for: the caller is this process. method must be one for which
 * silk__server_runs_here() is true.
 *
 * Fills *out; the ctx and the response live in mem, which the caller keeps until it is done
 * with them and frees out->ctx first. The response's fields may point into req, which must
 * live as long. Any thread; the handler runs before it returns. */
void silk__server_call_here(silk_server *srv, silk__scratch *mem, const Silk__Rpc__RequestHeader *h,
                            const silk_method_desc *method, const ProtobufCMessage *req,
                            silk__local_answer *out);

#endif /* SILK_SRC_SERVER_LOCAL_H */
