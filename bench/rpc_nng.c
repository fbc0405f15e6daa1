/* rpc_nng.c - bench-rpc-nng: unary echo as plain nng gives it, req0/rep0 with contexts + aio. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include "bench.h"

/* ============================== the server ============================== */

/* A server slot is one rep context and its callback aio: receive, send the message back,
 * receive again. */
typedef struct sslot {
    nng_ctx ctx;
    nng_aio *aio;
    bool sending;
} sslot;

static void sslot_cb(void *arg)
{
    sslot *s = arg;
    int rv = nng_aio_result(s->aio);
    if (s->sending) {
        if (rv != 0)
            nng_msg_free(nng_aio_get_msg(s->aio));
        s->sending = false;
        if (rv == 0)
            nng_ctx_recv(s->ctx, s->aio);
        return;
    }
    if (rv != 0) /* closed or stopped */
        return;
    s->sending = true;
    nng_aio_set_msg(s->aio, nng_aio_get_msg(s->aio));
    nng_ctx_send(s->ctx, s->aio);
}

static int serve(const bench_opts *o)
{
    nng_socket sock;
    nng_listener l;
    nng_sockaddr sa;
    int rv;
    /* As many contexts as the client keeps calls in flight: the same concurrency. */
    sslot *slots = calloc((size_t)o->inflight, sizeof *slots);
    if (slots == NULL || (rv = nng_rep0_open(&sock)) != 0) {
        bench_fail("cannot open a rep0 socket");
        return 1;
    }
    if ((rv = nng_listen(sock, "tcp://127.0.0.1:0", &l, 0)) != 0 ||
        (rv = nng_listener_get_addr(l, NNG_OPT_LOCADDR, &sa)) != 0) {
        bench_fail("cannot listen: %s", nng_strerror(rv));
        return 1;
    }
    for (int i = 0; i < o->inflight; i++) {
        if ((rv = nng_ctx_open(&slots[i].ctx, sock)) != 0 ||
            (rv = nng_aio_alloc(&slots[i].aio, sslot_cb, &slots[i])) != 0) {
            bench_fail("cannot make a context: %s", nng_strerror(rv));
            return 1;
        }
        nng_ctx_recv(slots[i].ctx, slots[i].aio);
    }
    char address[64];
    snprintf(address, sizeof address, "tcp://127.0.0.1:%u", ntohs(sa.s_in.sa_port));
    bench_serve_ready(address);
    /* nng 1.5.2's nng_close can hang with operations in flight: stop every aio first. */
    for (int i = 0; i < o->inflight; i++)
        nng_aio_stop(slots[i].aio);
    nng_close(sock);
    for (int i = 0; i < o->inflight; i++)
        nng_aio_free(slots[i].aio);
    free(slots);
    return 0;
}

/* ============================== the client ============================== */

typedef struct client client;

/* A client slot is one req context with its callback aio: send a request, receive the
 * reply, count it, send the next. */
typedef struct cslot {
    client *c;
    nng_ctx ctx;
    nng_aio *aio;
    bool receiving;
} cslot;

struct client {
    const bench_opts *o;
    nng_socket sock;
    uint8_t *payload;
    cslot one; /* the latency test's context, used with nng_aio_wait */
    bench_flow *flow;
};

static nng_msg *request(const client *c)
{
    nng_msg *m = NULL;
    if (nng_msg_alloc(&m, 0) != 0 || nng_msg_append(m, c->payload, c->o->payload) != 0) {
        nng_msg_free(m);
        return NULL;
    }
    return m;
}

/* reply_ok checks and frees a reply. */
static bool reply_ok(const client *c, nng_msg *m)
{
    bool ok = m != NULL && bench_check(nng_msg_body(m), nng_msg_len(m), c->o->payload);
    nng_msg_free(m);
    return ok;
}

static int call_once(void *arg)
{
    client *c = arg;
    cslot *s = &c->one;
    nng_msg *m = request(c);
    if (m == NULL)
        return -1;
    nng_aio_set_msg(s->aio, m);
    nng_ctx_send(s->ctx, s->aio);
    nng_aio_wait(s->aio);
    int rv = nng_aio_result(s->aio);
    if (rv != 0) {
        nng_msg_free(m);
        bench_fail("send failed: %s", nng_strerror(rv));
        return -1;
    }
    nng_ctx_recv(s->ctx, s->aio);
    nng_aio_wait(s->aio);
    if ((rv = nng_aio_result(s->aio)) != 0 || !reply_ok(c, nng_aio_get_msg(s->aio))) {
        bench_fail("receive failed: %s", rv != 0 ? nng_strerror(rv) : "wrong reply");
        return -1;
    }
    return 0;
}

