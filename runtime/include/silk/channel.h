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

/* silk_channel is opaque: a client's connections to one service name or one address, with
 * every call multiplexed on them. It is thread-safe. docs/runtime.md says how it connects,
 * balances, fails over and breaks circuits ("Channels", "Balancing, failover and the
 * breaker"). */
typedef struct silk_channel silk_channel;

/* silk_channel_open opens a channel to target: a service's full name ("wstest.WsTest"),
 * found through the registry ($SILK_REGISTRY, else the file default), or an nng address
 * ("tcp://127.0.0.1:7000", "ipc:///tmp/x", "tls+tcp://10.0.0.5:7000"). It connects lazily;
 * for a name it reads the registry once before it returns, then on a thread of its own.
 * tls+tcp:// verifies the server's certificate against $SILK_TLS_CA and presents
 * $SILK_TLS_CERT (with $SILK_TLS_KEY) when set; with $SILK_TLS_CA set the channel dials
 * tls+tcp:// addresses only: a call to any other fails with SILK_UNAVAILABLE, and nothing of
 * it, the cluster token included, leaves the process (docs/security.md).
 *
 * Returns SILK_OK with *chp the caller's, to close with silk_channel_close(), or:
 * - SILK_INVALID_ARGUMENT when chp is NULL or target is empty or malformed, or
 *   $SILK_REGISTRY names no known backend;
 * - SILK_UNAVAILABLE when the file registry's directory cannot be made;
 * - SILK_UNAUTHENTICATED when a Redis registry refuses the URL's credentials;
 * - SILK_FAILED_PRECONDITION when $SILK_TLS_CA is set and the TLS files cannot be read or
 *   used (the log says why);
 * - SILK_RESOURCE_EXHAUSTED when memory or a thread is not to be had.
 * Any thread but nng's (it may wait on the registry). */
silk_status silk_channel_open(silk_channel **chp, const char *target);

/* silk_channel_open_service is silk_channel_open(chp, desc->name), with SILK_LB_HASH for a
 * WebSocket service (desc->websocket): every call through it that carries a business id,
 * silk.ws.Hooks' included, reaches the instance that business hashes to.
 *
 * Returns what silk_channel_open returns; SILK_INVALID_ARGUMENT when chp or desc is NULL. */
silk_status silk_channel_open_service(silk_channel **chp, const silk_service_desc *desc);

/* silk_lb_policy is how a channel to a service name picks an instance for a call. Whatever
 * the policy, a method with a hash_key whose request has a value in that field is hashed on
 * it. The default comes from $SILK_LB ("round-robin", "random" or "hash"). docs/runtime.md,
 * "Balancing, failover and the breaker", has the rules. */
typedef enum silk_lb_policy {
    SILK_LB_ROUND_ROBIN = 0, /* each instance in turn, in proportion to the weights */
    SILK_LB_RANDOM,          /* one at random, in proportion to the weights */
    SILK_LB_HASH,            /* rendezvous hashing of the business id; none: round-robin */
} silk_lb_policy;

/* silk_channel_set_policy sets the channel's policy; a call uses the policy in force when it
 * starts.
 *
 * Returns SILK_OK, or SILK_INVALID_ARGUMENT when ch is NULL or policy unknown. Any thread,
 * any time. A channel to an address ignores its policy. */
silk_status silk_channel_set_policy(silk_channel *ch, silk_lb_policy policy);

/* silk_channel_set_breaker sets each instance's circuit breaker: after `failures`
 * transport-level failures in a row it is skipped for open_ms, then probed by one call.
 * failures 0 turns it off. The defaults are 3 and 60000 ms, or $SILK_BREAKER_FAILURES and
 * $SILK_BREAKER_OPEN_MS; docs/runtime.md, "The breaker", says what counts as a failure.
 *
 * Returns SILK_OK (a channel to an address has no breaker, and is left so), or
 * SILK_INVALID_ARGUMENT when ch is NULL. Any thread, any time. */
silk_status silk_channel_set_breaker(silk_channel *ch, unsigned failures, uint32_t open_ms);

/* silk_channel_close closes the channel: every call still in flight completes with
 * SILK_CANCELLED before it returns, then its connections are closed and ch is freed. NULL is
 * ignored.
 *
 * Any thread but nng's: never from a completion callback or an interceptor's after (it waits
 * for them). No other thread may use ch once it is called. */
void silk_channel_close(silk_channel *ch);

