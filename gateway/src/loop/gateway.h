/* gateway.h - the gateway process: its options and the state its loops and threads share. */
#ifndef SILK_GATEWAY_GATEWAY_H
#define SILK_GATEWAY_GATEWAY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <silk/channel.h>
#include <silk/server.h>
#include <silk/service.h>
#include <silk/status.h>

#include "auth/jwt.h"
#include "core/mutex.h"
#include "core/spares.h"
#include "http/metrics.h"
#include "limits/address.h"
#include "limits/peers.h"
#include "sessions/table.h"

/* A gateway id: letters, digits, '-' and '_', at most this long; never a '.', which ends the
 * gateway id inside a session id. */
#define SILK__GW_ID_MAX 64
/* A session id: "<gateway id>.<32 hex digits>". */
#define SILK__GW_SESSION_ID_MAX (SILK__GW_ID_MAX + 1 + 32)

/* The most request headers --forward-header may name, and origins --allow-origin may list. */
#define SILK__GW_MAX_FORWARD_HEADERS 16
#define SILK__GW_MAX_ORIGINS         16

/* The most loops --workers may ask for. */
#define SILK__GW_MAX_WORKERS 64

/* The hooks of silk.ws.Hooks, by index into silk__gw_hooks. */
enum { SILK__GW_HOOK_OPEN, SILK__GW_HOOK_MESSAGE, SILK__GW_HOOK_CLOSE, SILK__GW_N_HOOKS };

/* What the gateway knows of one service's hooks: a hook that answered UNIMPLEMENTED is not
 * called again before missing_until (ev_time() seconds, as milliseconds). */
typedef struct silk__gw_hooks {
    _Atomic int64_t missing_until_ms[SILK__GW_N_HOOKS];
} silk__gw_hooks;

typedef struct silk__gw_opts {
    char host[256]; /* where HTTP and WebSocket are served: 127.0.0.1 */
    char port[16];  /* 5000 */
    char id[SILK__GW_ID_MAX + 1];
    const char *rpc_listen; /* nng address of SessionManager; NULL: the runtime's default */
    bool insecure;       /* SessionManager may listen beyond loopback without token or mutual TLS */
    double idle_timeout; /* seconds an HTTP connection may sit idle: 30 */
    double ping_interval;   /* seconds between pings; a session silent for two is closed: 30 */
    uint64_t max_message;   /* largest WebSocket message from a client: 1 MiB */
    size_t max_queued;      /* bytes queued for a session before it is closed as slow: 8 MiB */
    size_t max_connections; /* more get 503: 10000 */
    bool wrap_response;     /* answer Silky's way: {"result":..,"status":..,"code":..,...} */
    bool openapi;           /* serve GET /openapi.json (http/openapi.h) */
    bool console;           /* serve the console under /_silk/ (http/console.h) */
    size_t n_forward_headers;
    const char *forward_headers[SILK__GW_MAX_FORWARD_HEADERS]; /* sent as call metadata */
    size_t n_origins;
    /* When any: the Origins a browser's handshake may carry ("*": any); when none, only the
     * gateway's own (the Origin's host and port are the Host header). */
    const char *origins[SILK__GW_MAX_ORIGINS];
    size_t workers; /* loops, each on its own thread: 1 */
    /* The key tokens are verified with (auth/jwt.h), owned by silk_gateway_main; NULL: no
     * authentication. With one, every route but /healthz and public methods and services
     * needs a valid bearer token. */
    const silk__gw_jwt *jwt;
    const char *tls_cert; /* with tls_key: the port speaks TLS only (PEM, chain allowed) */
    const char *tls_key;
    /* Limits per client address (limits/peers.h): requests and new connections a second (0:
     * none) with a burst, connections open at once (0: any number). A peer in a trusted range
     * is a proxy: its requests count for the address its X-Forwarded-For names, its
     * connections not at all. */
    double rate_limit;
    double rate_burst; /* 0: rate_limit */
    size_t max_connections_per_ip;
    size_t n_trusted;
    silk__gw_cidr trusted[SILK__GW_MAX_TRUSTED];
    double session_rate;   /* messages a second a session's client may send; 0: any */
    double header_timeout; /* seconds a request's head may take to arrive: 10 */
    size_t n_cors_origins;
    /* The Origins whose pages may read the web API (http/cors.h; "*": any), as many as
     * --allow-origin may list; none: no CORS. */
    const char *cors_origins[SILK__GW_MAX_ORIGINS];
    /* Answers the loops' calls of the services it hosts inline, on the loops' threads
     * (silk_gateway_main_hosting), or NULL: every call goes to an instance. */
    silk_server *local;
} silk__gw_opts;

typedef struct silk__gw_loop silk__gw_loop;

/* silk__gw is one gateway process. Each loop owns its connections and their sessions' sockets;
 * the session table is shared by the loops and SessionManager's handlers, which run on the
 * runtime's worker threads, under lock. */
typedef struct silk__gw {
    silk__gw_opts opts;
    const silk_service_desc *const *services;
    size_t n_services;
    /* With opts.openapi or opts.console: the OpenAPI document (/openapi.json with the one,
     * /_silk/openapi.json with the other); else NULL. */
    char *openapi;
    silk_channel **channels; /* one per service, by index */
    silk__mutex lock;        /* guards sessions (its holder is checked: core/mutex.h) */
    /* What finished pushes leave for the next ones (sessions/push.c), under spare_lock (taken
     * alone, or inside lock). */
    silk__mutex spare_lock;
    silk__spares spare_sends, spare_payloads;
    silk__gw_sessions sessions; /* data: the session's connection, touched only by its loop */
    silk__gw_loop **loops;      /* opts.workers of them; loops[0] runs on the main thread */
    silk_server *server;        /* SessionManager */
    silk__gw_hooks *hooks;      /* by service index */
    atomic_bool hooks_off;      /* set once the channels close: call no more hooks */
    struct ssl_ctx_st *tls_ctx; /* the TLS context last loaded, or NULL; on loop 0 (tls.c) */
    silk__gw_peers peers;       /* per client address: buckets, connection counts */
    /* SessionManager's calls by method (SILK__GW_SM_*), counted by its handlers. */
    _Atomic uint64_t session_manager_calls[SILK__GW_SM_METHODS];
    /* Streams (streams/): sessions that asked to recover, by whether all they missed was
     * kept ([1]) or not ([0]); pushes this gateway appended ([0]) or found repeated ([1]). */
    _Atomic uint64_t recoveries[2];
    _Atomic uint64_t history_appends[2];
    /* The writer of the gateway's session directory entries (sessions/directory.c), or NULL
     * without one; set and cleared under lock. */
    struct silk__gw_directory *directory;
    /* Where the streams of routes with history are kept (streams/store.c), or NULL when no
     * service keeps history; set before SessionManager serves, cleared after it stopped. */
    struct silk__gw_store *store;
    /* SendMany's messages given under an idempotency key lately (sessions/repeats.c); made and
     * freed with SessionManager. */
    struct silk__gw_repeats *repeats;
    /* With opts.console: the registry's instances the console shows (http/instances.c); set
     * before the loops run, freed after they stopped. */
    struct silk__gw_instances *instances;
} silk__gw;

/* silk__gw_run runs a gateway until SIGTERM or SIGINT and returns the exit code. */
int silk__gw_run(const silk__gw_opts *opts, const silk_service_desc *const *services,
                 size_t n_services);

#endif /* SILK_GATEWAY_GATEWAY_H */
