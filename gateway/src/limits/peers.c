/* peers.c - the per-address table: token buckets and connection counts, sharded by a keyed
 * hash of the address (a client choosing its IPv6 prefixes cannot aim at one chain). */
#include <stdlib.h>
#include <string.h>

#include "core/random.h"
#include "limits/peers.h"

struct silk__gw_peer {
    silk__gw_peer *next; /* in its chain */
    silk__gw_addr addr;
    silk__gw_bucket bucket;
    size_t connections;
};

/* The hash's key, drawn once per process. */
static uint64_t hash_key[2];
static pthread_once_t hash_key_once = PTHREAD_ONCE_INIT;

static void draw_hash_key(void)
{
    silk__random_bytes(hash_key, sizeof hash_key);
}

/* ============================================================================
 * Token buckets
 * ========================================================================== */

void silk__gw_bucket_init(silk__gw_bucket *b, double burst, double now)
{
    b->tokens = burst;
    b->stamp = now;
}

/* refill brings b's tokens up to now. */
static void refill(silk__gw_bucket *b, double rate, double burst, double now)
{
    if (now > b->stamp) {
        b->tokens += (now - b->stamp) * rate;
        if (b->tokens > burst)
            b->tokens = burst;
        b->stamp = now;
    }
}

double silk__gw_bucket_take(silk__gw_bucket *b, double rate, double burst, double now)
{
    refill(b, rate, burst, now);
    if (b->tokens >= 1) {
        b->tokens -= 1;
        return 0;
    }
    return (1 - b->tokens) / rate;
}

double silk__gw_bucket_spend(silk__gw_bucket *b, double rate, double burst, double now)
{
    refill(b, rate, burst, now);
    b->tokens -= 1;
    return b->tokens >= 1 ? 0 : (1 - b->tokens) / rate;
}

/* ============================================================================
 * The table
 * ========================================================================== */

/* hash mixes the address's two halves with the key (a multiply-xorshift over each). */
static uint64_t hash(const silk__gw_addr *a)
{
    uint64_t h[2];
    memcpy(h, a->b, sizeof h);
    uint64_t x = (h[0] ^ hash_key[0]) * 0x9e3779b97f4a7c15u;
    x ^= x >> 29;
    x = (x ^ h[1] ^ hash_key[1]) * 0xbf58476d1ce4e5b9u;
    return x ^ (x >> 32);
}

int silk__gw_peers_init(silk__gw_peers *t, double rate, double burst, size_t max_connections,
                        size_t max_entries)
{
    pthread_once(&hash_key_once, draw_hash_key);
    memset(t, 0, sizeof *t);
    t->rate = rate;
    t->burst = burst >= 1 ? burst : 1;
    t->max_connections = max_connections;
    t->max_entries = max_entries;
    if (!silk__gw_peers_active(t))
        return 0;
    for (size_t i = 0; i < SILK__GW_PEER_SHARDS; i++) {
        silk__gw_peer_shard *s = &t->shards[i];
        pthread_mutex_init(&s->lock, NULL);
        s->n_slots = 256;
        if ((s->slots = calloc(s->n_slots, sizeof *s->slots)) == NULL) {
            silk__gw_peers_fini(t);
            return -1;
        }
    }
    return 0;
}

void silk__gw_peers_fini(silk__gw_peers *t)
{
    if (!silk__gw_peers_active(t))
        return;
    for (size_t i = 0; i < SILK__GW_PEER_SHARDS; i++) {
        silk__gw_peer_shard *s = &t->shards[i];
        if (s->slots == NULL)
            continue; /* init failed here */
        for (size_t j = 0; j < s->n_slots; j++) {
            for (silk__gw_peer *p = s->slots[j], *next; p != NULL; p = next) {
                next = p->next;
                free(p);
            }
        }
        free(s->slots);
        pthread_mutex_destroy(&s->lock);
    }
    memset(t->shards, 0, sizeof t->shards);
}

bool silk__gw_peers_active(const silk__gw_peers *t)
{
    return t->rate > 0 || t->max_connections > 0;
}

/* grow doubles a shard's chains when they average over two entries; out of memory, they stay. */
static void grow(silk__gw_peer_shard *s)
{
    size_t n = s->n_slots * 2;
    silk__gw_peer **slots = calloc(n, sizeof *slots);
    if (slots == NULL)
        return;
    for (size_t j = 0; j < s->n_slots; j++) {
        for (silk__gw_peer *p = s->slots[j], *next; p != NULL; p = next) {
            next = p->next;
            size_t k = (hash(&p->addr) / SILK__GW_PEER_SHARDS) % n;
            p->next = slots[k];
            slots[k] = p;
        }
    }
    free(s->slots);
    s->slots = slots;
    s->n_slots = n;
}

/* forgettable tells whether an entry holds nothing worth keeping: no connection, a full
 * bucket. */
