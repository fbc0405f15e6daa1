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
        if (probe__probe__call_echo_async(ch, ctx, &req, batch_cb, &slots[i], NULL) == SILK_OK)
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
    silk_status st = silk_channel_call(ch, ctx, &m, req, &out);
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
    char message[256]; /* the first completion's, for the report */
} once;

static void once_cb(silk_status st, ProtobufCMessage *resp, const char *message, void *arg)
{
    once *o = arg;
    if (atomic_fetch_add(&o->calls, 1) == 0)
        snprintf(o->message, sizeof o->message, "%s", message != NULL ? message : "");
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
    silk_status st = silk_channel_call_async(ch, ctx, &probe__probe__silk_desc.methods[2],
                                             &req.base, once_cb, &o, &id);
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
    silk_channel_cancel(ch, id);
    silk_channel_cancel(ch, id); /* a second cancel is a no-op */
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
    printf("callbacks=%d status=%s server_saw_cancel=%d message=\"%s\"\n", atomic_load(&o.calls),
           silk_status_str((silk_status)atomic_load(&o.status)), seen, o.message);
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
    printf("counter=%llu waits_started=%llu cancels_seen=%llu echoes=%llu\n",
           (unsigned long long)s->counter, (unsigned long long)s->waits_started,
           (unsigned long long)s->cancels_seen, (unsigned long long)s->echoes);
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
        started += probe__probe__call_wait_async(*chp, NULL, &req, once_cb, &o[i], NULL) == SILK_OK;
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

/* ============================== balancing ============================== */

/* tally counts answers by the instance that gave them. */
typedef struct tally {
    pthread_mutex_t mu;
    int ok;
    int by_status[SILK_STATUS_COUNT];
    size_t n;
    char ids[16][64];
    int counts[16];
    char last_message[256]; /* of the last failure */
} tally;

static void tally_add(tally *t, silk_status st, const char *instance, const char *message)
{
    pthread_mutex_lock(&t->mu);
    t->by_status[st]++;
    if (st != SILK_OK && message != NULL)
        snprintf(t->last_message, sizeof t->last_message, "%s", message);
    if (st == SILK_OK) {
        t->ok++;
        size_t i = 0;
        while (i < t->n && strcmp(t->ids[i], instance) != 0)
            i++;
        if (i == t->n && t->n < 16)
            snprintf(t->ids[t->n++], sizeof t->ids[0], "%s", instance);
        if (i < t->n)
            t->counts[i]++;
    }
    pthread_mutex_unlock(&t->mu);
}

/* tally_print prints "<prefix>ok=.. <prefix>failed=.. <prefix>at_<id>=.." and the statuses. */
static void tally_print(const tally *t, const char *prefix)
{
    int failed = 0;
    for (int st = 1; st < SILK_STATUS_COUNT; st++)
        failed += t->by_status[st];
    printf("%sok=%d %sfailed=%d", prefix, t->ok, prefix, failed);
    for (int st = 1; st < SILK_STATUS_COUNT; st++) {
        if (t->by_status[st] != 0)
            printf(" %s%s=%d", prefix, silk_status_str((silk_status)st), t->by_status[st]);
    }
    for (size_t i = 0; i < t->n; i++)
        printf(" %sat_%s=%d", prefix, t->ids[i], t->counts[i]);
    if (failed != 0)
        printf(" %slast_message=\"%s\"", prefix, t->last_message);
    printf("\n");
    fflush(stdout);
}

/* echo_at makes one Echo call and returns its status; the answering instance goes to t. */
static silk_status echo_at(silk_channel *ch, silk_ctx *ctx, tally *t)
{
    Probe__EchoRequest req = PROBE__ECHO_REQUEST__INIT;
    req.text = "spread";
    Probe__EchoReply *out = NULL;
    silk_ctx *mine = ctx == NULL ? silk_ctx_new() : NULL;
    silk_status st = probe__probe__call_echo(ch, ctx != NULL ? ctx : mine, &req, &out);
    tally_add(t, st, out != NULL ? out->instance : "", silk_ctx_message(ctx != NULL ? ctx : mine));
    silk_ctx_free(mine);
    if (out != NULL)
        protobuf_c_message_free_unpacked(&out->base, NULL);
    return st;
}

/* spread makes n Echo calls one after another, with the policy given (else the channel's). */
static int spread(silk_channel *ch, int n, const char *policy, uint32_t timeout_ms)
{
    silk_lb_policy p;
    if (policy[0] != '\0' && strcmp(policy, "-") != 0) {
        if (strcmp(policy, "round-robin") == 0)
            p = SILK_LB_ROUND_ROBIN;
        else if (strcmp(policy, "random") == 0)
            p = SILK_LB_RANDOM;
        else
            p = SILK_LB_HASH;
        silk_channel_set_policy(ch, p);
    }
    tally t = {.mu = PTHREAD_MUTEX_INITIALIZER};
    for (int i = 0; i < n; i++) {
        silk_ctx *ctx = silk_ctx_new();
        silk_ctx_set_timeout(ctx, timeout_ms);
        echo_at(ch, ctx, &t);
        silk_ctx_free(ctx);
    }
    tally_print(&t, "");
    return t.ok == n ? 0 : 1;
}

/* keys calls Keyed with the keys key0..key<n-1> (kind "keyed"), or Echo with the business ids
 * biz0..biz<n-1> on a channel opened for a WebSocket service (kind "business"), and prints
 * the instance each went to. */
static int keys(silk_channel *ch, int n, const char *kind)
{
    silk_channel *biz_ch = NULL;
    if (strcmp(kind, "business") == 0) {
        silk_service_desc ws = probe__probe__silk_desc;
        ws.websocket = true;
        if (silk_channel_open_service(&biz_ch, &ws) != SILK_OK)
            return 1;
        ch = biz_ch;
    }
    int ok = 0;
    for (int i = 0; i < n; i++) {
        char key[32];
        snprintf(key, sizeof key, "%s%d", biz_ch != NULL ? "biz" : "key", i);
        silk_ctx *ctx = silk_ctx_new();
        Probe__EchoReply *out = NULL;
        silk_status st;
        if (biz_ch != NULL) {
            silk_ctx_set(ctx, SILK_MD_BUSINESS_ID, key);
            Probe__EchoRequest req = PROBE__ECHO_REQUEST__INIT;
            st = probe__probe__call_echo(ch, ctx, &req, &out);
        } else {
            Probe__KeyedRequest req = PROBE__KEYED_REQUEST__INIT;
            req.key = key;
            st = probe__probe__call_keyed(ch, ctx, &req, &out);
        }
        printf("%s=%s\n", key, st == SILK_OK ? out->instance : silk_status_str(st));
        ok += st == SILK_OK;
        if (out != NULL)
            protobuf_c_message_free_unpacked(&out->base, NULL);
        silk_ctx_free(ctx);
    }
    printf("ok=%d\n", ok);
    silk_channel_close(biz_ch);
    return ok == n ? 0 : 1;
}

/* The load: threads calling Echo (idempotent) and Incr (not) until a time. */
typedef struct load {
    silk_channel *ch;
    int64_t until_ms;
    tally echo;
    tally incr;
} load;

static void *echo_loop(void *arg)
{
    load *ld = arg;
    while (now_ms() < ld->until_ms)
        echo_at(ld->ch, NULL, &ld->echo);
    return NULL;
}

static void *incr_loop(void *arg)
{
    load *ld = arg;
    while (now_ms() < ld->until_ms) {
        Probe__IncrRequest req = PROBE__INCR_REQUEST__INIT;
        Probe__IncrReply *out = NULL;
        silk_status st = probe__probe__call_incr(ld->ch, NULL, &req, &out);
        tally_add(&ld->incr, st, out != NULL ? out->instance : "", "");
        if (out != NULL)
            protobuf_c_message_free_unpacked(&out->base, NULL);
    }
    return NULL;
}

/* run_load runs two Echo and two Incr threads for ms milliseconds. */
static int run_load(silk_channel *ch, int ms)
{
    load ld = {.ch = ch,
               .until_ms = now_ms() + ms,
               .echo = {.mu = PTHREAD_MUTEX_INITIALIZER},
               .incr = {.mu = PTHREAD_MUTEX_INITIALIZER}};
    printf("loading\n");
    fflush(stdout);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, i < 2 ? echo_loop : incr_loop, &ld);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    tally_print(&ld.echo, "echo_");
    tally_print(&ld.incr, "incr_");
    return 0;
}

