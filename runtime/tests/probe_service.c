/* probe_service.c - rpc-probe-service: the Probe service, run as a real process by
 * tests/integration/rpc_test.py. */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <silk/silk.h>

#include "probe.silk.h"

static atomic_uint_fast64_t counter;
static atomic_uint_fast64_t waits_started;
static atomic_uint_fast64_t cancels_seen;
static atomic_uint_fast64_t echoes;
static atomic_bool failing;
static const char *instance_id = ""; /* --id */

static silk_status echo(silk_ctx *ctx, const Probe__EchoRequest *req, Probe__EchoReply *resp,
                        void *user)
{
    (void)user;
    atomic_fetch_add(&echoes, 1);
    if (atomic_load(&failing))
        return silk_ctx_fail(ctx, SILK_UNAVAILABLE, "%s is failing on purpose", instance_id);
    if (req->sleep_ms != 0)
        usleep(req->sleep_ms * 1000u);
    resp->seq = req->seq;
    resp->text = req->text;
    const char *trace = silk_ctx_get(ctx, SILK_MD_TRACE_ID);
    resp->trace_id = silk_ctx_strdup(ctx, trace != NULL ? trace : "");
    resp->instance = (char *)instance_id;
    return SILK_OK;
}

/* keyed answers like Echo, with the key as its text. */
static silk_status keyed(silk_ctx *ctx, const Probe__KeyedRequest *req, Probe__EchoReply *resp,
                         void *user)
{
    Probe__EchoRequest as_echo = PROBE__ECHO_REQUEST__INIT;
    as_echo.text = req->key;
    return echo(ctx, &as_echo, resp, user);
}

static silk_status stats(silk_ctx *ctx, const Probe__StatsRequest *req, Probe__StatsReply *resp,
                         void *user);

static silk_status set_failing(silk_ctx *ctx, const Probe__SetFailingRequest *req,
                               Probe__StatsReply *resp, void *user)
{
    atomic_store(&failing, req->failing);
    fprintf(stderr, "probe: failing=%d\n", (int)req->failing);
    return stats(ctx, NULL, resp, user);
}

/* hop reports the budget it was given, then what the next hop saw with what is left. */
static silk_status hop(silk_ctx *ctx, const Probe__HopRequest *req, Probe__HopReply *resp,
                       void *user)
{
    (void)user;
    int64_t mine = silk_ctx_remaining_us(ctx);
    Probe__HopReply *next = NULL;
    if (req->next != NULL && req->next[0] != '\0') {
        silk_channel *ch = NULL;
        silk_status st = silk_channel_open(&ch, req->next);
        if (st != SILK_OK)
            return silk_ctx_fail(ctx, st, "cannot open a channel to %s", req->next);
        usleep(20000); /* spend some of the budget on the way */
        Probe__HopRequest last = PROBE__HOP_REQUEST__INIT;
        st = probe__probe__call_hop(ch, ctx, &last, &next);
        silk_channel_close(ch);
        if (st != SILK_OK)
            return st;
    }
    size_t n = 1 + (next != NULL ? next->n_budget_us : 0);
    resp->budget_us = silk_ctx_alloc(ctx, n * sizeof *resp->budget_us);
    if (resp->budget_us == NULL) {
        protobuf_c_message_free_unpacked(&next->base, NULL);
        return SILK_RESOURCE_EXHAUSTED;
    }
    resp->n_budget_us = n;
    resp->budget_us[0] = mine;
    for (size_t i = 1; i < n; i++)
        resp->budget_us[i] = next->budget_us[i - 1];
    if (next != NULL)
        protobuf_c_message_free_unpacked(&next->base, NULL);
    return SILK_OK;
}

