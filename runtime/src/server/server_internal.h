/* server_internal.h - the server's state, shared by server.c (its life), server_listen.c
 * (listener, accept, idle connections and those with no valid frame), server_registry.c (register,
 * heartbeat, deregister) and server_call.c (taking calls off connections and running them on
 * workers). */
#ifndef SILK_SRC_SERVER_INTERNAL_H
#define SILK_SRC_SERVER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <nng/nng.h>

#include <silk/registry.h>
#include <silk/server.h>

#include "core/assert.h"
#include "core/mutex.h"
#include "transport/nng/stream_conn.h"
#include "transport/nng/tls.h"
#include "rpc/interceptor_internal.h"
#include "core/pool.h"
#include "metrics/metrics.h"

/* hosted is one service a server hosts. */
typedef struct hosted {
    const silk_service_desc *desc;
    void *handlers; /* a copy of the generated handler table */
    void *user;
    bool run_inline;     /* its handlers never block: run them on nng's receive callback */
    size_t metrics_base; /* the index of its first method in the server's metrics */
} hosted;

struct call_job;

/* sconn is one accepted connection. */
typedef struct sconn {
    silk__stream_conn conn; /* first: a silk__stream_conn * is an sconn * */
    silk_server *srv;
    struct sconn *prev;
    struct sconn *next;
    struct call_job *calls; /* under the connection's mutex: calls taken and not yet answered */
    atomic_int_fast64_t last_rx_us; /* when a frame last arrived (or it was accepted) */
    int64_t accepted_us;            /* when it was accepted */
    /* A valid frame came (with the cluster token: a request carrying it), so the first-frame
     * deadline is over. Set under the connection's mutex, read without it as a hint. */
    atomic_bool admitted;
    /* Under the connection's mutex: it is being closed for want of a valid frame in time, and
     * frames read after that decision are not handled. */
    bool expired;
} sconn;
SILK__FIRST_MEMBER(sconn, conn);

struct silk_server {
    silk__mutex mu;
    pthread_cond_t cv;

    /* Configuration, fixed by silk_server_new. */
    char *listen;
    char *registry_url; /* NULL: the default */
    char *instance_id;
    char *gateway_id; /* "" unless a gateway's SessionManager */
    char *token;      /* $SILK_TOKEN, or NULL when calls need none */
    bool insecure;    /* may listen beyond loopback with neither token nor mutual TLS */
    unsigned workers;
    unsigned max_concurrent;
    uint32_t max_message;
    bool no_register;
    unsigned max_connections;
    int64_t idle_timeout_us;        /* 0: off */
    int64_t first_frame_timeout_us; /* 0: off */

    hosted *services; /* fixed once started */
    size_t n_services;
    silk__chain chain; /* interceptors, fixed once started */
    bool any_inline;   /* some service runs inline */

    /* Serving. */
    bool started;
    atomic_bool stopping; /* no new connections or calls */
    atomic_bool abandon;  /* past the grace period: queued calls are dropped */
    nng_stream_listener *listener;
    nng_tls_config *tls; /* a tls+tcp:// listener's, held (tls.h) */
    nng_aio *accept_aio;
    bool accept_backoff; /* the accept aio is sleeping after an error */
    char *address;
    silk__pool *pool;
    atomic_uint busy;     /* calls held against max_concurrent: given back just before the
                           * answer is queued, so a call sent on that answer finds room */
    atomic_uint inflight; /* calls taken whose answers are not yet queued: stop waits for them */
    sconn *conns;         /* under mu: connections not yet finalized */
    unsigned n_conns;
    nng_aio *sweep_aio;        /* sleeps between looks for connections to close */
    int64_t refused_log_us;    /* under mu: when refused connections were last logged */
    unsigned refused_unlogged; /* under mu: refused since */
    int64_t expired_log_us;    /* under mu: when connections closed with no valid frame were
                                * last logged */
    unsigned expired_unlogged; /* under mu: closed so since */
    /* Counters for $SILK_METRICS_LISTEN, or NULL when it is unset: made at start before the
     * listener, freed at stop once nothing counts any more. */
    silk__metrics *metrics;

