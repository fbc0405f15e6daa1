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

/* silk_registry is opaque: one backend, chosen by URL (docs/registry.md). Every function but
 * silk_registry_close may be called from several threads at once on one registry. They wait
 * on the backend's I/O (Redis: at most 300 ms a command), so not on nng's threads. */
typedef struct silk_registry silk_registry;

/* silk_registry_open opens the registry named by url: "file:DIR" (the embedded default),
 * "redis://[USER:PASSWORD@]HOST[:PORT][/DB]" (AUTH USER PASSWORD, or AUTH PASSWORD for
 * ":PASSWORD@"; percent-encoded), or NULL for $SILK_REGISTRY, else
 * "file:$XDG_RUNTIME_DIR/silk", else "file:/tmp/silk-$UID".
 *
 * Returns SILK_OK with *regp the caller's, to close with silk_registry_close(), or:
 * - SILK_INVALID_ARGUMENT when regp is NULL or url is of no known backend or malformed;
 * - SILK_UNAUTHENTICATED when Redis refuses the URL's credentials (or wants some);
 * - SILK_UNAVAILABLE when a file registry's directory cannot be made;
 * - SILK_RESOURCE_EXHAUSTED when memory is exhausted.
 * A Redis that cannot be reached is no error: the registry connects when it can. */
silk_status silk_registry_open(silk_registry **regp, const char *url);

/* silk_registry_close stops its watches and closes the registry; it deregisters nothing.
 * NULL is ignored. Not while another thread uses reg, nor from a watch function. */
void silk_registry_close(silk_registry *reg);

/* silk_registry_register records a copy of inst until silk_registry_deregister(), or until
 * its TTL (SILK_REGISTRY_TTL_MS) runs out without a heartbeat.
 *
 * Returns SILK_OK, or SILK_INVALID_ARGUMENT when reg or inst is NULL, its service or id is
 * not a valid name (printable ASCII, no '/', no leading '.', at most 200 bytes), its address
 * is empty, or a value holds a line break, or SILK_UNAVAILABLE when the backend cannot write
 * it (a file error, Redis unreachable). inst stays the caller's. */
silk_status silk_registry_register(silk_registry *reg, const silk_instance *inst);

/* silk_registry_heartbeat tells the registry that an instance is still alive.
 *
 * Returns SILK_OK, or SILK_INVALID_ARGUMENT for NULL reg or an invalid name, SILK_NOT_FOUND
 * when the record is gone (expired: register it again), or SILK_UNAVAILABLE when the
 * backend cannot be reached. */
silk_status silk_registry_heartbeat(silk_registry *reg, const char *service, const char *id);

/* silk_registry_deregister removes an instance.
 *
 * Returns SILK_OK, also when it was absent, or SILK_INVALID_ARGUMENT for NULL reg or an
 * invalid name, or SILK_UNAVAILABLE when the backend cannot be reached. */
silk_status silk_registry_deregister(silk_registry *reg, const char *service, const char *id);

/* silk_registry_resolve fills out with the live instances of service, ordered by id.
 *
 * Returns SILK_OK with out the caller's, to free with silk_instance_list_fini() (none is
 * SILK_OK with out->count 0), or, with out empty: SILK_INVALID_ARGUMENT for NULL reg or out or
 * an invalid name, SILK_UNAVAILABLE when the backend cannot be read and has no view of the
 * service to serve meanwhile, SILK_RESOURCE_EXHAUSTED when memory is exhausted. */
silk_status silk_registry_resolve(silk_registry *reg, const char *service, silk_instance_list *out);

/* silk_instance_list_fini frees what a list holds and empties it. NULL is ignored. */
void silk_instance_list_fini(silk_instance_list *list);

/* silk_registry_list fills out with the live instances of every service, ordered by service
 * then id (silk-ctl list).
 *
 * Returns what silk_registry_resolve() returns, out likewise. */
silk_status silk_registry_list(silk_registry *reg, silk_instance_list *out);

/* silk_registry_watch_fn is called on the registry's watcher thread after a watched
 * service's live instances changed (registered, deregistered, expired, record replaced); now
 * is the new view, sorted by id, valid during the call only. It must return soon and must not
 * call silk_registry_watch, silk_registry_unwatch or silk_registry_close; it may call
 * silk_registry_resolve. */
typedef void (*silk_registry_watch_fn)(void *arg, const char *service,
                                       const silk_instance_list *now);

/* silk_registry_watch calls fn(arg, service, now) after every change of service's live
 * instances, seen within a second (at once for Redis, which publishes changes), until
 * silk_registry_unwatch(reg, *idp). The view when it returns is the baseline: fn is not
 * called for it. docs/registry.md, "Watch", shows how a channel uses it.
 *
 * Returns SILK_OK with the watch's id in *idp, or SILK_INVALID_ARGUMENT when reg, fn or idp
 * is NULL or service is an invalid name, or SILK_RESOURCE_EXHAUSTED when memory or the
 * watcher thread is not to be had. */
silk_status silk_registry_watch(silk_registry *reg, const char *service, silk_registry_watch_fn fn,
                                void *arg, uint64_t *idp);

/* silk_registry_unwatch stops a watch; unknown ids (and NULL reg) are ignored. Once it
 * returns, its fn is not running and is never called again, so the caller must not hold a
 * lock that fn takes. */
void silk_registry_unwatch(silk_registry *reg, uint64_t id);

/* silk_registry_url returns the URL the registry was opened with, the default filled in and
 * any password masked (silk_registry_mask_url), or NULL for NULL. The string is the
 * registry's. */
const char *silk_registry_url(const silk_registry *reg);

/* silk_registry_mask_url writes url into buf (cap bytes with the NUL) with the password of
 * its user information replaced by "***" ("redis://u:***@host:6379/0"), so that it may be
 * logged or printed; a URL without one is copied as it is, cut to fit. */
void silk_registry_mask_url(const char *url, char *buf, size_t cap);

/* silk_registry_default_url writes the URL silk_registry_open(NULL) would open into buf,
 * cut to cap bytes with the NUL. */
void silk_registry_default_url(char *buf, size_t cap);

/* SILK_REGISTRY_TTL_MS is how long a record lives without a heartbeat; a server heartbeats
 * every SILK_REGISTRY_HEARTBEAT_MS. */
#define SILK_REGISTRY_TTL_MS       10000
#define SILK_REGISTRY_HEARTBEAT_MS (SILK_REGISTRY_TTL_MS / 3)

#ifdef __cplusplus
}
#endif

#endif /* SILK_REGISTRY_H */