static bool forgettable(const silk__gw_peers *t, silk__gw_peer *p, double now)
{
    if (p->connections > 0)
        return false;
    if (t->rate <= 0)
        return true;
    refill(&p->bucket, t->rate, t->burst, now);
    return p->bucket.tokens >= t->burst;
}

/* sweep_shard frees the forgettable entries of s; s->lock is held. */
static void sweep_shard(silk__gw_peers *t, silk__gw_peer_shard *s, double now)
{
    for (size_t j = 0; j < s->n_slots; j++) {
        for (silk__gw_peer **pp = &s->slots[j]; *pp != NULL;) {
            silk__gw_peer *p = *pp;
            if (forgettable(t, p, now)) {
                *pp = p->next;
                free(p);
                s->n--;
            } else {
                pp = &p->next;
            }
        }
    }
}

/* find returns addr's entry in its shard (locked by the caller), making it when create is set
 * and there is room; NULL otherwise. */
static silk__gw_peer *find(silk__gw_peers *t, silk__gw_peer_shard *s, uint64_t h,
                           const silk__gw_addr *addr, double now, bool create)
{
    size_t k = (h / SILK__GW_PEER_SHARDS) % s->n_slots;
    for (silk__gw_peer *p = s->slots[k]; p != NULL; p = p->next)
        if (memcmp(&p->addr, addr, sizeof *addr) == 0)
            return p;
    if (!create)
        return NULL;
    size_t room = t->max_entries / SILK__GW_PEER_SHARDS + 1;
    if (s->n >= room)
        sweep_shard(t, s, now);
    if (s->n >= room)
        return NULL;
    silk__gw_peer *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    if (s->n >= 2 * s->n_slots) {
        grow(s);
        k = (h / SILK__GW_PEER_SHARDS) % s->n_slots;
    }
    p->addr = *addr;
    silk__gw_bucket_init(&p->bucket, t->burst, now);
    p->next = s->slots[k];
    s->slots[k] = p;
    s->n++;
    return p;
}

static silk__gw_peer_shard *shard_of(silk__gw_peers *t, uint64_t h)
{
    return &t->shards[h % SILK__GW_PEER_SHARDS];
}

silk__gw_peer_verdict silk__gw_peers_connect(silk__gw_peers *t, const silk__gw_addr *addr,
                                             double now, silk__gw_peer **out, double *retry_after)
{
    uint64_t h = hash(addr);
    silk__gw_peer_shard *s = shard_of(t, h);
    silk__gw_peer_verdict v = SILK__GW_PEER_OK;
    *out = NULL;
    *retry_after = 0;
    pthread_mutex_lock(&s->lock);
    silk__gw_peer *p = find(t, s, h, addr, now, true);
    if (p == NULL) {
        v = SILK__GW_PEER_UNTRACKED;
    } else if (t->max_connections > 0 && p->connections >= t->max_connections) {
        v = SILK__GW_PEER_FULL;
    } else {
        p->connections++;
        *out = p;
        if (t->rate > 0 &&
            (*retry_after = silk__gw_bucket_take(&p->bucket, t->rate, t->burst, now)) > 0)
            v = SILK__GW_PEER_LIMITED;
    }
    pthread_mutex_unlock(&s->lock);
    return v;
}

void silk__gw_peers_disconnect(silk__gw_peers *t, silk__gw_peer *p)
{
    silk__gw_peer_shard *s = shard_of(t, hash(&p->addr));
    pthread_mutex_lock(&s->lock);
    p->connections--;
    pthread_mutex_unlock(&s->lock);
}

double silk__gw_peers_take_at(silk__gw_peers *t, silk__gw_peer *p, double now)
{
    if (t->rate <= 0)
        return 0;
    silk__gw_peer_shard *s = shard_of(t, hash(&p->addr));
    pthread_mutex_lock(&s->lock);
    double wait = silk__gw_bucket_take(&p->bucket, t->rate, t->burst, now);
    pthread_mutex_unlock(&s->lock);
    return wait;
}

double silk__gw_peers_take(silk__gw_peers *t, const silk__gw_addr *addr, double now)
{
    if (t->rate <= 0)
        return 0;
    uint64_t h = hash(addr);
    silk__gw_peer_shard *s = shard_of(t, h);
    pthread_mutex_lock(&s->lock);
    silk__gw_peer *p = find(t, s, h, addr, now, true);
    double wait = p != NULL ? silk__gw_bucket_take(&p->bucket, t->rate, t->burst, now) : 0;
    pthread_mutex_unlock(&s->lock);
    return wait;
}

void silk__gw_peers_sweep(silk__gw_peers *t, double now)
{
    if (!silk__gw_peers_active(t))
        return;
    silk__gw_peer_shard *s = &t->shards[t->sweep_next];
    t->sweep_next = (t->sweep_next + 1) % SILK__GW_PEER_SHARDS;
    pthread_mutex_lock(&s->lock);
    sweep_shard(t, s, now);
    pthread_mutex_unlock(&s->lock);
}
