/* registry.c - the registry front: picks the backend by URL, validates, sorts what it finds,
 * and runs the watcher thread that tells watchers when a service's instances change. */
#include <limits.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/env.h"
#include "core/mutex.h"
#include "registry/backend.h"
#include "registry/directory.h"
#include "registry/stream.h"
#include "core/thread.h"

/* watcher is one silk_registry_watch: the fingerprint of the view it last saw. */
typedef struct watcher {
    uint64_t id;
    char *service;
    silk_registry_watch_fn fn;
    void *arg;
    uint64_t seen; /* fingerprint of the last view, 0 before one was read */
} watcher;

struct silk_registry {
    const silk__registry_ops *ops;
    void *data;
    char *url;
    silk__registry_conf conf;

    /* The watcher thread, started by the first watch. mu guards the watchers and is held
     * while fn runs, so that unwatch waits for a running fn. */
    silk__mutex mu;
    watcher *watchers;
    size_t n_watchers;
    uint64_t next_id;
    pthread_t thread;
    bool running;
    bool stop;
    int wake[2]; /* writing to wake[1] stops the thread's wait */
};

static const silk__registry_ops *const backends[] = {
    &silk__registry_file_ops,
    &silk__registry_redis_ops,
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

void silk_registry_default_url(char *buf, size_t cap)
{
    const char *env = silk__env_str("SILK_REGISTRY");
    const char *xdg = silk__env_str("XDG_RUNTIME_DIR");
    if (env != NULL)
        snprintf(buf, cap, "%s", env);
    else if (xdg != NULL && xdg[0] == '/')
        snprintf(buf, cap, "file:%s/silk", xdg);
    else
        snprintf(buf, cap, "file:/tmp/silk-%u", (unsigned)getuid());
}

void silk_registry_mask_url(const char *url, char *buf, size_t cap)
{
    if (cap == 0)
        return;
    const char *auth = url != NULL ? strstr(url, "://") : NULL;
    const char *end = auth != NULL ? auth + 3 + strcspn(auth + 3, "/") : NULL;
    const char *at = NULL;
    for (const char *p = auth != NULL ? auth + 3 : NULL; p != NULL && p < end; p++)
        at = *p == '@' ? p : at;
    if (at == NULL) {
        snprintf(buf, cap, "%s", url != NULL ? url : "");
        return;
    }
    /* "scheme://user:password@rest" -> "scheme://user:***@rest"; no ':' hides it all. */
    const char *colon = memchr(auth + 3, ':', (size_t)(at - auth - 3));
    const char *keep = colon != NULL ? colon + 1 : auth + 3;
    snprintf(buf, cap, "%.*s***%s", (int)(keep - url), url, at);
}

static const silk__registry_ops *find_backend(const char *url, const char **where)
{
    const char *colon = strchr(url, ':');
    if (colon == NULL)
        return NULL;
    size_t n = (size_t)(colon - url);
    for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++) {
        if (strlen(backends[i]->scheme) == n && strncmp(backends[i]->scheme, url, n) == 0) {
            *where = colon + 1;
            return backends[i];
        }
    }
    return NULL;
}

silk_status silk_registry_open(silk_registry **regp, const char *url)
{
    char buf[4096];
    if (regp == NULL)
        return SILK_INVALID_ARGUMENT;
    if (url == NULL) {
        silk_registry_default_url(buf, sizeof buf);
        url = buf;
    }
    const char *where = NULL;
    const silk__registry_ops *ops = find_backend(url, &where);
    if (ops == NULL)
        return SILK_INVALID_ARGUMENT;
    char masked[4096];
    silk_registry_mask_url(url, masked, sizeof masked);
    silk_registry *reg = calloc(1, sizeof *reg);
    if (reg == NULL || (reg->url = strdup(masked)) == NULL) {
        free(reg);
        return SILK_RESOURCE_EXHAUSTED;
    }
    long ttl = 0;
    silk__env_long("SILK_REGISTRY_TTL_MS", 0, 3600000, &ttl);
    reg->conf.ttl_ms = ttl >= 300 ? ttl : ttl == 0 ? SILK_REGISTRY_TTL_MS : 300;
    reg->wake[0] = reg->wake[1] = -1;
    reg->next_id = 1;
    silk__mutex_init(&reg->mu);
    silk_status st = ops->open(&reg->data, where, &reg->conf);
    if (st != SILK_OK) {
        silk__mutex_destroy(&reg->mu);
        free(reg->url);
        free(reg);
        return st;
    }
    reg->ops = ops;
    *regp = reg;
    return SILK_OK;
}

static void stop_watcher(silk_registry *reg);

