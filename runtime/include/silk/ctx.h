/* ctx.h - the call context: deadline, metadata and cancellation travelling with every call. */
#ifndef SILK_CTX_H
#define SILK_CTX_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include <silk/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/* silk_ctx is opaque. A handler receives one from the server; a program that starts a chain
 * of calls makes one with silk_ctx_new(). Calls made with a ctx carry its metadata and at
 * most its remaining deadline.
 *
 * A ctx has no lock: one thread at a time may use it (a handler's ctx: the thread running
 * the handler). Only silk_ctx_cancelled() may be called from any thread while the ctx lives.
 *
 * A handler's call, and what may point where (docs/runtime.md, "A handler's memory"): the
 * ctx, the request and the response structure are the server's and live until the server
 * has packed the reply, just after the handler returns; then all three, and every block of
 * silk_ctx_alloc() memory, are freed. The response's fields may point to static memory, into
 * the request, or to ctx memory (silk_ctx_alloc, silk_ctx_strdup, silk_ctx_printf,
 * silk_ctx_copy_message); the server never frees what they point to. Nothing of the call may
 * be used once the handler has returned, by a callback or another thread. */
typedef struct silk_ctx silk_ctx;

/* Well-known metadata keys. Keys are lower-case ASCII. */
#define SILK_MD_BUSINESS_ID "business-id"
#define SILK_MD_SESSION_ID  "session-id"
#define SILK_MD_TRACE_ID    "trace-id"
/* A caller's key for a call that pushes (silk_ws_publish): a retry with the same key is not
 * delivered twice. */
#define SILK_MD_IDEMPOTENCY_KEY "idempotency-key"

/* Limits of a ctx's metadata: at most SILK_MD_MAX_PAIRS pairs, keys of at most
 * SILK_MD_MAX_KEY bytes, values of at most SILK_MD_MAX_VALUE bytes. */
#define SILK_MD_MAX_PAIRS 64
#define SILK_MD_MAX_KEY   64
#define SILK_MD_MAX_VALUE 4096

/* silk_ctx_new makes an empty top-level ctx: no deadline, no metadata. The first call made
 * with it gives it a random "trace-id", which every call of the chain then carries.
 *
 * Returns the ctx, the caller's to free with silk_ctx_free(), or NULL when memory is
 * exhausted. Any thread. */
silk_ctx *silk_ctx_new(void);

/* silk_ctx_free frees a ctx made with silk_ctx_new(), with its metadata, its message and
 * its silk_ctx_alloc() memory. NULL is ignored.
 *
 * Never free a handler's ctx: the server does. Calls made with the ctx need not have
 * completed (they read it before they return). */
void silk_ctx_free(silk_ctx *ctx);

/* silk_ctx_reset makes ctx, made with silk_ctx_new(), as silk_ctx_new() left it - no
 * metadata (so no trace id), no deadline, no message, no silk_ctx_alloc() memory - for a
 * new chain of calls, without allocating a new ctx. NULL and a handler's ctx are ignored. */
void silk_ctx_reset(silk_ctx *ctx);

/* silk_ctx_set sets (or replaces) the metadata pair key = value; both strings are copied.
 *
 * Returns SILK_OK, or:
 * - SILK_INVALID_ARGUMENT when ctx, key or value is NULL, key is empty, has characters other
 *   than a-z, 0-9, '-', '_' and '.', or is longer than SILK_MD_MAX_KEY, or value is longer
 *   than SILK_MD_MAX_VALUE;
 * - SILK_RESOURCE_EXHAUSTED when key is new and the ctx has SILK_MD_MAX_PAIRS pairs, or
 *   memory is exhausted.
 * On error the ctx is unchanged. */
silk_status silk_ctx_set(silk_ctx *ctx, const char *key, const char *value);

/* silk_ctx_get returns the value of key, or NULL when it is absent or ctx is NULL.
 *
 * The string is the ctx's: valid until the key is set again or the ctx is freed. */
