/* header_test.c - the request header's own reader and writer against protobuf-c: the same
 * bytes written, the same fields read from every header protobuf-c packs, and the same
 * verdict on every mutation of one (truncated, bytes changed, fields of every wire type
 * inserted) and on random bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wire/header.h"

/* ============================== helpers ============================== */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* rnd_string fills buf with up to max printable bytes (sometimes none). */
static char *rnd_string(char *buf, size_t max)
{
    size_t n = rnd() % 4 == 0 ? 0 : rnd() % (max + 1);
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)(' ' + rnd() % 95);
    buf[n] = '\0';
    return buf;
}

/* A header with its strings, to pack. */
typedef struct sample {
    Silk__Rpc__RequestHeader h;
    Silk__Rpc__Metadata md[8];
    Silk__Rpc__Metadata *mdp[8];
    char method[64], token[64], keys[8][24], values[8][200];
} sample;

static void rnd_sample(sample *s)
{
    s->h = (Silk__Rpc__RequestHeader)SILK__RPC__REQUEST_HEADER__INIT;
    s->h.method = rnd_string(s->method, 60);
    s->h.token = rnd_string(s->token, 60);
    uint64_t budgets[] = {0, 1, 127, 128, 5000000, UINT32_MAX, (uint64_t)1 << 63, UINT64_MAX};
    s->h.budget_us = budgets[rnd() % 8];
    s->h.n_metadata = rnd() % 9;
    s->h.metadata = s->mdp;
    for (size_t i = 0; i < s->h.n_metadata; i++) {
        s->md[i] = (Silk__Rpc__Metadata)SILK__RPC__METADATA__INIT;
        s->md[i].key = rnd_string(s->keys[i], 20);
        s->md[i].value = rnd_string(s->values[i], rnd() % 2 ? 16 : 199);
        s->mdp[i] = &s->md[i];
    }
}

static void assert_same(const Silk__Rpc__RequestHeader *want, const Silk__Rpc__RequestHeader *got)
{
    assert_string_equal(got->method, want->method);
    assert_string_equal(got->token, want->token);
    assert_true(got->budget_us == want->budget_us);
    assert_int_equal(got->n_metadata, want->n_metadata);
    for (size_t i = 0; i < want->n_metadata; i++) {
        assert_string_equal(got->metadata[i]->key, want->metadata[i]->key);
        assert_string_equal(got->metadata[i]->value, want->metadata[i]->value);
    }
}

/* check decodes n bytes both ways and asserts the same verdict and, if valid, the same
 * fields; it returns whether they were valid. */
static bool check(const uint8_t *p, size_t n)
{
    Silk__Rpc__RequestHeader *want = silk__rpc__request_header__unpack(NULL, n, p);
    silk__scratch mem;
    silk__scratch_init(&mem);
    Silk__Rpc__RequestHeader *got = silk__request_header_read(p, n, &mem);
    if ((want == NULL) != (got == NULL)) {
        fprintf(stderr, "verdicts differ on %zu bytes (protobuf-c %s):", n,
                want == NULL ? "refuses" : "accepts");
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, " %02x", p[i]);
        fprintf(stderr, "\n");
        fail();
    }
    if (want != NULL)
        assert_same(want, got);
    silk__scratch_fini(&mem);
    if (want != NULL)
        silk__rpc__request_header__free_unpacked(want, NULL);
    return want != NULL;
}

/* put_varint writes v as a varint and returns its length. */
static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    do {
        p[n++] = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
        v >>= 7;
    } while (v != 0);
    return n;
}

/* ============================== tests ============================== */

static void test_packed_headers_read_the_same(void **state)
{
    (void)state;
    uint8_t buf[4096];
    for (int i = 0; i < 3000; i++) {
        sample s;
        rnd_sample(&s);
        size_t n = silk__rpc__request_header__pack(&s.h, buf);
        assert_true(check(buf, n));
        silk__scratch mem;
        silk__scratch_init(&mem);
        Silk__Rpc__RequestHeader *got = silk__request_header_read(buf, n, &mem);
        assert_non_null(got);
        assert_same(&s.h, got);
        silk__scratch_fini(&mem);
    }
}

