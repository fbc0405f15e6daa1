/* json_test.c - the proto3 JSON mapping (silk/json.h) against a corpus: both ways, round trips,
 * every error, and the same again into a caller's allocator and a caller's buffer. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <silk/json.h>

#include "json_test.silk.h"
#include "test_alloc.h"

static const ProtobufCMessageDescriptor *const all = &silkjt__all__descriptor;

/* The heap calls of libsilk_json, linked in statically with its malloc, calloc, realloc and
 * free wrapped by the linker (CMakeLists.txt: -Wl,--wrap=...), and of this file, counted
 * while heap_watch is on: heap_calls every call (free(NULL) aside), heap_blocks the blocks
 * made less those freed. */
static bool heap_watch;
static size_t heap_calls;
static long heap_blocks;

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);

void *__wrap_malloc(size_t n)
{
    if (heap_watch) {
        heap_calls++;
        heap_blocks++;
    }
    return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    if (heap_watch) {
        heap_calls++;
        heap_blocks++;
    }
    return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    if (heap_watch) {
        heap_calls++;
        heap_blocks += p == NULL;
    }
    return __real_realloc(p, n);
}

void __wrap_free(void *p)
{
    if (heap_watch && p != NULL) {
        heap_calls++;
        heap_blocks--;
    }
    __real_free(p);
}

/* heap_start starts counting from zero; heap_stop stops. */
static void heap_start(void)
{
    heap_calls = 0;
    heap_blocks = 0;
    heap_watch = true;
}

static void heap_stop(void)
{
    heap_watch = false;
}

/* decode decodes json into a new message of d and checks the status. */
static ProtobufCMessage *decode(const ProtobufCMessageDescriptor *d, const char *json,
                                silk_status want, char *err, size_t errlen)
{
    ProtobufCMessage *msg = (ProtobufCMessage *)1;
    silk_status st = silk_json_to_message(d, json, strlen(json), &msg, err, errlen);
    if (st != want)
        fail_msg("%s: got %s (%s), want %s", json, silk_status_str(st), err, silk_status_str(want));
    if (st != SILK_OK)
        assert_null(msg);
    return msg;
}

/* encode returns the JSON of msg; the caller frees it. */
static char *encode(const ProtobufCMessage *msg)
{
    char *out = NULL, err[256];
    size_t len = 0;
    silk_status st = silk_json_from_message(msg, &out, &len, err, sizeof err);
    if (st != SILK_OK)
        fail_msg("encode: %s: %s", silk_status_str(st), err);
    assert_int_equal(strlen(out), len);
    return out;
}

/* same_wire tells whether two messages serialize to the same bytes. */
static void assert_same_wire(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
    size_t na = protobuf_c_message_get_packed_size(a);
    size_t nb = protobuf_c_message_get_packed_size(b);
    assert_int_equal(na, nb);
    uint8_t *pa = malloc(na + 1), *pb = malloc(nb + 1);
    protobuf_c_message_pack(a, pa);
    protobuf_c_message_pack(b, pb);
    assert_memory_equal(pa, pb, na);
    free(pa);
    free(pb);
}

/* ============================================================================
 * The corpus: input, and the canonical output it must be written back as (NULL: the same).
 * Each is decoded, encoded, compared, decoded again and compared on the wire.
 * ========================================================================== */

typedef struct round_case {
    const char *in;
    const char *out;
} round_case;

