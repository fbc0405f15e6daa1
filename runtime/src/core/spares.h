/* spares.h - a free list of blocks of one size, kept for reuse: calls in flight come and go
 * by the thousand per second, and each would otherwise cost a malloc and a free. */
#ifndef SILK_SRC_SPARES_H
#define SILK_SRC_SPARES_H

#include <stdlib.h>

/* SILK__SPARE_CALLS is how many finished calls an owner of calls in flight (a connection, a
 * loop channel, a gateway loop) keeps for its next ones: enough for a burst's worth of
 * completions without holding on to a peak. */
#define SILK__SPARE_CALLS 64

/* silk__spares keeps freed blocks, linked through their first bytes. It has no lock: one
 * thread uses it, or its owner's lock guards it. Zeroed, it is empty. */
typedef struct silk__spares {
    void *head;
    unsigned n;
} silk__spares;

/* silk__spares_take returns a kept block, or a new one of size bytes (at least a pointer's),
 * uninitialised; NULL when memory is exhausted. Every block of s must have the same size. */
static inline void *silk__spares_take(silk__spares *s, size_t size)
{
    void *p = s->head;
    if (p == NULL)
        return malloc(size);
    s->head = *(void **)p;
    s->n--;
    return p;
}

/* silk__spares_give keeps p (a block of silk__spares_take, or NULL: ignored) for the next
 * take, or frees it when s keeps max already. */
static inline void silk__spares_give(silk__spares *s, void *p, unsigned max)
{
    if (p == NULL)
        return;
    if (s->n >= max) {
        free(p);
        return;
    }
    *(void **)p = s->head;
    s->head = p;
    s->n++;
}

/* silk__spares_fini frees every block s keeps. */
static inline void silk__spares_fini(silk__spares *s)
{
    while (s->head != NULL) {
        void *p = s->head;
        s->head = *(void **)p;
        free(p);
    }
    s->n = 0;
}

#endif /* SILK_SRC_SPARES_H */
