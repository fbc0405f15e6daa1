/* encode.c - protobuf-c messages to proto3 JSON, written straight into a buffer: the
 * caller's while the text fits, then a growing one of malloc's. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <silk/json.h>

#include "core/utf8.h"
#include "json_internal.h"

/* The text is written by hand rather than through json_dumps() so that numbers come out in
 * their shortest exact form (0.1, not 0.10000000000000001) and nothing is built twice. */

typedef struct enc {
    char *p; /* the text: the caller's buffer (own) or malloc's */
    size_t len, cap;
    char *own;      /* the caller's buffer, or NULL */
    silk_status st; /* the first failure; writing stops mattering after it */
    char *err;
    size_t errlen;
} enc;

static void efail(enc *e, silk_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void efail(enc *e, silk_status st, const char *fmt, ...)
{
    if (e->st != SILK_OK)
        return;
    e->st = st;
    if (e->errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->err, e->errlen, fmt, ap);
        va_end(ap);
    }
}

static bool reserve(enc *e, size_t n)
{
    if (e->st != SILK_OK)
        return false;
    if (e->len + n + 1 <= e->cap)
        return true;
    size_t cap = e->cap >= 128 ? e->cap : 128;
    do
        cap *= 2;
    while (cap < e->len + n + 1);
    /* Past the caller's buffer, the text so far moves to the heap. */
    char *p = e->p == e->own ? malloc(cap) : realloc(e->p, cap);
    if (p == NULL) {
        efail(e, SILK_RESOURCE_EXHAUSTED, "out of memory");
        return false;
    }
    if (e->p == e->own && e->len > 0)
        memcpy(p, e->p, e->len);
    e->p = p;
    e->cap = cap;
    return true;
}

static void put(enc *e, const char *s, size_t n)
{
    if (reserve(e, n)) {
        memcpy(e->p + e->len, s, n);
        e->len += n;
    }
}

static void puts_(enc *e, const char *s)
{
    put(e, s, strlen(s));
}

static void putch(enc *e, char c)
{
    put(e, &c, 1);
}

