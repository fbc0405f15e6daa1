/* decode_scalar.c - proto3 JSON values of one token to protobuf-c values: integers, floating
 * point, booleans, enums, strings, bytes, and the well-known Timestamp, Duration and wrappers;
 * with the decoding's errors (decode.c reads objects and arrays). */
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <silk/json.h>

#include "json_internal.h"

silk_status silk__json_fail(silk__json_dec *d, silk_status st, const char *fmt, ...)
{
    if (d->errlen == 0)
        return st;
    int n = 0;
    if (d->path_len > 0)
        n = snprintf(d->err, d->errlen, "field \"%s\": ", d->path);
    if (n >= 0 && (size_t)n < d->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(d->err + n, d->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return st;
}

silk_status silk__json_nomem(silk__json_dec *d)
{
    return silk__json_fail(d, SILK_RESOURCE_EXHAUSTED, "out of memory");
}

const char *silk__json_kind_of(const silk__json_tok *v)
{
    switch (v->kind) {
    case SILK__JSON_OBJECT:
        return "an object";
    case SILK__JSON_ARRAY:
        return "an array";
    case SILK__JSON_STRING:
        return "a string";
    case SILK__JSON_INTEGER:
    case SILK__JSON_REAL:
        return "a number";
    case SILK__JSON_TRUE:
    case SILK__JSON_FALSE:
        return "a boolean";
    case SILK__JSON_NULL:
    default:
        return "null";
    }
}

ProtobufCMessage *silk__json_alloc_message(ProtobufCAllocator *a,
                                           const ProtobufCMessageDescriptor *desc)
{
    ProtobufCMessage *m = a->alloc(a->allocator_data, desc->sizeof_message);
    if (m != NULL)
        protobuf_c_message_init(desc, m);
    return m;
}

/* ============================================================================
 * Scalars
 * ========================================================================== */

/* parse_decimal reads a whole decimal integer string: an optional '-' and digits, nothing
 * else. It returns 0, -1 when s is not one, or -2 when it is out of the type's range. */
static int parse_decimal(const char *s, bool is_signed, long long *si, unsigned long long *ui)
{
    const char *p = s[0] == '-' ? s + 1 : s;
    if (*p < '0' || *p > '9')
        return -1;
    for (const char *q = p; *q != '\0'; q++)
        if (*q < '0' || *q > '9')
            return -1;
    char *end;
    errno = 0;
    if (is_signed) {
        *si = strtoll(s, &end, 10);
    } else {
        if (s[0] == '-')
            return p[strspn(p, "0")] == '\0' ? (*ui = 0, 0) : -2; /* "-0" is 0 */
        *ui = strtoull(s, &end, 10);
    }
    return errno == ERANGE ? -2 : 0;
}

/* read_integer reads an integer of field type t from a number or a decimal string, into *si
 * (signed types, within [min, max]) or *ui (unsigned, at most umax). */
static silk_status read_integer(silk__json_dec *d, ProtobufCType t, const silk__json_tok *v,
                                long long min, long long max, unsigned long long umax,
                                long long *si, unsigned long long *ui)
{
    bool is_signed = umax == 0;
    const char *tn = silk__json_type_name(t);
    if (v->kind == SILK__JSON_INTEGER) {
        long long x = v->i;
        if (is_signed) {
            if (x < min || x > max)
                return silk__json_fail(d, SILK_INVALID_ARGUMENT, "%lld is out of range for %s", x,
                                       tn);
            *si = x;
        } else {
            if (x < 0 || (unsigned long long)x > umax)
                return silk__json_fail(d, SILK_INVALID_ARGUMENT, "%lld is out of range for %s", x,
                                       tn);
            *ui = (unsigned long long)x;
        }
        return SILK_OK;
    }
    if (v->kind == SILK__JSON_REAL) {
        double x = v->x;
        if (x != floor(x))
            return silk__json_fail(d, SILK_INVALID_ARGUMENT, "%.17g is not an integer (%s)", x, tn);
        bool ok;
        if (is_signed)
            ok = max == INT64_MAX ? x >= -9223372036854775808.0 && x < 9223372036854775808.0
                                  : x >= (double)min && x <= (double)max;
        else
            ok = umax == UINT64_MAX ? x >= 0 && x < 18446744073709551616.0
                                    : x >= 0 && x <= (double)umax;
        if (!ok)
            return silk__json_fail(d, SILK_INVALID_ARGUMENT, "%.17g is out of range for %s", x, tn);
        if (is_signed)
            *si = (long long)x;
        else
            *ui = (unsigned long long)x;
        return SILK_OK;
    }
    if (v->kind == SILK__JSON_STRING) {
        const char *s = v->s;
        int rv = parse_decimal(s, is_signed, si, ui);
        if (rv == -1)
            return silk__json_fail(d, SILK_INVALID_ARGUMENT, "\"%.40s\" is not an integer (%s)", s,
                                   tn);
        if (rv == -2 || (is_signed && (*si < min || *si > max)) || (!is_signed && *ui > umax))
            return silk__json_fail(d, SILK_INVALID_ARGUMENT, "%.40s is out of range for %s", s, tn);
        return SILK_OK;
    }
    return silk__json_fail(d, SILK_INVALID_ARGUMENT, "expected an integer (%s), got %s", tn,
                           silk__json_kind_of(v));
}

/* read_double reads a float or double: a number, "NaN", "Infinity", "-Infinity" or a
 * numeric string. */
static silk_status read_double(silk__json_dec *d, ProtobufCType t, const silk__json_tok *v,
                               double *out)
{
    const char *tn = silk__json_type_name(t);
    double x;
    if (v->kind == SILK__JSON_INTEGER) {
        x = (double)v->i;
    } else if (v->kind == SILK__JSON_REAL) {
        x = v->x;
    } else if (v->kind == SILK__JSON_STRING) {
        const char *s = v->s;
        if (strcmp(s, "NaN") == 0) {
            *out = NAN;
            return SILK_OK;
        }
        if (strcmp(s, "Infinity") == 0 || strcmp(s, "-Infinity") == 0) {
            *out = s[0] == '-' ? -INFINITY : INFINITY;
            return SILK_OK;
        }
        /* A JSON number in a string: no blanks, no hex, no "inf" or "nan" spellings. */
        const char *p = s[0] == '-' ? s + 1 : s;
        char *end;
        errno = 0;
        x = (*p >= '0' && *p <= '9') || (*p == '.' && p[1] >= '0' && p[1] <= '9')
                ? strtod(s, &end)
                : (end = (char *)s, 0);
        if (end == s || *end != '\0' || strpbrk(s, "xXpP") != NULL)
            return silk__json_fail(d, SILK_INVALID_ARGUMENT, "\"%.40s\" is not a number (%s)", s,
                                   tn);
        if (errno == ERANGE && isinf(x))
            return silk__json_fail(d, SILK_INVALID_ARGUMENT, "%.40s is out of range for %s", s, tn);
    } else {
        return silk__json_fail(d, SILK_INVALID_ARGUMENT, "expected a number (%s), got %s", tn,
                               silk__json_kind_of(v));
    }
    /* Past FLT_MAX by half a unit in the last place, a float would round to infinity. */
    if (t == PROTOBUF_C_TYPE_FLOAT && isfinite(x) && fabs(x) >= (double)FLT_MAX + 0x1p103)
        return silk__json_fail(d, SILK_INVALID_ARGUMENT, "%.17g is out of range for float", x);
    *out = x;
    return SILK_OK;
}

/* read_enum reads an enum value by name, or by number (a JSON number or a decimal string). */
static silk_status read_enum(silk__json_dec *d, const ProtobufCEnumDescriptor *ed,
                             const silk__json_tok *v, int *out)
{
    long long n;
    if (v->kind == SILK__JSON_STRING) {
        const char *s = v->s;
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value_by_name(ed, s);
        if (ev != NULL) {
            *out = ev->value;
            return SILK_OK;
        }
        unsigned long long unused;
        if (parse_decimal(s, true, &n, &unused) != 0 || n < INT32_MIN || n > INT32_MAX)
            return silk__json_fail(d, SILK_INVALID_ARGUMENT, "\"%.60s\" is not a value of enum %s",
                                   s, ed->name);
        *out = (int)n;
        return SILK_OK;
    }
    if (v->kind == SILK__JSON_INTEGER) {
        n = v->i;
        if (n < INT32_MIN || n > INT32_MAX)
            return silk__json_fail(d, SILK_INVALID_ARGUMENT, "%lld is out of range for enum %s", n,
                                   ed->name);
        *out = (int)n; /* proto3 enums are open: numbers without a name are kept */
        return SILK_OK;
    }
    return silk__json_fail(d, SILK_INVALID_ARGUMENT, "expected a name or number of enum %s, got %s",
                           ed->name, silk__json_kind_of(v));
}

/* read_scalar stores v at slot, a value of f's type, which is any but a message. */
static silk_status read_scalar(silk__json_dec *d, const ProtobufCFieldDescriptor *f,
                               const silk__json_tok *v, void *slot)
{
    long long si = 0;
    unsigned long long ui = 0;
    double x;
    silk_status st;

    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        st = read_integer(d, f->type, v, INT32_MIN, INT32_MAX, 0, &si, &ui);
        if (st == SILK_OK)
            *(int32_t *)slot = (int32_t)si;
        return st;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        st = read_integer(d, f->type, v, INT64_MIN, INT64_MAX, 0, &si, &ui);
        if (st == SILK_OK)
            *(int64_t *)slot = (int64_t)si;
        return st;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        st = read_integer(d, f->type, v, 0, 0, UINT32_MAX, &si, &ui);
        if (st == SILK_OK)
            *(uint32_t *)slot = (uint32_t)ui;
        return st;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        st = read_integer(d, f->type, v, 0, 0, UINT64_MAX, &si, &ui);
        if (st == SILK_OK)
            *(uint64_t *)slot = (uint64_t)ui;
        return st;
    case PROTOBUF_C_TYPE_FLOAT:
        st = read_double(d, f->type, v, &x);
        if (st == SILK_OK)
            *(float *)slot = (float)x;
        return st;
    case PROTOBUF_C_TYPE_DOUBLE:
        st = read_double(d, f->type, v, &x);
        if (st == SILK_OK)
            *(double *)slot = x;
        return st;
    case PROTOBUF_C_TYPE_BOOL:
        if (v->kind != SILK__JSON_TRUE && v->kind != SILK__JSON_FALSE)
            return silk__json_fail(d, SILK_INVALID_ARGUMENT, "expected true or false, got %s",
                                   silk__json_kind_of(v));
        *(protobuf_c_boolean *)slot = v->kind == SILK__JSON_TRUE;
        return SILK_OK;
    case PROTOBUF_C_TYPE_ENUM:
        return read_enum(d, f->descriptor, v, (int *)slot);
    case PROTOBUF_C_TYPE_STRING: {
        if (v->kind != SILK__JSON_STRING)
            return silk__json_fail(d, SILK_INVALID_ARGUMENT, "expected a string, got %s",
                                   silk__json_kind_of(v));
        size_t n = v->len;
        const char *s = v->s;
        if (memchr(s, '\0', n) != NULL)
            return silk__json_fail(d, SILK_INVALID_ARGUMENT, "a string may not hold \\u0000");
        char *copy = d->alloc->alloc(d->alloc->allocator_data, n + 1);
        if (copy == NULL)
            return silk__json_nomem(d);
        memcpy(copy, s, n + 1);
        char *old = *(char **)slot;
        if (old != NULL && old != protobuf_c_empty_string && old != f->default_value)
            silk__json_free(d->alloc, old);
        *(char **)slot = copy;
        return SILK_OK;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        if (v->kind != SILK__JSON_STRING)
            return silk__json_fail(d, SILK_INVALID_ARGUMENT, "expected a base64 string, got %s",
                                   silk__json_kind_of(v));
        uint8_t *data;
        size_t n;
        int rv = silk__json_base64_decode(v->s, v->len, d->alloc, &data, &n);
        if (rv == -2)
            return silk__json_nomem(d);
        if (rv != 0)
            return silk__json_fail(d, SILK_INVALID_ARGUMENT, "not valid base64");
        ProtobufCBinaryData *bd = slot;
        const ProtobufCBinaryData *def = f->default_value;
        if (bd->data != NULL && (def == NULL || def->data != bd->data))
            silk__json_free(d->alloc, bd->data);
        bd->data = data;
        bd->len = n;
        return SILK_OK;
    }
    case PROTOBUF_C_TYPE_MESSAGE:
    default:
        return silk__json_fail(d, SILK_INTERNAL, "a %s field is not a scalar",
                               silk__json_type_name(f->type));
    }
}

/* ============================================================================
 * Well-known types
 * ========================================================================== */

/* digits reads exactly n decimal digits at *p into *out and advances *p. */
static bool digits(const char **p, int n, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (unsigned)(c - '0');
    }
    *p += n;
    *out = v;
    return true;
}