/* send_next starts the next request of a slot, or retires it. */
static void send_next(cslot *s)
{
    nng_msg *m = request(s->c);
    if (m == NULL) {
        bench_flow_retire(s->c->flow);
        return;
    }
    s->receiving = false;
    nng_aio_set_msg(s->aio, m);
    nng_ctx_send(s->ctx, s->aio);
}

static void cslot_cb(void *arg)
{
    cslot *s = arg;
    client *c = s->c;
    int rv = nng_aio_result(s->aio);
    if (!s->receiving) {
        if (rv == 0) {
            s->receiving = true;
            nng_ctx_recv(s->ctx, s->aio);
            return;
        }
        nng_msg_free(nng_aio_get_msg(s->aio));
        bench_fail("send failed: %s", nng_strerror(rv));
        bench_flow_retire(c->flow);
        return;
    }
    bool ok = rv == 0 && reply_ok(c, nng_aio_get_msg(s->aio));
    if (!ok)
        bench_fail("receive failed: %s", rv != 0 ? nng_strerror(rv) : "wrong reply");
    if (bench_flow_finish(c->flow, ok))
        send_next(s);
}

static int throughput(client *c)
{
    const bench_opts *o = c->o;
    cslot *slots = calloc((size_t)o->inflight, sizeof *slots);
    if (slots == NULL || (c->flow = bench_flow_new(o->inflight)) == NULL) {
        free(slots);
        return -1;
    }
    int n = 0, rv = 0;
    for (; n < o->inflight; n++) {
        slots[n].c = c;
        if ((rv = nng_ctx_open(&slots[n].ctx, c->sock)) != 0 ||
            (rv = nng_aio_alloc(&slots[n].aio, cslot_cb, &slots[n])) != 0) {
            bench_fail("cannot make a context: %s", nng_strerror(rv));
            break;
        }
    }
    if (rv == 0) {
        for (int i = 0; i < o->inflight; i++)
            send_next(&slots[i]);
        double rate;
        if ((rv = bench_flow_measure(o, c->flow, &rate)) == 0)
            bench_result("nng", "throughput", rate);
    }
    for (int i = 0; i < n; i++) {
        nng_aio_stop(slots[i].aio);
        nng_ctx_close(slots[i].ctx);
        nng_aio_free(slots[i].aio);
    }
    free(slots);
    bench_flow_free(c->flow);
    return rv;
}

static int run(const bench_opts *o, const char *address)
{
    client c = {.o = o};
    int rv;
    if ((c.payload = malloc(o->payload + 1)) == NULL || (rv = nng_req0_open(&c.sock)) != 0) {
        bench_fail("cannot open a req0 socket");
        return 1;
    }
    bench_fill(c.payload, o->payload);
    nng_socket_set_ms(c.sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE); /* never resend */
    if ((rv = nng_dial(c.sock, address, NULL, 0)) != 0 ||
        (rv = nng_ctx_open(&c.one.ctx, c.sock)) != 0 ||
        (rv = nng_aio_alloc(&c.one.aio, NULL, NULL)) != 0) {
        bench_fail("cannot connect to %s: %s", address, nng_strerror(rv));
        return 1;
    }
    nng_aio_set_timeout(c.one.aio, 10000);
    rv = 0;
    double p50, p99;
    if (o->latency && (rv = bench_latency(o, call_once, &c, &p50, &p99)) == 0) {
        bench_result("nng", "p50_us", p50);
        bench_result("nng", "p99_us", p99);
    }
    nng_aio_stop(c.one.aio);
    nng_ctx_close(c.one.ctx);
    nng_aio_free(c.one.aio);
    if (rv == 0 && o->throughput)
        rv = throughput(&c);
    nng_close(c.sock);
    free(c.payload);
    return rv == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    bench_opts o;
    bench_parse(&o, argc, argv,
                "bench-rpc-nng measures unary echo through nng's req0/rep0 with contexts and "
                "aio (one context per call in flight on each side) over tcp loopback: what a "
                "plain nng RPC gives.");
    return bench_main(&o, serve, run);
}
