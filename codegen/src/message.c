/* message.c - what silk's descriptors say of message types: business_id fields, JSON names. */
#include <stdlib.h>
#include <string.h>

#include "silkgen.h"

char *silkgen_json_default_name(const char *field_name)
{
    char *out = silkgen_strdup(field_name);
    size_t n = 0;
    bool upper = false;
    for (const char *s = field_name; *s != '\0'; s++) {
        if (*s == '_') {
            upper = true;
            continue;
        }
        out[n++] = upper && *s >= 'a' && *s <= 'z' ? (char)(*s - 'a' + 'A') : *s;
        upper = false;
    }
    out[n] = '\0';
    return out;
}

bool silkgen_in_real_oneof(const Google__Protobuf__FieldDescriptorProto *f)
{
    return f->has_oneof_index && !(f->has_proto3_optional && f->proto3_optional);
}

uint32_t silkgen_business_id_field(const silkgen_message_proto *msg)
{
    for (size_t i = 0; msg != NULL && i < msg->n_field; i++) {
        const Google__Protobuf__FieldDescriptorProto *f = msg->field[i];
        if (f->name == NULL || strcmp(f->name, "business_id") != 0)
            continue;
        bool ok = f->type == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_STRING &&
                  f->label != GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_REPEATED &&
                  !silkgen_in_real_oneof(f) && !silkgen_string_as_bytes(f) && f->number > 0;
        return ok ? (uint32_t)f->number : 0;
    }
    return 0;
}

/* --- json names: a walk over the message types a service reaches --- */

/* visit marks type_name seen; false when it had been seen already. */
static bool visit(silkgen_json_names *names, const char *type_name)
{
    for (size_t i = 0; i < names->n_seen; i++)
        if (strcmp(names->seen[i], type_name) == 0)
            return false;
    char **seen = realloc(names->seen, (names->n_seen + 1) * sizeof *seen);
    if (seen == NULL)
        abort();
    names->seen = seen;
    seen[names->n_seen++] = silkgen_strdup(type_name);
    return true;
}

static void add_row(silkgen_json_names *names, const char *message_lower,
                    const Google__Protobuf__FieldDescriptorProto *f)
{
    silkgen_json_name *rows = realloc(names->rows, (names->n_rows + 1) * sizeof *rows);
    if (rows == NULL)
        abort();
    names->rows = rows;
    rows[names->n_rows++] = (silkgen_json_name){
        .message_lower = silkgen_strdup(message_lower),
        .field_name = silkgen_strdup(f->name),
        .number = (uint32_t)f->number,
        .json_name = silkgen_strdup(f->json_name),
    };
}

/* has_own_json_name tells whether f's json_name (protoc fills it for every field it sends a
 * plugin) is not the one its name gives. */
static bool has_own_json_name(const Google__Protobuf__FieldDescriptorProto *f)
{
    if (f->json_name == NULL || f->name == NULL)
        return false;
    char *dflt = silkgen_json_default_name(f->name);
    bool own = strcmp(dflt, f->json_name) != 0;
    free(dflt);
    return own;
}

static bool is_message_field(const Google__Protobuf__FieldDescriptorProto *f)
{
    return (f->type == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_MESSAGE ||
            f->type == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_GROUP) &&
           f->type_name != NULL;
}

void silkgen_json_names_add(const silkgen_run *run, silkgen_json_names *names,
                            const char *type_name)
{
    const silkgen_file_proto *file = NULL;
    const silkgen_message_proto *msg = silkgen_find_message(run, type_name, &file);
    if (msg == NULL || !visit(names, type_name))
        return;
    char *lower = silkgen_c_lower(type_name, file);
    for (size_t i = 0; i < msg->n_field; i++)
        if (has_own_json_name(msg->field[i]))
            add_row(names, lower, msg->field[i]);
    free(lower);
    for (size_t i = 0; i < msg->n_field; i++)
        if (is_message_field(msg->field[i]))
            silkgen_json_names_add(run, names, msg->field[i]->type_name);
}

void silkgen_json_names_fini(silkgen_json_names *names)
{
    for (size_t i = 0; i < names->n_rows; i++) {
        free(names->rows[i].message_lower);
        free(names->rows[i].field_name);
        free(names->rows[i].json_name);
    }
    for (size_t i = 0; i < names->n_seen; i++)
        free(names->seen[i]);
    free(names->rows);
    free(names->seen);
    memset(names, 0, sizeof *names);
}
