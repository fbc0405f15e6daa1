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

/* silk_server is opaque: one listener hosting services, its handlers run by a pool of
 * workers. docs/runtime.md, "Servers", describes it. */
typedef struct silk_server silk_server;

/* silk_server_opts configures a server. Zero (or NULL) fields take the default shown. */
typedef struct silk_server_opts {
    /* nng address to listen on: "tcp://127.0.0.1:0" (any free port) unless $SILK_LISTEN is
     * set. "ipc:///path" and "tls+tcp://HOST:PORT" (TLS with $SILK_TLS_CERT and
     * $SILK_TLS_KEY; with $SILK_TLS_CA, clients must present a certificate it signed) work
     * too. The bound address is what the registry advertises. */
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
    /* Listen beyond loopback (an address other than 127.0.0.0/8, ::1, localhost or ipc://)
     * with neither the cluster token ($SILK_TOKEN) nor mutual TLS (tls+tcp:// with
     * $SILK_TLS_CERT, $SILK_TLS_KEY and $SILK_TLS_CA): without it such a server refuses to
     * start, saying why ($SILK_INSECURE=1 sets it too). docs/security.md has the rules. */
    bool insecure;
    /* A connection that has not sent one whole valid frame this long after it was accepted
     * is closed, in milliseconds: 5000 ($SILK_FIRST_FRAME_TIMEOUT_MS overrides it, with the
     * same meaning). With the cluster token set, only a request carrying it counts. Negative:
     * off. It keeps silent or garbage-sending sockets from holding max_connections. */
    int first_frame_timeout_ms;
} silk_server_opts;

/* silk_server_new makes a server from opts (NULL: every default). It does not listen yet.
 *
 * Returns the server, the caller's until silk_server_run() or silk_server_free() frees it,
 * or NULL, after logging why, when memory is exhausted or opts is invalid (an instance id
 * the registry cannot hold). opts is read before it returns. Any thread. */
silk_server *silk_server_new(const silk_server_opts *opts);

/* silk_server_add_service hosts a service: desc is its generated descriptor, handlers its
 * generated handler table (copied: desc->handlers_size bytes), user is passed to every
 * handler. Generated pkg__svc__serve() functions call it.
 *
 * Returns SILK_OK, or:
 * - SILK_INVALID_ARGUMENT when srv or desc is NULL, desc has no name, or handlers is NULL
 *   for a table of non-zero size;
 * - SILK_ALREADY_EXISTS when a service of that name is hosted already;
 * - SILK_FAILED_PRECONDITION once the server has started;
 * - SILK_RESOURCE_EXHAUSTED when memory is exhausted.
 * desc, and what user points to, must outlive the server. Before start, from one thread. */
silk_status silk_server_add_service(silk_server *srv, const silk_service_desc *desc,
                                    const void *handlers, void *user);

/* silk_server_set_inline runs a hosted service's handlers on nng's receive callback instead
 * of a worker: one hand-off fewer per call, for handlers that never block - no nested
 * blocking call, no sleeping, no I/O wait. A handler that blocks there stalls every
 * connection of the server.
 *
 * Returns SILK_OK, or SILK_INVALID_ARGUMENT when srv or desc is NULL, SILK_NOT_FOUND when no
 * service of desc's name is hosted, SILK_FAILED_PRECONDITION once the server has started.
 * Before start, from one thread. */
silk_status silk_server_set_inline(silk_server *srv, const silk_service_desc *desc);

/* silk_server_add_interceptor appends a copy of ic to the server's chain (see
 * interceptor.h): its hooks run around every handler, on the thread that runs it, and its
 * afters see the calls refused or dropped before their handler ran.
 *
 * Returns SILK_OK, or SILK_INVALID_ARGUMENT when srv or ic is NULL or ic has neither hook,
 * SILK_FAILED_PRECONDITION once the server has started, SILK_RESOURCE_EXHAUSTED when memory
 * is exhausted. Before start, from one thread. */
silk_status silk_server_add_interceptor(silk_server *srv, const silk_interceptor *ic);

/* silk_server_start listens, registers every hosted service (unless opts.no_register) and
 * serves in the background; it returns at once.
 *
 * Returns SILK_OK, or:
 * - SILK_INVALID_ARGUMENT when srv is NULL, or the registry URL names no known backend;
 * - SILK_FAILED_PRECONDITION when the server has started already, when its address is
 *   beyond loopback with neither token nor mutual TLS and opts.insecure is off, or when a
 *   tls+tcp:// address lacks $SILK_TLS_CERT and $SILK_TLS_KEY or they cannot be used (the
 *   log says which);
 * - SILK_UNAVAILABLE when the address cannot be listened on, or the registry cannot be
 *   opened or written;
 * - SILK_RESOURCE_EXHAUSTED when memory or a thread is not to be had.
 * On error nothing is left running and the server is still the caller's to free. Any
 * thread but nng's. */
silk_status silk_server_start(silk_server *srv);

/* silk_server_address returns the address the server listens on, with the real port once
 * started ("tcp://127.0.0.1:40123"), or NULL before start or for NULL. The string is the
 * server's, valid until it is freed. Any thread. */
const char *silk_server_address(const silk_server *srv);

/* silk_server_run starts the server if needed and serves until SIGTERM or SIGINT; then it
 * stops as silk_server_free() does and frees the server.
 *
 * Returns the process exit code: 0 on a clean shutdown, 1 when the server cannot start (or
 * srv is NULL); srv is freed either way. From before the server starts until it has stopped
 * it has handlers installed for SIGTERM and SIGINT, so that a signal sent as soon as the
 * server is registered stops it gracefully; the previous ones are restored afterwards. One
 * server at a time may run. Any thread but nng's. */
int silk_server_run(silk_server *srv);

/* silk_server_free stops the server and frees it: new calls get SILK_UNAVAILABLE, its
 * services deregister, the calls in flight finish (those not started within 5 s are
 * dropped), their answers are flushed and every connection closed. NULL is ignored.
 *
 * Any thread but nng's, never from a handler (it waits for the handlers). */
void silk_server_free(silk_server *srv);

#ifdef __cplusplus
}
#endif

#endif /* SILK_SERVER_H */