static const round_case rounds[] = {
    /* Defaults are left out; an empty message is {}. */
    {"{}", NULL},
    {"{\"i32\":0,\"text\":\"\",\"flag\":false,\"blob\":\"\",\"color\":\"COLOR_UNSET\","
     "\"nums\":[],\"counts\":{},\"i64\":\"0\",\"db\":0}",
     "{}"},
    /* Names: lowerCamelCase out, both in. */
    {"{\"snake_case_name\":\"a\"}", "{\"snakeCaseName\":\"a\"}"},
    {"{\"snakeCaseName\":\"a\"}", NULL},
    /* 32-bit integers are numbers, read from numbers, integral reals or strings. */
    {"{\"i32\":-2147483648,\"s32\":2147483647,\"sf32\":-1,\"u32\":4294967295,\"f32\":7}", NULL},
    {"{\"i32\":\"-12\",\"u32\":\"12\",\"s32\":1e2,\"f32\":3.0}",
     "{\"i32\":-12,\"s32\":100,\"u32\":12,\"f32\":3}"},
    /* 64-bit integers are strings, read exactly from numbers or strings. */
    {"{\"i64\":\"-9223372036854775808\",\"s64\":\"9223372036854775807\",\"sf64\":\"-1\","
     "\"u64\":\"18446744073709551615\",\"f64\":\"1\"}",
     NULL},
    {"{\"i64\":9007199254740993,\"u64\":9223372036854775807,\"s64\":-9007199254740993}",
     "{\"i64\":\"9007199254740993\",\"s64\":\"-9007199254740993\","
     "\"u64\":\"9223372036854775807\"}"},
    {"{\"u64\":\"-0\",\"i64\":\"-0\"}", "{}"},
    /* Floats: shortest exact form; NaN and infinities as strings; numbers in strings. */
    {"{\"fl\":0.1,\"db\":0.1}", NULL},
    {"{\"fl\":3.4028234663852886e+38,\"db\":1.7976931348623157e+308}",
     "{\"fl\":3.4028235e+38,\"db\":1.7976931348623157e+308}"},
    {"{\"db\":1e-300}", NULL},
    {"{\"fl\":\"NaN\",\"db\":\"-Infinity\"}", NULL},
    {"{\"fl\":\"Infinity\",\"db\":\"NaN\"}", NULL},
    {"{\"db\":\"1.5\",\"fl\":\"-2\"}", "{\"fl\":-2,\"db\":1.5}"},
    {"{\"db\":-0.0}", "{}"},
    /* Booleans, strings with escapes and non-ASCII, bytes in base64 (URL-safe, unpadded in). */
    {"{\"flag\":true,\"text\":\"a\\\"b\\\\c\\n\\t\\u0001\\u00e9\\u4e2d\\ud83d\\ude00\"}",
     "{\"flag\":true,\"text\":\"a\\\"b\\\\c\\n\\t\\u0001\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80\"}"},
    {"{\"blob\":\"AAEC/w==\"}", NULL},
    {"{\"blob\":\"AAEC_w\"}", "{\"blob\":\"AAEC/w==\"}"},
    {"{\"blob\":\"-_8\"}", "{\"blob\":\"+/8=\"}"},
    {"{\"blob\":\"YQ\"}", "{\"blob\":\"YQ==\"}"},
    /* Enums by name, numbers in; unknown numbers kept. */
    {"{\"color\":\"COLOR_BLUE\"}", NULL},
    {"{\"color\":1}", "{\"color\":\"COLOR_RED\"}"},
    {"{\"color\":\"2\"}", "{\"color\":\"COLOR_BLUE\"}"},
    {"{\"color\":7}", NULL},
    /* Nested messages, repeated fields of every kind. */
    {"{\"inner\":{}}", NULL},
    {"{\"inner\":{\"name\":\"x\",\"n\":3,\"child\":{\"child\":{\"n\":1}}}}", NULL},
    {"{\"nums\":[1,-2,3],\"tags\":[\"a\",\"\"],\"inners\":[{},{\"n\":2}],"
     "\"colors\":[\"COLOR_RED\",0,5],\"blobs\":[\"\",\"AQ==\"],\"bigs\":[\"1\",2,\"-3\"],"
     "\"reals\":[0.5,\"NaN\",1e300]}",
     "{\"nums\":[1,-2,3],\"tags\":[\"a\",\"\"],\"inners\":[{},{\"n\":2}],"
     "\"colors\":[\"COLOR_RED\",\"COLOR_UNSET\",5],\"blobs\":[\"\",\"AQ==\"],"
     "\"bigs\":[\"1\",\"2\",\"-3\"],\"reals\":[0.5,\"NaN\",1e+300]}"},
    /* Maps: keys are strings of the key type; values are written even when default. */
    {"{\"counts\":{\"a\":1,\"b\":0},\"names\":{\"-5\":\"x\",\"9223372036854775807\":\"y\"},"
     "\"byFlag\":{\"true\":{\"n\":1},\"false\":{}},\"colorsById\":{\"4294967295\":\"COLOR_RED\"}}",
     NULL},
    {"{\"by_flag\":{\"true\":{}},\"colors_by_id\":{\"1\":2}}",
     "{\"byFlag\":{\"true\":{}},\"colorsById\":{\"1\":\"COLOR_BLUE\"}}"},
    /* Oneofs: a set member is written even when it holds the default. */
    {"{\"choiceText\":\"\"}", NULL},
    {"{\"choice_num\":0}", "{\"choiceNum\":0}"},
    {"{\"choiceInner\":{}}", NULL},
    {"{\"choiceText\":null,\"choiceNum\":4}", "{\"choiceNum\":4}"},
    /* null is "not set", for every kind of field. */
    {"{\"i32\":null,\"text\":null,\"inner\":null,\"nums\":null,\"counts\":null,\"at\":null,"
     "\"maybeI64\":null,\"color\":null}",
     "{}"},
    /* Well-known types. */
    {"{\"at\":\"1970-01-01T00:00:00Z\",\"took\":\"0s\",\"nothing\":{}}", NULL},
    {"{\"at\":\"1972-01-01T10:00:20.021Z\",\"took\":\"1.5s\"}",
     "{\"at\":\"1972-01-01T10:00:20.021Z\",\"took\":\"1.500s\"}"},
    {"{\"at\":\"0001-01-01T00:00:00Z\"}", NULL},
    {"{\"at\":\"9999-12-31T23:59:59.999999999Z\"}", NULL},
    {"{\"at\":\"2024-02-29T12:00:00.000001+01:30\"}", "{\"at\":\"2024-02-29T10:30:00.000001Z\"}"},
    {"{\"at\":\"1969-12-31t23:59:59.5z\"}", "{\"at\":\"1969-12-31T23:59:59.500Z\"}"},
    {"{\"took\":\"-0.000000001s\"}", NULL},
    {"{\"took\":\"-315576000000.999999999s\"}", NULL},
    {"{\"took\":\"315576000000s\"}", NULL},
    {"{\"took\":\"3.000010s\"}", "{\"took\":\"3.000010s\"}"},
    {"{\"maybeI64\":\"0\",\"maybeText\":\"\",\"maybeFlag\":false,\"maybeDb\":0,"
     "\"maybeBlob\":\"\",\"maybeU32\":0}",
     NULL},
    {"{\"maybe_i64\":12,\"maybe_db\":\"Infinity\",\"maybe_u32\":\"7\"}",
     "{\"maybeI64\":\"12\",\"maybeDb\":\"Infinity\",\"maybeU32\":7}"},
    {"{\"times\":[\"2000-01-01T00:00:00Z\",\"2000-01-01T00:00:00.100Z\"]}", NULL},
    /* Whitespace anywhere JSON allows it. */
    {" \n{ \"i32\" : 1 ,\r\n\"tags\":[ \"a\" ] }\t", "{\"i32\":1,\"tags\":[\"a\"]}"},
};

static void test_round_trips(void **state)
{
    (void)state;
    char err[256];
    for (size_t i = 0; i < sizeof rounds / sizeof rounds[0]; i++) {
        const round_case *c = &rounds[i];
        const char *want = c->out ? c->out : c->in;
        ProtobufCMessage *m = decode(all, c->in, SILK_OK, err, sizeof err);
        char *out = encode(m);
        if (strcmp(out, want) != 0)
            fail_msg("case %zu: %s\n  wrote %s\n  want  %s", i, c->in, out, want);
        ProtobufCMessage *again = decode(all, out, SILK_OK, err, sizeof err);
        assert_same_wire(m, again);
        char *out2 = encode(again);
        assert_string_equal(out, out2);
        free(out);
        free(out2);
        protobuf_c_message_free_unpacked(m, NULL);
        protobuf_c_message_free_unpacked(again, NULL);
    }
}

/* ============================================================================
 * Errors: each input fails with INVALID_ARGUMENT and a message holding the text given.
 * ========================================================================== */

typedef struct error_case {
    const char *in;
    const char *says;
} error_case;

