/* rpc_nng_stream.c - bench-rpc-nng-stream: nng's floor, a byte-stream echo over nng_stream.
 *
 * The server is an nng_stream_listener whose connections echo with callback aios: receive
 * what has arrived, send exactly those bytes back, receive again. No protocol, no messages,
 * no contexts: the least any RPC built on nng's streams (as silk's is) can cost. The client
 * speaks length-prefixed frames (a big-endian u32 length, then the body) like bench-rpc-tcp:
 * one blocking ping-pong for latency (nng_aio_wait), and for throughput --inflight frames in
 * flight, the replies of each receive answered by one batched write of as many new frames. */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>

#include "bench.h"

/* ============================== the server ============================== */

#define ECHO_BUF (64u << 10)

/* An echo connection alternates one receive and one send of what it received. */
typedef struct echo_conn {
    struct echo_conn *next; /* the server's list, freed at the end */
    nng_stream *s;
    nng_aio *aio;
    bool sending;
    size_t len, off; /* bytes received, of which sent */
    uint8_t buf[ECHO_BUF];
} echo_conn;

typedef struct echo_server {
    nng_stream_listener *l;
    nng_aio *accept;
    pthread_mutex_t mu;
    echo_conn *conns;
} echo_server;

static void echo_recv(echo_conn *c)
{
    nng_iov iov = {.iov_buf = c->buf, .iov_len = sizeof c->buf};
    c->sending = false;
    nng_aio_set_iov(c->aio, 1, &iov);
    nng_stream_recv(c->s, c->aio);
}

static void echo_send(echo_conn *c)
{
    nng_iov iov = {.iov_buf = c->buf + c->off, .iov_len = c->len - c->off};
    c->sending = true;
    nng_aio_set_iov(c->aio, 1, &iov);
    nng_stream_send(c->s, c->aio);
}

/* echo_cb runs when a receive or a send completed; an error (the peer gone, or the server
 * stopping) ends the connection's chain. */
static void echo_cb(void *arg)
{
    echo_conn *c = arg;
    if (nng_aio_result(c->aio) != 0)
        return;
    size_t n = nng_aio_count(c->aio);
    if (!c->sending) {
        c->len = n;
        c->off = 0;
        echo_send(c);
        return;
    }
    c->off += n;
    if (c->off < c->len)
        echo_send(c); /* a partial send: the rest */
    else
        echo_recv(c);
}

static void accept_cb(void *arg)
{
    echo_server *srv = arg;
    if (nng_aio_result(srv->accept) != 0)
        return; /* the listener closed */
    nng_stream *s = nng_aio_get_output(srv->accept, 0);
    echo_conn *c = malloc(sizeof *c);
    if (c == NULL || nng_aio_alloc(&c->aio, echo_cb, c) != 0) {
        free(c);
        nng_stream_free(s);
    } else {
        c->s = s;
        pthread_mutex_lock(&srv->mu);
        c->next = srv->conns;
        srv->conns = c;
        pthread_mutex_unlock(&srv->mu);
        echo_recv(c);
    }
    nng_stream_listener_accept(srv->l, srv->accept);
}

static int serve(const bench_opts *o)
{
    (void)o;
    echo_server srv = {.conns = NULL};
    int rv, port = 0;
    pthread_mutex_init(&srv.mu, NULL);
    if ((rv = nng_stream_listener_alloc(&srv.l, "tcp://127.0.0.1:0")) != 0 ||
        (rv = nng_stream_listener_set_bool(srv.l, NNG_OPT_TCP_NODELAY, true)) != 0 ||
        (rv = nng_stream_listener_listen(srv.l)) != 0 ||
        (rv = nng_stream_listener_get_int(srv.l, NNG_OPT_TCP_BOUND_PORT, &port)) != 0 ||
        (rv = nng_aio_alloc(&srv.accept, accept_cb, &srv)) != 0) {
        bench_fail("cannot listen: %s", nng_strerror(rv));
        return 1;
    }
    nng_stream_listener_accept(srv.l, srv.accept);
    char address[64];
    snprintf(address, sizeof address, "tcp://127.0.0.1:%d", port);
    bench_serve_ready(address);

    nng_stream_listener_close(srv.l);
    nng_aio_stop(srv.accept);
    for (echo_conn *c = srv.conns, *next; c != NULL; c = next) {
        next = c->next;
        nng_stream_close(c->s);
        nng_aio_stop(c->aio);
        nng_aio_free(c->aio);
        nng_stream_free(c->s);
        free(c);
    }
    nng_aio_free(srv.accept);
    nng_stream_listener_free(srv.l);
    pthread_mutex_destroy(&srv.mu);
    return 0;
}

/* ============================== the client ============================== */

