/* server_registry.c - a server in the registry: registering its services, the heartbeat
 * thread that keeps them there, deregistering them when it stops, and the registry its
 * handlers find gateways in (push.c). */
#include <errno.h>
#include <string.h>
#include <time.h>

#include <silk/log.h>

#include "core/clock.h"
#include "core/thread.h"
#include "registry/backend.h"
#include "server/server_internal.h"

static bool is_registered(const silk_service_desc *desc)
{
    /* Every server answers Health: it is not a service to be found by name. */
    return strcmp(desc->name, "silk.health.Health") != 0;
}

static silk_status register_one(silk_server *srv, const silk_service_desc *desc, int64_t started_ms)
{
    silk_instance inst = {
        .service = (char *)desc->name,
        .id = srv->instance_id,
        .address = srv->address,
        .weight = 1,
        .version = "",
        .started_ms = started_ms,
        .gateway_id = srv->gateway_id,
    };
    return silk_registry_register(srv->reg, &inst);
}

static silk_status register_all(silk_server *srv)
{
    silk_status st = silk_registry_open(&srv->reg, srv->registry_url);
    if (st != SILK_OK) {
        char url[512];
        silk_registry_mask_url(srv->registry_url != NULL ? srv->registry_url : "(default)", url,
                               sizeof url);
        silk_log(SILK_LOG_ERROR, "server", "cannot open the registry url=%s status=%s", url,
                 silk_status_str(st));
        return st;
    }
    int64_t now = silk__wall_ms();
    for (size_t i = 0; i < srv->n_services && st == SILK_OK; i++) {
        if (is_registered(srv->services[i].desc))
            st = register_one(srv, srv->services[i].desc, now);
    }
    srv->registered = true;
    if (st == SILK_UNAVAILABLE) {
        /* The store is down (Redis): the backend keeps the records, and the heartbeats write
         * them once it answers. A server that refused to start would need a supervisor to
         * retry what the heartbeat does anyway. */
        silk_log(SILK_LOG_WARN, "server",
                 "registry unreachable: serving, and registering once it answers");
        return SILK_OK;
    }
    if (st != SILK_OK)
        silk_log(SILK_LOG_ERROR, "server", "cannot register status=%s", silk_status_str(st));
    return st;
}

static void heartbeat_all(silk_server *srv)
{
    for (size_t i = 0; i < srv->n_services; i++) {
        const silk_service_desc *d = srv->services[i].desc;
        if (!is_registered(d))
            continue;
        silk_status st = silk_registry_heartbeat(srv->reg, d->name, srv->instance_id);
        if (st == SILK_NOT_FOUND) /* removed as stale after a long pause: come back */
            st = register_one(srv, d, silk__wall_ms());
        silk__metrics_heartbeat(srv->metrics, st == SILK_OK);
        if (st != SILK_OK)
            silk_log(SILK_LOG_WARN, "server", "heartbeat failed service=%s status=%s", d->name,
                     silk_status_str(st));
    }
}

static void *heartbeat_main(void *arg)
{
    silk_server *srv = arg;
    int64_t every_ms = silk__registry_ttl(srv->reg) / 3; /* two may fail within one TTL */
    silk__mutex_lock(&srv->mu);
    while (!srv->heartbeat_stop) {
        struct timespec at;
        clock_gettime(CLOCK_MONOTONIC, &at);
        at.tv_sec += every_ms / 1000;
        at.tv_nsec += (long)(every_ms % 1000) * 1000000;
        if (at.tv_nsec >= 1000000000) {
            at.tv_sec++;
            at.tv_nsec -= 1000000000;
        }
        int rv = 0;
        while (!srv->heartbeat_stop && rv != ETIMEDOUT)
            rv = silk__cond_timedwait(&srv->cv, &srv->mu, &at);
        if (srv->heartbeat_stop)
            break;
        silk__mutex_unlock(&srv->mu);
        heartbeat_all(srv);
        silk__mutex_lock(&srv->mu);
    }
    silk__mutex_unlock(&srv->mu);
    return NULL;
}

void silk__server_deregister(silk_server *srv)
{
    if (srv->heartbeat_running) {
        silk__mutex_lock(&srv->mu);
        srv->heartbeat_stop = true;
        pthread_cond_broadcast(&srv->cv);
        silk__mutex_unlock(&srv->mu);
        pthread_join(srv->heartbeat, NULL);
        srv->heartbeat_running = false;
    }
    for (size_t i = 0; srv->registered && i < srv->n_services; i++) {
        if (is_registered(srv->services[i].desc))
            silk_registry_deregister(srv->reg, srv->services[i].desc->name, srv->instance_id);
    }
    srv->registered = false;
}

silk_status silk__server_registry(silk_server *srv, silk_registry **regp)
{
    silk__mutex_lock(&srv->mu);
    silk_registry *reg = srv->reg;
    silk__mutex_unlock(&srv->mu);
    if (reg != NULL) {
        *regp = reg;
        return SILK_OK;
    }
    /* A server that does not register opens its registry on first use, outside its lock:
     * opening a Redis registry may wait for a connection. */
    silk_status st = silk_registry_open(&reg, srv->registry_url);
    if (st != SILK_OK)
        return st;
    silk__mutex_lock(&srv->mu);
    if (srv->reg == NULL) {
        srv->reg = reg;
        reg = NULL;
    }
    *regp = srv->reg;
    silk__mutex_unlock(&srv->mu);
    silk_registry_close(reg); /* another handler's open came first */
    return SILK_OK;
}

void silk__server_close_registry(silk_server *srv)
{
    silk_registry_close(srv->reg);
    srv->reg = NULL;
}

silk_status silk__server_register(silk_server *srv)
{
    silk_status st = register_all(srv);
    if (st != SILK_OK)
        return st;
    if (silk__thread_start(&srv->heartbeat, heartbeat_main, srv) != 0)
        return SILK_RESOURCE_EXHAUSTED;
    srv->heartbeat_running = true;
    return SILK_OK;
}