static void putf(enc *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void putf(enc *e, const char *fmt, ...)
{
    char buf[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    put(e, buf, n < 0 ? 0 : (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* put_integer writes v in decimal, after a '-' when negative, between quotes when quoted (the
 * 64-bit types): what "%" PRId64 would write, without printf's cost per value. */
static void put_integer(enc *e, uint64_t v, bool negative, bool quoted)
{
    char buf[24], *p = buf + sizeof buf;
    if (quoted)
        *--p = '"';
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    if (negative)
        *--p = '-';
    if (quoted)
        *--p = '"';
    put(e, p, (size_t)(buf + sizeof buf - p));
}

/* put_signed is put_integer of a signed value (INT64_MIN included). */
static void put_signed(enc *e, int64_t v, bool quoted)
{
    put_integer(e, v < 0 ? 0 - (uint64_t)v : (uint64_t)v, v < 0, quoted);
}

/* put_string writes a quoted JSON string; bytes that are not UTF-8 become U+FFFD. */
static void put_string(enc *e, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    putch(e, '"');
    size_t run = 0; /* start of bytes to copy as they are */
    size_t i = 0;
    while (i < n) {
        unsigned c = u[i];
        const char *esc = NULL;
        char buf[8];
        size_t len = 1;
        if (c == '"')
            esc = "\\\"";
        else if (c == '\\')
            esc = "\\\\";
        else if (c == '\n')
            esc = "\\n";
        else if (c == '\r')
            esc = "\\r";
        else if (c == '\t')
            esc = "\\t";
        else if (c == '\b')
            esc = "\\b";
        else if (c == '\f')
            esc = "\\f";
        else if (c < 0x20) {
            snprintf(buf, sizeof buf, "\\u%04x", c);
            esc = buf;
        } else if (c >= 0x80) {
            len = silk__utf8_len(u + i, n - i);
            if (len == 0) {
                esc = "\\ufffd";
                len = 1;
            }
        }
        if (esc != NULL) {
            put(e, s + run, i - run);
            puts_(e, esc);
            run = i + len;
        }
        i += len;
    }
    put(e, s + run, n - run);
    putch(e, '"');
}

/* put_double writes the shortest decimal that reads back as the same double (or float). */
static void put_double(enc *e, double x, bool is_float)
{
    if (isnan(x)) {
        puts_(e, "\"NaN\"");
        return;
    }
    if (isinf(x)) {
        puts_(e, x > 0 ? "\"Infinity\"" : "\"-Infinity\"");
        return;
    }
    char buf[40];
    for (int prec = is_float ? 6 : 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, x);
        double back = strtod(buf, NULL);
        if (is_float ? (float)back == (float)x : back == x)
            break;
    }
    puts_(e, buf);
}

static void put_message(enc *e, const ProtobufCMessage *msg);

/* put_empty writes the empty message of desc, for a NULL element of a repeated field or map:
 * made on the stack when it is small enough (most are), so that a text that fits the
 * caller's buffer takes no heap; in a frame of its own, not every put_value's. */
static __attribute__((noinline)) void put_empty(enc *e, const ProtobufCMessageDescriptor *desc)
{
    union {
        ProtobufCMessage m;
        max_align_t align;
        char bytes[512];
    } small;
    ProtobufCMessage *empty =
        desc->sizeof_message <= sizeof small ? &small.m : malloc(desc->sizeof_message);
    if (empty == NULL) {
        efail(e, SILK_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    protobuf_c_message_init(desc, empty);
    put_message(e, empty);
    if (empty != &small.m)
        free(empty);
}

/* put_value writes one value of field f's type stored at slot. */
static void put_value(enc *e, const ProtobufCFieldDescriptor *f, const void *slot)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        put_signed(e, *(const int32_t *)slot, false);
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        put_integer(e, *(const uint32_t *)slot, false, false);
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        put_signed(e, *(const int64_t *)slot, true);
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        put_integer(e, *(const uint64_t *)slot, false, true);
        break;
    case PROTOBUF_C_TYPE_FLOAT:
        put_double(e, *(const float *)slot, true);
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        put_double(e, *(const double *)slot, false);
        break;
    case PROTOBUF_C_TYPE_BOOL:
        puts_(e, *(const protobuf_c_boolean *)slot ? "true" : "false");
        break;
    case PROTOBUF_C_TYPE_ENUM: {
        int n = *(const int *)slot;
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, n);
        if (ev != NULL)
            put_string(e, ev->name, strlen(ev->name));
        else
            put_signed(e, n, false);
        break;
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)slot;
        put_string(e, s ? s : "", s ? strlen(s) : 0);
        break;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = slot;
        size_t n = silk__json_base64_len(b->len);
        if (reserve(e, n + 2)) {
            e->p[e->len++] = '"';
            silk__json_base64_encode(b->data, b->len, e->p + e->len);
            e->len += n;
            e->p[e->len++] = '"';
        }
        break;
    }
    case PROTOBUF_C_TYPE_MESSAGE:
    default: {
        const ProtobufCMessage *m = *(ProtobufCMessage *const *)slot;
        if (m != NULL)
            put_message(e, m);
        else
            put_empty(e, f->descriptor);
        break;
    }
    }
}

/* ============================================================================
 * Well-known types
 * ========================================================================== */

static void put_fraction(char *buf, size_t size, int32_t nanos)
{
    if (nanos == 0)
        buf[0] = '\0';
    else if (nanos % 1000000 == 0)
        snprintf(buf, size, ".%03" PRId32, nanos / 1000000);
    else if (nanos % 1000 == 0)
        snprintf(buf, size, ".%06" PRId32, nanos / 1000);
    else
        snprintf(buf, size, ".%09" PRId32, nanos);
}

static void put_timestamp(enc *e, const ProtobufCMessage *msg)
{
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    int64_t secs = *(const int64_t *)((const char *)msg + d->fields[0].offset);
    int32_t nanos = *(const int32_t *)((const char *)msg + d->fields[1].offset);
    if (secs < SILK__JSON_TS_MIN || secs > SILK__JSON_TS_MAX || nanos < 0 || nanos > 999999999) {
        efail(e, SILK_INTERNAL,
              "google.protobuf.Timestamp out of range: seconds %" PRId64 " nanos %" PRId32, secs,
              nanos);
        return;
    }
    int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
    int64_t rem = secs - days * 86400;
    int64_t y;
    unsigned m, dd;
    silk__json_civil_from_days(days, &y, &m, &dd);
    char frac[16];
    put_fraction(frac, sizeof frac, nanos);
    putf(e, "\"%04" PRId64 "-%02u-%02uT%02u:%02u:%02u%sZ\"", y, m, dd, (unsigned)(rem / 3600),
         (unsigned)(rem / 60 % 60), (unsigned)(rem % 60), frac);
}

static void put_duration(enc *e, const ProtobufCMessage *msg)
{
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    int64_t secs = *(const int64_t *)((const char *)msg + d->fields[0].offset);
    int32_t nanos = *(const int32_t *)((const char *)msg + d->fields[1].offset);
    if (secs < -SILK__JSON_DUR_MAX || secs > SILK__JSON_DUR_MAX || nanos < -999999999 ||
        nanos > 999999999 || (secs > 0 && nanos < 0) || (secs < 0 && nanos > 0)) {
        efail(e, SILK_INTERNAL,
              "google.protobuf.Duration out of range: seconds %" PRId64 " nanos %" PRId32, secs,
              nanos);
        return;
    }
    char frac[16];
    put_fraction(frac, sizeof frac, nanos < 0 ? -nanos : nanos);
    bool neg = secs < 0 || nanos < 0;
    putf(e, "\"%s%" PRIu64 "%ss\"", neg ? "-" : "", (uint64_t)(secs < 0 ? -secs : secs), frac);
}

/* ============================================================================
 * Fields and messages
 * ========================================================================== */

/* is_present tells whether a singular field is written: set, or holding a non-default value. */
static bool is_present(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
    const char *base = (const char *)msg;
    const void *slot = base + f->offset;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return *(const uint32_t *)(base + f->quantifier_offset) == f->id;
    if (f->label == PROTOBUF_C_LABEL_REQUIRED)
        return true;
    if (f->type == PROTOBUF_C_TYPE_MESSAGE)
        return *(ProtobufCMessage *const *)slot != NULL;
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL) {
        if (f->quantifier_offset != 0)
            return *(const protobuf_c_boolean *)(base + f->quantifier_offset);
        if (f->type == PROTOBUF_C_TYPE_STRING)
            return *(char *const *)slot != NULL;
    }
    /* proto3 implicit presence: written unless it holds the default. */
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return *(const uint64_t *)slot != 0;
    case PROTOBUF_C_TYPE_FLOAT:
        return *(const float *)slot != 0;
    case PROTOBUF_C_TYPE_DOUBLE:
        return *(const double *)slot != 0;
    case PROTOBUF_C_TYPE_BOOL:
        return *(const protobuf_c_boolean *)slot != 0;
    case PROTOBUF_C_TYPE_ENUM:
        return *(const int *)slot != 0;
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)slot;
        return s != NULL && s[0] != '\0';
    }
    case PROTOBUF_C_TYPE_BYTES:
        return ((const ProtobufCBinaryData *)slot)->len > 0;
    default:
        return *(const uint32_t *)slot != 0;
    }
}

