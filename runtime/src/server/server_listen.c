/* server_listen.c - a server's listener: what it may listen on unprotected, its TLS,
 * accepting connections (refused past max_connections), closing idle ones and those that
 * sent no valid frame in time, and the address it advertises. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <silk/log.h>

#include "core/clock.h"
#include "server/server_internal.h"
#include "transport/nng/tls.h"

/* Connections refused past max_connections, and those closed for sending no valid frame in
 * time, are logged at most this often. */
#define REFUSED_LOG_US 1000000

/* ============================== accepting ============================== */

/* refuse_conn closes a connection accepted past max_connections, logging it at most once
 * a second with the count since; srv->mu is held. */
static void refuse_conn(silk_server *srv, nng_stream *s)
{
    SILK__ASSERT_HELD(&srv->mu);
    nng_stream_free(s);
    silk__metrics_refused(srv->metrics, SILK__REFUSED_MAX_CONNECTIONS, 1);
    srv->refused_unlogged++;
    int64_t now = silk__now_us();
    if (now - srv->refused_log_us < REFUSED_LOG_US)
        return;
    silk_log(SILK_LOG_WARN, "server",
             "connection refused: at max_connections max_connections=%u refused=%u",
             srv->max_connections, srv->refused_unlogged);
    srv->refused_log_us = now;
    srv->refused_unlogged = 0;
}

/* add_conn makes a connection of an accepted stream; srv->mu is held. */
static void add_conn(silk_server *srv, nng_stream *s)
{
    SILK__ASSERT_HELD(&srv->mu);
    if (srv->n_conns >= srv->max_connections) {
        refuse_conn(srv, s);
        return;
    }
    sconn *sc = calloc(1, sizeof *sc);
    if (sc == NULL ||
        silk__stream_conn_init(&sc->conn, &silk__server_conn_ops,
                               srv->max_message + SILK__FRAME_HEADER_ROOM) != SILK_OK) {
        silk_log(SILK_LOG_WARN, "server", "out of memory: connection refused");
        free(sc);
        nng_stream_free(s);
        return;
    }
    sc->srv = srv;
    sc->accepted_us = silk__now_us();
    atomic_init(&sc->last_rx_us, sc->accepted_us);
    atomic_init(&sc->admitted, srv->first_frame_timeout_us == 0); /* with no deadline, no check */
    sc->next = srv->conns;
    if (sc->next != NULL)
        sc->next->prev = sc;
    srv->conns = sc;
    srv->n_conns++;
    silk__stream_conn_attach(&sc->conn, s);
    silk__stream_conn_rele(&sc->conn); /* the receive loop keeps it */
}

static void accept_cb(void *arg)
{
    silk_server *srv = arg;
    int rv = nng_aio_result(srv->accept_aio);
    silk__mutex_lock(&srv->mu);
    bool again = !atomic_load(&srv->stopping);
    if (srv->accept_backoff) {
        srv->accept_backoff = false; /* slept after an error: accept again */
    } else if (rv == 0) {
        nng_stream *s = nng_aio_get_output(srv->accept_aio, 0);
        if (again)
            add_conn(srv, s);
        else
            nng_stream_free(s);
    } else if (rv == NNG_ECLOSED || rv == NNG_ECANCELED) {
        again = false;
    } else if (again) {
        /* Out of descriptors or memory: wait a little rather than spin. */
        silk_log(SILK_LOG_WARN, "server", "accept failed error=\"%s\"", nng_strerror(rv));
        srv->accept_backoff = true;
        nng_sleep_aio(100, srv->accept_aio);
        again = false;
    }
    if (again)
        nng_stream_listener_accept(srv->listener, srv->accept_aio);
    silk__mutex_unlock(&srv->mu);
}

/* sweep_every is how often the server looks for connections to close: a quarter of the
 * shorter timeout, from 10 ms to 1 s. */
static nng_duration sweep_every(const silk_server *srv)
{
    int64_t us = srv->idle_timeout_us;
    if (us == 0 || (srv->first_frame_timeout_us != 0 && srv->first_frame_timeout_us < us))
        us = srv->first_frame_timeout_us;
    int64_t ms = us / 4000;
    return (nng_duration)(ms < 10 ? 10 : ms > 1000 ? 1000 : ms);
}

/* expire decides to close sc for sending no valid frame in time, unless one came or it is
 * closed already; from then on its frames are not handled (server_call.c's on_frame), so a
 * frame that arrives meanwhile cannot make it valid while it is being closed. */
