/* server.h - a silk server: one nng stream listener hosting any number of services. */
#ifndef SILK_SERVER_H
#define SILK_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include <silk/interceptor.h>
#include <silk/service.h>
#include <silk/status.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct silk_server silk_server;

/* silk_server_opts configures a server. Zero (or NULL) fields take the default shown. */
typedef struct silk_server_opts {
    /* nng address to listen on: "tcp://127.0.0.1:0" (any free port) unless $SILK_LISTEN is
     * set. "ipc:///path" works too. The bound address is what the registry advertises. */
    const char *listen;
    /* Registry URL: $SILK_REGISTRY, else the file registry (see registry.h). */
    const char *registry;
    /* Instance id: a random one unless given; a gateway passes its gateway id. */
    const char *instance_id;
    /* A gateway's id, recorded with the instance (silk_instance.gateway_id): gateways set it. */
    const char *gateway_id;
    /* Worker threads that run handlers: the number of cores ($SILK_WORKERS overrides it). */
    unsigned workers;
    /* Calls handled at once; past it a call gets RESOURCE_EXHAUSTED: 50. */
    unsigned max_concurrent;
    /* Largest request message accepted, in bytes: 4 MiB. A larger one is answered with
     * RESOURCE_EXHAUSTED without being read into memory; the connection goes on. */
    uint32_t max_message;
    /* Do not register in the registry (tests and embedded use). */
    bool no_register;
    /* Client connections open at once: 10000 ($SILK_MAX_CONNECTIONS overrides it). Past it a
     * new connection is closed as soon as it is accepted, and a warning logged. */
    unsigned max_connections;
    /* A connection with no call in flight that has received nothing (no request, no ping)
     * for this long is closed, in milliseconds: 300000, five minutes ($SILK_IDLE_TIMEOUT_MS
     * overrides it, with the same meaning). Negative: off. Channels ping a connection that
     * was silent for their keepalive interval (10 s), so a channel's connection stays. */
    int idle_timeout_ms;
} silk_server_opts;

/* silk_server_new makes a server from opts (NULL: all defaults). It does not listen yet.
 * It returns NULL when memory is exhausted or opts is invalid, after logging why. */
silk_server *silk_server_new(const silk_server_opts *opts);

/* silk_server_add_service hosts a service: desc is generated, handlers points to the
 * generated handler table (copied: desc->handlers_size bytes), user is passed to every
 * handler. Generated `pkg__svc__serve()` functions call this. It returns
 * SILK_ALREADY_EXISTS when the service is hosted already, SILK_FAILED_PRECONDITION once the
 * server has started. */
silk_status silk_server_add_service(silk_server *srv, const silk_service_desc *desc,
                                    const void *handlers, void *user);

/* silk_server_set_inline marks a hosted service (desc) whose handlers never block -
 * no nested blocking calls, no sleeping, no I/O waits - to run on nng's receive callback
 * instead of a worker: one hand-off fewer per call. A handler that blocks there stalls
 * every connection of the server. SILK_NOT_FOUND when the service is not hosted,
 * SILK_FAILED_PRECONDITION once the server has started. */
silk_status silk_server_set_inline(silk_server *srv, const silk_service_desc *desc);

/* silk_server_add_interceptor appends a copy of ic to the server's chain (see
 * interceptor.h): its hooks run around every handler, on the thread that runs it. Calls
 * refused before their handler would run (token, method, deadline, payload, size,
 * concurrency, stopping) or dropped as cancelled before it ran reach the afters alone, with
 * their status. SILK_FAILED_PRECONDITION once the server has started, SILK_INVALID_ARGUMENT
 * when ic has neither hook. */
silk_status silk_server_add_interceptor(silk_server *srv, const silk_interceptor *ic);

/* silk_server_start listens, registers every hosted service and starts serving in the
 * background; it returns at once. SILK_UNAVAILABLE when the address cannot be bound. */
silk_status silk_server_start(silk_server *srv);

/* silk_server_address returns the address the server listens on, with the real port once
 * started ("tcp://127.0.0.1:40123"); owned by the server. NULL before start. */
const char *silk_server_address(const silk_server *srv);

/* silk_server_run starts the server if needed and serves until SIGTERM or SIGINT, then
 * stops taking calls (new ones get UNAVAILABLE), deregisters, lets the calls in flight finish
 * (calls not started within 5 s are dropped), frees the server and returns the process exit
 * code: 0 on a clean shutdown, 1 when it cannot start (the server is freed then too). From
 * before the server starts - so a signal sent as soon as it is registered stops it
 * gracefully - until it stops, it has handlers installed for SIGTERM and SIGINT, the previous
 * ones restored afterwards; one server at a time may run. */
int silk_server_run(silk_server *srv);

/* silk_server_free stops the server (as silk_server_run does on a signal) and frees it.
 * It must not be called from a handler. NULL is ignored. */
void silk_server_free(silk_server *srv);

#ifdef __cplusplus
}
#endif

#endif /* SILK_SERVER_H */