/* The writer gives protobuf-c's size and bytes for every request and response header. */
static void test_written_as_protobuf_c_packs(void **state)
{
    (void)state;
    uint8_t want[4096], got[4096];
    for (int i = 0; i < 3000; i++) {
        sample s;
        rnd_sample(&s);
        if (rnd() % 4 == 0)
            s.h.token = NULL;
        size_t n = silk__rpc__request_header__pack(&s.h, want);
        assert_int_equal(silk__header_size(&s.h.base), n);
        assert_int_equal(silk__header_pack(&s.h.base, got), n);
        assert_memory_equal(got, want, n);
    }
    for (int i = 0; i < 1000; i++) {
        sample s;
        rnd_sample(&s);
        Silk__Rpc__ResponseHeader r = SILK__RPC__RESPONSE_HEADER__INIT;
        uint32_t statuses[] = {0, 1, 5, 16, 127, 128, UINT32_MAX};
        r.status = statuses[rnd() % 7];
        r.message = rnd() % 3 == 0 ? NULL : s.method;
        r.n_metadata = s.h.n_metadata;
        r.metadata = s.h.metadata;
        size_t n = silk__rpc__response_header__pack(&r, want);
        assert_int_equal(silk__header_size(&r.base), n);
        assert_int_equal(silk__header_pack(&r.base, got), n);
        assert_memory_equal(got, want, n);
    }
    /* Any other message is protobuf-c's to write. */
    Silk__Rpc__Metadata m = SILK__RPC__METADATA__INIT;
    m.key = "k";
    m.value = "v";
    size_t n = silk__rpc__metadata__pack(&m, want);
    assert_int_equal(silk__header_size(&m.base), n);
    assert_int_equal(silk__header_pack(&m.base, got), n);
    assert_memory_equal(got, want, n);
}

static void test_empty_header(void **state)
{
    (void)state;
    silk__scratch mem;
    silk__scratch_init(&mem);
    Silk__Rpc__RequestHeader *h = silk__request_header_read((const uint8_t *)"", 0, &mem);
    assert_non_null(h);
    assert_string_equal(h->method, "");
    assert_string_equal(h->token, "");
    assert_true(h->budget_us == 0);
    assert_int_equal(h->n_metadata, 0);
    silk__scratch_fini(&mem);
}

/* Headers larger than a scratch's own room spill into its heap blocks, and more pairs than
 * the reader keeps at first grow its array. */
static void test_large_header(void **state)
{
    (void)state;
    static char big[1000];
    memset(big, 'v', sizeof big - 1);
    enum { PAIRS = 20 };
    Silk__Rpc__Metadata md[PAIRS], *mdp[PAIRS];
    char keys[PAIRS][8];
    for (int i = 0; i < PAIRS; i++) {
        md[i] = (Silk__Rpc__Metadata)SILK__RPC__METADATA__INIT;
        snprintf(keys[i], sizeof keys[i], "k%d", i);
        md[i].key = keys[i];
        md[i].value = big;
        mdp[i] = &md[i];
    }
    Silk__Rpc__RequestHeader h = SILK__RPC__REQUEST_HEADER__INIT;
    h.method = "/a.B/C";
    h.n_metadata = PAIRS;
    h.metadata = mdp;
    static uint8_t buf[32768];
    size_t n = silk__rpc__request_header__pack(&h, buf);
    assert_true(n > SILK__SCRATCH_STACK);
    assert_true(check(buf, n));
}

/* Each mutation of a packed header - every truncation, bytes changed, fields of every wire
 * type inserted at every field boundary - gets the same verdict and fields from both. */
