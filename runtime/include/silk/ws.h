/* ws.h - pushing to WebSocket sessions from service code.
 *
 * The gateways own the sessions; these helpers find them through the registry, where each
 * gateway serves silk.ws.SessionManager under its gateway id: in a handler, the registry of
 * the server running it (silk_server_opts.registry, else $SILK_REGISTRY's); with a ctx made
 * by silk_ctx_new (or NULL), $SILK_REGISTRY's. A session id names its gateway
 * ("<gateway id>.<32 hex digits>"). Each makes blocking calls to the gateways, with ctx's
 * metadata and deadline: call them from a handler or a plain thread, never from nng's
 * threads (no completion callback, no inline handler); a batch (silk_ws_batch_*) belongs to
 * the thread that opened it. docs/runtime.md, "Pushing to
 * sessions", shows them in the seed's Echo and how a service hears of its sessions.
 *
 * A registered gateway that cannot be reached - its port refuses, the connection is lost,
 * or it does not answer within the method's timeout (5 s) - fails each helper that asks it
 * with SILK_UNAVAILABLE, and silk_ctx_message(ctx) names the gateway and its address; a
 * gateway that answers with no session is no error. When ctx's own deadline passes first,
 * the helper returns SILK_DEADLINE_EXCEEDED naming the gateway. */
#ifndef SILK_WS_H
#define SILK_WS_H

#include <stddef.h>
#include <stdint.h>

#include <silk/ctx.h>
#include <silk/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The service every gateway serves, and the registry key it is found under. */
#define SILK_WS_SESSION_MANAGER "silk.ws.SessionManager"

/* silk_session_list holds session ids; free with silk_session_list_fini. */
typedef struct silk_session_list {
    size_t count;
    char **ids;
} silk_session_list;

/* silk_session_list_fini frees the ids and empties the list. NULL is ignored. */
void silk_session_list_fini(silk_session_list *list);

/* silk_ws_session_list fills out with the sessions of business_id on the route of the service
 * whose handler ctx belongs to (any route for a ctx made with silk_ctx_new), asking every
 * registered gateway.
 *
 * Returns SILK_OK with out the caller's, to free with silk_session_list_fini() (no gateway, or
 * every gateway answered and none has a session: out->count 0), or, with out empty:
 * SILK_INVALID_ARGUMENT when out is NULL or business_id NULL or empty, the registry's error
 * when it cannot be read (silk_registry_resolve), SILK_UNAVAILABLE when a gateway cannot be
 * reached (the list would lack its sessions; the gateways after it are not asked), any other
 * failure of a gateway's answer, or SILK_RESOURCE_EXHAUSTED when memory is exhausted. */
silk_status silk_ws_session_list(silk_ctx *ctx, const char *business_id, silk_session_list *out);

/* silk_ws_send queues len bytes of data (need not be NUL-terminated) as a text message for
 * one session, on the gateway that owns it.
 *
 * Returns SILK_OK once the gateway has taken the message (a session too slow to take it is
 * closed later, with 1008), or SILK_INVALID_ARGUMENT when session_id is NULL or data is NULL
 * with len not 0, SILK_NOT_FOUND when the session is gone (the gateway said so) or no
 * registered gateway owns it, the registry's error when it cannot be read, SILK_UNAVAILABLE
 * when the owning gateway cannot be reached, or the status of the gateway's answer;
 * silk_ctx_message(ctx) says why. data stays the caller's. */
silk_status silk_ws_send(silk_ctx *ctx, const char *session_id, const void *data, size_t len);

/* silk_ws_sendf is silk_ws_send() with a printf-formatted message; SILK_RESOURCE_EXHAUSTED
 * too when the message cannot be formatted for lack of memory. */
