/* backend.h - the interface every registry backend implements, one file each. */
#ifndef SILK_SRC_REGISTRY_INTERNAL_H
#define SILK_SRC_REGISTRY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <silk/registry.h>

#include "registry/stream.h"

/* silk__registry_conf is what the front tells a backend; it lives as long as the registry. */
typedef struct silk__registry_conf {
    int64_t ttl_ms; /* SILK_REGISTRY_TTL_MS; tests shorten it */
} silk__registry_conf;

/* silk__name_list is a list of names (service names) a backend fills. */
typedef struct silk__name_list {
    size_t count;
    char **items;
} silk__name_list;

/* silk__registry_ops is a backend: a const table, set with designated initializers. Names
 * and instances reaching it have been validated; resolve's output is sorted by the caller.
 * Every function may be called from several threads at once. */
typedef struct silk__registry_ops {
    const char *scheme; /* the URL scheme it serves: "file" for "file:DIR" */
    /* open connects to what follows "scheme:" in the URL; *datap is the backend's state. */
    silk_status (*open)(void **datap, const char *where, const silk__registry_conf *conf);
    void (*close)(void *data);
    silk_status (*reg)(void *data, const silk_instance *inst);
    silk_status (*heartbeat)(void *data, const char *service, const char *id);
    silk_status (*dereg)(void *data, const char *service, const char *id);
    silk_status (*resolve)(void *data, const char *service, silk_instance_list *out);
    /* services fills out with the names of the services that may have instances. */
    silk_status (*services)(void *data, silk__name_list *out);
    /* wait, when set, returns once a change may have happened (a notification came), once
     * stop_fd is readable, or after timeout_ms; only the watcher thread calls it. Without
     * it the watcher polls every watch_poll_ms. */
    void (*wait)(void *data, int stop_fd, int timeout_ms);
    int watch_poll_ms; /* how often the watcher re-reads watched services at the latest */
    /* The session directory (registry/directory.h), NULL in a backend that keeps none. */
    silk_status (*dir_set)(void *data, const char *gateway_id, const char *business, bool present);
    silk_status (*dir_sync)(void *data, const char *gateway_id, const char *const *businesses,
                            size_t n, int64_t ttl_ms);
    silk_status (*dir_mark)(void *data, const char *gateway_id, int64_t ttl_ms, bool *was_there);
    silk_status (*dir_lookup)(void *data, const char *business, silk_instance_list *out);
    /* The streams (registry/stream.h), NULL in a backend that keeps none. Their arguments have
     * been checked (silk__stream_check); out parameters are cleared beforehand. */
    silk_status (*stream_append)(void *data, const char *route, const char *business_id,
                                 const silk__stream_limits *lim, const void *msg, size_t len,
                                 bool binary, const char *idem_key,
                                 char epoch[SILK__STREAM_EPOCH_MAX + 1], uint64_t *offset,
                                 bool *duplicate);
    silk_status (*stream_read)(void *data, const char *route, const char *business_id,
                               const silk__stream_limits *lim, uint64_t after, size_t max,
                               silk__stream_range *out);
} silk__registry_ops;

extern const silk__registry_ops silk__registry_file_ops;
extern const silk__registry_ops silk__registry_redis_ops;

/* The Redis backend's directory (directory_redis.c). */
silk_status silk__redis_dir_set(void *data, const char *gateway_id, const char *business,
                                bool present);
silk_status silk__redis_dir_sync(void *data, const char *gateway_id, const char *const *businesses,
                                 size_t n, int64_t ttl_ms);
silk_status silk__redis_dir_mark(void *data, const char *gateway_id, int64_t ttl_ms,
                                 bool *was_there);
silk_status silk__redis_dir_lookup(void *data, const char *business, silk_instance_list *out);

/* The Redis backend's streams (stream_redis.c). */
silk_status silk__redis_stream_append(void *data, const char *route, const char *business_id,
                                      const silk__stream_limits *lim, const void *msg, size_t len,
                                      bool binary, const char *idem_key,
                                      char epoch[SILK__STREAM_EPOCH_MAX + 1], uint64_t *offset,
                                      bool *duplicate);
silk_status silk__redis_stream_read(void *data, const char *route, const char *business_id,
                                    const silk__stream_limits *lim, uint64_t after, size_t max,
                                    silk__stream_range *out);

/* silk__registry_valid_name tells whether a service name or instance id may be used: not
 * empty, at most 200 bytes, printable ASCII, no '/', no leading '.'. */
bool silk__registry_valid_name(const char *name);

/* silk__instance_list_add appends a copy of inst to list. */
silk_status silk__instance_list_add(silk_instance_list *list, const silk_instance *inst);

/* silk__instance_list_copy makes *to a deep copy of from. */
silk_status silk__instance_list_copy(silk_instance_list *to, const silk_instance_list *from);

/* silk__name_list_add appends a copy of name; silk__name_list_fini frees the list. */
silk_status silk__name_list_add(silk__name_list *list, const char *name);
void silk__name_list_fini(silk__name_list *list);

/* silk__record_format writes an instance's record (address, weight, version, started_ms,
 * gateway_id as key=value lines) into buf; the length, or -1 when it does not fit. */
int silk__record_format(char *buf, size_t cap, const silk_instance *inst);

/* silk__record_parse fills inst's record fields from text (modified in place; inst points
 * into it); false when it has no address. */
bool silk__record_parse(char *text, silk_instance *inst);

/* silk__registry_ttl returns how long an open registry's records live without a heartbeat:
 * $SILK_REGISTRY_TTL_MS (at least 300), else SILK_REGISTRY_TTL_MS. */
int64_t silk__registry_ttl(const silk_registry *reg);

/* silk__registry_set_ttl shortens (tests) the TTL of an open registry's records. */
void silk__registry_set_ttl(silk_registry *reg, int64_t ttl_ms);

#endif /* SILK_SRC_REGISTRY_INTERNAL_H */
