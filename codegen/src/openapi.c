/* openapi.c - OpenAPI 3.1: a service's part (its descriptor's openapi) and silkc's whole document.
 *
 * What a part says is what the gateway does (docs/gateway.md, "Routes", "The JSON mapping",
 * "Statuses"): gateway/src/http/call.c builds a request from the JSON body (POST, PUT, PATCH)
 * or from the query (GET, DELETE), then from the path's {field}s, which win; json/src/encode.c
 * writes the reply; http/bodies.c the errors. The gateway's /openapi.json (http/openapi.c)
 * merges the parts of the services it routes as silkgen_openapi_merge does here, and adds
 * what only it knows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "silkgen.h"

typedef Google__Protobuf__FieldDescriptorProto field_proto;

/* A file without source info: where the comments of well-known types are looked up. */
static const silkgen_file_proto no_comments = GOOGLE__PROTOBUF__FILE_DESCRIPTOR_PROTO__INIT;

#define SCHEMAS  "#/components/schemas/"
#define FIELD(t) GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_##t

/* The OpenAPI version written, and the names silk's own components go by. */
#define OPENAPI_VERSION   "3.1.0"
#define ERROR_SCHEMA      "silk.Error"
#define BUSINESS_ID_PARAM "silk.BusinessId"
#define QUERY_DEPTH_MAX   8 /* message fields a query parameter's name may go through */
#define DURATION_PATTERN  "^-?[0-9]+(\\.[0-9]{1,9})?s$"
#define STATUS_CODES_LIST                                                                          \
    "1 CANCELLED, 2 UNKNOWN, 3 INVALID_ARGUMENT, 4 DEADLINE_EXCEEDED, 5 NOT_FOUND, "               \
    "6 ALREADY_EXISTS, 7 PERMISSION_DENIED, 8 RESOURCE_EXHAUSTED, 9 FAILED_PRECONDITION, "         \
    "10 ABORTED, 11 OUT_OF_RANGE, 12 UNIMPLEMENTED, 13 INTERNAL, 14 UNAVAILABLE, 15 DATA_LOSS, "   \
    "16 UNAUTHENTICATED"

/* part is a service's part being built. */
typedef struct part {
    const silkgen_run *run;
    silkgen_value *components;
    silkgen_value *schemas; /* components.schemas */
} part;

/* ============================================================================
 * Small builders
 * ========================================================================== */

static silkgen_value *set_str(silkgen_value *obj, const char *key, const char *s)
{
    return silkgen_set(obj, key, silkgen_string(s));
}

/* set_description sets obj's description to text and frees it; nothing for NULL. */
static void set_description(silkgen_value *obj, char *text)
{
    if (text != NULL)
        set_str(obj, "description", text);
    free(text);
}

/* typed returns {"type": type, "format": format}; the type is [type, "null"] when nullable. */
static silkgen_value *typed(const char *type, const char *format, bool nullable)
{
    silkgen_value *s = silkgen_object();
    if (nullable) {
        silkgen_value *types = silkgen_set(s, "type", silkgen_array());
        silkgen_push(types, silkgen_string(type));
        silkgen_push(types, silkgen_string("null"));
    } else {
        set_str(s, "type", type);
    }
    if (format != NULL)
        set_str(s, "format", format);
    return s;
}

static silkgen_value *ref(const char *pointer, const char *name)
{
    silkgen_value *s = silkgen_object();
    char *target = silkgen_format("%s%s", pointer, name);
    set_str(s, "$ref", target);
    free(target);
    return s;
}

static silkgen_value *string_list(const char *const *items, size_t n)
{
    silkgen_value *a = silkgen_array();
    for (size_t i = 0; i < n; i++)
        silkgen_push(a, silkgen_string(items[i]));
    return a;
}

/* ============================================================================
 * Schemas: the proto3 JSON mapping as json/src/encode.c writes it
 * ========================================================================== */

/* real_schema is a float's or double's: a number, or "NaN", "Infinity", "-Infinity". */
static silkgen_value *real_schema(const char *format, bool nullable)
{
    static const char *const specials[] = {"NaN", "Infinity", "-Infinity"};
    silkgen_value *s = silkgen_object();
    silkgen_value *any = silkgen_set(s, "anyOf", silkgen_array());
    silkgen_push(any, typed("number", format, false));
    silkgen_set(silkgen_push(any, silkgen_object()), "enum", string_list(specials, 3));
    if (nullable)
        silkgen_push(any, typed("null", NULL, false));
    return s;
}

