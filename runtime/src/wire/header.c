/* header.c - silk.rpc's frame headers in protobuf's wire format: both written as protobuf-c
 * packs proto3 (fields in number order, empty strings and zeros left out), and the
 * RequestHeader read in one pass with the limits protobuf-c's unpack applies (its tags of at
 * most 5 bytes, length prefixes of at most 5, varints of at most 10), so that both accept and
 * refuse the same bytes. */
#include <stdbool.h>
#include <string.h>

#include "wire/header.h"
#include "wire/varint.h"

enum { WIRE_VARINT = 0, WIRE_64BIT = 1, WIRE_LEN = 2, WIRE_32BIT = 5 };

/* The field numbers of rpc.proto's RequestHeader and Metadata. */
enum { HEADER_METHOD = 1, HEADER_BUDGET = 2, HEADER_METADATA = 3, HEADER_TOKEN = 4 };
enum { METADATA_KEY = 1, METADATA_VALUE = 2 };

/* field is one field as read: its number, wire type and value (a varint, or bytes). */
typedef struct field {
    uint32_t number;
    unsigned wire;
    uint64_t varint;
    const uint8_t *data;
    size_t len;
} field;

/* read_tag reads a tag as protobuf-c does: field number 0 in the first byte is refused, and
 * so is a tag longer than 5 bytes; the bits past 32 are dropped. */
static bool read_tag(const uint8_t **p, const uint8_t *end, field *f)
{
    const uint8_t *q = *p;
    size_t left = (size_t)(end - q);
    if (left == 0 || (q[0] & 0xf8) == 0)
        return false;
    size_t max = left < 5 ? left : 5;
    f->wire = q[0] & 7;
    uint32_t tag = (q[0] & 0x7f) >> 3;
    size_t i = 1;
    for (unsigned shift = 4; (q[i - 1] & 0x80) != 0; shift += 7, i++) {
        if (i == max)
            return false;
        tag |= (uint32_t)(q[i] & 0x7f) << shift;
    }
    f->number = tag;
    *p = q + i;
    return true;
}

/* read_varint reads a varint of at most max bytes (10 at most); the bits past 64 are
 * dropped. */
static bool read_varint(const uint8_t **p, const uint8_t *end, size_t max, uint64_t *v)
{
    const uint8_t *q = *p;
    uint64_t x = 0;
    for (size_t i = 0; i < max && q + i < end; i++) {
        x |= (uint64_t)(q[i] & 0x7f) << (7 * i);
        if ((q[i] & 0x80) == 0) {
            *v = x;
            *p = q + i + 1;
            return true;
        }
    }
    return false;
}

/* read_field reads the field at *p, its value included, and moves past it. */
static bool read_field(const uint8_t **p, const uint8_t *end, field *f)
{
    if (!read_tag(p, end, f))
        return false;
    size_t left = (size_t)(end - *p);
    switch (f->wire) {
    case WIRE_VARINT:
        return read_varint(p, end, 10, &f->varint);
    case WIRE_64BIT:
    case WIRE_32BIT:
        f->len = f->wire == WIRE_64BIT ? 8 : 4;
        if (left < f->len)
            return false;
        *p += f->len;
        return true;
    case WIRE_LEN:
        if (!read_varint(p, end, 5, &f->varint) || f->varint > (uint64_t)(end - *p))
            return false;
        f->data = *p;
        f->len = (size_t)f->varint;
        *p += f->len;
        return true;
    default:
        return false; /* groups and wire types 6 and 7 */
    }
}

/* reading is one header being read: the strings go one after the other into one block of
 * the header's size, which is enough (each takes at least its length and a length byte). */
typedef struct reading {
    silk__scratch *mem;
    char *strings;
    Silk__Rpc__Metadata **some; /* the metadata read so far: first in some_here */
    size_t n_some;
    size_t cap_some;
    Silk__Rpc__Metadata *some_here[8];
} reading;

/* copy_string gives a length-delimited field's bytes as a string; NULL when the field is not
 * length-delimited. */
static char *copy_string(reading *r, const field *f)
{
    if (f->wire != WIRE_LEN)
        return NULL;
    char *s = r->strings;
    memcpy(s, f->data, f->len);
    s[f->len] = '\0';
    r->strings += f->len + 1;
    return s;
}

