/* tls.h - TLS on the gateway's port (--tls-cert, --tls-key): the server context, a TLS stream
 * for each accepted connection, and the reload SIGHUP asks for. */
#ifndef SILK_GATEWAY_TLS_H
#define SILK_GATEWAY_TLS_H

#include <stddef.h>

#include "conn/io.h"
#include "loop/gateway.h"

struct ssl_ctx_st;

/* silk__gw_tls_ctx_new makes a server context from a PEM certificate file (the certificate,
 * then the chain) and a PEM private key file: TLS 1.2 and 1.3 only, no renegotiation,
 * http/1.1 chosen by ALPN. A key that is encrypted, or does not match the certificate, is
 * refused. It returns the context, holding one reference the caller owns, or NULL with a
 * message for the log (it names the file, never its contents) in why. */
struct ssl_ctx_st *silk__gw_tls_ctx_new(const char *cert_file, const char *key_file, char *why,
                                        size_t why_size);

/* silk__gw_tls_ctx_free drops one reference to ctx; connections made from it keep their own.
 * NULL is ignored. */
void silk__gw_tls_ctx_free(struct ssl_ctx_st *ctx);

/* silk__gw_tls_ctx_hold takes one more reference to ctx and returns it. */
struct ssl_ctx_st *silk__gw_tls_ctx_hold(struct ssl_ctx_st *ctx);

/* silk__gw_tls_open makes io the server side of TLS over fd, an accepted non-blocking socket,
 * with ctx; the handshake happens as io is read. It returns 0, or -1 when memory is exhausted
 * (io is untouched then, and fd is still the caller's). */
int silk__gw_tls_open(silk__gw_io *io, struct ssl_ctx_st *ctx, int fd);

/* silk__gw_tls_start loads gw's certificate and key into gw->tls_ctx when --tls-cert is given.
 * It returns 0, or -1 with the reason logged: the gateway must not start. */
int silk__gw_tls_start(silk__gw *gw);

/* silk__gw_tls_reload loads the certificate and key again, on SIGHUP, on loop 0's thread. On
 * success every loop takes the new context for the connections it accepts from then on (a
 * task in its queue) and open connections keep the one they began with; on failure the old
 * one stays, and why is logged. Without TLS it only logs that there is nothing to reload. */
void silk__gw_tls_reload(silk__gw *gw);

#endif /* SILK_GATEWAY_TLS_H */