/* scalar_schema is the JSON of a field of a type that is not a message or an enum. */
static silkgen_value *scalar_schema(Google__Protobuf__FieldDescriptorProto__Type type,
                                    bool nullable)
{
    switch (type) {
    case FIELD(INT32):
    case FIELD(SINT32):
    case FIELD(SFIXED32):
        return typed("integer", "int32", nullable);
    case FIELD(UINT32):
    case FIELD(FIXED32):
        return typed("integer", "uint32", nullable);
    case FIELD(INT64):
    case FIELD(SINT64):
    case FIELD(SFIXED64):
        return typed("string", "int64", nullable);
    case FIELD(UINT64):
    case FIELD(FIXED64):
        return typed("string", "uint64", nullable);
    case FIELD(FLOAT):
        return real_schema("float", nullable);
    case FIELD(DOUBLE):
        return real_schema("double", nullable);
    case FIELD(BOOL):
        return typed("boolean", NULL, nullable);
    case FIELD(BYTES): {
        silkgen_value *s = typed("string", "byte", nullable);
        set_str(s, "contentEncoding", "base64");
        return s;
    }
    case FIELD(STRING):
    default:
        return typed("string", NULL, nullable);
    }
}

/* wrapped_type returns the type a wrapper of wrappers.proto holds in "value", or 0 when
 * type_name is not one: json/src/common.c's silk__json_wkt_of, by name. */
static Google__Protobuf__FieldDescriptorProto__Type wrapped_type(const char *type_name)
{
    static const struct {
        const char *name;
        Google__Protobuf__FieldDescriptorProto__Type type;
    } wrappers[] = {
        {".google.protobuf.DoubleValue", FIELD(DOUBLE)},
        {".google.protobuf.FloatValue", FIELD(FLOAT)},
        {".google.protobuf.Int64Value", FIELD(INT64)},
        {".google.protobuf.UInt64Value", FIELD(UINT64)},
        {".google.protobuf.Int32Value", FIELD(INT32)},
        {".google.protobuf.UInt32Value", FIELD(UINT32)},
        {".google.protobuf.BoolValue", FIELD(BOOL)},
        {".google.protobuf.StringValue", FIELD(STRING)},
        {".google.protobuf.BytesValue", FIELD(BYTES)},
    };
    for (size_t i = 0; i < sizeof wrappers / sizeof wrappers[0]; i++)
        if (strcmp(type_name, wrappers[i].name) == 0)
            return wrappers[i].type;
    return 0;
}

/* has_own_form tells whether type_name is a well-known type the mapping writes in a form of
 * its own: Timestamp, Duration, a wrapper. */
static bool has_own_form(const char *type_name)
{
    return strcmp(type_name, ".google.protobuf.Timestamp") == 0 ||
           strcmp(type_name, ".google.protobuf.Duration") == 0 || wrapped_type(type_name) != 0;
}

/* special_schema returns the schema of a well-known type the mapping writes in a form of its
 * own (has_own_form), or NULL for any other type. Struct, Value,
 * ListValue, Any and FieldMask are not among them: libsilk_json maps them as ordinary
 * messages, and so are they described. */
static silkgen_value *special_schema(const char *type_name)
{
    if (strcmp(type_name, ".google.protobuf.Timestamp") == 0) {
        silkgen_value *s = typed("string", "date-time", false);
        set_str(s, "description", "RFC 3339, written in UTC (1972-01-01T10:00:20.021Z)");
        return s;
    }
    if (strcmp(type_name, ".google.protobuf.Duration") == 0) {
        silkgen_value *s = typed("string", NULL, false);
        set_str(s, "pattern", DURATION_PATTERN);
        set_str(s, "description", "Seconds, with up to 9 fractional digits, and \"s\" (1.5s)");
        return s;
    }
    Google__Protobuf__FieldDescriptorProto__Type wrapped = wrapped_type(type_name);
    return wrapped != 0 ? scalar_schema(wrapped, true) : NULL;
}

static void add_type(part *p, const char *type_name);

/* type_schema is the JSON of a message or enum type: a well-known type's own form, or a
 * reference to its schema in components (added there); {} for a type the request lacks. */
static silkgen_value *type_schema(part *p, const char *type_name)
{
    silkgen_value *special = special_schema(type_name);
    if (special != NULL)
        return special;
    silkgen_type t;
    if (!silkgen_find_type(p->run, type_name, &t))
        return silkgen_object();
    add_type(p, type_name);
    return ref(SCHEMAS, type_name + (type_name[0] == '.'));
}

/* value_schema is the JSON of one value of f (an element, for a repeated field). */
static silkgen_value *value_schema(part *p, const field_proto *f)
{
    if (f->type == FIELD(MESSAGE) || f->type == FIELD(GROUP) || f->type == FIELD(ENUM))
        return type_schema(p, f->type_name);
    return scalar_schema(silkgen_string_as_bytes(f) ? FIELD(BYTES) : f->type, false);
}

/* map_entry returns the entry message of a map field, or NULL when f is none. */
static const silkgen_message_proto *map_entry(const part *p, const field_proto *f)
{
    silkgen_type t;
    if (f->label != GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_REPEATED ||
        f->type != FIELD(MESSAGE) || !silkgen_find_type(p->run, f->type_name, &t) ||
        t.message == NULL || t.message->options == NULL || !t.message->options->map_entry ||
        t.message->n_field != 2)
        return NULL;
    return t.message;
}

