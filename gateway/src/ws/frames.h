/* frames.h - one WebSocket connection's framing: a wslay event context on a non-blocking stream
 * (a socket, or TLS over it). */
#ifndef SILK_GATEWAY_WS_H
#define SILK_GATEWAY_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn/io.h"

/* silk__gw_ws frames messages on a stream that belongs to the caller (conn/io.h): the caller
 * watches the socket (libev) for what the stream's want flags and silk__gw_ws_want_read() /
 * silk__gw_ws_want_write() ask, calls silk__gw_ws_read() when it is readable (or the stream
 * holds bytes already) and silk__gw_ws_write() when it is writable, and closes the socket once
 * silk__gw_ws_finished() says so. Text messages are checked for UTF-8 (1007),
 * messages over the limit are refused (1009), protocol errors close with 1002, pings are
 * answered, and a close frame from the client is answered with the same code. */
typedef struct silk__gw_ws silk__gw_ws;

typedef struct silk__gw_ws_callbacks {
    /* A complete message from the client; binary is 0 for text. data (never NULL, even when
     * len is 0) lives until return: it is the session's receive buffer, reused. */
    void (*on_message)(void *arg, int binary, const uint8_t *data, size_t len);
} silk__gw_ws_callbacks;

typedef struct silk__gw_ws_opts {
    uint64_t max_message; /* largest message accepted, bytes: 1 MiB when 0 */
    size_t max_queued;    /* bytes queued for the client before it counts as too slow */
} silk__gw_ws_opts;

#define SILK__GW_WS_DEFAULT_MAX_MESSAGE (1024 * 1024)
#define SILK__GW_WS_DEFAULT_MAX_QUEUED  (8 * 1024 * 1024)

/* Bytes one silk__gw_ws_read takes from the socket at most, so that a client sending without
 * pause cannot keep its loop from the other connections. */
#define SILK__GW_WS_READ_BUDGET (256 * 1024)

/* Errors of silk__gw_ws_send and friends. */
#define SILK__GW_WS_ERR_CLOSING    (-1) /* a close frame is queued or sent: no more messages */
#define SILK__GW_WS_ERR_QUEUE_FULL (-2) /* the client is too slow: closing it with 1008 */
#define SILK__GW_WS_ERR_NOMEM      (-3)

/* silk__gw_ws_new makes the framing for io, a connected non-blocking stream whose handshake is
 * done, which must outlive the ws. pending (may be NULL) holds bytes already read from io after
 * the handshake: they are read before the stream; the ws takes them and frees them with free().
 * It returns NULL when memory is exhausted (pending is freed then too). cb and arg are kept. */
silk__gw_ws *silk__gw_ws_new(silk__gw_io *io, const silk__gw_ws_callbacks *cb, void *arg,
                             const silk__gw_ws_opts *opts, char *pending, size_t pending_len);

/* silk__gw_ws_free frees ws; it does not close the socket. NULL is ignored. */
void silk__gw_ws_free(silk__gw_ws *ws);

/* silk__gw_ws_read reads and handles what the client sent, calling on_message for each message.
 * It returns 0, or -1 when the connection is gone (EOF or a socket error): close it now. */
int silk__gw_ws_read(silk__gw_ws *ws);

/* silk__gw_ws_hold tells ws whether other bytes of its connection wait to be written (the
 * 101 of its handshake): while held, every frame waits for silk__gw_ws_write, none leaves at
 * once, so nothing overtakes them. */
void silk__gw_ws_hold(silk__gw_ws *ws, bool held);

/* silk__gw_ws_pause makes the silk__gw_ws_read in progress (called from on_message) stop
 * taking bytes from the socket; it may still hand on a few messages wslay has read already. */
void silk__gw_ws_pause(silk__gw_ws *ws);

/* silk__gw_ws_write sends what is queued until the socket would block. It returns 0, or -1 when
 * the connection is gone. */
int silk__gw_ws_write(silk__gw_ws *ws);

/* silk__gw_ws_send queues one message (copied). It returns 0, or SILK__GW_WS_ERR_*. */
int silk__gw_ws_send(silk__gw_ws *ws, int binary, const void *data, size_t len);

/* silk__gw_ws_ping queues a ping. It returns 0, or SILK__GW_WS_ERR_*. */
int silk__gw_ws_ping(silk__gw_ws *ws);

/* silk__gw_ws_close_code_sendable tells whether a server may send code in a close frame
 * (RFC 6455 7.4): 1000-1003 and 1007-1011 for endpoints, 3000-4999 for uses. */
bool silk__gw_ws_close_code_sendable(uint32_t code);

/* silk__gw_ws_close closes the session with code and reason (cut to 123 bytes): it stops taking
 * messages, sends the close frame after the messages already queued, and the connection
 * finishes when the client answers. It returns 0, or SILK__GW_WS_ERR_CLOSING when the session
 * is closing already. */
int silk__gw_ws_close(silk__gw_ws *ws, uint16_t code, const char *reason);

/* silk__gw_ws_closing tells whether the session has begun closing and takes no more messages:
 * a close frame is queued, waits for the messages before it, or has been sent, whoever queued
 * it (silk__gw_ws_close, a slow consumer's 1008, or wslay answering the client's close frame,
 * a protocol error, an oversized message or bad UTF-8). */
bool silk__gw_ws_closing(const silk__gw_ws *ws);

/* silk__gw_ws_want_read / silk__gw_ws_want_write tell what the connection still wants from the
 * socket. */
bool silk__gw_ws_want_read(const silk__gw_ws *ws);
bool silk__gw_ws_want_write(const silk__gw_ws *ws);

/* silk__gw_ws_finished tells whether nothing is left to read or write: close the socket. */
bool silk__gw_ws_finished(const silk__gw_ws *ws);

/* silk__gw_ws_hibernate frees the session's wslay context when it holds nothing worth keeping:
 * every byte read is handled up to a message boundary, nothing is queued, and the session is
 * open. A hibernating session answers pings and sends messages of up to 16 KiB without one;
 * a message from the client, a close or a backlog makes a fresh one. */
void silk__gw_ws_hibernate(silk__gw_ws *ws);

/* silk__gw_ws_hibernating tells whether the session holds no wslay context just now: it is at a
 * message boundary, and what it has to send is at most a few framed messages, pings or pongs
 * (a hibernating session frames those itself); for tests. */
bool silk__gw_ws_hibernating(const silk__gw_ws *ws);

/* silk__gw_ws_recv_kept returns the room of the buffer the session keeps for the messages it
 * receives, 0 when it keeps none (hibernating, or after a message of over 64 KiB); for tests. */
size_t silk__gw_ws_recv_kept(const silk__gw_ws *ws);

/* silk__gw_ws_close_sent returns the code of the close frame sent, or 0 when none was sent. */
uint16_t silk__gw_ws_close_sent(const silk__gw_ws *ws);

/* silk__gw_ws_close_received returns the code of the client's close frame, or 0. */
uint16_t silk__gw_ws_close_received(const silk__gw_ws *ws);

#endif /* SILK_GATEWAY_WS_H */
