/* tls.h - TLS between silk processes on nng's tls+tcp:// transport: one configuration per
 * process and role, made from SILK_TLS_CERT, SILK_TLS_KEY and SILK_TLS_CA.
 *
 * A server listening on tls+tcp:// presents SILK_TLS_CERT (with SILK_TLS_KEY); with
 * SILK_TLS_CA set it also requires every client to present a certificate that CA signed.
 * A channel dialling tls+tcp:// verifies the server's certificate against SILK_TLS_CA and
 * presents its own when SILK_TLS_CERT and SILK_TLS_KEY are set. Peers are verified by the CA
 * alone, not by name: an address comes from the registry, which is no trust root, so the
 * cluster's identity is "holds a certificate of the cluster's CA". With SILK_TLS_CA set a
 * channel dials tls+tcp:// addresses only (silk__tls_required). */
#ifndef SILK_SRC_TRANSPORT_NNG_TLS_H
#define SILK_SRC_TRANSPORT_NNG_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

/* silk__tls_role says which side of a connection a configuration is for. */
typedef enum silk__tls_role {
    SILK__TLS_SERVER, /* listeners: present a certificate, require the clients' with a CA */
    SILK__TLS_CLIENT, /* dialers: verify the server's certificate, present their own if any */
} silk__tls_role;

/* silk__tls_address tells whether address is one of nng's TLS addresses: tls+tcp://,
 * tls+tcp4:// or tls+tcp6://. */
bool silk__tls_address(const char *address);

/* silk__tls_mutual tells whether the environment names a certificate, its key and a CA:
 * what a tls+tcp:// listener needs to admit only clients with a certificate of the CA. */
bool silk__tls_mutual(void);

/* silk__tls_required tells whether SILK_TLS_CA is set: channels then dial tls+tcp://
 * addresses only, and refuse plain tcp:// and ipc:// ones (whatever the registry says). */
bool silk__tls_required(void);

/* silk__tls_hold returns, with a reference, the process's configuration for role: made from
 * the environment by the first hold, and again by the first after the last release (a
 * process that restarts its server in place reads new certificates then). NULL, with why
 * filled (file paths, never a key), when the environment lacks what role needs or a file
 * cannot be read or used. Any thread but nng's: it may read files. */
nng_tls_config *silk__tls_hold(silk__tls_role role, char *why, size_t cap);

/* silk__tls_rele drops a reference silk__tls_hold gave; the last one frees the
 * configuration (nng keeps its own references for the listeners, dialers and connections
 * still using it). NULL is ignored. */
void silk__tls_rele(nng_tls_config *cfg);

#endif /* SILK_SRC_TRANSPORT_NNG_TLS_H */
