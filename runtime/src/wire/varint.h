/* varint.h - protobuf's base-128 varints as silk's frames and headers write them. */
#ifndef SILK_SRC_WIRE_VARINT_H
#define SILK_SRC_WIRE_VARINT_H

#include <stddef.h>
#include <stdint.h>

/* silk__varint_size returns the bytes v takes as a varint (1 to 10). */
static inline size_t silk__varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* silk__varint_put writes v as a varint at p and returns the byte after it. */
static inline uint8_t *silk__varint_put(uint8_t *p, uint64_t v)
{
    for (; v >= 0x80; v >>= 7)
        *p++ = (uint8_t)(v | 0x80);
    *p++ = (uint8_t)v;
    return p;
}

#endif /* SILK_SRC_WIRE_VARINT_H */
