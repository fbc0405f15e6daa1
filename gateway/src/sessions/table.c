/* table.c - the session table: session id -> session, and business id -> sessions per route. */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "sessions/table.h"

/* A business's sessions on one route: a doubly linked list, so that removal is O(1). */
typedef struct silk__gw_business {
    char *id;
    uint64_t hash;
    size_t count;
    silk__gw_session *head;
    struct silk__gw_business *next; /* hash chain */
} business;

/* One route's index: business id -> its sessions. Routes are few (one per WebSocket service)
 * and live as long as the table. */
typedef struct silk__gw_route_index {
    char *name;
    business **buckets;
    size_t n_buckets;
    size_t count;
} route_index;

/* ============================================================================
 * Hashing: FNV-1a over the key, started from a per-process random seed so that clients
 * cannot choose business ids that all fall into one bucket in every gateway.
 * ========================================================================== */

static uint64_t hash_str(uint64_t seed, const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ seed;
    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 29;
    return h;
}

/* business_grow doubles a route's buckets. When memory is short the table stays as it is:
 * slower, still correct. */
static void business_grow(route_index *r)
{
    size_t n = r->n_buckets * 2;
    business **nb = calloc(n, sizeof *nb);
    if (nb == NULL)
        return;
    for (size_t i = 0; i < r->n_buckets; i++) {
        business *b = r->buckets[i];
        while (b != NULL) {
            business *next = b->next;
            b->next = nb[b->hash & (n - 1)];
            nb[b->hash & (n - 1)] = b;
            b = next;
        }
    }
    free(r->buckets);
    r->buckets = nb;
    r->n_buckets = n;
}

/* ids_grow doubles the id table's buckets, or leaves them when memory is short. */
static void ids_grow(silk__gw_sessions *t)
{
    size_t n = t->n_buckets * 2;
    silk__gw_session **nb = calloc(n, sizeof *nb);
    if (nb == NULL)
        return;
    for (size_t i = 0; i < t->n_buckets; i++) {
        silk__gw_session *s = t->buckets[i];
        while (s != NULL) {
            silk__gw_session *next = s->id_next;
            size_t k = hash_str(t->seed, s->id) & (n - 1);
            s->id_next = nb[k];
            nb[k] = s;
            s = next;
        }
    }
    free(t->buckets);
    t->buckets = nb;
    t->n_buckets = n;
}

/* ============================================================================
 * Routes and businesses
 * ========================================================================== */

static route_index *route_find(const silk__gw_sessions *t, const char *name)
{
    for (size_t i = 0; i < t->n_routes; i++)
        if (strcmp(t->routes[i].name, name) == 0)
            return &t->routes[i];
    return NULL;
}

static route_index *route_get(silk__gw_sessions *t, const char *name)
{
    route_index *r = route_find(t, name);
    if (r != NULL)
        return r;
    route_index *rs = realloc(t->routes, (t->n_routes + 1) * sizeof *rs);
    if (rs == NULL)
        return NULL;
    t->routes = rs;
    r = &rs[t->n_routes];
    r->name = strdup(name);
    r->n_buckets = 16;
    r->buckets = calloc(r->n_buckets, sizeof *r->buckets);
    r->count = 0;
    if (r->name == NULL || r->buckets == NULL) {
        free(r->name);
        free(r->buckets);
        return NULL;
    }
    t->n_routes++;
    return r;
}

static business *business_find(const silk__gw_sessions *t, const route_index *r, const char *id)
{
    uint64_t h = hash_str(t->seed, id);
    for (business *b = r->buckets[h & (r->n_buckets - 1)]; b != NULL; b = b->next)
        if (b->hash == h && strcmp(b->id, id) == 0)
            return b;
    return NULL;
}

static business *business_get(silk__gw_sessions *t, route_index *r, const char *id)
{
    business *b = business_find(t, r, id);
    if (b != NULL)
        return b;
    b = calloc(1, sizeof *b);
    if (b == NULL || (b->id = strdup(id)) == NULL) {
        free(b);
        return NULL;
    }
    b->hash = hash_str(t->seed, id);
    if (r->count >= r->n_buckets)
        business_grow(r);
    size_t i = b->hash & (r->n_buckets - 1);
    b->next = r->buckets[i];
    r->buckets[i] = b;
    r->count++;
    return b;
}

static void business_drop(route_index *r, business *b)
{
    business **pp = &r->buckets[b->hash & (r->n_buckets - 1)];
    while (*pp != b)
        pp = &(*pp)->next;
    *pp = b->next;
    r->count--;
    free(b->id);
    free(b);
}

/* ============================================================================
 * The table
 * ========================================================================== */

int silk__gw_sessions_init(silk__gw_sessions *t)
{
    memset(t, 0, sizeof *t);
    if (getrandom(&t->seed, sizeof t->seed, GRND_NONBLOCK) != (ssize_t)sizeof t->seed)
        t->seed = (uint64_t)(uintptr_t)t; /* early boot: unpredictable enough here */
    t->n_buckets = 64;
    t->buckets = calloc(t->n_buckets, sizeof *t->buckets);
    return t->buckets ? 0 : SILK__GW_SESSIONS_NOMEM;
}

