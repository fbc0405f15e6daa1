/* decode.c - proto3 JSON to protobuf-c messages: jansson parses, the descriptors drive. */
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <silk/json.h>

#include "json_internal.h"

/* A decoding: where the error goes, and the path to the value being read ("inner.tags[2]"). */
typedef struct dec {
    char *err;
    size_t errlen;
    char path[256];
    size_t path_len;
} dec;

static silk_status fail(dec *d, silk_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* fail writes "field \"<path>\": <what>" (or just what at the top) into the error. */
static silk_status fail(dec *d, silk_status st, const char *fmt, ...)
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

static silk_status nomem(dec *d)
{
    return fail(d, SILK_RESOURCE_EXHAUSTED, "out of memory");
}

/* path_push appends ".name" (or "name" first) or "[i]" to the path and returns the length
 * to restore with path_pop. A path too long for the buffer ends in "...". */
static size_t path_push(dec *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static size_t path_push(dec *d, const char *fmt, ...)
{
    size_t old = d->path_len;
    if (old >= sizeof d->path - 1)
        return old;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(d->path + old, sizeof d->path - old, fmt, ap);
    va_end(ap);
    if (n < 0)
        d->path[old] = '\0';
    else if ((size_t)n >= sizeof d->path - old)
        d->path_len = sizeof d->path - 1;
    else
        d->path_len = old + (size_t)n;
    return old;
}

static void path_pop(dec *d, size_t old)
{
    d->path_len = old;
    d->path[old] = '\0';
}

static size_t push_field(dec *d, const char *name)
{
    return path_push(d, d->path_len > 0 ? ".%s" : "%s", name);
}

static const char *kind_of(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
    default:
        return "null";
    }
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
static silk_status read_integer(dec *d, ProtobufCType t, const json_t *v, long long min,
                                long long max, unsigned long long umax, long long *si,
                                unsigned long long *ui)
{
    bool is_signed = umax == 0;
    const char *tn = silk__json_type_name(t);
    if (json_is_integer(v)) {
        long long x = json_integer_value(v);
        if (is_signed) {
            if (x < min || x > max)
                return fail(d, SILK_INVALID_ARGUMENT, "%lld is out of range for %s", x, tn);
            *si = x;
        } else {
            if (x < 0 || (unsigned long long)x > umax)
                return fail(d, SILK_INVALID_ARGUMENT, "%lld is out of range for %s", x, tn);
            *ui = (unsigned long long)x;
        }
        return SILK_OK;
    }
    if (json_is_real(v)) {
        double x = json_real_value(v);
        if (x != floor(x))
            return fail(d, SILK_INVALID_ARGUMENT, "%.17g is not an integer (%s)", x, tn);
        bool ok;
        if (is_signed)
            ok = max == INT64_MAX ? x >= -9223372036854775808.0 && x < 9223372036854775808.0
                                  : x >= (double)min && x <= (double)max;
        else
            ok = umax == UINT64_MAX ? x >= 0 && x < 18446744073709551616.0
                                    : x >= 0 && x <= (double)umax;
        if (!ok)
            return fail(d, SILK_INVALID_ARGUMENT, "%.17g is out of range for %s", x, tn);
        if (is_signed)
            *si = (long long)x;
        else
            *ui = (unsigned long long)x;
        return SILK_OK;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        int rv = parse_decimal(s, is_signed, si, ui);
        if (rv == -1)
            return fail(d, SILK_INVALID_ARGUMENT, "\"%.40s\" is not an integer (%s)", s, tn);
        if (rv == -2 || (is_signed && (*si < min || *si > max)) || (!is_signed && *ui > umax))
            return fail(d, SILK_INVALID_ARGUMENT, "%.40s is out of range for %s", s, tn);
        return SILK_OK;
    }
    return fail(d, SILK_INVALID_ARGUMENT, "expected an integer (%s), got %s", tn, kind_of(v));
}

/* read_double reads a float or double: a number, "NaN", "Infinity", "-Infinity" or a
 * numeric string. */
static silk_status read_double(dec *d, ProtobufCType t, const json_t *v, double *out)
{
    const char *tn = silk__json_type_name(t);
    double x;
    if (json_is_number(v)) {
        x = json_number_value(v);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
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
            return fail(d, SILK_INVALID_ARGUMENT, "\"%.40s\" is not a number (%s)", s, tn);
        if (errno == ERANGE && isinf(x))
            return fail(d, SILK_INVALID_ARGUMENT, "%.40s is out of range for %s", s, tn);
    } else {
        return fail(d, SILK_INVALID_ARGUMENT, "expected a number (%s), got %s", tn, kind_of(v));
    }
    /* Past FLT_MAX by half a unit in the last place, a float would round to infinity. */
    if (t == PROTOBUF_C_TYPE_FLOAT && isfinite(x) && fabs(x) >= (double)FLT_MAX + 0x1p103)
        return fail(d, SILK_INVALID_ARGUMENT, "%.17g is out of range for float", x);
    *out = x;
    return SILK_OK;
}

/* read_enum reads an enum value by name, or by number (a JSON number or a decimal string). */
static silk_status read_enum(dec *d, const ProtobufCEnumDescriptor *ed, const json_t *v, int *out)
{
    long long n;
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value_by_name(ed, s);
        if (ev != NULL) {
            *out = ev->value;
            return SILK_OK;
        }
        unsigned long long unused;
        if (parse_decimal(s, true, &n, &unused) != 0 || n < INT32_MIN || n > INT32_MAX)
            return fail(d, SILK_INVALID_ARGUMENT, "\"%.60s\" is not a value of enum %s", s,
                        ed->name);
        *out = (int)n;
        return SILK_OK;
    }
    if (json_is_integer(v)) {
        n = json_integer_value(v);
        if (n < INT32_MIN || n > INT32_MAX)
            return fail(d, SILK_INVALID_ARGUMENT, "%lld is out of range for enum %s", n, ed->name);
        *out = (int)n; /* proto3 enums are open: numbers without a name are kept */
        return SILK_OK;
    }
    return fail(d, SILK_INVALID_ARGUMENT, "expected a name or number of enum %s, got %s", ed->name,
                kind_of(v));
}

static silk_status read_message(dec *d, const ProtobufCMessageDescriptor *desc, const json_t *v,
                                ProtobufCMessage *msg);

/* alloc_message returns a new, initialised message of desc, or NULL. */
static ProtobufCMessage *alloc_message(const ProtobufCMessageDescriptor *desc)
{
    ProtobufCMessage *m = malloc(desc->sizeof_message);
    if (m != NULL)
        protobuf_c_message_init(desc, m);
    return m;
}

/* read_value stores v, a value of field f's type (one element for a repeated field), at
 * slot. What it allocates is in the slot as soon as it exists, so that freeing the message
 * that holds the slot frees it, whatever fails later. */
static silk_status read_value(dec *d, const ProtobufCFieldDescriptor *f, const json_t *v,
                              void *slot)
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
        if (!json_is_boolean(v))
            return fail(d, SILK_INVALID_ARGUMENT, "expected true or false, got %s", kind_of(v));
        *(protobuf_c_boolean *)slot = json_is_true(v);
        return SILK_OK;
    case PROTOBUF_C_TYPE_ENUM:
        return read_enum(d, f->descriptor, v, (int *)slot);
    case PROTOBUF_C_TYPE_STRING: {
        if (!json_is_string(v))
            return fail(d, SILK_INVALID_ARGUMENT, "expected a string, got %s", kind_of(v));
        size_t n = json_string_length(v);
        const char *s = json_string_value(v);
        if (memchr(s, '\0', n) != NULL)
            return fail(d, SILK_INVALID_ARGUMENT, "a string may not hold \\u0000");
        char *copy = malloc(n + 1);
        if (copy == NULL)
            return nomem(d);
        memcpy(copy, s, n + 1);
        char *old = *(char **)slot;
        if (old != NULL && old != protobuf_c_empty_string && old != f->default_value)
            free(old);
        *(char **)slot = copy;
        return SILK_OK;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        if (!json_is_string(v))
            return fail(d, SILK_INVALID_ARGUMENT, "expected a base64 string, got %s", kind_of(v));
        uint8_t *data;
        size_t n;
        int rv = silk__json_base64_decode(json_string_value(v), json_string_length(v), &data, &n);
        if (rv == -2)
            return nomem(d);
        if (rv != 0)
            return fail(d, SILK_INVALID_ARGUMENT, "not valid base64");
        ProtobufCBinaryData *bd = slot;
        const ProtobufCBinaryData *def = f->default_value;
        if (bd->data != NULL && (def == NULL || def->data != bd->data))
            free(bd->data);
        bd->data = data;
        bd->len = n;
        return SILK_OK;
    }
    case PROTOBUF_C_TYPE_MESSAGE:
    default: {
        ProtobufCMessage **mp = slot;
        if (*mp == NULL) {
            *mp = alloc_message(f->descriptor);
            if (*mp == NULL)
                return nomem(d);
        }
        return read_message(d, f->descriptor, v, *mp);
    }
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

static silk_status read_timestamp(dec *d, const json_t *v, ProtobufCMessage *msg)
{
    if (!json_is_string(v))
        return fail(d, SILK_INVALID_ARGUMENT,
                    "expected an RFC 3339 timestamp string for google.protobuf.Timestamp, got %s",
                    kind_of(v));
    const char *s = json_string_value(v);
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
        return fail(d, SILK_INVALID_ARGUMENT,
                    "\"%.60s\" is not an RFC 3339 timestamp (\"1972-01-01T10:00:20.021Z\")", s);
    int64_t secs = silk__json_days_from_civil(y, mo, da) * 86400 + h * 3600 + mi * 60 + se -
                   sign * (int64_t)(oh * 3600 + om * 60);
    if (secs < SILK__JSON_TS_MIN || secs > SILK__JSON_TS_MAX)
        return fail(d, SILK_INVALID_ARGUMENT, "timestamp \"%.60s\" is out of range", s);
    const ProtobufCMessageDescriptor *desc = msg->descriptor;
    *(int64_t *)((char *)msg + desc->fields[0].offset) = secs;
    *(int32_t *)((char *)msg + desc->fields[1].offset) = nanos;
    return SILK_OK;
}

static silk_status read_duration(dec *d, const json_t *v, ProtobufCMessage *msg)
{
    if (!json_is_string(v))
        return fail(d, SILK_INVALID_ARGUMENT,
                    "expected a duration string like \"1.5s\" for google.protobuf.Duration, got %s",
                    kind_of(v));
    const char *s = json_string_value(v);
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
        return fail(d, SILK_INVALID_ARGUMENT, "\"%.60s\" is not a duration like \"1.5s\"", s);
    if (secs > SILK__JSON_DUR_MAX)
        return fail(d, SILK_INVALID_ARGUMENT, "duration \"%.60s\" is out of range", s);
    const ProtobufCMessageDescriptor *desc = msg->descriptor;
    *(int64_t *)((char *)msg + desc->fields[0].offset) = neg ? -secs : secs;
    *(int32_t *)((char *)msg + desc->fields[1].offset) = neg ? -nanos : nanos;
    return SILK_OK;
}

/* ============================================================================
 * Fields and messages
 * ========================================================================== */

/* set_present marks a singular field as set: its oneof case or its has_ flag. */
static void set_present(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
    char *base = (char *)msg;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        *(uint32_t *)(base + f->quantifier_offset) = f->id;
    else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset != 0)
        *(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
}

/* oneof_taken returns the name of another member of f's oneof that is set, or NULL. */
static const char *oneof_taken(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
    if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
        return NULL;
    uint32_t set = *(const uint32_t *)((const char *)msg + f->quantifier_offset);
    if (set == 0 || set == f->id)
        return NULL;
    const ProtobufCFieldDescriptor *other =
        protobuf_c_message_descriptor_get_field(msg->descriptor, set);
    return other ? other->name : "another field";
}

static silk_status read_map(dec *d, ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f,
                            const json_t *v)
{
    if (!json_is_object(v))
        return fail(d, SILK_INVALID_ARGUMENT, "expected an object (a map), got %s", kind_of(v));
    char *base = (char *)msg;
    size_t *count = (size_t *)(base + f->quantifier_offset);
    ProtobufCMessage ***array = (ProtobufCMessage ***)(base + f->offset);
    size_t n = json_object_size(v);
    if (n == 0)
        return SILK_OK;
    *array = calloc(n, sizeof **array);
    if (*array == NULL)
        return nomem(d);
    const ProtobufCMessageDescriptor *ed = f->descriptor;
    const ProtobufCFieldDescriptor *kf = &ed->fields[0], *vf = &ed->fields[1];
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)v, key, value)
    {
        ProtobufCMessage *entry = alloc_message(ed);
        if (entry == NULL)
            return nomem(d);
        (*array)[(*count)++] = entry;
        size_t old = path_push(d, "[\"%.60s\"]", key);
        /* A key is the text form of the key type: "12", "true", "name". */
        json_t *k = kf->type == PROTOBUF_C_TYPE_BOOL && strcmp(key, "true") == 0 ? json_true()
                    : kf->type == PROTOBUF_C_TYPE_BOOL && strcmp(key, "false") == 0
                        ? json_false()
                        : json_string(key);
        if (k == NULL) {
            path_pop(d, old);
            return nomem(d);
        }
        silk_status st = read_value(d, kf, k, (char *)entry + kf->offset);
        json_decref(k);
        if (st == SILK_OK && json_is_null(value))
            st = fail(d, SILK_INVALID_ARGUMENT, "a map value may not be null");
        if (st == SILK_OK)
            st = read_value(d, vf, value, (char *)entry + vf->offset);
        path_pop(d, old);
        if (st != SILK_OK)
            return st;
    }
    return SILK_OK;
}

