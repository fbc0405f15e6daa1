/* message_test.c - protoc-gen-silk's rules for message types: business_id, JSON names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "silkgen.h"

#define expect_name(field_name, want)                                                              \
    do {                                                                                           \
        char *got_ = silkgen_json_default_name(field_name);                                        \
        assert_string_equal(got_, (want));                                                         \
        free(got_);                                                                                \
    } while (0)

/* The expectations are the json_name protoc 3.21 fills in for these names. */
static void json_default_name_is_protocs(void **state)
{
    expect_name("page_token", "pageToken");
    expect_name("name", "name");
    expect_name("qq__bar", "qqBar");
    expect_name("_lead", "Lead");
    expect_name("trail_", "trail");
    expect_name("foo_1x", "foo1x");
    expect_name("x_Y", "xY");
    expect_name("fooBar2", "fooBar2");
    expect_name("", "");
}

typedef Google__Protobuf__FieldDescriptorProto field_proto;

#define TYPE(t)  GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_##t
#define LABEL(l) GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_##l

/* field makes a field; message_of makes a message of one field and another before it. */
static field_proto field(const char *name, int32_t number, int type, int label)
{
    field_proto f = GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__INIT;
    f.name = (char *)name;
    f.has_number = 1, f.number = number;
    f.has_type = 1, f.type = (Google__Protobuf__FieldDescriptorProto__Type)type;
    f.has_label = 1, f.label = (Google__Protobuf__FieldDescriptorProto__Label)label;
    return f;
}

static uint32_t business_id_of(field_proto *f)
{
    field_proto other = field("business_ids", 1, TYPE(STRING), LABEL(OPTIONAL));
    field_proto *fields[] = {&other, f};
    silkgen_message_proto msg = GOOGLE__PROTOBUF__DESCRIPTOR_PROTO__INIT;
    msg.n_field = 2;
    msg.field = fields;
    return silkgen_business_id_field(&msg);
}

static void business_id_counts_a_singular_string(void **state)
{
    field_proto f = field("business_id", 7, TYPE(STRING), LABEL(OPTIONAL));
    assert_int_equal(business_id_of(&f), 7);
    f.label = LABEL(REQUIRED); /* proto2: singular too */
    assert_int_equal(business_id_of(&f), 7);

    /* proto3 optional: alone in the synthetic oneof protoc makes for it */
    f = field("business_id", 3, TYPE(STRING), LABEL(OPTIONAL));
    f.has_oneof_index = 1, f.oneof_index = 0;
    f.has_proto3_optional = 1, f.proto3_optional = 1;
    assert_int_equal(business_id_of(&f), 3);
}

static void business_id_refuses_the_rest(void **state)
{
    field_proto f = field("business_id", 7, TYPE(STRING), LABEL(OPTIONAL));
    f.has_oneof_index = 1, f.oneof_index = 0; /* a real oneof */
    assert_int_equal(business_id_of(&f), 0);

    f = field("business_id", 7, TYPE(STRING), LABEL(REPEATED));
    assert_int_equal(business_id_of(&f), 0);
    f = field("business_id", 7, TYPE(BYTES), LABEL(OPTIONAL));
    assert_int_equal(business_id_of(&f), 0);
    f = field("business_id", 7, TYPE(INT64), LABEL(OPTIONAL));
    assert_int_equal(business_id_of(&f), 0);
    f = field("businessId", 7, TYPE(STRING), LABEL(OPTIONAL));
    assert_int_equal(business_id_of(&f), 0);

    /* (pb_c_field).string_as_bytes = true: field 1019, a message holding 1: true */
    static const uint8_t as_bytes[] = {0xda, 0x3f, 0x02, 0x08, 0x01};
    f = field("business_id", 7, TYPE(STRING), LABEL(OPTIONAL));
    f.options = google__protobuf__field_options__unpack(NULL, sizeof as_bytes, as_bytes);
    assert_non_null(f.options);
    assert_int_equal(business_id_of(&f), 0);
    google__protobuf__field_options__free_unpacked(f.options, NULL);

    assert_int_equal(silkgen_business_id_field(NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(json_default_name_is_protocs),
        cmocka_unit_test(business_id_counts_a_singular_string),
        cmocka_unit_test(business_id_refuses_the_rest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
