/* frames.c - one WebSocket connection's framing: a wslay event context on a non-blocking stream.
 *
 * A wslay event context holds two 4 KiB buffers, so an idle session would cost ~9 KiB. A
 * session hibernates instead: when the loop's sweep finds that everything the client sent has
 * been handled up to a message boundary and nothing is queued for it, its context is freed.
 * (The sweep, not every read and write, decides, so that a busy session does not free and
 * rebuild its context for every message.) At a message boundary a context has no state
 * worth keeping. To know where the boundaries are, every byte handed to wslay also goes
 * through a small frame-header tracker.
 *
 * A hibernating session does not wake for what needs no wslay: a message or ping for it (up
 * to 16 KiB of them) is framed straight into its buffer of bytes waiting for the socket, and
 * pings and pongs from the client are answered or taken without it. Waking costs ~8.6 KiB for
 * half a second; a push to every session of a loop would wake them all at once, and the heap
 * could not give the memory back once anything long-lived came to lie above it (glibc only
 * returns the top of its heap), so an idle gateway would keep the peak of its last push. Data
 * from the client, a close, or a backlog wakes a context.
 *
 * wslay runs without buffering data messages (it would make four allocations for each): the
 * frame callbacks assemble a message into the session's receive buffer, kept from one message
 * to the next while it is small, and freed when the session hibernates. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wslay/wslay.h>

#include "ws/frames.h"

/* Where the bytes handed to wslay stand in the client's frames. */
typedef struct frame_tracker {
    uint64_t payload_left; /* bytes of the current frame's payload still to come */
    uint8_t hdr[14];       /* the header read so far */
    uint8_t hdr_len;
    bool fragmented; /* a data message has begun and its final frame has not come */
    bool bad;        /* a header wslay's frame layer refuses without a close code */
} frame_tracker;

/* A data message from the client being assembled. Its lengths live with its bytes, so that an
 * idle session, which has none, keeps its framing state as small as before. */
typedef struct recv_buf {
    size_t len; /* bytes of the message so far (of the last one, once it is handed on) */
    size_t cap; /* room for data */
    uint8_t data[];
} recv_buf;

struct silk__gw_ws {
    wslay_event_context_ptr ctx; /* NULL while hibernating */
    silk__gw_io *io;
    silk__gw_ws_callbacks cb;
    void *arg;
    uint64_t max_message;
    size_t max_queued;
    frame_tracker in;
    recv_buf *rx;       /* NULL when none is kept */
    size_t read_budget; /* bytes this silk__gw_ws_read may still take from the socket */
    char *pending;      /* read before the handshake finished, handed to wslay first */
    size_t pending_len, pending_off;
    /* Framed bytes waiting for the socket, sent before anything wslay writes: what a write
     * left over, or messages framed while hibernating. */
    uint8_t *unsent;
    size_t unsent_len;
    bool unsent_offered; /* unsent has been offered to the stream: no more may join it */
    bool drained;        /* wslay's last read found the socket empty */
    bool dry;            /* the last recv() took less than asked: the next would find nothing */
    bool rx_control;     /* the frame wslay reads is a control frame: its payload is wslay's */
    bool rx_refused;     /* the message is over max_message or out of memory: never delivered */
    bool eof;            /* the socket reached EOF or failed */
    bool closing;        /* we queued a close frame, or will once the messages before it are out */
    bool held;           /* bytes of the connection wait elsewhere: no frame may leave at once */
    uint16_t close_code; /* a close frame waiting for the messages queued before it */
    char close_reason[124];
};

/* ============================================================================
 * The frame tracker: RFC 6455 5.2 headers, just enough to find message boundaries.
 * ========================================================================== */

/* header_size returns the size of a frame header whose first two bytes are b. */
static size_t header_size(const uint8_t b[2])
{
    size_t n = 2 + ((b[1] & 0x80) ? 4 : 0);
    uint8_t len7 = b[1] & 0x7f;
    return n + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0);
}

