/* ws.c - one WebSocket connection's framing: a wslay event context on a non-blocking socket. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <wslay/wslay.h>

#include "ws.h"

struct silk__gw_ws {
    wslay_event_context_ptr ctx;
    int fd;
    silk__gw_ws_callbacks cb;
    void *arg;
    size_t max_queued;
    char *pending; /* read before the handshake finished, handed to wslay first */
    size_t pending_len, pending_off;
    bool eof;            /* the socket reached EOF or failed */
    bool closing;        /* we queued a close frame, or will once the messages before it are out */
    uint16_t close_code; /* a close frame waiting for the messages queued before it */
    char close_reason[124];
};

/* ============================================================================
 * wslay callbacks: the socket's bytes in and out, and complete messages.
 * ========================================================================== */

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user)
{
    silk__gw_ws *ws = user;
    (void)flags;
    if (ws->pending_off < ws->pending_len) {
        size_t n = ws->pending_len - ws->pending_off;
        if (n > len)
            n = len;
        memcpy(buf, ws->pending + ws->pending_off, n);
        ws->pending_off += n;
        if (ws->pending_off == ws->pending_len) {
            free(ws->pending);
            ws->pending = NULL;
            ws->pending_len = ws->pending_off = 0;
        }
        return (ssize_t)n;
    }
    ssize_t n;
    do {
        n = recv(ws->fd, buf, len, 0);
    } while (n < 0 && errno == EINTR);
    if (n > 0)
        return n;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    } else {
        ws->eof = true;
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    }
    return -1;
}

static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *user)
{
    silk__gw_ws *ws = user;
    int sflags = MSG_NOSIGNAL | ((flags & WSLAY_MSG_MORE) ? MSG_MORE : 0);
    ssize_t n;
    do {
        n = send(ws->fd, data, len, sflags);
    } while (n < 0 && errno == EINTR);
    if (n >= 0)
        return n;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    } else {
        ws->eof = true;
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    }
    return -1;
}

static void on_msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *m,
                      void *user)
{
    silk__gw_ws *ws = user;
    (void)ctx;
    /* wslay answers pings and close frames itself; pongs only prove the client is alive,
     * which the caller sees as bytes read. */
    if ((m->opcode == WSLAY_TEXT_FRAME || m->opcode == WSLAY_BINARY_FRAME) &&
        ws->cb.on_message != NULL)
        ws->cb.on_message(ws->arg, m->opcode == WSLAY_BINARY_FRAME, m->msg, m->msg_length);
}

static const struct wslay_event_callbacks wslay_callbacks = {
    .recv_callback = recv_cb,
    .send_callback = send_cb,
    .on_msg_recv_callback = on_msg_cb,
};

/* ============================================================================
 * The connection
 * ========================================================================== */

silk__gw_ws *silk__gw_ws_new(int fd, const silk__gw_ws_callbacks *cb, void *arg,
                             const silk__gw_ws_opts *opts, char *pending, size_t pending_len)
{
    silk__gw_ws *ws = calloc(1, sizeof *ws);
    if (ws == NULL || wslay_event_context_server_init(&ws->ctx, &wslay_callbacks, ws) != 0) {
        free(ws);
        free(pending);
        return NULL;
    }
    ws->fd = fd;
    ws->cb = *cb;
    ws->arg = arg;
    uint64_t max_message =
        opts && opts->max_message ? opts->max_message : SILK__GW_WS_DEFAULT_MAX_MESSAGE;
    ws->max_queued = opts && opts->max_queued ? opts->max_queued : SILK__GW_WS_DEFAULT_MAX_QUEUED;
    wslay_event_config_set_max_recv_msg_length(ws->ctx, max_message);
    if (pending_len > 0) {
        ws->pending = pending;
        ws->pending_len = pending_len;
    } else {
        free(pending);
    }
    return ws;
}

void silk__gw_ws_free(silk__gw_ws *ws)
{
    if (ws == NULL)
        return;
    wslay_event_context_free(ws->ctx);
    free(ws->pending);
    free(ws);
}

int silk__gw_ws_read(silk__gw_ws *ws)
{
    if (!wslay_event_want_read(ws->ctx))
        return ws->eof ? -1 : 0;
    int rv = wslay_event_recv(ws->ctx);
    /* A protocol error, an oversized message or bad UTF-8 is not an error here: wslay has
     * queued the close frame with the right code and stopped reading. */
    return rv == 0 && !ws->eof ? 0 : -1;
}

