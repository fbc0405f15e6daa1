/* stream_conn.c - a framed connection over an nng stream: batched sends, one receive, safe
 * teardown. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transport/nng/stream_conn.h"
#include "wire/header.h"

/* The receive buffer's usual size; it grows for a longer frame and shrinks back after. */
#define IN_DEFAULT (64u << 10)
/* A send buffer larger than this is given back once sent. */
#define OUT_KEEP (1u << 20)
/* While corked, queued frames still go out once this many bytes wait, so that the peer can
 * start on the first part of a batch while the rest is produced (measured in BENCHMARKS.md:
 * 1 KiB and 4 KiB did worse than 2 KiB). */
#define CORK_FLUSH 2048u
/* A receive callback reads at most this many more batches at once (recv_now) before it lets
 * the poller wake it for the next, so that one busy connection cannot keep a taskq thread. */
#define RECV_NOW_ROUNDS 16

static void recv_cb(void *arg);
static void send_cb(void *arg);
static void unlock_flush(silk__stream_conn *c);

silk_status silk__stream_conn_init(silk__stream_conn *c, const silk__stream_conn_ops *ops,
                                   uint32_t max_frame)
{
    memset(c, 0, sizeof *c);
    c->ops = ops;
    c->max_frame = max_frame;
    atomic_init(&c->refs, 1);
    if (!silk__frame_in_resize(&c->in, IN_DEFAULT))
        return SILK_RESOURCE_EXHAUSTED;
    if (nng_aio_alloc(&c->recv_aio, recv_cb, c) != 0 ||
        nng_aio_alloc(&c->send_aio, send_cb, c) != 0 ||
        nng_aio_alloc(&c->quick_aio, NULL, NULL) != 0 ||
        nng_aio_alloc(&c->quick_recv_aio, NULL, NULL) != 0) {
        nng_aio_free(c->recv_aio);
        nng_aio_free(c->send_aio);
        nng_aio_free(c->quick_aio);
        free(c->in.buf);
        return SILK_RESOURCE_EXHAUSTED;
    }
    silk__mutex_init(&c->mu);
    return SILK_OK;
}

void silk__stream_conn_fini(silk__stream_conn *c)
{
    nng_aio_free(c->recv_aio);
    nng_aio_free(c->send_aio);
    nng_aio_free(c->quick_aio);
    nng_aio_free(c->quick_recv_aio);
    if (c->stream != NULL)
        nng_stream_free(c->stream);
    free(c->in.buf);
    free(c->out);
    free(c->next);
    silk__mutex_destroy(&c->mu);
}

/* ============================== lifetime ============================== */

/* reap runs on the reaper thread once nothing references c: no receive is outstanding then
 * (it holds a reference), and stopping the send aio waits for its callback. */
static void reap(void *arg)
{
    silk__stream_conn *c = arg;
    silk__stream_conn_close(c, SILK_CANCELLED, "connection released");
    nng_aio_stop(c->recv_aio);
    nng_aio_stop(c->send_aio);
    nng_aio_stop(c->quick_aio);
    nng_aio_stop(c->quick_recv_aio);
    c->ops->fini(c);
}

void silk__stream_conn_hold(silk__stream_conn *c)
{
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

void silk__stream_conn_rele(silk__stream_conn *c)
{
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
        silk__reap(&c->reap, reap, c);
}

void silk__stream_conn_close(silk__stream_conn *c, silk_status st, const char *fmt, ...)
{
    char why[sizeof c->why];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);

    silk__mutex_lock(&c->mu);
    if (c->closed) {
        silk__mutex_unlock(&c->mu);
        return;
    }
    c->closed = true;
    memcpy(c->why, why, sizeof why);
    if (c->stream != NULL)
        nng_stream_close(c->stream); /* fails the pending receive and send; does not block */
    silk__mutex_unlock(&c->mu);
    c->ops->closed(c, st, why);
}

void silk__stream_conn_lock(silk__stream_conn *c)
{
    silk__mutex_lock(&c->mu);
}

void silk__stream_conn_unlock(silk__stream_conn *c)
{
    unlock_flush(c); /* what was queued under the mutex leaves now */
}

