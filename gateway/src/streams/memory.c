/* memory.c - one gateway's streams in memory: a ring of copies per stream, and the streams and
 * idempotency keys each in a hash table (a keyed hash, seeded per process) and a min-heap by
 * expiry, so that a sweep frees exactly what has expired. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/random.h"
#include "streams/memory.h"

/* The longest key: route, business id and idempotency key, each with a NUL after it. */
#define KEY_CAP (3 * (SILK__STREAM_NAME_MAX + 1))

/* item is what a table and a heap hold: a stream or an idempotency key, first in either. */
typedef struct item {
    struct item *next; /* hash chain */
    uint64_t hash;
    double expires; /* forgotten at this time of the store's clock */
    size_t heap_i;  /* where it is in its heap */
    size_t klen;
    char *key; /* "route\0business\0" (a stream) or "route\0business\0idem\0" (a key) */
} item;

/* table is a chained hash table of items; n_slots is a power of two. */
typedef struct table {
    item **slots;
    size_t n_slots, n;
} table;

/* heap is a min-heap of items by expires. */
typedef struct heap {
    item **v;
    size_t n, cap;
} heap;

/* slot is one kept message: a copy. */
typedef struct slot {
    uint8_t *data;
    size_t len;
    bool binary;
} slot;

/* stream is one (route, business id): ring[(head + i) % cap] for i < n holds offset
 * top - n + 1 + i. */
typedef struct stream {
    item it;
    char epoch[SILK__STREAM_EPOCH_MAX + 1];
    uint64_t top;
    slot *ring;
    size_t cap, head, n;
} stream;

/* idem is an idempotency key: the append it was first seen with. */
typedef struct idem {
    item it;
    char epoch[SILK__STREAM_EPOCH_MAX + 1];
    uint64_t offset;
} idem;

struct silk__gw_streams {
    pthread_mutex_t mu; /* guards everything below but clock and seed */
    double (*clock)(void);
    uint64_t seed;
    table streams, idems;
    heap streams_by_expiry, idems_by_expiry;
};

/* ============================================================================
 * Keys, hashing, the table
 * ========================================================================== */

/* make_key writes route, business and (when not NULL) idem to buf, each with its NUL, and
 * returns the length; the names are at most SILK__STREAM_NAME_MAX bytes. */
static size_t make_key(char buf[KEY_CAP], const char *route, const char *business,
                       const char *idem_key)
{
    const char *parts[3] = {route, business, idem_key};
    size_t k = 0;
    for (size_t i = 0; i < 3 && parts[i] != NULL; i++) {
        size_t n = strlen(parts[i]) + 1;
        memcpy(buf + k, parts[i], n);
        k += n;
    }
    return k;
}

/* hash is FNV-1a over the key from the store's random seed, then mixed, so that clients cannot
 * choose business ids that all fall into one chain. */
static uint64_t hash(uint64_t seed, const char *key, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ seed;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    return h ^ (h >> 32);
}

static bool table_init(table *t)
{
    t->n_slots = 64;
    t->n = 0;
    t->slots = calloc(t->n_slots, sizeof *t->slots);
    return t->slots != NULL;
}

static item *table_find(const table *t, uint64_t h, const char *key, size_t klen)
{
    for (item *it = t->slots[h & (t->n_slots - 1)]; it != NULL; it = it->next)
        if (it->hash == h && it->klen == klen && memcmp(it->key, key, klen) == 0)
            return it;
    return NULL;
}

/* table_grow doubles t's chains; out of memory, they stay (slower, still correct). */
static void table_grow(table *t)
{
    size_t n = t->n_slots * 2;
    item **slots = calloc(n, sizeof *slots);
    if (slots == NULL)
        return;
    for (size_t i = 0; i < t->n_slots; i++) {
        for (item *it = t->slots[i], *next; it != NULL; it = next) {
            next = it->next;
            it->next = slots[it->hash & (n - 1)];
            slots[it->hash & (n - 1)] = it;
        }
    }
    free(t->slots);
    t->slots = slots;
    t->n_slots = n;
}

static void table_add(table *t, item *it)
{
    if (t->n >= t->n_slots)
        table_grow(t);
    item **head = &t->slots[it->hash & (t->n_slots - 1)];
    it->next = *head;
    *head = it;
    t->n++;
}

