/* ctx_internal.h - what the server and the channel know about a ctx that users do not. */
#ifndef SILK_SRC_CTX_INTERNAL_H
#define SILK_SRC_CTX_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <silk/ctx.h>
#include <silk/server.h>
#include <silk/service.h>

#include "rpc/cancel.h"
#include "core/random.h"
#include "core/scratch.h"
#include "silk/rpc.pb-c.h"

/* SILK__DEFAULT_TIMEOUT_MS is a call's deadline when neither ctx nor method sets a smaller one. */
#define SILK__DEFAULT_TIMEOUT_MS 5000

/* silk__ctx_from_header makes the ctx of a call received at received_us (monotonic): the
 * header's metadata (invalid pairs skipped) and a deadline of received_us + budget_us that
 * cannot be extended. NULL when memory is exhausted. Freed with silk_ctx_free(). */
silk_ctx *silk__ctx_from_header(const Silk__Rpc__RequestHeader *h, int64_t received_us);

/* silk__ctx_from_header_in is silk__ctx_from_header with the ctx and its pairs in mem, the
 * call's scratch, where the header was unpacked: nothing is allocated until the handler
 * changes a pair (they are copied then). Freed with silk_ctx_free() before mem is. */
silk_ctx *silk__ctx_from_header_in(silk__scratch *mem, const Silk__Rpc__RequestHeader *h,
                                   int64_t received_us);

/* silk__ctx_set_service records the service whose handler the ctx is given to. */
void silk__ctx_set_service(silk_ctx *ctx, const silk_service_desc *service);

/* silk__ctx_service returns the service recorded by silk__ctx_set_service, or NULL. */
const silk_service_desc *silk__ctx_service(const silk_ctx *ctx);

/* silk__ctx_set_server records the server whose handler the ctx is given to, which outlives
 * the handler. */
void silk__ctx_set_server(silk_ctx *ctx, silk_server *server);

/* silk__ctx_server returns the server recorded by silk__ctx_set_server: NULL but for a
 * handler's ctx. */
silk_server *silk__ctx_server(const silk_ctx *ctx);

/* silk__ctx_set_cancel makes silk_ctx_cancelled(ctx) read cancel, which must outlive the
 * ctx, and calls started with ctx its children (cancel.h): the server points a handler's ctx
 * at its call's cancellation, fired by a cancel frame. */
void silk__ctx_set_cancel(silk_ctx *ctx, silk__cancel *cancel);

/* silk__ctx_cancel returns what silk__ctx_set_cancel set: NULL but for a handler's ctx. */
silk__cancel *silk__ctx_cancel(const silk_ctx *ctx);

/* silk__ctx_clone makes a ctx with ctx's metadata (ctx may be NULL) and a deadline budget_us
 * from now that cannot be extended: what a call the channel sends later keeps of its
 * caller's ctx. NULL when memory is exhausted. Freed with silk_ctx_free(). */
silk_ctx *silk__ctx_clone(const silk_ctx *ctx, uint64_t budget_us);

/* silk__ctx_ensure_trace_id gives ctx a random "trace-id" when it has none: where a trace
 * starts, at the edge. SILK_RESOURCE_EXHAUSTED when memory is exhausted. */
silk_status silk__ctx_ensure_trace_id(silk_ctx *ctx);

/* silk__ctx_set_message replaces the ctx's message with a copy of msg. NULL ctx is ignored. */
void silk__ctx_set_message(silk_ctx *ctx, const char *msg);

/* silk__ctx_budget_us returns the budget of a call made with ctx (may be NULL) to a method
 * with timeout_ms (0: the default): the smaller of the ctx's remaining time and the timeout,
 * in microseconds, at least 1; 0 when the ctx's deadline has passed. */
uint64_t silk__ctx_budget_us(const silk_ctx *ctx, uint32_t timeout_ms);

/* silk__reqhdr is the request header of one outgoing call, pointing into the ctx and the
 * request; it lives until silk__reqhdr_fini and must not outlive them. */
typedef struct silk__reqhdr {
    Silk__Rpc__RequestHeader h;
    Silk__Rpc__Metadata *md;
    Silk__Rpc__Metadata **mdp;
    Silk__Rpc__Metadata md_small[8];
    Silk__Rpc__Metadata *mdp_small[8];
    char trace[SILK__TRACE_ID_LEN + 1]; /* a trace id made for a call whose ctx has none */
} silk__reqhdr;

/* silk__reqhdr_init builds the header of a call of method with req and budget_us: the
 * ctx's metadata (ctx may be NULL), plus "business-id" from the request's business_id field
 * when the ctx has none, a new "trace-id" when the ctx has none, and token (may be NULL).
 * SILK_RESOURCE_EXHAUSTED when memory is exhausted. */
silk_status silk__reqhdr_init(silk__reqhdr *rh, const silk_ctx *ctx, const silk_method_desc *method,
                              const ProtobufCMessage *req, uint64_t budget_us, const char *token);

/* silk__reqhdr_fini frees what silk__reqhdr_init allocated. */
void silk__reqhdr_fini(silk__reqhdr *rh);

#endif /* SILK_SRC_CTX_INTERNAL_H */
