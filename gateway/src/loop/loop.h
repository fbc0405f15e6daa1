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
typedef struct silk__gw_call silk__gw_call;

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

/* silk__gw_upstream_init gives l a loop channel per service; -1 when memory is exhausted. */
int silk__gw_upstream_init(silk__gw_loop *l);

/* silk__gw_upstream_fini fails the calls still in flight on l's loop channels (CANCELLED)
 * and frees them; before the gateway's channels close. */
void silk__gw_upstream_fini(silk__gw_loop *l);

/* silk__gw_upstream_tick enforces deadlines and keepalive on l's loop channels. */
void silk__gw_upstream_tick(silk__gw_loop *l);

/* silk__gw_upstream_run_tasks runs the tasks posted to l; on l's thread. */
void silk__gw_upstream_run_tasks(silk__gw_loop *l);

/* silk__gw_upstream_call starts k's call (k->loop set) of method with req on the service at
 * index service; its completion reaches silk__gw_client_call_done on the loop. SILK_OK, or why
 * not, with the reason in ctx. */
silk_status silk__gw_upstream_call(silk__gw_call *k, size_t service, silk_ctx *ctx,
                                   const silk_method_desc *method, const ProtobufCMessage *req);

/* --- conn.c (silk__gw_client_call_done: http_call.c): every function below runs on the
 * connection's loop --- */

/* silk__gw_client_open starts serving an accepted, non-blocking socket; NULL when memory is
 * exhausted (the caller closes fd then). */
silk__gw_client *silk__gw_client_open(silk__gw_loop *l, int fd);

/* silk__gw_client_close closes a connection, its session if any, and frees it; why (may be
 * NULL) is logged. A call in flight for it completes into nothing. */
void silk__gw_client_close(silk__gw_client *c, const char *why);

/* silk__gw_client_loop returns the loop that owns a connection; it never changes, so other
 * threads may read it while they hold gw->lock and find c in the session table. */
silk__gw_loop *silk__gw_client_loop(const silk__gw_client *c);

/* silk__gw_client_send queues a message on a connection's session; it is written by the next
 * silk__gw_client_flush. */
void silk__gw_client_send(silk__gw_client *c, const silk__gw_payload *p);

/* silk__gw_client_flush writes what silk__gw_client_send queued since the last flush. */
void silk__gw_client_flush(silk__gw_loop *l);

/* silk__gw_client_sweep lets every idle session of l hibernate (silk__gw_ws_hibernate). */
void silk__gw_client_sweep(silk__gw_loop *l);

/* silk__gw_client_close_session closes a connection's session with a close code and reason. */
void silk__gw_client_close_session(silk__gw_client *c, uint16_t code, const char *reason);

/* silk__gw_client_call_done answers the request of a completed call, if its connection is still
 * there, and frees the call. */
void silk__gw_client_call_done(silk__gw_call *k);

/* silk__gw_client_shutdown_all starts closing every connection of l for shutdown: sessions get
 * 1001, idle HTTP connections close, requests in flight are answered and then closed. */
void silk__gw_client_shutdown_all(silk__gw_loop *l);

#endif /* SILK_GATEWAY_LOOP_H */