static const error_case errors[] = {
    /* Malformed JSON says where. */
    {"", "malformed JSON at line 1"},
    {"{", "malformed JSON at line 1 column"},
    {"{\"i32\":1,}", "malformed JSON"},
    {"{\"i32\":1}\n{}", "malformed JSON at line 2"},
    {"{\"i32\":01}", "malformed JSON"},
    {"{\"i32\":1,\"i32\":2}", "duplicate"},
    {"{\"text\":\"\xff\"}", "malformed JSON"},
    {"{\"u64\":18446744073709551615}", "must be sent as strings"},
    {"{\"db\":1e400}", "malformed JSON"},
    {"[1]", "expected an object (silkjt.All), got an array"},
    {"\"x\"", "expected an object"},
    /* Unknown fields are named; names match exactly. */
    {"{\"nope\":1}", "unknown field \"nope\" in silkjt.All"},
    {"{\"inner\":{\"nope\":1}}", "field \"inner\": unknown field \"nope\" in silkjt.Inner"},
    {"{\"SnakeCaseName\":\"x\"}", "unknown field \"SnakeCaseName\""},
    {"{\"snake_case_name\":\"a\",\"snakeCaseName\":\"b\"}", "given twice"},
    /* Wrong types say the field and what was expected. */
    {"{\"i32\":\"x\"}", "field \"i32\": \"x\" is not an integer (int32)"},
    {"{\"i32\":true}", "field \"i32\": expected an integer (int32), got a boolean"},
    {"{\"i32\":1.5}", "is not an integer"},
    {"{\"i32\":\" 1\"}", "is not an integer"},
    {"{\"i32\":\"+1\"}", "is not an integer"},
    {"{\"i32\":\"0x10\"}", "is not an integer"},
    {"{\"i64\":\"1.0\"}", "is not an integer"},
    {"{\"u64\":\"-1\"}", "out of range for uint64"},
    {"{\"flag\":\"true\"}", "field \"flag\": expected true or false, got a string"},
    {"{\"flag\":1}", "expected true or false"},
    {"{\"text\":5}", "field \"text\": expected a string, got a number"},
    {"{\"text\":\"a\\u0000b\"}", "\\u0000"},
    {"{\"blob\":\"!!\"}", "field \"blob\": not valid base64"},
    {"{\"blob\":\"A\"}", "not valid base64"},
    {"{\"blob\":\"YR==\"}", "not valid base64"},
    {"{\"blob\":1}", "expected a base64 string"},
    {"{\"color\":\"PURPLE\"}", "\"PURPLE\" is not a value of enum silkjt.Color"},
    {"{\"color\":true}", "expected a name or number of enum"},
    {"{\"color\":4294967296}", "out of range for enum"},
    {"{\"inner\":5}", "field \"inner\": expected an object (silkjt.Inner), got a number"},
    {"{\"inner\":{\"child\":{\"n\":\"q\"}}}", "field \"inner.child.n\""},
    {"{\"nums\":5}", "field \"nums\": expected an array, got a number"},
    {"{\"nums\":[1,null]}", "field \"nums[1]\": an array element may not be null"},
    {"{\"inners\":[{},{\"n\":[]}]}", "field \"inners[1].n\": expected an integer"},
    {"{\"db\":\"nan\"}", "is not a number"},
    {"{\"db\":\"inf\"}", "is not a number"},
    {"{\"db\":\"1e999\"}", "out of range for double"},
    {"{\"db\":\"0x1p3\"}", "is not a number"},
    {"{\"db\":[]}", "expected a number (double), got an array"},
    {"{\"counts\":[]}", "expected an object (a map)"},
    {"{\"counts\":{\"a\":\"b\"}}", "field \"counts[\"a\"]\": \"b\" is not an integer"},
    {"{\"counts\":{\"a\":null}}", "a map value may not be null"},
    {"{\"names\":{\"x\":\"y\"}}", "field \"names[\"x\"]\": \"x\" is not an integer (int64)"},
    {"{\"byFlag\":{\"yes\":{}}}", "expected true or false"},
    {"{\"colorsById\":{\"-1\":1}}", "out of range for uint32"},
    /* Oneofs take one member. */
    {"{\"choiceText\":\"a\",\"choiceNum\":1}", "field \"choice_num\": choice_text is set already"},
    /* Well-known types. */
    {"{\"at\":5}", "expected an RFC 3339 timestamp string"},
    {"{\"at\":\"1970-01-01 00:00:00Z\"}", "is not an RFC 3339 timestamp"},
    {"{\"at\":\"1970-01-01T00:00:00\"}", "is not an RFC 3339 timestamp"},
    {"{\"at\":\"1970-02-30T00:00:00Z\"}", "is not an RFC 3339 timestamp"},
    {"{\"at\":\"2023-02-29T00:00:00Z\"}", "is not an RFC 3339 timestamp"},
    {"{\"at\":\"1970-01-01T00:00:00.1234567890Z\"}", "is not an RFC 3339 timestamp"},
    {"{\"at\":\"0001-01-01T00:00:00+00:01\"}", "out of range"},
    {"{\"took\":1}", "expected a duration string"},
    {"{\"took\":\"1\"}", "is not a duration"},
    {"{\"took\":\"1.s\"}", "is not a duration"},
    {"{\"took\":\"315576000001s\"}", "out of range"},
    {"{\"nothing\":{\"x\":1}}", "unknown field \"x\" in google.protobuf.Empty"},
    {"{\"nothing\":[]}", "expected an object (google.protobuf.Empty)"},
    {"{\"maybeI64\":{\"value\":\"1\"}}", "expected an integer (int64), got an object"},
    {"{\"maybeFlag\":\"x\"}", "expected true or false"},
    /* Ranges. */
    {"{\"i32\":2147483648}", "2147483648 is out of range for int32"},
    {"{\"i32\":-2147483649}", "out of range for int32"},
    {"{\"u32\":-1}", "-1 is out of range for uint32"},
    {"{\"u32\":4294967296}", "out of range for uint32"},
    {"{\"u32\":\"4294967296\"}", "out of range for uint32"},
    {"{\"i64\":\"9223372036854775808\"}", "out of range for int64"},
    {"{\"i64\":9.3e18}", "out of range for int64"},
    {"{\"u64\":\"18446744073709551616\"}", "out of range for uint64"},
    {"{\"u64\":-1}", "out of range for uint64"},
    {"{\"fl\":1e39}", "out of range for float"},
    {"{\"sf32\":1e10}", "out of range for sfixed32"},
};

static void test_errors(void **state)
{
    (void)state;
    char err[256];
    for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++) {
        const error_case *c = &errors[i];
        err[0] = '\0';
        decode(all, c->in, SILK_INVALID_ARGUMENT, err, sizeof err);
        if (strstr(err, c->says) == NULL)
            fail_msg("case %zu: %s\n  said  %s\n  want  %s", i, c->in, err, c->says);
    }
    /* A short or absent error buffer is fine. */
    ProtobufCMessage *m = (ProtobufCMessage *)1;
    assert_int_equal(silk_json_to_message(all, "{\"x\":1}", 7, &m, NULL, 0), SILK_INVALID_ARGUMENT);
    assert_null(m);
    char tiny[4];
    assert_int_equal(silk_json_to_message(all, "{\"x\":1}", 7, &m, tiny, sizeof tiny),
                     SILK_INVALID_ARGUMENT);
    assert_int_equal(strlen(tiny), 3);
    /* Bytes past len are not read. */
    assert_int_equal(silk_json_to_message(all, "{}garbage", 2, &m, err, sizeof err), SILK_OK);
    protobuf_c_message_free_unpacked(m, NULL);
}

