/* http_direct.c - bench-http-direct: bench-http's direct leg, benchhttp.Api/Echo called over
 * RPC with the generated typed call, as many calls in flight as wrk has connections.
 *
 * Each of --inflight slots is a chain of calls, each completion starting the next; after a
 * warm-up, the completions and their latencies in a window of --seconds are counted. It
 * prints `result direct throughput|p50_us|p99_us <value>` like the other bench programs. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <silk/silk.h>

#include "bench.h"
#include "http.silk.h"

/* slot is one chain of calls; only its own completions touch it, one at a time. */
typedef struct slot {
    struct run *run;
    Benchhttp__EchoRequest req;
    uint64_t started;
    uint64_t *lat; /* latencies in the window, ns */
    size_t n, cap;
} slot;

typedef struct run {
    silk_channel *ch;
    silk_ctx *ctx;
    size_t payload;
    atomic_bool measuring;
    atomic_bool stop;
    atomic_ulong done;
    atomic_ulong errors;
    atomic_int running;
} run;

static void next(slot *s);

static void record(slot *s, uint64_t ns)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4096;
        uint64_t *l = realloc(s->lat, cap * sizeof *l);
        if (l == NULL)
            return; /* the figure loses a sample, nothing worse */
        s->lat = l;
        s->cap = cap;
    }
    s->lat[s->n++] = ns;
}

static void done(silk_status st, ProtobufCMessage *resp, const char *message, void *arg)
{
    slot *s = arg;
    run *r = s->run;
    uint64_t ns = bench_now_ns() - s->started;
    const Benchhttp__EchoReply *m = (const Benchhttp__EchoReply *)resp;
    bool ok = st == SILK_OK && m != NULL && m->seq == s->req.seq && m->length == r->payload;
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    if (!ok) {
        bench_fail("call failed: %s %s", silk_status_str(st), message != NULL ? message : "");
        atomic_fetch_add(&r->errors, 1);
        atomic_fetch_sub(&r->running, 1);
        return;
    }
    if (atomic_load_explicit(&r->measuring, memory_order_relaxed)) {
        atomic_fetch_add_explicit(&r->done, 1, memory_order_relaxed);
        record(s, ns);
    }
    if (atomic_load_explicit(&r->stop, memory_order_relaxed)) {
        atomic_fetch_sub(&r->running, 1);
        return;
    }
    next(s);
}

static void next(slot *s)
{
    run *r = s->run;
    s->req.seq++;
    s->started = bench_now_ns();
    silk_status st = benchhttp__api__call_echo_async(r->ch, r->ctx, &s->req, done, s, NULL);
    if (st != SILK_OK) {
        bench_fail("cannot start a call: %s", silk_status_str(st));
        atomic_fetch_add(&r->errors, 1);
        atomic_fetch_sub(&r->running, 1);
    }
}

static void sleep_s(double s)
{
    struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* report sorts every slot's latencies together and prints the figures. */
static int report(slot *slots, int n, double rate)
{
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += slots[i].n;
    uint64_t *all = malloc((total ? total : 1) * sizeof *all);
    if (all == NULL || total == 0) {
        bench_fail(total == 0 ? "no call completed in the window" : "out of memory");
        free(all);
        return 1;
    }
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        memcpy(all + k, slots[i].lat, slots[i].n * sizeof *all);
        k += slots[i].n;
    }
    qsort(all, total, sizeof *all, cmp_u64);
    size_t r50 = (total * 50 + 99) / 100, r99 = (total * 99 + 99) / 100;
    bench_result("direct", "throughput", rate);
    bench_result("direct", "p50_us", (double)all[r50 ? r50 - 1 : 0] / 1000.0);
    bench_result("direct", "p99_us", (double)all[r99 ? r99 - 1 : 0] / 1000.0);
    free(all);
    return 0;
}

int main(int argc, char **argv)
{
    bench_opts o;
    bench_parse(&o, argc, argv,
                "bench-http-direct calls benchhttp.Api/Echo (bench-http-service) over RPC with "
                "--inflight calls in flight on one channel for --seconds after a warm-up, and "
                "prints calls/s and the p50 and p99 latency (--connect TARGET: a service name "
                "resolved through $SILK_REGISTRY, default benchhttp.Api, or an nng address; "
                "--payload: the message's length).");
    const char *target = o.connect != NULL ? o.connect : benchhttp__api__silk_desc.name;
    run r = {.payload = o.payload};
    atomic_init(&r.running, o.inflight);
    char *msg = malloc(o.payload + 1);
    slot *slots = calloc((size_t)o.inflight, sizeof *slots);
    silk_status st = silk_channel_open(&r.ch, target);
    r.ctx = silk_ctx_new();
    if (msg == NULL || slots == NULL || r.ctx == NULL || st != SILK_OK) {
        bench_fail("cannot open a channel to %s: %s", target, silk_status_str(st));
        return 1;
    }
    bench_fill((uint8_t *)msg, o.payload);
    msg[o.payload] = '\0';
    silk_ctx_set(r.ctx, SILK_MD_BUSINESS_ID, "100");

    /* The channel finds the instance through the registry: one blocking call first. */
    Benchhttp__EchoRequest first = BENCHHTTP__ECHO_REQUEST__INIT;
    first.business_id = "100";
    first.msg = msg;
    Benchhttp__EchoReply *reply = NULL;
    for (int i = 0; i < 50; i++) {
        st = benchhttp__api__call_echo(r.ch, NULL, &first, &reply);
        if (st != SILK_UNAVAILABLE)
            break;
        sleep_s(0.1);
    }
    if (reply != NULL)
        benchhttp__echo_reply__free_unpacked(reply, NULL);
    if (st != SILK_OK) {
        bench_fail("the first call failed: %s", silk_status_str(st));
        return 1;
    }

    for (int i = 0; i < o.inflight; i++) {
        slots[i] = (slot){.run = &r, .req = BENCHHTTP__ECHO_REQUEST__INIT};
        slots[i].req.business_id = "100";
        slots[i].req.msg = msg;
        slots[i].req.seq = (int64_t)i << 32;
        next(&slots[i]);
    }
    sleep_s(o.seconds / 5 < 1 ? o.seconds / 5 : 1);
    atomic_store(&r.measuring, true);
    uint64_t t0 = bench_now_ns();
    sleep_s(o.seconds);
    atomic_store(&r.measuring, false);
    unsigned long n = atomic_load(&r.done);
    uint64_t t1 = bench_now_ns();
    atomic_store(&r.stop, true);
    for (int i = 0; i < 10000 && atomic_load(&r.running) > 0; i++)
        sleep_s(0.001);
    int rc = 1;
    if (atomic_load(&r.running) > 0)
        bench_fail("%d calls still outstanding after 10 s", atomic_load(&r.running));
    else if (atomic_load(&r.errors) > 0)
        bench_fail("%lu calls failed", atomic_load(&r.errors));
    else
        rc = report(slots, o.inflight, (double)n * 1e9 / (double)(t1 - t0));
    silk_channel_close(r.ch);
    silk_ctx_free(r.ctx);
    for (int i = 0; i < o.inflight; i++)
        free(slots[i].lat);
    free(slots);
    free(msg);
    return rc;
}
