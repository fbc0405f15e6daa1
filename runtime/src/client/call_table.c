/* call_table.c - the calls in flight on one connection, found by call id: what a channel's
 * peer and a loop channel's connection both keep (channel_internal.h). */
#include <stdlib.h>

#include "client/channel_internal.h"
#include "core/clock.h"

/* The buckets a table starts with; it doubles whenever it holds as many calls. */
#define FIRST_BUCKETS 16

void silk__call_init(silk__call *c, uint64_t id, const silk_method_desc *method, uint64_t budget_us,
                     silk_call_cb cb, void *arg)
{
    int64_t now = silk__now_us();
    *c = (silk__call){.id = id,
                      .deadline_us = now + (int64_t)budget_us,
                      .sent_us = now,
                      .method = method,
                      .cb = cb,
                      .arg = arg};
}

bool silk__call_table_init(silk__call_table *t)
{
    *t = (silk__call_table){.nbuckets = FIRST_BUCKETS};
    t->buckets = calloc(t->nbuckets, sizeof *t->buckets);
    return t->buckets != NULL;
}

void silk__call_table_fini(silk__call_table *t)
{
    free(t->buckets);
    *t = (silk__call_table){0};
}

static bool grow(silk__call_table *t)
{
    size_t n = t->nbuckets * 2;
    silk__call **b = calloc(n, sizeof *b);
    if (b == NULL)
        return false;
    for (size_t i = 0; i < t->nbuckets; i++) {
        for (silk__call *c = t->buckets[i], *next; c != NULL; c = next) {
            next = c->next;
            c->next = b[c->id & (n - 1)];
            b[c->id & (n - 1)] = c;
        }
    }
    free(t->buckets);
    t->buckets = b;
    t->nbuckets = n;
    return true;
}

bool silk__call_table_add(silk__call_table *t, silk__call *c)
{
    /* A table that cannot grow takes calls on longer chains, up to four per bucket. */
    if (t->ncalls >= t->nbuckets && !grow(t) && t->ncalls >= 4 * t->nbuckets)
        return false;
    silk__call **b = &t->buckets[c->id & (t->nbuckets - 1)];
    c->next = *b;
    *b = c;
    t->ncalls++;
    return true;
}

silk__call *silk__call_table_remove(silk__call_table *t, uint64_t id)
{
    for (silk__call **p = &t->buckets[id & (t->nbuckets - 1)]; *p != NULL; p = &(*p)->next) {
        silk__call *c = *p;
        if (c->id == id) {
            *p = c->next;
            t->ncalls--;
            return c;
        }
    }
    return NULL;
}

silk__call *silk__call_table_take(silk__call_table *t, int64_t now)
{
    silk__call *out = NULL;
    for (size_t i = 0; i < t->nbuckets; i++) {
        for (silk__call **p = &t->buckets[i]; *p != NULL;) {
            silk__call *c = *p;
            if (now != INT64_MAX && c->deadline_us > now) {
                p = &c->next;
                continue;
            }
            *p = c->next;
            t->ncalls--;
            c->next = out;
            out = c;
        }
    }
    return out;
}

int64_t silk__call_table_next_deadline(const silk__call_table *t)
{
    int64_t next = INT64_MAX;
    for (size_t i = 0; i < t->nbuckets; i++) {
        for (const silk__call *c = t->buckets[i]; c != NULL; c = c->next)
            next = c->deadline_us < next ? c->deadline_us : next;
    }
    return next;
}