/* ============================================================================
 * Values as C sees them, and messages built in C.
 * ========================================================================== */

static void test_values(void **state)
{
    (void)state;
    char err[256];
    Silkjt__All *a = (Silkjt__All *)decode(
        all,
        "{\"i64\":-9007199254740993,\"u64\":\"18446744073709551615\",\"fl\":0.1,\"db\":\"NaN\","
        "\"blob\":\"AAEC/w==\",\"text\":\"\\u00e9\",\"color\":\"COLOR_RED\",\"choiceNum\":0,"
        "\"at\":\"1972-01-01T10:00:20.021Z\",\"took\":\"-1.5s\",\"maybeI64\":\"5\","
        "\"counts\":{\"k\":3},\"names\":{\"7\":\"seven\"},\"inner\":{\"n\":2}}",
        SILK_OK, err, sizeof err);
    assert_true(a->i64 == -9007199254740993LL);
    assert_true(a->u64 == UINT64_MAX);
    assert_true(a->fl == 0.1f);
    assert_true(isnan(a->db));
    assert_int_equal(a->blob.len, 4);
    assert_memory_equal(a->blob.data, "\x00\x01\x02\xff", 4);
    assert_string_equal(a->text, "\xc3\xa9");
    assert_int_equal(a->color, SILKJT__COLOR__COLOR_RED);
    assert_int_equal(a->choice_case, SILKJT__ALL__CHOICE_CHOICE_NUM);
    assert_int_equal(a->choice_num, 0);
    assert_true(a->at->seconds == 63108020);
    assert_int_equal(a->at->nanos, 21000000);
    assert_true(a->took->seconds == -1);
    assert_int_equal(a->took->nanos, -500000000);
    assert_true(a->maybe_i64->value == 5);
    assert_int_equal(a->n_counts, 1);
    assert_string_equal(a->counts[0]->key, "k");
    assert_int_equal(a->counts[0]->value, 3);
    assert_true(a->names[0]->key == 7);
    assert_string_equal(a->names[0]->value, "seven");
    assert_int_equal(a->inner->n, 2);
    assert_null(a->maybe_text);
    protobuf_c_message_free_unpacked(&a->base, NULL);
}

static void test_encode_built_in_c(void **state)
{
    (void)state;
    Silkjt__Inner child = SILKJT__INNER__INIT;
    child.name = "c";
    Silkjt__Inner *inners[] = {&child, NULL};
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    ts.seconds = -1;
    ts.nanos = 999000000;
    Google__Protobuf__Duration du = GOOGLE__PROTOBUF__DURATION__INIT;
    du.seconds = 0;
    du.nanos = -5000;
    Google__Protobuf__StringValue sv = GOOGLE__PROTOBUF__STRING_VALUE__INIT;
    Silkjt__All a = SILKJT__ALL__INIT;
    char bad[] = {'o', 'k', (char)0xff, (char)0xc3, 0};
    a.text = bad;
    a.inners = inners;
    a.n_inners = 2;
    a.at = &ts;
    a.took = &du;
    a.maybe_text = &sv;
    a.u32 = 4294967295u;
    a.sf64 = INT64_MIN;
    a.choice_case = SILKJT__ALL__CHOICE_CHOICE_INNER;
    a.choice_inner = &child;
    char *out = encode(&a.base);
    assert_string_equal(out, "{\"u32\":4294967295,\"sf64\":\"-9223372036854775808\","
                             "\"text\":\"ok\\ufffd\\ufffd\",\"inners\":[{\"name\":\"c\"},{}],"
                             "\"choiceInner\":{\"name\":\"c\"},\"at\":\"1969-12-31T23:59:59.999Z\","
                             "\"took\":\"-0.000005s\",\"maybeText\":\"\"}");
    free(out);

    /* Values proto3 JSON cannot write. */
    char *text = (char *)1, err[128];
    Silkjt__All b = SILKJT__ALL__INIT;
    ts.seconds = -62135596801LL;
    b.at = &ts;
    assert_int_equal(silk_json_from_message(&b.base, &text, NULL, err, sizeof err), SILK_INTERNAL);
    assert_null(text);
    assert_non_null(strstr(err, "Timestamp out of range"));
    b.at = NULL;
    du.seconds = 1;
    du.nanos = -1;
    b.took = &du;
    assert_int_equal(silk_json_from_message(&b.base, &text, NULL, err, sizeof err), SILK_INTERNAL);
    assert_non_null(strstr(err, "Duration"));
}

/* Top-level well-known types have their own JSON forms too. */
static void test_top_level_wkt(void **state)
{
    (void)state;
    char err[256];
    ProtobufCMessage *m = decode(&google__protobuf__timestamp__descriptor,
                                 "\"2001-02-03T04:05:06Z\"", SILK_OK, err, sizeof err);
    char *out = encode(m);
    assert_string_equal(out, "\"2001-02-03T04:05:06Z\"");
    free(out);
    protobuf_c_message_free_unpacked(m, NULL);
    m = decode(&google__protobuf__int64_value__descriptor, "-3", SILK_OK, err, sizeof err);
    out = encode(m);
    assert_string_equal(out, "\"-3\"");
    free(out);
    protobuf_c_message_free_unpacked(m, NULL);
    m = decode(&google__protobuf__empty__descriptor, "{}", SILK_OK, err, sizeof err);
    out = encode(m);
    assert_string_equal(out, "{}");
    free(out);
    protobuf_c_message_free_unpacked(m, NULL);
    decode(&google__protobuf__empty__descriptor, "{\"a\":1}", SILK_INVALID_ARGUMENT, err,
           sizeof err);
    decode(&google__protobuf__duration__descriptor, "{}", SILK_INVALID_ARGUMENT, err, sizeof err);
}

/* ============================================================================
 * Text values, as path and query parameters give them.
 * ========================================================================== */

