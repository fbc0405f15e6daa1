/* scratch.h - a bump allocator for one call's messages, on the caller's stack: what a server
 * worker unpacks a request's header and payload into, what a completing call unpacks a
 * response's header (and a lent response) into, what the gateway decodes a JSON body into. */
#ifndef SILK_SRC_SCRATCH_H
#define SILK_SRC_SCRATCH_H

#include <stdalign.h>
#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

/* SILK__SCRATCH_STACK is the room a scratch has in itself; what does not fit goes on the
 * heap, in blocks freed with the scratch. */
#define SILK__SCRATCH_STACK 4096

typedef struct silk__scratch_block silk__scratch_block;

/* silk__scratch is the allocator: pass &s->allocator to protobuf-c, free everything at once
 * with silk__scratch_fini (protobuf-c's free calls do nothing). */
typedef struct silk__scratch {
    ProtobufCAllocator allocator;
    size_t used;
    silk__scratch_block *blocks;
    alignas(max_align_t) unsigned char buf[SILK__SCRATCH_STACK];
} silk__scratch;

/* silk__scratch_init makes s empty. */
void silk__scratch_init(silk__scratch *s);

/* silk__scratch_alloc returns size bytes, aligned for any type, valid until
 * silk__scratch_fini; NULL when the heap is exhausted. */
void *silk__scratch_alloc(silk__scratch *s, size_t size);

/* silk__scratch_fini frees every heap block of s. */
void silk__scratch_fini(silk__scratch *s);

#endif /* SILK_SRC_SCRATCH_H */