/* read_metadata decodes one metadata pair from a length-delimited field. */
static Silk__Rpc__Metadata *read_metadata(reading *r, const field *outer)
{
    Silk__Rpc__Metadata *m = silk__scratch_alloc(r->mem, sizeof *m);
    if (m == NULL)
        return NULL;
    *m = (Silk__Rpc__Metadata)SILK__RPC__METADATA__INIT;
    const uint8_t *p = outer->data, *end = outer->data + outer->len;
    field f;
    while (p < end) {
        if (!read_field(&p, end, &f))
            return NULL;
        char **slot = f.number == METADATA_KEY     ? &m->key
                      : f.number == METADATA_VALUE ? &m->value
                                                   : NULL;
        if (slot != NULL && (*slot = copy_string(r, &f)) == NULL)
            return NULL;
    }
    return m;
}

/* add_metadata keeps one more pair, in a larger array of mem's when the one it has is full. */
static bool add_metadata(reading *r, Silk__Rpc__Metadata *m)
{
    if (m == NULL)
        return false;
    if (r->n_some == r->cap_some) {
        Silk__Rpc__Metadata **more = silk__scratch_alloc(r->mem, 2 * r->cap_some * sizeof *more);
        if (more == NULL)
            return false;
        memcpy(more, r->some, r->n_some * sizeof *more);
        r->some = more;
        r->cap_some *= 2;
    }
    r->some[r->n_some++] = m;
    return true;
}

/* read_header_field stores one top-level field in h; false when it is a known field with the
 * wrong wire type, a metadata pair that does not decode, or memory is exhausted. */
static bool read_header_field(reading *r, Silk__Rpc__RequestHeader *h, const field *f)
{
    switch (f->number) {
    case HEADER_METHOD:
        return (h->method = copy_string(r, f)) != NULL;
    case HEADER_TOKEN:
        return (h->token = copy_string(r, f)) != NULL;
    case HEADER_BUDGET:
        h->budget_us = f->varint;
        return f->wire == WIRE_VARINT;
    case HEADER_METADATA:
        return f->wire == WIRE_LEN && add_metadata(r, read_metadata(r, f));
    default:
        return true; /* unknown: skipped */
    }
}

Silk__Rpc__RequestHeader *silk__request_header_read(const uint8_t *p, size_t n, silk__scratch *mem)
{
    reading r = {.mem = mem, .cap_some = sizeof r.some_here / sizeof r.some_here[0]};
    r.some = r.some_here;
    Silk__Rpc__RequestHeader *h = silk__scratch_alloc(mem, sizeof *h);
    if (h == NULL || (r.strings = silk__scratch_alloc(mem, n)) == NULL)
        return NULL;
    *h = (Silk__Rpc__RequestHeader)SILK__RPC__REQUEST_HEADER__INIT;
    const uint8_t *end = p + n;
    field f;
    while (p < end) {
        if (!read_field(&p, end, &f) || !read_header_field(&r, h, &f))
            return NULL;
    }
    if (r.n_some > 0) {
        h->metadata = silk__scratch_alloc(mem, r.n_some * sizeof *h->metadata);
        if (h->metadata == NULL)
            return NULL;
        memcpy(h->metadata, r.some, r.n_some * sizeof *h->metadata);
        h->n_metadata = r.n_some;
    }
    return h;
}

/* ============================== writing ============================== */

static size_t text_len(const char *s)
{
    return s != NULL ? strlen(s) : 0;
}

/* field_size is what a string field of n bytes takes, its tag of one byte included: nothing
 * when it is empty, as proto3 leaves it out. */
static size_t field_size(size_t n)
{
    return n != 0 ? 1 + silk__varint_size(n) + n : 0;
}

static size_t string_size(const char *s)
{
    return field_size(text_len(s));
}

/* put_field writes the string field of n bytes at s (nothing when n is 0). */
static uint8_t *put_field(uint8_t *p, uint32_t number, const char *s, size_t n)
{
    if (n == 0)
        return p;
    *p++ = (uint8_t)(number << 3 | WIRE_LEN);
    p = silk__varint_put(p, n);
    memcpy(p, s, n);
    return p + n;
}