void silk_registry_close(silk_registry *reg)
{
    if (reg == NULL)
        return;
    stop_watcher(reg);
    for (size_t i = 0; i < reg->n_watchers; i++)
        free(reg->watchers[i].service);
    free(reg->watchers);
    reg->ops->close(reg->data);
    silk__mutex_destroy(&reg->mu);
    free(reg->url);
    free(reg);
}

const char *silk_registry_url(const silk_registry *reg)
{
    return reg != NULL ? reg->url : NULL;
}

int64_t silk__registry_ttl(const silk_registry *reg)
{
    return reg->conf.ttl_ms;
}

void silk__registry_set_ttl(silk_registry *reg, int64_t ttl_ms)
{
    reg->conf.ttl_ms = ttl_ms;
}

static bool valid_text(const char *s)
{
    return s == NULL || strpbrk(s, "\n\r") == NULL;
}

silk_status silk_registry_register(silk_registry *reg, const silk_instance *inst)
{
    if (reg == NULL || inst == NULL || !silk__registry_valid_name(inst->service) ||
        !silk__registry_valid_name(inst->id) || inst->address == NULL || inst->address[0] == '\0' ||
        !valid_text(inst->address) || !valid_text(inst->version) || !valid_text(inst->gateway_id))
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

static int by_service_and_id(const void *a, const void *b)
{
    const silk_instance *x = a, *y = b;
    int c = strcmp(x->service, y->service);
    return c != 0 ? c : strcmp(x->id, y->id);
}

/* sorted finishes a list read with status st: sorted by service and id on SILK_OK, emptied
 * otherwise. It returns st. */
static silk_status sorted(silk_status st, silk_instance_list *out)
{
    if (st != SILK_OK)
        silk_instance_list_fini(out);
    else if (out->count > 1)
        qsort(out->items, out->count, sizeof out->items[0], by_service_and_id);
    return st;
}

silk_status silk_registry_resolve(silk_registry *reg, const char *service, silk_instance_list *out)
{
    if (out != NULL)
        *out = (silk_instance_list){0};
    if (reg == NULL || out == NULL || !silk__registry_valid_name(service))
        return SILK_INVALID_ARGUMENT;
    return sorted(reg->ops->resolve(reg->data, service, out), out);
}

silk_status silk_registry_list(silk_registry *reg, silk_instance_list *out)
{
    if (out != NULL)
        *out = (silk_instance_list){0};
    if (reg == NULL || out == NULL)
        return SILK_INVALID_ARGUMENT;
    silk__name_list names = {0};
    silk_status st = reg->ops->services(reg->data, &names);
    for (size_t i = 0; st == SILK_OK && i < names.count; i++) {
        silk_instance_list one;
        if (!silk__registry_valid_name(names.items[i]))
            continue;
        st = silk_registry_resolve(reg, names.items[i], &one);
        for (size_t j = 0; st == SILK_OK && j < one.count; j++)
            st = silk__instance_list_add(out, &one.items[j]);
        silk_instance_list_fini(&one);
    }
    silk__name_list_fini(&names);
    return sorted(st, out);
}

/* ============================== watch ============================== */

/* fingerprint hashes a sorted view (FNV-1a, 64 bits); never 0. */
static uint64_t fingerprint(const silk_instance_list *list)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < list->count; i++) {
        const silk_instance *in = &list->items[i];
        char num[64];
        snprintf(num, sizeof num, "%" PRIu32 ",%" PRId64, in->weight, in->started_ms);
        const char *parts[] = {in->id, in->address, in->version, in->gateway_id, num};
        for (size_t k = 0; k < sizeof parts / sizeof parts[0]; k++) {
            for (const char *p = parts[k]; p != NULL && *p != '\0'; p++)
                h = (h ^ (unsigned char)*p) * 1099511628211ULL;
            h = (h ^ 0xff) * 1099511628211ULL; /* separator */
        }
    }
    return h != 0 ? h : 1;
}

/* check_watchers re-reads every watched service and calls the watchers whose view changed.
 * Called with reg->mu held. A failed read changes nothing. */
static void check_watchers(silk_registry *reg)
{
    SILK__ASSERT_HELD(&reg->mu);
    for (size_t i = 0; i < reg->n_watchers; i++) {
        watcher *w = &reg->watchers[i];
        silk_instance_list now;
        if (silk_registry_resolve(reg, w->service, &now) != SILK_OK)
            continue;
        uint64_t fp = fingerprint(&now);
        if (fp != w->seen) {
            bool first = w->seen == 0;
            w->seen = fp;
            if (!first)
                w->fn(w->arg, w->service, &now);
        }
        silk_instance_list_fini(&now);
    }
}

static bool should_stop(silk_registry *reg)
{
    silk__mutex_lock(&reg->mu);
    bool stop = reg->stop;
    silk__mutex_unlock(&reg->mu);
    return stop;
}

