/* repeats.c - a bounded memory of (idempotency key, session, message) digests: an open-
 * addressed table of 64-bit keyed hashes with when each was seen, and a ring that forgets the
 * oldest when it is full. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/random.h"
#include "sessions/repeats.h"

/* The table has twice as many slots as it holds digests at most: probes stay short. */
#define SLOTS (2 * SILK__GW_REPEATS_MAX)

typedef struct slot {
    uint64_t digest; /* 0: empty */
    double seen;
} slot;

struct silk__gw_repeats {
    pthread_mutex_t mu;
    uint64_t seed[2];
    slot *slots;
    uint64_t *ring; /* digests, oldest first from head */
    size_t head, n;
};

silk__gw_repeats *silk__gw_repeats_new(void)
{
    silk__gw_repeats *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->slots = calloc(SLOTS, sizeof *r->slots);
    r->ring = calloc(SILK__GW_REPEATS_MAX, sizeof *r->ring);
    if (r->slots == NULL || r->ring == NULL) {
        silk__gw_repeats_free(r);
        return NULL;
    }
    silk__random_bytes(r->seed, sizeof r->seed);
    pthread_mutex_init(&r->mu, NULL);
    return r;
}

void silk__gw_repeats_free(silk__gw_repeats *r)
{
    if (r == NULL)
        return;
    if (r->slots != NULL)
        pthread_mutex_destroy(&r->mu);
    free(r->slots);
    free(r->ring);
    free(r);
}

/* mix folds len bytes into h (FNV-1a over a keyed start; not a MAC, the seed only keeps a
 * client from choosing collisions blindly). */
static uint64_t mix(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return (h ^ 0xff) * 0x100000001b3ULL; /* a separator: ("ab","c") is not ("a","bc") */
}

static uint64_t digest_of(const silk__gw_repeats *r, const char *key, const char *session_id,
                          const void *data, size_t len)
{
    uint64_t h = mix(r->seed[0] ^ 0xcbf29ce484222325ULL, key, strlen(key));
    h = mix(h, session_id, strlen(session_id));
    h = mix(h ^ r->seed[1], data, len);
    return h != 0 ? h : 1;
}

/* find returns the slot of digest d, or the empty one it would take. */
static slot *find(silk__gw_repeats *r, uint64_t d)
{
    size_t i = (size_t)(d % SLOTS);
    while (r->slots[i].digest != 0 && r->slots[i].digest != d)
        i = (i + 1) % SLOTS;
    return &r->slots[i];
}

/* drop removes digest d, moving the probes that followed it back (linear probing). */
static void drop(silk__gw_repeats *r, uint64_t d)
{
    slot *s = find(r, d);
    if (s->digest == 0)
        return;
    size_t i = (size_t)(s - r->slots), j = i;
    s->digest = 0;
    for (;;) {
        j = (j + 1) % SLOTS;
        if (r->slots[j].digest == 0)
            return;
        size_t home = (size_t)(r->slots[j].digest % SLOTS);
        bool movable = i <= j ? (home <= i || home > j) : (home <= i && home > j);
        if (movable) {
            r->slots[i] = r->slots[j];
            r->slots[j].digest = 0;
            i = j;
        }
    }
}

bool silk__gw_repeats_seen(silk__gw_repeats *r, const char *key, const char *session_id,
                           const void *data, size_t len, double now)
{
    uint64_t d = digest_of(r, key, session_id, data, len);
    pthread_mutex_lock(&r->mu);
    slot *s = find(r, d);
    bool seen = s->digest == d && now - s->seen < SILK__GW_REPEATS_TTL;
    if (s->digest == d) {
        s->seen = seen ? s->seen : now;
    } else {
        if (r->n == SILK__GW_REPEATS_MAX) { /* full: forget the oldest */
            drop(r, r->ring[r->head]);
            r->head = (r->head + 1) % SILK__GW_REPEATS_MAX;
            r->n--;
            s = find(r, d);
        }
        *s = (slot){.digest = d, .seen = now};
        r->ring[(r->head + r->n) % SILK__GW_REPEATS_MAX] = d;
        r->n++;
    }
    pthread_mutex_unlock(&r->mu);
    return seen;
}
