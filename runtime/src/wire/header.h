/* header.h - a request frame's header read straight from its bytes.
 *
 * Every call a server takes starts by decoding its silk.rpc.RequestHeader. protobuf-c's
 * generic unpack, which scans the message twice and unpacks each metadata pair as a message
 * of its own, was 40% of a service's instructions per OnMessage call; this reader walks the
 * bytes once (docs/ARCHITECTURE.md, "The request header is read by hand"). */
#ifndef SILK_SRC_WIRE_HEADER_H
#define SILK_SRC_WIRE_HEADER_H

#include <stddef.h>
#include <stdint.h>

#include "core/scratch.h"
#include "silk/rpc.pb-c.h"

/* silk__request_header_read decodes the n bytes at p as a silk.rpc.RequestHeader into mem,
 * which owns the header, its metadata and its strings until silk__scratch_fini. It accepts
 * and refuses what silk__rpc__request_header__unpack does and gives the same fields (unknown
 * fields are skipped, not kept; an absent string is ""). NULL when the bytes are not a valid
 * header or memory is exhausted. */
Silk__Rpc__RequestHeader *silk__request_header_read(const uint8_t *p, size_t n, silk__scratch *mem);

#endif /* SILK_SRC_WIRE_HEADER_H */