static void table_remove(table *t, item *it)
{
    for (item **pp = &t->slots[it->hash & (t->n_slots - 1)]; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == it) {
            *pp = it->next;
            t->n--;
            return;
        }
    }
}

/* ============================================================================
 * The heaps
 * ========================================================================== */

static void heap_set(heap *h, size_t i, item *it)
{
    h->v[i] = it;
    it->heap_i = i;
}

static void heap_up(heap *h, size_t i)
{
    item *it = h->v[i];
    while (i > 0 && h->v[(i - 1) / 2]->expires > it->expires) {
        heap_set(h, i, h->v[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    heap_set(h, i, it);
}

static void heap_down(heap *h, size_t i)
{
    item *it = h->v[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && h->v[c + 1]->expires < h->v[c]->expires)
            c++;
        if (h->v[c]->expires >= it->expires)
            break;
        heap_set(h, i, h->v[c]);
        i = c;
    }
    heap_set(h, i, it);
}

/* heap_reserve makes room for one more item; false when memory is short. */
static bool heap_reserve(heap *h)
{
    if (h->n < h->cap)
        return true;
    size_t cap = h->cap > 0 ? 2 * h->cap : 64;
    item **v = realloc(h->v, cap * sizeof *v);
    if (v == NULL)
        return false;
    h->v = v;
    h->cap = cap;
    return true;
}

/* heap_push adds it, with room reserved. */
static void heap_push(heap *h, item *it)
{
    heap_set(h, h->n++, it);
    heap_up(h, it->heap_i);
}

static void heap_remove(heap *h, item *it)
{
    size_t i = it->heap_i;
    item *last = h->v[--h->n];
    if (i == h->n)
        return;
    heap_set(h, i, last);
    heap_up(h, i);
    heap_down(h, last->heap_i);
}

/* ============================================================================
 * Streams and idempotency keys
 * ========================================================================== */

/* item_init gives it a copy of key; false when memory is short. */
static bool item_init(item *it, uint64_t h, const char *key, size_t klen, double expires)
{
    it->hash = h;
    it->klen = klen;
    it->expires = expires;
    it->key = malloc(klen);
    if (it->key != NULL)
        memcpy(it->key, key, klen);
    return it->key != NULL;
}

static void stream_free(stream *st)
{
    for (size_t i = 0; i < st->n; i++)
        free(st->ring[(st->head + i) % st->cap].data);
    free(st->ring);
    free(st->it.key);
    free(st);
}

/* drop forgets the stream or key it of table t and heap h, and frees it. */
static void drop(table *t, heap *h, item *it, bool is_stream)
{
    table_remove(t, it);
    heap_remove(h, it);
    if (is_stream) {
        stream_free((stream *)it);
    } else {
        free(it->key);
        free(it);
    }
}

/* find_live returns the item of key in t, or NULL; an expired one is dropped on the way. */
static item *find_live(table *t, heap *h, bool is_stream, uint64_t hh, const char *key, size_t klen,
                       double now)
{
    item *it = table_find(t, hh, key, klen);
    if (it != NULL && it->expires <= now) {
        drop(t, h, it, is_stream);
        it = NULL;
    }
    return it;
}

/* stream_get returns the live stream of key, made with a new epoch and top 0, expiring after
 * ttl_s, when there is none; NULL when memory is short. s->mu is held. */
static stream *stream_get(silk__gw_streams *s, const char *key, size_t klen, uint32_t ttl_s,
                          double now)
{
    uint64_t h = hash(s->seed, key, klen);
    item *it = find_live(&s->streams, &s->streams_by_expiry, true, h, key, klen, now);
    if (it != NULL)
        return (stream *)it;
    stream *st = calloc(1, sizeof *st);
    if (st == NULL || !heap_reserve(&s->streams_by_expiry) ||
        !item_init(&st->it, h, key, klen, now + ttl_s)) {
        free(st);
        return NULL;
    }
    silk__stream_new_epoch(st->epoch);
    table_add(&s->streams, &st->it);
    heap_push(&s->streams_by_expiry, &st->it);
    return st;
}

/* ring_room makes room in st's ring for one more message within size: the oldest ones go
 * when it is full, the ring grows (doubling, up to size) otherwise. False when memory is
 * short (st is unchanged then). */
static bool ring_room(stream *st, uint32_t size)
{
    while (st->n >= size) { /* full, or size lowered since */
        free(st->ring[st->head].data);
        st->head = (st->head + 1) % st->cap;
        st->n--;
    }
    if (st->n < st->cap)
        return true;
    size_t cap = st->cap > 0 ? 2 * st->cap : 8;
    cap = cap < size ? cap : size;
    slot *ring = malloc(cap * sizeof *ring);
    if (ring == NULL)
        return false;
    for (size_t i = 0; i < st->n; i++)
        ring[i] = st->ring[(st->head + i) % st->cap];
    free(st->ring);
    st->ring = ring;
    st->cap = cap;
    st->head = 0;
    return true;
}

/* stream_push appends the copy data to st (ring_room made room) under the next offset. */
static void stream_push(stream *st, uint8_t *data, size_t len, bool binary)
{
    st->ring[(st->head + st->n) % st->cap] = (slot){.data = data, .len = len, .binary = binary};
    st->n++;
    st->top++;
}

/* copy returns a copy of the len bytes of data (never NULL for len 0), or NULL. */
static uint8_t *copy(const void *data, size_t len)
{
    uint8_t *c = malloc(len > 0 ? len : 1);
    if (c != NULL && len > 0)
        memcpy(c, data, len);
    return c;
}

/* idem_new makes the key entry of an append at offset of epoch, not yet in the store; NULL
 * when memory is short. */
static idem *idem_new(silk__gw_streams *s, const char *key, size_t klen, uint64_t h, double expires)
{
    idem *k = calloc(1, sizeof *k);
    if (k == NULL || !heap_reserve(&s->idems_by_expiry) ||
        !item_init(&k->it, h, key, klen, expires)) {
        free(k);
        return NULL;
    }
    return k;
}

/* append_locked is silk__gw_streams_append with its arguments checked and s->mu held. */
static silk_status append_locked(silk__gw_streams *s, const char *route, const char *business_id,
                                 const silk__stream_limits *lim, const void *data, size_t len,
                                 bool binary, const char *idem_key,
                                 char epoch[SILK__STREAM_EPOCH_MAX + 1], uint64_t *offset,
                                 bool *duplicate)
{
    double now = s->clock();
    char key[KEY_CAP];
    size_t klen = 0;
    uint64_t ih = 0;
    if (idem_key != NULL) {
        klen = make_key(key, route, business_id, idem_key);
        ih = hash(s->seed, key, klen);
        idem *seen = (idem *)find_live(&s->idems, &s->idems_by_expiry, false, ih, key, klen, now);
        if (seen != NULL) {
            memcpy(epoch, seen->epoch, sizeof seen->epoch);
            *offset = seen->offset;
            *duplicate = true;
            return SILK_OK;
        }
    }
    idem *k = idem_key != NULL ? idem_new(s, key, klen, ih, now + lim->ttl_s) : NULL;
    size_t slen = make_key(key, route, business_id, NULL); /* key now the stream's */
    stream *st = idem_key == NULL || k != NULL ? stream_get(s, key, slen, lim->ttl_s, now) : NULL;
    uint8_t *c = st != NULL ? copy(data, len) : NULL;
    if (c == NULL || !ring_room(st, lim->size)) {
        free(c);
        if (k != NULL)
            free(k->it.key);
        free(k);
        return SILK_RESOURCE_EXHAUSTED;
    }
    stream_push(st, c, len, binary);
    st->it.expires = now + lim->ttl_s;
    heap_down(&s->streams_by_expiry, st->it.heap_i); /* later than before, or the same */
    heap_up(&s->streams_by_expiry, st->it.heap_i);   /* a clock going back */
    memcpy(epoch, st->epoch, sizeof st->epoch);
    *offset = st->top;
    if (k != NULL) {
        memcpy(k->epoch, st->epoch, sizeof st->epoch);
        k->offset = st->top;
        table_add(&s->idems, &k->it);
        heap_push(&s->idems_by_expiry, &k->it);
    }
    return SILK_OK;
}

/* range_locked is silk__gw_streams_range with its arguments checked and s->mu held. */
static silk_status range_locked(silk__gw_streams *s, const char *route, const char *business_id,
                                const silk__stream_limits *lim, uint64_t after, size_t max,
                                silk__stream_range *out)
{
    char key[KEY_CAP];
    size_t klen = make_key(key, route, business_id, NULL);
    stream *st = stream_get(s, key, klen, lim->ttl_s, s->clock());
    if (st == NULL)
        return SILK_RESOURCE_EXHAUSTED;
    memcpy(out->epoch, st->epoch, sizeof st->epoch);
    out->top = st->top;
    out->first = st->top - st->n + 1;
    if (max == 0 || after >= st->top)
        return SILK_OK;
    uint64_t from = after + 1 > out->first ? after + 1 : out->first;
    size_t count = st->top - from + 1 < max ? (size_t)(st->top - from + 1) : max;
    if (count == 0)
        return SILK_OK;
    if ((out->entries = calloc(count, sizeof *out->entries)) == NULL)
        return SILK_RESOURCE_EXHAUSTED;
    size_t at = (size_t)(from - out->first); /* from the oldest kept */
    for (; out->n < count; out->n++, at++) {
        const slot *m = &st->ring[(st->head + at) % st->cap];
        silk__stream_entry *e = &out->entries[out->n];
        if ((e->data = copy(m->data, m->len)) == NULL)
            return SILK_RESOURCE_EXHAUSTED;
        e->offset = from + out->n;
        e->len = m->len;
        e->binary = m->binary;
    }
    return SILK_OK;
}

/* ============================================================================
 * The store
 * ========================================================================== */

/* wall_now is ev_time()'s clock: wall-clock seconds. */
static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

silk__gw_streams *silk__gw_streams_new(void)
{
    silk__gw_streams *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    if (!table_init(&s->streams) || !table_init(&s->idems)) {
        free(s->streams.slots);
        free(s);
        return NULL;
    }
    pthread_mutex_init(&s->mu, NULL);
    s->clock = wall_now;
    silk__random_bytes(&s->seed, sizeof s->seed);
    return s;
}

void silk__gw_streams_free(silk__gw_streams *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->streams_by_expiry.n; i++)
        stream_free((stream *)s->streams_by_expiry.v[i]);
    for (size_t i = 0; i < s->idems_by_expiry.n; i++) {
        free(s->idems_by_expiry.v[i]->key);
        free(s->idems_by_expiry.v[i]);
    }
    free(s->streams_by_expiry.v);
    free(s->idems_by_expiry.v);
    free(s->streams.slots);
    free(s->idems.slots);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

void silk__gw_streams_set_clock(silk__gw_streams *s, double (*now)(void))
{
    s->clock = now;
}

silk_status silk__gw_streams_append(silk__gw_streams *s, const char *route, const char *business_id,
                                    const silk__stream_limits *lim, const void *data, size_t len,
                                    bool binary, const char *idem_key,
                                    char epoch[SILK__STREAM_EPOCH_MAX + 1], uint64_t *offset,
                                    bool *duplicate)
{
    epoch[0] = '\0';
    *offset = 0;
    *duplicate = false;
    silk_status st = silk__stream_check(route, business_id, lim, idem_key);
    if (st != SILK_OK || (data == NULL && len > 0))
        return SILK_INVALID_ARGUMENT;
    pthread_mutex_lock(&s->mu);
    st = append_locked(s, route, business_id, lim, data, len, binary, idem_key, epoch, offset,
                       duplicate);
    pthread_mutex_unlock(&s->mu);
    return st;
}

silk_status silk__gw_streams_range(silk__gw_streams *s, const char *route, const char *business_id,
                                   const silk__stream_limits *lim, uint64_t after, size_t max,
                                   silk__stream_range *out)
{
    *out = (silk__stream_range){0};
    silk_status st = silk__stream_check(route, business_id, lim, NULL);
    if (st != SILK_OK)
        return st;
    pthread_mutex_lock(&s->mu);
    st = range_locked(s, route, business_id, lim, after, max, out);
    pthread_mutex_unlock(&s->mu);
    if (st != SILK_OK)
        silk__stream_range_fini(out);
    return st;
}

/* sweep_heap drops the items of t and h expired at now. */
static void sweep_heap(table *t, heap *h, bool is_stream, double now)
{
    while (h->n > 0 && h->v[0]->expires <= now)
        drop(t, h, h->v[0], is_stream);
}

void silk__gw_streams_sweep(silk__gw_streams *s, double now)
{
    pthread_mutex_lock(&s->mu);
    sweep_heap(&s->streams, &s->streams_by_expiry, true, now);
    sweep_heap(&s->idems, &s->idems_by_expiry, false, now);
    pthread_mutex_unlock(&s->mu);
}