static uint8_t *put_string(uint8_t *p, uint32_t number, const char *s)
{
    return put_field(p, number, s, text_len(s));
}

static size_t metadata_size(const Silk__Rpc__Metadata *m)
{
    return string_size(m->key) + string_size(m->value);
}

/* metadata_list_size and put_metadata_list are a header's metadata pairs: field 3 of both
 * headers. */
static size_t metadata_list_size(size_t n, Silk__Rpc__Metadata *const *md)
{
    size_t size = 0;
    for (size_t i = 0; i < n; i++) {
        size_t m = metadata_size(md[i]);
        size += 1 + silk__varint_size(m) + m;
    }
    return size;
}

static uint8_t *put_metadata_list(uint8_t *p, size_t n, Silk__Rpc__Metadata *const *md)
{
    for (size_t i = 0; i < n; i++) { /* each string measured once */
        size_t key_len = text_len(md[i]->key), value_len = text_len(md[i]->value);
        *p++ = HEADER_METADATA << 3 | WIRE_LEN;
        p = silk__varint_put(p, field_size(key_len) + field_size(value_len));
        p = put_field(p, METADATA_KEY, md[i]->key, key_len);
        p = put_field(p, METADATA_VALUE, md[i]->value, value_len);
    }
    return p;
}

static size_t request_header_size(const Silk__Rpc__RequestHeader *h)
{
    size_t n = string_size(h->method) + string_size(h->token);
    if (h->budget_us != 0)
        n += 1 + silk__varint_size(h->budget_us);
    return n + metadata_list_size(h->n_metadata, h->metadata);
}

static size_t request_header_pack(const Silk__Rpc__RequestHeader *h, uint8_t *out)
{
    uint8_t *p = put_string(out, HEADER_METHOD, h->method);
    if (h->budget_us != 0) {
        *p++ = HEADER_BUDGET << 3 | WIRE_VARINT;
        p = silk__varint_put(p, h->budget_us);
    }
    p = put_metadata_list(p, h->n_metadata, h->metadata);
    p = put_string(p, HEADER_TOKEN, h->token);
    return (size_t)(p - out);
}

/* The fields of rpc.proto's ResponseHeader (its metadata is field 3, as the request's). */
enum { RESPONSE_STATUS = 1, RESPONSE_MESSAGE = 2 };

static size_t response_header_size(const Silk__Rpc__ResponseHeader *h)
{
    size_t n = string_size(h->message) + metadata_list_size(h->n_metadata, h->metadata);
    return h->status != 0 ? n + 1 + silk__varint_size(h->status) : n;
}

static size_t response_header_pack(const Silk__Rpc__ResponseHeader *h, uint8_t *out)
{
    uint8_t *p = out;
    if (h->status != 0) {
        *p++ = RESPONSE_STATUS << 3 | WIRE_VARINT;
        p = silk__varint_put(p, h->status);
    }
    p = put_string(p, RESPONSE_MESSAGE, h->message);
    p = put_metadata_list(p, h->n_metadata, h->metadata);
    return (size_t)(p - out);
}

static bool is_request(const ProtobufCMessage *h)
{
    return h->descriptor == &silk__rpc__request_header__descriptor && h->n_unknown_fields == 0;
}

static bool is_response(const ProtobufCMessage *h)
{
    return h->descriptor == &silk__rpc__response_header__descriptor && h->n_unknown_fields == 0;
}

size_t silk__header_size(const ProtobufCMessage *h)
{
    if (is_request(h))
        return request_header_size((const Silk__Rpc__RequestHeader *)h);
    if (is_response(h))
        return response_header_size((const Silk__Rpc__ResponseHeader *)h);
    return protobuf_c_message_get_packed_size(h);
}

size_t silk__header_pack(const ProtobufCMessage *h, uint8_t *out)
{
    if (is_request(h))
        return request_header_pack((const Silk__Rpc__RequestHeader *)h, out);
    if (is_response(h))
        return response_header_pack((const Silk__Rpc__ResponseHeader *)h, out);
    return protobuf_c_message_pack(h, out);
}