/* instance_call sets victim's failing flag (when set >= 0) and returns its Echo count. */
static uint64_t instance_call(silk_channel *victim, int set)
{
    Probe__StatsReply *s = NULL;
    silk_status st;
    if (set >= 0) {
        Probe__SetFailingRequest req = PROBE__SET_FAILING_REQUEST__INIT;
        req.failing = set != 0;
        st = probe__probe__call_set_failing(victim, NULL, &req, &s);
    } else {
        Probe__StatsRequest req = PROBE__STATS_REQUEST__INIT;
        st = probe__probe__call_stats(victim, NULL, &req, &s);
    }
    uint64_t n = st == SILK_OK ? s->echoes : UINT64_MAX;
    if (s != NULL)
        protobuf_c_message_free_unpacked(&s->base, NULL);
    return n;
}

/* breaker runs the breaker's life on the channel: the instance at address fails, is left
 * alone after its failures, gets one probe per open period, and is used again once it
 * answers. Each phase makes n Echo calls and prints what it saw. */
static int breaker(silk_channel *ch, const char *address, int n, int open_ms)
{
    silk_channel *victim = NULL;
    if (silk_channel_open(&victim, address) != SILK_OK)
        return 1;
    silk_channel_set_breaker(ch, 3, (uint32_t)open_ms);
    uint64_t base = instance_call(victim, 1);
    const char *phases[] = {"failing_", "probe_failed_", "healed_still_open_", "closed_"};
    for (int ph = 0; ph < 4; ph++) {
        if (ph == 1 || ph == 3)
            usleep((useconds_t)(open_ms + 300) * 1000);
        if (ph == 2)
            instance_call(victim, 0);
        tally t = {.mu = PTHREAD_MUTEX_INITIALIZER};
        for (int i = 0; i < n; i++)
            echo_at(ch, NULL, &t);
        uint64_t now = instance_call(victim, -1);
        printf("%sreached=%llu ", phases[ph], (unsigned long long)(now - base));
        tally_print(&t, phases[ph]);
        base = now;
    }
    silk_channel_close(victim);
    return 0;
}