static void *watcher_main(void *arg)
{
    silk_registry *reg = arg;
    while (!should_stop(reg)) {
        if (reg->ops->wait != NULL) {
            reg->ops->wait(reg->data, reg->wake[0], reg->ops->watch_poll_ms);
        } else {
            struct pollfd p = {.fd = reg->wake[0], .events = POLLIN};
            poll(&p, 1, reg->ops->watch_poll_ms);
        }
        silk__mutex_lock(&reg->mu);
        if (!reg->stop)
            check_watchers(reg);
        silk__mutex_unlock(&reg->mu);
    }
    return NULL;
}

/* start_watcher starts the watcher thread once; called with reg->mu held. */
static silk_status start_watcher(silk_registry *reg)
{
    SILK__ASSERT_HELD(&reg->mu);
    if (reg->running)
        return SILK_OK;
    if (pipe2(reg->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        reg->wake[0] = reg->wake[1] = -1;
        return SILK_RESOURCE_EXHAUSTED;
    }
    if (silk__thread_start(&reg->thread, watcher_main, reg) != 0) {
        close(reg->wake[0]);
        close(reg->wake[1]);
        reg->wake[0] = reg->wake[1] = -1;
        return SILK_RESOURCE_EXHAUSTED;
    }
    reg->running = true;
    return SILK_OK;
}

static void stop_watcher(silk_registry *reg)
{
    silk__mutex_lock(&reg->mu);
    bool running = reg->running;
    reg->stop = true;
    silk__mutex_unlock(&reg->mu);
    if (!running)
        return;
    ssize_t n = write(reg->wake[1], "x", 1);
    (void)n;
    pthread_join(reg->thread, NULL);
    close(reg->wake[0]);
    close(reg->wake[1]);
    reg->running = false;
}

silk_status silk_registry_watch(silk_registry *reg, const char *service, silk_registry_watch_fn fn,
                                void *arg, uint64_t *idp)
{
    if (reg == NULL || fn == NULL || idp == NULL || !silk__registry_valid_name(service))
        return SILK_INVALID_ARGUMENT;
    watcher w = {.service = strdup(service), .fn = fn, .arg = arg};
    if (w.service == NULL)
        return SILK_RESOURCE_EXHAUSTED;
    silk_instance_list now; /* the baseline, read before the lock: it may take a while */
    if (silk_registry_resolve(reg, service, &now) == SILK_OK) {
        w.seen = fingerprint(&now);
        silk_instance_list_fini(&now);
    }
    silk__mutex_lock(&reg->mu);
    silk_status st = start_watcher(reg);
    watcher *ws = st == SILK_OK ? realloc(reg->watchers, (reg->n_watchers + 1) * sizeof *ws) : NULL;
    if (ws == NULL) {
        silk__mutex_unlock(&reg->mu);
        free(w.service);
        return st != SILK_OK ? st : SILK_RESOURCE_EXHAUSTED;
    }
    w.id = reg->next_id++;
    reg->watchers = ws;
    reg->watchers[reg->n_watchers++] = w;
    *idp = w.id;
    silk__mutex_unlock(&reg->mu);
    return SILK_OK;
}

void silk_registry_unwatch(silk_registry *reg, uint64_t id)
{
    if (reg == NULL)
        return;
    silk__mutex_lock(&reg->mu);
    for (size_t i = 0; i < reg->n_watchers; i++) {
        if (reg->watchers[i].id != id)
            continue;
        free(reg->watchers[i].service);
        reg->watchers[i] = reg->watchers[--reg->n_watchers];
        break;
    }
    silk__mutex_unlock(&reg->mu);
}

/* ============================== lists and records ============================== */

static void instance_fini(silk_instance *inst)
{
    free(inst->service);
    free(inst->id);
    free(inst->address);
    free(inst->version);
    free(inst->gateway_id);
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
        .gateway_id = strdup(inst->gateway_id != NULL ? inst->gateway_id : ""),
    };
    if (copy->service == NULL || copy->id == NULL || copy->address == NULL ||
        copy->version == NULL || copy->gateway_id == NULL) {
        instance_fini(copy);
        return SILK_RESOURCE_EXHAUSTED;
    }
    list->count++;
    return SILK_OK;
}