bool silk__stream_conn_closed_locked(const silk__stream_conn *c)
{
    SILK__ASSERT_HELD(&c->mu);
    return c->closed;
}

/* ============================== receiving ============================== */

/* recv_into asks the stream, with aio, for more bytes into the free end of the receive
 * buffer. */
static void recv_into(silk__stream_conn *c, nng_aio *aio)
{
    nng_iov iov = {.iov_buf = c->in.buf + c->in.len, .iov_len = c->in.cap - c->in.len};
    nng_aio_set_iov(aio, 1, &iov);
    nng_stream_recv(c->stream, aio);
}

/* start_recv asks for more bytes, with recv_aio: its callback runs when they come. */
static void start_recv(silk__stream_conn *c)
{
    recv_into(c, c->recv_aio);
}

/* settle_quick ends an operation just started on aio, which has no callback: nng's tcp and
 * ipc streams do it at once when their queue is empty and complete it where they did, or
 * queue it for the poller, from which the cancel takes it back. The wait ends at once: the
 * operation has completed, is completing under nng's own lock, or was cancelled. Returns its
 * nng result (NNG_ECANCELED when nothing was done). */
static int settle_quick(nng_aio *aio)
{
    if (nng_aio_count(aio) == 0 && nng_aio_result(aio) == 0)
        nng_aio_cancel(aio); /* still queued, or just done */
    nng_aio_wait(aio);
    return nng_aio_result(aio);
}

silk_status silk__stream_conn_attach(silk__stream_conn *c, nng_stream *s)
{
    silk__mutex_lock(&c->mu);
    if (c->closed) {
        silk__mutex_unlock(&c->mu);
        nng_stream_free(s);
        return SILK_UNAVAILABLE;
    }
    c->stream = s;
    /* nng's TLS stream cannot take back a send it queued behind its handshake (cancelling it
     * aborts the TCP send under it instead, which may not be there): its sends all go with
     * send_aio. */
    bool verified;
    c->quick = nng_stream_get_bool(s, NNG_OPT_TLS_VERIFIED, &verified) != 0;
    silk__stream_conn_hold(c); /* the receive loop's reference */
    start_recv(c);
    unlock_flush(c); /* frames queued before the stream was there go out now */
    return SILK_OK;
}

/* consume hands every whole frame in the buffer to the owner and keeps the rest. It returns
 * false, having closed c, when the stream cannot be decoded. */
static bool consume(silk__stream_conn *c)
{
    size_t off = 0;
    silk__frame f;
    int rc = SILK__IN_MORE;
    while ((rc = silk__frame_in_next(&c->in, &off, c->max_frame, &f)) > 0) {
        if (rc == SILK__IN_FRAME)
            c->ops->frame(c, &f);
        else
            c->ops->too_big(c, &f);
    }
    if (rc == SILK__IN_NOMEM) {
        silk__stream_conn_close(c, SILK_RESOURCE_EXHAUSTED, "out of memory for a frame");
        return false;
    }
    if (rc < 0) {
        silk__stream_conn_close(c, SILK_UNAVAILABLE, "protocol error: bad frame (%d)", rc);
        return false;
    }
    silk__frame_in_consumed(&c->in, off);
    if (c->in.len == 0 && c->in.cap > IN_DEFAULT)
        silk__frame_in_resize(&c->in, IN_DEFAULT); /* shrinking cannot fail in a way that matters */
    return true;
}

/* lost closes c after its receive or send failed with the nng error rv, which the owner's
 * closed hook finds in c->nng_error (a TLS handshake's failure, for one). */
static void lost(silk__stream_conn *c, int rv)
{
    silk__mutex_lock(&c->mu);
    if (!c->closed)
        c->nng_error = rv;
    silk__mutex_unlock(&c->mu);
    silk__stream_conn_close(c, SILK_UNAVAILABLE, "connection lost: %s", nng_strerror(rv));
}

/* recv_now reads what the socket holds now into the receive buffer, on this thread, and tells
 * whether it read anything. nng's stream reads at once when no receive is queued, but completes
 * a callback aio on a taskq thread: a wake-up per batch, though the bytes were there. So the
 * read goes through quick_recv_aio, which has no callback and completes where it reads; when
 * the socket is empty it is cancelled (settle_quick) and the caller waits with recv_aio as
 * before. Not on TLS streams (c->quick is false there). */