static void set_ok(ProtobufCMessage *m, const char *name, const char *value)
{
    char err[256];
    silk_status st = silk_json_set_field(m, name, value, err, sizeof err);
    if (st != SILK_OK)
        fail_msg("set %s=%s: %s", name, value, err);
}

static void set_fails(ProtobufCMessage *m, const char *name, const char *value, const char *says)
{
    char err[256];
    assert_int_equal(silk_json_set_field(m, name, value, err, sizeof err), SILK_INVALID_ARGUMENT);
    if (strstr(err, says) == NULL)
        fail_msg("set %s=%s said %s, want %s", name, value, err, says);
}

static void test_set_field(void **state)
{
    (void)state;
    char err[256];
    ProtobufCMessage *m = decode(all, "{\"text\":\"old\"}", SILK_OK, err, sizeof err);
    set_ok(m, "text", "new");
    set_ok(m, "snakeCaseName", "s");
    set_ok(m, "i32", "-5");
    set_ok(m, "u64", "18446744073709551615");
    set_ok(m, "flag", "true");
    set_ok(m, "db", "NaN");
    set_ok(m, "color", "COLOR_BLUE");
    set_ok(m, "blob", "AQ");
    set_ok(m, "tags", "a");
    set_ok(m, "tags", "b");
    set_ok(m, "nums", "1");
    set_ok(m, "inner.name", "deep");
    set_ok(m, "inner.child.n", "9");
    set_ok(m, "at", "2000-01-01T00:00:00Z");
    set_ok(m, "maybeFlag", "false");
    set_ok(m, "maybe_text", "w");
    set_ok(m, "maybe_text", "w2");
    set_ok(m, "choice_text", "c");
    set_ok(m, "choice_text", "c2");
    set_ok(m, "times", "2000-01-01T00:00:00Z");
    char *out = encode(m);
    assert_string_equal(
        out, "{\"i32\":-5,\"u64\":\"18446744073709551615\",\"db\":\"NaN\",\"flag\":true,"
             "\"text\":\"new\",\"blob\":\"AQ==\",\"color\":\"COLOR_BLUE\","
             "\"inner\":{\"name\":\"deep\",\"child\":{\"n\":9}},\"nums\":[1],"
             "\"tags\":[\"a\",\"b\"],\"choiceText\":\"c2\",\"at\":\"2000-01-01T00:00:00Z\","
             "\"maybeText\":\"w2\",\"maybeFlag\":false,\"snakeCaseName\":\"s\","
             "\"times\":[\"2000-01-01T00:00:00Z\"]}");
    free(out);

    set_fails(m, "nope", "1", "no field \"nope\" in silkjt.All");
    set_fails(m, "inner.nope", "1", "no field \"inner.nope\"");
    set_fails(m, "text.x", "1", "not a message field");
    set_fails(m, "", "1", "no field");
    set_fails(m, "i32", "x", "field \"i32\": \"x\" is not an integer");
    set_fails(m, "i32", "99999999999", "out of range for int32");
    set_fails(m, "flag", "yes", "expected true or false");
    set_fails(m, "blob", "!", "not valid base64");
    set_fails(m, "nums", "q", "field \"nums[1]\"");
    set_fails(m, "counts", "1", "a map field");
    set_fails(m, "inner", "1", "a message field");
    set_fails(m, "choice_num", "1", "choice_text is set already");
    set_fails(m, "at", "yesterday", "is not an RFC 3339 timestamp");
    set_fails(m, "text", "\xff", "not UTF-8");
    /* Failures leave the fields as they were. */
    out = encode(m);
    assert_non_null(strstr(out, "\"i32\":-5,"));
    assert_non_null(strstr(out, "\"nums\":[1],"));
    free(out);
    protobuf_c_message_free_unpacked(m, NULL);
}

static void test_field_name(void **state)
{
    (void)state;
    char out[16];
    assert_string_equal(silk_json_field_name("business_id", out, sizeof out), "businessId");
    assert_string_equal(silk_json_field_name("a_b_c", out, sizeof out), "aBC");
    assert_string_equal(silk_json_field_name("x_1", out, sizeof out), "x1");
    assert_string_equal(silk_json_field_name("_lead", out, sizeof out), "Lead");
    assert_string_equal(silk_json_field_name("msg", out, sizeof out), "msg");
    assert_string_equal(silk_json_field_name("a_very_long_field_name", out, 8), "aVeryLo");
}

/* decode_ok decodes json into a new All, the caller's. */
static Silkjt__All *decode_ok(const char *json)
{
    ProtobufCMessage *m = NULL;
    char err[256] = "";
    silk_status st =
        silk_json_to_message(&silkjt__all__descriptor, json, strlen(json), &m, err, sizeof err);
    if (st != SILK_OK)
        fail_msg("%s: %s", json, err);
    return (Silkjt__All *)m;
}

/* decode_fails checks that json is refused with a message containing says. */
static void decode_fails(const char *json, const char *says)
{
    ProtobufCMessage *m = NULL;
    char err[256] = "";
    assert_int_equal(
        silk_json_to_message(&silkjt__all__descriptor, json, strlen(json), &m, err, sizeof err),
        SILK_INVALID_ARGUMENT);
    assert_null(m);
    if (strstr(err, says) == NULL)
        fail_msg("%s: \"%s\" does not say \"%s\"", json, err, says);
}

static char *encode_ok(const ProtobufCMessage *m)
{
    char *out = NULL;
    char err[256] = "";
    assert_int_equal(silk_json_from_message(m, &out, NULL, err, sizeof err), SILK_OK);
    return out;
}

/* [json_name]: ignored until the service's descriptor is given (protobuf-c's descriptors do
 * not carry it), then written, and read under it or the proto name, not the default. Runs
 * last: the names stay for the process. */