/* fraction reads ".ddd" (1 to 9 digits) as nanoseconds, or nothing. */
static bool fraction(const char **p, int32_t *nanos)
{
    *nanos = 0;
    if (**p != '.')
        return true;
    (*p)++;
    int n = 0;
    int32_t v = 0;
    while (**p >= '0' && **p <= '9') {
        if (++n > 9)
            return false;
        v = v * 10 + (**p - '0');
        (*p)++;
    }
    if (n == 0)
        return false;
    for (; n < 9; n++)
        v *= 10;
    *nanos = v;
    return true;
}

/* read_timestamp fills msg, a google.protobuf.Timestamp, from an RFC 3339 string. */
static silk_status read_timestamp(silk__json_dec *d, const silk__json_tok *v, ProtobufCMessage *msg)
{
    if (v->kind != SILK__JSON_STRING)
        return silk__json_fail(
            d, SILK_INVALID_ARGUMENT,
            "expected an RFC 3339 timestamp string for google.protobuf.Timestamp, got %s",
            silk__json_kind_of(v));
    const char *s = v->s;
    const char *p = s;
    unsigned y, mo, da, h, mi, se, oh = 0, om = 0;
    int32_t nanos;
    int sign = 0;
    bool ok = digits(&p, 4, &y) && *p++ == '-' && digits(&p, 2, &mo) && *p++ == '-' &&
              digits(&p, 2, &da) && (*p == 'T' || *p == 't') && (p++, true) && digits(&p, 2, &h) &&
              *p++ == ':' && digits(&p, 2, &mi) && *p++ == ':' && digits(&p, 2, &se) &&
              fraction(&p, &nanos);
    if (ok) {
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            sign = *p++ == '+' ? 1 : -1;
            ok = digits(&p, 2, &oh) && *p++ == ':' && digits(&p, 2, &om) && oh < 24 && om < 60;
        } else {
            ok = false;
        }
    }
    static const unsigned mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    ok = ok && *p == '\0' && y >= 1 && mo >= 1 && mo <= 12 && da >= 1 && da <= mdays[mo - 1] &&
         (mo != 2 || da < 29 || (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))) && h < 24 &&
         mi < 60 && se < 60;
    if (!ok)
        return silk__json_fail(
            d, SILK_INVALID_ARGUMENT,
            "\"%.60s\" is not an RFC 3339 timestamp (\"1972-01-01T10:00:20.021Z\")", s);
    int64_t secs = silk__json_days_from_civil(y, mo, da) * 86400 + h * 3600 + mi * 60 + se -
                   sign * (int64_t)(oh * 3600 + om * 60);
    if (secs < SILK__JSON_TS_MIN || secs > SILK__JSON_TS_MAX)
        return silk__json_fail(d, SILK_INVALID_ARGUMENT, "timestamp \"%.60s\" is out of range", s);
    const ProtobufCMessageDescriptor *desc = msg->descriptor;
    *(int64_t *)((char *)msg + desc->fields[0].offset) = secs;
    *(int32_t *)((char *)msg + desc->fields[1].offset) = nanos;
    return SILK_OK;
}

