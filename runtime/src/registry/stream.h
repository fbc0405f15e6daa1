/* stream.h - per-(route, business id) streams of pushes, with offsets, an epoch and kept
 * history, so that a client reconnecting with since=<epoch>:<offset> can be replayed what it
 * missed (issue 16; docs/registry.md, "Streams"). */
#ifndef SILK_SRC_REGISTRY_STREAM_H
#define SILK_SRC_REGISTRY_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <silk/registry.h>

/* The longest epoch, without its NUL. The stores make 16 hex digits. */
#define SILK__STREAM_EPOCH_MAX 32

/* The longest route, business id and idempotency key, in bytes: longer ones are refused
 * (SILK_INVALID_ARGUMENT). Any byte but '\0' is allowed in each. */
#define SILK__STREAM_NAME_MAX 255

/* silk__stream_limits says how much of a stream is kept: the last size messages, and the whole
 * stream (its epoch too) until ttl_s seconds after its last append. Neither may be 0. */
typedef struct silk__stream_limits {
    uint32_t size;
    uint32_t ttl_s;
} silk__stream_limits;

/* silk__stream_entry is one message of a stream; data (len bytes, not NUL-terminated) is owned
 * by the range holding the entry. */
typedef struct silk__stream_entry {
    uint64_t offset;
    bool binary;
    size_t len;
    uint8_t *data;
} silk__stream_entry;

/* silk__stream_range is what silk__stream_read reads: the stream's meta and some of its kept
 * entries. A gap - messages lost to trimming - shows as first > after + 1. */
typedef struct silk__stream_range {
    char epoch[SILK__STREAM_EPOCH_MAX + 1];
    uint64_t top;                /* the last offset appended, 0 for none */
    uint64_t first;              /* the oldest offset still kept; top + 1 when none is kept */
    silk__stream_entry *entries; /* offset > after, oldest first */
    size_t n;
} silk__stream_range;

/* silk__stream_range_fini frees r's entries and their data and empties r; r may be empty. */
void silk__stream_range_fini(silk__stream_range *r);

/* silk__stream_check validates the arguments common to both operations: route and business_id
 * not NULL, not empty, at most SILK__STREAM_NAME_MAX bytes; lim not NULL, neither limit 0; and
 * idem_key, when not NULL, not empty and at most SILK__STREAM_NAME_MAX bytes. SILK_OK or
 * SILK_INVALID_ARGUMENT. */
silk_status silk__stream_check(const char *route, const char *business_id,
                               const silk__stream_limits *lim, const char *idem_key);

/* silk__stream_new_epoch writes a new epoch (16 hex digits from the kernel's generator, and a
 * NUL) to epoch. */
void silk__stream_new_epoch(char epoch[SILK__STREAM_EPOCH_MAX + 1]);

/* Both operations below: from any thread; one round trip to the store each. They return
 * SILK_UNIMPLEMENTED when the registry's backend keeps no streams (file: each gateway keeps
 * them in memory, gateway/src/streams/memory.h), SILK_INVALID_ARGUMENT for arguments
 * silk__stream_check refuses, SILK_UNAVAILABLE while the store cannot be reached,
 * SILK_RESOURCE_EXHAUSTED when memory (here or the store's) is short, SILK_INTERNAL when the
 * store refuses the operation (a key of another type in its place), or SILK_OK. */

/* silk__stream_append appends the len bytes of data (a text or, binary, a binary message) to
 * (route, business_id)'s stream under the next offset, which it writes to *offset with the
 * stream's epoch to epoch. The stream keeps its last lim->size messages, and lives lim->ttl_s
 * seconds after its last append. A stream with no meta (new, expired, the store restarted)
 * gets a new epoch, and offsets from 1 again. With idem_key not NULL, a repeat with the same
 * key within lim->ttl_s of the first appends nothing and answers the first's epoch and offset,
 * with *duplicate true; *duplicate is false otherwise. On failure epoch is "" and *offset 0. */
silk_status silk__stream_append(silk_registry *reg, const char *route, const char *business_id,
                                const silk__stream_limits *lim, const void *data, size_t len,
                                bool binary, const char *idem_key,
                                char epoch[SILK__STREAM_EPOCH_MAX + 1], uint64_t *offset,
                                bool *duplicate);

/* silk__stream_read reads (route, business_id)'s epoch, top and first, and its kept entries
 * with offset > after, oldest first, at most max of them (max 0: none, just the meta). A
 * stream with no meta gets a new epoch with top 0 (so that a welcome names an epoch a later
 * append keeps), which expires lim->ttl_s seconds later unless an append comes. out is the
 * caller's, to free with silk__stream_range_fini(), on SILK_OK, and empty otherwise. */
silk_status silk__stream_read(silk_registry *reg, const char *route, const char *business_id,
                              const silk__stream_limits *lim, uint64_t after, size_t max,
                              silk__stream_range *out);

#endif /* SILK_SRC_REGISTRY_STREAM_H */
