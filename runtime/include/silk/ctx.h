/* ctx.h - the call context: deadline, metadata and cancellation travelling with every call. */
#ifndef SILK_CTX_H
#define SILK_CTX_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <silk/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/* silk_ctx is opaque. A handler receives one from the server; a program that starts a chain
 * of calls makes one with silk_ctx_new(). Calls made with a ctx carry its metadata and at
 * most its remaining deadline: Silky's RpcContext attachments, done implicitly. */
typedef struct silk_ctx silk_ctx;

/* Well-known metadata keys. Keys are lower-case ASCII. */
#define SILK_MD_BUSINESS_ID "business-id"
#define SILK_MD_SESSION_ID  "session-id"
#define SILK_MD_TRACE_ID    "trace-id"

/* Limits of a ctx's metadata: at most SILK_MD_MAX_PAIRS pairs, keys of at most
 * SILK_MD_MAX_KEY bytes, values of at most SILK_MD_MAX_VALUE bytes. */
#define SILK_MD_MAX_PAIRS 64
#define SILK_MD_MAX_KEY   64
#define SILK_MD_MAX_VALUE 4096

/* silk_ctx_new makes an empty top-level context with no deadline and no metadata; the first
 * call made with it gives it a random "trace-id", which every call of the chain carries. It returns
 * NULL only when memory is exhausted. The caller owns it and frees it with silk_ctx_free(). */
silk_ctx *silk_ctx_new(void);

/* silk_ctx_free frees a context made with silk_ctx_new(). NULL is ignored. Never free the
 * ctx a handler was given: the server owns it. */
void silk_ctx_free(silk_ctx *ctx);

/* silk_ctx_set sets (or replaces) a metadata pair; both strings are copied. Keys are made of
 * a-z, 0-9, '-', '_' and '.'. It returns SILK_INVALID_ARGUMENT for an empty key, a key with
 * other characters, or a key or value longer than its limit, and SILK_RESOURCE_EXHAUSTED
 * when the ctx has SILK_MD_MAX_PAIRS pairs already or memory is exhausted. */
silk_status silk_ctx_set(silk_ctx *ctx, const char *key, const char *value);

/* silk_ctx_get returns the value of a metadata key, or NULL when it is absent or ctx is NULL.
 * The string belongs to the ctx and lives as long as it does (or until the key is set again). */
const char *silk_ctx_get(const silk_ctx *ctx, const char *key);

/* silk_ctx_business_id is silk_ctx_get(ctx, SILK_MD_BUSINESS_ID). */
const char *silk_ctx_business_id(const silk_ctx *ctx);

/* silk_ctx_set_timeout sets the deadline to now + ms milliseconds; 0 clears it. A ctx given
 * to a handler already has the caller's deadline and cannot be extended: a later deadline
 * than the one it has is ignored. */
void silk_ctx_set_timeout(silk_ctx *ctx, uint32_t ms);

/* silk_ctx_remaining_us returns the microseconds left before the deadline: 0 once it has
 * passed, and INT64_MAX when the ctx has no deadline (or ctx is NULL). */
int64_t silk_ctx_remaining_us(const silk_ctx *ctx);

/* silk_ctx_cancelled tells whether the caller gave up on the call whose handler was given
 * ctx (it cancelled the call, or its deadline passed and its channel sent a cancel frame).
 * A handler doing long work checks it and returns early; whatever it returns then is not
 * sent. Calls made with a cancelled ctx fail at once with SILK_CANCELLED, and calls made
 * with it still in flight - blocking or asynchronous - are cancelled with it. False for a
 * ctx made with silk_ctx_new() and for NULL. */
bool silk_ctx_cancelled(const silk_ctx *ctx);

/* silk_ctx_fail records an error message for the reply and returns st, so that a handler
 * can `return silk_ctx_fail(ctx, SILK_NOT_FOUND, "no session for %s", id);`. The message
 * travels back to the caller in the response header. */
silk_status silk_ctx_fail(silk_ctx *ctx, silk_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* silk_ctx_message returns the message recorded by silk_ctx_fail(), or by a failed call made
 * with this ctx (the callee's message), or "" when there is none. Owned by the ctx. */
const char *silk_ctx_message(const silk_ctx *ctx);

/* silk_ctx_alloc returns zeroed memory that lives until the call the ctx belongs to is
 * finished (for a handler: until its reply has been sent; for silk_ctx_new(): until
 * silk_ctx_free()). Use it for strings and sub-messages a handler puts in its response.
 * It returns NULL only when memory is exhausted. */
void *silk_ctx_alloc(silk_ctx *ctx, size_t size);

/* silk_ctx_strdup copies a string into ctx memory (see silk_ctx_alloc). */
char *silk_ctx_strdup(silk_ctx *ctx, const char *s);

/* silk_ctx_printf formats a string into ctx memory (see silk_ctx_alloc). */
char *silk_ctx_printf(silk_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#ifdef __cplusplus
}
#endif

#endif /* SILK_CTX_H */
