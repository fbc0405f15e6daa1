/* peers.h - what the gateway keeps per client address: a token bucket for its requests and its
 * count of open connections, in a table the loops share. */
#ifndef SILK_GATEWAY_PEERS_H
#define SILK_GATEWAY_PEERS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "limits/address.h"

/* silk__gw_bucket is a token bucket: it fills at rate tokens a second up to burst, and a
 * request takes one. It may go below zero (a session's messages read before it paused): the
 * debt is paid before the next one. */
typedef struct silk__gw_bucket {
    double tokens;
    double stamp; /* when tokens was last brought up to date, ev_time() seconds */
} silk__gw_bucket;

/* silk__gw_bucket_init fills b up to burst at now. */
void silk__gw_bucket_init(silk__gw_bucket *b, double burst, double now);

/* silk__gw_bucket_take takes a token from b. It returns 0 when one was there, or the seconds
 * until one will be (b is unchanged then). */
double silk__gw_bucket_take(silk__gw_bucket *b, double rate, double burst, double now);

/* silk__gw_bucket_spend takes a token even when none is there, and returns the seconds until
 * b holds one again: 0 when it does now. */
double silk__gw_bucket_spend(silk__gw_bucket *b, double rate, double burst, double now);

/* What silk__gw_peers keeps of one address. Entries live in the table; an entry with
 * connections is never freed, so a connection may keep a pointer to its own. */
typedef struct silk__gw_peer silk__gw_peer;

/* The table's shards: each has its own lock, so that loops seldom wait for each other. */
#define SILK__GW_PEER_SHARDS 16

typedef struct silk__gw_peer_shard {
    pthread_mutex_t lock;
    silk__gw_peer **slots; /* chains, by hash */
    size_t n_slots, n;
} silk__gw_peer_shard;

typedef struct silk__gw_peers {
    double rate, burst;     /* requests a second and the burst, per address; rate 0: none */
    size_t max_connections; /* per address; 0: any number */
    size_t max_entries;     /* addresses kept at most (per shard: a 16th) */
    size_t sweep_next;      /* the shard the next sweep looks at */
    silk__gw_peer_shard shards[SILK__GW_PEER_SHARDS];
} silk__gw_peers;

/* silk__gw_peers_init prepares a table for limits rate/burst (rate 0: none) and max_connections
 * (0: none) with room for max_entries addresses. It returns 0, or -1 when memory is exhausted. */
int silk__gw_peers_init(silk__gw_peers *t, double rate, double burst, size_t max_connections,
                        size_t max_entries);

/* silk__gw_peers_fini frees the table. */
void silk__gw_peers_fini(silk__gw_peers *t);

/* silk__gw_peers_active tells whether any limit is set (the table is used at all). */
bool silk__gw_peers_active(const silk__gw_peers *t);

/* What silk__gw_peers_connect says of a new connection. */
typedef enum silk__gw_peer_verdict {
    SILK__GW_PEER_OK,        /* counted; its first request is paid for */
    SILK__GW_PEER_LIMITED,   /* counted, but over the rate: answer its first request with 429 */
    SILK__GW_PEER_FULL,      /* over max_connections: not counted, refuse it */
    SILK__GW_PEER_UNTRACKED, /* the table is full: served without limits, not counted */
} silk__gw_peer_verdict;

/* silk__gw_peers_connect counts a new connection from addr (a key: silk__gw_addr_key) and takes
 * a token for it. *out is its entry, for silk__gw_peers_take_at and silk__gw_peers_disconnect,
 * when the verdict is OK or LIMITED, else NULL. *retry_after is the seconds a LIMITED client
 * should wait. From any thread. */
silk__gw_peer_verdict silk__gw_peers_connect(silk__gw_peers *t, const silk__gw_addr *addr,
                                             double now, silk__gw_peer **out, double *retry_after);

/* silk__gw_peers_disconnect uncounts a connection silk__gw_peers_connect counted. */
void silk__gw_peers_disconnect(silk__gw_peers *t, silk__gw_peer *p);

/* silk__gw_peers_take_at takes a request token from a connection's own entry: 0, or the
 * seconds until there will be one. */
double silk__gw_peers_take_at(silk__gw_peers *t, silk__gw_peer *p, double now);

/* silk__gw_peers_take takes a request token for addr (a key), which no connection of this
 * table need hold (a client behind a trusted proxy): 0, or the seconds until there will be one.
 * A full table lets the request through. */
double silk__gw_peers_take(silk__gw_peers *t, const silk__gw_addr *addr, double now);

/* silk__gw_peers_sweep forgets, in one shard per call, the addresses with no connection whose
 * bucket has filled up again: remembering them would change nothing. */
void silk__gw_peers_sweep(silk__gw_peers *t, double now);

#endif /* SILK_GATEWAY_PEERS_H */
