/* json.c - JSON bodies to protobuf-c messages and back, on the messages' descriptors. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "json.h"

/* The bytes a field of each scalar type takes in a message, or 0 when it is not mapped. */
static size_t scalar_size(ProtobufCType type)
{
    switch (type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_ENUM:
        return 4;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_FLOAT:
        return sizeof(float);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    default:
        return 0;
    }
}

char *silk__gw_json_name(const char *field_name, char *out, size_t out_size)
{
    size_t n = 0;
    int upper = 0;
    for (const char *s = field_name; *s != '\0' && n + 1 < out_size; s++) {
        if (*s == '_') {
            upper = 1;
            continue;
        }
        out[n++] = upper && *s >= 'a' && *s <= 'z' ? (char)(*s - 'a' + 'A') : *s;
        upper = 0;
    }
    if (out_size > 0)
        out[n] = '\0';
    return out;
}

static void errf(char *err, size_t err_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void errf(char *err, size_t err_size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
}

/* ============================================================================
 * JSON -> message
 * ========================================================================== */

/* find_field returns the field whose name or JSON name is key, or NULL. */
static const ProtobufCFieldDescriptor *find_field(const ProtobufCMessageDescriptor *desc,
                                                  const char *key)
{
    char json_name[128];
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &desc->fields[i];
        if (strcmp(f->name, key) == 0 ||
            strcmp(silk__gw_json_name(f->name, json_name, sizeof json_name), key) == 0)
            return f;
    }
    return NULL;
}

/* read_signed reads an integer from a JSON number or a string of digits (proto3 JSON
 * writes 64-bit integers as strings). It returns 0, or -1 when v is neither. */
static int read_signed(const json_t *v, long long *out)
{
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d != (double)(long long)d)
            return -1;
        *out = (long long)d;
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        errno = 0;
        *out = strtoll(s, &end, 10);
        return *s != '\0' && *end == '\0' && errno == 0 ? 0 : -1;
    }
    return -1;
}

static int read_unsigned(const json_t *v, unsigned long long *out)
{
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        errno = 0;
        *out = strtoull(s, &end, 10);
        return *s >= '0' && *s <= '9' && *end == '\0' && errno == 0 ? 0 : -1;
    }
    long long x;
    if (read_signed(v, &x) != 0 || x < 0)
        return -1;
    *out = (unsigned long long)x;
    return 0;
}

/* read_scalar stores the value v of field f's type at dst. It returns SILK_OK, or an error
 * with err set. */
static silk_status read_scalar(const ProtobufCFieldDescriptor *f, const json_t *v, void *dst,
                               char *err, size_t err_size)
{
    long long i;
    unsigned long long u;

    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        if (!json_is_string(v))
            break;
        size_t n = json_string_length(v);
        const char *s = json_string_value(v);
        if (memchr(s, '\0', n) != NULL) {
            errf(err, err_size, "field %s: a string may not hold NUL", f->name);
            return SILK_INVALID_ARGUMENT;
        }
        char *copy = strndup(s, n);
        if (copy == NULL) {
            errf(err, err_size, "out of memory");
            return SILK_RESOURCE_EXHAUSTED;
        }
        *(char **)dst = copy;
        return SILK_OK;
    }
    case PROTOBUF_C_TYPE_BOOL:
        if (!json_is_boolean(v))
            break;
        *(protobuf_c_boolean *)dst = json_is_true(v);
        return SILK_OK;
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        if (read_signed(v, &i) != 0 || i < INT32_MIN || i > INT32_MAX)
            break;
        *(int32_t *)dst = (int32_t)i;
        return SILK_OK;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if (read_unsigned(v, &u) != 0 || u > UINT32_MAX)
            break;
        *(uint32_t *)dst = (uint32_t)u;
        return SILK_OK;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        if (read_signed(v, &i) != 0)
            break;
        *(int64_t *)dst = i;
        return SILK_OK;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        if (read_unsigned(v, &u) != 0)
            break;
        *(uint64_t *)dst = u;
        return SILK_OK;
    case PROTOBUF_C_TYPE_FLOAT:
        if (!json_is_number(v))
            break;
        *(float *)dst = (float)json_number_value(v);
        return SILK_OK;
    case PROTOBUF_C_TYPE_DOUBLE:
        if (!json_is_number(v))
            break;
        *(double *)dst = json_number_value(v);
        return SILK_OK;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *ed = f->descriptor;
        const ProtobufCEnumValue *ev = NULL;
        if (json_is_string(v))
            ev = protobuf_c_enum_descriptor_get_value_by_name(ed, json_string_value(v));
        else if (json_is_integer(v) && json_integer_value(v) >= INT32_MIN &&
                 json_integer_value(v) <= INT32_MAX)
            ev = protobuf_c_enum_descriptor_get_value(ed, (int)json_integer_value(v));
        if (ev == NULL)
            break;
        *(int *)dst = ev->value;
        return SILK_OK;
    }
    default:
        errf(err, err_size, "field %s: its type is not mapped from JSON yet", f->name);
        return SILK_UNIMPLEMENTED;
    }
    errf(err, err_size, "field %s: wrong type of value", f->name);
    return SILK_INVALID_ARGUMENT;
}