const char *silk_ctx_get(const silk_ctx *ctx, const char *key);

/* silk_ctx_business_id is silk_ctx_get(ctx, SILK_MD_BUSINESS_ID). */
const char *silk_ctx_business_id(const silk_ctx *ctx);

/* silk_ctx_set_timeout sets the deadline to now + ms milliseconds; 0 clears it. NULL is
 * ignored.
 *
 * A handler's ctx has its caller's deadline and can only shrink it: a later deadline than
 * the one it has, or 0, is ignored. */
void silk_ctx_set_timeout(silk_ctx *ctx, uint32_t ms);

/* silk_ctx_remaining_us returns the microseconds left before the deadline: 0 once it has
 * passed, INT64_MAX when the ctx has no deadline or ctx is NULL. */
int64_t silk_ctx_remaining_us(const silk_ctx *ctx);

/* silk_ctx_cancelled tells whether the caller gave up on the call whose handler was given
 * ctx: a cancel frame came (the caller cancelled, or the deadline passed there) or the
 * caller's connection closed. False for a ctx made with silk_ctx_new() and for NULL.
 *
 * Once it is true, whatever the handler returns is not sent, calls made with ctx fail at once
 * with SILK_CANCELLED, and those in flight are cancelled. Any thread. */
bool silk_ctx_cancelled(const silk_ctx *ctx);

/* silk_ctx_fail records a printf-formatted message for the reply and returns st, so that a
 * handler can `return silk_ctx_fail(ctx, SILK_NOT_FOUND, "no session for %s", id);`.
 *
 * The message replaces any earlier one and travels back to the caller in the response
 * header. With ctx or fmt NULL nothing is recorded; st is returned all the same. */
silk_status silk_ctx_fail(silk_ctx *ctx, silk_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* silk_ctx_message returns the message recorded last: by silk_ctx_fail(), by a call made with
 * the ctx that failed (the callee's message, or why it could not be made), or by a failed
 * silk_ctx_copy_message(). "" when there is none or ctx is NULL.
 *
 * The string is the ctx's: valid until the next message is recorded or the ctx is freed. */
const char *silk_ctx_message(const silk_ctx *ctx);

/* silk_ctx_alloc returns size bytes of zeroed memory, aligned for any type, in the ctx's
 * memory: for the strings and sub-messages a handler puts in its response.
 *
 * Returns NULL when ctx is NULL or memory is exhausted. The memory is the ctx's: never free
 * it; it is freed with the ctx (a handler's ctx: once the reply has been packed, see
 * silk_ctx). */
void *silk_ctx_alloc(silk_ctx *ctx, size_t size);

/* silk_ctx_strdup copies the string s into ctx memory (see silk_ctx_alloc).
 *
 * Returns the copy, or NULL when ctx or s is NULL or memory is exhausted. */
char *silk_ctx_strdup(silk_ctx *ctx, const char *s);

/* silk_ctx_printf formats a string into ctx memory (see silk_ctx_alloc).
 *
 * Returns the string, or NULL when ctx is NULL or memory is exhausted. */
char *silk_ctx_printf(silk_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* silk_ctx_copy_message returns a deep copy of msg in ctx memory (see silk_ctx_alloc): every
 * string, bytes field, repeated field and sub-message, unknown fields included. It is how a
 * handler relays the reply of a nested call in its response: copy it, then free the reply.
 *
 * Returns the copy, a message of msg->descriptor, or NULL when ctx or msg is NULL or memory
 * is exhausted (then silk_ctx_message(ctx) says so). The copy is the ctx's: never free it
 * (protobuf_c_message_free_unpacked must not see it); it is freed with the ctx, and it does
 * not depend on msg, which stays the caller's. */
ProtobufCMessage *silk_ctx_copy_message(silk_ctx *ctx, const ProtobufCMessage *msg);

#ifdef __cplusplus
}
#endif

#endif /* SILK_CTX_H */
