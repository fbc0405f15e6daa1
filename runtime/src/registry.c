/* registry.c - the registry front: picks the backend by URL, validates, sorts what it finds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "registry_internal.h"

struct silk_registry {
    const silk__registry_ops *ops;
    void *data;
};

static const silk__registry_ops *const backends[] = {
    &silk__registry_file_ops,
};

bool silk__registry_valid_name(const char *name)
{
    if (name == NULL || name[0] == '\0' || name[0] == '.' || strlen(name) > 200)
        return false;
    for (const char *p = name; *p != '\0'; p++) {
        if (*p == '/' || *p <= ' ' || *p > '~')
            return false;
    }
    return true;
}

/* default_url writes the registry URL used when none is given. */
static void default_url(char *buf, size_t cap)
{
    const char *env = getenv("SILK_REGISTRY");
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    if (env != NULL && env[0] != '\0')
        snprintf(buf, cap, "%s", env);
    else if (xdg != NULL && xdg[0] == '/')
        snprintf(buf, cap, "file:%s/silk", xdg);
    else
        snprintf(buf, cap, "file:/tmp/silk-%u", (unsigned)getuid());
}

silk_status silk_registry_open(silk_registry **regp, const char *url)
{
    char buf[4096];
    if (regp == NULL)
        return SILK_INVALID_ARGUMENT;
    if (url == NULL) {
        default_url(buf, sizeof buf);
        url = buf;
    }
    const char *colon = strchr(url, ':');
    if (colon == NULL)
        return SILK_INVALID_ARGUMENT;
    size_t n = (size_t)(colon - url);
    for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++) {
        const silk__registry_ops *ops = backends[i];
        if (strlen(ops->scheme) != n || strncmp(ops->scheme, url, n) != 0)
            continue;
        silk_registry *reg = calloc(1, sizeof *reg);
        if (reg == NULL)
            return SILK_RESOURCE_EXHAUSTED;
        silk_status st = ops->open(&reg->data, colon + 1);
        if (st != SILK_OK) {
            free(reg);
            return st;
        }
        reg->ops = ops;
        *regp = reg;
        return SILK_OK;
    }
    return SILK_INVALID_ARGUMENT;
}

void silk_registry_close(silk_registry *reg)
{
    if (reg == NULL)
        return;
    reg->ops->close(reg->data);
    free(reg);
}

static bool valid_text(const char *s)
{
    return s == NULL || strpbrk(s, "\n\r") == NULL;
}

silk_status silk_registry_register(silk_registry *reg, const silk_instance *inst)
{
    if (reg == NULL || inst == NULL || !silk__registry_valid_name(inst->service) ||
        !silk__registry_valid_name(inst->id) || inst->address == NULL || inst->address[0] == '\0' ||
        !valid_text(inst->address) || !valid_text(inst->version))
        return SILK_INVALID_ARGUMENT;
    return reg->ops->reg(reg->data, inst);
}

silk_status silk_registry_heartbeat(silk_registry *reg, const char *service, const char *id)
{
    if (reg == NULL || !silk__registry_valid_name(service) || !silk__registry_valid_name(id))
        return SILK_INVALID_ARGUMENT;
    return reg->ops->heartbeat(reg->data, service, id);
}

silk_status silk_registry_deregister(silk_registry *reg, const char *service, const char *id)
{
    if (reg == NULL || !silk__registry_valid_name(service) || !silk__registry_valid_name(id))
        return SILK_INVALID_ARGUMENT;
    return reg->ops->dereg(reg->data, service, id);
}

static int by_id(const void *a, const void *b)
{
    return strcmp(((const silk_instance *)a)->id, ((const silk_instance *)b)->id);
}

silk_status silk_registry_resolve(silk_registry *reg, const char *service, silk_instance_list *out)
{
    if (out != NULL)
        *out = (silk_instance_list){0};
    if (reg == NULL || out == NULL || !silk__registry_valid_name(service))
        return SILK_INVALID_ARGUMENT;
    silk_status st = reg->ops->resolve(reg->data, service, out);
    if (st != SILK_OK) {
        silk_instance_list_fini(out);
        return st;
    }
    if (out->count > 1)
        qsort(out->items, out->count, sizeof out->items[0], by_id);
    return SILK_OK;
}

static void instance_fini(silk_instance *inst)
{
    free(inst->service);
    free(inst->id);
    free(inst->address);
    free(inst->version);
}

silk_status silk__instance_list_add(silk_instance_list *list, const silk_instance *inst)
{
    silk_instance *items = realloc(list->items, (list->count + 1) * sizeof *items);
    if (items == NULL)
        return SILK_RESOURCE_EXHAUSTED;
    list->items = items;
    silk_instance *copy = &items[list->count];
    *copy = (silk_instance){
        .service = strdup(inst->service),
        .id = strdup(inst->id),
        .address = strdup(inst->address),
        .weight = inst->weight != 0 ? inst->weight : 1,
        .version = strdup(inst->version != NULL ? inst->version : ""),
        .started_ms = inst->started_ms,
    };
    if (copy->service == NULL || copy->id == NULL || copy->address == NULL ||
        copy->version == NULL) {
        instance_fini(copy);
        return SILK_RESOURCE_EXHAUSTED;
    }
    list->count++;
    return SILK_OK;
}

void silk_instance_list_fini(silk_instance_list *list)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < list->count; i++)
        instance_fini(&list->items[i]);
    free(list->items);
    *list = (silk_instance_list){0};
}
