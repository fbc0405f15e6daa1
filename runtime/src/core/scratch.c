/* scratch.c - a bump allocator on the stack for one call's unpacked messages (scratch.h). */
#include <stdlib.h>

#include "core/scratch.h"

/* silk__scratch_block is one heap block of a scratch. */
struct silk__scratch_block {
    struct silk__scratch_block *next;
    alignas(max_align_t) unsigned char data[];
};

void *silk__scratch_alloc(silk__scratch *s, size_t size)
{
    size_t n = (size + alignof(max_align_t) - 1) / alignof(max_align_t) * alignof(max_align_t);
    if (n <= SILK__SCRATCH_STACK - s->used) {
        void *p = s->buf + s->used;
        s->used += n;
        return p;
    }
    silk__scratch_block *b = malloc(sizeof *b + size);
    if (b == NULL)
        return NULL;
    b->next = s->blocks;
    s->blocks = b;
    return b->data;
}

static void *scratch_alloc(void *data, size_t size)
{
    return silk__scratch_alloc(data, size);
}

static void scratch_free(void *data, void *p)
{
    (void)data;
    (void)p; /* all at once, in silk__scratch_fini */
}

void silk__scratch_init(silk__scratch *s)
{
    s->allocator =
        (ProtobufCAllocator){.alloc = scratch_alloc, .free = scratch_free, .allocator_data = s};
    s->used = 0;
    s->blocks = NULL;
}

void silk__scratch_fini(silk__scratch *s)
{
    for (silk__scratch_block *b = s->blocks, *next; b != NULL; b = next) {
        next = b->next;
        free(b);
    }
    s->blocks = NULL;
    s->used = 0;
}
