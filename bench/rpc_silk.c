/* rpc_silk.c - bench-rpc-silk: unary echo through silk's channel and server over tcp.
 *
 * Two servers, each its own child process: "pool", where handlers run on the worker pool
 * (the default), and "inline", where the service is marked with silk_server_set_inline() -
 * its handler never blocks - and runs on nng's receive callback. The client measures
 * latency with blocking calls and throughput with silk_channel_call_async keeping calls in flight
 * on one channel (one connection), each completion starting the next call. It prints the figures of
 * each server (peers silk-pool and silk-inline) and, as peer silk, the better of each. The
 * servers listen on $SILK_LISTEN when it is set (tls+tcp://127.0.0.1:0 with SILK_TLS_* for
 * mutual TLS), else on tcp://127.0.0.1:0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <silk/silk.h>

#include "bench.h"
#include "echo.silk.h"

/* The server admits this many calls at once: above the 64 kept in flight, so that the
 * default limit of 50 (which would answer RESOURCE_EXHAUSTED) does not shape the figure. */
#define MAX_CONCURRENT 1024

/* ============================== the server ============================== */

/* echo answers with the request's bytes, which live until the reply is sent. */
static silk_status echo(silk_ctx *ctx, const Bench__Msg *req, Bench__Msg *resp, void *user)
{
    (void)ctx;
    (void)user;
    resp->data = req->data;
    return SILK_OK;
}

static int serve(const char *variant)
{
    bool run_inline = variant != NULL && strcmp(variant, "inline") == 0;
    if (variant != NULL && !run_inline && strcmp(variant, "pool") != 0) {
        bench_fail("unknown --variant %s (pool or inline)", variant);
        return 2;
    }
    /* $SILK_LISTEN, else tcp://127.0.0.1:0 (silk's default): tls+tcp://127.0.0.1:0, with
     * SILK_TLS_CERT, SILK_TLS_KEY and SILK_TLS_CA set for both sides, measures TLS. */
    silk_server_opts opts = {.no_register = true, .max_concurrent = MAX_CONCURRENT};
    silk_server *srv = silk_server_new(&opts);
    if (srv == NULL)
        return 1;
    silk_status st = bench__echo__serve(srv, &(Bench__Echo_Handlers){.echo = echo}, NULL);
    if (st == SILK_OK && run_inline)
        st = silk_server_set_inline(srv, &bench__echo__silk_desc);
    if (st == SILK_OK)
        st = silk_server_start(srv);
    if (st != SILK_OK) {
        bench_fail("cannot start the server: %s", silk_status_str(st));
        silk_server_free(srv);
        return 1;
    }
    bench_serve_ready(silk_server_address(srv));
    silk_server_free(srv);
    return 0;
}

/* ============================== the client ============================== */

typedef struct client {
    const bench_opts *o;
    silk_channel *ch;
    Bench__Msg req;
    bench_flow *flow;
} client;

static bool echoed(const client *c, silk_status st, const ProtobufCMessage *resp)
{
    const Bench__Msg *m = (const Bench__Msg *)resp;
    return st == SILK_OK && m != NULL && bench_check(m->data.data, m->data.len, c->o->payload);
}

static int call_once(void *arg)
{
    client *c = arg;
    Bench__Msg *resp = NULL;
    silk_status st = bench__echo__call_echo(c->ch, NULL, &c->req, &resp);
    bool ok = echoed(c, st, (const ProtobufCMessage *)resp);
    if (!ok)
        bench_fail("call failed: %s", silk_status_str(st));
    if (resp != NULL)
        bench__msg__free_unpacked(resp, NULL);
    return ok ? 0 : -1;
}

/* next starts the next call of a slot, from main or from the previous call's completion. */
static void next(client *c);

static void done(silk_status st, ProtobufCMessage *resp, const char *message, void *arg)
{
    client *c = arg;
    bool ok = echoed(c, st, resp);
    if (!ok)
        bench_fail("call failed: %s %s", silk_status_str(st), message != NULL ? message : "");
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    if (bench_flow_finish(c->flow, ok))
        next(c);
}

static void next(client *c)
{
    silk_status st = bench__echo__call_echo_async(c->ch, NULL, &c->req, done, c, NULL);
    if (st != SILK_OK) {
        bench_fail("cannot start a call: %s", silk_status_str(st));
        bench_flow_retire(c->flow);
    }
}

/* run measures one server; the figures go to stdout as peer and into best. */
static int run(const bench_opts *o, const char *address, const char *peer, double best[3])
{
    client c = {.o = o, .req = BENCH__MSG__INIT};
    uint8_t *payload = malloc(o->payload + 1);
    silk_status st = silk_channel_open(&c.ch, address);
    if (payload == NULL || st != SILK_OK) {
        bench_fail("cannot open a channel to %s: %s", address, silk_status_str(st));
        free(payload);
        return 1;
    }
    bench_fill(payload, o->payload);
    c.req.data = (ProtobufCBinaryData){.len = o->payload, .data = payload};

    int rc = 0;
    double p50, p99;
    if (o->latency && (rc = bench_latency(o, call_once, &c, &p50, &p99)) == 0) {
        bench_result(peer, "p50_us", p50);
        bench_result(peer, "p99_us", p99);
        best[0] = p50 < best[0] ? p50 : best[0];
        best[1] = p99 < best[1] ? p99 : best[1];
    }
    if (rc == 0 && o->throughput) {
        double rate;
        rc = -1;
        if ((c.flow = bench_flow_new(o->inflight)) != NULL) {
            for (int i = 0; i < o->inflight; i++)
                next(&c);
            if ((rc = bench_flow_measure(o, c.flow, &rate)) == 0) {
                bench_result(peer, "throughput", rate);
                best[2] = rate > best[2] ? rate : best[2];
            }
        }
    }
    silk_channel_close(c.ch);
    bench_flow_free(c.flow);
    free(payload);
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    bench_opts o;
    bench_parse(&o, argc, argv,
                "bench-rpc-silk measures unary echo through silk (channel, server) over tcp "
                "loopback, with handlers on the worker pool and inline (--variant pool|inline "
                "with --serve), and reports the better of each figure as peer silk.");
    if (o.serve)
        return serve(o.variant);
    double best[3] = {1e300, 1e300, 0};
    if (o.connect != NULL)
        return run(&o, o.connect, "silk", best);

    const char *variants[] = {"pool", "inline"};
    bench_server servers[2];
    for (int i = 0; i < 2; i++) {
        if (bench_spawn(&servers[i], &o, variants[i]) != 0) {
            for (int j = 0; j < i; j++)
                bench_stop(&servers[j]);
            return 1;
        }
    }
    int rc = 0;
    for (int i = 0; i < 2 && rc == 0; i++) {
        char peer[32];
        snprintf(peer, sizeof peer, "silk-%s", variants[i]);
        rc = run(&o, servers[i].address, peer, best);
    }
    for (int i = 0; i < 2; i++) {
        if (bench_stop(&servers[i]) != 0) {
            bench_fail("the %s server did not exit cleanly", variants[i]);
            rc = 1;
        }
    }
    if (rc != 0)
        return 1;
    if (o.latency) {
        bench_result("silk", "p50_us", best[0]);
        bench_result("silk", "p99_us", best[1]);
    }
    if (o.throughput)
        bench_result("silk", "throughput", best[2]);
    return 0;
}