static void test_mutations_agree(void **state)
{
    (void)state;
    uint8_t buf[4096], m[4200];
    long valid = 0, invalid = 0;
    for (int i = 0; i < 400; i++) {
        sample s;
        rnd_sample(&s);
        size_t n = silk__rpc__request_header__pack(&s.h, buf);
        for (size_t cut = 0; cut < n; cut++)
            check(buf, cut) ? valid++ : invalid++;
        for (int k = 0; k < 40 && n > 0; k++) {
            memcpy(m, buf, n);
            int changes = 1 + (int)(rnd() % 3);
            for (int c = 0; c < changes; c++)
                m[rnd() % n] = (uint8_t)rnd();
            check(m, n) ? valid++ : invalid++;
        }
        for (int k = 0; k < 20; k++) { /* a field of a random tag inserted at the front */
            size_t at = 0;
            uint32_t number = (uint32_t)(rnd() % 8);
            unsigned wire = (unsigned)(rnd() % 8);
            at += put_varint(m, (uint64_t)number << 3 | wire);
            size_t body = rnd() % 12;
            if (wire == 2)
                at += put_varint(m + at, body);
            for (size_t b = 0; b < body; b++)
                m[at++] = (uint8_t)rnd();
            memcpy(m + at, buf, n);
            check(m, at + n) ? valid++ : invalid++;
        }
    }
    /* Both kinds were seen, so the agreement means something. */
    assert_true(valid > 1000);
    assert_true(invalid > 1000);
}

static void test_random_bytes_agree(void **state)
{
    (void)state;
    uint8_t m[64];
    for (int i = 0; i < 50000; i++) {
        size_t n = rnd() % sizeof m;
        for (size_t b = 0; b < n; b++)
            m[b] = (uint8_t)rnd();
        check(m, n);
    }
}

/* The limits, one by one, as protobuf-c has them. */
static void test_limits(void **state)
{
    (void)state;
    /* budget_us: a 10-byte varint, its last bits dropped; an 11th byte is refused */
    const uint8_t budget10[] = {0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
    assert_true(check(budget10, sizeof budget10));
    const uint8_t budget11[] = {0x10, 0xff, 0xff, 0xff, 0xff, 0xff,
                                0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    assert_false(check(budget11, sizeof budget11));
    /* a 5-byte tag (an unknown field) is read; a 6-byte one is not */
    const uint8_t tag5[] = {0xf8, 0xff, 0xff, 0xff, 0x0f, 0x00};
    assert_true(check(tag5, sizeof tag5));
    const uint8_t tag6[] = {0xf8, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00};
    assert_false(check(tag6, sizeof tag6));
    /* field number 0, a group, wire type 7 */
    const uint8_t zero[] = {0x00, 0x00}, group[] = {0x2b, 0x2c}, seven[] = {0x2f, 0x00};
    assert_false(check(zero, sizeof zero));
    assert_false(check(group, sizeof group));
    assert_false(check(seven, sizeof seven));
    /* a method longer than what is left; a method sent as a varint */
    const uint8_t longer[] = {0x0a, 0x05, 'a', 'b'}, as_varint[] = {0x08, 0x05};
    assert_false(check(longer, sizeof longer));
    assert_false(check(as_varint, sizeof as_varint));
    /* metadata as a varint; metadata whose key is a varint */
    const uint8_t md_varint[] = {0x18, 0x01}, key_varint[] = {0x1a, 0x02, 0x08, 0x01};
    assert_false(check(md_varint, sizeof md_varint));
    assert_false(check(key_varint, sizeof key_varint));
    /* a method given twice: the last wins */
    const uint8_t twice[] = {0x0a, 0x01, 'a', 0x0a, 0x01, 'b'};
    silk__scratch mem;
    silk__scratch_init(&mem);
    Silk__Rpc__RequestHeader *h = silk__request_header_read(twice, sizeof twice, &mem);
    assert_non_null(h);
    assert_string_equal(h->method, "b");
    silk__scratch_fini(&mem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_packed_headers_read_the_same),
        cmocka_unit_test(test_written_as_protobuf_c_packs),
        cmocka_unit_test(test_empty_header),
        cmocka_unit_test(test_large_header),
        cmocka_unit_test(test_mutations_agree),
        cmocka_unit_test(test_random_bytes_agree),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