static bool recv_now(silk__stream_conn *c)
{
    if (!c->quick)
        return false;
    recv_into(c, c->quick_recv_aio);
    if (settle_quick(c->quick_recv_aio) != 0)
        return false; /* cancelled, or a failure recv_aio will meet too */
    c->in.len += nng_aio_count(c->quick_recv_aio);
    return true;
}

/* handle_batch hands the owner every whole frame received, corked: replies (inline handlers)
 * and new calls (completions) made meanwhile leave in one send at its end, not the first alone
 * and the rest after its completion. False when c was closed for a stream it cannot decode. */
static bool handle_batch(silk__stream_conn *c)
{
    silk__mutex_lock(&c->mu);
    c->corked = true;
    silk__mutex_unlock(&c->mu);
    bool ok = consume(c);
    silk__mutex_lock(&c->mu);
    c->corked = false;
    unlock_flush(c); /* the batch's replies and calls leave in one send, first */
    return ok;
}

static void recv_cb(void *arg)
{
    silk__stream_conn *c = arg;
    int rv = nng_aio_result(c->recv_aio);
    if (rv != 0) {
        lost(c, rv);
        silk__stream_conn_rele(c);
        return;
    }
    c->in.len += nng_aio_count(c->recv_aio);
    bool ok = handle_batch(c);
    for (int round = 1; ok && round < RECV_NOW_ROUNDS && recv_now(c); round++)
        ok = handle_batch(c);
    if (!ok) {
        silk__stream_conn_rele(c);
        return;
    }
    /* Under the mutex: a receive started on a stream closed meanwhile would never end (nng
     * fails the receives queued when it closes, not those queued after). */
    silk__mutex_lock(&c->mu);
    bool closed = c->closed;
    if (!closed)
        start_recv(c);
    silk__mutex_unlock(&c->mu);
    if (closed)
        silk__stream_conn_rele(c);
}

/* ============================== sending ============================== */

/* A send is owned by the thread that set c->sending: it writes c->out without the mutex,
 * so that frames queued meanwhile (other workers' replies) gather in c->next and leave
 * together in the next write - which that thread makes when its own is done. */

/* take_batch_locked moves the frames queued to c->out for a send, when none is in flight,
 * unless the connection is corked and less than CORK_FLUSH bytes wait; true when the caller
 * now owns the send and is to write it. */
static bool take_batch_locked(silk__stream_conn *c)
{
    SILK__ASSERT_HELD(&c->mu);
    if (c->sending || c->closed || c->stream == NULL || c->next_len == 0)
        return false;
    if (c->corked && c->next_len < CORK_FLUSH)
        return false;
    uint8_t *buf = c->out;
    size_t cap = c->out_cap;
    c->out = c->next;
    c->out_cap = c->next_cap;
    c->out_len = c->next_len;
    c->out_off = 0;
    c->next = buf;
    c->next_cap = cap;
    c->next_len = 0;
    c->sending = true;
    return true;
}

/* sent_locked ends the send in flight, all of it written. */
static void sent_locked(silk__stream_conn *c)
{
    SILK__ASSERT_HELD(&c->mu);
    c->sending = false;
    c->out_len = c->out_off = 0;
    if (c->out_cap > OUT_KEEP) {
        free(c->out);
        c->out = NULL;
        c->out_cap = 0;
    }
}

/* send_rest hands what is left of the send in flight to send_aio, whose callback runs once
 * the socket had room for it (or the stream failed). */
static void send_rest(silk__stream_conn *c)
{
    nng_iov iov = {.iov_buf = c->out + c->out_off, .iov_len = c->out_len - c->out_off};
    nng_aio_set_iov(c->send_aio, 1, &iov);
    nng_stream_send(c->stream, c->send_aio);
}