static silk_status read_repeated(dec *d, ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f,
                                 const json_t *v)
{
    if (!json_is_array(v))
        return fail(d, SILK_INVALID_ARGUMENT, "expected an array, got %s", kind_of(v));
    char *base = (char *)msg;
    size_t *count = (size_t *)(base + f->quantifier_offset);
    void **array = (void **)(base + f->offset);
    size_t n = json_array_size(v);
    if (n == 0)
        return SILK_OK;
    size_t size = silk__json_elem_size(f->type);
    *array = calloc(n, size);
    if (*array == NULL)
        return nomem(d);
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(v, i);
        size_t old = path_push(d, "[%zu]", i);
        silk_status st;
        if (json_is_null(e)) {
            st = fail(d, SILK_INVALID_ARGUMENT, "an array element may not be null");
        } else {
            /* Counted first: a message element is freed with the message if reading fails. */
            (*count)++;
            st = read_value(d, f, e, (char *)*array + i * size);
        }
        path_pop(d, old);
        if (st != SILK_OK)
            return st;
    }
    return SILK_OK;
}

static silk_status read_field(dec *d, ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f,
                              const json_t *v)
{
    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        return silk__json_is_map(f) ? read_map(d, msg, f, v) : read_repeated(d, msg, f, v);
    const char *other = oneof_taken(msg, f);
    if (other != NULL)
        return fail(d, SILK_INVALID_ARGUMENT, "%s is set already, of the same oneof", other);
    /* Marked first, so that a message or string read halfway is freed with msg. */
    set_present(msg, f);
    return read_value(d, f, v, (char *)msg + f->offset);
}