static void test_json_names(void **state)
{
    (void)state;
    Silkjt__All msg = SILKJT__ALL__INIT;
    Silkjt__Inner inner = SILKJT__INNER__INIT;
    msg.renamed = 5;
    inner.display_name = "x";
    msg.inner = &inner;
    char *out = encode_ok(&msg.base);
    assert_string_equal(out, "{\"inner\":{\"displayName\":\"x\"},\"renamed\":5}");
    free(out);
    decode_fails("{\"customName\":1}", "unknown field \"customName\"");

    const silk_service_desc *d[] = {&silkjt__json_names__silk_desc, NULL};
    assert_int_equal(d[0]->n_json_names, 2);
    assert_int_equal(silk_json_add_names(d, 1), SILK_OK);
    assert_int_equal(silk_json_add_names(d, 1), SILK_OK); /* again: the same names */
    assert_int_equal(silk_json_add_names(d, 2), SILK_INVALID_ARGUMENT);

    out = encode_ok(&msg.base);
    assert_string_equal(out, "{\"inner\":{\"label\":\"x\"},\"customName\":5}");
    free(out);
    Silkjt__All *m = decode_ok("{\"customName\":7,\"inner\":{\"label\":\"y\"}}");
    assert_int_equal(m->renamed, 7);
    assert_string_equal(m->inner->display_name, "y");
    protobuf_c_message_free_unpacked(&m->base, NULL);
    m = decode_ok("{\"renamed\":8,\"inner\":{\"display_name\":\"z\"}}");
    assert_int_equal(m->renamed, 8);
    assert_string_equal(m->inner->display_name, "z");
    protobuf_c_message_free_unpacked(&m->base, NULL);
    decode_fails("{\"inner\":{\"displayName\":\"y\"}}", "unknown field \"displayName\"");
    decode_fails("{\"customName\":1,\"renamed\":2}", "renamed");
    /* Other fields keep their default names. */
    m = decode_ok("{\"snakeCaseName\":\"s\"}");
    assert_string_equal(m->snake_case_name, "s");
    protobuf_c_message_free_unpacked(&m->base, NULL);

    m = decode_ok("{}");
    set_ok(&m->base, "customName", "9");
    set_ok(&m->base, "inner.label", "w");
    assert_int_equal(m->renamed, 9);
    assert_string_equal(m->inner->display_name, "w");
    protobuf_c_message_free_unpacked(&m->base, NULL);
}

/* ============================================================================
 * Decoding into a caller's allocator (silk_json_to_message_in): every text above, and these,
 * read as silk_json_to_message reads them, everything made through the allocator.
 * ========================================================================== */

typedef struct typed_case {
    const ProtobufCMessageDescriptor *desc;
    const char *in;
} typed_case;

/* Messages at the top of each kind, and test_values' text. */
static const typed_case typed[] = {
    {&google__protobuf__timestamp__descriptor, "\"2001-02-03T04:05:06Z\""},
    {&google__protobuf__duration__descriptor, "\"-1.5s\""},
    {&google__protobuf__int64_value__descriptor, "-3"},
    {&google__protobuf__string_value__descriptor, "\"x\""},
    {&google__protobuf__bytes_value__descriptor, "\"AAEC\""},
    {&google__protobuf__empty__descriptor, "{}"},
    {&silkjt__inner__descriptor, "{\"name\":\"x\",\"n\":3,\"child\":{\"child\":{\"name\":\"y\"}}}"},
    {&silkjt__all__descriptor,
     "{\"i64\":-9007199254740993,\"u64\":\"18446744073709551615\",\"fl\":0.1,\"db\":\"NaN\","
     "\"blob\":\"AAEC/w==\",\"text\":\"\\u00e9\",\"color\":\"COLOR_RED\",\"choiceNum\":0,"
     "\"at\":\"1972-01-01T10:00:20.021Z\",\"took\":\"-1.5s\",\"maybeI64\":\"5\","
     "\"counts\":{\"k\":3},\"names\":{\"7\":\"seven\"},\"inner\":{\"n\":2}}"},
    /* Repeated fields past their first arrays, a map of many entries, strings in a oneof. */
    {&silkjt__all__descriptor,
     "{\"tags\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\"],"
     "\"inners\":[{},{\"n\":1},{},{},{\"name\":\"q\"}],\"blobs\":[\"AQ==\",\"\",\"Ag\",\"Aw\","
     "\"BA\"],"
     "\"counts\":{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6},\"choiceText\":\"t\","
     "\"times\":[\"2000-01-01T00:00:00Z\",\"2000-01-01T00:00:01Z\",\"2000-01-01T00:00:02Z\","
     "\"2000-01-01T00:00:03Z\",\"2000-01-01T00:00:04Z\"],\"maybeText\":\"w\",\"maybeBlob\":"
     "\"AQ\"}"},
};

/* The arena's memory: 16-aligned, larger than any message here needs. */
static union {
    max_align_t align;
    unsigned char bytes[1 << 16];
} arena_mem;

/* check_in_ok decodes in as desc through silk_json_to_message, then a counting allocator,
 * then an arena, then NULL, and checks that each result is the same message, that all of
 * it came from the allocator and goes back to it, and that the arena's decoding took nothing
 * from the heap. It returns the allocations the message took. */
static size_t check_in_ok(const ProtobufCMessageDescriptor *desc, const char *in)
{
    char err[256] = "";
    size_t len = strlen(in);
    ProtobufCMessage *want = decode(desc, in, SILK_OK, err, sizeof err);
    char *want_json = encode(want);

    counting c;
    counting_init(&c);
    ProtobufCMessage *m = (ProtobufCMessage *)1;
    silk_status st = silk_json_to_message_in(desc, in, len, &c.a, &m, err, sizeof err);
    if (st != SILK_OK)
        fail_msg("%s: counting: %s (%s)", in, silk_status_str(st), err);
    assert_ptr_equal(m->descriptor, desc);
    assert_same_wire(want, m);
    char *json = encode(m);
    assert_string_equal(json, want_json);
    free(json);
    assert_true(c.allocs >= 1);
    size_t allocs = c.allocs;
    protobuf_c_message_free_unpacked(m, &c.a); /* fails on a block that is not c's */
    if (c.allocs != c.frees)
        fail_msg("%s: %zu allocations, %zu frees", in, c.allocs, c.frees);

    arena ar;
    arena_init(&ar, arena_mem.bytes, sizeof arena_mem.bytes);
    m = (ProtobufCMessage *)1;
    heap_start();
    st = silk_json_to_message_in(desc, in, len, &ar.a, &m, err, sizeof err);
    heap_stop();
    if (st != SILK_OK)
        fail_msg("%s: arena: %s (%s)", in, silk_status_str(st), err);
    if (heap_calls != 0)
        fail_msg("%s: %zu heap calls decoding into the arena", in, heap_calls);
    assert_int_equal(ar.allocs, allocs); /* the same allocations, wherever they come from */
    assert_true((unsigned char *)m >= ar.mem && (unsigned char *)m < ar.mem + ar.used);
    assert_same_wire(want, m);
    json = encode(m);
    assert_string_equal(json, want_json);
    free(json);
    protobuf_c_message_free_unpacked(m, &ar.a); /* fails on a block outside the arena */
    assert_int_equal(ar.allocs, ar.frees);

    /* NULL is malloc: freed as silk_json_to_message's results are. */
    st = silk_json_to_message_in(desc, in, len, NULL, &m, err, sizeof err);
    assert_int_equal(st, SILK_OK);
    assert_same_wire(want, m);
    protobuf_c_message_free_unpacked(m, NULL);

    free(want_json);
    protobuf_c_message_free_unpacked(want, NULL);
    return allocs;
}

