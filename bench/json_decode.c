/* json_decode.c - bench-json-decode: the time and allocations of silk_json_to_message on the
 * gateway bench's request body (http.proto's EchoRequest, as http_post.lua sends it) and on a
 * larger message (json_test.proto's All: nested, repeated, maps, well-known types).
 *
 * It prints `result json <case> ns_per_decode <n>` and `result json <case> allocs_per_decode
 * <n>` per case: the best of 5 rounds of --iterations decodes (default 200000 for the body,
 * a twentieth of that for All), the allocations those made (every malloc, calloc and
 * realloc, counted here; none in a sanitizer build). `--case body` or `--case all` runs one,
 * for callgrind: `valgrind --tool=callgrind bench-json-decode --case body --iterations 1000`. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <silk/json.h>

#include "bench.h"
#include "http.pb-c.h"
#include "json_test.pb-c.h"

/* ============================================================================
 * Allocations, counted by wrapping glibc's allocator
 * ========================================================================== */

static unsigned long allocs;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define COUNTING 0
#else
#define COUNTING 1
void *__libc_malloc(size_t n);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t n);
void __libc_free(void *p);

void *malloc(size_t n)
{
    allocs++;
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
    allocs++;
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
    allocs++;
    return __libc_realloc(p, n);
}

void free(void *p)
{
    __libc_free(p);
}
#endif

/* ============================================================================
 * The cases
 * ========================================================================== */

/* body_json returns http_post.lua's body, with its 64-character message. */
static char *body_json(void)
{
    char msg[65];
    for (int i = 0; i < 64; i++)
        msg[i] = (char)('a' + i % 26);
    msg[64] = '\0';
    static char buf[256];
    snprintf(buf, sizeof buf, "{\"businessId\":\"100\",\"msg\":\"%s\",\"seq\":\"7\"}", msg);
    return buf;
}

/* all_json returns a larger All: every kind of field, 40 nested messages, a 40-entry map. */
static char *all_json(void)
{
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    if (b == NULL)
        abort();
    n += (size_t)snprintf(
        b + n, cap - n,
        "{\"i32\":-12,\"u32\":12,\"i64\":\"-9007199254740993\",\"u64\":\"18446744073709551615\","
        "\"fl\":0.1,\"db\":1.7976931348623157e+308,\"flag\":true,"
        "\"text\":\"caf\\u00e9 \\\"quoted\\\" line\\nbreak \\ud83d\\ude00\",\"blob\":\"AAEC/w==\","
        "\"color\":\"COLOR_BLUE\",\"at\":\"1972-01-01T10:00:20.021Z\",\"took\":\"1.5s\","
        "\"maybeI64\":\"5\",\"maybeText\":\"w\",\"choiceNum\":7,"
        "\"inner\":{\"name\":\"x\",\"n\":3,\"child\":{\"child\":{\"n\":1}}},\"inners\":[");
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(b + n, cap - n, "%s{\"name\":\"inner number %d\",\"n\":%d}",
                              i ? "," : "", i, i * 7);
    n += (size_t)snprintf(b + n, cap - n, "],\"nums\":[");
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(b + n, cap - n, "%s%d", i ? "," : "", i * 1000 - 7);
    n += (size_t)snprintf(b + n, cap - n, "],\"tags\":[\"alpha\",\"beta\",\"gamma\"],\"counts\":{");
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(b + n, cap - n, "%s\"key%d\":%d", i ? "," : "", i, i);
    snprintf(b + n, cap - n, "},\"times\":[\"2000-01-01T00:00:00Z\"]}");
    return b;
}

/* run decodes json into desc iterations times, best of 5 rounds, and prints the figures. */
static int run(const char *name, const ProtobufCMessageDescriptor *desc, const char *json,
               long iterations)
{
    size_t len = strlen(json);
    double best = 0;
    unsigned long used = 0;
    for (int round = 0; round < 5; round++) {
        unsigned long before = allocs;
        uint64_t t0 = bench_now_ns();
        for (long i = 0; i < iterations; i++) {
            ProtobufCMessage *m;
            char err[256];
            if (silk_json_to_message(desc, json, len, &m, err, sizeof err) != SILK_OK) {
                fprintf(stderr, "bench-json-decode: %s: %s\n", name, err);
                return -1;
            }
            protobuf_c_message_free_unpacked(m, NULL);
        }
        double ns = (double)(bench_now_ns() - t0) / (double)iterations;
        if (round == 0 || ns < best)
            best = ns;
        used = allocs - before;
    }
    printf("result json %s ns_per_decode %.0f\n", name, best);
    if (COUNTING)
        printf("result json %s allocs_per_decode %.1f\n", name, (double)used / (double)iterations);
    printf("result json %s bytes %zu\n", name, len);
    return 0;
}

int main(int argc, char **argv)
{
    long iterations = 200000;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--iterations") == 0 && i + 1 < argc) {
            iterations = atol(argv[++i]);
        } else if (strcmp(argv[i], "--case") == 0 && i + 1 < argc) {
            only = argv[++i];
        } else {
            fprintf(stderr, "usage: bench-json-decode [--case body|all] [--iterations N]\n");
            return 2;
        }
    }
    int rv = 0;
    if (only == NULL || strcmp(only, "body") == 0)
        rv |= run("body", &benchhttp__echo_request__descriptor, body_json(), iterations);
    if (only == NULL || strcmp(only, "all") == 0) {
        char *big = all_json();
        rv |= run("all", &silkjt__all__descriptor, big, iterations / 20 > 0 ? iterations / 20 : 1);
        free(big);
    }
    return rv != 0;
}