static silk_status read_message(dec *d, const ProtobufCMessageDescriptor *desc, const json_t *v,
                                ProtobufCMessage *msg)
{
    switch (silk__json_wkt_of(desc)) {
    case SILK__JSON_WKT_TIMESTAMP:
        return read_timestamp(d, v, msg);
    case SILK__JSON_WKT_DURATION:
        return read_duration(d, v, msg);
    case SILK__JSON_WKT_WRAPPER:
        return read_value(d, &desc->fields[0], v, (char *)msg + desc->fields[0].offset);
    case SILK__JSON_WKT_NONE:
        break;
    }
    if (!json_is_object(v))
        return fail(d, SILK_INVALID_ARGUMENT, "expected an object (%s), got %s", desc->name,
                    kind_of(v));
    unsigned char seen_small[64];
    unsigned char *seen =
        desc->n_fields <= sizeof seen_small ? seen_small : calloc(desc->n_fields, 1);
    if (seen == NULL)
        return nomem(d);
    memset(seen, 0, desc->n_fields <= sizeof seen_small ? sizeof seen_small : 0);
    silk_status st = SILK_OK;
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)v, key, value)
    {
        const ProtobufCFieldDescriptor *f = silk__json_find_field(desc, key);
        if (f == NULL) {
            st = fail(d, SILK_INVALID_ARGUMENT, "unknown field \"%.100s\" in %s", key, desc->name);
            break;
        }
        size_t i = (size_t)(f - desc->fields);
        size_t old = push_field(d, f->name);
        if (seen[i]) {
            st =
                fail(d, SILK_INVALID_ARGUMENT, "given twice, as \"%s\" and by its other name", key);
        } else {
            seen[i] = 1;
            /* null is "not set"; a wrapper's null too. */
            if (!json_is_null(value))
                st = read_field(d, msg, f, value);
        }
        path_pop(d, old);
        if (st != SILK_OK)
            break;
    }
    if (seen != seen_small)
        free(seen);
    return st;
}

