/* decode.c - proto3 JSON to protobuf-c messages in one pass over the text (lex.c's tokens),
 * the descriptors driving: messages, repeated fields, maps and oneofs, and the API
 * (decode_scalar.c reads the values of one token). */
#include <stdlib.h>
#include <string.h>

#include <silk/json.h>

#include "core/utf8.h"
#include "json_internal.h"

/* path_add appends n bytes of s to the path, as many as fit: a path too long for the buffer
 * is cut. (Done by hand: every member and element read pushes, and printf costs more than
 * the rest of the reading.) */
static void path_add(silk__json_dec *d, const char *s, size_t n)
{
    size_t room = sizeof d->path - 1 - d->path_len;
    if (n > room)
        n = room;
    memcpy(d->path + d->path_len, s, n);
    d->path_len += n;
    d->path[d->path_len] = '\0';
}

static void path_pop(silk__json_dec *d, size_t old)
{
    d->path_len = old;
    d->path[old] = '\0';
}

/* push_field appends ".name" (or "name" first) to the path and returns the length to restore
 * with path_pop. */
static size_t push_field(silk__json_dec *d, const char *name)
{
    size_t old = d->path_len;
    if (old > 0)
        path_add(d, ".", 1);
    path_add(d, name, strlen(name));
    return old;
}

/* push_index appends "[i]" to the path, as push_field does. */
static size_t push_index(silk__json_dec *d, size_t i)
{
    char digits[24], *p = digits + sizeof digits;
    *--p = ']';
    do
        *--p = (char)('0' + i % 10);
    while ((i /= 10) > 0);
    *--p = '[';
    size_t old = d->path_len;
    path_add(d, p, (size_t)(digits + sizeof digits - p));
    return old;
}

/* push_key appends "[\"key\"]" to the path (the key cut to 60 bytes), as push_field does. */
static size_t push_key(silk__json_dec *d, const char *key, size_t len)
{
    size_t old = d->path_len;
    path_add(d, "[\"", 2);
    path_add(d, key, len < 60 ? len : 60);
    path_add(d, "\"]", 2);
    return old;
}

/* reader is one decoding: its errors and path, and the text's tokens. */
typedef struct reader {
    silk__json_dec d;
    silk__json_lex lx;
} reader;

static silk_status read_object(reader *r, const ProtobufCMessageDescriptor *desc,
                               ProtobufCMessage *msg);

/* read_value stores the value whose first token is current, of field f's type (one element
 * for a repeated field), at slot. What it allocates is in the slot as soon as it exists, so
 * that freeing the message that holds the slot frees it, whatever fails later. */
