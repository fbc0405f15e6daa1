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
 * and then on a thread of its own, every second or at once when a call finds no instance:
 * calls never wait for the registry's I/O. Connecting is lazy: a channel opened before its
 * service is up works once the service is up (and the registry has been read again). Returns
 * SILK_INVALID_ARGUMENT for an empty or malformed target. On success *chp is the caller's,
 * to be closed with silk_channel_close(). */
silk_status silk_channel_open(silk_channel **chp, const char *target);

/* silk_channel_close fails every call still in flight on the channel with SILK_CANCELLED,
 * waits for their completions, closes its connections and frees it. It must not be called
 * from a completion callback. NULL is ignored. */
void silk_channel_close(silk_channel *ch);

/* silk_channel_add_interceptor appends a copy of ic to the channel's chain (see
 * interceptor.h). Add interceptors before the channel's first call: the chain is read
 * without a lock. SILK_INVALID_ARGUMENT when ic has neither hook. */
silk_status silk_channel_add_interceptor(silk_channel *ch, const silk_interceptor *ic);

/* silk_call makes a blocking call of method with req. ctx (may be NULL) gives the metadata
 * and the deadline: the smaller of ctx's remaining time and the method's timeout_ms (5000 ms
 * when unset). When the ctx has no business id and req has a non-empty string field named
 * business_id, it travels as the call's "business-id". On SILK_OK *resp is a new message of
 * method->output that the caller frees with protobuf_c_message_free_unpacked(*resp, NULL); on
 * failure *resp is NULL and, when ctx is not NULL, silk_ctx_message(ctx) says why. The call
 * is sent at most once. It blocks the calling thread, so a handler may make nested calls with
 * it, but a completion callback (or any other code on nng's threads) must not. */
silk_status silk_call(silk_channel *ch, silk_ctx *ctx, const silk_method_desc *method,
                      const ProtobufCMessage *req, ProtobufCMessage **resp);

/* silk_call_cb is the completion of an asynchronous call: st and, on SILK_OK, resp (the
 * callback's to free with protobuf_c_message_free_unpacked) and message ("" on success).
 * It runs on one of nng's threads: it must not block, and must not close the channel. */
typedef void (*silk_call_cb)(silk_status st, ProtobufCMessage *resp, const char *message,
                             void *arg);

/* silk_call_async starts a call and returns at once. The callback is called exactly once
 * when the call returns SILK_OK: with the response, the callee's error, SILK_DEADLINE_EXCEEDED
 * when the deadline passes first, SILK_UNAVAILABLE when the connection cannot be made or is
 * lost, or SILK_CANCELLED when the channel is closed; it may run before silk_call_async
 * returns. When silk_call_async fails synchronously (bad arguments, the ctx's deadline already
 * passed or the ctx cancelled, no live instance of the service, channel closing, out of
 * memory) it returns the error, records why in the ctx (silk_ctx_message) when there is one,
 * and the callback is never called. ctx is read before silk_call_async returns and need
 * not outlive it. */
silk_status silk_call_async(silk_channel *ch, silk_ctx *ctx, const silk_method_desc *method,
                            const ProtobufCMessage *req, silk_call_cb cb, void *arg);

/* silk_call_id names an asynchronous call in flight on a channel; never 0. */
typedef uint64_t silk_call_id;

/* silk_call_start is silk_call_async that also stores the call's id in *idp (may be NULL)
 * when it returns SILK_OK, for silk_call_cancel(). */
silk_status silk_call_start(silk_channel *ch, silk_ctx *ctx, const silk_method_desc *method,
                            const ProtobufCMessage *req, silk_call_cb cb, void *arg,
                            silk_call_id *idp);

/* silk_call_cancel gives up on a call started with silk_call_start: unless it has completed
 * already, its callback runs once with SILK_CANCELLED before silk_call_cancel returns, and a
 * cancel frame tells the server, whose handler then sees silk_ctx_cancelled(). A call that
 * has completed (or an id of another channel) is ignored. It may be called from any thread,
 * a completion callback included. */
void silk_call_cancel(silk_channel *ch, silk_call_id id);

#ifdef __cplusplus
}
#endif

#endif /* SILK_CHANNEL_H */