typedef struct client {
    const bench_opts *o;
    nng_stream *s;
    nng_aio *aio;     /* latency: no callback, waited for */
    uint8_t *frame;   /* one request frame: length and body */
    size_t frame_len; /* 4 + payload */
    uint8_t *rx;      /* received bytes not yet consumed */
    size_t rx_len, rx_cap;

    /* Throughput: the receive and the send each have an aio of their own. Frames to send
     * collect in pending while a send is out; the send cb then sends them in one write. */
    bench_flow *flow;
    nng_aio *rx_aio, *tx_aio;
    pthread_mutex_t mu; /* guards what follows */
    uint8_t *pending, *sending;
    size_t pending_len, sending_len, sending_off;
    bool tx_busy;
    int live;    /* slots not retired */
    bool failed; /* an I/O error retired every slot */
} client;

/* wait_io starts op on the latency aio with one iov and waits; it returns the bytes moved,
 * or 0 after printing why it failed. */
static size_t wait_io(client *c, void (*op)(nng_stream *, nng_aio *), void *buf, size_t len)
{
    nng_iov iov = {.iov_buf = buf, .iov_len = len};
    nng_aio_set_iov(c->aio, 1, &iov);
    op(c->s, c->aio);
    nng_aio_wait(c->aio);
    int rv = nng_aio_result(c->aio);
    if (rv != 0) {
        bench_fail("%s failed: %s", op == nng_stream_send ? "send" : "receive", nng_strerror(rv));
        return 0;
    }
    return nng_aio_count(c->aio);
}

static int call_once(void *arg)
{
    client *c = arg;
    size_t n;
    for (size_t off = 0; off < c->frame_len; off += n) {
        if ((n = wait_io(c, nng_stream_send, c->frame + off, c->frame_len - off)) == 0)
            return -1;
    }
    for (c->rx_len = 0; c->rx_len < c->frame_len; c->rx_len += n) {
        if ((n = wait_io(c, nng_stream_recv, c->rx + c->rx_len, c->rx_cap - c->rx_len)) == 0)
            return -1;
    }
    uint32_t len;
    memcpy(&len, c->rx, 4);
    if (c->rx_len != c->frame_len || !bench_check(c->rx + 4, ntohl(len), c->o->payload)) {
        bench_fail("wrong reply");
        return -1;
    }
    return 0;
}

/* fail_all retires every live slot after an I/O error. Called with mu held. */
static void fail_all(client *c, const char *what, int rv)
{
    if (c->failed)
        return;
    c->failed = true;
    bench_fail("%s failed: %s", what, nng_strerror(rv));
    for (; c->live > 0; c->live--)
        bench_flow_retire(c->flow);
}

/* start_send sends what is pending when no send is out. Called with mu held. */
static void start_send(client *c)
{
    if (c->tx_busy || c->pending_len == 0 || c->failed)
        return;
    uint8_t *t = c->sending;
    c->sending = c->pending;
    c->sending_len = c->pending_len;
    c->sending_off = 0;
    c->pending = t;
    c->pending_len = 0;
    c->tx_busy = true;
    nng_iov iov = {.iov_buf = c->sending, .iov_len = c->sending_len};
    nng_aio_set_iov(c->tx_aio, 1, &iov);
    nng_stream_send(c->s, c->tx_aio);
}

static void tx_cb(void *arg)
{
    client *c = arg;
    int rv = nng_aio_result(c->tx_aio);
    pthread_mutex_lock(&c->mu);
    if (rv != 0) {
        c->tx_busy = false;
        fail_all(c, "send", rv);
    } else if ((c->sending_off += nng_aio_count(c->tx_aio)) < c->sending_len) {
        nng_iov iov = {.iov_buf = c->sending + c->sending_off,
                       .iov_len = c->sending_len - c->sending_off};
        nng_aio_set_iov(c->tx_aio, 1, &iov);
        nng_stream_send(c->s, c->tx_aio);
    } else {
        c->tx_busy = false;
        start_send(c);
    }
    pthread_mutex_unlock(&c->mu);
}

static void post_recv(client *c)
{
    nng_iov iov = {.iov_buf = c->rx + c->rx_len, .iov_len = c->rx_cap - c->rx_len};
    nng_aio_set_iov(c->rx_aio, 1, &iov);
    nng_stream_recv(c->s, c->rx_aio);
}

/* rx_cb counts every whole reply received and queues one new request per slot that goes on,
 * all of them in one write. */
