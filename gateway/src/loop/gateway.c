/* gateway.c - the gateway process: its shared state, its workers' threads, start and stop. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include <ev.h>

#include <silk/log.h>
#include <silk/ws.h>

#include "http/instances.h"
#include "http/openapi.h"
#include "loop/gateway.h"
#include "loop/loop.h"
#include "loop/upstream.h"
#include "loop/worker.h"
#include "sessions/directory.h"
#include "sessions/push.h"
#include "streams/streams.h"
#include "sessions/session_manager.h"
#include "tls/tls.h"

#define LOG "gateway"

/* The client addresses the limits remember at most (about 64 bytes each). */
#define MAX_PEERS (256 * 1024)

/* gw_init sets up what the loops share: the session table, the per-address limits, the hooks'
 * records, the OpenAPI document and a channel per service. It returns 0, or -1 (logged); gw_fini
 * frees what it made either way. */
static int gw_init(silk__gw *gw)
{
    size_t n = gw->n_services ? gw->n_services : 1;
    silk__mutex_init(&gw->lock);
    silk__mutex_init(&gw->spare_lock);
    atomic_init(&gw->hooks_off, false);
    gw->loops = calloc(gw->opts.workers, sizeof *gw->loops);
    gw->hooks = calloc(n, sizeof *gw->hooks);
    gw->channels = calloc(n, sizeof *gw->channels);
    if (gw->loops == NULL || gw->hooks == NULL || gw->channels == NULL ||
        silk__gw_sessions_init(&gw->sessions) != 0 ||
        silk__gw_peers_init(&gw->peers, gw->opts.rate_limit,
                            gw->opts.rate_burst > 0 ? gw->opts.rate_burst : gw->opts.rate_limit,
                            gw->opts.max_connections_per_ip, MAX_PEERS) != 0) {
        silk_log(SILK_LOG_ERROR, LOG, "out of memory");
        return -1;
    }
    if (gw->opts.openapi || gw->opts.console) {
        char err[512];
        gw->openapi =
            silk__gw_openapi_document(&gw->opts, gw->services, gw->n_services, err, sizeof err);
        if (gw->openapi == NULL) {
            silk_log(SILK_LOG_ERROR, LOG, "cannot make /openapi.json: %s", err);
            return -1;
        }
    }
    for (size_t i = 0; i < gw->n_services; i++) {
        silk_status st = silk_channel_open_service(&gw->channels[i], gw->services[i]);
        if (st != SILK_OK) {
            silk_log(SILK_LOG_ERROR, LOG, "cannot open a channel service=%s status=%s",
                     gw->services[i]->name, silk_status_str(st));
            return -1;
        }
    }
    return 0;
}

static void close_channels(silk__gw *gw)
{
    for (size_t i = 0; gw->channels != NULL && i < gw->n_services; i++)
        silk_channel_close(gw->channels[i]);
    free(gw->channels);
    gw->channels = NULL;
}

/* gw_fini frees what silk__gw_run set up, after the loops are done with it: the loops' own
 * calls fail first, then the channels close (completing what they still had), then each loop
 * runs what that posted and closes. */
static void gw_fini(silk__gw *gw, size_t n_loops)
{
    for (size_t i = 0; i < n_loops; i++) {
        silk__gw_loop_enter(gw->loops[i]); /* this thread works on the loop from now on */
        silk__gw_upstream_fini(gw->loops[i]);
    }
    close_channels(gw);
    for (size_t i = 0; i < n_loops; i++) {
        silk__gw_loop_enter(gw->loops[i]);
        silk__gw_worker_close(gw->loops[i]);
        free(gw->loops[i]);
    }
    free(gw->loops);
    free(gw->hooks);
    free(gw->openapi);
    silk__gw_tls_ctx_free(gw->tls_ctx);
    silk__gw_sessions_fini(&gw->sessions);
    silk__gw_peers_fini(&gw->peers);
    silk__gw_push_spares_fini(gw);
    silk__mutex_destroy(&gw->spare_lock);
    silk__mutex_destroy(&gw->lock);
}

/* open_workers makes the loops; it returns how many it made (all of them, or it failed). */
static size_t open_workers(silk__gw *gw)
{
    size_t n = 0;
    for (; n < gw->opts.workers; n++) {
        silk__gw_loop *l = calloc(1, sizeof *l);
        if (l != NULL)
            silk__gw_loop_enter(l);
        if (l == NULL || silk__gw_worker_open(l, gw, n) != 0) {
            free(l);
            break;
        }
        gw->loops[n] = l;
    }
    return n;
}

static void *worker_thread(void *arg)
{
    silk__gw_loop *l = arg;
    silk__gw_loop_enter(l);
    ev_run(l->ev, 0);
    return NULL;
}

/* run_workers runs loop 0 on this thread and every other on its own, until they all stop. */
static void run_workers(silk__gw *gw)
{
    size_t n = gw->opts.workers;
    for (size_t i = 1; i < n; i++) {
        silk__gw_loop *l = gw->loops[i];
        l->has_thread = pthread_create(&l->thread, NULL, worker_thread, l) == 0;
        if (!l->has_thread)
            silk_log(SILK_LOG_WARN, LOG, "cannot start worker %zu: it will not accept", i);
    }
    silk_log(SILK_LOG_INFO, LOG, "listening on %s:%s id=%s services=%zu workers=%zu tls=%s",
             gw->opts.host, gw->opts.port, gw->opts.id, gw->n_services, n,
             gw->tls_ctx != NULL ? "on" : "off");
    silk__gw_loop_enter(gw->loops[0]); /* loop 0 runs on the main thread */
    ev_run(gw->loops[0]->ev, 0);
    for (size_t i = 1; i < n; i++)
        if (gw->loops[i]->has_thread)
            pthread_join(gw->loops[i]->thread, NULL);
}

int silk__gw_run(const silk__gw_opts *opts, const silk_service_desc *const *services,
                 size_t n_services)
{
    silk__gw gw = {.opts = *opts, .services = services, .n_services = n_services};
    size_t n_loops = 0;
    int code = 1;

    if (gw.opts.workers == 0)
        gw.opts.workers = 1;
    if (gw_init(&gw) != 0 || silk__gw_tls_start(&gw) != 0 ||
        (n_loops = open_workers(&gw)) < gw.opts.workers)
        goto out;
    if (silk__gw_store_start(&gw) != 0) {
        silk_log(SILK_LOG_ERROR, LOG, "cannot keep the streams: out of memory");
        goto out;
    }
    silk_status st = silk__gw_session_manager_start(&gw);
    if (st != SILK_OK) {
        silk_log(SILK_LOG_ERROR, LOG, "cannot serve %s status=%s", SILK_WS_SESSION_MANAGER,
                 silk_status_str(st));
        goto out;
    }
    if (silk__gw_directory_start(&gw) != 0 ||
        (gw.opts.console && silk__gw_instances_start(&gw) != 0)) {
        silk_log(SILK_LOG_ERROR, LOG, "out of memory");
        goto out;
    }
    run_workers(&gw);

    silk__gw_directory_stop(&gw);
    atomic_store(&gw.hooks_off, true);
    silk__gw_session_manager_stop(&gw);
    silk__gw_store_stop(&gw);
    silk_log(SILK_LOG_INFO, LOG, "stopped id=%s", opts->id);
    code = 0;
out:
    silk__gw_instances_stop(&gw);
    silk__gw_directory_stop(&gw);
    atomic_store(&gw.hooks_off, true);
    silk__gw_session_manager_stop(&gw);
    silk__gw_store_stop(&gw);
    gw_fini(&gw, n_loops);
    return code;
}