/* queue_close queues a close frame now: wslay sends it ahead of any message still queued. */
static int queue_close(silk__gw_ws *ws, uint16_t code, const char *reason)
{
    size_t len = strlen(reason);
    if (len > 123)
        len = 123;
    int rv = wslay_event_queue_close(ws->ctx, code, (const uint8_t *)reason, len);
    if (rv == WSLAY_ERR_NOMEM) {
        /* No memory for a close frame: stop talking to the client at all. */
        wslay_event_shutdown_read(ws->ctx);
        wslay_event_shutdown_write(ws->ctx);
        return SILK__GW_WS_ERR_NOMEM;
    }
    return rv == 0 ? 0 : SILK__GW_WS_ERR_CLOSING;
}

int silk__gw_ws_write(silk__gw_ws *ws)
{
    int rv = wslay_event_send(ws->ctx);
    if (rv == 0 && ws->close_code != 0 && wslay_event_get_queued_msg_count(ws->ctx) == 0) {
        /* The messages queued before the close are out: now the close frame. */
        queue_close(ws, ws->close_code, ws->close_reason);
        ws->close_code = 0;
        rv = wslay_event_send(ws->ctx);
    }
    return rv == 0 && !ws->eof ? 0 : -1;
}

static int queue(silk__gw_ws *ws, uint8_t opcode, const void *data, size_t len)
{
    if (ws->closing || wslay_event_get_close_sent(ws->ctx) ||
        !wslay_event_get_write_enabled(ws->ctx))
        return SILK__GW_WS_ERR_CLOSING;
    if (wslay_event_get_queued_msg_length(ws->ctx) + len > ws->max_queued) {
        /* Too slow: close at once rather than wait for the backlog to drain. */
        ws->closing = true;
        queue_close(ws, WSLAY_CODE_POLICY_VIOLATION, "send queue full");
        return SILK__GW_WS_ERR_QUEUE_FULL;
    }
    struct wslay_event_msg msg = {.opcode = opcode, .msg = data, .msg_length = len};
    switch (wslay_event_queue_msg(ws->ctx, &msg)) {
    case 0:
        return 0;
    case WSLAY_ERR_NOMEM:
        return SILK__GW_WS_ERR_NOMEM;
    default:
        return SILK__GW_WS_ERR_CLOSING;
    }
}

int silk__gw_ws_send(silk__gw_ws *ws, int binary, const void *data, size_t len)
{
    return queue(ws, binary ? WSLAY_BINARY_FRAME : WSLAY_TEXT_FRAME, data, len);
}

int silk__gw_ws_ping(silk__gw_ws *ws)
{
    return queue(ws, WSLAY_PING, NULL, 0);
}

int silk__gw_ws_close(silk__gw_ws *ws, uint16_t code, const char *reason)
{
    if (ws->closing || wslay_event_get_close_sent(ws->ctx))
        return SILK__GW_WS_ERR_CLOSING;
    ws->closing = true;
    if (wslay_event_get_queued_msg_count(ws->ctx) > 0) {
        ws->close_code = code;
        snprintf(ws->close_reason, sizeof ws->close_reason, "%s", reason ? reason : "");
        return 0;
    }
    return queue_close(ws, code, reason ? reason : "");
}

bool silk__gw_ws_want_read(const silk__gw_ws *ws)
{
    return wslay_event_want_read(ws->ctx);
}

bool silk__gw_ws_want_write(const silk__gw_ws *ws)
{
    return wslay_event_want_write(ws->ctx);
}

bool silk__gw_ws_finished(const silk__gw_ws *ws)
{
    return ws->eof || (!wslay_event_want_read(ws->ctx) && !wslay_event_want_write(ws->ctx));
}

uint16_t silk__gw_ws_close_sent(const silk__gw_ws *ws)
{
    return wslay_event_get_close_sent(ws->ctx) ? wslay_event_get_status_code_sent(ws->ctx) : 0;
}

uint16_t silk__gw_ws_close_received(const silk__gw_ws *ws)
{
    return wslay_event_get_close_received(ws->ctx) ? wslay_event_get_status_code_received(ws->ctx)
                                                   : 0;
}