static void header_done(frame_tracker *t)
{
    uint8_t len7 = t->hdr[1] & 0x7f, opcode = t->hdr[0] & 0x0f;
    uint64_t len = len7;
    if (len7 == 126)
        len = ((uint64_t)t->hdr[2] << 8) | t->hdr[3];
    else if (len7 == 127)
        for (int i = 0; i < 8; i++)
            len = (len << 8) | t->hdr[2 + i];
    if (opcode < 8) /* continuation, text or binary; control frames leave messages alone */
        t->fragmented = !(t->hdr[0] & 0x80);
    else if (!(t->hdr[0] & 0x80) || len7 > 125) /* RFC 6455 5.5: control frames are short */
        t->bad = true;
    else if (opcode == 8 && len7 == 1) /* 5.5.1: a close body is empty or starts with a code */
        t->bad = true;
    if (len7 == 127 && (t->hdr[2] & 0x80)) /* 5.2: the most significant bit must be 0 */
        t->bad = true;
    t->payload_left = len;
    t->hdr_len = 0;
}

/* track follows len bytes handed to wslay. */
static void track(frame_tracker *t, const uint8_t *p, size_t len)
{
    while (len > 0) {
        if (t->payload_left > 0) {
            size_t n = len < t->payload_left ? len : (size_t)t->payload_left;
            t->payload_left -= n;
            p += n;
            len -= n;
            continue;
        }
        t->hdr[t->hdr_len++] = *p++;
        len--;
        if (t->hdr_len >= 2 && t->hdr_len == header_size(t->hdr))
            header_done(t);
    }
}

static bool at_message_boundary(const frame_tracker *t)
{
    return t->payload_left == 0 && t->hdr_len == 0 && !t->fragmented;
}

/* ============================================================================
 * wslay callbacks: the socket's bytes in and out, and complete messages.
 * ========================================================================== */

/* check_bad queues the close frame with 1002 for a header wslay's frame layer refuses: wslay
 * itself would queue one without a code and give up on the connection. */
