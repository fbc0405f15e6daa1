/* header.h - a frame's header written and a request's header read straight from the bytes.
 *
 * Every call a server takes starts by decoding its silk.rpc.RequestHeader. protobuf-c's
 * generic unpack, which scans the message twice and unpacks each metadata pair as a message
 * of its own, was 40% of a service's instructions per OnMessage call; this reader walks the
 * bytes once, and the writer spares every caller protobuf-c's two generic passes
 * (docs/ARCHITECTURE.md, "The request header is read and written by hand"). */
#ifndef SILK_SRC_WIRE_HEADER_H
#define SILK_SRC_WIRE_HEADER_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "core/scratch.h"
#include "silk/rpc.pb-c.h"

/* silk__request_header_read decodes the n bytes at p as a silk.rpc.RequestHeader into mem,
 * which owns the header, its metadata and its strings until silk__scratch_fini. It accepts
 * and refuses what silk__rpc__request_header__unpack does and gives the same fields (unknown
 * fields are skipped, not kept; an absent string is ""). NULL when the bytes are not a valid
 * header or memory is exhausted. */
Silk__Rpc__RequestHeader *silk__request_header_read(const uint8_t *p, size_t n, silk__scratch *mem);

/* silk__header_size and silk__header_pack are protobuf_c_message_get_packed_size and
 * protobuf_c_message_pack for a frame's header, with the same result: a RequestHeader or a
 * ResponseHeader (with no unknown fields) is written here, any other message by protobuf-c.
 * out has silk__header_size(h) bytes; silk__header_pack returns the bytes written. */
size_t silk__header_size(const ProtobufCMessage *h);
size_t silk__header_pack(const ProtobufCMessage *h, uint8_t *out);

#endif /* SILK_SRC_WIRE_HEADER_H */