/* ============================================================================
 * The API
 * ========================================================================== */

silk_status silk_json_to_message(const ProtobufCMessageDescriptor *desc, const char *json,
                                 size_t len, ProtobufCMessage **out, char *err, size_t errlen)
{
    dec d = {.err = err, .errlen = err ? errlen : 0};
    *out = NULL;
    if (d.errlen > 0)
        err[0] = '\0';
    json_error_t jerr;
    json_t *root =
        json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (root == NULL) {
        /* jansson refuses integers beyond long long: say how to send them. */
        bool big = strstr(jerr.text, "too big") != NULL && strstr(jerr.text, "integer") != NULL;
        return fail(&d, SILK_INVALID_ARGUMENT, "malformed JSON at line %d column %d: %s%s",
                    jerr.line, jerr.column, jerr.text,
                    big ? " (integers beyond 64 bits signed must be sent as strings)" : "");
    }
    ProtobufCMessage *msg = alloc_message(desc);
    if (msg == NULL) {
        json_decref(root);
        return nomem(&d);
    }
    silk_status st = read_message(&d, desc, root, msg);
    json_decref(root);
    if (st != SILK_OK) {
        protobuf_c_message_free_unpacked(msg, NULL);
        return st;
    }
    *out = msg;
    return SILK_OK;
}