/* free_string frees a string field's value unless it is the field's default. */
static void free_string(const ProtobufCFieldDescriptor *f, char *s)
{
    if (s != NULL && s != f->default_value && s != protobuf_c_empty_string)
        free(s);
}

static silk_status read_field(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f,
                              const json_t *v, char *err, size_t err_size)
{
    char *base = (char *)msg;
    size_t size = scalar_size(f->type);
    if (size == 0) {
        errf(err, err_size, "field %s: its type is not mapped from JSON yet", f->name);
        return SILK_UNIMPLEMENTED;
    }

    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        size_t *count = (size_t *)(base + f->quantifier_offset);
        void **array = (void **)(base + f->offset);
        if (!json_is_array(v)) {
            errf(err, err_size, "field %s: expected an array", f->name);
            return SILK_INVALID_ARGUMENT;
        }
        /* A key given twice (by name and by JSON name): the last one wins. */
        if (*array != NULL) {
            if (f->type == PROTOBUF_C_TYPE_STRING)
                for (size_t i = 0; i < *count; i++)
                    free(((char **)*array)[i]);
            free(*array);
            *array = NULL;
            *count = 0;
        }
        size_t n = json_array_size(v);
        if (n == 0)
            return SILK_OK;
        *array = calloc(n, size);
        if (*array == NULL) {
            errf(err, err_size, "out of memory");
            return SILK_RESOURCE_EXHAUSTED;
        }
        for (size_t i = 0; i < n; i++) {
            silk_status st =
                read_scalar(f, json_array_get(v, i), (char *)*array + i * size, err, err_size);
            if (st != SILK_OK)
                return st; /* the elements read so far are counted and freed with msg */
            (*count)++;
        }
        return SILK_OK;
    }

    void *dst = base + f->offset;
    if (f->type == PROTOBUF_C_TYPE_STRING) {
        char *old = *(char **)dst;
        silk_status st = read_scalar(f, v, dst, err, err_size);
        if (st == SILK_OK)
            free_string(f, old);
        return st;
    }
    silk_status st = read_scalar(f, v, dst, err, err_size);
    if (st != SILK_OK)
        return st;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        *(uint32_t *)(base + f->quantifier_offset) = f->id;
    else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset != 0)
        *(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
    return SILK_OK;
}

silk_status silk__gw_json_to_message(const ProtobufCMessageDescriptor *desc, const char *json,
                                     size_t len, ProtobufCMessage **out, char *err, size_t err_size)
{
    *out = NULL;
    json_t *root = NULL;
    size_t skip = 0;
    while (skip < len &&
           (json[skip] == ' ' || json[skip] == '\t' || json[skip] == '\r' || json[skip] == '\n'))
        skip++;
    if (skip < len) {
        json_error_t jerr;
        root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
        if (root == NULL) {
            errf(err, err_size, "malformed JSON: %s at line %d column %d", jerr.text, jerr.line,
                 jerr.column);
            return SILK_INVALID_ARGUMENT;
        }
        if (!json_is_object(root)) {
            json_decref(root);
            errf(err, err_size, "the body must be a JSON object");
            return SILK_INVALID_ARGUMENT;
        }
    }

    ProtobufCMessage *msg = malloc(desc->sizeof_message);
    if (msg == NULL) {
        json_decref(root);
        errf(err, err_size, "out of memory");
        return SILK_RESOURCE_EXHAUSTED;
    }
    protobuf_c_message_init(desc, msg);

    silk_status st = SILK_OK;
    const char *key;
    json_t *value;
    if (root != NULL) {
        json_object_foreach(root, key, value)
        {
            const ProtobufCFieldDescriptor *f = find_field(desc, key);
            if (f == NULL) {
                errf(err, err_size, "unknown field \"%s\" in %s", key, desc->name);
                st = SILK_INVALID_ARGUMENT;
                break;
            }
            if (json_is_null(value)) /* proto3 JSON: null is the default */
                continue;
            st = read_field(msg, f, value, err, err_size);
            if (st != SILK_OK)
                break;
        }
    }
    json_decref(root);
    if (st != SILK_OK) {
        protobuf_c_message_free_unpacked(msg, NULL);
        return st;
    }
    *out = msg;
    return SILK_OK;
}

