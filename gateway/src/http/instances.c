/* instances.c - the registry's instances of the routed services, kept for the console. */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include <silk/log.h>
#include <silk/registry.h>
#include <silk/ws.h>

#include "http/instances.h"
#include "loop/gateway.h"

#define LOG "gateway"

typedef struct silk__gw_instances view;

/* One service's live instances: the JSON array of the last view read, or why there is none. */
typedef struct entry {
    view *view;
    const char *service;
    const char *route; /* NULL for SessionManager */
    bool websocket;
    uint64_t watch;
    bool watched;
    char *instances; /* a JSON array, or NULL */
    const char *error;
} entry;

struct silk__gw_instances {
    silk_registry *reg;
    const char *error;  /* why there is no registry, or NULL */
    pthread_mutex_t mu; /* guards each entry's instances and error */
    size_t n;
    entry *entries;
};

/* list_json returns list as a new JSON array text, or NULL when memory is exhausted. */
static char *list_json(const silk_instance_list *list)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < list->count; i++) {
        const silk_instance *in = &list->items[i];
        json_t *o = json_pack("{s:s,s:s,s:s,s:I,s:I,s:s}", "id", in->id, "address", in->address,
                              "version", in->version ? in->version : "", "weight",
                              (json_int_t)in->weight, "startedMs", (json_int_t)in->started_ms,
                              "gatewayId", in->gateway_id ? in->gateway_id : "");
        if (o == NULL || json_array_append_new(a, o) != 0) {
            json_decref(a);
            a = NULL;
        }
    }
    char *text = a != NULL ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    return text;
}

/* set replaces e's view with instances (taken; NULL: none) and error, under the view's lock. */
static void set(entry *e, char *instances, const char *error)
{
    pthread_mutex_lock(&e->view->mu);
    char *old = e->instances;
    e->instances = instances;
    e->error = error;
    pthread_mutex_unlock(&e->view->mu);
    free(old);
}

/* changed is the watch of one service: its instances changed; on the registry's thread. */
static void changed(void *arg, const char *service, const silk_instance_list *now)
{
    (void)service;
    char *text = list_json(now);
    set(arg, text, text == NULL ? "out of memory" : NULL);
}

/* follow watches e's service, then reads its instances once (a change seen meanwhile by the
 * watch is as new as what it reads). */
static void follow(entry *e)
{
    silk_registry *reg = e->view->reg;
    e->watched = silk_registry_watch(reg, e->service, changed, e, &e->watch) == SILK_OK;
    if (!e->watched)
        silk_log(SILK_LOG_WARN, LOG, "the console cannot watch service=%s", e->service);
    silk_instance_list list = {0};
    silk_status st = silk_registry_resolve(reg, e->service, &list);
    char *text = st == SILK_OK ? list_json(&list) : NULL;
    silk_instance_list_fini(&list);
    pthread_mutex_lock(&e->view->mu);
    bool seen = e->instances != NULL;
    pthread_mutex_unlock(&e->view->mu);
    if (!seen)
        set(e, text, st != SILK_OK ? silk_status_str(st) : text == NULL ? "out of memory" : NULL);
    else
        free(text);
}

static void view_free(view *v)
{
    for (size_t i = 0; i < v->n; i++)
        if (v->entries[i].watched)
            silk_registry_unwatch(v->reg, v->entries[i].watch);
    silk_registry_close(v->reg);
    for (size_t i = 0; i < v->n; i++)
        free(v->entries[i].instances);
    free(v->entries);
    pthread_mutex_destroy(&v->mu);
    free(v);
}

/* view_new makes the entries: every routed service, then SessionManager; NULL without
 * memory. */
static view *view_new(const silk__gw *gw)
{
    view *v = calloc(1, sizeof *v);
    if (v == NULL || (v->entries = calloc(gw->n_services + 1, sizeof *v->entries)) == NULL) {
        free(v);
        return NULL;
    }
    pthread_mutex_init(&v->mu, NULL);
    v->n = gw->n_services + 1;
    for (size_t i = 0; i < gw->n_services; i++)
        v->entries[i] = (entry){.view = v,
                                .service = gw->services[i]->name,
                                .route = gw->services[i]->route,
                                .websocket = gw->services[i]->websocket};
    v->entries[gw->n_services] = (entry){.view = v, .service = SILK_WS_SESSION_MANAGER};
    return v;
}

int silk__gw_instances_start(silk__gw *gw)
{
    view *v = view_new(gw);
    if (v == NULL)
        return -1;
    silk_status st = silk_registry_open(&v->reg, NULL);
    if (st != SILK_OK) {
        silk_log(SILK_LOG_WARN, LOG,
                 "the console shows no instances: cannot open the registry "
                 "status=%s",
                 silk_status_str(st));
        v->reg = NULL;
        v->error = silk_status_str(st);
    }
    for (size_t i = 0; v->reg != NULL && i < v->n; i++)
        follow(&v->entries[i]);
    gw->instances = v;
    return 0;
}

void silk__gw_instances_stop(silk__gw *gw)
{
    if (gw->instances == NULL)
        return;
    view_free(gw->instances);
    gw->instances = NULL;
}

/* entry_json returns e as a new JSON object; NULL without memory. Under the view's lock. */
static json_t *entry_json(const entry *e)
{
    json_t *list = e->instances != NULL ? json_loads(e->instances, 0, NULL) : json_null();
    return json_pack("{s:s,s:s?,s:b,s:o?,s:s?}", "name", e->service, "route", e->route, "websocket",
                     e->websocket, "instances", list, "error", e->error);
}

char *silk__gw_instances_json(silk__gw *gw)
{
    view *v = gw->instances;
    json_t *services = json_array();
    pthread_mutex_lock(&v->mu);
    for (size_t i = 0; services != NULL && i < v->n; i++) {
        json_t *o = entry_json(&v->entries[i]);
        if (o == NULL || json_array_append_new(services, o) != 0) {
            json_decref(services);
            services = NULL;
        }
    }
    pthread_mutex_unlock(&v->mu);
    json_t *doc = json_pack("{s:s?,s:s?,s:o?}", "registry", silk_registry_url(v->reg), "error",
                            v->error, "services", services);
    char *text = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    return text;
}