/* write_now writes the send this thread owns, without the mutex, and tells whether all of it
 * was written. nng's stream writes at once when its queue is empty, but completes a callback
 * aio on a taskq thread: a wake-up per send, for nothing. So the write goes through quick_aio,
 * which has no callback and completes where it is written. When nng could not write it all
 * (the socket is full; a cancelled quick_aio wrote nothing) the rest goes with send_aio.
 * TLS streams cannot take back a queued send (settle_quick), and send with send_aio only. */
static bool write_now(silk__stream_conn *c)
{
    if (!c->quick) {
        send_rest(c);
        return false;
    }
    nng_iov iov = {.iov_buf = c->out + c->out_off, .iov_len = c->out_len - c->out_off};
    nng_aio_set_iov(c->quick_aio, 1, &iov);
    nng_stream_send(c->stream, c->quick_aio);
    if (settle_quick(c->quick_aio) == 0)
        c->out_off += nng_aio_count(c->quick_aio);
    if (c->out_off == c->out_len)
        return true;
    send_rest(c); /* its callback handles the rest - or the failure */
    return false;
}

/* unlock_flush releases c's mutex, first writing what is queued when no send is in flight,
 * and again whatever was queued while it wrote. */
static void unlock_flush(silk__stream_conn *c)
{
    while (take_batch_locked(c)) {
        silk__mutex_unlock(&c->mu);
        bool all = write_now(c);
        silk__mutex_lock(&c->mu);
        if (!all)
            break; /* send_aio's now */
        sent_locked(c);
    }
    silk__mutex_unlock(&c->mu);
}

/* unlock_send_later releases c's mutex, handing what is queued, when no send is in flight,
 * to send_aio: its completion hop on nng's taskq is the time in which more frames gather for
 * the next send, which its callback writes. */
static void unlock_send_later(silk__stream_conn *c)
{
    if (take_batch_locked(c))
        send_rest(c);
    silk__mutex_unlock(&c->mu);
}

silk_status silk__stream_conn_send_locked(silk__stream_conn *c, uint8_t kind, uint64_t call_id,
                                          const ProtobufCMessage *header,
                                          const ProtobufCMessage *payload)
{
    SILK__ASSERT_HELD(&c->mu);
    if (c->closed)
        return SILK_UNAVAILABLE;
    size_t hlen = header != NULL ? silk__header_size(header) : 0;
    size_t plen = payload != NULL ? protobuf_c_message_get_packed_size(payload) : 0;
    size_t size = silk__frame_size(hlen, plen);
    if (size - 4 > c->max_frame)
        return SILK_RESOURCE_EXHAUSTED;
    if (c->next_len + (c->out_len - c->out_off) + size > SILK__STREAM_CONN_MAX_QUEUED ||
        !silk__frame_out_reserve(&c->next, &c->next_cap, c->next_len + size))
        return SILK_RESOURCE_EXHAUSTED;
    c->next_len +=
        silk__frame_encode(c->next + c->next_len, kind, call_id, header, hlen, payload, plen);
    return SILK_OK; /* written at the unlock */
}

silk_status silk__stream_conn_send(silk__stream_conn *c, uint8_t kind, uint64_t call_id,
                                   const ProtobufCMessage *header, const ProtobufCMessage *payload,
                                   bool more_coming)
{
    silk__mutex_lock(&c->mu);
    silk_status st = silk__stream_conn_send_locked(c, kind, call_id, header, payload);
    if (more_coming)
        unlock_send_later(c);
    else
        unlock_flush(c);
    return st;
}

static void send_cb(void *arg)
{
    silk__stream_conn *c = arg;
    int rv = nng_aio_result(c->send_aio);
    silk__mutex_lock(&c->mu);
    if (rv != 0) {
        c->sending = false;
        silk__mutex_unlock(&c->mu);
        lost(c, rv);
        return;
    }
    c->out_off += nng_aio_count(c->send_aio);
    if (c->out_off < c->out_len && !c->closed) {
        send_rest(c); /* a partial write */
        silk__mutex_unlock(&c->mu);
        return;
    }
    sent_locked(c);
    unlock_flush(c);
}

bool silk__stream_conn_idle(silk__stream_conn *c)
{
    silk__mutex_lock(&c->mu);
    bool idle = !c->sending && c->next_len == 0;
    silk__mutex_unlock(&c->mu);
    return idle;
}