/* ============================================================================
 * message -> JSON
 * ========================================================================== */

/* write_scalar returns the JSON value of the field value at src, or NULL. */
static json_t *write_scalar(const ProtobufCFieldDescriptor *f, const void *src)
{
    char num[32];
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)src;
        return json_string(s ? s : "");
    }
    case PROTOBUF_C_TYPE_BOOL:
        return json_boolean(*(const protobuf_c_boolean *)src);
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return json_integer(*(const int32_t *)src);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return json_integer(*(const uint32_t *)src);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        snprintf(num, sizeof num, "%" PRId64, *(const int64_t *)src);
        return json_string(num);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        snprintf(num, sizeof num, "%" PRIu64, *(const uint64_t *)src);
        return json_string(num);
    case PROTOBUF_C_TYPE_FLOAT:
        return json_real(*(const float *)src);
    case PROTOBUF_C_TYPE_DOUBLE:
        return json_real(*(const double *)src);
    case PROTOBUF_C_TYPE_ENUM: {
        int n = *(const int *)src;
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, n);
        return ev ? json_string(ev->name) : json_integer(n);
    }
    default:
        return NULL;
    }
}

static json_t *write_field(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
    const char *base = (const char *)msg;
    if (f->label != PROTOBUF_C_LABEL_REPEATED)
        return write_scalar(f, base + f->offset);
    size_t size = scalar_size(f->type);
    size_t count = *(const size_t *)(base + f->quantifier_offset);
    const char *array = *(char *const *)(base + f->offset);
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < count; i++)
        if (json_array_append_new(arr, write_scalar(f, array + i * size)) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    return arr;
}

char *silk__gw_json_from_message(const ProtobufCMessage *msg, char *err, size_t err_size)
{
    const ProtobufCMessageDescriptor *desc = msg->descriptor;
    const char *base = (const char *)msg;
    json_t *obj = json_object();
    if (obj == NULL) {
        errf(err, err_size, "out of memory");
        return NULL;
    }
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &desc->fields[i];
        char name[128];
        if (scalar_size(f->type) == 0) {
            errf(err, err_size, "field %s of %s: its type is not mapped to JSON yet", f->name,
                 desc->name);
            json_decref(obj);
            return NULL;
        }
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)(base + f->quantifier_offset) != f->id)
            continue;
        if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && f->label == PROTOBUF_C_LABEL_OPTIONAL &&
            f->quantifier_offset != 0 &&
            !*(const protobuf_c_boolean *)(base + f->quantifier_offset))
            continue;
        json_t *v = write_field(msg, f);
        if (v == NULL ||
            json_object_set_new(obj, silk__gw_json_name(f->name, name, sizeof name), v)) {
            errf(err, err_size, "field %s of %s cannot be written as JSON", f->name, desc->name);
            json_decref(obj);
            return NULL;
        }
    }
    char *text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(obj);
    if (text == NULL)
        errf(err, err_size, "out of memory");
    return text;
}

char *silk__gw_json_error(silk_status code, const char *message)
{
    json_t *msg = json_string(message ? message : "");
    if (msg == NULL && message != NULL) {
        /* Not UTF-8: keep the ASCII and replace every other byte. */
        char *ascii = strdup(message);
        if (ascii == NULL)
            return NULL;
        for (char *p = ascii; *p != '\0'; p++)
            if ((unsigned char)*p >= 0x80)
                *p = '?';
        msg = json_string(ascii);
        free(ascii);
    }
    json_t *obj = json_pack("{s:i,s:o}", "code", (int)code, "message", msg);
    if (obj == NULL)
        return NULL;
    char *text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(obj);
    return text;
}