/* read_duration fills msg, a google.protobuf.Duration, from a string like "1.5s". */
static silk_status read_duration(silk__json_dec *d, const silk__json_tok *v, ProtobufCMessage *msg)
{
    if (v->kind != SILK__JSON_STRING)
        return silk__json_fail(
            d, SILK_INVALID_ARGUMENT,
            "expected a duration string like \"1.5s\" for google.protobuf.Duration, got %s",
            silk__json_kind_of(v));
    const char *s = v->s;
    const char *p = s;
    bool neg = *p == '-';
    if (neg)
        p++;
    int64_t secs = 0;
    int32_t nanos = 0;
    int nd = 0;
    bool ok = true;
    while (*p >= '0' && *p <= '9') {
        if (++nd > 12) {
            ok = false;
            break;
        }
        secs = secs * 10 + (*p++ - '0');
    }
    ok = ok && nd > 0 && fraction(&p, &nanos) && *p++ == 's' && *p == '\0';
    if (!ok)
        return silk__json_fail(d, SILK_INVALID_ARGUMENT,
                               "\"%.60s\" is not a duration like \"1.5s\"", s);
    if (secs > SILK__JSON_DUR_MAX)
        return silk__json_fail(d, SILK_INVALID_ARGUMENT, "duration \"%.60s\" is out of range", s);
    const ProtobufCMessageDescriptor *desc = msg->descriptor;
    *(int64_t *)((char *)msg + desc->fields[0].offset) = neg ? -secs : secs;
    *(int32_t *)((char *)msg + desc->fields[1].offset) = neg ? -nanos : nanos;
    return SILK_OK;
}

