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

/* The mapping is proto3's JSON mapping, on protobuf-c's descriptors: JSON names written (a
 * field's [json_name] once silk_json_add_names() was told of it, else lowerCamelCase; proto
 * names read too), 64-bit integers as strings, bytes as base64, enums by name, the well-known
 * types' special forms. docs/gateway.md, "The JSON mapping", gives every rule. Every function
 * here is reentrant: any thread, callbacks included, on messages no other thread is
 * changing; silk_json_add_names is for start-up. */

/* silk_json_to_message decodes len bytes of JSON (one value: an object for most messages, a
 * string for a Timestamp, ...) into a new message of desc.
 *
 * Returns SILK_OK with *out the caller's, to free with protobuf_c_message_free_unpacked(*out,
 * NULL). Otherwise *out is NULL, err says what and where ("field \"inner.tags[2]\": expected
 * an integer, got a string") in at most errlen bytes with the NUL (err may be NULL when errlen
 * is 0), and the status is:
 * - SILK_INVALID_ARGUMENT for malformed JSON, an unknown field (named), a field given under
 *   both its names, two members of one oneof, or a value of the wrong type or out of range;
 * - SILK_RESOURCE_EXHAUSTED when memory is exhausted. */
silk_status silk_json_to_message(const ProtobufCMessageDescriptor *desc, const char *json,
                                 size_t len, ProtobufCMessage **out, char *err, size_t errlen);

/* silk_json_to_message_in is silk_json_to_message with the result made through allocator
 * (NULL: malloc, which is silk_json_to_message): the message and all it holds (messages,
 * strings, bytes, repeated fields' arrays, map entries, well-known types) come from
 * allocator->alloc(allocator->allocator_data, size), as protobuf-c's unpack makes its own, so
 * an arena or a per-call pool can hold a request. A repeated field grows by a new array, the
 * old one copied and given to allocator->free (which may do nothing, as an arena's). Only
 * temporaries that never reach the result use malloc, none for a flat message of scalars and
 * short strings (a string of a few hundred bytes, a map of more than a few keys, a message of
 * more than 64 fields, or a text that fails may take some).
 *
 * Returns as silk_json_to_message does, the same status and error for the same text; on
 * SILK_OK *out is the caller's, to free with protobuf_c_message_free_unpacked(*out,
 * allocator) (or to drop with the arena). On failure *out is NULL and what was made on the
 * way has been freed through allocator; the status is SILK_RESOURCE_EXHAUSTED when
 * allocator->alloc returned NULL. allocator is used by this call only, on the calling
 * thread. */
silk_status silk_json_to_message_in(const ProtobufCMessageDescriptor *desc, const char *json,
                                    size_t len, ProtobufCAllocator *allocator,
                                    ProtobufCMessage **out, char *err, size_t errlen);

/* silk_json_from_message encodes msg as compact JSON; strings that are not valid UTF-8 have
 * each bad byte replaced by U+FFFD.
 *
 * Returns SILK_OK with *out a new NUL-terminated string, the caller's to free with free(), and
 * *len (len may be NULL) its length. Otherwise *out is NULL, err says why (as for
 * silk_json_to_message), and the status is SILK_RESOURCE_EXHAUSTED when memory is exhausted
 * or SILK_INTERNAL for a value proto3 JSON cannot write (a Timestamp or Duration out of its
 * range). msg stays the caller's. */
silk_status silk_json_from_message(const ProtobufCMessage *msg, char **out, size_t *len, char *err,
                                   size_t errlen);

/* silk_json_from_message_buf is silk_json_from_message writing into the caller's buf (cap
 * bytes, room for the NUL included; buf may be NULL when cap is 0), to the heap only when the
 * text does not fit: no allocation at all when it does.
 *
 * Returns as silk_json_from_message does, the same text. On SILK_OK *out is buf when the
 * text and its NUL fit in cap bytes, else a new NUL-terminated string (the text so far
 * moved there), the caller's to free with free(): free(*out) when *out != buf. *len (len may
 * be NULL) is its length either way. On failure *out is NULL, nothing is left to free, and
 * buf's bytes are unspecified. buf and msg stay the caller's; any thread, as for
 * silk_json_from_message. */
silk_status silk_json_from_message_buf(const ProtobufCMessage *msg, char *buf, size_t cap,
                                       char **out, size_t *len, char *err, size_t errlen);

/* silk_json_set_field sets one field of msg from its text form, as a URL's path and query
 * parameters give it: name is a field or JSON name, or a dotted path of them through singular
 * message fields ("page.size"; the messages on the way are created). value is read as that
 * field's JSON would be when written as a string: digits for numbers, "true"/"false", an enum
 * name or number, base64 for bytes, RFC 3339 for a Timestamp. A repeated field gets value
 * appended; any other field is replaced.
 *
 * Returns SILK_OK, or, with err set and msg unchanged but for messages created on the way:
 * - SILK_INVALID_ARGUMENT for an unknown name, a map or message field, a bad value, or a
 *   field of a oneof another member of which is set;
 * - SILK_RESOURCE_EXHAUSTED when memory is exhausted.
 * msg must own its fields the way silk_json_to_message's results do (freed by
 * protobuf_c_message_free_unpacked). */
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
