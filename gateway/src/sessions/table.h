/* table.h - the session table: session id -> session, and business id -> sessions per route. */
#ifndef SILK_GATEWAY_SESSIONS_H
#define SILK_GATEWAY_SESSIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* silk__gw_session is one entry. Its strings belong to the table. */
typedef struct silk__gw_session {
    const char *id;
    const char *route; /* shared by the route's sessions */
    const char *business_id;
    void *data; /* the caller's */
    /* The session's loop has begun closing it (conn/client.c sets it, under the gateway's
     * lock): pushes skip it (sessions/push.c). The table itself never reads it. */
    bool closing;
    struct silk__gw_session *id_next;
    struct silk__gw_session *biz_prev, *biz_next;
    struct silk__gw_business *business;
} silk__gw_session;

/* silk__gw_sessions indexes sessions by id, and by (route, business id). Ids and business ids
 * are compared exactly (case matters). It does no locking: the gateway holds its lock. */
typedef struct silk__gw_sessions {
    silk__gw_session **buckets;
    size_t n_buckets; /* a power of two */
    size_t count;
    struct silk__gw_route_index *routes;
    size_t n_routes;
    uint64_t seed; /* keys hash differently in every process */
} silk__gw_sessions;

/* Errors of silk__gw_sessions_add. */
#define SILK__GW_SESSIONS_EXISTS (-1)
#define SILK__GW_SESSIONS_NOMEM  (-2)

/* silk__gw_sessions_init makes an empty table; it returns 0, or SILK__GW_SESSIONS_NOMEM. */
int silk__gw_sessions_init(silk__gw_sessions *t);

/* silk__gw_sessions_fini frees the table and its entries, but not their data. */
void silk__gw_sessions_fini(silk__gw_sessions *t);

/* silk__gw_sessions_add adds a session; the strings are copied, data is kept as it is. It
 * returns 0, SILK__GW_SESSIONS_EXISTS when the id is taken, or SILK__GW_SESSIONS_NOMEM; on error
 * the table is unchanged. */
int silk__gw_sessions_add(silk__gw_sessions *t, const char *id, const char *route,
                          const char *business_id, void *data);

/* silk__gw_sessions_find returns the session with that id, or NULL. The entry lives until it
 * is removed. */
silk__gw_session *silk__gw_sessions_find(const silk__gw_sessions *t, const char *id);

/* silk__gw_sessions_remove removes the session with that id and returns its data, or NULL
 * when there is no such session. */
void *silk__gw_sessions_remove(silk__gw_sessions *t, const char *id);

/* silk__gw_sessions_count returns the number of sessions. */
size_t silk__gw_sessions_count(const silk__gw_sessions *t);

/* silk__gw_session_fn is called for each session found; it must not add or remove sessions. */
typedef void (*silk__gw_session_fn)(silk__gw_session *s, void *arg);

/* silk__gw_sessions_business calls fn for every session of business_id on route, or on every
 * route when route is NULL or "", and returns how many it found. fn may be NULL to count. */
size_t silk__gw_sessions_business(const silk__gw_sessions *t, const char *route,
                                  const char *business_id, silk__gw_session_fn fn, void *arg);

/* silk__gw_business_fn is called with a business id; it must not add or remove sessions. */
typedef void (*silk__gw_business_fn)(const char *business_id, void *arg);

/* silk__gw_sessions_each_business calls fn once for every business with a session, on any
 * route, and returns how many there are. */
size_t silk__gw_sessions_each_business(const silk__gw_sessions *t, silk__gw_business_fn fn,
                                       void *arg);

#endif /* SILK_GATEWAY_SESSIONS_H */