/* map_schema is a map's: an object whose keys are the text of the key type ("12", "true"). */
static silkgen_value *map_schema(part *p, const silkgen_message_proto *entry)
{
    const field_proto *key = entry->field[0], *value = entry->field[1];
    if (key->number != 1)
        key = entry->field[1], value = entry->field[0];
    silkgen_value *s = typed("object", NULL, false);
    silkgen_set(s, "additionalProperties", value_schema(p, value));
    const char *pattern = NULL;
    switch (key->type) {
    case FIELD(BOOL): {
        static const char *const bools[] = {"true", "false"};
        silkgen_set(silkgen_set(s, "propertyNames", silkgen_object()), "enum",
                    string_list(bools, 2));
        return s;
    }
    case FIELD(STRING):
        return s;
    case FIELD(UINT32):
    case FIELD(FIXED32):
    case FIELD(UINT64):
    case FIELD(FIXED64):
        pattern = "^[0-9]+$";
        break;
    default:
        pattern = "^-?[0-9]+$";
        break;
    }
    set_str(silkgen_set(s, "propertyNames", silkgen_object()), "pattern", pattern);
    return s;
}

/* field_schema is the JSON of field f: a map's object, a repeated field's array, or a value. */
static silkgen_value *field_schema(part *p, const field_proto *f)
{
    const silkgen_message_proto *entry = map_entry(p, f);
    if (entry != NULL)
        return map_schema(p, entry);
    if (f->label == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_REPEATED) {
        silkgen_value *s = typed("array", NULL, false);
        silkgen_set(s, "items", value_schema(p, f));
        return s;
    }
    return value_schema(p, f);
}

/* json_name is the name the mapping writes f under: protoc fills json_name for every field
 * it sends (its [json_name], else lowerCamelCase). Caller frees. */
static char *json_name(const field_proto *f)
{
    return f->json_name != NULL ? silkgen_strdup(f->json_name) : silkgen_json_default_name(f->name);
}

/* field_description is the comment of field index i of the message at t. */
static char *field_description(const silkgen_type *t, size_t i)
{
    int32_t path[SILKGEN_TYPE_PATH_MAX + 2];
    memcpy(path, t->path, t->path_len * sizeof *path);
    path[t->path_len] = 2; /* DescriptorProto.field */
    path[t->path_len + 1] = (int32_t)i;
    return silkgen_description(t->file, path, t->path_len + 2);
}

/* oneof_rules adds to s what the oneofs of msg require, at most one member of each set: each
 * member but the last forbids those after it, {"dependentSchemas": {"a": {"properties":
 * {"b": false, "c": false}}, "b": {...}}}; and a sentence each to *doc. */
static void oneof_rules(const silkgen_message_proto *msg, silkgen_value *s, silkgen_buf *doc)
{
    silkgen_value *rules = silkgen_object();
    for (size_t o = 0; o < msg->n_oneof_decl; o++) {
        silkgen_buf names = {0};
        size_t members = 0;
        for (size_t i = 0; i < msg->n_field; i++) {
            const field_proto *a = msg->field[i];
            if (!silkgen_in_real_oneof(a) || a->oneof_index != (int32_t)o)
                continue;
            char *an = json_name(a);
            silkgen_printf(&names, "%s`%s`", members++ > 0 ? ", " : "", an);
            silkgen_value *forbidden = NULL;
            for (size_t k = i + 1; k < msg->n_field; k++) {
                const field_proto *b = msg->field[k];
                if (!silkgen_in_real_oneof(b) || b->oneof_index != (int32_t)o)
                    continue;
                if (forbidden == NULL)
                    forbidden = silkgen_set(silkgen_set(rules, an, silkgen_object()), "properties",
                                            silkgen_object());
                char *bn = json_name(b);
                silkgen_set(forbidden, bn, silkgen_literal("false"));
                free(bn);
            }
            free(an);
        }
        if (members > 0)
            silkgen_printf(doc, "%sAt most one of %s is set (oneof `%s`).", doc->len ? "\n\n" : "",
                           names.data, msg->oneof_decl[o]->name);
        silkgen_buf_fini(&names);
    }
    if (rules->n > 0)
        silkgen_set(s, "dependentSchemas", rules);
    else
        silkgen_value_free(rules);
}

/* message_schema fills s, the schema of the message at t: an object of its fields under
 * their JSON names, each at most once, the oneofs' rule, and proto2's required fields. */