silk_status silk_json_set_field(ProtobufCMessage *msg, const char *name, const char *value,
                                char *err, size_t errlen)
{
    dec d = {.err = err, .errlen = err ? errlen : 0};
    if (d.errlen > 0)
        err[0] = '\0';
    /* Walk the dotted path through singular message fields. */
    const char *part = name;
    for (;;) {
        const char *dot = strchr(part, '.');
        size_t n = dot ? (size_t)(dot - part) : strlen(part);
        char key[128];
        if (n == 0 || n >= sizeof key)
            return fail(&d, SILK_INVALID_ARGUMENT, "no field \"%.100s\" in %s", name,
                        msg->descriptor->name);
        memcpy(key, part, n);
        key[n] = '\0';
        const ProtobufCFieldDescriptor *f = silk__json_find_field(msg->descriptor, key);
        if (f == NULL)
            return fail(&d, SILK_INVALID_ARGUMENT, "no field \"%.100s\" in %s", name,
                        msg->descriptor->name);
        push_field(&d, f->name);
        const char *other = f->label == PROTOBUF_C_LABEL_REPEATED ? NULL : oneof_taken(msg, f);
        if (other != NULL)
            return fail(&d, SILK_INVALID_ARGUMENT, "%s is set already, of the same oneof", other);
        silk__json_wkt wkt = f->type == PROTOBUF_C_TYPE_MESSAGE ? silk__json_wkt_of(f->descriptor)
                                                                : SILK__JSON_WKT_NONE;
        if (dot != NULL) {
            if (f->type != PROTOBUF_C_TYPE_MESSAGE || f->label == PROTOBUF_C_LABEL_REPEATED ||
                wkt != SILK__JSON_WKT_NONE)
                return fail(&d, SILK_INVALID_ARGUMENT, "not a message field to go into");
            ProtobufCMessage **mp = (ProtobufCMessage **)((char *)msg + f->offset);
            if (*mp == NULL && (*mp = alloc_message(f->descriptor)) == NULL)
                return nomem(&d);
            set_present(msg, f);
            msg = *mp;
            part = dot + 1;
            continue;
        }
        if (silk__json_is_map(f) ||
            (f->type == PROTOBUF_C_TYPE_MESSAGE && wkt == SILK__JSON_WKT_NONE))
            return fail(&d, SILK_INVALID_ARGUMENT, "a %s field cannot be set from text",
                        silk__json_is_map(f) ? "map" : "message");
        /* The text form is the JSON form written as a string, except booleans. */
        json_t *v = NULL;
        bool is_bool = f->type == PROTOBUF_C_TYPE_BOOL ||
                       (wkt == SILK__JSON_WKT_WRAPPER &&
                        ((const ProtobufCMessageDescriptor *)f->descriptor)->fields[0].type ==
                            PROTOBUF_C_TYPE_BOOL);
        if (is_bool && strcmp(value, "true") == 0)
            v = json_true();
        else if (is_bool && strcmp(value, "false") == 0)
            v = json_false();
        else
            v = json_string(value);
        if (v == NULL) /* jansson takes only UTF-8 */
            return fail(&d, SILK_INVALID_ARGUMENT, "the value is not UTF-8");
        silk_status st;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            char *base = (char *)msg;
            size_t *count = (size_t *)(base + f->quantifier_offset);
            void **array = (void **)(base + f->offset);
            size_t size = silk__json_elem_size(f->type);
            void *grown = realloc(*array, (*count + 1) * size);
            if (grown == NULL) {
                json_decref(v);
                return nomem(&d);
            }
            *array = grown;
            char *slot = (char *)grown + *count * size;
            memset(slot, 0, size);
            path_push(&d, "[%zu]", *count);
            st = read_value(&d, f, v, slot);
            if (st == SILK_OK || f->type == PROTOBUF_C_TYPE_MESSAGE)
                (*count)++; /* a message element is the message's to free either way */
        } else {
            /* Read into a copy, so that a failure leaves the field as it was. */
            union {
                int64_t i;
                double x;
                char *s;
                ProtobufCBinaryData b;
                ProtobufCMessage *m;
            } tmp;
            memset(&tmp, 0, sizeof tmp);
            st = read_value(&d, f, v, &tmp);
            void *slot = (char *)msg + f->offset;
            if (st == SILK_OK) {
                if (f->type == PROTOBUF_C_TYPE_STRING) {
                    char *old = *(char **)slot;
                    if (old != NULL && old != protobuf_c_empty_string && old != f->default_value &&
                        !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF &&
                          *(uint32_t *)((char *)msg + f->quantifier_offset) != f->id))
                        free(old);
                } else if (f->type == PROTOBUF_C_TYPE_BYTES) {
                    ProtobufCBinaryData *old = slot;
                    const ProtobufCBinaryData *def = f->default_value;
                    if (old->data != NULL && (def == NULL || def->data != old->data) &&
                        !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF &&
                          *(uint32_t *)((char *)msg + f->quantifier_offset) != f->id))
                        free(old->data);
                } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
                    ProtobufCMessage *old = *(ProtobufCMessage **)slot;
                    if (old != NULL &&
                        !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF &&
                          *(uint32_t *)((char *)msg + f->quantifier_offset) != f->id))
                        protobuf_c_message_free_unpacked(old, NULL);
                }
                memcpy(slot, &tmp, silk__json_elem_size(f->type));
                set_present(msg, f);
            } else if (f->type == PROTOBUF_C_TYPE_MESSAGE && tmp.m != NULL) {
                protobuf_c_message_free_unpacked(tmp.m, NULL);
            } else if (f->type == PROTOBUF_C_TYPE_STRING) {
                free(tmp.s);
            } else if (f->type == PROTOBUF_C_TYPE_BYTES) {
                free(tmp.b.data);
            }
        }
        json_decref(v);
        return st;
    }
}
