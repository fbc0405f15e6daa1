/* push.h - pushes and closes for sessions, from any thread, handed to the loop that owns each. */
#ifndef SILK_GATEWAY_PUSH_H
#define SILK_GATEWAY_PUSH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <silk/status.h>

#include "loop/gateway.h"

/* Each call below may be made from any thread. It hands the work to the loop that owns the
 * session and returns without waiting for it.
 *
 * A session whose loop has begun closing it (its entry's closing: a close frame queued or
 * sent, whatever the reason) gets no more messages: a push skips it and does not count it
 * delivered. What a push counts is decided under the gateway's lock, when the push is split;
 * a message that reaches its loop after the session began closing there is dropped, counted. */

/* What silk__gw_send_many did with a message. */
typedef enum silk__gw_fate {
    SILK__GW_QUEUED,     /* handed to the session's loop */
    SILK__GW_NO_SESSION, /* no such session here */
    SILK__GW_CLOSING,    /* the session is closing: not queued */
} silk__gw_fate;

/* A message for one session, for silk__gw_send_many; everything stays the caller's. */
typedef struct silk__gw_message {
    const char *session_id;
    const void *data;
    size_t len;
    bool binary;
    bool repeat; /* given before under the call's idempotency key: counted, not sent again */
} silk__gw_message;

/* silk__gw_send_many queues each of n messages for its session (a session given several gets
 * them in order); fate[i] tells what became of msgs[i], *delivered counts the messages
 * queued. Each loop is handed its sessions' messages as one command, which it writes out
 * together. SILK_OK, or SILK_RESOURCE_EXHAUSTED when memory ran out (some may be queued). */
silk_status silk__gw_send_many(silk__gw *gw, const silk__gw_message *msgs, size_t n,
                               silk__gw_fate *fate, size_t *delivered);

/* silk__gw_send queues a message for a session: SILK_OK, SILK_NOT_FOUND when there is no such
 * session or it is closing (*fate tells which; may be NULL), SILK_RESOURCE_EXHAUSTED when
 * memory is exhausted. */
silk_status silk__gw_send(silk__gw *gw, const char *session_id, int binary, const void *data,
                          size_t len, silk__gw_fate *fate);

/* A push's place in its stream: epoch and offset (offset 0: kept nowhere). */
typedef struct silk__gw_stream_place {
    const char *epoch;
    uint64_t offset;
} silk__gw_stream_place;

/* silk__gw_send_business queues a message for every session of business_id on route
 * (every route when route is NULL or "") that is not closing, at its place in the business's
 * stream (NULL: kept nowhere); *delivered counts them. Each loop is handed its sessions' sends
 * as one command, which it writes out together. */
silk_status silk__gw_send_business(silk__gw *gw, const char *route, const char *business_id,
                                   const silk__gw_stream_place *at, int binary, const void *data,
                                   size_t len, size_t *delivered);

/* silk__gw_loop_client returns l's connection of the session named session_id, or NULL when
 * it is gone or on another loop; on l's thread (it takes the gateway's lock). */
silk__gw_client *silk__gw_loop_client(silk__gw_loop *l, const char *session_id);

/* silk__gw_close_session closes a session with a WebSocket close code and reason:
 * SILK_OK, SILK_NOT_FOUND, or SILK_INVALID_ARGUMENT for a code a server may not send. */
silk_status silk__gw_close_session(silk__gw *gw, const char *session_id, uint16_t code,
                                   const char *reason);

/* silk__gw_push_spares_fini frees what finished pushes left for the next ones; once the
 * loops are gone. */
void silk__gw_push_spares_fini(silk__gw *gw);

#endif /* SILK_GATEWAY_PUSH_H */
