/* options.c - silk's options and protobuf-c's, read from the unknown fields of the options.
 *
 * protobuf-c has no extensions: a field its descriptor does not know stays in the message's
 * unknown_fields with its tag, wire type and bytes. What those bytes are is protobuf-c's
 * choice, checked in protobuf-c 1.4.1's protobuf-c.c: parse_member() copies the scanned
 * member from just after the tag, and for a length-delimited field the scan
 * (scan_length_prefixed_data) counts the varint length prefix in, so the data is
 * "varint length, payload". For a varint it is the varint. The prefix is checked against
 * the stored size before the payload is trusted. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "silk/options.pb-c.h"
#include "silkgen.h"

/* read_varint decodes a varint from data[0..len); it returns the bytes used, 0 when the
 * varint is malformed or runs past len. */
static size_t read_varint(const uint8_t *data, size_t len, uint64_t *value)
{
    uint64_t v = 0;
    for (size_t i = 0; i < len && i < 10; i++) {
        v |= (uint64_t)(data[i] & 0x7f) << (7 * i);
        if ((data[i] & 0x80) == 0) {
            *value = v;
            return i + 1;
        }
    }
    return 0;
}

/* read_prefixed finds the payload of length-delimited bytes: data begins with the varint
 * length of the rest. It returns NULL, or why the bytes are not well-formed. */
static const char *read_prefixed(const uint8_t *data, size_t len, const uint8_t **payload,
                                 size_t *payload_len)
{
    uint64_t n = 0;
    size_t used = read_varint(data, len, &n);
    if (used == 0 || n != len - used)
        return "its length prefix does not match its size";
    *payload = data + used;
    *payload_len = (size_t)n;
    return NULL;
}

/* wire_field is one field of an encoded message, as next_field reads it. */
typedef struct wire_field {
    uint32_t number;
    unsigned wire_type;
    uint64_t varint;        /* a varint's value */
    const uint8_t *payload; /* a length-delimited field's bytes */
    size_t payload_len;
} wire_field;

/* next_field reads the field at *data (*len bytes left) into f and moves past it. It returns
 * false at the end of the message, or when the rest is malformed. */
static bool next_field(const uint8_t **data, size_t *len, wire_field *f)
{
    uint64_t key = 0;
    size_t used = read_varint(*data, *len, &key), n = *len - used;
    const uint8_t *p = *data + used;
    if (used == 0)
        return false;
    memset(f, 0, sizeof *f);
    f->number = (uint32_t)(key >> 3);
    f->wire_type = (unsigned)(key & 7);
    switch (f->wire_type) {
    case PROTOBUF_C_WIRE_TYPE_VARINT:
        used = read_varint(p, n, &f->varint);
        break;
    case PROTOBUF_C_WIRE_TYPE_64BIT:
        used = n >= 8 ? 8 : 0;
        break;
    case PROTOBUF_C_WIRE_TYPE_32BIT:
        used = n >= 4 ? 4 : 0;
        break;
    case PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED:
        used = read_varint(p, n, &f->varint);
        if (used == 0 || f->varint > n - used)
            return false;
        f->payload = p + used;
        f->payload_len = (size_t)f->varint;
        used += f->payload_len;
        break;
    default:
        return false;
    }
    if (used == 0)
        return false;
    *data = p + used;
    *len = n - used;
    return true;
}

/* --- one table row per option --- */

typedef enum opt_kind { OPT_STRING, OPT_BOOL, OPT_UINT32, OPT_HTTP, OPT_HISTORY } opt_kind;

typedef struct opt_field {
    uint32_t number;
    const char *name; /* as written in a .proto */
    opt_kind kind;
    size_t offset; /* of the value in the options struct */
} opt_field;

static const opt_field service_fields[] = {
    {SILKGEN_OPT_ROUTE, "silk.route", OPT_STRING, offsetof(silkgen_service_opts, route)},
    {SILKGEN_OPT_WEBSOCKET, "silk.websocket", OPT_BOOL, offsetof(silkgen_service_opts, websocket)},
    {SILKGEN_OPT_SERVICE_PUBLIC, "silk.public_service", OPT_BOOL,
     offsetof(silkgen_service_opts, public_access)},
    {SILKGEN_OPT_HISTORY, "silk.history", OPT_HISTORY, 0},
};