static void message_schema(part *p, const silkgen_type *t, silkgen_value *s)
{
    const silkgen_message_proto *msg = t->message;
    set_str(s, "type", "object");
    silkgen_buf doc = {0};
    char *own = silkgen_description(t->file, t->path, t->path_len);
    if (own != NULL)
        silkgen_printf(&doc, "%s", own);
    free(own);
    silkgen_value *props = silkgen_set(s, "properties", silkgen_object());
    silkgen_value *required = silkgen_array();
    for (size_t i = 0; i < msg->n_field; i++) {
        const field_proto *f = msg->field[i];
        char *name = json_name(f);
        silkgen_value *fs = silkgen_set(props, name, field_schema(p, f));
        set_description(fs, field_description(t, i));
        if (f->label == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_REQUIRED)
            silkgen_push(required, silkgen_string(name));
        free(name);
    }
    if (required->n > 0)
        silkgen_set(s, "required", required);
    else
        silkgen_value_free(required);
    oneof_rules(msg, s, &doc);
    if (doc.len > 0)
        silkgen_set(s, "description", silkgen_string(doc.data));
    silkgen_buf_fini(&doc);
}

/* enum_schema fills s, the schema of the enum at t: its values' names, which the mapping
 * writes (a number only for a value the enum does not name) and reads, with the numbers. */
static void enum_schema(const silkgen_type *t, silkgen_value *s)
{
    const Google__Protobuf__EnumDescriptorProto *e = t->enumeration;
    set_str(s, "type", "string");
    silkgen_value *names = silkgen_set(s, "enum", silkgen_array());
    silkgen_buf doc = {0};
    char *own = silkgen_description(t->file, t->path, t->path_len);
    if (own != NULL)
        silkgen_printf(&doc, "%s", own);
    free(own);
    int32_t path[SILKGEN_TYPE_PATH_MAX + 2];
    memcpy(path, t->path, t->path_len * sizeof *path);
    for (size_t i = 0; i < e->n_value; i++) {
        silkgen_push(names, silkgen_string(e->value[i]->name));
        path[t->path_len] = 2; /* EnumDescriptorProto.value */
        path[t->path_len + 1] = (int32_t)i;
        char *value_doc = silkgen_description(t->file, path, t->path_len + 2);
        if (value_doc != NULL)
            silkgen_printf(&doc, "%s- `%s`: %s", doc.len > 0 ? "\n" : "", e->value[i]->name,
                           value_doc);
        free(value_doc);
    }
    if (doc.len > 0)
        silkgen_set(s, "description", silkgen_string(doc.data));
    silkgen_buf_fini(&doc);
}

/* is_well_known tells whether a schema is one of protobuf's well-known types, whose comments
 * document the .proto more than the API (FieldMask's run to 200 lines): they are left out. */
static bool is_well_known(const char *name)
{
    return strncmp(name, "google.protobuf.", strlen("google.protobuf.")) == 0;
}

/* add_type adds the schema of type_name (".pkg.Msg"), and of every type it reaches, to
 * components.schemas, each once. */
static void add_type(part *p, const char *type_name)
{
    const char *name = type_name + (type_name[0] == '.');
    silkgen_type t;
    if (silkgen_get(p->schemas, name) != NULL || !silkgen_find_type(p->run, type_name, &t))
        return;
    /* In place before the fields are walked, so that a recursive type is added once. */
    silkgen_value *s = silkgen_set(p->schemas, name, silkgen_object());
    if (is_well_known(name))
        t.file = &no_comments;
    if (t.message != NULL)
        message_schema(p, &t, s);
    else
        enum_schema(&t, s);
}

/* ============================================================================
 * Parameters
 * ========================================================================== */

/* find_field returns the field of msg named name[0..len), or NULL; *index is its index. */
static const field_proto *find_field(const silkgen_message_proto *msg, const char *name, size_t len,
                                     size_t *index)
{
    for (size_t i = 0; msg != NULL && i < msg->n_field; i++) {
        if (strlen(msg->field[i]->name) == len && strncmp(msg->field[i]->name, name, len) == 0) {
            *index = i;
            return msg->field[i];
        }
    }
    return NULL;
}

/* bound_field resolves a path variable's field path ("page.size") from the request type
 * through message fields, as silk_json_set_field does; *owner is the message declaring the
 * field and *index its index there. NULL when it names nothing (the generator reported it). */
static const field_proto *bound_field(const part *p, const char *type_name, const char *path,
                                      silkgen_type *owner, size_t *index)
{
    const field_proto *f = NULL;
    for (const char *s = path; silkgen_find_type(p->run, type_name, owner);) {
        size_t len = strcspn(s, ".");
        if ((f = find_field(owner->message, s, len, index)) == NULL || s[len] == '\0')
            return f;
        type_name = f->type_name != NULL ? f->type_name : "";
        s += len + 1;
    }
    return NULL;
}

/* pattern_regex is the regular expression of a variable's pattern, its segments[0..n)
 * (literals, "*", "**"): "^shelves/[^/]+$". Caller frees. */
