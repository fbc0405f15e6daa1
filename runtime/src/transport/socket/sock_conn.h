/* sock_conn.h - a framed connection on a non-blocking socket that the caller's event loop
 * watches: the transport of loop channels (loop/loop_channel.c).
 *
 * A sock conn connects without blocking to a numeric tcp:// address or an ipc:// path, asks
 * the loop through silk_loop_ops.io to watch its descriptor, encodes the frames it is given
 * into one output buffer written when the socket is writable - or, with a loop that flushes
 * (silk_loop_ops.flushes), when the loop flushes it before it next waits - so that the frames
 * queued during one turn of the loop leave in one send(), and hands every whole frame it reads
 * to its owner.
 * It is embedded first in its owner, as a stream conn is (transport/nng/stream_conn.h), and
 * everything here runs on the loop's thread.
 *
 * A close is deferred while the connection is held - while it hands frames to its owner, or
 * while the owner holds it - so that no caller finds its connection freed under it: the close
 * is pending (silk__sock_conn_closing) and happens at the last release. */
#ifndef SILK_SRC_SOCK_CONN_H
#define SILK_SRC_SOCK_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <silk/loop_channel.h>
#include <silk/status.h>

#include "wire/frame.h"

/* SILK__SOCK_CONN_MAX_QUEUED bounds the bytes waiting to be written on one connection: past
 * it the peer has stopped reading, and new frames are refused. */
#define SILK__SOCK_CONN_MAX_QUEUED (16u << 20)

typedef struct silk__sock_conn silk__sock_conn;

/* silk__sock_conn_ops are the owner's hooks, all called on the loop's thread. */
typedef struct silk__sock_conn_ops {
    /* connected runs once connect() has completed; for a connection made at once (a unix
     * socket), before silk__sock_conn_open returns. */
    void (*connected)(silk__sock_conn *k);
    /* dial_failed runs when connect() failed; k then closes with SILK_UNAVAILABLE. */
    void (*dial_failed)(silk__sock_conn *k);
    /* frame receives one whole frame; f points into k's input and is valid only during the
     * call. The owner may send on k and close it from here. */
    void (*frame)(silk__sock_conn *k, const silk__frame *f);
    /* too_big is told of a frame longer than the limit, whose rest k then skips. */
    void (*too_big)(silk__sock_conn *k, const silk__frame *f);
    /* closed runs once, when k has closed: its descriptor is no longer watched and is
     * closed, its buffers are freed, k->connected still tells whether it was ever made. The
     * owner frees itself, k with it; why is valid during the call. */
    void (*closed)(silk__sock_conn *k, silk_status st, const char *why);
} silk__sock_conn_ops;

struct silk__sock_conn {
    const silk__sock_conn_ops *ops;
    silk_loop_ops loop;
    uint32_t max_frame; /* the longest frame sent or accepted, its length field excluded */
    int fd;
    void *io_state;     /* the loop's watcher */
    int events;         /* what the loop watches fd for */
    bool connected;     /* connect() has completed */
    unsigned holds;     /* silk__sock_conn_hold calls not yet released */
    bool close_pending; /* to be closed once nothing holds it */
    silk_status close_st;
    char close_why[96];
    uint8_t *out; /* frames not yet written: out[out_off..out_len) */
    size_t out_off, out_len, out_cap;
    bool unflushed;    /* frames wait for silk__sock_conn_flush (a loop that flushes) */
    silk__frame_in in; /* bytes read, not yet a whole frame */
};

/* silk__sock_conn_address_ok tells whether a sock conn can connect to address: a numeric
 * tcp:// address or an ipc:// path. */
bool silk__sock_conn_address_ok(const char *address);

/* silk__sock_conn_open starts connecting k (zeroed, in its owner's memory) to address and has
 * the loop watch it; frames are limited to max_frame bytes. False, with nothing to close, when
 * address is neither a numeric tcp:// address nor an ipc:// path, no descriptor can be had,
 * memory is exhausted or the connection is refused at once. On true, k is the owner's to close
 * (silk__sock_conn_close); should the loop not watch it, k is left closing and the owner's
 * next release closes it. */
bool silk__sock_conn_open(silk__sock_conn *k, const silk__sock_conn_ops *ops,
                          const silk_loop_ops *loop, const char *address, uint32_t max_frame);

/* silk__sock_conn_send encodes one frame of header and payload (either may be NULL) into k's
 * output, written with whatever else is queued by then: at the next silk__sock_conn_flush when
 * the loop flushes and k is connected and has nothing waiting for the socket, else once the
 * socket is writable, on the loop's next turn. False when the frame exceeds the limit,
 * SILK__SOCK_CONN_MAX_QUEUED bytes wait already, or memory is exhausted. */
bool silk__sock_conn_send(silk__sock_conn *k, uint8_t kind, uint64_t call_id,
                          const ProtobufCMessage *header, const ProtobufCMessage *payload);

/* silk__sock_conn_flush writes the frames queued for it as far as the socket takes them, and
 * has the loop report the socket writable for the rest. It returns whether it wrote anything;
 * k may be closed - freed - when it returns true. */
bool silk__sock_conn_flush(silk__sock_conn *k);

/* silk__sock_conn_ready handles the loop's word that k's descriptor is ready (a mask of
 * SILK_LOOP_READ and SILK_LOOP_WRITE): it finishes a connect, writes what is queued, reads and
 * hands over whole frames. k may be closed - freed - when it returns. */
void silk__sock_conn_ready(silk__sock_conn *k, int ready);

/* silk__sock_conn_hold defers every close of k until the matching silk__sock_conn_release,
 * which carries out a close that came meanwhile (k may be freed by it). */
void silk__sock_conn_hold(silk__sock_conn *k);
void silk__sock_conn_release(silk__sock_conn *k);

/* silk__sock_conn_close closes k with st and why: at once when nothing holds it (ops->closed
 * runs before it returns), else at the last release. A close pending keeps its first reason. */
void silk__sock_conn_close(silk__sock_conn *k, silk_status st, const char *why);

/* silk__sock_conn_closing tells whether a close is pending on k: nothing more is to be done
 * with it. */
bool silk__sock_conn_closing(const silk__sock_conn *k);

#endif /* SILK_SRC_SOCK_CONN_H */
