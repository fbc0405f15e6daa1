/* options_test.c - protoc-gen-silk reads silk's and protobuf-c's options from unknown fields. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "silk/options.pb-c.h"
#include "silkgen.h"

/* wire is a tiny protobuf writer, enough to encode options as protoc does. */
typedef struct wire {
    uint8_t data[512];
    size_t len;
} wire;

static void put_varint(wire *w, uint64_t v)
{
    do {
        w->data[w->len++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v != 0);
}

static void put_bytes(wire *w, uint32_t field, const void *data, size_t len)
{
    put_varint(w, (uint64_t)field << 3 | PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED);
    put_varint(w, len);
    memcpy(w->data + w->len, data, len);
    w->len += len;
}

static void put_string(wire *w, uint32_t field, const char *s)
{
    put_bytes(w, field, s, strlen(s));
}

static void put_uint(wire *w, uint32_t field, uint64_t v)
{
    put_varint(w, (uint64_t)field << 3 | PROTOBUF_C_WIRE_TYPE_VARINT);
    put_varint(w, v);
}

static void put_http(wire *w, Silk__HttpRule__PatternCase verb, const char *path)
{
    Silk__HttpRule rule = SILK__HTTP_RULE__INIT;
    rule.pattern_case = verb;
    switch (verb) {
    case SILK__HTTP_RULE__PATTERN_GET:
        rule.get = (char *)path;
        break;
    case SILK__HTTP_RULE__PATTERN_PUT:
        rule.put = (char *)path;
        break;
    case SILK__HTTP_RULE__PATTERN_POST:
        rule.post = (char *)path;
        break;
    case SILK__HTTP_RULE__PATTERN_DELETE:
        rule.delete_ = (char *)path;
        break;
    case SILK__HTTP_RULE__PATTERN_PATCH:
        rule.patch = (char *)path;
        break;
    default:
        break;
    }
    uint8_t bytes[128];
    size_t len = silk__http_rule__pack(&rule, bytes);
    put_bytes(w, SILKGEN_OPT_HTTP, bytes, len);
}

static Google__Protobuf__MethodOptions *method_options(const wire *w)
{
    Google__Protobuf__MethodOptions *o =
        google__protobuf__method_options__unpack(NULL, w->len, w->data);
    assert_non_null(o);
    return o;
}

/* What protobuf-c 1.4.1 keeps of a length-delimited unknown field: its data starts with the
 * varint length. The reader relies on it, so the test pins it down. */
static void protobuf_c_keeps_the_length_prefix(void **state)
{
    wire w = {0};
    put_string(&w, SILKGEN_OPT_HASH_KEY, "business_id");
    Google__Protobuf__MethodOptions *o = method_options(&w);
    assert_int_equal(o->base.n_unknown_fields, 1);
    const ProtobufCMessageUnknownField *u = &o->base.unknown_fields[0];
    assert_int_equal(u->tag, SILKGEN_OPT_HASH_KEY);
    assert_int_equal(u->wire_type, PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED);
    assert_int_equal(u->len, 1 + strlen("business_id"));
    assert_int_equal(u->data[0], strlen("business_id"));
    assert_memory_equal(u->data + 1, "business_id", strlen("business_id"));
    google__protobuf__method_options__free_unpacked(o, NULL);
}

static void reads_service_options(void **state)
{
    wire w = {0};
    put_uint(&w, 33, 1); /* deprecated = true: a field protobuf-c knows, not an unknown one */
    put_string(&w, SILKGEN_OPT_ROUTE, "api/{service}/v1");
    put_uint(&w, SILKGEN_OPT_WEBSOCKET, 1);
    put_uint(&w, SILKGEN_OPT_SERVICE_PUBLIC, 1);
    put_string(&w, 50999, "someone else's option");
    Google__Protobuf__ServiceOptions *o =
        google__protobuf__service_options__unpack(NULL, w.len, w.data);
    assert_non_null(o);
    assert_true(o->deprecated);
    silkgen_service_opts opts;
    assert_null(silkgen_service_opts_read(o, &opts));
    assert_string_equal(opts.route, "api/{service}/v1");
    assert_true(opts.websocket);
    assert_true(opts.public_access);
    assert_int_equal(opts.history_size, 0);
    assert_int_equal(opts.history_ttl_s, 0);
    silkgen_service_opts_fini(&opts);
    google__protobuf__service_options__free_unpacked(o, NULL);
}

/* read_service reads service options w, expecting an error mentioning text (NULL: none). */
static void read_service(const wire *w, silkgen_service_opts *opts, const char *text)
{
    Google__Protobuf__ServiceOptions *o =
        google__protobuf__service_options__unpack(NULL, w->len, w->data);
    assert_non_null(o);
    char *err = silkgen_service_opts_read(o, opts);
    if (text == NULL && err != NULL)
        fail_msg("unexpected error \"%s\"", err);
    if (text != NULL && (err == NULL || strstr(err, text) == NULL))
        fail_msg("error \"%s\" does not mention \"%s\"", err ? err : "(none)", text);
    free(err);
    google__protobuf__service_options__free_unpacked(o, NULL);
}

static void reads_history(void **state)
{
    wire inner = {0}, w = {0};
    put_uint(&inner, SILKGEN_HISTORY_SIZE, 100);
    put_string(&inner, 7, "someone's later field"); /* unknown inner fields are skipped */
    put_uint(&inner, SILKGEN_HISTORY_TTL_S, 300);
    put_bytes(&w, SILKGEN_OPT_HISTORY, inner.data, inner.len);
    silkgen_service_opts opts;
    read_service(&w, &opts, NULL);
    assert_int_equal(opts.history_size, 100);
    assert_int_equal(opts.history_ttl_s, 300);
    silkgen_service_opts_fini(&opts);

    /* protoc writes "option (silk.history).size = 1; ... .ttl_s = 2;" as two messages, which
     * merge; a later size replaces the earlier one. */
    w.len = inner.len = 0;
    put_uint(&inner, SILKGEN_HISTORY_SIZE, 1);
    put_bytes(&w, SILKGEN_OPT_HISTORY, inner.data, inner.len);
    inner.len = 0;
    put_uint(&inner, SILKGEN_HISTORY_TTL_S, 2);
    put_bytes(&w, SILKGEN_OPT_HISTORY, inner.data, inner.len);
    inner.len = 0;
    put_uint(&inner, SILKGEN_HISTORY_SIZE, 3);
    put_bytes(&w, SILKGEN_OPT_HISTORY, inner.data, inner.len);
    read_service(&w, &opts, NULL);
    assert_int_equal(opts.history_size, 3);
    assert_int_equal(opts.history_ttl_s, 2);
    silkgen_service_opts_fini(&opts);

    w.len = 0;
    put_bytes(&w, SILKGEN_OPT_HISTORY, "", 0); /* {}: no history */
    read_service(&w, &opts, NULL);
    assert_int_equal(opts.history_size, 0);
    assert_int_equal(opts.history_ttl_s, 0);
    silkgen_service_opts_fini(&opts);
}

static void refuses_malformed_history(void **state)
{
    wire inner = {0}, w = {0};
    silkgen_service_opts opts;
    put_uint(&w, SILKGEN_OPT_HISTORY, 100); /* a varint where a message belongs */
    read_service(&w, &opts, "silk.history");
    assert_int_equal(opts.malformed, SILKGEN_OPT_HISTORY);
    silkgen_service_opts_fini(&opts);

    w.len = 0;
    put_string(&inner, SILKGEN_HISTORY_SIZE, "many"); /* a string where a varint belongs */
    put_bytes(&w, SILKGEN_OPT_HISTORY, inner.data, inner.len);
    read_service(&w, &opts, "varints");
    silkgen_service_opts_fini(&opts);

    w.len = inner.len = 0;
    put_uint(&inner, SILKGEN_HISTORY_TTL_S, (uint64_t)UINT32_MAX + 1);
    put_bytes(&w, SILKGEN_OPT_HISTORY, inner.data, inner.len);
    read_service(&w, &opts, "32 bits");
    silkgen_service_opts_fini(&opts);

    w.len = 0;
    put_bytes(&w, SILKGEN_OPT_HISTORY, "\x08", 1); /* size's key, and no value */
    read_service(&w, &opts, "not a silk.History");
    silkgen_service_opts_fini(&opts);
}

static void reads_method_options(void **state)
{
    wire w = {0};
    put_http(&w, SILK__HTTP_RULE__PATTERN_GET, "items/{id}");
    put_string(&w, SILKGEN_OPT_HASH_KEY, "business_id");
    put_uint(&w, SILKGEN_OPT_TIMEOUT_MS, 250);
    put_uint(&w, SILKGEN_OPT_RETRIES, 2);
    put_uint(&w, SILKGEN_OPT_IDEMPOTENT, 1);
    put_uint(&w, SILKGEN_OPT_METHOD_PUBLIC, 1);
    Google__Protobuf__MethodOptions *o = method_options(&w);
    silkgen_method_opts opts;
    assert_null(silkgen_method_opts_read(o, &opts));
    assert_true(opts.has_http);
    assert_int_equal(opts.verb, SILKGEN_GET);
    assert_string_equal(opts.http_path, "items/{id}");
    assert_string_equal(opts.hash_key, "business_id");
    assert_int_equal(opts.timeout_ms, 250);
    assert_int_equal(opts.retries, 2);
    assert_true(opts.idempotent);
    assert_true(opts.public_access);
    silkgen_method_opts_fini(&opts);
    google__protobuf__method_options__free_unpacked(o, NULL);
}

static void reads_every_verb(void **state)
{
    static const struct {
        Silk__HttpRule__PatternCase pattern;
        silkgen_verb verb;
    } cases[] = {
        {SILK__HTTP_RULE__PATTERN_GET, SILKGEN_GET},
        {SILK__HTTP_RULE__PATTERN_PUT, SILKGEN_PUT},
        {SILK__HTTP_RULE__PATTERN_POST, SILKGEN_POST},
        {SILK__HTTP_RULE__PATTERN_DELETE, SILKGEN_DELETE},
        {SILK__HTTP_RULE__PATTERN_PATCH, SILKGEN_PATCH},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        wire w = {0};
        put_http(&w, cases[i].pattern, "x");
        Google__Protobuf__MethodOptions *o = method_options(&w);
        silkgen_method_opts opts;
        assert_null(silkgen_method_opts_read(o, &opts));
        assert_int_equal(opts.verb, cases[i].verb);
        assert_string_equal(opts.http_path, "x");
        silkgen_method_opts_fini(&opts);
        google__protobuf__method_options__free_unpacked(o, NULL);
    }
}

static void the_last_occurrence_wins(void **state)
{
    wire w = {0};
    put_string(&w, SILKGEN_OPT_HASH_KEY, "first");
    put_string(&w, SILKGEN_OPT_HASH_KEY, "second");
    Google__Protobuf__MethodOptions *o = method_options(&w);
    silkgen_method_opts opts;
    assert_null(silkgen_method_opts_read(o, &opts));
    assert_string_equal(opts.hash_key, "second");
    silkgen_method_opts_fini(&opts);
    google__protobuf__method_options__free_unpacked(o, NULL);
}

static void no_options_mean_defaults(void **state)
{
    silkgen_method_opts m;
    assert_null(silkgen_method_opts_read(NULL, &m));
    assert_false(m.has_http);
    assert_int_equal(m.verb, SILKGEN_POST);
    assert_null(m.http_path);
    assert_null(m.hash_key);
    assert_int_equal(m.timeout_ms, 0);
    assert_int_equal(m.retries, 0);
    assert_false(m.idempotent);
    assert_false(m.public_access);
    silkgen_service_opts s;
    assert_null(silkgen_service_opts_read(NULL, &s));
    assert_null(s.route);
    assert_false(s.websocket);
    assert_false(s.public_access);
    assert_int_equal(s.history_size, 0);
    assert_int_equal(s.history_ttl_s, 0);
}

/* expect_method_error reads options w and expects an error mentioning text. */
static void expect_method_error(const wire *w, const char *text)
{
    Google__Protobuf__MethodOptions *o = method_options(w);
    silkgen_method_opts opts;
    char *err = silkgen_method_opts_read(o, &opts);
    assert_non_null(err);
    if (strstr(err, text) == NULL)
        fail_msg("error \"%s\" does not mention \"%s\"", err, text);
    free(err);
    silkgen_method_opts_fini(&opts);
    google__protobuf__method_options__free_unpacked(o, NULL);
}

static void refuses_malformed_options(void **state)
{
    wire w = {0};
    put_uint(&w, SILKGEN_OPT_HASH_KEY, 7); /* a varint where a string belongs */
    expect_method_error(&w, "silk.hash_key");

    w.len = 0;
    put_string(&w, SILKGEN_OPT_TIMEOUT_MS, "soon"); /* a string where a varint belongs */
    expect_method_error(&w, "silk.timeout_ms");

    w.len = 0;
    put_uint(&w, SILKGEN_OPT_RETRIES, (uint64_t)UINT32_MAX + 1);
    expect_method_error(&w, "32 bits");

    w.len = 0;
    put_bytes(&w, SILKGEN_OPT_HTTP, "", 0); /* an http rule naming no verb */
    expect_method_error(&w, "no verb");

    w.len = 0;
    put_bytes(&w, SILKGEN_OPT_HTTP,
              "\x0a\x05"
              "ab",
              4); /* get: 5 bytes promised, 2 given */
    expect_method_error(&w, "silk.HttpRule");

    w.len = 0;
    put_bytes(&w, SILKGEN_OPT_HASH_KEY, "a\0b", 3);
    expect_method_error(&w, "NUL");

    w.len = 0;
    put_string(&w, SILKGEN_OPT_METHOD_PUBLIC, "yes"); /* a string where a bool belongs */
    expect_method_error(&w, "silk.public");
}

/* An unknown field whose data lacks its length prefix is refused, not misread. */
static void refuses_data_without_its_length_prefix(void **state)
{
    uint8_t data[] = "business_id";
    ProtobufCMessageUnknownField u = {
        .tag = SILKGEN_OPT_HASH_KEY,
        .wire_type = PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED,
        .len = strlen("business_id"),
        .data = data,
    };
    Google__Protobuf__MethodOptions o = GOOGLE__PROTOBUF__METHOD_OPTIONS__INIT;
    o.base.n_unknown_fields = 1;
    o.base.unknown_fields = &u;
    silkgen_method_opts opts;
    char *err = silkgen_method_opts_read(&o, &opts);
    assert_non_null(err);
    assert_non_null(strstr(err, "length prefix"));
    free(err);
    silkgen_method_opts_fini(&opts);
}

/* --- protobuf-c's own options --- */

static void reads_c_package(void **state)
{
    wire inner = {0}, w = {0};
    put_uint(&inner, 1, 0); /* no_generate, before it: fields of other types are skipped */
    put_uint(&inner, 99, 1u << 20);
    put_string(&inner, SILKGEN_PB_C_C_PACKAGE, "first");
    put_string(&inner, SILKGEN_PB_C_C_PACKAGE, "bill");
    put_bytes(&w, SILKGEN_OPT_PB_C_FILE, inner.data, inner.len);
    Google__Protobuf__FileOptions *o = google__protobuf__file_options__unpack(NULL, w.len, w.data);
    assert_non_null(o);
    Google__Protobuf__FileDescriptorProto file = GOOGLE__PROTOBUF__FILE_DESCRIPTOR_PROTO__INIT;
    file.options = o;
    char *c_package = silkgen_c_package(&file);
    assert_string_equal(c_package, "bill");
    free(c_package);
    google__protobuf__file_options__free_unpacked(o, NULL);

    file.options = NULL;
    assert_null(silkgen_c_package(&file));
    assert_null(silkgen_c_package(NULL));
}

/* field_with_pb_c reads a FieldOptions holding (pb_c_field) = inner into f's options. */
static void field_with_pb_c(Google__Protobuf__FieldDescriptorProto *f, const wire *inner)
{
    wire w = {0};
    google__protobuf__field_descriptor_proto__init(f);
    put_bytes(&w, SILKGEN_OPT_PB_C_FIELD, inner->data, inner->len);
    f->options = google__protobuf__field_options__unpack(NULL, w.len, w.data);
    assert_non_null(f->options);
}

static void reads_string_as_bytes(void **state)
{
    Google__Protobuf__FieldDescriptorProto f;
    wire inner = {0};
    put_uint(&inner, SILKGEN_PB_C_STRING_AS_BYTES, 1);
    field_with_pb_c(&f, &inner);
    assert_true(silkgen_string_as_bytes(&f));
    google__protobuf__field_options__free_unpacked(f.options, NULL);

    put_uint(&inner, SILKGEN_PB_C_STRING_AS_BYTES, 0); /* the last one wins */
    field_with_pb_c(&f, &inner);
    assert_false(silkgen_string_as_bytes(&f));
    google__protobuf__field_options__free_unpacked(f.options, NULL);

    inner.len = 0;
    put_string(&inner, SILKGEN_PB_C_STRING_AS_BYTES, "x"); /* not a varint: not the flag */
    field_with_pb_c(&f, &inner);
    assert_false(silkgen_string_as_bytes(&f));
    google__protobuf__field_options__free_unpacked(f.options, NULL);

    google__protobuf__field_descriptor_proto__init(&f);
    assert_false(silkgen_string_as_bytes(&f));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(protobuf_c_keeps_the_length_prefix),
        cmocka_unit_test(reads_service_options),
        cmocka_unit_test(reads_history),
        cmocka_unit_test(refuses_malformed_history),
        cmocka_unit_test(reads_method_options),
        cmocka_unit_test(reads_every_verb),
        cmocka_unit_test(the_last_occurrence_wins),
        cmocka_unit_test(no_options_mean_defaults),
        cmocka_unit_test(refuses_malformed_options),
        cmocka_unit_test(refuses_data_without_its_length_prefix),
        cmocka_unit_test(reads_c_package),
        cmocka_unit_test(reads_string_as_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
