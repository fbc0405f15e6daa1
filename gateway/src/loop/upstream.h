/* upstream.h - a loop's calls to the services, each carrying its own completion. */
#ifndef SILK_GATEWAY_UPSTREAM_H
#define SILK_GATEWAY_UPSTREAM_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#include <silk/ctx.h>
#include <silk/service.h>
#include <silk/status.h>

#include "loop/gateway.h"

/* A call a loop makes to a service. Whoever starts it embeds it first in a struct of its own,
 * sets done and req, and finds its struct again in done (a cast, checked by a static_assert
 * beside it). The call owns req, and resp and message once it completes. */
typedef struct silk__gw_call silk__gw_call;
struct silk__gw_call {
    /* done runs once, on the loop's thread, when the call completes; it frees the call
     * (silk__gw_call_fini, then its own struct). */
    void (*done)(silk__gw_call *k);
    ProtobufCMessage *req;
    silk__gw_loop *loop;    /* the loop it is made on (silk__gw_upstream_call sets it) */
    silk_status st;         /* the answer: SILK_OK with resp, or why not */
    ProtobufCMessage *resp; /* when st is SILK_OK: lent to done, valid until it returns */
    char *message;          /* the failure's message, or NULL */
    /* What it calls, and since when, for /metrics: set by silk__gw_upstream_call. */
    const silk_method_desc *method;
    double started; /* ev_now() */
};

/* silk__gw_upstream_init gives l a loop channel per service; -1 when memory is exhausted. On
 * the main thread, before l runs. */
int silk__gw_upstream_init(silk__gw_loop *l);

/* silk__gw_upstream_fini fails the calls still in flight on l's loop channels (CANCELLED,
 * their done run before it returns) and frees them; before the gateway's channels close. */
void silk__gw_upstream_fini(silk__gw_loop *l);

/* silk__gw_upstream_tick enforces deadlines and keepalive on l's loop channels; on l's thread. */
void silk__gw_upstream_tick(silk__gw_loop *l);

/* silk__gw_upstream_call starts k's call of method with k->req, through l's loop channel to the
 * service at index service, on l's thread. SILK_OK: k->done runs later on l's thread, never
 * before this returns. Otherwise why not, with the reason in ctx's message: done never runs
 * and k is still the caller's. */
silk_status silk__gw_upstream_call(silk__gw_loop *l, silk__gw_call *k, size_t service,
                                   silk_ctx *ctx, const silk_method_desc *method);

/* silk__gw_upstream_ctx returns an empty ctx (silk_ctx_new's) for a call l makes, to give
 * back with silk__gw_upstream_ctx_done once the call has started; NULL when memory is
 * exhausted. On l's thread. */
silk_ctx *silk__gw_upstream_ctx(silk__gw_loop *l);

/* silk__gw_upstream_ctx_done takes back a ctx of silk__gw_upstream_ctx (NULL is ignored): l
 * keeps one, emptied, for its next call. On l's thread. */
void silk__gw_upstream_ctx_done(silk__gw_loop *l, silk_ctx *ctx);

/* silk__gw_call_fini frees what a call owns (req, message), not the call itself. */
void silk__gw_call_fini(silk__gw_call *k);

#endif /* SILK_GATEWAY_UPSTREAM_H */