silk_status silk__instance_list_copy(silk_instance_list *to, const silk_instance_list *from)
{
    *to = (silk_instance_list){0};
    for (size_t i = 0; i < from->count; i++) {
        if (silk__instance_list_add(to, &from->items[i]) != SILK_OK) {
            silk_instance_list_fini(to);
            return SILK_RESOURCE_EXHAUSTED;
        }
    }
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

silk_status silk__name_list_add(silk__name_list *list, const char *name)
{
    char **items = realloc(list->items, (list->count + 1) * sizeof *items);
    if (items == NULL)
        return SILK_RESOURCE_EXHAUSTED;
    list->items = items;
    if ((items[list->count] = strdup(name)) == NULL)
        return SILK_RESOURCE_EXHAUSTED;
    list->count++;
    return SILK_OK;
}

void silk__name_list_fini(silk__name_list *list)
{
    for (size_t i = 0; i < list->count; i++)
        free(list->items[i]);
    free(list->items);
    *list = (silk__name_list){0};
}

int silk__record_format(char *buf, size_t cap, const silk_instance *inst)
{
    int n = snprintf(buf, cap,
                     "address=%s\nweight=%" PRIu32 "\nversion=%s\nstarted_ms=%" PRId64
                     "\ngateway_id=%s\n",
                     inst->address, inst->weight != 0 ? inst->weight : 1,
                     inst->version != NULL ? inst->version : "", inst->started_ms,
                     inst->gateway_id != NULL ? inst->gateway_id : "");
    return n > 0 && (size_t)n < cap ? n : -1;
}

bool silk__record_parse(char *text, silk_instance *inst)
{
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(line, '=');
        if (eq == NULL)
            continue;
        *eq = '\0';
        char *v = eq + 1;
        if (strcmp(line, "address") == 0)
            inst->address = v;
        else if (strcmp(line, "weight") == 0)
            inst->weight = (uint32_t)strtoul(v, NULL, 10);
        else if (strcmp(line, "version") == 0)
            inst->version = v;
        else if (strcmp(line, "started_ms") == 0)
            inst->started_ms = strtoll(v, NULL, 10);
        else if (strcmp(line, "gateway_id") == 0)
            inst->gateway_id = v;
    }
    return inst->address != NULL && inst->address[0] != '\0';
}

/* ============================== the session directory ============================== */

silk_status silk__directory_set(silk_registry *reg, const char *gateway_id, const char *business,
                                bool present)
{
    if (reg->ops->dir_set == NULL)
        return SILK_UNIMPLEMENTED;
    return reg->ops->dir_set(reg->data, gateway_id, business, present);
}

silk_status silk__directory_sync(silk_registry *reg, const char *gateway_id,
                                 const char *const *businesses, size_t n, int64_t ttl_ms)
{
    if (reg->ops->dir_sync == NULL)
        return SILK_UNIMPLEMENTED;
    return reg->ops->dir_sync(reg->data, gateway_id, businesses, n, ttl_ms);
}

silk_status silk__directory_mark(silk_registry *reg, const char *gateway_id, int64_t ttl_ms,
                                 bool *was_there)
{
    if (reg->ops->dir_mark == NULL)
        return SILK_UNIMPLEMENTED;
    return reg->ops->dir_mark(reg->data, gateway_id, ttl_ms, was_there);
}

silk_status silk__directory_lookup(silk_registry *reg, const char *business,
                                   silk_instance_list *out)
{
    *out = (silk_instance_list){0};
    if (reg->ops->dir_lookup == NULL)
        return SILK_UNIMPLEMENTED;
    silk_status st = reg->ops->dir_lookup(reg->data, business, out);
    if (st != SILK_OK)
        silk_instance_list_fini(out);
    return st;
}

/* ==================================== streams ==================================== */

silk_status silk__stream_append(silk_registry *reg, const char *route, const char *business_id,
                                const silk__stream_limits *lim, const void *data, size_t len,
                                bool binary, const char *idem_key,
                                char epoch[SILK__STREAM_EPOCH_MAX + 1], uint64_t *offset,
                                bool *duplicate)
{
    epoch[0] = '\0';
    *offset = 0;
    *duplicate = false;
    if (reg->ops->stream_append == NULL)
        return SILK_UNIMPLEMENTED;
    silk_status st = silk__stream_check(route, business_id, lim, idem_key);
    if (st != SILK_OK || (data == NULL && len > 0))
        return SILK_INVALID_ARGUMENT;
    st = reg->ops->stream_append(reg->data, route, business_id, lim, data, len, binary, idem_key,
                                 epoch, offset, duplicate);
    if (st != SILK_OK) {
        epoch[0] = '\0';
        *offset = 0;
        *duplicate = false;
    }
    return st;
}

silk_status silk__stream_read(silk_registry *reg, const char *route, const char *business_id,
                              const silk__stream_limits *lim, uint64_t after, size_t max,
                              silk__stream_range *out)
{
    *out = (silk__stream_range){0};
    if (reg->ops->stream_read == NULL)
        return SILK_UNIMPLEMENTED;
    silk_status st = silk__stream_check(route, business_id, lim, NULL);
    if (st != SILK_OK)
        return st;
    st = reg->ops->stream_read(reg->data, route, business_id, lim, after, max, out);
    if (st != SILK_OK)
        silk__stream_range_fini(out);
    return st;
}