static void rx_cb(void *arg)
{
    client *c = arg;
    int rv = nng_aio_result(c->rx_aio);
    if (rv != 0) {
        pthread_mutex_lock(&c->mu);
        fail_all(c, "receive", rv);
        pthread_mutex_unlock(&c->mu);
        return;
    }
    c->rx_len += nng_aio_count(c->rx_aio);
    size_t off = 0;
    int next = 0, retired = 0, bad = 0;
    while (c->rx_len - off >= c->frame_len) {
        uint32_t len;
        memcpy(&len, c->rx + off, 4);
        bool ok = ntohl(len) == c->o->payload &&
                  bench_check(c->rx + off + 4, c->o->payload, c->o->payload);
        if (!ok)
            bad++;
        if (bench_flow_finish(c->flow, ok))
            next++;
        else
            retired++;
        off += c->frame_len;
    }
    c->rx_len -= off;
    memmove(c->rx, c->rx + off, c->rx_len);
    if (bad > 0)
        bench_fail("%d wrong replies", bad);
    pthread_mutex_lock(&c->mu);
    c->live -= retired;
    for (int i = 0; i < next; i++) {
        memcpy(c->pending + c->pending_len, c->frame, c->frame_len);
        c->pending_len += c->frame_len;
    }
    start_send(c);
    bool more = c->live > 0 && !c->failed;
    pthread_mutex_unlock(&c->mu);
    if (more)
        post_recv(c);
}

static int throughput(client *c)
{
    const bench_opts *o = c->o;
    size_t cap = (size_t)o->inflight * c->frame_len;
    int rv;
    c->pending = malloc(cap);
    c->sending = malloc(cap);
    c->flow = bench_flow_new(o->inflight);
    pthread_mutex_init(&c->mu, NULL);
    if (c->pending == NULL || c->sending == NULL || c->flow == NULL ||
        (rv = nng_aio_alloc(&c->rx_aio, rx_cb, c)) != 0 ||
        (rv = nng_aio_alloc(&c->tx_aio, tx_cb, c)) != 0) {
        bench_fail("out of memory");
        return -1;
    }
    c->live = o->inflight;
    c->rx_len = 0;
    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < o->inflight; i++) {
        memcpy(c->pending + c->pending_len, c->frame, c->frame_len);
        c->pending_len += c->frame_len;
    }
    start_send(c);
    pthread_mutex_unlock(&c->mu);
    post_recv(c);
    double rate;
    if ((rv = bench_flow_measure(o, c->flow, &rate)) == 0)
        bench_result("nng-stream", "throughput", rate);
    nng_aio_stop(c->rx_aio);
    nng_aio_stop(c->tx_aio);
    nng_aio_free(c->rx_aio);
    nng_aio_free(c->tx_aio);
    pthread_mutex_destroy(&c->mu);
    bench_flow_free(c->flow);
    free(c->pending);
    free(c->sending);
    return rv;
}

static int run(const bench_opts *o, const char *address)
{
    client c = {.o = o, .frame_len = 4 + o->payload};
    nng_stream_dialer *d = NULL;
    int rv;
    c.rx_cap = ((size_t)o->inflight + 1) * c.frame_len;
    c.frame = malloc(c.frame_len);
    c.rx = malloc(c.rx_cap);
    if (c.frame == NULL || c.rx == NULL || nng_aio_alloc(&c.aio, NULL, NULL) != 0) {
        bench_fail("out of memory");
        return 1;
    }
    uint32_t len = htonl((uint32_t)o->payload);
    memcpy(c.frame, &len, 4);
    bench_fill(c.frame + 4, o->payload);
    if ((rv = nng_stream_dialer_alloc(&d, address)) != 0 ||
        (rv = nng_stream_dialer_set_bool(d, NNG_OPT_TCP_NODELAY, true)) != 0) {
        bench_fail("cannot dial %s: %s", address, nng_strerror(rv));
        return 1;
    }
    nng_stream_dialer_dial(d, c.aio);
    nng_aio_wait(c.aio);
    if ((rv = nng_aio_result(c.aio)) != 0) {
        bench_fail("cannot connect to %s: %s", address, nng_strerror(rv));
        return 1;
    }
    c.s = nng_aio_get_output(c.aio, 0);
    nng_aio_set_timeout(c.aio, 10000);

    rv = 0;
    double p50, p99;
    if (o->latency && (rv = bench_latency(o, call_once, &c, &p50, &p99)) == 0) {
        bench_result("nng-stream", "p50_us", p50);
        bench_result("nng-stream", "p99_us", p99);
    }
    if (rv == 0 && o->throughput)
        rv = throughput(&c);
    nng_stream_close(c.s);
    nng_stream_free(c.s);
    nng_stream_dialer_free(d);
    nng_aio_free(c.aio);
    free(c.frame);
    free(c.rx);
    return rv == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    bench_opts o;
    bench_parse(&o, argc, argv,
                "bench-rpc-nng-stream measures nng's floor: length-prefixed frames echoed by an "
                "nng_stream_listener whose connections echo with callback aios, over tcp "
                "loopback. Latency with nng_aio_wait; throughput with --inflight frames in "
                "flight, new requests written in one batch per receive.");
    return bench_main(&o, serve, run);
}
