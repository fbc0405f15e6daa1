/* stream_conn.h - one framed connection over an nng stream, shared by the server and the channel.
 *
 * A stream conn reads with one outstanding receive into a large buffer and hands every whole frame
 * to its owner, on nng's callback thread. Frames to send are encoded straight into a queue
 * and written from the thread that queued them when no send is in flight (no nng thread is
 * woken for it); whatever was queued while a send was in flight goes out in the next one. The
 * stream conn is embedded in its owner (the server's connection, the channel's peer) and reference
 * counted; when the last reference goes, the reaper stops its aios and calls the owner's fini,
 * which calls silk__stream_conn_fini and frees the owner. */
#ifndef SILK_SRC_STREAM_CONN_H
#define SILK_SRC_STREAM_CONN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nng/nng.h>

#include <silk/status.h>

#include "core/mutex.h"
#include "core/reap.h"
#include "wire/frame.h"

/* SILK__STREAM_CONN_MAX_QUEUED bounds the bytes waiting to be sent on one connection. */
#define SILK__STREAM_CONN_MAX_QUEUED (64u << 20)

typedef struct silk__stream_conn silk__stream_conn;

/* silk__stream_conn_ops are the owner's hooks. */
typedef struct silk__stream_conn_ops {
    /* frame receives one whole frame, on nng's receive callback; f points into the receive
     * buffer and is valid only during the call. It must not block. */
    void (*frame)(silk__stream_conn *c, const silk__frame *f);
    /* too_big is told of a frame longer than the limit, which the stream conn then skips. */
    void (*too_big)(silk__stream_conn *c, const silk__frame *f);
    /* closed runs once when the stream conn closes, on the thread that closed it. */
    void (*closed)(silk__stream_conn *c, silk_status st, const char *why);
    /* fini runs on the reaper once the last reference is gone and the stream conn's aios are
     * stopped: it stops the owner's own aios, calls silk__stream_conn_fini and frees the owner. */
    void (*fini)(silk__stream_conn *c);
} silk__stream_conn_ops;

struct silk__stream_conn {
    const silk__stream_conn_ops *ops;
    silk__mutex mu;
    atomic_uint refs;
    uint32_t max_frame; /* the longest frame accepted or sent, its length field excluded */
    nng_aio *recv_aio;
    nng_aio *send_aio;  /* sends that must wait for room in the socket: completes on nng's taskq */
    nng_aio *quick_aio; /* sends written at once, with no callback (write_now) */
    nng_aio *quick_recv_aio; /* receives read at once, with no callback (recv_now) */
    silk__reap_node reap;

    /* Under mu. */
    bool closed;
    bool quick; /* quick_aio and quick_recv_aio may be used: tcp or ipc, not TLS (set at attach) */
    char why[256]; /* why it closed */
    int nng_error; /* the nng error of the receive or send that closed it; 0: another cause */
    bool sending;
    /* The receive callback is handing a batch of frames to the owner: frames queued
     * meanwhile are held (up to CORK_FLUSH bytes) and go out together when it is done. */
    bool corked;
    nng_stream *stream;
    uint8_t *out; /* being sent: out[out_off..out_len) */
    size_t out_len;
    size_t out_off;
    size_t out_cap;
    uint8_t *next; /* queued for the next send */
    size_t next_len;
    size_t next_cap;

    /* Touched only by the receive callback. */
    silk__frame_in in;
};

/* silk__stream_conn_init initialises c with one reference (the caller's) and no stream yet; frames
 * sent before silk__stream_conn_attach are queued. SILK_RESOURCE_EXHAUSTED when memory is exhausted
 * (c then needs no fini). */
silk_status silk__stream_conn_init(silk__stream_conn *c, const silk__stream_conn_ops *ops,
                                   uint32_t max_frame);

/* silk__stream_conn_fini frees what c holds (its aios must be stopped); for the owner's fini. */
void silk__stream_conn_fini(silk__stream_conn *c);

/* silk__stream_conn_attach gives c its stream (c owns it in every case), starts receiving and sends
 * what was queued. SILK_UNAVAILABLE when c was closed meanwhile (the stream is freed). */
silk_status silk__stream_conn_attach(silk__stream_conn *c, nng_stream *s);

/* silk__stream_conn_hold takes a reference; silk__stream_conn_rele drops one, and the last hands c
 * to the reaper. Neither blocks. */
void silk__stream_conn_hold(silk__stream_conn *c);
void silk__stream_conn_rele(silk__stream_conn *c);

/* silk__stream_conn_close closes c (once: later calls do nothing): its stream is closed, pending
 * I/O fails, ops->closed runs on this thread with st and the formatted reason. The caller
 * holds a reference or otherwise knows c is alive. It does not block. */
void silk__stream_conn_close(silk__stream_conn *c, silk_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* silk__stream_conn_lock and silk__stream_conn_unlock take c's mutex, which owners use for their
 * own per-connection state (the channel's table of calls) so that it changes atomically with the
 * stream conn's closed flag and send queue. The unlock writes what was queued, after releasing
 * the mutex (the caller's state may change from then on: an answer may come at once). */
void silk__stream_conn_lock(silk__stream_conn *c);
void silk__stream_conn_unlock(silk__stream_conn *c);

/* silk__stream_conn_closed_locked tells whether c is closed; c's mutex is held. */
bool silk__stream_conn_closed_locked(const silk__stream_conn *c);

/* silk__stream_conn_send_locked queues one frame of header and payload (either may be NULL),
 * which silk__stream_conn_unlock writes, from its thread, when no send is in flight then;
 * c's mutex is held. SILK_UNAVAILABLE when c is closed,
 * SILK_RESOURCE_EXHAUSTED when the frame exceeds the limit, the queue is full or memory is
 * exhausted. */
silk_status silk__stream_conn_send_locked(silk__stream_conn *c, uint8_t kind, uint64_t call_id,
                                          const ProtobufCMessage *header,
                                          const ProtobufCMessage *payload);

/* silk__stream_conn_send is silk__stream_conn_send_locked taking and releasing c's mutex. With
 * more_coming (the caller has more frames for c on their way: a worker with jobs queued) a
 * send it starts goes by nng's completion hop, in which the next frames gather, rather than
 * being written at once. */
silk_status silk__stream_conn_send(silk__stream_conn *c, uint8_t kind, uint64_t call_id,
                                   const ProtobufCMessage *header, const ProtobufCMessage *payload,
                                   bool more_coming);

/* silk__stream_conn_idle tells whether c has nothing queued or in flight to send. */
bool silk__stream_conn_idle(silk__stream_conn *c);

#endif /* SILK_SRC_STREAM_CONN_H */
