/* decode.c - proto3 JSON to protobuf-c messages: jansson parses, the descriptors drive; the
 * fields, repeated fields, maps and oneofs of messages, and the API (decode_scalar.c reads
 * the values that are not messages). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <silk/json.h>

#include "json_internal.h"

/* path_push appends ".name" (or "name" first) or "[i]" to the path and returns the length
 * to restore with path_pop. A path too long for the buffer ends in "...". */
static size_t path_push(silk__json_dec *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static size_t path_push(silk__json_dec *d, const char *fmt, ...)
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

static void path_pop(silk__json_dec *d, size_t old)
{
    d->path_len = old;
    d->path[old] = '\0';
}

static size_t push_field(silk__json_dec *d, const char *name)
{
    return path_push(d, d->path_len > 0 ? ".%s" : "%s", name);
}

static silk_status read_message(silk__json_dec *d, const ProtobufCMessageDescriptor *desc,
                                const json_t *v, ProtobufCMessage *msg);

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
static silk_status read_value(silk__json_dec *d, const ProtobufCFieldDescriptor *f, const json_t *v,
                              void *slot)
{
    if (f->type != PROTOBUF_C_TYPE_MESSAGE)
        return silk__json_read_scalar(d, f, v, slot);
    ProtobufCMessage **mp = slot;
    if (*mp == NULL) {
        *mp = alloc_message(f->descriptor);
        if (*mp == NULL)
            return silk__json_nomem(d);
    }
    return read_message(d, f->descriptor, v, *mp);
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

static silk_status read_map(silk__json_dec *d, ProtobufCMessage *msg,
                            const ProtobufCFieldDescriptor *f, const json_t *v)
{
    if (!json_is_object(v))
        return silk__json_fail(d, SILK_INVALID_ARGUMENT, "expected an object (a map), got %s",
                               silk__json_kind_of(v));
    char *base = (char *)msg;
    size_t *count = (size_t *)(base + f->quantifier_offset);
    ProtobufCMessage ***array = (ProtobufCMessage ***)(base + f->offset);
    size_t n = json_object_size(v);
    if (n == 0)
        return SILK_OK;
    *array = calloc(n, sizeof **array);
    if (*array == NULL)
        return silk__json_nomem(d);
    const ProtobufCMessageDescriptor *ed = f->descriptor;
    const ProtobufCFieldDescriptor *kf = &ed->fields[0], *vf = &ed->fields[1];
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)v, key, value)
    {
        ProtobufCMessage *entry = alloc_message(ed);
        if (entry == NULL)
            return silk__json_nomem(d);
        (*array)[(*count)++] = entry;
        size_t old = path_push(d, "[\"%.60s\"]", key);
        /* A key is the text form of the key type: "12", "true", "name". */
        json_t *k = kf->type == PROTOBUF_C_TYPE_BOOL && strcmp(key, "true") == 0 ? json_true()
                    : kf->type == PROTOBUF_C_TYPE_BOOL && strcmp(key, "false") == 0
                        ? json_false()
                        : json_string(key);
        if (k == NULL) {
            path_pop(d, old);
            return silk__json_nomem(d);
        }
        silk_status st = read_value(d, kf, k, (char *)entry + kf->offset);
        json_decref(k);
        if (st == SILK_OK && json_is_null(value))
            st = silk__json_fail(d, SILK_INVALID_ARGUMENT, "a map value may not be null");
        if (st == SILK_OK)
            st = read_value(d, vf, value, (char *)entry + vf->offset);
        path_pop(d, old);
        if (st != SILK_OK)
            return st;
    }
    return SILK_OK;
}

