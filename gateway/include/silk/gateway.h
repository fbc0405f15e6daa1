/* gateway.h - silk-gateway as a library: the WebSocket and HTTP edge of the services linked in. */
#ifndef SILK_GATEWAY_H
#define SILK_GATEWAY_H

#include <stddef.h>

#include <silk/service.h>

#ifdef __cplusplus
extern "C" {
#endif

/* silk_gateway_main runs silk-gateway for the services whose generated descriptors are
 * given (like Silky's gateway, which references the service interfaces it routes): a
 * deployment's silk-gateway is a main() that passes its descriptors here.
 *
 * It parses the command line (--listen HOST:PORT, default 127.0.0.1:5000; --id GATEWAY_ID,
 * default "gw" and 8 random hex digits; --help; --version; see --help for the rest), serves
 * HTTP and WebSocket on the listen address and silk.ws.SessionManager over nng under the
 * gateway id (registry from $SILK_REGISTRY), and returns the process exit code: 0 after
 * SIGTERM or SIGINT once every session was closed with 1001, 2 for a bad command line, 1 when
 * the gateway cannot start. services and the descriptors must outlive the call. */
int silk_gateway_main(int argc, char **argv, const silk_service_desc *const *services,
                      size_t n_services);

#ifdef __cplusplus
}
#endif

#endif /* SILK_GATEWAY_H */
