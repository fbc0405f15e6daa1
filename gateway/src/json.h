/* json.h - JSON bodies to protobuf-c messages and back, on the messages' descriptors. */
#ifndef SILK_GATEWAY_JSON_H
#define SILK_GATEWAY_JSON_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#include <silk/status.h>

/* What is mapped so far, as proto3's JSON mapping says: strings, bools, integers (64-bit ones
 * written as strings, read from numbers or strings), floats, enums (by name, read by name or
 * number), and repeated fields of those. Keys are the field name ("business_id") or its
 * lowerCamelCase JSON name ("businessId"). Messages, bytes and maps are not mapped yet. */

/* silk__gw_json_to_message decodes the JSON object in json (len bytes; an empty body is {})
 * into a new message of desc. On SILK_OK *out is the caller's, freed with
 * protobuf_c_message_free_unpacked(*out, NULL). Otherwise *out is NULL, err holds why
 * (err_size bytes with the NUL), and the status is SILK_INVALID_ARGUMENT for malformed
 * JSON, an unknown field or a value of the wrong type, SILK_UNIMPLEMENTED for a field of a
 * type not mapped yet, or SILK_RESOURCE_EXHAUSTED when memory is exhausted. */
silk_status silk__gw_json_to_message(const ProtobufCMessageDescriptor *desc, const char *json,
                                     size_t len, ProtobufCMessage **out, char *err,
                                     size_t err_size);

/* silk__gw_json_from_message encodes msg as a compact JSON object, keyed by JSON names, every
 * field written (google.protobuf.Empty is "{}"). It returns a new string the caller frees
 * with free(), or NULL with err set when a field's type is not mapped yet or memory is
 * exhausted. */
char *silk__gw_json_from_message(const ProtobufCMessage *msg, char *err, size_t err_size);

/* silk__gw_json_error returns {"code":<code>,"message":"<message>"} as a new string the
 * caller frees with free(), or NULL when memory is exhausted. Bytes of message that are not
 * UTF-8 are replaced. */
char *silk__gw_json_error(silk_status code, const char *message);

/* silk__gw_json_name writes the lowerCamelCase JSON name of a proto field name into out
 * ("business_id" -> "businessId") and returns out; a name that does not fit is cut. */
char *silk__gw_json_name(const char *field_name, char *out, size_t out_size);

#endif /* SILK_GATEWAY_JSON_H */