/* ============================================================================
 * Values of one token
 * ========================================================================== */

silk_status silk__json_read_wkt(silk__json_dec *d, const silk__json_tok *v, ProtobufCMessage *msg)
{
    const ProtobufCMessageDescriptor *desc = msg->descriptor;
    switch (silk__json_wkt_of(desc)) {
    case SILK__JSON_WKT_TIMESTAMP:
        return read_timestamp(d, v, msg);
    case SILK__JSON_WKT_DURATION:
        return read_duration(d, v, msg);
    case SILK__JSON_WKT_WRAPPER:
        return read_scalar(d, &desc->fields[0], v, (char *)msg + desc->fields[0].offset);
    case SILK__JSON_WKT_NONE:
    default:
        return silk__json_fail(d, SILK_INTERNAL, "%s is read as an object", desc->name);
    }
}

silk_status silk__json_read_value(silk__json_dec *d, const ProtobufCFieldDescriptor *f,
                                  const silk__json_tok *v, void *slot)
{
    if (f->type != PROTOBUF_C_TYPE_MESSAGE)
        return read_scalar(d, f, v, slot);
    ProtobufCMessage **mp = slot;
    if (*mp == NULL && (*mp = silk__json_alloc_message(d->alloc, f->descriptor)) == NULL)
        return silk__json_nomem(d);
    return silk__json_read_wkt(d, v, *mp);
}