/* wait waits for its call to be cancelled, or wait_ms. */
static silk_status wait_cancel(silk_ctx *ctx, const Probe__WaitRequest *req, Probe__WaitReply *resp,
                               void *user)
{
    (void)user;
    fprintf(stderr, "probe: wait started\n");
    if (req->next != NULL && req->next[0] != '\0') {
        silk_channel *ch = NULL;
        silk_status st = silk_channel_open(&ch, req->next);
        if (st != SILK_OK)
            return silk_ctx_fail(ctx, st, "cannot open a channel to %s", req->next);
        Probe__WaitRequest inner = PROBE__WAIT_REQUEST__INIT;
        inner.wait_ms = req->wait_ms;
        Probe__WaitReply *out = NULL;
        st = probe__probe__call_wait(ch, ctx, &inner, &out);
        fprintf(stderr, "probe: nested wait status=%s\n", silk_status_str(st));
        if (out != NULL)
            protobuf_c_message_free_unpacked(&out->base, NULL);
        silk_channel_close(ch);
    } else {
        atomic_fetch_add(&waits_started, 1); /* counts the waits that wait here */
    }
    for (uint32_t waited = 0; waited < req->wait_ms && !silk_ctx_cancelled(ctx); waited += 10)
        usleep(10000);
    resp->cancelled = silk_ctx_cancelled(ctx);
    if (resp->cancelled) {
        atomic_fetch_add(&cancels_seen, 1);
        fprintf(stderr, "probe: cancel seen\n");
    }
    return SILK_OK;
}

static silk_status incr(silk_ctx *ctx, const Probe__IncrRequest *req, Probe__IncrReply *resp,
                        void *user)
{
    (void)ctx;
    (void)user;
    resp->value = atomic_fetch_add(&counter, 1) + 1;
    resp->instance = (char *)instance_id;
    fprintf(stderr, "probe: incr value=%llu\n", (unsigned long long)resp->value);
    if (req->sleep_ms != 0)
        usleep(req->sleep_ms * 1000u);
    return SILK_OK;
}

static silk_status stats(silk_ctx *ctx, const Probe__StatsRequest *req, Probe__StatsReply *resp,
                         void *user)
{
    (void)ctx;
    (void)req;
    (void)user;
    resp->counter = atomic_load(&counter);
    resp->waits_started = atomic_load(&waits_started);
    resp->cancels_seen = atomic_load(&cancels_seen);
    resp->echoes = atomic_load(&echoes);
    return SILK_OK;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: rpc-probe-service [--max-message BYTES] [--max-concurrent N] [--workers N]\n"
            "                         [--inline] [--id INSTANCE_ID]\n"
            "\n"
            "Serves probe.Probe until SIGTERM or SIGINT, at $SILK_LISTEN, registered in\n"
            "$SILK_REGISTRY. --inline runs its handlers on nng's callback. --id sets the\n"
            "instance id, which Echo, Keyed and Incr replies carry.\n");
}

int main(int argc, char **argv)
{
    silk_server_opts opts = {0};
    bool run_inline = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--max-message") == 0 && i + 1 < argc) {
            opts.max_message = (uint32_t)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--max-concurrent") == 0 && i + 1 < argc) {
            opts.max_concurrent = (unsigned)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc) {
            opts.workers = (unsigned)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--id") == 0 && i + 1 < argc) {
            opts.instance_id = instance_id = argv[++i];
        } else if (strcmp(argv[i], "--inline") == 0) {
            run_inline = true;
        } else if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    silk_server *srv = silk_server_new(&opts);
    if (srv == NULL)
        return 1;
    Probe__Probe_Handlers h = {
        .echo = echo,
        .hop = hop,
        .wait = wait_cancel,
        .incr = incr,
        .stats = stats,
        .keyed = keyed,
        .set_failing = set_failing,
    };
    silk_status st = probe__probe__serve(srv, &h, NULL);
    if (st == SILK_OK && run_inline)
        st = silk_server_set_inline(srv, &probe__probe__silk_desc);
    if (st != SILK_OK) {
        fprintf(stderr, "rpc-probe-service: cannot serve Probe: %s\n", silk_status_str(st));
        silk_server_free(srv);
        return 1;
    }
    return silk_server_run(srv);
}