static void test_in_round_trips(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof rounds / sizeof rounds[0]; i++) {
        check_in_ok(all, rounds[i].in);
        if (rounds[i].out != NULL)
            check_in_ok(all, rounds[i].out);
    }
    for (size_t i = 0; i < sizeof typed / sizeof typed[0]; i++)
        check_in_ok(typed[i].desc, typed[i].in);
}

/* What a flat message of strings and numbers takes, the gateway's common case: the message
 * and one block per string, nothing else; a repeated field grows by alloc, copy and free. */
static void test_in_counts(void **state)
{
    (void)state;
    assert_int_equal(
        check_in_ok(all, "{\"snakeCaseName\":\"100\",\"text\":\"hello\",\"i64\":\"1\"}"), 3);
    assert_int_equal(check_in_ok(all, "{\"i32\":1,\"u64\":\"2\",\"db\":1.5,\"flag\":true}"), 1);
    assert_int_equal(
        check_in_ok(all, "{\"inner\":{\"name\":\"n\"},\"at\":\"2000-01-01T00:00:00Z\"}"), 4);

    counting c;
    counting_init(&c);
    ProtobufCMessage *m = NULL;
    const char *in = "{\"tags\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}";
    char err[256];
    assert_int_equal(silk_json_to_message_in(all, in, strlen(in), &c.a, &m, err, sizeof err),
                     SILK_OK);
    /* The message, five strings, an array of 4 and one of 8 (the first given back). */
    assert_int_equal(c.allocs, 8);
    assert_int_equal(c.frees, 1);
    Silkjt__All *a = (Silkjt__All *)m;
    assert_int_equal(a->n_tags, 5);
    assert_string_equal(a->tags[0], "a");
    assert_string_equal(a->tags[4], "e");
    protobuf_c_message_free_unpacked(m, &c.a);
    assert_int_equal(c.frees, 8);
}

/* check_in_fails decodes in, which silk_json_to_message refuses, through a counting
 * allocator and an arena: the same status and error, *out NULL, all that was made given back. */
static void check_in_fails(const ProtobufCMessageDescriptor *desc, const char *in, size_t len)
{
    char want[256] = "", err[256] = "";
    ProtobufCMessage *m = (ProtobufCMessage *)1;
    silk_status want_st = silk_json_to_message(desc, in, len, &m, want, sizeof want);
    assert_int_not_equal(want_st, SILK_OK);

    counting c;
    counting_init(&c);
    m = (ProtobufCMessage *)1;
    silk_status st = silk_json_to_message_in(desc, in, len, &c.a, &m, err, sizeof err);
    if (st != want_st || strcmp(err, want) != 0)
        fail_msg("%.*s: counting said %s %s\n  want %s %s", (int)len, in, silk_status_str(st), err,
                 silk_status_str(want_st), want);
    assert_null(m);
    assert_true(c.allocs >= 1); /* the message at least, before the text is read */
    if (c.allocs != c.frees)
        fail_msg("%.*s: %zu allocations, %zu frees", (int)len, in, c.allocs, c.frees);

    arena ar;
    arena_init(&ar, arena_mem.bytes, sizeof arena_mem.bytes);
    m = (ProtobufCMessage *)1;
    err[0] = '\0';
    st = silk_json_to_message_in(desc, in, len, &ar.a, &m, err, sizeof err);
    assert_int_equal(st, want_st);
    assert_string_equal(err, want);
    assert_null(m);
    assert_int_equal(ar.allocs, c.allocs);
    assert_int_equal(ar.frees, ar.allocs);
}

static void test_in_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++)
        check_in_fails(all, errors[i].in, strlen(errors[i].in));
    check_in_fails(all, "{\"x\":1}", 7);
    check_in_fails(&google__protobuf__empty__descriptor, "{\"a\":1}", 7);
    check_in_fails(&google__protobuf__duration__descriptor, "{}", 2);
    check_in_fails(&google__protobuf__timestamp__descriptor, "\"x\"", 3);
    /* Failing after strings, messages, bytes, arrays and map entries were made. */
    check_in_fails(
        all,
        "{\"text\":\"a\",\"inner\":{\"name\":\"b\"},\"blob\":\"AQ==\",\"tags\":[\"c\"],"
        "\"counts\":{\"k\":1},\"inners\":[{\"name\":\"d\"},{\"n\":\"x\"}]}",
        strlen("{\"text\":\"a\",\"inner\":{\"name\":\"b\"},\"blob\":\"AQ==\",\"tags\":["
               "\"c\"],\"counts\":{\"k\":1},\"inners\":[{\"name\":\"d\"},{\"n\":\"x\"}]}"));
    check_in_fails(all, "{\"tags\":[\"a\",\"b\",\"c\",\"d\",\"e\",5]}", 31);
    check_in_fails(all, "{\"counts\":{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":null}}", 43);
    check_in_fails(all, "{\"maybeText\":\"w\",\"names\":{\"1\":\"x\",\"2\":\"y\"},\"at\":1}", 50);
    /* A syntax error after an error of meaning: what the second look says. */
    check_in_fails(all, "{\"text\":\"a\",\"i32\":\"x\",}", 23);
}

/* Each allocation failing in turn: SILK_RESOURCE_EXHAUSTED, and all made before it given back. */
static void check_in_out_of_memory(const ProtobufCMessageDescriptor *desc, const char *in)
{
    size_t len = strlen(in), k;
    for (k = 1;; k++) {
        counting c;
        counting_init(&c);
        c.fail_at = k;
        char err[256] = "";
        ProtobufCMessage *m = (ProtobufCMessage *)1;
        silk_status st = silk_json_to_message_in(desc, in, len, &c.a, &m, err, sizeof err);
        if (c.calls < k) { /* all k - 1 allocations there are succeeded */
            assert_int_equal(st, SILK_OK);
            assert_int_equal(c.allocs, k - 1);
            protobuf_c_message_free_unpacked(m, &c.a);
            assert_int_equal(c.frees, c.allocs);
            break;
        }
        if (st != SILK_RESOURCE_EXHAUSTED || strstr(err, "out of memory") == NULL)
            fail_msg("%s, allocation %zu failing: %s %s", in, k, silk_status_str(st), err);
        assert_null(m);
        if (c.allocs != c.frees)
            fail_msg("%s, allocation %zu failing: %zu allocations, %zu frees", in, k, c.allocs,
                     c.frees);
    }
    assert_true(k >= 2);
}

