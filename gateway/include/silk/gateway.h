/* gateway.h - silk-gateway as a library: the WebSocket and HTTP edge of the services linked in. */
#ifndef SILK_GATEWAY_H
#define SILK_GATEWAY_H

#include <stddef.h>

#include <silk/server.h>
#include <silk/service.h>

#ifdef __cplusplus
extern "C" {
#endif

/* silk_gateway_main runs silk-gateway for the services whose generated descriptors are
 * given: a deployment's silk-gateway is a main() that passes its descriptors here. It parses
 * the command line (docs/gateway.md, "Flags and environment", lists every flag and variable),
 * serves HTTP and WebSocket on --listen (default 127.0.0.1:5000) and silk.ws.SessionManager
 * over nng under the gateway id, in the registry of $SILK_REGISTRY, until SIGTERM or SIGINT.
 *
 * Returns the process exit code: 0 after --help or --version, or after a signal once every
 * session was closed with 1001; 2 for a bad command line or a service without a name or a
 * route; 1 when the gateway cannot start (why is logged). argv is only read; services and the
 * descriptors must outlive the call. Call it once, from main(): it runs the first event loop
 * on the calling thread and takes the process's SIGTERM, SIGINT and SIGPIPE. */
int silk_gateway_main(int argc, char **argv, const silk_service_desc *const *services,
                      size_t n_services);

/* silk_gateway_main_hosting is silk_gateway_main for a process that serves too: srv, made by
 * the caller with its services added and not started, is started once the command line is
 * good (registered, listening, as silk_server_start does) and answers the gateway's calls of
 * the services it hosts inline (silk_server_set_inline) on the gateway's loops, with no socket and
 * no packing (silk_loop_channel_set_local: the deadline, metadata, status, interceptors and counts
 * of a call are kept); the calls of its other services go over the socket as to any instance, and
 * other processes reach all of them as before. A handler that crashes takes the gateway's
 * sessions with it: docs/gateway.md, "Services in the gateway's process", weighs it.
 *
 * Returns what silk_gateway_main returns, and 1 when srv is NULL or cannot start. srv is the
 * gateway's from the call on: it is freed (silk_server_free) before the call returns. */
int silk_gateway_main_hosting(int argc, char **argv, const silk_service_desc *const *services,
                              size_t n_services, silk_server *srv);

#ifdef __cplusplus
}
#endif

#endif /* SILK_GATEWAY_H */
