/* options.c - silk's options, read from the unknown fields of ServiceOptions and MethodOptions.
 *
 * protobuf-c has no extensions: an option it does not know stays in the options message's
 * unknown fields with its tag, wire type and raw bytes. A length-delimited field's bytes start
 * with the varint length, which is checked against the field's size before it is trusted. */
#include <stdlib.h>
#include <string.h>

#include "codegen.h"
#include "silk/options.pb-c.h"

/* read_varint decodes a varint from data[0..len); returns the bytes used, 0 when malformed. */
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

static const char *read_uint(const ProtobufCMessageUnknownField *f, uint64_t *value)
{
    if (f->wire_type != PROTOBUF_C_WIRE_TYPE_VARINT)
        return "expected a varint";
    if (read_varint(f->data, f->len, value) != f->len)
        return "malformed varint";
    return NULL;
}

/* read_bytes points data and len at the payload of a length-delimited field. */
static const char *read_bytes(const ProtobufCMessageUnknownField *f, const uint8_t **data,
                              size_t *len)
{
    uint64_t n = 0;
    if (f->wire_type != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED)
        return "expected a length-delimited value";
    size_t used = read_varint(f->data, f->len, &n);
    if (used == 0 || n != f->len - used)
        return "malformed length-delimited value";
    *data = f->data + used;
    *len = (size_t)n;
    return NULL;
}

static const char *read_string(const ProtobufCMessageUnknownField *f, char **out)
{
    const uint8_t *data;
    size_t len;
    const char *err = read_bytes(f, &data, &len);
    if (err != NULL)
        return err;
    if (memchr(data, '\0', len) != NULL)
        return "string option holds a NUL byte";
    free(*out);
    *out = silkgen_strdup_printf("%.*s", (int)len, (const char *)data);
    return NULL;
}

static const char *read_u32(const ProtobufCMessageUnknownField *f, uint32_t *out)
{
    uint64_t v = 0;
    const char *err = read_uint(f, &v);
    if (err == NULL && v > UINT32_MAX)
        err = "value out of range";
    if (err == NULL)
        *out = (uint32_t)v;
    return err;
}

static const char *read_bool(const ProtobufCMessageUnknownField *f, bool *out)
{
    uint64_t v = 0;
    const char *err = read_uint(f, &v);
    if (err == NULL)
        *out = v != 0;
    return err;
}

static const char *read_http(const ProtobufCMessageUnknownField *f, silkgen_method_opts *out)
{
    const uint8_t *data;
    size_t len;
    const char *err = read_bytes(f, &data, &len);
    if (err != NULL)
        return err;
    Silk__HttpRule *rule = silk__http_rule__unpack(NULL, len, data);
    if (rule == NULL)
        return "malformed http rule";
    const char *path = NULL;
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
        err = "http rule names no verb";
    }
    if (err == NULL) {
        out->has_http = true;
        free(out->http_path);
        out->http_path = silkgen_strdup(path);
    }
    silk__http_rule__free_unpacked(rule, NULL);
    return err;
}

const char *silkgen_read_service_opts(const ProtobufCMessage *opts, silkgen_service_opts *out)
{
    memset(out, 0, sizeof *out);
    for (unsigned i = 0; opts != NULL && i < opts->n_unknown_fields; i++) {
        const ProtobufCMessageUnknownField *f = &opts->unknown_fields[i];
        const char *err = NULL;
        if (f->tag == SILKGEN_OPT_ROUTE)
            err = read_string(f, &out->route);
        else if (f->tag == SILKGEN_OPT_WEBSOCKET)
            err = read_bool(f, &out->websocket);
        if (err != NULL)
            return err;
    }
    return NULL;
}

const char *silkgen_read_method_opts(const ProtobufCMessage *opts, silkgen_method_opts *out)
{
    memset(out, 0, sizeof *out);
    for (unsigned i = 0; opts != NULL && i < opts->n_unknown_fields; i++) {
        const ProtobufCMessageUnknownField *f = &opts->unknown_fields[i];
        const char *err = NULL;
        switch (f->tag) {
        case SILKGEN_OPT_HTTP:
            err = read_http(f, out);
            break;
        case SILKGEN_OPT_HASH_KEY:
            err = read_string(f, &out->hash_key);
            break;
        case SILKGEN_OPT_TIMEOUT_MS:
            err = read_u32(f, &out->timeout_ms);
            break;
        case SILKGEN_OPT_RETRIES:
            err = read_u32(f, &out->retries);
            break;
        case SILKGEN_OPT_IDEMPOTENT:
            err = read_bool(f, &out->idempotent);
            break;
        default:
            break;
        }
        if (err != NULL)
            return err;
    }
    return NULL;
}

void silkgen_service_opts_fini(silkgen_service_opts *o)
{
    free(o->route);
    memset(o, 0, sizeof *o);
}

void silkgen_method_opts_fini(silkgen_method_opts *o)
{
    free(o->http_path);
    free(o->hash_key);
    memset(o, 0, sizeof *o);
}
