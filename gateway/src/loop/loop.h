/* loop.h - a gateway loop: what its parts share, and the queue other threads hand it work by. */
#ifndef SILK_GATEWAY_LOOP_H
#define SILK_GATEWAY_LOOP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include <silk/loop_channel.h>

#include "core/assert.h"
#include "core/spares.h"
#include "loop/gateway.h"
#include "http/metrics.h"

typedef struct silk__gw_client silk__gw_client;

/* The refused connections a loop lets linger at most; more are closed at once. */
#define SILK__GW_LINGER_MAX 1024

/* silk__gw_loop is one libev loop with the connections it owns. Only its own thread touches
 * it, except the queue, which other threads fill under queue_lock, metrics, which /metrics
 * reads under metrics_lock, and n_clients. */
struct silk__gw_loop {
    silk__gw *gw;
    size_t index; /* in gw->loops */
    pthread_t thread;
    bool has_thread;
    struct ev_loop *ev;
    int listen_fd;
    ev_io accept_w;
    ev_timer accept_pause_w; /* accepting again after running out of descriptors */
    /* Work from other threads: commands (loop/push.c, loop/worker.c) and the runtime's posted
     * completions (loop/upstream.c), run in the order they came, woken by queue_w. */
    ev_async queue_w;
    pthread_mutex_t queue_lock;
    silk_loop_task *queue_head, *queue_tail;
    ev_signal sigterm_w, sigint_w;
    ev_signal sighup_w;         /* loop 0: reload the TLS certificate (tls/tls.c) */
    struct ssl_ctx_st *tls_ctx; /* TLS: the context new connections take, held; NULL: plain */
    ev_timer shutdown_w;
    bool stopping;    /* no new sessions or calls; stop once no connection is left */
    ev_timer sweep_w; /* hibernates idle sessions (silk__gw_client_sweep) */
    silk__gw_client *clients;
    /* Sessions given messages while the queue is run, written to once it is done, so that a
     * session given several sends them together (silk__gw_client_flush). */
    silk__gw_client **dirty;
    size_t n_dirty, cap_dirty;
    atomic_size_t n_clients;
    size_t hook_calls;             /* hook calls in flight: a stopping loop waits for them */
    silk__spares spare_hook_calls; /* finished, for the next ones (ws/hooks.c) */
    silk__spares spare_http_calls; /* finished, for the next ones (http/call.c) */
    silk_loop_channel **upstream;  /* per service, the loop's own connections (upstream.c) */
    silk_ctx *spare_ctx;           /* a ctx for the next call (silk__gw_upstream_ctx) */
    ev_prepare upstream_flush_w;   /* writes the turn's requests before the loop waits */
    pthread_mutex_t metrics_lock;
    silk__gw_metrics metrics;
    /* Connections refused when accepted, answered and half-closed, closed a second later
     * (loop/worker.c): a ring, oldest first. */
    struct {
        int fd;
        ev_tstamp since;
    } lingering[SILK__GW_LINGER_MAX];
    size_t linger_head, n_lingering;
    char rbuf[64 * 1024]; /* what connections read HTTP into */
    char wbuf[16 * 1024]; /* where a response is made when it can be written at once */
};

/* silk__gw_loop_enter makes the calling thread l's: the thread that runs l calls it before
 * ev_run, and the main thread before it opens or closes l. */
void silk__gw_loop_enter(silk__gw_loop *l);

/* silk__gw_loop_is_current tells whether the calling thread last entered l. */
bool silk__gw_loop_is_current(const silk__gw_loop *l);

/* SILK__GW_ASSERT_ON_LOOP(l) checks that a function that must run on l's thread does. */
#define SILK__GW_ASSERT_ON_LOOP(l) SILK__ASSERT(silk__gw_loop_is_current(l))

/* silk__gw_loop_post hands l a task from any thread: l links it into its queue (no allocation:
 * posting cannot fail) and soon calls task->run(task) on its own thread. */
void silk__gw_loop_post(silk__gw_loop *l, silk_loop_task *task);

/* silk__gw_loop_post_list hands l the tasks head..tail, linked through next, at once: one lock
 * and one wake-up for them all. From any thread. */
void silk__gw_loop_post_list(silk__gw_loop *l, silk_loop_task *head, silk_loop_task *tail);

/* silk__gw_loop_run_queue runs the tasks posted to l so far, in the order they came; on l's
 * thread. */
void silk__gw_loop_run_queue(silk__gw_loop *l);

/* silk__gw_loop_maybe_stop ends a stopping loop once no connection and no hook call is left;
 * on l's thread. */
void silk__gw_loop_maybe_stop(silk__gw_loop *l);

#endif /* SILK_GATEWAY_LOOP_H */