    /* Registry. */
    silk_registry *reg;
    bool registered;
    pthread_t heartbeat;
    bool heartbeat_running;
    bool heartbeat_stop; /* under mu */
};

/* silk__server_method_index numbers method of svc among srv's methods, for its metrics. */
static inline size_t silk__server_method_index(const hosted *svc, const silk_method_desc *method)
{
    return svc->metrics_base + (size_t)(method - svc->desc->methods);
}

/* silk__server_conn_ops are the hooks of an accepted connection (server_call.c). */
extern const silk__stream_conn_ops silk__server_conn_ops;

/* silk__server_listen starts listening on srv->listen and accepting connections, and sets
 * srv->address (server_listen.c). SILK_FAILED_PRECONDITION, logged, when the address is
 * beyond loopback and unprotected (no token, no mutual TLS, not insecure) or a tls+tcp://
 * address lacks its settings. On failure stop undoes what was done. */
silk_status silk__server_listen(silk_server *srv);

/* silk__server_register opens srv's registry, registers every service srv hosts but Health
 * and starts the heartbeat thread (server_registry.c). On failure stop undoes what was done. */
silk_status silk__server_register(silk_server *srv);

/* silk__server_deregister stops the heartbeat thread and deregisters what was registered,
 * whatever was done; the registry stays open for the handlers still running. */
void silk__server_deregister(silk_server *srv);

/* silk__server_registry gives *regp the registry of srv - the one its options name, else
 * $SILK_REGISTRY's - which the handlers of srv use to find gateways (push.c): the one it
 * registers in, or one opened on the first call for a server that does not register. It
 * stays srv's and lives until its handlers are done. Any thread; an error when it cannot be
 * opened. */
silk_status silk__server_registry(silk_server *srv, silk_registry **regp);

/* silk__server_close_registry closes srv's registry once no handler of srv runs (stop). */
void silk__server_close_registry(silk_server *srv);

/* silk__server_find finds the hosted service and method of a path "/pkg.Service/Method";
 * false when there is none. */
bool silk__server_find(const silk_server *srv, const char *path, const hosted **svc,
                       const silk_method_desc **method);

/* silk__server_run_handler runs m's handler of svc with req into resp, resp initialised, with
 * the server's interceptors around it, on this thread; ctx is the call's, given svc and srv
 * here. It returns the handler's status (SILK_UNKNOWN for one out of range). Used by calls off
 * a connection (server_call.c) and calls from this process (server_local.c). */
silk_status silk__server_run_handler(silk_server *srv, const hosted *svc, const silk_method_desc *m,
                                     silk_ctx *ctx, const ProtobufCMessage *req,
                                     ProtobufCMessage *resp);

/* silk__server_tell runs the server's afters for a call that did not reach its handler -
 * refused, or dropped - with its status and message (no before ran; there is no request or
 * response), on this thread. h is the call's header when it could be decoded, m its method
 * when hosted, ctx its ctx when made (else one is made from h for the afters). */
void silk__server_tell(silk_server *srv, const Silk__Rpc__RequestHeader *h,
                       const silk_method_desc *m, silk_ctx *ctx, int64_t received_us,
                       silk_status st, const char *msg);

/* silk__server_admit counts a call in srv->inflight and srv->busy and says whether it may
 * run: NULL, or why it is refused, with *st and *reason set (RESOURCE_EXHAUSTED past
 * max_concurrent, UNAVAILABLE once srv stops). Either way the caller gives busy back when the
 * call is answered or refused, then calls silk__server_call_done(). Any thread. */
const char *silk__server_admit(silk_server *srv, silk_status *st, silk__metrics_reason *reason);

/* silk__server_call_done counts a call's answer as queued (or dropped); the last one of a
 * stopping server wakes it. */
void silk__server_call_done(silk_server *srv);

/* silk__health_serve hosts silk.health.Health on srv (health.c); silk_server_start calls it.
 * SILK_ALREADY_EXISTS when the application hosts its own. */
silk_status silk__health_serve(silk_server *srv);

#endif /* SILK_SRC_SERVER_INTERNAL_H */
