/* probe_client.c - rpc-probe-client: calls probe.Probe the ways tests/integration/rpc_test.py
 * asks for, and prints what happened as key=value lines. Exits 0 when what it checks itself
 * held, 1 otherwise, 2 on a usage error. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <silk/silk.h>

#include "probe.silk.h"

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ============================== a batch of asynchronous calls ============================== */

typedef struct batch {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
    int ok;
    int wrong; /* answered with another call's data, or more than once */
    int by_status[SILK_STATUS_COUNT];
    unsigned char *seen;
} batch;

typedef struct slot {
    batch *b;
    uint64_t seq;
} slot;

static void batch_cb(silk_status st, ProtobufCMessage *resp, const char *message, void *arg)
{
    (void)message;
    slot *s = arg;
    batch *b = s->b;
    pthread_mutex_lock(&b->mu);
    if (b->seen[s->seq]++ != 0)
        b->wrong++;
    b->by_status[st]++;
    if (st == SILK_OK) {
        Probe__EchoReply *r = (Probe__EchoReply *)resp;
        char want[64];
        snprintf(want, sizeof want, "call %llu", (unsigned long long)s->seq);
        if (r->seq == s->seq && strcmp(r->text, want) == 0)
            b->ok++;
        else
            b->wrong++;
        protobuf_c_message_free_unpacked(resp, NULL);
    }
    b->done++;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

static void batch_init(batch *b, size_t n)
{
    memset(b, 0, sizeof *b);
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    b->seen = calloc(n, 1);
}

static void batch_fini(batch *b)
{
    free(b->seen);
    pthread_cond_destroy(&b->cv);
    pthread_mutex_destroy(&b->mu);
}

static void batch_wait(batch *b, int n)
{
    pthread_mutex_lock(&b->mu);
    while (b->done < n)
        pthread_cond_wait(&b->cv, &b->mu);
    pthread_mutex_unlock(&b->mu);
}

/* concurrent starts n Echo calls at once and checks each gets its own answer. */
static int concurrent(silk_channel *ch, int n)
{
    batch b;
    batch_init(&b, (size_t)n);
    slot *slots = calloc((size_t)n, sizeof *slots);
    char(*texts)[32] = calloc((size_t)n, sizeof *texts);
    int started = 0;
    silk_ctx *ctx = silk_ctx_new();
    silk_ctx_set_timeout(ctx, 30000);
    for (int i = 0; i < n; i++) {
        slots[i] = (slot){.b = &b, .seq = (uint64_t)i};
        snprintf(texts[i], sizeof texts[i], "call %d", i);
        Probe__EchoRequest req = PROBE__ECHO_REQUEST__INIT;
        req.seq = (uint64_t)i;
        req.text = texts[i];
        req.sleep_ms = 1;
        if (probe__probe__call_echo_async(ch, ctx, &req, batch_cb, &slots[i]) == SILK_OK)
            started++;
    }
    batch_wait(&b, started);
    printf("started=%d ok=%d wrong=%d exhausted=%d\n", started, b.ok, b.wrong,
           b.by_status[SILK_RESOURCE_EXHAUSTED]);
    int rc = started == n && b.ok == n && b.wrong == 0 ? 0 : 1;
    silk_ctx_free(ctx);
    batch_fini(&b);
    free(texts);
    free(slots);
    return rc;
}

/* ============================== single calls ============================== */

static int echo(silk_channel *ch, const char *text, uint32_t timeout_ms)
{
    silk_ctx *ctx = silk_ctx_new();
    silk_ctx_set_timeout(ctx, timeout_ms);
    Probe__EchoRequest req = PROBE__ECHO_REQUEST__INIT;
    req.seq = 7;
    req.text = (char *)text;
    Probe__EchoReply *out = NULL;
    silk_status st = probe__probe__call_echo(ch, ctx, &req, &out);
    printf("status=%s message=\"%s\"\n", silk_status_str(st), silk_ctx_message(ctx));
    if (out != NULL) {
        printf("text=%s trace_id=%s\n", out->text, out->trace_id);
        protobuf_c_message_free_unpacked(&out->base, NULL);
    }
    silk_ctx_free(ctx);
    return st == SILK_OK ? 0 : 1;
}

/* call_raw calls method with a request message of another type, as a broken client would. */
static silk_status call_raw(silk_channel *ch, const char *path, const ProtobufCMessage *req,
                            silk_ctx *ctx)
{
    const silk_method_desc *echo_m = &probe__probe__silk_desc.methods[0];
    silk_method_desc m = *echo_m;
    m.path = path;
    m.input = req->descriptor;
    ProtobufCMessage *out = NULL;
    silk_status st = silk_call(ch, ctx, &m, req, &out);
    if (out != NULL)
        protobuf_c_message_free_unpacked(out, NULL);
    return st;
}

/* bad sends an unknown method, an undecodable payload and an oversized one (size bytes of
 * text), each followed by a good call. */
static int bad(silk_channel *ch, size_t size)
{
    silk_ctx *ctx = silk_ctx_new();
    int rc = 0;
    Probe__EchoRequest good = PROBE__ECHO_REQUEST__INIT;
    good.text = "still serving";

    silk_status st = call_raw(ch, "/probe.Probe/NoSuchMethod", &good.base, ctx);
    printf("unknown_method=%s\n", silk_status_str(st));
    rc |= st != SILK_UNIMPLEMENTED;
    rc |= call_raw(ch, "/probe.Probe/Echo", &good.base, ctx) != SILK_OK;

    Probe__BadEchoRequest wrong = PROBE__BAD_ECHO_REQUEST__INIT;
    wrong.seq = "not a number";
    st = call_raw(ch, "/probe.Probe/Echo", &wrong.base, ctx);
    printf("undecodable=%s\n", silk_status_str(st));
    rc |= st != SILK_INVALID_ARGUMENT;
    rc |= call_raw(ch, "/probe.Probe/Echo", &good.base, ctx) != SILK_OK;

    Probe__EchoRequest big = PROBE__ECHO_REQUEST__INIT;
    big.text = malloc(size + 1);
    memset(big.text, 'x', size);
    big.text[size] = '\0';
    st = call_raw(ch, "/probe.Probe/Echo", &big.base, ctx);
    printf("oversized=%s\n", silk_status_str(st));
    rc |= st != SILK_RESOURCE_EXHAUSTED;
    free(big.text);
    st = call_raw(ch, "/probe.Probe/Echo", &good.base, ctx);
    printf("after=%s\n", silk_status_str(st));
    rc |= st != SILK_OK;
    silk_ctx_free(ctx);
    return rc;
}

/* hop calls Hop on first, which calls Hop on second, with a deadline of timeout_ms. */
static int hop(silk_channel *ch, const char *second, uint32_t timeout_ms)
{
    silk_ctx *ctx = silk_ctx_new();
    silk_ctx_set_timeout(ctx, timeout_ms);
    Probe__HopRequest req = PROBE__HOP_REQUEST__INIT;
    req.next = (char *)second;
    Probe__HopReply *out = NULL;
    silk_status st = probe__probe__call_hop(ch, ctx, &req, &out);
    printf("status=%s message=\"%s\"\n", silk_status_str(st), silk_ctx_message(ctx));
    int rc = 1;
    if (out != NULL && out->n_budget_us == 2) {
        int64_t a = out->budget_us[0], b = out->budget_us[1];
        printf("budget_a_us=%lld budget_b_us=%lld\n", (long long)a, (long long)b);
        rc = a > 0 && a <= (int64_t)timeout_ms * 1000 && b > 0 && b < a ? 0 : 1;
    }
    if (out != NULL)
        protobuf_c_message_free_unpacked(&out->base, NULL);
    silk_ctx_free(ctx);
    return rc;
}

/* ============================== cancellation ============================== */

typedef struct once {
    atomic_int calls;
    atomic_int status;
} once;

static void once_cb(silk_status st, ProtobufCMessage *resp, const char *message, void *arg)
{
    (void)message;
    once *o = arg;
    atomic_fetch_add(&o->calls, 1);
    atomic_store(&o->status, (int)st);
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
}

static bool stats(silk_channel *ch, Probe__StatsReply **out)
{
    Probe__StatsRequest req = PROBE__STATS_REQUEST__INIT;
    return probe__probe__call_stats(ch, NULL, &req, out) == SILK_OK;
}

/* cancel starts a long Wait, cancels it once the server runs it, and checks that the
 * callback ran once with CANCELLED and that the handler saw the cancel. */
static int cancel(silk_channel *ch, const char *next)
{
    once o = {0};
    Probe__WaitRequest req = PROBE__WAIT_REQUEST__INIT;
    req.wait_ms = 20000;
    req.next = (char *)next;
    silk_ctx *ctx = silk_ctx_new();
    silk_ctx_set_timeout(ctx, 30000);
    silk_call_id id = 0;
    silk_status st =
        silk_call_start(ch, ctx, &probe__probe__silk_desc.methods[2], &req.base, once_cb, &o, &id);
    silk_ctx_free(ctx);
    if (st != SILK_OK) {
        printf("start=%s\n", silk_status_str(st));
        return 1;
    }
    /* The call is cancelled once the last hop runs it. */
    silk_channel *last = ch;
    if (next != NULL && next[0] != '\0' && silk_channel_open(&last, next) != SILK_OK)
        return 1;
    Probe__StatsReply *s = NULL;
    int64_t until = now_ms() + 10000;
    while (now_ms() < until && stats(last, &s) && s->waits_started == 0) {
        protobuf_c_message_free_unpacked(&s->base, NULL);
        s = NULL;
        usleep(10000);
    }
    if (s != NULL)
        protobuf_c_message_free_unpacked(&s->base, NULL);
    if (last != ch)
        silk_channel_close(last);
    silk_call_cancel(ch, id);
    silk_call_cancel(ch, id); /* a second cancel is a no-op */
    int seen = 0;
    until = now_ms() + 10000;
    while (now_ms() < until && seen == 0) {
        s = NULL;
        if (stats(ch, &s)) {
            seen = (int)s->cancels_seen;
            protobuf_c_message_free_unpacked(&s->base, NULL);
        }
        if (seen == 0)
            usleep(10000);
    }
    usleep(100000); /* time for a stray second completion to show */
    printf("callbacks=%d status=%s server_saw_cancel=%d\n", atomic_load(&o.calls),
           silk_status_str((silk_status)atomic_load(&o.status)), seen);
    return atomic_load(&o.calls) == 1 && atomic_load(&o.status) == SILK_CANCELLED && seen == 1 ? 0
                                                                                               : 1;
}

/* ============================== failures ============================== */

/* hang makes one long call and reports how it ended; the test kills the server meanwhile. */
static int hang(silk_channel *ch, const char *method)
{
    silk_ctx *ctx = silk_ctx_new();
    silk_ctx_set_timeout(ctx, 60000);
    silk_status st;
    if (strcmp(method, "incr") == 0) {
        Probe__IncrRequest req = PROBE__INCR_REQUEST__INIT;
        req.sleep_ms = 30000;
        Probe__IncrReply *out = NULL;
        printf("calling\n");
        fflush(stdout);
        st = probe__probe__call_incr(ch, ctx, &req, &out);
        if (out != NULL)
            protobuf_c_message_free_unpacked(&out->base, NULL);
    } else {
        Probe__WaitRequest req = PROBE__WAIT_REQUEST__INIT;
        req.wait_ms = 30000;
        Probe__WaitReply *out = NULL;
        printf("calling\n");
        fflush(stdout);
        st = probe__probe__call_wait(ch, ctx, &req, &out);
        if (out != NULL)
            protobuf_c_message_free_unpacked(&out->base, NULL);
    }
    printf("status=%s message=\"%s\"\n", silk_status_str(st), silk_ctx_message(ctx));
    silk_ctx_free(ctx);
    return 0;
}

/* incr makes n Incr calls one after another and prints how many succeeded. */
static int incr(silk_channel *ch, int n)
{
    int ok = 0;
    for (int i = 0; i < n; i++) {
        Probe__IncrRequest req = PROBE__INCR_REQUEST__INIT;
        Probe__IncrReply *out = NULL;
        if (probe__probe__call_incr(ch, NULL, &req, &out) == SILK_OK)
            ok++;
        if (out != NULL)
            protobuf_c_message_free_unpacked(&out->base, NULL);
    }
    printf("ok=%d\n", ok);
    return 0;
}

static int print_stats(silk_channel *ch)
{
    Probe__StatsReply *s = NULL;
    if (!stats(ch, &s))
        return 1;
    printf("counter=%llu waits_started=%llu cancels_seen=%llu\n", (unsigned long long)s->counter,
           (unsigned long long)s->waits_started, (unsigned long long)s->cancels_seen);
    protobuf_c_message_free_unpacked(&s->base, NULL);
    return 0;
}

/* shutdown starts n long Waits, then closes the channel with them in flight: every callback
 * must run once, with CANCELLED, before silk_channel_close returns. */
static int shutdown_in_flight(silk_channel **chp, int n)
{
    once *o = calloc((size_t)n, sizeof *o);
    Probe__WaitRequest req = PROBE__WAIT_REQUEST__INIT;
    req.wait_ms = 30000;
    int started = 0;
    for (int i = 0; i < n; i++)
        started += probe__probe__call_wait_async(*chp, NULL, &req, once_cb, &o[i]) == SILK_OK;
    usleep(300000); /* let them reach the server */
    int64_t t0 = now_ms();
    silk_channel_close(*chp);
    *chp = NULL;
    int64_t took = now_ms() - t0;
    int once_cancelled = 0;
    for (int i = 0; i < started; i++)
        once_cancelled += atomic_load(&o[i].calls) == 1 && atomic_load(&o[i].status) != SILK_OK;
    printf("started=%d completed_once=%d close_ms=%lld\n", started, once_cancelled,
           (long long)took);
    free(o);
    return started == n && once_cancelled == n ? 0 : 1;
}

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: rpc-probe-client TARGET COMMAND [ARG]\n"
        "\n"
        "TARGET is an address or a service name. Commands:\n"
        "  echo TEXT [TIMEOUT_MS]  one Echo\n"
        "  concurrent N            N Echo calls in flight at once\n"
        "  bad SIZE                bad inputs (SIZE: an oversized text), each then a good call\n"
        "  hop ADDRESS TIMEOUT_MS  Hop through TARGET to ADDRESS\n"
        "  cancel [ADDRESS]        cancel a Wait the server runs (nested on ADDRESS)\n"
        "  hang wait|incr          one long call, for the test to kill the server\n"
        "  incr N                  N Incr calls\n"
        "  stats                   the instance's counters\n"
        "  shutdown N              close the channel with N calls in flight\n");
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        usage(stderr);
        return 2;
    }
    silk_channel *ch = NULL;
    silk_status st = silk_channel_open(&ch, argv[1]);
    if (st != SILK_OK) {
        fprintf(stderr, "rpc-probe-client: cannot open %s: %s\n", argv[1], silk_status_str(st));
        return 1;
    }
    const char *cmd = argv[2];
    const char *arg = argc > 3 ? argv[3] : "";
    int rc = 2;
    if (strcmp(cmd, "echo") == 0)
        rc = echo(ch, arg, argc > 4 ? (uint32_t)atoi(argv[4]) : 5000);
    else if (strcmp(cmd, "concurrent") == 0)
        rc = concurrent(ch, atoi(arg));
    else if (strcmp(cmd, "bad") == 0)
        rc = bad(ch, (size_t)atol(arg));
    else if (strcmp(cmd, "hop") == 0 && argc > 4)
        rc = hop(ch, arg, (uint32_t)atoi(argv[4]));
    else if (strcmp(cmd, "cancel") == 0)
        rc = cancel(ch, arg);
    else if (strcmp(cmd, "hang") == 0)
        rc = hang(ch, arg);
    else if (strcmp(cmd, "incr") == 0)
        rc = incr(ch, atoi(arg));
    else if (strcmp(cmd, "stats") == 0)
        rc = print_stats(ch);
    else if (strcmp(cmd, "shutdown") == 0)
        rc = shutdown_in_flight(&ch, atoi(arg));
    if (rc == 2)
        usage(stderr);
    silk_channel_close(ch);
    return rc;
}
