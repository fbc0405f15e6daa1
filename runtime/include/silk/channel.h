/* channel.h - a client's way to a service: one multiplexed connection per instance. */
#ifndef SILK_CHANNEL_H
#define SILK_CHANNEL_H

#include <stdint.h>

#include <silk/ctx.h>
#include <silk/interceptor.h>
#include <silk/service.h>
#include <silk/status.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct silk_channel silk_channel;

/* silk_channel_open makes a channel to target: a service's full name ("wstest.WsTest"),
 * resolved through the registry ($SILK_REGISTRY or the file default), or an nng address
 * ("tcp://127.0.0.1:7000", "ipc:///tmp/x"). A channel to a name reads the registry once here
 * and then on a thread of its own, every second, and at once when a call finds no instance or
 * the registry's watch reports a change (silk_registry_watch): calls never wait for the
 * registry's I/O. Connecting is lazy: a channel opened before its
 * service is up works once the service is up (and the registry has been read again). Returns
 * SILK_INVALID_ARGUMENT for an empty or malformed target. On success *chp is the caller's,
 * to be closed with silk_channel_close(). */
silk_status silk_channel_open(silk_channel **chp, const char *target);

/* silk_channel_open_service is silk_channel_open(chp, desc->name) with the policy a service
 * of that kind wants: SILK_LB_HASH for a WebSocket service (desc->websocket), so that every
 * call carrying a business id - its own methods', and silk.ws.Hooks' OnOpen, OnMessage and
 * OnClose made through this channel - reaches the instance that business hashes to. */
silk_status silk_channel_open_service(silk_channel **chp, const silk_service_desc *desc);

/* silk_lb_policy is how a channel to a service name spreads calls over its live instances.
 *
 * - SILK_LB_ROUND_ROBIN (the default): each in turn; when weights differ, in proportion to
 *   them and spread out (smooth weighted round-robin, as nginx does it).
 * - SILK_LB_RANDOM: one drawn at random, in proportion to the instances' weights.
 * - SILK_LB_HASH: rendezvous (highest random weight) hashing of the call's key over the live
 *   instances, weighted when weights differ: a key stays on its instance while they stay, and
 *   when one leaves or joins only the keys it held or takes - about 1/N - move. The key is
 *   the call's business id (the ctx's "business-id", else the request's business_id field);
 *   a call without one goes round-robin.
 *
 * Whatever the policy, a call of a method with a hash_key (option (silk.hash_key)) whose
 * request has a value in that field (a string, bytes or an integer; an empty string is no
 * value) is hashed on that value. The default policy of every channel comes from $SILK_LB
 * ("round-robin", "random" or "hash"). */
typedef enum silk_lb_policy {
    SILK_LB_ROUND_ROBIN = 0,
    SILK_LB_RANDOM,
    SILK_LB_HASH,
} silk_lb_policy;

/* silk_channel_set_policy sets the channel's policy. Set it before the first call, or at any
 * time: a call uses the policy in force when it starts. SILK_INVALID_ARGUMENT for an unknown
 * policy. */
silk_status silk_channel_set_policy(silk_channel *ch, silk_lb_policy policy);

/* silk_channel_set_breaker sets the channel's circuit breaker: after `failures` failures in
 * a row of one instance (a connection refused or lost, an UNAVAILABLE answer, a deadline that
 * passed while the instance sent nothing on that connection) it is skipped for open_ms; then
 * the next call picked for it goes through alone as a probe: an answer closes the breaker, a
 * failure or silence keeps it open for another open_ms. While every instance's breaker is
 * open, calls fail at once with SILK_UNAVAILABLE saying so. failures 0 turns it off. The
 * defaults are 3 and 60000 ms, or $SILK_BREAKER_FAILURES and $SILK_BREAKER_OPEN_MS. A channel
 * to an address has no breaker. */
silk_status silk_channel_set_breaker(silk_channel *ch, unsigned failures, uint32_t open_ms);

/* silk_channel_close fails every call still in flight on the channel with SILK_CANCELLED,
 * waits for their completions, closes its connections and frees it. It must not be called
 * from a completion callback. NULL is ignored. */
void silk_channel_close(silk_channel *ch);