static silk_status read_repeated(silk__json_dec *d, ProtobufCMessage *msg,
                                 const ProtobufCFieldDescriptor *f, const json_t *v)
{
    if (!json_is_array(v))
        return silk__json_fail(d, SILK_INVALID_ARGUMENT, "expected an array, got %s",
                               silk__json_kind_of(v));
    char *base = (char *)msg;
    size_t *count = (size_t *)(base + f->quantifier_offset);
    void **array = (void **)(base + f->offset);
    size_t n = json_array_size(v);
    if (n == 0)
        return SILK_OK;
    size_t size = silk__json_elem_size(f->type);
    *array = calloc(n, size);
    if (*array == NULL)
        return silk__json_nomem(d);
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(v, i);
        size_t old = path_push(d, "[%zu]", i);
        silk_status st;
        if (json_is_null(e)) {
            st = silk__json_fail(d, SILK_INVALID_ARGUMENT, "an array element may not be null");
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

static silk_status read_field(silk__json_dec *d, ProtobufCMessage *msg,
                              const ProtobufCFieldDescriptor *f, const json_t *v)
{
    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        return silk__json_is_map(f) ? read_map(d, msg, f, v) : read_repeated(d, msg, f, v);
    const char *other = oneof_taken(msg, f);
    if (other != NULL)
        return silk__json_fail(d, SILK_INVALID_ARGUMENT, "%s is set already, of the same oneof",
                               other);
    /* Marked first, so that a message or string read halfway is freed with msg. */
    set_present(msg, f);
    return read_value(d, f, v, (char *)msg + f->offset);
}

static silk_status read_message(silk__json_dec *d, const ProtobufCMessageDescriptor *desc,
                                const json_t *v, ProtobufCMessage *msg)
{
    switch (silk__json_wkt_of(desc)) {
    case SILK__JSON_WKT_TIMESTAMP:
        return silk__json_read_timestamp(d, v, msg);
    case SILK__JSON_WKT_DURATION:
        return silk__json_read_duration(d, v, msg);
    case SILK__JSON_WKT_WRAPPER:
        return read_value(d, &desc->fields[0], v, (char *)msg + desc->fields[0].offset);
    case SILK__JSON_WKT_NONE:
        break;
    }
    if (!json_is_object(v))
        return silk__json_fail(d, SILK_INVALID_ARGUMENT, "expected an object (%s), got %s",
                               desc->name, silk__json_kind_of(v));
    unsigned char seen_small[64];
    unsigned char *seen =
        desc->n_fields <= sizeof seen_small ? seen_small : calloc(desc->n_fields, 1);
    if (seen == NULL)
        return silk__json_nomem(d);
    memset(seen, 0, desc->n_fields <= sizeof seen_small ? sizeof seen_small : 0);
    silk_status st = SILK_OK;
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)v, key, value)
    {
        const ProtobufCFieldDescriptor *f = silk__json_find_field(desc, key);
        if (f == NULL) {
            st = silk__json_fail(d, SILK_INVALID_ARGUMENT, "unknown field \"%.100s\" in %s", key,
                                 desc->name);
            break;
        }
        size_t i = (size_t)(f - desc->fields);
        size_t old = push_field(d, f->name);
        if (seen[i]) {
            st = silk__json_fail(d, SILK_INVALID_ARGUMENT,
                                 "given twice, as \"%s\" and by its other name", key);
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
    silk__json_dec d = {.err = err, .errlen = err ? errlen : 0};
    *out = NULL;
    if (d.errlen > 0)
        err[0] = '\0';
    json_error_t jerr;
    json_t *root =
        json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (root == NULL) {
        /* jansson refuses integers beyond long long: say how to send them. */
        bool big = strstr(jerr.text, "too big") != NULL && strstr(jerr.text, "integer") != NULL;
        return silk__json_fail(
            &d, SILK_INVALID_ARGUMENT, "malformed JSON at line %d column %d: %s%s", jerr.line,
            jerr.column, jerr.text,
            big ? " (integers beyond 64 bits signed must be sent as strings)" : "");
    }
    ProtobufCMessage *msg = alloc_message(desc);
    if (msg == NULL) {
        json_decref(root);
        return silk__json_nomem(&d);
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
    silk__json_dec d = {.err = err, .errlen = err ? errlen : 0};
    if (d.errlen > 0)
        err[0] = '\0';
    /* Walk the dotted path through singular message fields. */
    const char *part = name;
    for (;;) {
        const char *dot = strchr(part, '.');
        size_t n = dot ? (size_t)(dot - part) : strlen(part);
        char key[128];
        if (n == 0 || n >= sizeof key)
            return silk__json_fail(&d, SILK_INVALID_ARGUMENT, "no field \"%.100s\" in %s", name,
                                   msg->descriptor->name);
        memcpy(key, part, n);
        key[n] = '\0';
        const ProtobufCFieldDescriptor *f = silk__json_find_field(msg->descriptor, key);
        if (f == NULL)
            return silk__json_fail(&d, SILK_INVALID_ARGUMENT, "no field \"%.100s\" in %s", name,
                                   msg->descriptor->name);
        push_field(&d, f->name);
        const char *other = f->label == PROTOBUF_C_LABEL_REPEATED ? NULL : oneof_taken(msg, f);
        if (other != NULL)
            return silk__json_fail(&d, SILK_INVALID_ARGUMENT,
                                   "%s is set already, of the same oneof", other);
        silk__json_wkt wkt = f->type == PROTOBUF_C_TYPE_MESSAGE ? silk__json_wkt_of(f->descriptor)
                                                                : SILK__JSON_WKT_NONE;
        if (dot != NULL) {
            if (f->type != PROTOBUF_C_TYPE_MESSAGE || f->label == PROTOBUF_C_LABEL_REPEATED ||
                wkt != SILK__JSON_WKT_NONE)
                return silk__json_fail(&d, SILK_INVALID_ARGUMENT, "not a message field to go into");
            ProtobufCMessage **mp = (ProtobufCMessage **)((char *)msg + f->offset);
            if (*mp == NULL && (*mp = alloc_message(f->descriptor)) == NULL)
                return silk__json_nomem(&d);
            set_present(msg, f);
            msg = *mp;
            part = dot + 1;
            continue;
        }
        if (silk__json_is_map(f) ||
            (f->type == PROTOBUF_C_TYPE_MESSAGE && wkt == SILK__JSON_WKT_NONE))
            return silk__json_fail(&d, SILK_INVALID_ARGUMENT, "a %s field cannot be set from text",
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
            return silk__json_fail(&d, SILK_INVALID_ARGUMENT, "the value is not UTF-8");
        silk_status st;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            char *base = (char *)msg;
            size_t *count = (size_t *)(base + f->quantifier_offset);
            void **array = (void **)(base + f->offset);
            size_t size = silk__json_elem_size(f->type);
            void *grown = realloc(*array, (*count + 1) * size);
            if (grown == NULL) {
                json_decref(v);
                return silk__json_nomem(&d);
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