static char *pattern_regex(const silkgen_segment *segs, size_t n)
{
    silkgen_buf re = {0};
    silkgen_printf(&re, "^");
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            silkgen_printf(&re, "/");
        if (segs[i].kind == SILKGEN_SEG_ANY) {
            silkgen_printf(&re, "[^/]+");
        } else if (segs[i].kind == SILKGEN_SEG_REST) {
            silkgen_printf(&re, ".+");
        } else {
            for (const char *c = segs[i].text; *c != '\0'; c++)
                silkgen_printf(&re, "%s%c", strchr(".^$|()[]{}*+?\\", *c) ? "\\" : "", *c);
        }
    }
    silkgen_printf(&re, "$");
    return silkgen_buf_take(&re);
}

/* pattern_text spells a variable's pattern back: "shelves/ *" (without the space). */
static char *pattern_text(const silkgen_segment *segs, size_t n)
{
    silkgen_buf out = {0};
    for (size_t i = 0; i < n; i++)
        silkgen_printf(&out, "%s%s", i > 0 ? "/" : "",
                       segs[i].kind == SILKGEN_SEG_ANY    ? "*"
                       : segs[i].kind == SILKGEN_SEG_REST ? "**"
                                                          : segs[i].text);
    return silkgen_buf_take(&out);
}

/* path_param is the parameter of the variable binding field path name to segs[0..n). */
static silkgen_value *path_param(part *p, const silkgen_method *m, const char *name,
                                 const silkgen_segment *segs, size_t n)
{
    silkgen_value *param = silkgen_object();
    set_str(param, "name", name);
    set_str(param, "in", "path");
    silkgen_set(param, "required", silkgen_literal("true"));
    silkgen_type owner;
    size_t index = 0;
    const field_proto *f = bound_field(p, m->proto->input_type, name, &owner, &index);
    silkgen_buf doc = {0};
    char *own = f != NULL ? field_description(&owner, index) : NULL;
    if (own != NULL)
        silkgen_printf(&doc, "%s", own);
    free(own);
    silkgen_value *schema = f != NULL ? value_schema(p, f) : typed("string", NULL, false);
    bool plain = n == 1 && segs[0].kind == SILKGEN_SEG_ANY;
    if (!plain) {
        char *text = pattern_text(segs, n), *re = pattern_regex(segs, n);
        silkgen_printf(&doc,
                       "%sThe segments `%s` matches, with the `/` between them (not "
                       "percent-encoded).",
                       doc.len > 0 ? "\n\n" : "", text);
        if (f != NULL && f->type == FIELD(STRING))
            set_str(schema, "pattern", re);
        free(text);
        free(re);
    }
    if (doc.len > 0)
        set_str(param, "description", doc.data);
    silkgen_buf_fini(&doc);
    silkgen_set(param, "schema", schema);
    return param;
}

/* wildcard_param is the parameter of a "*" or "**" outside a variable: the gateway matches
 * it and reads nothing of it. */
static silkgen_value *wildcard_param(const char *name, bool rest)
{
    silkgen_value *param = silkgen_object();
    set_str(param, "name", name);
    set_str(param, "in", "path");
    silkgen_set(param, "required", silkgen_literal("true"));
    set_str(param, "description",
            rest ? "The rest of the path: one or more segments, with the `/` between them (not "
                   "percent-encoded); the gateway does not read it."
                 : "Any one segment; the gateway does not read it.");
    silkgen_set(param, "schema", typed("string", NULL, false));
    return param;
}

/* web_path returns m's path as OpenAPI writes it ("/api/v1/catalog/{name}/books/{page.size}")
 * and adds a parameter for each variable and wildcard to params. Caller frees. */
static char *web_path(part *p, const silkgen_method *m, silkgen_value *params)
{
    silkgen_buf out = {0};
    size_t wildcards = 0;
    for (size_t i = 0; i < m->n_segments; i++) {
        const silkgen_segment *s = &m->segments[i];
        if (s->kind == SILKGEN_SEG_LITERAL) {
            silkgen_printf(&out, "/%s", s->text);
        } else if (s->kind == SILKGEN_SEG_VAR_BEGIN) {
            size_t k = i + 1;
            while (k < m->n_segments && m->segments[k].kind != SILKGEN_SEG_VAR_END)
                k++;
            silkgen_printf(&out, "/{%s}", s->text);
            silkgen_push(params, path_param(p, m, s->text, &m->segments[i + 1], k - i - 1));
            i = k;
        } else if (s->kind == SILKGEN_SEG_ANY || s->kind == SILKGEN_SEG_REST) {
            bool rest = s->kind == SILKGEN_SEG_REST;
            char *name = rest ? silkgen_strdup("_rest") : silkgen_format("_any%zu", ++wildcards);
            silkgen_printf(&out, "/{%s}", name);
            silkgen_push(params, wildcard_param(name, rest));
            free(name);
        }
    }
    if (out.len == 0)
        silkgen_printf(&out, "/");
    return silkgen_buf_take(&out);
}

