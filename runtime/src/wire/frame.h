/* frame.h - silk's wire frames, encoded and decoded in memory, free of I/O.
 *
 * A frame is `u32 length of the rest | u8 kind | u64 call id | varint header length | header
 * | payload`, integers big-endian. The header is a silk.rpc.RequestHeader or ResponseHeader,
 * the payload the message, both serialized by protobuf-c (docs/PROTOCOL.md). */
#ifndef SILK_SRC_FRAME_H
#define SILK_SRC_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include <silk/status.h>

#include "silk/rpc.pb-c.h"

/* The kinds of frame, as rpc.proto's FrameKind numbers them. */
enum {
    SILK__FRAME_REQUEST = SILK__RPC__FRAME_KIND__FRAME_KIND_REQUEST,
    SILK__FRAME_RESPONSE = SILK__RPC__FRAME_KIND__FRAME_KIND_RESPONSE,
    SILK__FRAME_CANCEL = SILK__RPC__FRAME_KIND__FRAME_KIND_CANCEL,
    SILK__FRAME_PING = SILK__RPC__FRAME_KIND__FRAME_KIND_PING,
    SILK__FRAME_PONG = SILK__RPC__FRAME_KIND__FRAME_KIND_PONG,
};

/* SILK__FRAME_PREFIX is the fixed start of every frame: length, kind and call id. */
#define SILK__FRAME_PREFIX 13
/* SILK__FRAME_MAX_HEAD is the most bytes before the header: the prefix and a 5-byte varint. */
#define SILK__FRAME_MAX_HEAD (SILK__FRAME_PREFIX + 5)
/* SILK__FRAME_HEADER_ROOM is what a frame may hold on top of a message of the largest size
 * allowed: the frame's limit is the message limit plus this much. */
#define SILK__FRAME_HEADER_ROOM (64u << 10)
/* SILK__MAX_MESSAGE_DEFAULT is the message limit unless configured otherwise: 4 MiB. */
#define SILK__MAX_MESSAGE_DEFAULT (4u << 20)

/* silk__frame is a decoded frame; header and payload point into the decoded buffer. */
typedef struct silk__frame {
    uint8_t kind;
    uint64_t call_id;
    size_t size; /* the whole frame, its length field included */
    const uint8_t *header;
    size_t header_len;
    const uint8_t *payload;
    size_t payload_len;
} silk__frame;

/* What silk__frame_decode returns besides a positive count of bytes consumed. */
enum {
    SILK__FRAME_MORE = 0,        /* the buffer holds no whole frame yet */
    SILK__FRAME_TOO_BIG = -1,    /* longer than the limit; kind, call id and size are set */
    SILK__FRAME_BAD_KIND = -2,   /* a kind rpc.proto does not know */
    SILK__FRAME_BAD_HEADER = -3, /* too short, bad varint, or header longer than the frame */
};

/* silk__frame_size returns the size of a frame with a header of hlen and a payload of plen
 * bytes, its length field included. */
size_t silk__frame_size(size_t hlen, size_t plen);

/* silk__frame_encode writes a whole frame into buf, which has silk__frame_size(hlen, plen)
 * bytes: header and payload (either may be NULL for an empty one), hlen being the header's
 * silk__header_size() (wire/header.h) and plen the payload's
 * protobuf_c_message_get_packed_size(). It returns the bytes written. The caller checks the
 * size against the peer's limit. */
size_t silk__frame_encode(uint8_t *buf, uint8_t kind, uint64_t call_id,
                          const ProtobufCMessage *header, size_t hlen,
                          const ProtobufCMessage *payload, size_t plen);

/* silk__frame_decode decodes the frame at the start of buf[0..len). It returns the bytes the
 * frame takes (> 0) with *f filled; SILK__FRAME_MORE when the frame is not whole yet, with
 * f->size set to the size it will have once the prefix is there (0 before); or an error.
 * A frame whose length exceeds max_len is refused with SILK__FRAME_TOO_BIG as soon as its
 * prefix is there, so that no buffer is ever grown for it; f->size then says how many bytes
 * to skip to the next frame. Other errors leave the stream unusable. */
long silk__frame_decode(const uint8_t *buf, size_t len, uint32_t max_len, silk__frame *f);

/* silk__frame_in is a connection's input: the bytes read and not yet handled (a frame not
 * yet whole), and how much of a refused frame is still to be skipped. */
typedef struct silk__frame_in {
    uint8_t *buf;
    size_t len;
    size_t cap;
    size_t skip;
} silk__frame_in;

/* What silk__frame_in_next finds. */
enum {
    SILK__IN_MORE = 0,    /* no whole frame from off on: read more (room is made for it) */
    SILK__IN_FRAME = 1,   /* a whole frame */
    SILK__IN_TOO_BIG = 2, /* a frame over the limit: its prefix is in f, the rest is skipped */
    SILK__IN_NOMEM = -1,  /* no memory for a frame that is coming */
    /* Any other negative value is silk__frame_decode's SILK__FRAME_BAD_*: the stream cannot
     * be decoded. */
};

/* silk__frame_in_next finds the next frame in in->buf from *off on, skipping what is left of
 * a refused frame, and advances *off past what it consumed. Frames point into in->buf, valid
 * until silk__frame_in_consumed. On SILK__IN_MORE the buffer has room for a frame whose
 * length is known, once the bytes before *off are dropped. */
int silk__frame_in_next(silk__frame_in *in, size_t *off, uint32_t max_len, silk__frame *f);

/* silk__frame_in_consumed drops the first off bytes. */
void silk__frame_in_consumed(silk__frame_in *in, size_t off);

/* silk__frame_in_resize makes the buffer cap bytes (at least len); false when memory is
 * exhausted (it is left as it was). */
bool silk__frame_in_resize(silk__frame_in *in, size_t cap);

/* silk__frame_out_reserve makes a connection's output buffer *buf, of *cap bytes, hold at
 * least want bytes, doubling its capacity from 4 KiB; false when memory is exhausted (it is
 * left as it was). */
bool silk__frame_out_reserve(uint8_t **buf, size_t *cap, size_t want);

/* silk__response is a response frame decoded for a call: its status, and on SILK_OK its
 * message. */
typedef struct silk__response {
    silk_status st;
    ProtobufCMessage *msg; /* on SILK_OK: the response; with msg_mem NULL the receiver's to free */
    const char *message;   /* "" on SILK_OK; else why, valid until silk__response_fini */
    Silk__Rpc__ResponseHeader *header;
    ProtobufCAllocator *header_mem;
} silk__response;

/* silk__response_decode decodes the response frame f of a call whose response type is
 * output, its header with header_mem (a scratch on the caller's stack; NULL: malloc), its
 * message with msg_mem (NULL: malloc, the receiver's to free; else it lives as long as that
 * scratch). A header or a message that does not decode makes the status SILK_INTERNAL. */
void silk__response_decode(silk__response *r, const silk__frame *f,
                           const ProtobufCMessageDescriptor *output, ProtobufCAllocator *header_mem,
                           ProtobufCAllocator *msg_mem);

/* silk__response_fini frees what silk__response_decode kept but the message. */
void silk__response_fini(silk__response *r);

/* SILK__MSG_BUSY is the message of the RESOURCE_EXHAUSTED a server answers a call with when
 * it is at its concurrency limit: the call was refused before it ran, so a channel may give
 * an idempotent one to another instance. */
#define SILK__MSG_BUSY "the server is at max_concurrent calls"

#endif /* SILK_SRC_FRAME_H */
