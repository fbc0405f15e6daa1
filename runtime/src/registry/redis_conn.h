/* redis_conn.h - what the Redis registry's two files share: its state, and its link to Redis
 * (redis_conn.c) that its operations (backend_redis.c) send their commands through. */
#ifndef SILK_SRC_REDIS_CONN_H
#define SILK_SRC_REDIS_CONN_H

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/mutex.h"
#include "registry/backend.h"

/* Every command's timeout, and the least time between two connection attempts. */
#define SILK__REDIS_TIMEOUT_US 300000
#define SILK__REDIS_RETRY_US   500000

/* silk__redis_view is the last view read of one service. */
typedef struct silk__redis_view {
    char *service;
    silk_instance_list view;
} silk__redis_view;

/* silk__redis_reg is one redis:// registry. */
typedef struct silk__redis_reg {
    char host[256];
    int port;
    int db;
    char user[128]; /* the URL's user, "" for none: AUTH user pass (an ACL user) */
    char pass[256]; /* the URL's password, "" for none: never logged, wiped at close */
    char channel[64];
    const silk__registry_conf *conf;

    silk__mutex mu;          /* guards everything below but sub */
    redisContext *ctx;       /* the command connection; NULL while down */
    int64_t retry_at_us;     /* no connection attempt before this */
    bool down;               /* an outage has been reported */
    bool refused;            /* the last connection attempt was refused its credentials */
    bool connected_before;   /* a connection was made once: the next one is a reconnection */
    int64_t recovered_at_us; /* when the last reconnection was made */
    silk_instance_list mine; /* registered through this handle: what heartbeats rewrite */
    silk__redis_view *cache; /* the last view read per service */
    size_t n_cache;

    redisContext *sub; /* the subscriber: the watcher thread's alone */
    int64_t sub_retry_at_us;
} silk__redis_reg;

/* silk__redis_parse_where reads "//[USER:PASSWORD@]HOST[:PORT][/DB]" into r's user and
 * password (percent-decoded; ":PASSWORD@" alone is a password without a user), host, port
 * (6379 when not given) and db; false when where is not that. */
bool silk__redis_parse_where(silk__redis_reg *r, const char *where);

/* silk__redis_ready makes sure the command connection r->ctx is up, connecting again when
 * Redis closed it or an attempt is due, authenticated with the URL's credentials; false
 * while Redis is down or refuses them (r->refused). r->mu is held. */
bool silk__redis_ready(silk__redis_reg *r);

/* silk__redis_exchange reads into reps the replies of the n commands appended to r->ctx. On a
 * broken connection it drops the connection (warning once per outage), frees what it read
 * and returns false. r->mu is held. */
bool silk__redis_exchange(silk__redis_reg *r, redisReply **reps, int n);

/* silk__redis_free_replies frees the n replies of reps (NULL ones are skipped). */
void silk__redis_free_replies(redisReply **reps, int n);

/* silk__redis_reply_ok tells whether rep is a reply and not an error. */
bool silk__redis_reply_ok(const redisReply *rep);

/* silk__redis_subscribe connects r->sub and subscribes it to r->channel; false, with r->sub
 * NULL, when Redis cannot be reached. On the registry's watcher thread only. */
bool silk__redis_subscribe(silk__redis_reg *r);

#endif /* SILK_SRC_REDIS_CONN_H */