/* silk_channel_add_interceptor appends a copy of ic to the channel's chain (see
 * interceptor.h).
 *
 * Returns SILK_OK, or SILK_INVALID_ARGUMENT when ch or ic is NULL or ic has neither hook, or
 * SILK_RESOURCE_EXHAUSTED when memory is exhausted. The chain is read without a lock: add
 * interceptors before the channel's first call, while no other thread uses it. */
silk_status silk_channel_add_interceptor(silk_channel *ch, const silk_interceptor *ic);

/* silk_channel_call calls method with req and waits for the answer. ctx (may be NULL) gives
 * the metadata and the deadline: the smaller of its remaining time and the method's
 * timeout_ms (5000 ms when unset). When ctx has no business id and req has a non-empty string
 * field business_id, that travels as the call's "business-id".
 *
 * Returns SILK_OK with *resp a new message of method->output, the caller's to free with
 * protobuf_c_message_free_unpacked(*resp, NULL). Otherwise *resp is NULL, silk_ctx_message(ctx)
 * says why (when ctx is not NULL), and the status is SILK_INVALID_ARGUMENT when resp is NULL,
 * any error silk_channel_call_async() returns, or any status its callback gets. req stays the
 * caller's and is only read.
 *
 * It blocks the calling thread: a handler may call it (a nested call, cancelled with the
 * handler's own), but not nng's threads - no completion callback, interceptor after or
 * handler of an inline service (silk_server_set_inline). */
silk_status silk_channel_call(silk_channel *ch, silk_ctx *ctx, const silk_method_desc *method,
                              const ProtobufCMessage *req, ProtobufCMessage **resp);

/* silk_call_cb is the completion of an asynchronous call: st, and on SILK_OK resp (else NULL),
 * the callback's to free with protobuf_c_message_free_unpacked(resp, NULL); message is ""
 * on success, else why, valid during the call only.
 *
 * It runs on the thread that completes the call: one of nng's, the channel's own, or the one
 * calling silk_channel_cancel() or silk_channel_close(). It must not block and must not close
 * the channel. */
typedef void (*silk_call_cb)(silk_status st, ProtobufCMessage *resp, const char *message,
                             void *arg);

/* silk_call_id names an asynchronous call in flight on a channel; never 0. */
typedef uint64_t silk_call_id;

/* silk_channel_call_async starts a call of method with req, as silk_channel_call() makes it,
 * and returns at once; ctx (may be NULL) and req are read before it returns and need not
 * outlive it.
 *
 * On SILK_OK the call's id is in *idp (idp may be NULL; for silk_channel_cancel()) and cb
 * runs exactly once, maybe before silk_channel_call_async returns, with:
 * - the answer: the response, or the callee's error;
 * - SILK_DEADLINE_EXCEEDED when the deadline passes first;
 * - SILK_UNAVAILABLE when there is no instance, none can be reached or the connection is lost;
 * - SILK_CANCELLED when the call is cancelled, the channel is closed or - for a handler's
 *   ctx - the handler's own call is cancelled.
 * An idempotent method's call may be sent again to another instance before cb runs
 * (docs/runtime.md, "Failover").
 *
 * Otherwise cb is never called, silk_ctx_message(ctx) says why, and the status is:
 * - SILK_INVALID_ARGUMENT when ch, method, req or cb is NULL, or req is not a method->input;
 * - SILK_DEADLINE_EXCEEDED when ctx's deadline has passed;
 * - SILK_CANCELLED when ctx is a cancelled handler's, or the channel is closing;
 * - SILK_UNAVAILABLE when no instance can take the call now (every breaker open, or each
 *   instance tried backing off after failed dials);
 * - SILK_RESOURCE_EXHAUSTED when memory is exhausted, or the request exceeds the message
 *   limit or the connection's send queue (64 MiB);
 * - the status an interceptor's before refused the call with.
 * Any thread, callbacks included. */
silk_status silk_channel_call_async(silk_channel *ch, silk_ctx *ctx, const silk_method_desc *method,
                                    const ProtobufCMessage *req, silk_call_cb cb, void *arg,
                                    silk_call_id *idp);

/* silk_channel_cancel gives up on a call started with silk_channel_call_async(): unless it has
 * completed, its callback runs once with SILK_CANCELLED before silk_channel_cancel returns,
 * and a cancel frame tells the server, whose handler then sees silk_ctx_cancelled(). An id
 * that has completed, or is of another channel, is ignored.
 *
 * Any thread, a completion callback included; the caller must not hold a lock the callback
 * takes. */
void silk_channel_cancel(silk_channel *ch, silk_call_id id);

#ifdef __cplusplus
}
#endif

#endif /* SILK_CHANNEL_H */