static void test_in_out_of_memory(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof rounds / sizeof rounds[0]; i++)
        check_in_out_of_memory(all, rounds[i].in);
    for (size_t i = 0; i < sizeof typed / sizeof typed[0]; i++)
        check_in_out_of_memory(typed[i].desc, typed[i].in);
    /* An arena too small (room for the message, not its first string): the same. */
    arena ar;
    arena_init(&ar, arena_mem.bytes, ((sizeof(Silkjt__All) + 15) & ~(size_t)15) + 4);
    ProtobufCMessage *m = (ProtobufCMessage *)1;
    char err[256];
    const char *in = "{\"text\":\"hello\",\"inner\":{\"name\":\"a long enough name\"}}";
    assert_int_equal(silk_json_to_message_in(all, in, strlen(in), &ar.a, &m, err, sizeof err),
                     SILK_RESOURCE_EXHAUSTED);
    assert_null(m);
    assert_non_null(strstr(err, "out of memory"));
    assert_int_equal(ar.allocs, 1);
    assert_int_equal(ar.frees, 1);
}

/* ============================================================================
 * Encoding into a caller's buffer (silk_json_from_message_buf).
 * ========================================================================== */

/* check_buf encodes msg into buffers of every interesting size: the text as
 * silk_json_from_message writes it each time, in the buffer with no heap call when it and its
 * NUL fit, else in one new block of the heap. */
static void check_buf(const ProtobufCMessage *msg)
{
    char *want = encode(msg), err[256];
    size_t n = strlen(want);
    size_t caps[] = {n + 1, n, n / 2, 1, 0, n + 100};
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        size_t cap = caps[i];
        /* Exactly cap bytes, for ASan; NULL for none. */
        char *buf = cap > 0 ? malloc(cap) : NULL, *out = (char *)1;
        size_t len = 0;
        heap_start();
        silk_status st = silk_json_from_message_buf(msg, buf, cap, &out, &len, err, sizeof err);
        heap_stop();
        if (st != SILK_OK)
            fail_msg("%s, cap %zu: %s %s", want, cap, silk_status_str(st), err);
        assert_int_equal(len, n);
        if (strcmp(out, want) != 0)
            fail_msg("cap %zu: wrote %s\n  want %s", cap, out, want);
        if (cap > n) {
            assert_ptr_equal(out, buf);
            if (heap_calls != 0)
                fail_msg("%s, cap %zu: %zu heap calls", want, cap, heap_calls);
        } else {
            assert_ptr_not_equal(out, buf);
            assert_int_equal(heap_blocks, 1); /* out, the caller's */
            free(out);
        }
        free(buf);
    }
    /* len may be NULL. */
    char *big = malloc(n + 1), *out = NULL;
    assert_int_equal(silk_json_from_message_buf(msg, big, n + 1, &out, NULL, err, sizeof err),
                     SILK_OK);
    assert_ptr_equal(out, big);
    assert_string_equal(out, want);
    free(big);
    free(want);
}

static void test_from_message_buf(void **state)
{
    (void)state;
    char err[256];
    for (size_t i = 0; i < sizeof rounds / sizeof rounds[0]; i++) {
        ProtobufCMessage *m = decode(all, rounds[i].in, SILK_OK, err, sizeof err);
        check_buf(m);
        protobuf_c_message_free_unpacked(m, NULL);
    }
    for (size_t i = 0; i < sizeof typed / sizeof typed[0]; i++) {
        ProtobufCMessage *m = decode(typed[i].desc, typed[i].in, SILK_OK, err, sizeof err);
        check_buf(m);
        protobuf_c_message_free_unpacked(m, NULL);
    }
    /* A text many times the heap's first block, begun in a small buffer. */
    char text[8192];
    size_t n = (size_t)sprintf(text, "{\"tags\":[");
    for (int i = 0; i < 300; i++)
        n += (size_t)sprintf(text + n, "%s\"tag number %d\"", i ? "," : "", i);
    sprintf(text + n, "]}");
    ProtobufCMessage *m = decode(all, text, SILK_OK, err, sizeof err);
    check_buf(m);
    protobuf_c_message_free_unpacked(m, NULL);

    /* A message built in C, a NULL element among its inners: still no heap when it fits. */
    Silkjt__Inner child = SILKJT__INNER__INIT;
    child.name = "c";
    Silkjt__Inner *inners[] = {&child, NULL};
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    Silkjt__All a = SILKJT__ALL__INIT;
    a.inners = inners;
    a.n_inners = 2;
    a.text = "a text long enough to be past a small buffer";
    a.at = &ts;
    check_buf(&a.base);

    /* A value JSON cannot write: the same error, nothing left, whether the text so far was in
     * the buffer or had moved to the heap. */
    ts.seconds = -62135596801LL;
    char *out = (char *)1, want[256];
    assert_int_equal(silk_json_from_message(&a.base, &out, NULL, want, sizeof want), SILK_INTERNAL);
    size_t caps[] = {4096, 8};
    for (size_t i = 0; i < 2; i++) {
        char buf[4096];
        out = (char *)1;
        err[0] = '\0';
        heap_start();
        silk_status st =
            silk_json_from_message_buf(&a.base, buf, caps[i], &out, NULL, err, sizeof err);
        heap_stop();
        assert_int_equal(st, SILK_INTERNAL);
        assert_null(out);
        assert_string_equal(err, want);
        assert_int_equal(heap_blocks, 0);
        if (i == 0)
            assert_int_equal(heap_calls, 0);
        else
            assert_true(heap_calls >= 2); /* it did move, and was freed */
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trips),      cmocka_unit_test(test_errors),
        cmocka_unit_test(test_values),           cmocka_unit_test(test_encode_built_in_c),
        cmocka_unit_test(test_top_level_wkt),    cmocka_unit_test(test_set_field),
        cmocka_unit_test(test_field_name),       cmocka_unit_test(test_in_round_trips),
        cmocka_unit_test(test_in_counts),        cmocka_unit_test(test_in_errors),
        cmocka_unit_test(test_in_out_of_memory), cmocka_unit_test(test_from_message_buf),
        cmocka_unit_test(test_json_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
