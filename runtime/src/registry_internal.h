/* registry_internal.h - the interface every registry backend implements, one file each. */
#ifndef SILK_SRC_REGISTRY_INTERNAL_H
#define SILK_SRC_REGISTRY_INTERNAL_H

#include <stdbool.h>

#include <silk/registry.h>

/* silk__registry_ops is a backend: a const table, set with designated initializers. Names
 * and instances reaching it have been validated; resolve's output is sorted by the caller. */
typedef struct silk__registry_ops {
    const char *scheme; /* the URL scheme it serves: "file" for "file:DIR" */
    /* open connects to what follows "scheme:" in the URL; *datap is the backend's state. */
    silk_status (*open)(void **datap, const char *where);
    void (*close)(void *data);
    silk_status (*reg)(void *data, const silk_instance *inst);
    silk_status (*heartbeat)(void *data, const char *service, const char *id);
    silk_status (*dereg)(void *data, const char *service, const char *id);
    silk_status (*resolve)(void *data, const char *service, silk_instance_list *out);
} silk__registry_ops;

extern const silk__registry_ops silk__registry_file_ops;

/* silk__registry_valid_name tells whether a service name or instance id may be used: not
 * empty, at most 200 bytes, printable ASCII, no '/', no leading '.'. */
bool silk__registry_valid_name(const char *name);

/* silk__instance_list_add appends a copy of inst to list. */
silk_status silk__instance_list_add(silk_instance_list *list, const silk_instance *inst);

#endif /* SILK_SRC_REGISTRY_INTERNAL_H */