static silk_status read_value(reader *r, const ProtobufCFieldDescriptor *f, void *slot)
{
    if (f->type != PROTOBUF_C_TYPE_MESSAGE ||
        silk__json_wkt_of(f->descriptor) != SILK__JSON_WKT_NONE)
        return silk__json_read_value(&r->d, f, &r->lx.tok, slot);
    ProtobufCMessage **mp = slot;
    if (*mp == NULL && (*mp = silk__json_alloc_message(r->d.alloc, f->descriptor)) == NULL)
        return silk__json_nomem(&r->d);
    return read_object(r, f->descriptor, *mp);
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

/* grow makes room in a repeated field's array (*array, count elements of size bytes, room
 * for *cap) for one more, zeroed. The array is the decoding's allocator's: realloc'd when
 * that is malloc, else (a ProtobufCAllocator cannot resize) a new one, the elements copied
 * and the old one freed through it. */
static silk_status grow(reader *r, void **array, size_t count, size_t *cap, size_t size)
{
    if (count < *cap)
        return SILK_OK;
    size_t n = *cap == 0 ? 4 : *cap * 2;
    ProtobufCAllocator *a = r->d.alloc;
    void *grown = NULL;
    if (n >= SIZE_MAX / size) {
        /* no room to ask for */
    } else if (a == &silk__json_malloc) {
        grown = realloc(*array, n * size);
    } else if ((grown = a->alloc(a->allocator_data, n * size)) != NULL) {
        if (count > 0)
            memcpy(grown, *array, count * size);
        silk__json_free(a, *array);
    }
    if (grown == NULL)
        return silk__json_nomem(&r->d);
    memset((char *)grown + count * size, 0, (n - count) * size);
    *array = grown;
    *cap = n;
    return SILK_OK;
}

/* read_entry reads a map's member, its key current, into a new entry of f. */
static silk_status read_entry(reader *r, ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f,
                              silk__json_keys *keys, size_t *cap)
{
    const silk__json_tok *key = &r->lx.tok;
    int added = silk__json_keys_add(keys, key->s, key->len);
    if (added <= 0)
        return added < 0 ? silk__json_nomem(&r->d)
                         : silk__json_lex_fail(&r->lx, "duplicate object key");
    char *base = (char *)msg;
    size_t *count = (size_t *)(base + f->quantifier_offset);
    ProtobufCMessage ***array = (ProtobufCMessage ***)(base + f->offset);
    const ProtobufCMessageDescriptor *ed = f->descriptor;
    const ProtobufCFieldDescriptor *kf = &ed->fields[0], *vf = &ed->fields[1];
    silk_status st = grow(r, (void **)array, *count, cap, sizeof **array);
    ProtobufCMessage *entry = st == SILK_OK ? silk__json_alloc_message(r->d.alloc, ed) : NULL;
    if (entry == NULL)
        return st != SILK_OK ? st : silk__json_nomem(&r->d);
    (*array)[(*count)++] = entry;
    size_t old = push_key(&r->d, key->s, key->len);
    /* A key is the text form of the key type: "12", "true", "name". */
    silk__json_tok k = *key;
    if (kf->type == PROTOBUF_C_TYPE_BOOL && strcmp(key->s, "true") == 0)
        k.kind = SILK__JSON_TRUE;
    else if (kf->type == PROTOBUF_C_TYPE_BOOL && strcmp(key->s, "false") == 0)
        k.kind = SILK__JSON_FALSE;
    st = silk__json_read_value(&r->d, kf, &k, (char *)entry + kf->offset);
    if (st == SILK_OK)
        st = silk__json_member_value(&r->lx);
    if (st == SILK_OK && r->lx.tok.kind == SILK__JSON_NULL)
        st = silk__json_fail(&r->d, SILK_INVALID_ARGUMENT, "a map value may not be null");
    if (st == SILK_OK)
        st = read_value(r, vf, (char *)entry + vf->offset);
    path_pop(&r->d, old);
    return st;
}

static silk_status read_map(reader *r, ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
    if (r->lx.tok.kind != SILK__JSON_OBJECT)
        return silk__json_fail(&r->d, SILK_INVALID_ARGUMENT, "expected an object (a map), got %s",
                               silk__json_kind_of(&r->lx.tok));
    silk__json_keys keys;
    silk__json_keys_init(&keys);
    size_t cap = 0;
    bool more;
    silk_status st = silk__json_member_first(&r->lx, &more);
    while (st == SILK_OK && more) {
        if ((st = read_entry(r, msg, f, &keys, &cap)) == SILK_OK)
            st = silk__json_member_next(&r->lx, &more);
    }
    silk__json_keys_fini(&keys);
    return st;
}

static silk_status read_repeated(reader *r, ProtobufCMessage *msg,
                                 const ProtobufCFieldDescriptor *f)
{
    if (r->lx.tok.kind != SILK__JSON_ARRAY)
        return silk__json_fail(&r->d, SILK_INVALID_ARGUMENT, "expected an array, got %s",
                               silk__json_kind_of(&r->lx.tok));
    char *base = (char *)msg;
    size_t *count = (size_t *)(base + f->quantifier_offset);
    void **array = (void **)(base + f->offset);
    size_t size = silk__json_elem_size(f->type), cap = 0;
    bool more;
    silk_status st = silk__json_elem_first(&r->lx, &more);
    for (size_t i = 0; st == SILK_OK && more; i++) {
        size_t old = push_index(&r->d, i);
        if (r->lx.tok.kind == SILK__JSON_NULL) {
            st = silk__json_fail(&r->d, SILK_INVALID_ARGUMENT, "an array element may not be null");
        } else if ((st = grow(r, array, *count, &cap, size)) == SILK_OK) {
            /* Counted first: a message element is freed with the message if reading fails. */
            (*count)++;
            st = read_value(r, f, (char *)*array + i * size);
        }
        path_pop(&r->d, old);
        if (st == SILK_OK)
            st = silk__json_elem_next(&r->lx, &more);
    }
    return st;
}

/* read_field reads the value of f, not null, whose first token is current. */
static silk_status read_field(reader *r, ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        return silk__json_is_map(f) ? read_map(r, msg, f) : read_repeated(r, msg, f);
    const char *other = oneof_taken(msg, f);
    if (other != NULL)
        return silk__json_fail(&r->d, SILK_INVALID_ARGUMENT, "%s is set already, of the same oneof",
                               other);
    /* Marked first, so that a message or string read halfway is freed with msg. */
    set_present(msg, f);
    return read_value(r, f, (char *)msg + f->offset);
}

/* read_member reads a message's member, its key current. seen[i] says under which name
 * field i was given: 1 its proto name, 2 its JSON name; the same one twice is the same key
 * twice, which JSON refuses. */
static silk_status read_member(reader *r, const ProtobufCMessageDescriptor *desc,
                               ProtobufCMessage *msg, unsigned char *seen)
{
    const silk__json_tok *key = &r->lx.tok;
    const ProtobufCFieldDescriptor *f = silk__json_find_field(desc, key->s, key->len);
    if (f == NULL)
        return silk__json_fail(&r->d, SILK_INVALID_ARGUMENT, "unknown field \"%.100s\" in %s",
                               key->s, desc->name);
    size_t i = (size_t)(f - desc->fields);
    unsigned char how = strcmp(f->name, key->s) == 0 ? 1 : 2;
    if (seen[i] == how)
        return silk__json_lex_fail(&r->lx, "duplicate object key");
    size_t old = push_field(&r->d, f->name);
    silk_status st;
    if (seen[i] != 0) {
        st = silk__json_fail(&r->d, SILK_INVALID_ARGUMENT,
                             "given twice, as \"%s\" and by its other name", key->s);
    } else {
        seen[i] = how;
        st = silk__json_member_value(&r->lx);
        /* null is "not set"; a wrapper's null too. */
        if (st == SILK_OK && r->lx.tok.kind != SILK__JSON_NULL)
            st = read_field(r, msg, f);
    }
    path_pop(&r->d, old);
    return st;
}

/* read_object reads a message of desc, not a well-known type with a form of its own, from
 * the object whose '{' is current. */
static silk_status read_object(reader *r, const ProtobufCMessageDescriptor *desc,
                               ProtobufCMessage *msg)
{
    if (r->lx.tok.kind != SILK__JSON_OBJECT)
        return silk__json_fail(&r->d, SILK_INVALID_ARGUMENT, "expected an object (%s), got %s",
                               desc->name, silk__json_kind_of(&r->lx.tok));
    unsigned char seen_small[64];
    unsigned char *seen =
        desc->n_fields <= sizeof seen_small ? seen_small : calloc(desc->n_fields, 1);
    if (seen == NULL)
        return silk__json_nomem(&r->d);
    if (seen == seen_small)
        memset(seen, 0, desc->n_fields);
    bool more;
    silk_status st = silk__json_member_first(&r->lx, &more);
    while (st == SILK_OK && more) {
        if ((st = read_member(r, desc, msg, seen)) == SILK_OK)
            st = silk__json_member_next(&r->lx, &more);
    }
    if (seen != seen_small)
        free(seen);
    return st;
}

/* ============================================================================
 * The API
 * ========================================================================== */

/* read_document reads the whole text into msg, of desc. */
static silk_status read_document(reader *r, const ProtobufCMessageDescriptor *desc,
                                 ProtobufCMessage *msg)
{
    silk_status st = silk__json_doc_begin(&r->lx);
    if (st != SILK_OK)
        return st;
    if (silk__json_wkt_of(desc) != SILK__JSON_WKT_NONE)
        st = silk__json_read_wkt(&r->d, &r->lx.tok, msg);
    else
        st = read_object(r, desc, msg);
    return st != SILK_OK ? st : silk__json_doc_end(&r->lx);
}

silk_status silk_json_to_message(const ProtobufCMessageDescriptor *desc, const char *json,
                                 size_t len, ProtobufCMessage **out, char *err, size_t errlen)
{
    return silk_json_to_message_in(desc, json, len, NULL, out, err, errlen);
}

silk_status silk_json_to_message_in(const ProtobufCMessageDescriptor *desc, const char *json,
                                    size_t len, ProtobufCAllocator *allocator,
                                    ProtobufCMessage **out, char *err, size_t errlen)
{
    reader r; /* not zeroed: its buffers are written before they are read */
    r.d.alloc = allocator != NULL ? allocator : &silk__json_malloc;
    r.d.err = err;
    r.d.errlen = err ? errlen : 0;
    r.d.path_len = 0;
    r.d.path[0] = '\0';
    *out = NULL;
    if (r.d.errlen > 0)
        err[0] = '\0';
    ProtobufCMessage *msg = silk__json_alloc_message(r.d.alloc, desc);
    if (msg == NULL)
        return silk__json_nomem(&r.d);
    silk__json_lex_init(&r.lx, json, len);
    silk_status st = read_document(&r, desc, msg);
    if (r.lx.failed) {
        st = silk__json_lex_report(&r.lx, &r.d);
    } else if (st == SILK_INVALID_ARGUMENT) {
        /* An error of meaning: a JSON error anywhere in the text comes first. */
        silk_status syntax = silk__json_check_syntax(json, len, &r.d);
        if (syntax != SILK_OK)
            st = syntax;
    }
    silk__json_lex_fini(&r.lx);
    if (st != SILK_OK) {
        /* All that was made is reachable from msg (read_value's rule): this frees it all. */
        protobuf_c_message_free_unpacked(msg, r.d.alloc);
        return st;
    }
    *out = msg;
    return SILK_OK;
}

silk_status silk_json_set_field(ProtobufCMessage *msg, const char *name, const char *value,
                                char *err, size_t errlen)
{
    /* msg is malloc's (silk/json.h), and so is what is set here: realloc and free below. */
    silk__json_dec d = {.alloc = &silk__json_malloc, .err = err, .errlen = err ? errlen : 0};
    if (d.errlen > 0)
        err[0] = '\0';
    /* Walk the dotted path through singular message fields. */
    const char *part = name;
    for (;;) {
        const char *dot = strchr(part, '.');
        size_t n = dot ? (size_t)(dot - part) : strlen(part);
        const ProtobufCFieldDescriptor *f =
            n == 0 || n >= 128 ? NULL : silk__json_find_field(msg->descriptor, part, n);
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
            if (*mp == NULL && (*mp = silk__json_alloc_message(d.alloc, f->descriptor)) == NULL)
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
        silk__json_tok v = {.kind = SILK__JSON_STRING, .s = value, .len = strlen(value)};
        bool is_bool = f->type == PROTOBUF_C_TYPE_BOOL ||
                       (wkt == SILK__JSON_WKT_WRAPPER &&
                        ((const ProtobufCMessageDescriptor *)f->descriptor)->fields[0].type ==
                            PROTOBUF_C_TYPE_BOOL);
        if (is_bool && strcmp(value, "true") == 0)
            v.kind = SILK__JSON_TRUE;
        else if (is_bool && strcmp(value, "false") == 0)
            v.kind = SILK__JSON_FALSE;
        else if (!silk__utf8_valid(value, v.len))
            return silk__json_fail(&d, SILK_INVALID_ARGUMENT, "the value is not UTF-8");
        silk_status st;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            char *base = (char *)msg;
            size_t *count = (size_t *)(base + f->quantifier_offset);
            void **array = (void **)(base + f->offset);
            size_t size = silk__json_elem_size(f->type);
            void *grown = realloc(*array, (*count + 1) * size);
            if (grown == NULL)
                return silk__json_nomem(&d);
            *array = grown;
            char *slot = (char *)grown + *count * size;
            memset(slot, 0, size);
            push_index(&d, *count);
            st = silk__json_read_value(&d, f, &v, slot);
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
            st = silk__json_read_value(&d, f, &v, &tmp);
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
        return st;
    }
}
