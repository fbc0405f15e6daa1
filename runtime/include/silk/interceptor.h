/* interceptor.h - hooks around every call, client side and server side: logging, metrics, auth. */
#ifndef SILK_INTERCEPTOR_H
#define SILK_INTERCEPTOR_H

#include <stdbool.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include <silk/ctx.h>
#include <silk/service.h>
#include <silk/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/* silk_call_info describes the call an interceptor runs for. */
typedef struct silk_call_info {
    bool server; /* a server's hook (else a channel's) */
    /* The method. For a call a server refused before knowing its method (an unknown path, a
     * header that does not decode) a stand-in whose path is the path asked for, or "", and
     * whose other fields are empty. */
    const silk_method_desc *method;
    /* The server's: the handler's ctx, whose metadata a hook may read and set (for a refused
     * call, one made from its header, NULL when the header does not decode). The channel's
     * before: the caller's ctx (may be NULL); its after: NULL, the caller's ctx need not live
     * that long. */
    silk_ctx *ctx;
    const char *target;   /* the channel's target, or the server's address */
    const char *trace_id; /* the call's "trace-id" */
    /* In after only: */
    silk_status status;
    const char *message; /* "" on success */
    int64_t elapsed_us;  /* from before to after */
} silk_call_info;

/* silk_interceptor is one hook of a chain, added with silk_channel_add_interceptor() or
 * silk_server_add_interceptor(), which copy it. Befores run in the order the interceptors
 * were added, afters in the reverse order; either may be NULL. */
typedef struct silk_interceptor {
    const char *name;
    /* before runs before a call is sent (on the caller's thread) or before its handler (on
     * the thread that runs the handler, with the decoded request). A status other than
     * SILK_OK refuses the call with it: the client's call then fails synchronously (its
     * callback never runs), the server answers it without running the handler;
     * silk_ctx_fail() on info->ctx gives the message. Later befores do not run; the afters of
     * those that ran do. */
    silk_status (*before)(const silk_call_info *info, const ProtobufCMessage *req, void *arg);
    /* after runs once per call whose before chain ran, when it is finished; resp is the
     * response on SILK_OK, else NULL, and valid during the call only. A channel's after runs
     * where the call completes - on one of nng's threads for an asynchronous call - so it
     * must not block.
     *
     * A server's afters also run, alone and all of them, once for every request the server
     * answers without running its handler - refused before it would run, or dropped because
     * its caller cancelled it first (docs/runtime.md, "Interceptors", lists the cases) -
     * with resp NULL and no before. Some are refused on nng's receive callback, so a
     * server's after must not block either. */
    void (*after)(const silk_call_info *info, const ProtobufCMessage *resp, void *arg);
    void *arg; /* passed to both; must outlive the channel or server */
} silk_interceptor;

/* silk_log_interceptor logs every call at info level, one line after it finishes:
 * `call side=client|server method=/pkg.Svc/M status=OK us=123 trace=<id> target=<...>`. */
extern const silk_interceptor silk_log_interceptor;

#ifdef __cplusplus
}
#endif

#endif /* SILK_INTERCEPTOR_H */
