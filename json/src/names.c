/* names.c - the JSON names of fields: lowerCamelCase by default, or the [json_name] that the
 * generator listed in a service's descriptor (silk_json_add_names). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <silk/json.h>

#include "json_internal.h"

/* ============================================================================
 * The default name
 * ========================================================================== */

char *silk_json_field_name(const char *field_name, char *out, size_t outlen)
{
    size_t n = 0;
    bool upper = false;
    if (outlen == 0)
        return out;
    for (const char *s = field_name; *s != '\0' && n + 1 < outlen; s++) {
        if (*s == '_') {
            upper = true;
            continue;
        }
        out[n++] = upper && *s >= 'a' && *s <= 'z' ? (char)(*s - 'a' + 'A') : *s;
        upper = false;
    }
    out[n] = '\0';
    return out;
}

/* is_default_name tells whether key (len bytes) is the lowerCamelCase name of field_name,
 * without building it. */
static bool is_default_name(const char *field_name, const char *key, size_t len)
{
    bool upper = false;
    const char *end = key + len;
    for (const char *s = field_name; *s != '\0'; s++) {
        if (*s == '_') {
            upper = true;
            continue;
        }
        char want = upper && *s >= 'a' && *s <= 'z' ? (char)(*s - 'a' + 'A') : *s;
        upper = false;
        if (key == end || *key++ != want)
            return false;
    }
    return key == end;
}

/* is_name tells whether key (len bytes) is name. */
static bool is_name(const char *name, const char *key, size_t len)
{
    return name[0] == key[0] && strncmp(name, key, len) == 0 && name[len] == '\0';
}

/* ============================================================================
 * Names given by [json_name]
 *
 * A table from message descriptor to the custom names of its fields (by field index), an
 * open-addressing hash on the descriptor's address. It is copied on write and published
 * with one atomic store, so lookups take no lock; the tables replaced stay allocated until
 * the process exits, since a lookup may still be reading one (they are made at start-up
 * only: one per silk_json_add_names call).
 * ========================================================================== */

typedef struct names_entry {
    const ProtobufCMessageDescriptor *desc; /* NULL: an empty slot */
    const char **by_field;                  /* desc->n_fields names, NULL for the default */
} names_entry;

typedef struct names_table {
    struct names_table *older; /* the table this one replaced */
    size_t cap;                /* a power of two */
    size_t n;
    names_entry slots[];
} names_table;

static _Atomic(names_table *) current;
static pthread_mutex_t writer = PTHREAD_MUTEX_INITIALIZER;

static size_t slot_of(const names_table *t, const ProtobufCMessageDescriptor *desc)
{
    uint64_t h = (uint64_t)(uintptr_t)desc * 0x9e3779b97f4a7c15u;
    size_t i = (size_t)(h >> 32) & (t->cap - 1);
    while (t->slots[i].desc != NULL && t->slots[i].desc != desc)
        i = (i + 1) & (t->cap - 1);
    return i;
}

static const names_entry *find_entry(const ProtobufCMessageDescriptor *desc)
{
    const names_table *t = atomic_load_explicit(&current, memory_order_acquire);
    if (t == NULL)
        return NULL; /* no custom name anywhere: the common case costs one load */
    const names_entry *e = &t->slots[slot_of(t, desc)];
    return e->desc == desc ? e : NULL;
}

const char *const *silk__json_custom_names(const ProtobufCMessageDescriptor *desc)
{
    const names_entry *e = find_entry(desc);
    return e != NULL ? e->by_field : NULL;
}

/* free_table frees t and the name arrays it owns. */
static void free_table(names_table *t)
{
    for (size_t i = 0; i < t->cap; i++)
        free(t->slots[i].by_field);
    free(t);
}

/* copy_table returns a copy of old (may be NULL) with room for extra more entries, owning
 * copies of old's name arrays; NULL when memory is exhausted. */
static names_table *copy_table(const names_table *old, size_t extra)
{
    size_t need = (old != NULL ? old->n : 0) + extra, cap = 8;
    while (cap < 2 * need)
        cap *= 2;
    names_table *t = calloc(1, sizeof *t + cap * sizeof t->slots[0]);
    if (t == NULL)
        return NULL;
    t->cap = cap;
    for (size_t i = 0; old != NULL && i < old->cap; i++) {
        const names_entry *e = &old->slots[i];
        if (e->desc == NULL)
            continue;
        size_t size = e->desc->n_fields * sizeof *e->by_field;
        const char **by_field = malloc(size);
        if (by_field == NULL) {
            free_table(t);
            return NULL;
        }
        memcpy(by_field, e->by_field, size);
        t->slots[slot_of(t, e->desc)] = (names_entry){.desc = e->desc, .by_field = by_field};
        t->n++;
    }
    return t;
}

/* add_name records one [json_name] in t; false when memory is exhausted. */
static bool add_name(names_table *t, const silk_json_name *jn)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field(jn->message, (unsigned)jn->field);
    if (f == NULL)
        return true; /* a descriptor of another version: nothing to rename */
    names_entry *e = &t->slots[slot_of(t, jn->message)];
    if (e->desc == NULL) {
        const char **by_field = calloc(jn->message->n_fields, sizeof *by_field);
        if (by_field == NULL)
            return false;
        *e = (names_entry){.desc = jn->message, .by_field = by_field};
        t->n++;
    }
    e->by_field[f - jn->message->fields] = jn->json_name;
    return true;
}

/* add_service_names adds the names desc lists to the table. */
static silk_status add_service_names(const silk_service_desc *desc)
{
    if (desc == NULL)
        return SILK_INVALID_ARGUMENT;
    if (desc->n_json_names == 0)
        return SILK_OK;
    pthread_mutex_lock(&writer);
    names_table *old = atomic_load_explicit(&current, memory_order_relaxed);
    names_table *t = copy_table(old, desc->n_json_names);
    bool ok = t != NULL;
    for (size_t i = 0; ok && i < desc->n_json_names; i++)
        ok = add_name(t, &desc->json_names[i]);
    if (ok) {
        t->older = old;
        atomic_store_explicit(&current, t, memory_order_release);
    } else if (t != NULL) {
        free_table(t);
    }
    pthread_mutex_unlock(&writer);
    return ok ? SILK_OK : SILK_RESOURCE_EXHAUSTED;
}

silk_status silk_json_add_names(const silk_service_desc *const *services, size_t n)
{
    silk_status st = SILK_OK;
    for (size_t i = 0; i < n && st == SILK_OK; i++)
        st = add_service_names(services[i]);
    return st;
}

/* free_tables gives every table back at exit, when no lookup runs any more. */
__attribute__((destructor)) static void free_tables(void)
{
    names_table *t = atomic_exchange(&current, NULL);
    while (t != NULL) {
        names_table *older = t->older;
        free_table(t);
        t = older;
    }
}

/* ============================================================================
 * Finding fields by name
 * ========================================================================== */

const ProtobufCFieldDescriptor *silk__json_find_field(const ProtobufCMessageDescriptor *desc,
                                                      const char *key, size_t len)
{
    const char *const *custom = silk__json_custom_names(desc); /* looked up once per key */
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &desc->fields[i];
        const char *json_name = custom != NULL ? custom[i] : NULL;
        if (is_name(f->name, key, len) ||
            (json_name != NULL ? is_name(json_name, key, len) : is_default_name(f->name, key, len)))
            return f;
    }
    return NULL;
}
