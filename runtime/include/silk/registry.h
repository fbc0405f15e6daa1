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
} silk_instance;

/* silk_instance_list is what silk_registry_resolve fills; free with silk_instance_list_fini. */
typedef struct silk_instance_list {
    size_t count;
    silk_instance *items;
} silk_instance_list;

typedef struct silk_registry silk_registry;

/* silk_registry_open opens the registry named by url: "file:DIR" (the embedded default),
 * or NULL for $SILK_REGISTRY, else "file:$XDG_RUNTIME_DIR/silk", else "file:/tmp/silk-$UID".
 * It returns SILK_INVALID_ARGUMENT for a URL of no known backend and SILK_UNAVAILABLE when
 * the backend cannot be reached (the directory cannot be made). */
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

/* SILK_REGISTRY_TTL_MS is how long a record lives without a heartbeat. */
#define SILK_REGISTRY_TTL_MS 10000

#ifdef __cplusplus
}
#endif

#endif /* SILK_REGISTRY_H */
