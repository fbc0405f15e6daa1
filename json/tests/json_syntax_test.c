/* json_syntax_test.c - the decoder's tokenizer and syntax (json/src/lex.c): escapes, surrogates,
 * numbers, UTF-8, truncation, nesting, duplicate keys, each error text exactly as jansson's
 * parser gave it when it read the text (silk_json_to_message's messages have not changed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <silk/json.h>

#include "json_test.silk.h"
#include "test_alloc.h"

/* ============================================================================
 * Texts and what they read as: the message written back, or the error in full.
 * ========================================================================== */

typedef struct syntax_case {
    const char *in;
    size_t len; /* some hold NULs */
    silk_status want;
    const char *says; /* the JSON written back, or the error */
} syntax_case;

static const syntax_case cases[] = {
    {"{\"text\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"}", 27, SILK_OK,
     "{\"text\":\"\\\"\\\\/\\b\\f\\n\\r\\t\"}"},
    {"{\"text\":\"\\u00e9\\u4E2D\\ud83d\\ude00\"}", 35, SILK_OK,
     "{\"text\":\"\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80\"}"},
    {"{\"text\":\"\\ud800\"}", 17, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 16: invalid Unicode '\\uD800' near '\"\\ud800\"'"},
    {"{\"text\":\"\\udc00x\"}", 18, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 17: invalid Unicode '\\uDC00' near '\"\\udc00x\"'"},
    {"{\"text\":\"\\ud800\\u0041\"}", 23, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 22: invalid Unicode '\\uD800\\u0041' near "
     "'\"\\ud800\\u0041\"'"},
    {"{\"text\":\"\\ud800\\n\"}", 19, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 18: invalid Unicode '\\uD800' near '\"\\ud800\\n\"'"},
    {"{\"text\":\"\\ud800\\u12G4\"}", 23, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 20: invalid escape near '\"\\ud800\\u12G'"},
    {"{\"text\":\"\\u12G4\"}", 17, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 14: invalid escape near '\"\\u12G'"},
    {"{\"text\":\"\\x\"}", 13, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 11: invalid escape near '\"\\x'"},
    {"{\"text\":\"\\", 10, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 10: invalid escape near '\"\\'"},
    {"{\"db\":1e400}", 12, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 11: real number overflow near '1e400'"},
    {"{\"db\":-1e400}", 13, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 12: real number overflow near '-1e400'"},
    {"{\"db\":1e-400}", 13, SILK_OK, "{}"},
    {"{\"db\":-0}", 9, SILK_OK, "{}"},
    {"{\"i32\":-0}", 10, SILK_OK, "{}"},
    {"{\"i32\":01}", 10, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 8: invalid token near '0'"},
    {"{\"i32\":-01}", 11, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 9: invalid token near '-0'"},
    {"{\"i32\":1.}", 10, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 9: invalid token near '1.'"},
    {"{\"i32\":.5}", 10, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 8: invalid token near '.'"},
    {"{\"i32\":+1}", 10, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 8: invalid token near '+'"},
    {"{\"i32\":1e}", 10, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 9: invalid token near '1e'"},
    {"{\"i32\":-}", 9, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 8: invalid token near '-'"},
    {"{\"i32\":nul}", 11, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 10: invalid token near 'nul'"},
    {"{\"i32\":1x}", 10, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 9: '}' expected near 'x'"},
    {"{\"i64\":9223372036854775808}", 27, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 26: too big integer near '9223372036854775808' (integers "
     "beyond 64 bits signed must be sent as strings)"},
    {"{\"i64\":-9223372036854775809}", 28, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 27: too big negative integer near '-9223372036854775809' "
     "(integers beyond 64 bits signed must be sent as strings)"},
    {"{\"i64\":-9223372036854775808}", 28, SILK_OK, "{\"i64\":\"-9223372036854775808\"}"},
    {"{}x", 3, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 3: end of file expected near 'x'"},
    {"{} {}", 5, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 4: end of file expected near '{'"},
    {"{\"i32\":1}}", 10, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 10: end of file expected near '}'"},
    {"{\"i32\":1]", 9, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 9: '}' expected near ']'"},
    {"{\"i32\" 1}", 9, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 8: ':' expected near '1'"},
    {"{\"i32\":1 \"u32\":2}", 17, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 14: '}' expected near '\"u32\"'"},
    {"{1:2}", 5, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 2: string or '}' expected near '1'"},
    {"{\"i32\":1,}", 10, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 10: string or '}' expected near '}'"},
    {"[1,]", 4, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 4: unexpected token near ']'"},
    {"{\"text\":\"abc", 12, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 12: premature end of input near '\"abc'"},
    {"{\"text\":", 8, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 8: unexpected token near end of file"},
    {"{\"i32\":1", 8, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 8: '}' expected near end of file"},
    {"{", 1, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 1: string or '}' expected near end of file"},
    {"", 0, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 0: unexpected token near end of file"},
    {"  ", 2, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 2: unexpected token near end of file"},
    {"{\"inners\":[{}", 13, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 13: ']' expected near end of file"},
    {"{\"text\":\"a\xff"
     "b\"}",
     14, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 10: unable to decode byte 0xff near '\"a'"},
    {"{\"text\":\"\xc0\xaf\"}", 13, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 9: unable to decode byte 0xc0 near '\"'"},
    {"{\"text\":\"\xed\xa0\x80\"}", 14, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 9: unable to decode byte 0xed near '\"'"},
    {"{\"text\":\"\xf4\x90\x80\x80\"}", 15, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 9: unable to decode byte 0xf4 near '\"'"},
    {"{\"text\":\"\xe4\xb8\"}", 13, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 9: unable to decode byte 0xe4 near '\"'"},
    {"\xef\xbb\xbf{}", 5, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 1: invalid token near '\xef\xbb\xbf'"},
    {"{\"text\":\"\xc3\xa9\", \"i32\":\xc3\xa9}", 23, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 20: invalid token near '\xc3\xa9'"},
    {"{\"text\":\"a\nb\"}", 14, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 10: unexpected newline near '\"a'"},
    {"{\"text\":\"a\x01"
     "b\"}",
     14, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 10: control character 0x1 near '\"a'"},
    {"{\"text\":\"\x00\"}", 12, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 9: control character 0x0 near '\"'"},
    {"{\n  \"i32\": 1,\n  \"u32\": x\n}", 26, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 3 column 10: invalid token near 'x'"},
    {"{\"i32\":1\x00}", 10, SILK_OK, "{\"i32\":1}"},
    {"{\"i32\":true\x00}", 13, SILK_INVALID_ARGUMENT,
     "field \"i32\": expected an integer (int32), got a boolean"},
    {"{\"i32\":1,\"i32\":2}", 17, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 14: duplicate object key near '\"i32\"'"},
    {"{\"counts\":{\"a\":1,\"\\u0061\":2}}", 29, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 25: duplicate object key near '\"\\u0061\"'"},
    {"{\"inner\":{\"n\":1,\"n\":2}}", 23, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 19: duplicate object key near '\"n\"'"},
    {"{\"nope\":1,\"nope\":2}", 19, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 16: duplicate object key near '\"nope\"'"},
    {"{\"a\\u0000\":1}", 13, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 10: NUL byte in object key not supported near "
     "'\"a\\u0000\"'"},
    {"{\"nope\":1}x", 11, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 11: end of file expected near 'x'"},
    {"{\"i32\":\"x\"} x", 13, SILK_INVALID_ARGUMENT,
     "malformed JSON at line 1 column 13: end of file expected near 'x'"},
};

/* decode decodes len bytes of in as an All: the status, err, *m (NULL unless SILK_OK). */
static silk_status decode(const char *in, size_t len, ProtobufCMessage **m, char *err,
                          size_t errlen)
{
    err[0] = '\0';
    silk_status st = silk_json_to_message(&silkjt__all__descriptor, in, len, m, err, errlen);
    if (st != SILK_OK)
        assert_null(*m);
    return st;
}

static void test_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const syntax_case *c = &cases[i];
        ProtobufCMessage *m = NULL;
        char err[512], *out = NULL;
        silk_status st = decode(c->in, c->len, &m, err, sizeof err);
        if (st == SILK_OK)
            assert_int_equal(silk_json_from_message(m, &out, NULL, err, sizeof err), SILK_OK);
        const char *got = st == SILK_OK ? out : err;
        if (st != c->want || strcmp(got, c->says) != 0)
            fail_msg("case %zu: %.*s\n  got  %s %s\n  want %s %s", i, (int)c->len, c->in,
                     silk_status_str(st), got, silk_status_str(c->want), c->says);
        free(out);
        if (m != NULL)
            protobuf_c_message_free_unpacked(m, NULL);
    }
}

/* Every text again through a counting allocator (silk_json_to_message_in): the same result
 * or the same error in full, and every block made given back to it. */
static void test_cases_in(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const syntax_case *c = &cases[i];
        counting ca;
        counting_init(&ca);
        ProtobufCMessage *m = (ProtobufCMessage *)1;
        char err[512] = "", *out = NULL;
        silk_status st = silk_json_to_message_in(&silkjt__all__descriptor, c->in, c->len, &ca.a, &m,
                                                 err, sizeof err);
        if (st == SILK_OK)
            assert_int_equal(silk_json_from_message(m, &out, NULL, err, sizeof err), SILK_OK);
        else
            assert_null(m);
        const char *got = st == SILK_OK ? out : err;
        if (st != c->want || strcmp(got, c->says) != 0)
            fail_msg("case %zu: %.*s\n  got  %s %s\n  want %s %s", i, (int)c->len, c->in,
                     silk_status_str(st), got, silk_status_str(c->want), c->says);
        free(out);
        if (st == SILK_OK)
            protobuf_c_message_free_unpacked(m, &ca.a);
        assert_true(ca.allocs >= 1);
        if (ca.allocs != ca.frees)
            fail_msg("case %zu: %zu allocations, %zu frees", i, ca.allocs, ca.frees);
    }
}

/* ============================================================================
 * Texts too large for the table
 * ========================================================================== */

/* nested returns depth copies of open, then inner, then depth copies of close. */
static char *nested(const char *open, const char *inner, const char *close, size_t depth)
{
    size_t no = strlen(open), ni = strlen(inner), nc = strlen(close);
    char *s = malloc(depth * (no + nc) + ni + 1), *p = s;
    assert_non_null(s);
    for (size_t i = 0; i < depth; i++, p += no)
        memcpy(p, open, no);
    memcpy(p, inner, ni);
    p += ni;
    for (size_t i = 0; i < depth; i++, p += nc)
        memcpy(p, close, nc);
    *p = '\0';
    return s;
}

/* jansson counts every value, the object at the top too: 2048 deep is the most. */
static void test_depth(void **state)
{
    (void)state;
    char err[256];
    ProtobufCMessage *m;
    /* {"inner":{"child":...{}...}}: the top, inner and its children, 2048 values. */
    char *ok = nested("{\"child\":", "{}", "}", 2046),
         *deep = nested("{\"child\":", "{}", "}", 2047);
    char *text = malloc(strlen(deep) + 32);
    snprintf(text, strlen(deep) + 32, "{\"inner\":%s}", ok);
    if (decode(text, strlen(text), &m, err, sizeof err) != SILK_OK)
        fail_msg("%s", err);
    protobuf_c_message_free_unpacked(m, NULL);
    snprintf(text, strlen(deep) + 32, "{\"inner\":%s}", deep);
    assert_int_equal(decode(text, strlen(text), &m, err, sizeof err), SILK_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "maximum parsing depth reached near '{'"));
    free(text);
    free(ok);
    free(deep);
    /* Arrays under an unknown field: the syntax error is the one told. */
    char *arrays = nested("[", "", "]", 100000);
    text = malloc(strlen(arrays) + 16);
    sprintf(text, "{\"nope\":%s}", arrays);
    assert_int_equal(decode(text, strlen(text), &m, err, sizeof err), SILK_INVALID_ARGUMENT);
    assert_string_equal(err, "malformed JSON at line 1 column 2056: maximum parsing depth "
                             "reached near '['");
    free(text);
    free(arrays);
}

/* Strings past the reader's own buffer, escapes across its edge. */
static void test_huge_strings(void **state)
{
    (void)state;
    enum { N = 1 << 20 };
    char *text = malloc(2 * N + 64), err[256];
    size_t n = (size_t)sprintf(text, "{\"text\":\"");
    for (size_t i = 0; i < N; i++)
        text[n++] = (char)('a' + i % 26);
    n += (size_t)sprintf(text + n, "\\u00e9\",\"tags\":[\"");
    for (size_t i = 0; i < N / 2; i++, n += 2)
        memcpy(text + n, "\\n", 2);
    n += (size_t)sprintf(text + n, "\"]}");
    ProtobufCMessage *m;
    assert_int_equal(decode(text, n, &m, err, sizeof err), SILK_OK);
    Silkjt__All *a = (Silkjt__All *)m;
    assert_int_equal(strlen(a->text), N + 2);
    assert_memory_equal(a->text + N, "\xc3\xa9", 2);
    assert_int_equal(a->text[N - 1], 'a' + (N - 1) % 26);
    assert_int_equal(a->n_tags, 1);
    assert_int_equal(strlen(a->tags[0]), N / 2);
    assert_int_equal(a->tags[0][N / 2 - 1], '\n');
    protobuf_c_message_free_unpacked(m, NULL);
    /* A long unknown key is named cut short. */
    n = (size_t)sprintf(text, "{\"");
    memset(text + n, 'k', 5000);
    n += 5000;
    n += (size_t)sprintf(text + n, "\":1}");
    assert_int_equal(decode(text, n, &m, err, sizeof err), SILK_INVALID_ARGUMENT);
    assert_int_equal(strlen(err), strlen("unknown field \"\" in silkjt.All") + 100);
    free(text);
}

/* Every prefix of a good text is malformed, and says so; none reads past its end. */
static void test_truncated(void **state)
{
    (void)state;
    static const char good[] =
        "{\"i32\":-12,\"text\":\"a\\u00e9\\ud83d\\ude00\",\"db\":1.5e3,\"flag\":true,"
        "\"inners\":[{\"n\":1},{}],\"counts\":{\"k\":2},\"at\":\"1970-01-01T00:00:00Z\","
        "\"maybeText\":null}";
    char err[256];
    ProtobufCMessage *m;
    for (size_t n = 0; n < sizeof good - 1; n++) {
        char *copy = malloc(n + 1); /* exactly n bytes readable, for ASan and valgrind */
        memcpy(copy, good, n);
        assert_int_equal(decode(copy, n, &m, err, sizeof err), SILK_INVALID_ARGUMENT);
        if (strncmp(err, "malformed JSON at line 1 column ", 32) != 0)
            fail_msg("%zu bytes: %s", n, err);
        free(copy);
    }
    assert_int_equal(decode(good, sizeof good - 1, &m, err, sizeof err), SILK_OK);
    protobuf_c_message_free_unpacked(m, NULL);
}

/* A large map and a large array, and a key given twice among many. */
/* put_many writes {"counts":{"k0":0,...},"nums":[0,-1,...] of n entries each, unclosed, to
 * text and returns its length. */
static size_t put_many(char *text, int n)
{
    size_t len = (size_t)sprintf(text, "{\"counts\":{");
    for (int i = 0; i < n; i++)
        len += (size_t)sprintf(text + len, "%s\"k%d\":%d", i ? "," : "", i, i);
    len += (size_t)sprintf(text + len, "},\"nums\":[");
    for (int i = 0; i < n; i++)
        len += (size_t)sprintf(text + len, "%s%d", i ? "," : "", -i);
    return len + (size_t)sprintf(text + len, "]");
}

static void test_many(void **state)
{
    (void)state;
    enum { N = 5000 };
    char *text = malloc(N * 32 + 64), err[256];
    size_t n = put_many(text, N);
    n += (size_t)sprintf(text + n, "}");
    ProtobufCMessage *m;
    assert_int_equal(decode(text, n, &m, err, sizeof err), SILK_OK);
    Silkjt__All *a = (Silkjt__All *)m;
    assert_int_equal(a->n_counts, N);
    assert_string_equal(a->counts[N - 1]->key, "k4999");
    assert_int_equal(a->n_nums, N);
    assert_int_equal(a->nums[N - 1], -(N - 1));
    protobuf_c_message_free_unpacked(m, NULL);
    /* The last key again. */
    n = (size_t)sprintf(text, "{\"counts\":{");
    for (int i = 0; i < N; i++)
        n += (size_t)sprintf(text + n, "\"k%d\":%d,", i, i);
    n += (size_t)sprintf(text + n, "\"k4999\":0}}");
    assert_int_equal(decode(text, n, &m, err, sizeof err), SILK_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "duplicate object key near '\"k4999\"'"));
    free(text);
}

/* test_many's map and array, and test_huge_strings' strings, through a counting allocator and
 * an arena: arrays grown many times by alloc, copy and free. */
static void test_many_in(void **state)
{
    (void)state;
    enum { N = 5000, BIG = 1 << 20 };
    char *text = malloc(2 * BIG + 64), err[256];
    size_t n = put_many(text, N);
    n += (size_t)sprintf(text + n, ",\"text\":\"");
    memset(text + n, 'x', BIG);
    n += BIG;
    n += (size_t)sprintf(text + n, "\"}");
    enum { ARENA = 8 << 20 };
    void *mem = malloc(ARENA);
    for (int pass = 0; pass < 2; pass++) {
        counting c;
        arena ar;
        counting_init(&c);
        arena_init(&ar, mem, ARENA);
        ProtobufCAllocator *a = pass == 0 ? &c.a : &ar.a;
        ProtobufCMessage *m = NULL;
        assert_int_equal(
            silk_json_to_message_in(&silkjt__all__descriptor, text, n, a, &m, err, sizeof err),
            SILK_OK);
        Silkjt__All *all = (Silkjt__All *)m;
        assert_int_equal(all->n_counts, N);
        assert_string_equal(all->counts[N - 1]->key, "k4999");
        assert_int_equal(all->counts[N - 1]->value, N - 1);
        assert_string_equal(all->counts[0]->key, "k0");
        assert_int_equal(all->n_nums, N);
        assert_int_equal(all->nums[0], 0);
        assert_int_equal(all->nums[N - 1], -(N - 1));
        assert_int_equal(strlen(all->text), BIG);
        /* The message, N entries and their keys, a string, and the arrays grown (4 to 8192:
         * 12 each, 11 of them given back). */
        size_t allocs = pass == 0 ? c.allocs : ar.allocs, frees = pass == 0 ? c.frees : ar.frees;
        assert_int_equal(allocs, 1 + 2 * N + 1 + 2 * 12);
        assert_int_equal(frees, 2 * 11);
        protobuf_c_message_free_unpacked(m, a);
        assert_int_equal(pass == 0 ? c.frees : ar.frees, allocs);
    }
    free(mem);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_huge_strings), cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_many),         cmocka_unit_test(test_cases_in),
        cmocka_unit_test(test_many_in),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