static const opt_field method_fields[] = {
    {SILKGEN_OPT_HTTP, "silk.http", OPT_HTTP, 0},
    {SILKGEN_OPT_HASH_KEY, "silk.hash_key", OPT_STRING, offsetof(silkgen_method_opts, hash_key)},
    {SILKGEN_OPT_TIMEOUT_MS, "silk.timeout_ms", OPT_UINT32,
     offsetof(silkgen_method_opts, timeout_ms)},
    {SILKGEN_OPT_RETRIES, "silk.retries", OPT_UINT32, offsetof(silkgen_method_opts, retries)},
    {SILKGEN_OPT_IDEMPOTENT, "silk.idempotent", OPT_BOOL,
     offsetof(silkgen_method_opts, idempotent)},
    {SILKGEN_OPT_METHOD_PUBLIC, "silk.public", OPT_BOOL,
     offsetof(silkgen_method_opts, public_access)},
};

/* read_http decodes an http rule (a silk.HttpRule message) into the method options. */
static const char *read_http(const uint8_t *data, size_t len, silkgen_method_opts *out)
{
    Silk__HttpRule *rule = silk__http_rule__unpack(NULL, len, data);
    if (rule == NULL)
        return "it is not a silk.HttpRule";
    const char *err = NULL, *path = NULL;
    switch (rule->pattern_case) {
    case SILK__HTTP_RULE__PATTERN_GET:
        out->verb = SILKGEN_GET, path = rule->get;
        break;
    case SILK__HTTP_RULE__PATTERN_PUT:
        out->verb = SILKGEN_PUT, path = rule->put;
        break;
    case SILK__HTTP_RULE__PATTERN_POST:
        out->verb = SILKGEN_POST, path = rule->post;
        break;
    case SILK__HTTP_RULE__PATTERN_DELETE:
        out->verb = SILKGEN_DELETE, path = rule->delete_;
        break;
    case SILK__HTTP_RULE__PATTERN_PATCH:
        out->verb = SILKGEN_PATCH, path = rule->patch;
        break;
    default:
        err = "it names no verb (get, put, post, delete or patch)";
        break;
    }
    if (err == NULL) {
        out->has_http = true;
        free(out->http_path);
        out->http_path = silkgen_strdup(path);
    }
    silk__http_rule__free_unpacked(rule, NULL);
    return err;
}

/* read_history decodes a history (a silk.History message) into the service options; fields
 * other than size and ttl_s are skipped. Only the fields present are stored, so that two
 * occurrences merge as protobuf merges a message field. */
static const char *read_history(const uint8_t *data, size_t len, silkgen_service_opts *out)
{
    wire_field f;
    while (next_field(&data, &len, &f)) {
        if (f.number != SILKGEN_HISTORY_SIZE && f.number != SILKGEN_HISTORY_TTL_S)
            continue;
        if (f.wire_type != PROTOBUF_C_WIRE_TYPE_VARINT)
            return "its size and ttl_s must be varints";
        if (f.varint > UINT32_MAX)
            return "the value does not fit in 32 bits";
        if (f.number == SILKGEN_HISTORY_SIZE)
            out->history_size = (uint32_t)f.varint;
        else
            out->history_ttl_s = (uint32_t)f.varint;
    }
    return len == 0 ? NULL : "it is not a silk.History";
}

/* read_field stores one unknown field's value as f says. It returns NULL or what is wrong. */
static const char *read_field(const opt_field *f, const ProtobufCMessageUnknownField *u, void *out)
{
    uint64_t v = 0;
    const uint8_t *payload;
    size_t payload_len;
    const char *err;
    switch (f->kind) {
    case OPT_STRING:
    case OPT_HTTP:
    case OPT_HISTORY:
        if (u->wire_type != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED)
            return "expected a length-delimited value";
        if ((err = read_prefixed(u->data, u->len, &payload, &payload_len)) != NULL)
            return err;
        if (f->kind == OPT_HTTP)
            return read_http(payload, payload_len, out);
        if (f->kind == OPT_HISTORY)
            return read_history(payload, payload_len, out);
        if (memchr(payload, '\0', payload_len) != NULL)
            return "the string holds a NUL byte";
        char **s = (char **)((char *)out + f->offset);
        free(*s);
        *s = silkgen_format("%.*s", (int)payload_len, (const char *)payload);
        return NULL;
    case OPT_BOOL:
    case OPT_UINT32:
        if (u->wire_type != PROTOBUF_C_WIRE_TYPE_VARINT)
            return "expected a varint";
        if (read_varint(u->data, u->len, &v) != u->len)
            return "the varint is malformed";
        if (f->kind == OPT_BOOL) {
            *(bool *)((char *)out + f->offset) = v != 0;
        } else if (v > UINT32_MAX) {
            return "the value does not fit in 32 bits";
        } else {
            *(uint32_t *)((char *)out + f->offset) = (uint32_t)v;
        }
        return NULL;
    }
    return "unknown kind";
}

