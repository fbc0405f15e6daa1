/* random.c - random identifiers: from the kernel's generator (instance ids, temporary names),
 * and from a per-thread generator for trace ids, which every call may need. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "core/random.h"

static void kernel_random(uint8_t *raw, size_t nbytes)
{
    size_t got = 0;
    while (got < nbytes) {
        ssize_t n = getrandom(raw + got, nbytes - got, 0);
        if (n > 0)
            got += (size_t)n;
    }
}

/* hex_pairs[b] is byte b's two hex digits: a trace id is 16 look-ups, not 32 (made once, by
 * init_once). */
static char hex_pairs[256][2];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void to_hex(char *out, const uint8_t *raw, size_t nbytes)
{
    for (size_t i = 0; i < nbytes; i++)
        memcpy(out + 2 * i, hex_pairs[raw[i]], 2);
    out[2 * nbytes] = '\0';
}

void silk__random_bytes(void *out, size_t n)
{
    kernel_random(out, n);
}

static void init_once(void);

void silk__random_hex(char *out, size_t nbytes)
{
    pthread_once(&once, init_once);
    uint8_t raw[64];
    if (nbytes > sizeof raw)
        nbytes = sizeof raw;
    kernel_random(raw, nbytes);
    to_hex(out, raw, nbytes);
}

/* splitmix64 steps a 64-bit state; its outputs pass BigCrush and, over a state seeded with 64
 * random bits, do not repeat for 2^64 draws. */
static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* Two independent streams per thread, each seeded from the kernel on the thread's first
 * trace id. A forked child reseeds, so that it does not repeat its parent's ids. */
static _Thread_local uint64_t trace_state[2];
static _Thread_local int trace_seeded;

static void reseed_in_child(void)
{
    trace_seeded = 0;
}

static void init_once(void)
{
    static const char digits[] = "0123456789abcdef";
    for (int b = 0; b < 256; b++) {
        hex_pairs[b][0] = digits[b >> 4];
        hex_pairs[b][1] = digits[b & 15];
    }
    pthread_atfork(NULL, NULL, reseed_in_child);
}

void silk__trace_id(char out[SILK__TRACE_ID_LEN + 1])
{
    uint64_t *state = trace_state;
    if (!trace_seeded) {
        pthread_once(&once, init_once);
        kernel_random((uint8_t *)trace_state, sizeof trace_state);
        trace_seeded = 1;
    }
    uint8_t raw[16];
    for (int i = 0; i < 2; i++) {
        uint64_t v = splitmix64(&state[i]);
        for (int b = 0; b < 8; b++)
            raw[8 * i + b] = (uint8_t)(v >> (8 * b));
    }
    to_hex(out, raw, sizeof raw);
}
