/* openapi_test.c - protoc-gen-silk's JSON values, comments as descriptions, documents merged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "silkgen.h"

/* printed returns v printed, compact or pretty; the caller frees it. */
static char *printed(const silkgen_value *v, bool pretty)
{
    silkgen_buf out = {0};
    silkgen_value_print(v, pretty, &out);
    return silkgen_buf_take(&out);
}

static void values_print_as_json(void **state)
{
    (void)state;
    silkgen_value *o = silkgen_object();
    silkgen_set(o, "s", silkgen_string("a \"q\" \\ \n\t\x01 \xc3\xa9 \xff"));
    silkgen_value *a = silkgen_set(o, "a", silkgen_array());
    silkgen_push(a, silkgen_literal("1"));
    silkgen_push(a, silkgen_literal("true"));
    silkgen_set(o, "e", silkgen_object());
    silkgen_set(o, "s", silkgen_string("replaced")); /* keeps its place */
    char *text = printed(o, false);
    assert_string_equal(text, "{\"s\":\"replaced\",\"a\":[1,true],\"e\":{}}");
    free(text);
    silkgen_set(o, "s", silkgen_string("a \"q\" \\ \n\t\x01 \xc3\xa9 \xff"));
    text = printed(o, false);
    /* Bytes that are not UTF-8 become U+FFFD; UTF-8 stays as it is. */
    assert_string_equal(text, "{\"s\":\"a \\\"q\\\" \\\\ \\n\\t\\u0001 \xc3\xa9 \xef\xbf\xbd\","
                              "\"a\":[1,true],\"e\":{}}");
    free(text);
    text = printed(o, true);
    assert_string_equal(text,
                        "{\n  \"s\": \"a \\\"q\\\" \\\\ \\n\\t\\u0001 \xc3\xa9 \xef\xbf\xbd\",\n"
                        "  \"a\": [\n    1,\n    true\n  ],\n  \"e\": {}\n}");
    free(text);
    silkgen_value *copy = silkgen_value_copy(o);
    char *again = printed(copy, false), *first = printed(o, false);
    assert_string_equal(again, first);
    free(again);
    free(first);
    assert_null(silkgen_get(o, "none"));
    assert_ptr_equal(silkgen_get(o, "a"), a);
    silkgen_value_free(copy);
    silkgen_value_free(o);
}

/* a_file makes a file whose source info holds one location, path {4, 0}, with comments. */
static silkgen_file_proto a_file(Google__Protobuf__SourceCodeInfo *info,
                                 Google__Protobuf__SourceCodeInfo__Location *loc,
                                 Google__Protobuf__SourceCodeInfo__Location **locs, int32_t *path,
                                 const char *leading, const char *trailing)
{
    google__protobuf__source_code_info__init(info);
    google__protobuf__source_code_info__location__init(loc);
    path[0] = 4;
    path[1] = 0;
    loc->path = path;
    loc->n_path = 2;
    loc->leading_comments = (char *)leading;
    loc->trailing_comments = (char *)trailing;
    locs[0] = loc;
    info->location = locs;
    info->n_location = 1;
    silkgen_file_proto f = GOOGLE__PROTOBUF__FILE_DESCRIPTOR_PROTO__INIT;
    f.source_code_info = info;
    return f;
}

#define expect_description(leading, trailing, want)                                                \
    do {                                                                                           \
        Google__Protobuf__SourceCodeInfo info_;                                                    \
        Google__Protobuf__SourceCodeInfo__Location loc_, *locs_[1];                                \
        int32_t path_[2];                                                                          \
        silkgen_file_proto f_ = a_file(&info_, &loc_, locs_, path_, (leading), (trailing));        \
        char *got_ = silkgen_description(&f_, path_, 2);                                           \
        const char *want_ = (want);                                                                \
        if (want_ == NULL)                                                                         \
            assert_null(got_);                                                                     \
        else                                                                                       \
            assert_string_equal(got_, want_);                                                      \
        free(got_);                                                                                \
    } while (0)

static void comments_become_descriptions(void **state)
{
    (void)state;
    /* protoc keeps the space after "//" and a newline after each line. */
    expect_description(" Echo pushes.\n NOT_FOUND when none.\n", NULL,
                       "Echo pushes.\nNOT_FOUND when none.");
    expect_description(NULL, " the count\n", "the count");
    expect_description(" leading\n", " trailing\n", "leading");
    expect_description("\n first\n\n\n second\n\n", NULL, "first\n\n\nsecond");
    expect_description("   indented code\n", NULL, "  indented code");
    expect_description(" \n \n", NULL, NULL);
    expect_description(NULL, NULL, NULL);
    const int32_t other[] = {4, 1};
    silkgen_file_proto none = GOOGLE__PROTOBUF__FILE_DESCRIPTOR_PROTO__INIT;
    assert_null(silkgen_description(&none, other, 2));
}

/* part makes a service's part with one tag, one operation and one schema. */
static silkgen_value *part(const char *tag, const char *path, const char *verb, const char *schema,
                           const char *title)
{
    silkgen_value *p = silkgen_object();
    silkgen_value *t = silkgen_push(silkgen_set(p, "tags", silkgen_array()), silkgen_object());
    silkgen_set(t, "name", silkgen_string(tag));
    silkgen_value *item =
        silkgen_set(silkgen_set(p, "paths", silkgen_object()), path, silkgen_object());
    silkgen_set(item, verb, silkgen_object());
    silkgen_value *schemas =
        silkgen_set(silkgen_set(p, "components", silkgen_object()), "schemas", silkgen_object());
    silkgen_set(silkgen_set(schemas, schema, silkgen_object()), "title", silkgen_string(title));
    return p;
}

static void documents_merge_first_wins(void **state)
{
    (void)state;
    const char *names[] = {"a.A", "b.B"};
    silkgen_value *doc = silkgen_openapi_document(names, 2);
    silkgen_value *a = part("a.A", "/x", "get", "m.M", "from a");
    silkgen_value *b = part("b.B", "/x", "post", "m.M", "from b");
    silkgen_openapi_merge(doc, a);
    silkgen_openapi_merge(doc, b);
    silkgen_openapi_merge(doc, a); /* again: nothing new */
    char *text = printed(doc, false);
    assert_string_equal(text, "{\"openapi\":\"3.1.0\",\"info\":{\"title\":\"a.A, "
                              "b.B\",\"version\":\"" SILKGEN_VERSION_STRING "\"},"
                              "\"tags\":[{\"name\":\"a.A\"},{\"name\":\"b.B\"}],"
                              "\"paths\":{\"/x\":{\"get\":{},\"post\":{}}},"
                              "\"components\":{\"schemas\":{\"m.M\":{\"title\":\"from a\"}}}}");
    free(text);
    silkgen_value_free(a);
    silkgen_value_free(b);
    silkgen_value_free(doc);

    doc = silkgen_openapi_document(NULL, 0);
    assert_string_equal(silkgen_get(silkgen_get(doc, "info"), "title")->text, "silk");
    silkgen_value_free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(values_print_as_json),
        cmocka_unit_test(comments_become_descriptions),
        cmocka_unit_test(documents_merge_first_wins),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