/* silk_channel_add_interceptor appends a copy of ic to the channel's chain (see
 * interceptor.h). Add interceptors before the channel's first call: the chain is read
 * without a lock. SILK_INVALID_ARGUMENT when ic has neither hook. */
silk_status silk_channel_add_interceptor(silk_channel *ch, const silk_interceptor *ic);

/* silk_channel_call makes a blocking call of method with req. ctx (may be NULL) gives the metadata
 * and the deadline: the smaller of ctx's remaining time and the method's timeout_ms (5000 ms
 * when unset). When the ctx has no business id and req has a non-empty string field named
 * business_id, it travels as the call's "business-id". On SILK_OK *resp is a new message of
 * method->output that the caller frees with protobuf_c_message_free_unpacked(*resp, NULL); on
 * failure *resp is NULL and, when ctx is not NULL, silk_ctx_message(ctx) says why. It blocks the
 * calling thread, so a handler may make nested calls with it, but a completion callback (or any
 * other code on nng's threads) must not. */
silk_status silk_channel_call(silk_channel *ch, silk_ctx *ctx, const silk_method_desc *method,
                              const ProtobufCMessage *req, ProtobufCMessage **resp);

/* Failover. On a channel to a service name a call goes to the instance the policy picks
 * (see silk_lb_policy) among those whose breaker is not open, passing over those whose
 * connection was lost lately while others are up. A call of an idempotent method (option
 * (silk.idempotent)) that fails with SILK_UNAVAILABLE (refused, lost, the server stopping) or
 * with SILK_RESOURCE_EXHAUSTED from the server's concurrency limit (refused before it ran) is
 * sent again to another instance, up to its retries (3 when unset), 50 ms apart, within its
 * deadline. A call of any other method is executed at most once: it is never re-sent after
 * its request was queued on a connection; only a call that could not be queued at all (the
 * instance picked is backing off after failed dials, or its connection closed just then) is
 * given to another instance at once. */

/* silk_call_cb is the completion of an asynchronous call: st and, on SILK_OK, resp (the
 * callback's to free with protobuf_c_message_free_unpacked) and message ("" on success).
 * It runs on one of nng's threads: it must not block, and must not close the channel. */
typedef void (*silk_call_cb)(silk_status st, ProtobufCMessage *resp, const char *message,
                             void *arg);

/* silk_call_id names an asynchronous call in flight on a channel; never 0. */
typedef uint64_t silk_call_id;

/* silk_channel_call_async starts a call and returns at once. The callback is called exactly once
 * when the call returns SILK_OK: with the response, the callee's error, SILK_DEADLINE_EXCEEDED
 * when the deadline passes first, SILK_UNAVAILABLE when the connection cannot be made or is
 * lost, or SILK_CANCELLED when the channel is closed or - for a call made with a handler's
 * ctx - when the handler's own call is cancelled while it runs (see ctx.h); it may run
 * before silk_channel_call_async returns. On SILK_OK the call's id is stored in *idp (idp may be
 * NULL), for silk_channel_cancel(). When silk_channel_call_async fails synchronously (bad
 * arguments, the ctx's deadline already passed or the ctx cancelled, no live instance of the
 * service, channel closing, out of memory) it returns the error, records why in the ctx
 * (silk_ctx_message) when there is one, and the callback is never called. ctx is read before
 * silk_channel_call_async returns and need not outlive it. */
silk_status silk_channel_call_async(silk_channel *ch, silk_ctx *ctx, const silk_method_desc *method,
                                    const ProtobufCMessage *req, silk_call_cb cb, void *arg,
                                    silk_call_id *idp);

/* silk_channel_cancel gives up on a call started with silk_channel_call_async: unless it has
 * completed already, its callback runs once with SILK_CANCELLED before silk_channel_cancel returns,
 * and a cancel frame tells the server, whose handler then sees silk_ctx_cancelled(). A call that
 * has completed (or an id of another channel) is ignored. It may be called from any thread,
 * a completion callback included. */
void silk_channel_cancel(silk_channel *ch, silk_call_id id);

#ifdef __cplusplus
}
#endif

#endif /* SILK_CHANNEL_H */
