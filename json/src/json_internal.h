/* json_internal.h - what decode.c, decode_scalar.c, encode.c, names.c and common.c share. */
#ifndef SILK_JSON_INTERNAL_H
#define SILK_JSON_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include <silk/status.h>

struct json_t; /* jansson's value, for the decoder */

/* The well-known types with a JSON form of their own. */
typedef enum silk__json_wkt {
    SILK__JSON_WKT_NONE = 0,
    SILK__JSON_WKT_TIMESTAMP,
    SILK__JSON_WKT_DURATION,
    SILK__JSON_WKT_WRAPPER, /* DoubleValue ... BytesValue: the JSON of field 1, "value" */
} silk__json_wkt;

/* silk__json_wkt_of tells which well-known type desc is, by its full name. */
silk__json_wkt silk__json_wkt_of(const ProtobufCMessageDescriptor *desc);

/* silk__json_elem_size returns the bytes one value of a field's type takes in a message or
 * in a repeated field's array. */
size_t silk__json_elem_size(ProtobufCType type);

/* silk__json_type_name returns the proto name of a field's type ("int32", "bytes"). */
const char *silk__json_type_name(ProtobufCType type);

/* silk__json_custom_names returns, by field index, the [json_name]s of desc's fields that
 * silk_json_add_names recorded (NULL where a field has the default name), or NULL when desc
 * has none: one lookup per message, not per field. Any thread. */
const char *const *silk__json_custom_names(const ProtobufCMessageDescriptor *desc);

/* silk__json_find_field returns the field of desc named key, or NULL: its proto name or its
 * JSON name (the [json_name] when it has one, else lowerCamelCase), the two a reader takes. */
const ProtobufCFieldDescriptor *silk__json_find_field(const ProtobufCMessageDescriptor *desc,
                                                      const char *key);

/* silk__json_is_map tells whether f is a map<K, V> field: a repeated message field whose
 * type is the generated entry message (fields key = 1 and value = 2, named <Field>Entry). */
bool silk__json_is_map(const ProtobufCFieldDescriptor *f);

/* silk__json_base64_decode decodes standard or URL-safe base64, padded or not, into a new
 * buffer (*out, freed with free(); NULL for empty input) of *out_len bytes. It returns 0,
 * -1 for malformed input, -2 when memory is exhausted. */
int silk__json_base64_decode(const char *in, size_t len, uint8_t **out, size_t *out_len);

/* silk__json_base64_len is the length of the padded standard base64 of n bytes. */
size_t silk__json_base64_len(size_t n);

/* silk__json_base64_encode writes the padded standard base64 of n bytes into out, which
 * holds silk__json_base64_len(n) bytes (no NUL is written). */
void silk__json_base64_encode(const uint8_t *in, size_t n, char *out);

/* Timestamps and durations: the range proto3 JSON allows. */
#define SILK__JSON_TS_MIN  (-62135596800LL) /* 0001-01-01T00:00:00Z */
#define SILK__JSON_TS_MAX  253402300799LL   /* 9999-12-31T23:59:59Z */
#define SILK__JSON_DUR_MAX 315576000000LL   /* 10000 years */

/* silk__json_days_from_civil returns the days since 1970-01-01 of a proleptic Gregorian date. */
int64_t silk__json_days_from_civil(int64_t y, unsigned m, unsigned d);

/* silk__json_civil_from_days is the inverse of silk__json_days_from_civil. */
void silk__json_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);

/* ---- the decoder: decode.c and decode_scalar.c ---- */

/* silk__json_dec is one decoding: where the error goes, and the path to the value being read
 * ("inner.tags[2]"). */
typedef struct silk__json_dec {
    char *err;
    size_t errlen;
    char path[256];
    size_t path_len;
} silk__json_dec;

/* silk__json_fail writes "field \"<path>\": <what>" (or just what at the top) into d's error
 * and returns st. */
silk_status silk__json_fail(silk__json_dec *d, silk_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* silk__json_nomem is silk__json_fail for exhausted memory: SILK_RESOURCE_EXHAUSTED. */
silk_status silk__json_nomem(silk__json_dec *d);

/* silk__json_kind_of names the kind of a JSON value for an error: "an object", "a string". */
const char *silk__json_kind_of(const struct json_t *v);

/* silk__json_read_scalar stores v at slot, a value of f's type, which is any but a message
 * (one element for a repeated field); a string or bytes value replaces the slot's own. On
 * failure the error says why and the slot is as it was. */
silk_status silk__json_read_scalar(silk__json_dec *d, const ProtobufCFieldDescriptor *f,
                                   const struct json_t *v, void *slot);

/* silk__json_read_timestamp and silk__json_read_duration fill msg, a google.protobuf.Timestamp
 * (from an RFC 3339 string) or Duration (from "1.5s"), from v. */
silk_status silk__json_read_timestamp(silk__json_dec *d, const struct json_t *v,
                                      ProtobufCMessage *msg);
silk_status silk__json_read_duration(silk__json_dec *d, const struct json_t *v,
                                     ProtobufCMessage *msg);

#endif /* SILK_JSON_INTERNAL_H */
