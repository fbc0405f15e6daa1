/* json.h - the proto3 JSON mapping of protobuf-c messages, both ways, on their descriptors. */
#ifndef SILK_JSON_H
#define SILK_JSON_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#include <silk/service.h>
#include <silk/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The mapping is proto3's (protobuf.dev/programming-guides/proto3/#json):
 * - Keys are written as JSON names: a field's [json_name] when silk_json_add_names() was
 *   told of it, else lowerCamelCase ("businessId"); both that and the proto field name
 *   ("business_id") are read. A field given under both names is an error.
 * - int64, uint64, sint64, fixed64 and sfixed64 are written as strings; every integer is
 *   read from a JSON number (exactly: never through a double unless it has a fraction or an
 *   exponent, and then only when the value is integral) or a decimal string.
 * - float and double are numbers, or the strings "NaN", "Infinity" and "-Infinity".
 * - bytes are base64 (standard with padding out; standard or URL-safe, padded or not, in).
 * - enums are written by name (by number when the value has no name) and read by either.
 * - repeated fields are arrays, maps objects, messages objects, null means "not set".
 * - Fields holding their default value are left out, unless they are set members of a
 *   oneof, proto3 optional fields with their has_ set, or proto2 required fields.
 * - google.protobuf.Empty is {}, Timestamp an RFC 3339 string ("1972-01-01T10:00:20.021Z",
 *   read with any offset), Duration "1.5s", and the wrappers (Int64Value, StringValue, ...)
 *   the JSON of the value they wrap.
 * Strings written that are not valid UTF-8 have each bad byte replaced by U+FFFD. */

/* silk_json_to_message decodes len bytes of JSON (one value; an object for most messages, a
 * string for a Timestamp, ...) into a new message of desc. It returns SILK_OK with *out the
 * caller's, to free with protobuf_c_message_free_unpacked(*out, NULL). Otherwise *out is
 * NULL, err (errlen bytes with the NUL; may be NULL when errlen is 0) says what and where
 * ("field \"inner.tags[2]\": expected an integer, got a string"), and the status is
 * SILK_INVALID_ARGUMENT for malformed JSON, an unknown field (named), a value of the wrong
 * type or out of range, or SILK_RESOURCE_EXHAUSTED when memory is exhausted. */
silk_status silk_json_to_message(const ProtobufCMessageDescriptor *desc, const char *json,
                                 size_t len, ProtobufCMessage **out, char *err, size_t errlen);

/* silk_json_from_message encodes msg as compact JSON. On SILK_OK *out is a new NUL-terminated
 * string the caller frees with free(), and *len (when len is not NULL) its length. Otherwise
 * *out is NULL, err says why, and the status is SILK_RESOURCE_EXHAUSTED when memory is
 * exhausted or SILK_INTERNAL for a value proto3 JSON cannot write (a Timestamp or Duration
 * out of its range). */
silk_status silk_json_from_message(const ProtobufCMessage *msg, char **out, size_t *len, char *err,
                                   size_t errlen);

/* silk_json_set_field sets one field of msg from its text form, as a URL's path and query
 * parameters give it (grpc-gateway's mapping): name is a field or JSON name, or a dotted path
 * of them through singular message fields ("page.size"; the messages on the way are created).
 * value is read as that field's JSON would be when written as a string: digits for numbers,
 * "true"/"false", an enum name or number, base64 for bytes, RFC 3339 for a Timestamp. A
 * repeated field gets value appended; any other field is replaced. It returns SILK_OK, or
 * SILK_INVALID_ARGUMENT (unknown name, a map or message field, a bad value, or another member
 * of the same oneof already set) or SILK_RESOURCE_EXHAUSTED with err set; msg is then
 * unchanged apart from messages created on the way. msg must own its fields the way
 * silk_json_to_message's results do (freed by protobuf_c_message_free_unpacked). */
silk_status silk_json_set_field(ProtobufCMessage *msg, const char *name, const char *value,
                                char *err, size_t errlen);

/* silk_json_add_names makes every later call map the fields that services[0..n)'s
 * json_names list (those whose [json_name] differs from the default) under their
 * [json_name]: written so, and read under it or the proto name. protobuf-c's descriptors do
 * not carry json_name, so a program tells the mapping of the services whose messages it maps;
 * silk_gateway_main and silk_ctl_main do it for the services linked into them. Call it at
 * start-up, before other threads map JSON (later calls are safe, but a call in flight may
 * miss the new names). Returns SILK_OK, SILK_INVALID_ARGUMENT for a NULL service, or
 * SILK_RESOURCE_EXHAUSTED (the names of the services before it are added). */
silk_status silk_json_add_names(const silk_service_desc *const *services, size_t n);

/* silk_json_field_name writes the lowerCamelCase JSON name of a proto field name into out
 * ("business_id" -> "businessId"), cut to outlen bytes with the NUL, and returns out. */
char *silk_json_field_name(const char *field_name, char *out, size_t outlen);

#ifdef __cplusplus
}
#endif

#endif /* SILK_JSON_H */