/* is_bound tells whether the field path name (proto names, dotted) is a variable of m. */
static bool is_bound(const silkgen_method *m, const char *name)
{
    for (size_t i = 0; i < m->n_segments; i++)
        if (m->segments[i].kind == SILKGEN_SEG_VAR_BEGIN && strcmp(m->segments[i].text, name) == 0)
            return true;
    return false;
}

/* query_walk is what a walk for query parameters carries: the method, the parameters, and
 * the message types on the way (a recursive type is not entered again). */
typedef struct query_walk {
    part *p;
    const silkgen_method *m;
    silkgen_value *params;
    const char *types[QUERY_DEPTH_MAX];
    size_t depth;
} query_walk;

/* on_the_way tells whether type_name is a message the walk is inside already. */
static bool on_the_way(const query_walk *w, const char *type_name)
{
    for (size_t i = 0; i < w->depth; i++)
        if (strcmp(w->types[i], type_name) == 0)
            return true;
    return false;
}

/* add_query_params adds a query parameter for each field silk_json_set_field can set from text
 * in the message at t: scalars, enums, bytes and the well-known types of a form of their own,
 * repeated or not, named with their JSON names, dotted through singular message fields
 * (json_name and proto are the names on the way, or NULL at the top); not maps, not repeated
 * messages, not the fields the path binds. */
static void add_query_params(query_walk *w, const silkgen_type *t, const char *json_prefix,
                             const char *proto_prefix)
{
    for (size_t i = 0; i < t->message->n_field; i++) {
        const field_proto *f = t->message->field[i];
        char *jn = json_name(f);
        char *json = json_prefix ? silkgen_format("%s.%s", json_prefix, jn) : silkgen_strdup(jn);
        char *proto =
            proto_prefix ? silkgen_format("%s.%s", proto_prefix, f->name) : silkgen_strdup(f->name);
        free(jn);
        bool message =
            (f->type == FIELD(MESSAGE) || f->type == FIELD(GROUP)) && !has_own_form(f->type_name);
        bool repeated = f->label == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_REPEATED;
        silkgen_type inner;
        if (message) {
            if (!repeated && w->depth < QUERY_DEPTH_MAX && !on_the_way(w, f->type_name) &&
                silkgen_find_type(w->p->run, f->type_name, &inner) && inner.message != NULL) {
                w->types[w->depth++] = f->type_name;
                add_query_params(w, &inner, json, proto);
                w->depth--;
            }
        } else if (!is_bound(w->m, proto)) {
            silkgen_value *param = silkgen_push(w->params, silkgen_object());
            set_str(param, "name", json);
            set_str(param, "in", "query");
            set_description(param, field_description(t, i));
            silkgen_set(param, "schema", field_schema(w->p, f));
        }
        free(json);
        free(proto);
    }
}

/* has_business_id_name tells whether msg has a field named business_id, which the query's
 * businessId fills (call.c's set_query_fields). */
static bool has_business_id_name(const silkgen_message_proto *msg)
{
    size_t index;
    return find_field(msg, "business_id", strlen("business_id"), &index) != NULL;
}

/* business_id_param is components.parameters' silk.BusinessId: the business id of a call
 * whose request has no business_id field (gateway/src/http/routes.c). */
static silkgen_value *business_id_param(void)
{
    silkgen_value *param = silkgen_object();
    set_str(param, "name", "businessId");
    set_str(param, "in", "query");
    set_str(param, "description",
            "The business id the call carries as metadata (business-id): printable UTF-8 of "
            "at most 256 bytes. A header businessId or business-id may give it instead.");
    silkgen_value *schema = silkgen_set(param, "schema", typed("string", NULL, false));
    silkgen_set(schema, "maxLength", silkgen_literal("256"));
    return param;
}

/* ============================================================================
 * Operations
 * ========================================================================== */

static const char *const verbs[] = {
    [SILKGEN_POST] = "post",     [SILKGEN_GET] = "get",     [SILKGEN_PUT] = "put",
    [SILKGEN_DELETE] = "delete", [SILKGEN_PATCH] = "patch",
};

/* json_content is {"application/json": {"schema": schema}}. */
static silkgen_value *json_content(silkgen_value *schema)
{
    silkgen_value *content = silkgen_object();
    silkgen_set(silkgen_set(content, "application/json", silkgen_object()), "schema", schema);
    return content;
}

/* request_body is what POST, PUT and PATCH take: the request message as JSON, or nothing
 * (the empty message); the path's fields win over the body's. */
static silkgen_value *request_body(part *p, const silkgen_method *m)
{
    silkgen_value *body = silkgen_object();
    silkgen_buf bound = {0};
    for (size_t i = 0; i < m->n_segments; i++)
        if (m->segments[i].kind == SILKGEN_SEG_VAR_BEGIN)
            silkgen_printf(&bound, "%s`%s`", bound.len > 0 ? ", " : "", m->segments[i].text);
    char *doc = silkgen_format(
        "The request, %s, as JSON; an empty body is the empty message.%s%s%s",
        m->proto->input_type + 1, bound.len > 0 ? " The path's " : "",
        bound.len > 0 ? bound.data : "", bound.len > 0 ? " win over the body's." : "");
    set_str(body, "description", doc);
    free(doc);
    silkgen_buf_fini(&bound);
    silkgen_set(body, "content", json_content(type_schema(p, m->proto->input_type)));
    return body;
}