static bool expire(sconn *sc)
{
    silk__stream_conn_lock(&sc->conn);
    bool late = !atomic_load_explicit(&sc->admitted, memory_order_relaxed) && !sc->expired &&
                !silk__stream_conn_closed_locked(&sc->conn);
    if (late)
        sc->expired = true;
    silk__stream_conn_unlock(&sc->conn);
    return late;
}

/* log_expired counts n connections closed for sending no valid frame in time, and logs the
 * count at most once a second; srv->mu is held. */
static void log_expired(silk_server *srv, unsigned n, int64_t now)
{
    SILK__ASSERT_HELD(&srv->mu);
    silk__metrics_refused(srv->metrics, SILK__REFUSED_FIRST_FRAME_TIMEOUT, n);
    srv->expired_unlogged += n;
    if (srv->expired_unlogged == 0 || now - srv->expired_log_us < REFUSED_LOG_US)
        return;
    silk_log(SILK_LOG_WARN, "server",
             "connections closed: no valid frame within first_frame_timeout_ms=%lld closed=%u",
             (long long)(srv->first_frame_timeout_us / 1000), srv->expired_unlogged);
    srv->expired_log_us = now;
    srv->expired_unlogged = 0;
}

/* sweep closes the connections that sent no valid frame within the first-frame timeout, and
 * those with no call in flight that received nothing for the idle timeout; srv->mu is held. */
static void sweep(silk_server *srv)
{
    SILK__ASSERT_HELD(&srv->mu);
    int64_t now = silk__now_us();
    unsigned expired = 0;
    for (sconn *sc = srv->conns; sc != NULL; sc = sc->next) {
        if (srv->first_frame_timeout_us > 0 && !atomic_load(&sc->admitted) &&
            now - sc->accepted_us >= srv->first_frame_timeout_us) {
            if (expire(sc)) {
                expired++;
                silk__stream_conn_close(&sc->conn, SILK_UNAVAILABLE,
                                        "no valid frame within %lld ms",
                                        (long long)(srv->first_frame_timeout_us / 1000));
            }
            continue;
        }
        if (srv->idle_timeout_us == 0 || now - atomic_load(&sc->last_rx_us) < srv->idle_timeout_us)
            continue;
        silk__stream_conn_lock(&sc->conn);
        bool busy = sc->calls != NULL || silk__stream_conn_closed_locked(&sc->conn);
        silk__stream_conn_unlock(&sc->conn);
        if (!busy)
            silk__stream_conn_close(&sc->conn, SILK_UNAVAILABLE, "idle for %lld ms",
                                    (long long)(srv->idle_timeout_us / 1000));
    }
    log_expired(srv, expired, now);
}

static void sweep_cb(void *arg)
{
    silk_server *srv = arg;
    if (nng_aio_result(srv->sweep_aio) != 0)
        return; /* stopped */
    silk__mutex_lock(&srv->mu);
    if (!atomic_load(&srv->stopping)) {
        sweep(srv);
        nng_sleep_aio(sweep_every(srv), srv->sweep_aio);
    }
    silk__mutex_unlock(&srv->mu);
}

/* bound_address makes the address to advertise: the listen URL, with the real port when the
 * port was 0. */
static char *bound_address(silk_server *srv)
{
    nng_url *u;
    if (nng_url_parse(&u, srv->listen) != 0)
        return strdup(srv->listen);
    char *addr = NULL;
    int port = 0;
    const char *scheme = u->u_scheme;
    if (strncmp(scheme, "tls+", 4) == 0)
        scheme += 4;
    if (strncmp(scheme, "tcp", 3) == 0 &&
        nng_stream_listener_get_int(srv->listener, NNG_OPT_TCP_BOUND_PORT, &port) == 0) {
        const char *host = u->u_hostname[0] != '\0' ? u->u_hostname : "127.0.0.1";
        const char *fmt = strchr(host, ':') != NULL ? "%s://[%s]:%d" : "%s://%s:%d";
        if (asprintf(&addr, fmt, u->u_scheme, host, port) < 0)
            addr = NULL;
    } else {
        addr = strdup(srv->listen);
    }
    nng_url_free(u);
    return addr;
}

/* ============================== protection ============================== */

/* loopback_host tells whether a host name or numeric address is this machine's loopback:
 * 127.0.0.0/8, ::1 or localhost. An empty host is every interface. */
static bool loopback_host(const char *host)
{
    char buf[64];
    size_t n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof buf) {
        memcpy(buf, host + 1, n - 2);
        buf[n - 2] = '\0';
        host = buf;
    }
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return strcmp(host, "localhost") == 0;
}

