/* memory.h - the streams of pushes (runtime/src/registry/stream.h) kept in one gateway's memory,
 * for the file registry, whose backend keeps none: the same two operations, same meanings. */
#ifndef SILK_GATEWAY_STREAMS_MEMORY_H
#define SILK_GATEWAY_STREAMS_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "registry/stream.h"

/* silk__gw_streams is one process's streams, by (route, business id), and idempotency keys.
 * Every function but new, free and set_clock may be called from several threads at once (one
 * mutex; none waits for anything else while holding it). A stream keeps at most lim->size
 * messages (copies), and is forgotten, epoch and all, lim->ttl_s seconds after its last append;
 * an idempotency key, lim->ttl_s seconds after the append it names. */
typedef struct silk__gw_streams silk__gw_streams;

/* silk__gw_streams_new makes an empty store on the clock of ev_time() (wall-clock seconds);
 * NULL when memory is short. */
silk__gw_streams *silk__gw_streams_new(void);

/* silk__gw_streams_free frees s and everything in it; s may be NULL. No call may be running. */
void silk__gw_streams_free(silk__gw_streams *s);

/* silk__gw_streams_set_clock makes now() s's clock, in seconds (tests: a fake one); before s is
 * shared. */
void silk__gw_streams_set_clock(silk__gw_streams *s, double (*now)(void));

/* silk__gw_streams_append is silk__stream_append (registry/stream.h) on s: SILK_OK,
 * SILK_INVALID_ARGUMENT or SILK_RESOURCE_EXHAUSTED (s is unchanged then). */
silk_status silk__gw_streams_append(silk__gw_streams *s, const char *route, const char *business_id,
                                    const silk__stream_limits *lim, const void *data, size_t len,
                                    bool binary, const char *idem_key,
                                    char epoch[SILK__STREAM_EPOCH_MAX + 1], uint64_t *offset,
                                    bool *duplicate);

/* silk__gw_streams_range is silk__stream_read on s: SILK_OK, with out the caller's (to free
 * with silk__stream_range_fini), or SILK_INVALID_ARGUMENT or SILK_RESOURCE_EXHAUSTED, with out
 * empty. */
silk_status silk__gw_streams_range(silk__gw_streams *s, const char *route, const char *business_id,
                                   const silk__stream_limits *lim, uint64_t after, size_t max,
                                   silk__stream_range *out);

/* silk__gw_streams_sweep frees the streams idle past their ttl at now (s's clock) - their epoch
 * is lost: a later append or range makes a new one - and the expired idempotency keys. The
 * other calls never see an expired one anyway; this gives back their memory. About once a
 * second, from the gateway's loop 0; it costs O(log n) an item freed. */
void silk__gw_streams_sweep(silk__gw_streams *s, double now);

#endif /* SILK_GATEWAY_STREAMS_MEMORY_H */
