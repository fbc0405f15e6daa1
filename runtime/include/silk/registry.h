/* registry.h - where instances of services are recorded and found by name. */
#ifndef SILK_REGISTRY_H
#define SILK_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include <silk/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/* silk_instance is one running instance of a service. */
typedef struct silk_instance {
    char *service;      /* full service name, "wstest.WsTest" */
    char *id;           /* instance id, unique per service; a gateway's is its gateway id */
    char *address;      /* nng address, "tcp://127.0.0.1:40123" */
    uint32_t weight;    /* load-balancing weight, 1 by default */
    char *version;      /* the service's version string, may be "" */
    int64_t started_ms; /* start time, milliseconds since the epoch */
    char *gateway_id;   /* a gateway's SessionManager: its gateway id; else "" (NULL on input) */
} silk_instance;

/* silk_instance_list is what silk_registry_resolve fills; free with silk_instance_list_fini. */
typedef struct silk_instance_list {
    size_t count;
    silk_instance *items;
} silk_instance_list;

typedef struct silk_registry silk_registry;

/* silk_registry_open opens the registry named by url: "file:DIR" (the embedded default),
 * "redis://HOST:PORT[/DB]", or NULL for $SILK_REGISTRY, else "file:$XDG_RUNTIME_DIR/silk",
 * else "file:/tmp/silk-$UID". It returns SILK_INVALID_ARGUMENT for a URL of no known backend
 * and SILK_UNAVAILABLE when a file registry's directory cannot be made. A Redis that cannot
 * be reached is no error here: the registry reconnects by itself (see docs/registry.md). */
silk_status silk_registry_open(silk_registry **regp, const char *url);

/* silk_registry_close closes the registry; it does not deregister anything. NULL ignored. */
void silk_registry_close(silk_registry *reg);

/* silk_registry_register records inst (copied) until silk_registry_deregister or until its
 * TTL runs out without a heartbeat (silk_registry_heartbeat). */
silk_status silk_registry_register(silk_registry *reg, const silk_instance *inst);

/* silk_registry_heartbeat tells the registry that the instance is still alive. */
silk_status silk_registry_heartbeat(silk_registry *reg, const char *service, const char *id);

/* silk_registry_deregister removes an instance; removing an absent one is SILK_OK. */
silk_status silk_registry_deregister(silk_registry *reg, const char *service, const char *id);

/* silk_registry_resolve fills out with the live instances of service, ordered by id; none
 * is SILK_OK with out->count 0. The caller frees out with silk_instance_list_fini. */
silk_status silk_registry_resolve(silk_registry *reg, const char *service, silk_instance_list *out);

/* silk_instance_list_fini frees what a list holds and empties it. */
void silk_instance_list_fini(silk_instance_list *list);

/* silk_registry_list fills out with the live instances of every service, ordered by service
 * then id (silk-ctl list). The caller frees out with silk_instance_list_fini. */
silk_status silk_registry_list(silk_registry *reg, silk_instance_list *out);

/* silk_registry_watch_fn is called on the registry's watcher thread when the live instances
 * of a watched service have changed (registered, deregistered, expired, record replaced);
 * now is the new view, sorted by id, valid during the call only. It must return soon and
 * must not call silk_registry_watch, silk_registry_unwatch or silk_registry_close; it may
 * call silk_registry_resolve. */
typedef void (*silk_registry_watch_fn)(void *arg, const char *service,
                                       const silk_instance_list *now);

/* silk_registry_watch calls fn(arg, service, now) after every change of service's live
 * instances, seen within a second (at once for Redis, which publishes changes), until
 * silk_registry_unwatch(reg, *idp). The view when watch returns is the baseline: fn is not
 * called for it. A channel's resolver thread uses it to wake at once: fn locks the channel,
 * marks it due and signals its condition variable (see docs/registry.md, "Watch"). */
silk_status silk_registry_watch(silk_registry *reg, const char *service, silk_registry_watch_fn fn,
                                void *arg, uint64_t *idp);

/* silk_registry_unwatch stops a watch; once it returns, its fn is not running and is never
 * called again. The caller must not hold a lock that fn takes. Unknown ids are ignored. */
void silk_registry_unwatch(silk_registry *reg, uint64_t id);

/* silk_registry_url returns the URL the registry was opened with (the default filled in). */
const char *silk_registry_url(const silk_registry *reg);

/* silk_registry_default_url writes the URL silk_registry_open(NULL) would open into buf. */
void silk_registry_default_url(char *buf, size_t cap);

/* SILK_REGISTRY_TTL_MS is how long a record lives without a heartbeat; a server heartbeats
 * every SILK_REGISTRY_HEARTBEAT_MS. */
#define SILK_REGISTRY_TTL_MS       10000
#define SILK_REGISTRY_HEARTBEAT_MS (SILK_REGISTRY_TTL_MS / 3)

#ifdef __cplusplus
}
#endif

#endif /* SILK_REGISTRY_H */