/* responses are the reply as JSON, and the gateway's error body for the rest. */
static silkgen_value *responses(part *p, const silkgen_method *m)
{
    silkgen_value *r = silkgen_object();
    silkgen_value *ok = silkgen_set(r, "200", silkgen_object());
    char *doc = silkgen_format("The reply, %s, as JSON.", m->proto->output_type + 1);
    set_str(ok, "description", doc);
    free(doc);
    silkgen_set(ok, "content", json_content(type_schema(p, m->proto->output_type)));
    silkgen_set(r, "4XX", ref("#/components/responses/", ERROR_SCHEMA));
    silkgen_set(r, "5XX", ref("#/components/responses/", ERROR_SCHEMA));
    return r;
}

/* operation is method index i of svc as the gateway serves it; *path gets its path. */
static silkgen_value *operation(part *p, const silkgen_service *svc, size_t i, char **path)
{
    const silkgen_method *m = &svc->methods[i];
    silkgen_value *op = silkgen_object();
    silkgen_push(silkgen_set(op, "tags", silkgen_array()), silkgen_string(svc->full_name));
    set_str(op, "summary", m->proto->name);
    const int32_t where[] = {6, (int32_t)svc->index, 2, (int32_t)i};
    set_description(op, silkgen_description(svc->file, where, 4));
    set_str(op, "operationId", m->full_name);

    silkgen_value *params = silkgen_array();
    *path = web_path(p, m, params);
    silkgen_type in;
    bool has_in = silkgen_find_type(p->run, m->proto->input_type, &in) && in.message != NULL;
    bool from_query = m->opts.verb == SILKGEN_GET || m->opts.verb == SILKGEN_DELETE;
    if (from_query && has_in) {
        query_walk w = {.p = p, .m = m, .params = params};
        add_query_params(&w, &in, NULL, NULL);
    }
    if (has_in && !has_business_id_name(in.message)) {
        silkgen_value *shared = silkgen_get(p->components, "parameters");
        if (shared == NULL)
            shared = silkgen_set(p->components, "parameters", silkgen_object());
        if (silkgen_get(shared, BUSINESS_ID_PARAM) == NULL)
            silkgen_set(shared, BUSINESS_ID_PARAM, business_id_param());
        silkgen_push(params, ref("#/components/parameters/", BUSINESS_ID_PARAM));
    }
    if (params->n > 0)
        silkgen_set(op, "parameters", params);
    else
        silkgen_value_free(params);
    if (!from_query)
        silkgen_set(op, "requestBody", request_body(p, m));
    silkgen_set(op, "responses", responses(p, m));
    if (m->opts.public_access || svc->public_access)
        silkgen_set(op, "security", silkgen_array());
    return op;
}

/* error_schema is the gateway's error body, as http/bodies.c writes it. */
static silkgen_value *error_schema(void)
{
    static const char *const fields[] = {"code", "message"};
    silkgen_value *s = typed("object", NULL, false);
    set_str(s, "description",
            "An error, as the gateway answers it (docs/gateway.md, \"Statuses\").");
    silkgen_set(s, "required", string_list(fields, 2));
    silkgen_value *props = silkgen_set(s, "properties", silkgen_object());
    silkgen_value *code = silkgen_set(props, "code", typed("integer", "int32", false));
    silkgen_set(code, "minimum", silkgen_literal("1"));
    silkgen_set(code, "maximum", silkgen_literal("16"));
    set_str(code, "description", "The silk status: " STATUS_CODES_LIST ".");
    set_str(silkgen_set(props, "message", typed("string", NULL, false)), "description",
            "What went wrong.");
    return s;
}

static silkgen_value *error_response(void)
{
    silkgen_value *r = silkgen_object();
    set_str(r, "description",
            "An error. The HTTP status is the silk status' as grpc-gateway maps them "
            "(INVALID_ARGUMENT 400, UNAUTHENTICATED 401, PERMISSION_DENIED 403, NOT_FOUND 404, "
            "UNAVAILABLE 503, ...), or the gateway's own (docs/gateway.md, \"Statuses\").");
    silkgen_set(r, "content", json_content(ref(SCHEMAS, ERROR_SCHEMA)));
    return r;
}