static void session_free(silk__gw_session *s)
{
    free((char *)s->id);
    free(s);
}

void silk__gw_sessions_fini(silk__gw_sessions *t)
{
    for (size_t i = 0; i < t->n_buckets; i++) {
        silk__gw_session *s = t->buckets[i];
        while (s != NULL) {
            silk__gw_session *next = s->id_next;
            session_free(s);
            s = next;
        }
    }
    for (size_t i = 0; i < t->n_routes; i++) {
        route_index *r = &t->routes[i];
        for (size_t j = 0; j < r->n_buckets; j++) {
            business *b = r->buckets[j];
            while (b != NULL) {
                business *next = b->next;
                free(b->id);
                free(b);
                b = next;
            }
        }
        free(r->buckets);
        free(r->name);
    }
    free(t->routes);
    free(t->buckets);
    memset(t, 0, sizeof *t);
}

silk__gw_session *silk__gw_sessions_find(const silk__gw_sessions *t, const char *id)
{
    uint64_t h = hash_str(t->seed, id);
    for (silk__gw_session *s = t->buckets[h & (t->n_buckets - 1)]; s != NULL; s = s->id_next)
        if (strcmp(s->id, id) == 0)
            return s;
    return NULL;
}

int silk__gw_sessions_add(silk__gw_sessions *t, const char *id, const char *route,
                          const char *business_id, void *data)
{
    if (silk__gw_sessions_find(t, id) != NULL)
        return SILK__GW_SESSIONS_EXISTS;
    route_index *r = route_get(t, route);
    if (r == NULL)
        return SILK__GW_SESSIONS_NOMEM;
    business *b = business_get(t, r, business_id);
    silk__gw_session *s = calloc(1, sizeof *s);
    char *sid = strdup(id);
    if (b == NULL || s == NULL || sid == NULL) {
        if (b != NULL && b->count == 0)
            business_drop(r, b);
        free(s);
        free(sid);
        return SILK__GW_SESSIONS_NOMEM;
    }
    s->id = sid;
    s->route = r->name;
    s->business_id = b->id;
    s->data = data;
    s->business = b;
    s->biz_next = b->head;
    if (b->head != NULL)
        b->head->biz_prev = s;
    b->head = s;
    b->count++;

    if (t->count >= t->n_buckets)
        ids_grow(t);
    size_t i = hash_str(t->seed, id) & (t->n_buckets - 1);
    s->id_next = t->buckets[i];
    t->buckets[i] = s;
    t->count++;
    return 0;
}

void *silk__gw_sessions_remove(silk__gw_sessions *t, const char *id)
{
    silk__gw_session **pp = &t->buckets[hash_str(t->seed, id) & (t->n_buckets - 1)];
    while (*pp != NULL && strcmp((*pp)->id, id) != 0)
        pp = &(*pp)->id_next;
    silk__gw_session *s = *pp;
    if (s == NULL)
        return NULL;
    *pp = s->id_next;
    t->count--;

    business *b = s->business;
    if (s->biz_prev != NULL)
        s->biz_prev->biz_next = s->biz_next;
    else
        b->head = s->biz_next;
    if (s->biz_next != NULL)
        s->biz_next->biz_prev = s->biz_prev;
    if (--b->count == 0)
        business_drop(route_find(t, s->route), b);

    void *data = s->data;
    session_free(s);
    return data;
}

size_t silk__gw_sessions_count(const silk__gw_sessions *t)
{
    return t->count;
}

static size_t visit(const silk__gw_sessions *t, const route_index *r, const char *business_id,
                    silk__gw_session_fn fn, void *arg)
{
    business *b = business_find(t, r, business_id);
    if (b == NULL)
        return 0;
    if (fn != NULL)
        for (silk__gw_session *s = b->head; s != NULL; s = s->biz_next)
            fn(s, arg);
    return b->count;
}

size_t silk__gw_sessions_business(const silk__gw_sessions *t, const char *route,
                                  const char *business_id, silk__gw_session_fn fn, void *arg)
{
    if (route != NULL && route[0] != '\0') {
        const route_index *r = route_find(t, route);
        return r ? visit(t, r, business_id, fn, arg) : 0;
    }
    size_t n = 0;
    for (size_t i = 0; i < t->n_routes; i++)
        n += visit(t, &t->routes[i], business_id, fn, arg);
    return n;
}

size_t silk__gw_sessions_each_business(const silk__gw_sessions *t, silk__gw_business_fn fn,
                                       void *arg)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n_routes; i++) {
        const route_index *r = &t->routes[i];
        for (size_t k = 0; k < r->n_buckets; k++) {
            for (const business *b = r->buckets[k]; b != NULL; b = b->next) {
                size_t j = 0;
                while (j < i && business_find(t, &t->routes[j], b->id) == NULL)
                    j++;
                if (j < i)
                    continue; /* met on an earlier route */
                fn(b->id, arg);
                n++;
            }
        }
    }
    return n;
}