/* put_map_key writes a map entry's key as a JSON object key. */
static void put_map_key(enc *e, const ProtobufCFieldDescriptor *kf, const void *slot)
{
    switch (kf->type) {
    case PROTOBUF_C_TYPE_STRING:
        put_value(e, kf, slot);
        break;
    case PROTOBUF_C_TYPE_BOOL:
        puts_(e, *(const protobuf_c_boolean *)slot ? "\"true\"" : "\"false\"");
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        put_value(e, kf, slot); /* quoted already */
        break;
    default:
        putch(e, '"');
        put_value(e, kf, slot);
        putch(e, '"');
        break;
    }
}

static void put_field(enc *e, const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
    const char *base = (const char *)msg;
    if (f->label != PROTOBUF_C_LABEL_REPEATED) {
        put_value(e, f, base + f->offset);
        return;
    }
    size_t count = *(const size_t *)(base + f->quantifier_offset);
    const char *array = *(char *const *)(base + f->offset);
    if (silk__json_is_map(f)) {
        const ProtobufCMessageDescriptor *ed = f->descriptor;
        bool first = true;
        putch(e, '{');
        for (size_t i = 0; i < count; i++) {
            const ProtobufCMessage *entry = ((ProtobufCMessage *const *)array)[i];
            if (entry == NULL)
                continue;
            if (!first)
                putch(e, ',');
            first = false;
            put_map_key(e, &ed->fields[0], (const char *)entry + ed->fields[0].offset);
            putch(e, ':');
            put_value(e, &ed->fields[1], (const char *)entry + ed->fields[1].offset);
        }
        putch(e, '}');
        return;
    }
    size_t size = silk__json_elem_size(f->type);
    putch(e, '[');
    for (size_t i = 0; i < count; i++) {
        if (i > 0)
            putch(e, ',');
        put_value(e, f, array + i * size);
    }
    putch(e, ']');
}