silk_status silk_ws_sendf(silk_ctx *ctx, const char *session_id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* silk_ws_batch sends to many sessions, one message each, grouped per gateway into
 * SessionManager.SendMany calls: a handler's fan-out costs a few round trips to each gateway,
 * not one per session, and the messages for one session arrive in the order sent. */
typedef struct silk_ws_batch silk_ws_batch;

/* SILK_WS_BATCH_WINDOW is how many sends a batch holds at most, queued or in flight
 * (docs/runtime.md, "Batches"). */
#define SILK_WS_BATCH_WINDOW 1024

/* silk_ws_batch_open starts a batch whose sends go with ctx's metadata and deadline (ctx may
 * be NULL; else it must outlive the batch), reading the registry once for the gateways. When
 * ctx carries SILK_MD_IDEMPOTENCY_KEY (a retried call), a gateway does not send a session a
 * message it was given before under that key with the same bytes (it counts it delivered).
 *
 * Returns SILK_OK with *out the caller's, to finish with silk_ws_batch_close(), or with *out
 * NULL: SILK_INVALID_ARGUMENT when out is NULL, the registry's error when it cannot be read,
 * or SILK_RESOURCE_EXHAUSTED. */
silk_status silk_ws_batch_open(silk_ctx *ctx, silk_ws_batch **out);

/* silk_ws_batch_send copies len bytes of data (need not be NUL-terminated), a text message
 * for session_id, and queues it for session_id's gateway, returning at once: it goes with the
 * next SendMany to that gateway, which starts as soon as the one in flight is answered. It
 * waits only while the batch holds SILK_WS_BATCH_WINDOW sends. What became of it, close tells.
 *
 * Returns SILK_OK when the batch has taken the send, or SILK_INVALID_ARGUMENT when b or
 * session_id is NULL or data is NULL with len not 0, or SILK_RESOURCE_EXHAUSTED (the send is
 * not made; the batch stays usable). */
silk_status silk_ws_batch_send(silk_ws_batch *b, const char *session_id, const void *data,
                               size_t len);

/* silk_ws_batch_sendf is silk_ws_batch_send() with a printf-formatted message. */
silk_status silk_ws_batch_sendf(silk_ws_batch *b, const char *session_id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* silk_ws_batch_close waits until every send of b is answered or has failed, and frees b
 * (NULL is ignored: SILK_OK). *delivered (may be NULL) counts the sends the gateways took.
 *
 * Returns SILK_OK when every send was taken, else the first failure, as silk_ws_send() would
 * have returned it, with its reason in silk_ctx_message(ctx): SILK_NOT_FOUND for a session
 * gone or one no registered gateway owns, SILK_UNAVAILABLE when its gateway cannot be reached
 * (the batch's other sends to that gateway fail at once; those to other gateways are still
 * made), SILK_DEADLINE_EXCEEDED when ctx's deadline passed, SILK_CANCELLED for a cancelled
 * handler's ctx, or the gateway's answer. The same thread as open, and never nng's. */
silk_status silk_ws_batch_close(silk_ws_batch *b, size_t *delivered);

/* silk_ws_send_business queues len bytes of data as a text message for every session of
 * business_id on the ctx's route (as silk_ws_session_list), on every gateway; every gateway
 * is asked, whichever fails. *delivered (may be NULL) counts the sessions reached, on the
 * gateways that answered.
 *
 * Returns SILK_OK when every gateway answered, also when none had a session (*delivered 0),
 * or SILK_INVALID_ARGUMENT when business_id is NULL or empty or data is NULL with len not 0,
 * the registry's error when it cannot be read, or the first gateway's failure:
 * SILK_UNAVAILABLE when it cannot be reached - even when the others delivered (*delivered
 * says to how many), since its sessions got nothing - or its answer's status, or
 * SILK_RESOURCE_EXHAUSTED when memory is exhausted. data stays the caller's. */
silk_status silk_ws_send_business(silk_ctx *ctx, const char *business_id, const void *data,
                                  size_t len, size_t *delivered);

/* SILK_WS_EPOCH_MAX is the longest a stream's epoch is. */
#define SILK_WS_EPOCH_MAX 32

/* silk_ws_publish_opts are a push's options; NULL or {0} for none. */
typedef struct silk_ws_publish_opts {
    /* A push repeated with the same key within its stream's ttl is delivered once (a retried
     * call); NULL: the ctx's SILK_MD_IDEMPOTENCY_KEY metadata, when it has some. At most 255
     * bytes. Without history (option (silk.history)) it is ignored. */
    const char *idempotency_key;
    bool binary; /* a binary message rather than a text one */
} silk_ws_publish_opts;

/* silk_ws_published is what became of a push. */
typedef struct silk_ws_published {
    size_t delivered; /* sessions reached, on the gateways that answered */
    /* The push's place in its (route, business id) stream when the ctx's service keeps
     * history (option (silk.history)) and the registry is Redis: "" and 0 otherwise (with the
     * file registry each gateway numbers its own). */
    char epoch[SILK_WS_EPOCH_MAX + 1];
    uint64_t offset;
    bool duplicate; /* the key was pushed before: kept once, not sent again to who had it */
} silk_ws_published;

/* silk_ws_publish is silk_ws_send_business() with options, and what became of the push in
 * *out (may be NULL). When the ctx's service keeps history, the push is appended to the
 * business's stream first (once, in Redis, with the Redis registry; by each gateway in its
 * memory with the file registry), so that a session reconnecting with `since` is replayed
 * it (docs/gateway.md, "Streams"). Returns what silk_ws_send_business() returns, and
 * SILK_UNAVAILABLE when the stream cannot be appended to (nothing was sent). */
silk_status silk_ws_publish(silk_ctx *ctx, const char *business_id, const void *data, size_t len,
                            const silk_ws_publish_opts *opts, silk_ws_published *out);

/* silk_presence is one session, as silk_ws_presence tells of it. */
typedef struct silk_presence {
    char *session_id;
    char *gateway_id;
    char *route;          /* the route it was opened on, "api/wstest" */
    int64_t opened_at_ms; /* milliseconds since the epoch */
    char *subject;        /* its verified token's "sub"; "" when its gateway verifies none */
} silk_presence;

/* silk_presence_list holds sessions; free with silk_presence_list_fini. */
typedef struct silk_presence_list {
    size_t count;
    silk_presence *items;
} silk_presence_list;

/* silk_presence_list_fini frees the sessions and empties the list. NULL is ignored. */
void silk_presence_list_fini(silk_presence_list *list);

/* silk_ws_presence fills out with every session of business_id on the ctx's route (as
 * silk_ws_session_list), on every gateway that holds some: who is online.
 *
 * Returns SILK_OK with out the caller's, to free with silk_presence_list_fini() (out->count 0
 * when none), or, with out empty: SILK_INVALID_ARGUMENT when out is NULL or business_id NULL or
 * empty, the registry's error when it cannot be read, SILK_UNAVAILABLE when a gateway cannot
 * be reached (the list would lack its sessions), any other failure of a gateway's answer, or
 * SILK_RESOURCE_EXHAUSTED. */
silk_status silk_ws_presence(silk_ctx *ctx, const char *business_id, silk_presence_list *out);

/* silk_ws_close_business closes every session of business_id on the ctx's route, on every
 * gateway that holds some, with a WebSocket close code (1000 when 0; one a server may send:
 * 1000-1003, 1007-1011, 3000-4999) and reason (may be NULL): for a revoked user or token. The
 * sessions are told to close; their clients see the close frame soon after. Every gateway is
 * asked, whichever fails.
 *
 * Returns SILK_OK when every gateway answered, SILK_INVALID_ARGUMENT when business_id is NULL
 * or empty or the code may not be sent, the registry's error when it cannot be read, or the
 * first gateway's failure (SILK_UNAVAILABLE when it cannot be reached: its sessions stay
 * open). */
silk_status silk_ws_close_business(silk_ctx *ctx, const char *business_id, uint16_t code,
                                   const char *reason);

#ifdef __cplusplus
}
#endif

#endif /* SILK_WS_H */