/* instances prints the instances of service the registry lists: "count=N ids=a,b,c". */
static int instances(const char *service)
{
    silk_registry *reg = NULL;
    silk_instance_list list = {0};
    if (silk_registry_open(&reg, NULL) != SILK_OK ||
        silk_registry_resolve(reg, service, &list) != SILK_OK) {
        silk_registry_close(reg);
        printf("count=-1\n");
        return 1;
    }
    printf("count=%zu ids=", list.count);
    for (size_t i = 0; i < list.count; i++)
        printf("%s%s", i > 0 ? "," : "", list.items[i].id);
    printf("\n");
    silk_instance_list_fini(&list);
    silk_registry_close(reg);
    return 0;
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
        "  shutdown N              close the channel with N calls in flight\n"
        "  spread N [POLICY|-] [TIMEOUT_MS]  N Echo calls, counted by instance\n"
        "  keys N keyed|business   N Keyed calls, or Echo calls with business ids\n"
        "  load MS                 Echo and Incr calls from 4 threads for MS ms\n"
        "  breaker ADDRESS N MS    the breaker of the instance at ADDRESS, open MS ms\n"
        "  instances               the instances of TARGET in the registry\n");
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[2], "instances") == 0)
        return instances(argv[1]);
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
    else if (strcmp(cmd, "spread") == 0)
        rc = spread(ch, atoi(arg), argc > 4 ? argv[4] : "",
                    argc > 5 ? (uint32_t)atoi(argv[5]) : 5000);
    else if (strcmp(cmd, "keys") == 0 && argc > 4)
        rc = keys(ch, atoi(arg), argv[4]);
    else if (strcmp(cmd, "load") == 0)
        rc = run_load(ch, atoi(arg));
    else if (strcmp(cmd, "breaker") == 0 && argc > 5)
        rc = breaker(ch, arg, atoi(argv[4]), atoi(argv[5]));
    if (rc == 2)
        usage(stderr);
    silk_channel_close(ch);
    return rc;
}