/* local_only tells whether only this machine can reach an nng address: ipc://, inproc://,
 * or tcp:// and tls+tcp:// on a loopback address. */
static bool local_only(const char *address)
{
    nng_url *u;
    if (nng_url_parse(&u, address) != 0)
        return false;
    const char *scheme = u->u_scheme;
    bool local = strcmp(scheme, "ipc") == 0 || strcmp(scheme, "inproc") == 0 ||
                 strcmp(scheme, "abstract") == 0;
    if (strncmp(scheme, "tls+", 4) == 0)
        scheme += 4;
    if (!local && strncmp(scheme, "tcp", 3) == 0)
        local = loopback_host(u->u_hostname);
    nng_url_free(u);
    return local;
}

/* protected_enough tells whether srv may listen where it is told: on a loopback address or
 * ipc://, with the cluster token, with mutual TLS (tls+tcp:// with a certificate, its key
 * and a CA), or when told insecure - which is logged. Otherwise it logs why not. */
static bool protected_enough(const silk_server *srv)
{
    bool mutual = silk__tls_address(srv->listen) && silk__tls_mutual();
    if (local_only(srv->listen) || srv->token != NULL || mutual)
        return true;
    if (srv->insecure) {
        silk_log(SILK_LOG_WARN, "server",
                 "listening on %s without the cluster token or mutual TLS: anyone who reaches "
                 "the port may call every method (insecure)",
                 srv->listen);
        return true;
    }
    silk_log(SILK_LOG_ERROR, "server",
             "refusing to listen on %s: not a loopback address, and calls would need neither "
             "the cluster token nor a client certificate; set SILK_TOKEN, or listen on "
             "tls+tcp:// with SILK_TLS_CERT, SILK_TLS_KEY and SILK_TLS_CA, or accept it with "
             "SILK_INSECURE=1 (silk_server_opts.insecure, silk-gateway --insecure)",
             srv->listen);
    return false;
}

/* use_tls gives a tls+tcp:// listener the process's server configuration (tls.h). */
static silk_status use_tls(silk_server *srv)
{
    char why[512];
    if ((srv->tls = silk__tls_hold(SILK__TLS_SERVER, why, sizeof why)) == NULL) {
        silk_log(SILK_LOG_ERROR, "server", "cannot listen address=%s error=\"%s\"", srv->listen,
                 why);
        return SILK_FAILED_PRECONDITION;
    }
    int rv = nng_stream_listener_set_ptr(srv->listener, NNG_OPT_TLS_CONFIG, srv->tls);
    if (rv != 0) {
        silk_log(SILK_LOG_ERROR, "server", "cannot listen address=%s error=\"TLS: %s\"",
                 srv->listen, nng_strerror(rv));
        return SILK_UNAVAILABLE;
    }
    return SILK_OK;
}

/* ============================== listening ============================== */

silk_status silk__server_listen(silk_server *srv)
{
    if (!protected_enough(srv))
        return SILK_FAILED_PRECONDITION;
    int rv = nng_stream_listener_alloc(&srv->listener, srv->listen);
    if (rv == 0 && silk__tls_address(srv->listen)) {
        silk_status st = use_tls(srv);
        if (st != SILK_OK)
            return st;
    }
    if (rv == 0) {
        /* nng's streams have Nagle on by default; silk's small frames want it off. Not every
         * transport has the option (ipc has not). */
        nng_stream_listener_set_bool(srv->listener, NNG_OPT_TCP_NODELAY, true);
        rv = nng_stream_listener_listen(srv->listener);
    }
    if (rv != 0) {
        silk_log(SILK_LOG_ERROR, "server", "cannot listen address=%s error=\"%s\"", srv->listen,
                 nng_strerror(rv));
        return rv == NNG_ENOMEM ? SILK_RESOURCE_EXHAUSTED : SILK_UNAVAILABLE;
    }
    if ((srv->address = bound_address(srv)) == NULL)
        return SILK_RESOURCE_EXHAUSTED;
    if (nng_aio_alloc(&srv->accept_aio, accept_cb, srv) != 0)
        return SILK_RESOURCE_EXHAUSTED;
    nng_stream_listener_accept(srv->listener, srv->accept_aio);
    if (srv->idle_timeout_us > 0 || srv->first_frame_timeout_us > 0) {
        if (nng_aio_alloc(&srv->sweep_aio, sweep_cb, srv) != 0)
            return SILK_RESOURCE_EXHAUSTED;
        nng_sleep_aio(sweep_every(srv), srv->sweep_aio);
    }
    return SILK_OK;
}