/* read_fields reads every field of the table found among msg's unknown fields (a field that
 * appears twice: the last one wins, as in protobuf; a history's fields merge). */
static char *read_fields(const ProtobufCMessage *msg, const opt_field *fields, size_t n_fields,
                         void *out, uint32_t *malformed)
{
    for (size_t i = 0; msg != NULL && i < msg->n_unknown_fields; i++) {
        const ProtobufCMessageUnknownField *u = &msg->unknown_fields[i];
        for (size_t k = 0; k < n_fields; k++) {
            if (u->tag != fields[k].number)
                continue;
            const char *err = read_field(&fields[k], u, out);
            if (err != NULL) {
                *malformed = fields[k].number;
                return silkgen_format("option (%s) is malformed: %s", fields[k].name, err);
            }
        }
    }
    return NULL;
}

char *silkgen_service_opts_read(const Google__Protobuf__ServiceOptions *opts,
                                silkgen_service_opts *out)
{
    memset(out, 0, sizeof *out);
    return read_fields(opts ? &opts->base : NULL, service_fields,
                       sizeof service_fields / sizeof service_fields[0], out, &out->malformed);
}

void silkgen_service_opts_fini(silkgen_service_opts *opts)
{
    free(opts->route);
    memset(opts, 0, sizeof *opts);
}

char *silkgen_method_opts_read(const Google__Protobuf__MethodOptions *opts,
                               silkgen_method_opts *out)
{
    memset(out, 0, sizeof *out);
    return read_fields(opts ? &opts->base : NULL, method_fields,
                       sizeof method_fields / sizeof method_fields[0], out, &out->malformed);
}

void silkgen_method_opts_fini(silkgen_method_opts *opts)
{
    free(opts->http_path);
    free(opts->hash_key);
    memset(opts, 0, sizeof *opts);
}

/* pb_c_option calls fn with the payload of each of protobuf-c's options messages numbered
 * tag among msg's unknown fields, in order, so that the last one wins. */
static void pb_c_option(const ProtobufCMessage *msg, uint32_t tag,
                        void (*fn)(const uint8_t *data, size_t len, void *arg), void *arg)
{
    for (size_t i = 0; msg != NULL && i < msg->n_unknown_fields; i++) {
        const ProtobufCMessageUnknownField *u = &msg->unknown_fields[i];
        const uint8_t *payload;
        size_t payload_len;
        if (u->tag == tag && u->wire_type == PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED &&
            read_prefixed(u->data, u->len, &payload, &payload_len) == NULL)
            fn(payload, payload_len, arg);
    }
}

/* take_c_package keeps the c_package string of a ProtobufCFileOptions in *(char **)arg. */
static void take_c_package(const uint8_t *data, size_t len, void *arg)
{
    char **c_package = arg;
    wire_field f;
    while (next_field(&data, &len, &f)) {
        if (f.number == SILKGEN_PB_C_C_PACKAGE &&
            f.wire_type == PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED) {
            free(*c_package);
            *c_package = silkgen_format("%.*s", (int)f.payload_len, (const char *)f.payload);
        }
    }
}

char *silkgen_c_package(const silkgen_file_proto *file)
{
    char *c_package = NULL;
    if (file != NULL && file->options != NULL)
        pb_c_option(&file->options->base, SILKGEN_OPT_PB_C_FILE, take_c_package, &c_package);
    return c_package;
}

/* take_string_as_bytes keeps the string_as_bytes flag of a ProtobufCFieldOptions in
 * *(bool *)arg. */
static void take_string_as_bytes(const uint8_t *data, size_t len, void *arg)
{
    bool *as_bytes = arg;
    wire_field f;
    while (next_field(&data, &len, &f))
        if (f.number == SILKGEN_PB_C_STRING_AS_BYTES && f.wire_type == PROTOBUF_C_WIRE_TYPE_VARINT)
            *as_bytes = f.varint != 0;
}

bool silkgen_string_as_bytes(const Google__Protobuf__FieldDescriptorProto *field)
{
    bool as_bytes = false;
    if (field->options != NULL)
        pb_c_option(&field->options->base, SILKGEN_OPT_PB_C_FIELD, take_string_as_bytes, &as_bytes);
    return as_bytes;
}