static void put_message(enc *e, const ProtobufCMessage *msg)
{
    const ProtobufCMessageDescriptor *desc = msg->descriptor;
    switch (silk__json_wkt_of(desc)) {
    case SILK__JSON_WKT_TIMESTAMP:
        put_timestamp(e, msg);
        return;
    case SILK__JSON_WKT_DURATION:
        put_duration(e, msg);
        return;
    case SILK__JSON_WKT_WRAPPER:
        put_value(e, &desc->fields[0], (const char *)msg + desc->fields[0].offset);
        return;
    case SILK__JSON_WKT_NONE:
        break;
    }
    putch(e, '{');
    bool first = true;
    const char *const *custom = silk__json_custom_names(desc); /* once per message */
    for (unsigned i = 0; i < desc->n_fields && e->st == SILK_OK; i++) {
        const ProtobufCFieldDescriptor *f = &desc->fields[i];
        if (f->label == PROTOBUF_C_LABEL_REPEATED
                ? *(const size_t *)((const char *)msg + f->quantifier_offset) == 0
                : !is_present(msg, f))
            continue;
        char buf[256];
        const char *name = custom != NULL && custom[i] != NULL
                               ? custom[i]
                               : silk_json_field_name(f->name, buf, sizeof buf);
        if (!first)
            putch(e, ',');
        first = false;
        put_string(e, name, strlen(name));
        putch(e, ':');
        put_field(e, msg, f);
    }
    putch(e, '}');
}

silk_status silk_json_from_message(const ProtobufCMessage *msg, char **out, size_t *len, char *err,
                                   size_t errlen)
{
    return silk_json_from_message_buf(msg, NULL, 0, out, len, err, errlen);
}

silk_status silk_json_from_message_buf(const ProtobufCMessage *msg, char *buf, size_t cap,
                                       char **out, size_t *len, char *err, size_t errlen)
{
    enc e = {
        .p = buf, .cap = buf != NULL ? cap : 0, .own = buf, .err = err, .errlen = err ? errlen : 0};
    *out = NULL;
    if (e.errlen > 0)
        err[0] = '\0';
    put_message(&e, msg);
    if (e.st == SILK_OK && !reserve(&e, 0))
        e.st = SILK_RESOURCE_EXHAUSTED;
    if (e.st != SILK_OK) {
        if (e.p != e.own)
            free(e.p);
        return e.st;
    }
    e.p[e.len] = '\0';
    *out = e.p;
    if (len != NULL)
        *len = e.len;
    return SILK_OK;
}
