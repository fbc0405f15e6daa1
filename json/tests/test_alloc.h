/* test_alloc.h - ProtobufCAllocators for the JSON tests (json_test.c, json_syntax_test.c):
 * one that counts and checks what it is given back, one that bumps through an arena. */
#ifndef SILK_JSON_TEST_ALLOC_H
#define SILK_JSON_TEST_ALLOC_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <protobuf-c/protobuf-c.h>

/* counting is malloc and free, counted. Each block has a header of its own, so that free
 * fails the test for a pointer that is not a live block of this allocator (malloc's, one
 * freed twice, another allocator's). fail_at makes the fail_at-th call of alloc (from 1)
 * return NULL. New blocks are filled with 0xa5, so that what the decoder forgets to set
 * shows. */
typedef struct counting {
    ProtobufCAllocator a; /* allocator_data is the counting */
    size_t calls;         /* of alloc, the failed one too */
    size_t allocs, frees; /* blocks given and taken back */
    size_t fail_at;       /* 0: none fails */
} counting;

enum { COUNTING_HEAD = 16 }; /* keeps what follows aligned as malloc's is */
#define COUNTING_LIVE 0x5117a11c0b10c4ULL
#define COUNTING_DEAD 0xdeadb10cdeadb10cULL

static inline void *counting_alloc(void *data, size_t size)
{
    counting *c = data;
    c->calls++;
    if (c->fail_at != 0 && c->calls == c->fail_at)
        return NULL;
    if (size == 0)
        fail_msg("an allocation of 0 bytes");
    unsigned char *p = malloc(COUNTING_HEAD + size);
    assert_non_null(p);
    uint64_t magic = COUNTING_LIVE;
    memcpy(p, &magic, sizeof magic);
    memset(p + COUNTING_HEAD, 0xa5, size);
    c->allocs++;
    return p + COUNTING_HEAD;
}

static inline void counting_free(void *data, void *ptr)
{
    counting *c = data;
    if (ptr == NULL)
        fail_msg("free(NULL) reached the allocator"); /* protobuf-c's do_free skips it */
    unsigned char *p = (unsigned char *)ptr - COUNTING_HEAD;
    uint64_t magic;
    memcpy(&magic, p, sizeof magic);
    if (magic != COUNTING_LIVE)
        fail_msg("%p given back is no live block of this allocator", ptr);
    magic = COUNTING_DEAD;
    memcpy(p, &magic, sizeof magic);
    c->frees++;
    free(p);
}

static inline void counting_init(counting *c)
{
    memset(c, 0, sizeof *c);
    c->a.alloc = counting_alloc;
    c->a.free = counting_free;
    c->a.allocator_data = c;
}

/* arena bumps through mem[0..size): blocks 16-aligned and filled with 0xa5, free does
 * nothing but check that the block is the arena's and count it. NULL when it is full. */
typedef struct arena {
    ProtobufCAllocator a;
    unsigned char *mem;
    size_t size, used;
    size_t allocs, frees;
} arena;

static inline void *arena_alloc(void *data, size_t size)
{
    arena *ar = data;
    size_t at = (ar->used + 15) & ~(size_t)15;
    if (size == 0)
        fail_msg("an allocation of 0 bytes");
    if (at > ar->size || size > ar->size - at)
        return NULL;
    ar->used = at + size;
    ar->allocs++;
    memset(ar->mem + at, 0xa5, size);
    return ar->mem + at;
}

static inline void arena_free(void *data, void *ptr)
{
    arena *ar = data;
    unsigned char *p = ptr;
    if (p < ar->mem || p >= ar->mem + ar->used || (size_t)(p - ar->mem) % 16 != 0)
        fail_msg("%p given back is no block of the arena", ptr);
    ar->frees++;
}

/* arena_init makes an empty arena of mem, 16-aligned (malloc's is). */
static inline void arena_init(arena *ar, void *mem, size_t size)
{
    memset(ar, 0, sizeof *ar);
    ar->a.alloc = arena_alloc;
    ar->a.free = arena_free;
    ar->a.allocator_data = ar;
    ar->mem = mem;
    ar->size = size;
}

#endif /* SILK_JSON_TEST_ALLOC_H */
