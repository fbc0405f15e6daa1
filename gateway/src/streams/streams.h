/* streams.h - the gateway's side of per-business streams: where pushes of routes with history
 * are kept, silk.v1 sessions' envelopes, and each session's place in its stream (its welcome,
 * its replay after `since`, gaps filled and repeats dropped). docs/gateway.md, "Streams". */
#ifndef SILK_GATEWAY_STREAMS_H
#define SILK_GATEWAY_STREAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <silk/status.h>

#include "loop/gateway.h"
#include "registry/stream.h"

/* The subprotocol of envelopes, offsets and recovery. */
#define SILK__GW_SUBPROTOCOL_V1 "silk.v1"

/* What a session asked of its stream when it opened (the `since` query parameter). */
typedef struct silk__gw_since {
    bool given;
    char epoch[SILK__STREAM_EPOCH_MAX + 1];
    uint64_t offset;
} silk__gw_since;

/* --- streams/store.c: where the streams live; any thread unless said --- */

/* silk__gw_store_start opens the streams' store: Redis when the registry keeps streams, else
 * this process's memory; and the reader thread that reads ranges for sessions. On the main
 * thread before the loops run: 0, or -1 (logged). */
int silk__gw_store_start(silk__gw *gw);

/* silk__gw_store_stop stops the reader and closes the store, once the loops have stopped. */
void silk__gw_store_stop(silk__gw *gw);

/* silk__gw_store_sweep forgets memory streams idle past their ttl; loop 0, about once a
 * second. */
void silk__gw_store_sweep(silk__gw *gw, double now);

/* silk__gw_history tells whether service (by index) keeps history, and its limits in *lim. */
bool silk__gw_history(const silk__gw *gw, size_t service, silk__stream_limits *lim);

/* silk__gw_history_of_route is silk__gw_history for the service on route ("" or NULL: none). */
bool silk__gw_history_of_route(const silk__gw *gw, const char *route, silk__stream_limits *lim);

/* silk__gw_store_append appends a push to (route, business_id)'s stream in the store, as
 * silk__stream_append does (idem_key NULL for none). */
silk_status silk__gw_store_append(silk__gw *gw, const char *route, const char *business_id,
                                  const silk__stream_limits *lim, const void *data, size_t len,
                                  bool binary, const char *idem_key,
                                  char epoch[SILK__STREAM_EPOCH_MAX + 1], uint64_t *offset,
                                  bool *duplicate);

/* silk__gw_count_append counts a push appended by this gateway, or a repeat of its key. */
void silk__gw_count_append(silk__gw *gw, bool duplicate);

/* silk__gw_count_recovery counts a session that opened with since, and whether it recovered. */
void silk__gw_count_recovery(silk__gw *gw, bool recovered);

/* silk__gw_store_read asks the reader for the entries of c's stream after after (PAGE at most;
 * max 0: its position only); the answer comes back to c's loop as silk__gw_stream_read_done.
 * On c's loop: 0, or -1 when memory is exhausted. */
int silk__gw_store_read(silk__gw_client *c, uint64_t after, size_t max, uint64_t seq);

/* silk__gw_probe_then is what runs when a probe is answered: whether c's since is recovered. */
typedef void silk__gw_probe_then(silk__gw_client *c, bool recovered);

/* silk__gw_store_probe reads the position of c's stream before its session opens, so that
 * OnOpen is told whether its since is recovered: then runs on c's loop with the answer, unless
 * c closed first; c->call holds the probe meanwhile. 0, or -1 when memory is exhausted. */
int silk__gw_store_probe(silk__gw_client *c, const silk__gw_since *since,
                         silk__gw_probe_then *then);

/* --- streams/session.c: a session's stream, on its loop --- */

/* silk__gw_since_parse reads a query's `since=<epoch>:<offset>` into *out: 0 (out->given false
 * when there is none), or -1 when it is malformed. */
int silk__gw_since_parse(const char *query, silk__gw_since *out);

/* silk__gw_stream_open starts c's stream state once its session is open (after the 101): for
 * silk.v1 the welcome, after reading the stream's position and, with since, the replay; for
 * a route with history, its place in the stream. 0, or -1 when memory is exhausted. */
int silk__gw_stream_open(silk__gw_client *c, bool v1, const silk__gw_since *since);

/* silk__gw_stream_close frees c's stream state. */
void silk__gw_stream_close(silk__gw_client *c);

/* silk__gw_stream_push sends c a push: raw, or as an envelope for silk.v1; a push of a stream
 * (offset not 0) in offset order, each once, gaps filled from the store first. */
void silk__gw_stream_push(silk__gw_client *c, const char *epoch, uint64_t offset, int binary,
                          const void *data, size_t len);

/* silk__gw_stream_reply sends c an OnMessage reply: raw, or as {"type":"reply"} for silk.v1. */
void silk__gw_stream_reply(silk__gw_client *c, int binary, const void *data, size_t len);

/* silk__gw_stream_read_done is the reader's answer to c's read seq, on c's loop; r is the
 * caller's. */
void silk__gw_stream_read_done(silk__gw_client *c, uint64_t seq, silk_status st,
                               const silk__stream_range *r);

#endif /* SILK_GATEWAY_STREAMS_H */
