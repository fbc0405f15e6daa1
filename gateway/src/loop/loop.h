/* loop.h - a gateway loop and its client connections: what gateway.c and the connection's files
 * (conn_internal.h) share. */
#ifndef SILK_GATEWAY_LOOP_H
#define SILK_GATEWAY_LOOP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include <silk/loop_channel.h>

#include "loop/gateway.h"
#include "http/metrics.h"

typedef struct silk__gw_client silk__gw_client;

/* A message for one or more sessions, shared by the commands that carry it. */
typedef struct silk__gw_payload {
    atomic_int refs;
    int binary;
    size_t len;
    char data[];
} silk__gw_payload;

typedef enum silk__gw_cmd_kind {
    SILK__GW_CMD_SEND,     /* queue payload on session_id */
    SILK__GW_CMD_CLOSE,    /* close session_id with code and reason */
    SILK__GW_CMD_SHUTDOWN, /* begin shutting down (again: stop now) */
} silk__gw_cmd_kind;

/* A command handed to a loop from another thread through its inbox. */
typedef struct silk__gw_cmd {
    struct silk__gw_cmd *next;
    silk__gw_cmd_kind kind;
    char session_id[SILK__GW_SESSION_ID_MAX + 1];
    silk__gw_payload *payload;
    uint16_t code;
    char reason[124];
} silk__gw_cmd;

/* silk__gw_loop is one libev loop with the connections it owns. Only its own thread touches
 * it, except the inbox, which other threads fill under inbox_lock, metrics, which /metrics
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
    ev_async inbox_w;
    pthread_mutex_t inbox_lock;
    silk__gw_cmd *inbox_head, *inbox_tail;
    ev_signal sigterm_w, sigint_w;
    ev_timer shutdown_w;
    bool stopping;    /* no new sessions or calls; stop once no connection is left */
    ev_timer sweep_w; /* hibernates idle sessions (silk__gw_client_sweep) */
    silk__gw_client *clients;
    /* Sessions given messages while the inbox is run, written to once it is done, so that a
     * session given several sends them together (silk__gw_client_flush). */
    silk__gw_client **dirty;
    size_t n_dirty, cap_dirty;
    atomic_size_t n_clients;
    size_t hook_calls; /* hook calls in flight: a stopping loop waits for them */
    /* Per service, the loop's own connections to its instances (upstream.c); the tasks the
     * runtime posts (completions of calls its channel made), run with the inbox. */
    silk_loop_channel **upstream;
    silk_loop_task *tasks_head, *tasks_tail; /* under inbox_lock */
    pthread_mutex_t metrics_lock;
    silk__gw_metrics metrics;
    char rbuf[64 * 1024]; /* what connections read HTTP into */
};

/* --- gateway.c --- */

/* silk__gw_loop_push hands a command to a loop, from any thread; the loop runs it soon. */
void silk__gw_loop_push(silk__gw_loop *l, silk__gw_cmd *k);

/* silk__gw_loop_find_client returns l's connection of a session, or NULL; on l's thread. */
silk__gw_client *silk__gw_loop_find_client(silk__gw_loop *l, const char *session_id);

/* --- upstream.c --- */

/* silk__gw_upstream_run_tasks runs the tasks posted to l; on l's thread. */
void silk__gw_upstream_run_tasks(silk__gw_loop *l);

#endif /* SILK_GATEWAY_LOOP_H */