silkgen_value *silkgen_openapi_service(const silkgen_run *run, const silkgen_service *svc)
{
    silkgen_value *frag = silkgen_object();
    silkgen_value *tag = silkgen_push(silkgen_set(frag, "tags", silkgen_array()), silkgen_object());
    set_str(tag, "name", svc->full_name);
    const int32_t where[] = {6, (int32_t)svc->index};
    set_description(tag, silkgen_description(svc->file, where, 2));
    silkgen_value *paths = silkgen_set(frag, "paths", silkgen_object());
    part p = {.run = run, .components = silkgen_set(frag, "components", silkgen_object())};
    p.schemas = silkgen_set(p.components, "schemas", silkgen_object());
    silkgen_set(p.schemas, ERROR_SCHEMA, error_schema());
    for (size_t i = 0; i < svc->n_methods; i++) {
        char *path = NULL;
        silkgen_value *op = operation(&p, svc, i, &path);
        silkgen_value *item = silkgen_get(paths, path);
        if (item == NULL)
            item = silkgen_set(paths, path, silkgen_object());
        if (silkgen_get(item, verbs[svc->methods[i].opts.verb]) == NULL)
            silkgen_set(item, verbs[svc->methods[i].opts.verb], op);
        else
            silkgen_value_free(op); /* two methods on one route: reported already */
        free(path);
    }
    silkgen_set(silkgen_set(p.components, "responses", silkgen_object()), ERROR_SCHEMA,
                error_response());
    return frag;
}

/* ============================================================================
 * The whole document: silkc --openapi
 * ========================================================================== */

/* merge_members adds the members of src that dst lacks, at depth levels: 1 is the members
 * themselves, 2 the members of each member (a path's operations, a section's components). */
static void merge_members(silkgen_value *dst, const silkgen_value *src, int depth)
{
    for (size_t i = 0; src != NULL && i < src->n; i++) {
        silkgen_value *have = silkgen_get(dst, src->keys[i]);
        if (have == NULL)
            silkgen_set(dst, src->keys[i], silkgen_value_copy(src->items[i]));
        else if (depth > 1 && have->kind == SILKGEN_OBJECT)
            merge_members(have, src->items[i], depth - 1);
    }
}

/* has_tag tells whether tags holds one named name. */
static bool has_tag(const silkgen_value *tags, const silkgen_value *name)
{
    for (size_t i = 0; name != NULL && i < tags->n; i++) {
        const silkgen_value *n = silkgen_get(tags->items[i], "name");
        if (n != NULL && strcmp(n->text, name->text) == 0)
            return true;
    }
    return false;
}

void silkgen_openapi_merge(silkgen_value *doc, const silkgen_value *frag)
{
    silkgen_value *tags = silkgen_get(doc, "tags");
    const silkgen_value *their_tags = silkgen_get(frag, "tags");
    for (size_t i = 0; their_tags != NULL && i < their_tags->n; i++)
        if (!has_tag(tags, silkgen_get(their_tags->items[i], "name")))
            silkgen_push(tags, silkgen_value_copy(their_tags->items[i]));
    merge_members(silkgen_get(doc, "paths"), silkgen_get(frag, "paths"), 2);
    merge_members(silkgen_get(doc, "components"), silkgen_get(frag, "components"), 2);
}

silkgen_value *silkgen_openapi_document(const char *const *names, size_t n)
{
    silkgen_value *doc = silkgen_object();
    set_str(doc, "openapi", OPENAPI_VERSION);
    silkgen_value *info = silkgen_set(doc, "info", silkgen_object());
    silkgen_buf title = {0};
    for (size_t i = 0; i < n; i++)
        silkgen_printf(&title, "%s%s", i > 0 ? ", " : "", names[i]);
    set_str(info, "title", title.len > 0 ? title.data : "silk");
    silkgen_buf_fini(&title);
    set_str(info, "version", SILKGEN_VERSION_STRING);
    silkgen_set(doc, "tags", silkgen_array());
    silkgen_set(doc, "paths", silkgen_object());
    silkgen_set(doc, "components", silkgen_object());
    return doc;
}

char *silkgen_openapi_generate(silkgen_run *run)
{
    const Google__Protobuf__Compiler__CodeGeneratorRequest *req = run->req;
    size_t n = 0;
    silkgen_service *services = NULL;
    for (size_t i = 0; i < req->n_file_to_generate; i++) {
        const silkgen_file_proto *f = silkgen_find_file(run, req->file_to_generate[i]);
        for (size_t k = 0; f != NULL && k < f->n_service; k++) {
            services = realloc(services, (n + 1) * sizeof *services);
            if (services == NULL)
                abort();
            silkgen_service_init(run, f, k, &services[n++]);
        }
    }
    const char **names = silkgen_xcalloc(n, sizeof *names);
    for (size_t i = 0; i < n; i++)
        names[i] = services[i].full_name;
    silkgen_value *doc = silkgen_openapi_document(names, n);
    for (size_t i = 0; i < n; i++) {
        silkgen_openapi_merge(doc, services[i].openapi);
        silkgen_service_fini(&services[i]);
    }
    silkgen_buf out = {0};
    silkgen_value_print(doc, true, &out);
    silkgen_printf(&out, "\n");
    silkgen_value_free(doc);
    free(names);
    free(services);
    return silkgen_buf_take(&out);
}
