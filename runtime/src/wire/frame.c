/* frame.c - silk's wire frame codec: encode into a caller's buffer, decode from bytes. */
#include <stdlib.h>
#include <string.h>

#include "wire/frame.h"
#include "wire/header.h"
#include "wire/varint.h"

/* The bytes of length, kind and call id that follow the length field. */
#define REST_FIXED 9

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be64(uint8_t *p, uint64_t v)
{
    put_be32(p, (uint32_t)(v >> 32));
    put_be32(p + 4, (uint32_t)v);
}

static uint64_t get_be64(const uint8_t *p)
{
    return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

size_t silk__frame_size(size_t hlen, size_t plen)
{
    return 4 + REST_FIXED + silk__varint_size(hlen) + hlen + plen;
}

size_t silk__frame_encode(uint8_t *buf, uint8_t kind, uint64_t call_id,
                          const ProtobufCMessage *header, size_t hlen,
                          const ProtobufCMessage *payload, size_t plen)
{
    size_t size = silk__frame_size(hlen, plen);
    put_be32(buf, (uint32_t)(size - 4));
    buf[4] = kind;
    put_be64(buf + 5, call_id);
    uint8_t *p = silk__varint_put(buf + SILK__FRAME_PREFIX, hlen);
    if (header != NULL && hlen != 0)
        p += silk__header_pack(header, p);
    if (payload != NULL && plen != 0)
        p += protobuf_c_message_pack(payload, p);
    return (size_t)(p - buf);
}

/* read_varint reads a varint of at most 5 bytes (a u32) from p[0..n); it returns the bytes
 * read, or 0 when it is truncated or too long. */
static size_t read_varint(const uint8_t *p, size_t n, uint32_t *v)
{
    uint64_t x = 0;
    for (size_t i = 0; i < n && i < 5; i++) {
        x |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if ((p[i] & 0x80) == 0) {
            if (x > UINT32_MAX)
                return 0;
            *v = (uint32_t)x;
            return i + 1;
        }
    }
    return 0;
}

long silk__frame_decode(const uint8_t *buf, size_t len, uint32_t max_len, silk__frame *f)
{
    memset(f, 0, sizeof *f);
    if (len < SILK__FRAME_PREFIX)
        return SILK__FRAME_MORE;
    uint32_t rest = get_be32(buf);
    f->size = 4 + (size_t)rest;
    f->kind = buf[4];
    f->call_id = get_be64(buf + 5);
    /* The kind first: bytes of another protocol (an HTTP response, say) read as a huge
     * length, which is no frame to skip but a broken stream. */
    if (f->kind < SILK__FRAME_REQUEST || f->kind > SILK__FRAME_PONG)
        return SILK__FRAME_BAD_KIND;
    if (rest > max_len)
        return SILK__FRAME_TOO_BIG;
    if (rest < REST_FIXED + 1)
        return SILK__FRAME_BAD_HEADER;
    if (len < f->size)
        return SILK__FRAME_MORE;

    const uint8_t *p = buf + SILK__FRAME_PREFIX;
    size_t avail = f->size - SILK__FRAME_PREFIX;
    uint32_t hlen;
    size_t vlen = read_varint(p, avail, &hlen);
    if (vlen == 0 || hlen > avail - vlen)
        return SILK__FRAME_BAD_HEADER;
    f->header = p + vlen;
    f->header_len = hlen;
    f->payload = f->header + hlen;
    f->payload_len = avail - vlen - hlen;
    return (long)f->size;
}

bool silk__frame_in_resize(silk__frame_in *in, size_t cap)
{
    uint8_t *buf = realloc(in->buf, cap != 0 ? cap : 1);
    if (buf == NULL)
        return false;
    in->buf = buf;
    in->cap = cap;
    return true;
}

int silk__frame_in_next(silk__frame_in *in, size_t *off, uint32_t max_len, silk__frame *f)
{
    while (*off < in->len) {
        size_t avail = in->len - *off;
        if (in->skip > 0) {
            size_t n = in->skip < avail ? in->skip : avail;
            in->skip -= n;
            *off += n;
            continue;
        }
        long rc = silk__frame_decode(in->buf + *off, avail, max_len, f);
        if (rc > 0) {
            *off += (size_t)rc;
            return SILK__IN_FRAME;
        }
        if (rc == SILK__FRAME_TOO_BIG) {
            in->skip = f->size;
            return SILK__IN_TOO_BIG;
        }
        if (rc != SILK__FRAME_MORE)
            return (int)rc; /* SILK__FRAME_BAD_* */
        if (f->size > in->cap && !silk__frame_in_resize(in, f->size))
            return SILK__IN_NOMEM;
        break;
    }
    return SILK__IN_MORE;
}

void silk__frame_in_consumed(silk__frame_in *in, size_t off)
{
    in->len -= off;
    memmove(in->buf, in->buf + off, in->len);
}

bool silk__frame_out_reserve(uint8_t **buf, size_t *cap, size_t want)
{
    if (want <= *cap)
        return true;
    size_t grown = *cap != 0 ? *cap : 4096;
    while (grown < want)
        grown *= 2;
    uint8_t *p = realloc(*buf, grown);
    if (p == NULL)
        return false;
    *buf = p;
    *cap = grown;
    return true;
}

void silk__response_decode(silk__response *r, const silk__frame *f,
                           const ProtobufCMessageDescriptor *output, ProtobufCAllocator *header_mem,
                           ProtobufCAllocator *msg_mem)
{
    *r = (silk__response){.st = SILK_OK, .message = "", .header_mem = header_mem};
    if (f->header_len != 0) { /* an empty header is an OK with no message: nothing to unpack */
        r->header = silk__rpc__response_header__unpack(header_mem, f->header_len, f->header);
        if (r->header == NULL) {
            r->st = SILK_INTERNAL;
            r->message = "cannot decode the response header";
            return;
        }
        uint32_t code = r->header->status;
        r->st = code < SILK_STATUS_COUNT ? (silk_status)code : SILK_UNKNOWN;
        r->message = r->header->message != NULL ? r->header->message : "";
        if (r->st != SILK_OK)
            return;
        r->message = "";
    }
    r->msg = protobuf_c_message_unpack(output, msg_mem, f->payload_len, f->payload);
    if (r->msg == NULL) {
        r->st = SILK_INTERNAL;
        r->message = "cannot decode the response";
    }
}

void silk__response_fini(silk__response *r)
{
    if (r->header != NULL)
        silk__rpc__response_header__free_unpacked(r->header, r->header_mem);
    r->header = NULL;
}