static void check_bad(wslay_event_context_ptr ctx, silk__gw_ws *ws)
{
    if (ws->in.bad && !ws->closing) {
        ws->closing = true;
        wslay_event_queue_close(ctx, WSLAY_CODE_PROTOCOL_ERROR, NULL, 0);
    }
}

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user)
{
    silk__gw_ws *ws = user;
    (void)flags;
    if (ws->pending_off < ws->pending_len) {
        size_t n = ws->pending_len - ws->pending_off;
        if (n > len)
            n = len;
        memcpy(buf, ws->pending + ws->pending_off, n);
        track(&ws->in, buf, n);
        check_bad(ctx, ws);
        ws->drained = false;
        ws->pending_off += n;
        if (ws->pending_off == ws->pending_len) {
            free(ws->pending);
            ws->pending = NULL;
            ws->pending_len = ws->pending_off = 0;
        }
        return (ssize_t)n;
    }
    if (ws->dry) {
        /* Spare the recv() that would say EAGAIN: the loop comes back if more arrives. */
        ws->dry = false;
        ws->drained = true;
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t held = ws->read_budget == 0 ? silk__gw_io_pending(ws->io) : 0;
    if (ws->read_budget == 0 && held == 0) {
        /* Enough for this turn, or paused: the loop comes back while the socket is readable. */
        ws->drained = false;
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    /* Past the budget, still take what TLS has decrypted (one record at most): the socket
     * would never say it is there. */
    size_t cap = ws->read_budget > 0 ? ws->read_budget : held;
    if (len > cap)
        len = cap;
    ssize_t n = silk__gw_io_read(ws->io, buf, len);
    if (n > 0) {
        ws->read_budget -= ws->read_budget > 0 ? (size_t)n : 0;
        track(&ws->in, buf, (size_t)n);
        check_bad(ctx, ws);
        ws->drained = ws->dry = (size_t)n < len;
        return n;
    }
    if (n == SILK__GW_IO_AGAIN) {
        ws->drained = true;
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    } else {
        ws->eof = true;
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    }
    return -1;
}

/* The frames wslay writes during one silk__gw_ws_write (headers and payloads, several
 * messages) gather here and leave in one send(). One buffer per loop thread. */
static _Thread_local uint8_t gather[16 * 1024];
static _Thread_local size_t gathered;

/* send_some sends what it can of data: the bytes sent, or -1 with ws->eof set when the
 * connection failed (0 when the socket is full). */
static ssize_t send_some(silk__gw_ws *ws, const uint8_t *data, size_t len)
{
    ssize_t n = silk__gw_io_write(ws->io, data, len);
    if (n >= 0)
        return n;
    if (n == SILK__GW_IO_AGAIN)
        return 0;
    ws->eof = true;
    return -1;
}

/* flush_gathered sends the gathered bytes and keeps what the socket did not take in
 * ws->unsent: 0 when all went, 1 when some wait, -1 when the connection failed or memory ran
 * out. */
static int flush_gathered(silk__gw_ws *ws)
{
    size_t len = gathered;
    gathered = 0;
    ssize_t n = len > 0 ? send_some(ws, gather, len) : 0;
    if (n < 0 || (size_t)n == len)
        return n < 0 ? -1 : 0;
    ws->unsent = malloc(len - (size_t)n);
    if (ws->unsent == NULL) {
        ws->eof = true;
        return -1;
    }
    memcpy(ws->unsent, gather + n, len - (size_t)n);
    ws->unsent_len = len - (size_t)n;
    ws->unsent_offered = true;
    return 1;
}

/* send_unsent sends the bytes waiting in ws->unsent: 0 when all went, 1 when some wait, -1
 * when the connection failed. */
static int send_unsent(silk__gw_ws *ws)
{
    ssize_t n = send_some(ws, ws->unsent, ws->unsent_len);
    if (n < 0)
        return -1;
    ws->unsent_len -= (size_t)n;
    if (ws->unsent_len > 0) {
        memmove(ws->unsent, ws->unsent + n, ws->unsent_len);
        ws->unsent_offered = true; /* a TLS stream must be offered these bytes again, as they are */
        return 1;
    }
    free(ws->unsent);
    ws->unsent = NULL;
    ws->unsent_offered = false;
    return 0;
}

/* ============================================================================
 * Frames without wslay, for a hibernating session
 * ========================================================================== */

/* The most bytes a hibernating session frames into ws->unsent (messages, pings, pongs) rather
 * than wake: as much as one write gathers, so that a close frame still overtakes all but this
 * much of a backlog, and a large message goes through wslay, whose context costs little
 * beside it. */
#define ASLEEP_QUEUED_MAX (16 * 1024)

/* What a hibernating session reads before it knows whether it needs wslay: a client's whole
 * control frame (2 bytes of header, a 4-byte mask, 125 bytes). */
#define ASLEEP_READ (2 + 4 + 125)

/* can_frame_asleep tells whether len bytes of payload can be framed into ws->unsent now. */
static bool can_frame_asleep(const silk__gw_ws *ws, size_t len)
{
    return ws->ctx == NULL && !ws->unsent_offered && !ws->closing &&
           ws->unsent_len + 10 + len <= ASLEEP_QUEUED_MAX;
}

/* frame_header writes the header of an unfragmented server frame (unmasked) of len bytes
 * into hdr (10 bytes): its length. */
static size_t frame_header(uint8_t hdr[10], uint8_t opcode, size_t len)
{
    size_t h = 0;
    hdr[h++] = 0x80 | opcode;
    if (len < 126) {
        hdr[h++] = (uint8_t)len;
    } else if (len < 65536) {
        hdr[h++] = 126;
        hdr[h++] = (uint8_t)(len >> 8);
        hdr[h++] = (uint8_t)len;
    } else {
        hdr[h++] = 127;
        for (int i = 7; i >= 0; i--)
            hdr[h++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    return h;
}

/* can_send_now tells whether a frame of len bytes of payload may leave at once, ahead of
 * nothing: no bytes wait, wslay (when awake) has nothing queued or half sent and may still
 * write, and the loop's gather buffer is free (no silk__gw_ws_write is under way). */
static bool can_send_now(const silk__gw_ws *ws, size_t len)
{
    if (ws->held || ws->unsent != NULL || gathered != 0 || len + 10 > sizeof gather || ws->closing)
        return false;
    return ws->ctx == NULL ||
           (!wslay_event_want_write(ws->ctx) && wslay_event_get_write_enabled(ws->ctx) &&
            !wslay_event_get_close_sent(ws->ctx) && ws->close_code == 0);
}

/* send_now sends one unfragmented server frame at once, framed in the loop's gather buffer,
 * keeping only what the socket does not take in ws->unsent: a message to a session with
 * nothing waiting allocates nothing. It returns 0 (ws->eof set when the connection failed),
 * or SILK__GW_WS_ERR_NOMEM. */
static int send_now(silk__gw_ws *ws, uint8_t opcode, const void *data, size_t len)
{
    size_t h = frame_header(gather, opcode, len);
    if (len > 0)
        memcpy(gather + h, data, len);
    gathered = h + len;
    return flush_gathered(ws) < 0 && !ws->eof ? SILK__GW_WS_ERR_NOMEM : 0;
}

/* frame_asleep frames one unfragmented server frame of a hibernating session: at once when
 * it can, else after ws->unsent. It returns 0 (ws->eof set when the connection failed), or
 * SILK__GW_WS_ERR_NOMEM. */
static int frame_asleep(silk__gw_ws *ws, uint8_t opcode, const void *data, size_t len)
{
    if (can_send_now(ws, len))
        return send_now(ws, opcode, data, len);
    uint8_t hdr[10];
    size_t h = frame_header(hdr, opcode, len);
    uint8_t *grown = realloc(ws->unsent, ws->unsent_len + h + len);
    if (grown == NULL)
        return SILK__GW_WS_ERR_NOMEM;
    memcpy(grown + ws->unsent_len, hdr, h);
    if (len > 0)
        memcpy(grown + ws->unsent_len + h, data, len);
    ws->unsent = grown;
    ws->unsent_len += h + len;
    return 0;
}

/* control_only tells whether p[0..len) is whole pings and pongs from a client and nothing else:
 * final, masked, no RSV bit, at most 125 bytes each (anything else, wslay judges). */
static bool control_only(const uint8_t *p, size_t len)
{
    while (len > 0) {
        if (len < 6 || (p[0] != (0x80 | WSLAY_PING) && p[0] != (0x80 | WSLAY_PONG)) ||
            !(p[1] & 0x80) || (p[1] & 0x7f) > 125 || (size_t)(6 + (p[1] & 0x7f)) > len)
            return false;
        size_t n = 6 + (p[1] & 0x7f);
        p += n;
        len -= n;
    }
    return true;
}

/* answer_pings frames a pong for each ping in p[0..len), whole pings and pongs: 0, or
 * SILK__GW_WS_ERR_NOMEM. Pongs only prove the client is alive, which the caller has seen. */
static int answer_pings(silk__gw_ws *ws, const uint8_t *p, size_t len)
{
    while (len > 0) {
        size_t plen = p[1] & 0x7f;
        if (p[0] == (0x80 | WSLAY_PING)) {
            uint8_t payload[125];
            for (size_t i = 0; i < plen; i++)
                payload[i] = p[6 + i] ^ p[2 + i % 4];
            if (frame_asleep(ws, WSLAY_PONG, payload, plen) != 0)
                return SILK__GW_WS_ERR_NOMEM;
        }
        p += 6 + plen;
        len -= 6 + plen;
    }
    return 0;
}

static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *user)
{
    silk__gw_ws *ws = user;
    (void)flags;
    if (ws->unsent != NULL) { /* the socket is full: nothing may overtake what waits */
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (len > sizeof gather - gathered) {
        int rv = flush_gathered(ws);
        if (rv != 0) {
            wslay_event_set_error(ctx, rv > 0 ? WSLAY_ERR_WOULDBLOCK : WSLAY_ERR_CALLBACK_FAILURE);
            return -1;
        }
    }
    if (len <= sizeof gather) {
        memcpy(gather + gathered, data, len);
        gathered += len;
        return (ssize_t)len;
    }
    ssize_t n = send_some(ws, data, len); /* larger than the buffer: straight out */
    if (n > 0)
        return n;
    wslay_event_set_error(ctx, n == 0 ? WSLAY_ERR_WOULDBLOCK : WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

/* The smallest receive buffer, and the largest one a session keeps after a message: a larger
 * one goes when its message has been handed on, so that only small buffers stay. */
#define RECV_MIN  512
#define RECV_KEEP (64 * 1024)

static int queue_close(silk__gw_ws *ws, uint16_t code, const char *reason);

/* recv_reserve makes room for need bytes of message in ws->rx, doubling what it has (up to
 * max_message, which need never passes): 0, or -1 when memory is exhausted. */
static int recv_reserve(silk__gw_ws *ws, size_t need)
{
    size_t cap = ws->rx != NULL ? ws->rx->cap : 0;
    if (need <= cap)
        return 0;
    for (cap = cap > 0 ? cap : RECV_MIN; cap < need; cap *= 2)
        ;
    if (cap > ws->max_message)
        cap = (size_t)ws->max_message;
    recv_buf *grown = realloc(ws->rx, sizeof *grown + cap);
    if (grown == NULL)
        return -1;
    if (ws->rx == NULL)
        grown->len = 0;
    grown->cap = cap;
    ws->rx = grown;
    return 0;
}

/* recv_drop frees ws->rx. */
static void recv_drop(silk__gw_ws *ws)
{
    free(ws->rx);
    ws->rx = NULL;
}

/* refuse_message stops reading a message that cannot be taken: with 1009 when it is over
 * max_message, as wslay would for one frame over it; without a word when memory is exhausted,
 * dropping the connection as wslay does. */
static void refuse_message(wslay_event_context_ptr ctx, silk__gw_ws *ws, bool too_big)
{
    ws->rx_refused = true;
    wslay_event_shutdown_read(ctx);
    if (!too_big) {
        ws->eof = true;
        return;
    }
    ws->closing = true;
    queue_close(ws, WSLAY_CODE_MESSAGE_TOO_BIG, "");
}

/* on_frame_start_cb notes whether the frame wslay begins is a control frame and, for a data
 * frame, makes room in ws->rx for its payload. wslay checks each frame against max_message,
 * not the sum of a message's frames: that is checked here. */
static void on_frame_start_cb(wslay_event_context_ptr ctx,
                              const struct wslay_event_on_frame_recv_start_arg *f, void *user)
{
    silk__gw_ws *ws = user;
    ws->rx_control = wslay_is_ctrl_frame(f->opcode);
    if (ws->rx_control)
        return;
    if (f->opcode != WSLAY_CONTINUATION_FRAME && ws->rx != NULL)
        ws->rx->len = 0; /* a new message */
    size_t len = ws->rx != NULL ? ws->rx->len : 0;
    if (f->payload_length > ws->max_message - len)
        refuse_message(ctx, ws, true);
    else if (recv_reserve(ws, len + (size_t)f->payload_length) != 0)
        refuse_message(ctx, ws, false);
}

/* on_frame_chunk_cb appends a data frame's bytes to the message (wslay has checked a text
 * message's UTF-8 up to their end); a control frame's are wslay's. */
static void on_frame_chunk_cb(wslay_event_context_ptr ctx,
                              const struct wslay_event_on_frame_recv_chunk_arg *c, void *user)
{
    silk__gw_ws *ws = user;
    (void)ctx;
    if (ws->rx_control || ws->rx_refused || c->data_length == 0)
        return;
    memcpy(ws->rx->data + ws->rx->len, c->data, c->data_length);
    ws->rx->len += c->data_length;
}

/* on_msg_cb hands a complete data message on; the callee borrows ws->rx until it returns. */
static void on_msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *m,
                      void *user)
{
    static const uint8_t no_bytes[1];
    silk__gw_ws *ws = user;
    (void)ctx;
    /* wslay answers pings and close frames itself; pongs only prove the client is alive,
     * which the caller sees as bytes read. */
    if ((m->opcode != WSLAY_TEXT_FRAME && m->opcode != WSLAY_BINARY_FRAME) || ws->rx_refused)
        return;
    const uint8_t *data = ws->rx != NULL ? ws->rx->data : no_bytes;
    size_t len = ws->rx != NULL ? ws->rx->len : 0;
    if (ws->cb.on_message != NULL)
        ws->cb.on_message(ws->arg, m->opcode == WSLAY_BINARY_FRAME, data, len);
    if (ws->rx != NULL && ws->rx->cap > RECV_KEEP)
        recv_drop(ws);
}

static const struct wslay_event_callbacks wslay_callbacks = {
    .recv_callback = recv_cb,
    .send_callback = send_cb,
    .on_frame_recv_start_callback = on_frame_start_cb,
    .on_frame_recv_chunk_callback = on_frame_chunk_cb,
    .on_msg_recv_callback = on_msg_cb,
};

/* ============================================================================
 * The connection
 * ========================================================================== */

/* wake gives a hibernating session a fresh wslay context: 0, or -1 when memory is exhausted. */
static int wake(silk__gw_ws *ws)
{
    if (ws->ctx != NULL)
        return 0;
    if (wslay_event_context_server_init(&ws->ctx, &wslay_callbacks, ws) != 0) {
        ws->ctx = NULL;
        return -1;
    }
    wslay_event_config_set_max_recv_msg_length(ws->ctx, ws->max_message);
    wslay_event_config_set_no_buffering(ws->ctx, 1); /* messages are assembled in ws->rx */
    return 0;
}

void silk__gw_ws_hibernate(silk__gw_ws *ws)
{
    if (ws->ctx == NULL || !ws->drained || ws->pending != NULL || ws->unsent != NULL || ws->eof ||
        ws->closing || !at_message_boundary(&ws->in) || !wslay_event_want_read(ws->ctx) ||
        wslay_event_want_write(ws->ctx) || wslay_event_get_queued_msg_count(ws->ctx) != 0 ||
        wslay_event_get_close_sent(ws->ctx) || wslay_event_get_close_received(ws->ctx))
        return;
    wslay_event_context_free(ws->ctx);
    ws->ctx = NULL;
    recv_drop(ws); /* an idle session keeps no receive buffer */
}

void silk__gw_ws_hold(silk__gw_ws *ws, bool held)
{
    ws->held = held;
}

void silk__gw_ws_pause(silk__gw_ws *ws)
{
    ws->read_budget = 0;
}

bool silk__gw_ws_hibernating(const silk__gw_ws *ws)
{
    return ws->ctx == NULL;
}

size_t silk__gw_ws_recv_kept(const silk__gw_ws *ws)
{
    return ws->rx != NULL ? ws->rx->cap : 0;
}

silk__gw_ws *silk__gw_ws_new(silk__gw_io *io, const silk__gw_ws_callbacks *cb, void *arg,
                             const silk__gw_ws_opts *opts, char *pending, size_t pending_len)
{
    silk__gw_ws *ws = calloc(1, sizeof *ws);
    if (ws == NULL) {
        free(pending);
        return NULL;
    }
    ws->io = io;
    ws->cb = *cb;
    ws->arg = arg;
    ws->max_message =
        opts && opts->max_message ? opts->max_message : SILK__GW_WS_DEFAULT_MAX_MESSAGE;
    ws->max_queued = opts && opts->max_queued ? opts->max_queued : SILK__GW_WS_DEFAULT_MAX_QUEUED;
    ws->drained = true;
    if (pending_len > 0 && wake(ws) != 0) {
        free(ws);
        free(pending);
        return NULL;
    }
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
    if (ws->ctx != NULL)
        wslay_event_context_free(ws->ctx);
    free(ws->pending);
    free(ws->unsent);
    free(ws->rx);
    free(ws);
}

/* read_asleep reads for a hibernating session. When what it read is pings and pongs it
 * answers them without wslay and returns 1; else it wakes the session with the bytes read as
 * pending, for wslay, and returns 0. It returns -1 when the connection is gone. */
static int read_asleep(silk__gw_ws *ws)
{
    uint8_t buf[ASLEEP_READ];
    ssize_t n = silk__gw_io_read(ws->io, buf, sizeof buf);
    if (n == SILK__GW_IO_AGAIN)
        return 1;
    if (n <= 0) {
        ws->eof = true;
        return -1;
    }
    size_t got = (size_t)n;
    if (got < sizeof buf && can_frame_asleep(ws, got) && control_only(buf, got))
        return answer_pings(ws, buf, got) == 0 ? 1 : -1;
    if (wake(ws) != 0 || (ws->pending = malloc(got)) == NULL)
        return -1;
    memcpy(ws->pending, buf, got);
    ws->pending_len = got;
    ws->pending_off = 0;
    ws->read_budget -= got;
    ws->dry = got < sizeof buf; /* the socket is most likely empty */
    return 0;
}

int silk__gw_ws_read(silk__gw_ws *ws)
{
    ws->read_budget = SILK__GW_WS_READ_BUDGET;
    ws->dry = false;
    if (ws->ctx == NULL) {
        int asleep = read_asleep(ws);
        if (asleep != 0)
            return asleep < 0 ? -1 : 0;
    }
    if (!wslay_event_want_read(ws->ctx))
        return ws->eof ? -1 : 0;
    int rv = wslay_event_recv(ws->ctx);
    /* A protocol error, an oversized message or bad UTF-8 is not an error here: wslay has
     * queued the close frame with the right code and stopped reading. A header its frame
     * layer refuses fails the call, with our close frame queued: send it. */
    if (rv == WSLAY_ERR_CALLBACK_FAILURE && ws->in.bad && !ws->eof)
        return 0;
    return rv != 0 || ws->eof ? -1 : 0;
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
    int left = ws->unsent != NULL ? send_unsent(ws) : 0;
    if (left != 0 || ws->ctx == NULL)
        return left < 0 ? -1 : 0;
    gathered = 0;
    int rv = wslay_event_send(ws->ctx);
    if (rv == 0 && ws->close_code != 0 && wslay_event_get_queued_msg_count(ws->ctx) == 0) {
        /* The messages queued before the close are out: now the close frame. */
        queue_close(ws, ws->close_code, ws->close_reason);
        ws->close_code = 0;
        rv = wslay_event_send(ws->ctx);
    }
    if (flush_gathered(ws) < 0)
        return -1;
    return rv != 0 || ws->eof ? -1 : 0;
}

/* queue queues a message or a ping: framed into ws->unsent while the session hibernates,
 * else given to wslay. */
static int queue(silk__gw_ws *ws, uint8_t opcode, const void *data, size_t len)
{
    if (ws->closing)
        return SILK__GW_WS_ERR_CLOSING;
    if (ws->ctx != NULL &&
        (wslay_event_get_close_sent(ws->ctx) || !wslay_event_get_write_enabled(ws->ctx)))
        return SILK__GW_WS_ERR_CLOSING;
    size_t queued = ws->unsent_len + (ws->ctx ? wslay_event_get_queued_msg_length(ws->ctx) : 0);
    if (queued + len > ws->max_queued) {
        /* Too slow: close at once rather than wait for the backlog to drain. */
        if (wake(ws) != 0) {
            ws->eof = true; /* no memory even to say goodbye: drop the connection */
            return SILK__GW_WS_ERR_NOMEM;
        }
        ws->closing = true;
        if (!ws->unsent_offered) { /* frames of a hibernating session wslay would not send now */
            free(ws->unsent);
            ws->unsent = NULL;
            ws->unsent_len = 0;
        }
        queue_close(ws, WSLAY_CODE_POLICY_VIOLATION, "send queue full");
        return SILK__GW_WS_ERR_QUEUE_FULL;
    }
    if (can_send_now(ws, len))
        return send_now(ws, opcode, data, len);
    if (can_frame_asleep(ws, len))
        return frame_asleep(ws, opcode, data, len);
    if (wake(ws) != 0)
        return SILK__GW_WS_ERR_NOMEM;
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

bool silk__gw_ws_close_code_sendable(uint32_t code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
           (code >= 3000 && code <= 4999);
}

int silk__gw_ws_close(silk__gw_ws *ws, uint16_t code, const char *reason)
{
    if (ws->closing || (ws->ctx != NULL && wslay_event_get_close_sent(ws->ctx)))
        return SILK__GW_WS_ERR_CLOSING;
    if (wake(ws) != 0) {
        ws->eof = true; /* no memory even to say goodbye: drop the connection */
        return SILK__GW_WS_ERR_NOMEM;
    }
    ws->closing = true;
    if (wslay_event_get_queued_msg_count(ws->ctx) > 0) {
        ws->close_code = code;
        snprintf(ws->close_reason, sizeof ws->close_reason, "%s", reason ? reason : "");
        return 0;
    }
    return queue_close(ws, code, reason ? reason : "");
}

/* wslay stops reading once it has queued a close frame of its own (for the client's close, a
 * protocol error, a message too large, bad UTF-8), and writing once it has sent one. */
bool silk__gw_ws_closing(const silk__gw_ws *ws)
{
    return ws->closing ||
           (ws->ctx != NULL &&
            (!wslay_event_get_read_enabled(ws->ctx) || !wslay_event_get_write_enabled(ws->ctx) ||
             wslay_event_get_close_sent(ws->ctx) || wslay_event_get_close_received(ws->ctx)));
}

/* A hibernating session is open and reading; it writes what waits in ws->unsent. */

bool silk__gw_ws_want_read(const silk__gw_ws *ws)
{
    return ws->ctx == NULL || wslay_event_want_read(ws->ctx);
}

bool silk__gw_ws_want_write(const silk__gw_ws *ws)
{
    return ws->unsent != NULL || (ws->ctx != NULL && wslay_event_want_write(ws->ctx));
}

bool silk__gw_ws_finished(const silk__gw_ws *ws)
{
    return ws->eof || (ws->ctx != NULL && ws->unsent == NULL && !wslay_event_want_read(ws->ctx) &&
                       !wslay_event_want_write(ws->ctx));
}

uint16_t silk__gw_ws_close_sent(const silk__gw_ws *ws)
{
    return ws->ctx != NULL && wslay_event_get_close_sent(ws->ctx)
               ? wslay_event_get_status_code_sent(ws->ctx)
               : 0;
}

uint16_t silk__gw_ws_close_received(const silk__gw_ws *ws)
{
    return ws->ctx != NULL && wslay_event_get_close_received(ws->ctx)
               ? wslay_event_get_status_code_received(ws->ctx)
               : 0;
}
