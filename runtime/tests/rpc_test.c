/* rpc_test.c - server and channel in one process, over ipc:// and tcp://127.0.0.1:0.
 *
 * The service is made by hand - a silk_service_desc over rpc.proto's Metadata message with
 * hand-written invoke trampolines - so that the test needs no generated code. */
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <nng/nng.h>

#include <silk/silk.h>

#include "core/clock.h"
#include "wire/frame.h"
#include "core/reap.h"

typedef Silk__Rpc__Metadata Msg; /* key + value: the test's request and response */

static const char *listen_url; /* the transport of this run */
static char tmpdir[128];
static silk_channel *self;          /* the running server's channel to itself, for nested calls */
static atomic_int sleeping;         /* Echo calls that began to sleep */
static atomic_int sleeps_cancelled; /* and saw their call cancelled */
static atomic_int async_status;     /* how Async's own call ended: -1 until it has */

/* ============================== the service ============================== */

typedef struct handlers {
    int unused;
} handlers;

static void say(silk_ctx *ctx, Msg *out, const char *key, const char *value)
{
    out->key = (char *)key;
    out->value = silk_ctx_printf(ctx, "%s bid=%s left_ms=%lld", value,
                                 silk_ctx_business_id(ctx) ? silk_ctx_business_id(ctx) : "-",
                                 (long long)(silk_ctx_remaining_us(ctx) / 1000));
}

/* Echo answers with the request's value, the business id it sees and the time it has left;
 * key "sleep" sleeps value ms first; key "fail" fails with the status in value. */
static silk_status echo(silk_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp,
                        const void *h, void *user)
{
    (void)h;
    (void)user;
    const Msg *in = (const Msg *)req;
    if (strcmp(in->key, "sleep") == 0) {
        atomic_fetch_add(&sleeping, 1);
        for (int slept = 0; slept < atoi(in->value) && !silk_ctx_cancelled(ctx); slept += 5)
            usleep(5000);
        if (silk_ctx_cancelled(ctx))
            atomic_fetch_add(&sleeps_cancelled, 1);
    }
    if (strcmp(in->key, "fail") == 0)
        return silk_ctx_fail(ctx, (silk_status)atoi(in->value), "failed as asked: %s", in->value);
    say(ctx, (Msg *)resp, in->key, in->value);
    return SILK_OK;
}

static const silk_method_desc methods[];

/* Nested calls Echo on the same server with its own ctx, after shrinking its deadline to
 * value ms when value is a number, and answers with what Echo saw. */
static silk_status nested(silk_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp,
                          const void *h, void *user)
{
    (void)h;
    (void)user;
    const Msg *in = (const Msg *)req;
    if (atoi(in->value) > 0)
        silk_ctx_set_timeout(ctx, (uint32_t)atoi(in->value));
    Msg inner = SILK__RPC__METADATA__INIT;
    inner.key = "inner";
    inner.value = "x";
    ProtobufCMessage *out = NULL;
    silk_status st = silk_channel_call(self, ctx, &methods[0], &inner.base, &out);
    if (st != SILK_OK)
        return st;
    ((Msg *)resp)->key = "nested";
    ((Msg *)resp)->value = silk_ctx_strdup(ctx, ((Msg *)out)->value);
    protobuf_c_message_free_unpacked(out, NULL);
    return SILK_OK;
}

static void async_done(silk_status st, ProtobufCMessage *resp, const char *message, void *arg)
{
    (void)message;
    (void)arg;
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    atomic_store(&async_status, (int)st);
}

/* Async starts an asynchronous Echo that sleeps value ms with its own ctx, then waits for its
 * own call to be cancelled (at most 3 s) and returns, leaving that call to itself. */
static silk_status async_nested(silk_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp,
                                const void *h, void *user)
{
    (void)h;
    (void)user;
    (void)resp;
    Msg inner = SILK__RPC__METADATA__INIT;
    inner.key = "sleep";
    inner.value = ((const Msg *)req)->value;
    silk_status st =
        silk_channel_call_async(self, ctx, &methods[0], &inner.base, async_done, NULL, NULL);
    if (st != SILK_OK)
        return st;
    for (int waited = 0; waited < 3000 && !silk_ctx_cancelled(ctx); waited += 5)
        usleep(5000);
    return SILK_OK;
}

static const silk_method_desc methods[] = {
    {.name = "Echo",
     .path = "/test.Echo/Echo",
     .input = &silk__rpc__metadata__descriptor,
     .output = &silk__rpc__metadata__descriptor,
     .invoke = echo},
    {.name = "Nested",
     .path = "/test.Echo/Nested",
     .input = &silk__rpc__metadata__descriptor,
     .output = &silk__rpc__metadata__descriptor,
     .invoke = nested},
    {.name = "Short",
     .path = "/test.Echo/Short",
     .input = &silk__rpc__metadata__descriptor,
     .output = &silk__rpc__metadata__descriptor,
     .timeout_ms = 100,
     .invoke = echo},
    {.name = "Async",
     .path = "/test.Echo/Async",
     .input = &silk__rpc__metadata__descriptor,
     .output = &silk__rpc__metadata__descriptor,
     .invoke = async_nested},
};

static const silk_service_desc echo_desc = {
    .name = "test.Echo",
    .route = "api/echo",
    .n_methods = sizeof methods / sizeof methods[0],
    .methods = methods,
    .handlers_size = sizeof(handlers),
};

static const silk_method_desc missing = {
    .name = "Missing",
    .path = "/test.Echo/Missing",
    .input = &silk__rpc__metadata__descriptor,
    .output = &silk__rpc__metadata__descriptor,
};

/* ============================== each test's parts ============================== */

/* batch counts the completions of asynchronous calls. */
typedef struct batch {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
    int ok;
    int status_count[SILK_STATUS_COUNT];
} batch;

/* one is an asynchronous call of a batch, with the start of the answer it expects. */
typedef struct one {
    batch *b;
    char expect[32];
} one;

/* counts is what the test's interceptors saw; bad counts what they saw amiss. */
typedef struct counts {
    int before;
    int after;
    int last_status;
    int64_t last_elapsed;
    int bad;
} counts;

/* refusals is what a server interceptor saw of calls, refused ones included; bad counts what
 * it saw amiss. */
typedef struct refusals {
    atomic_int before;
    atomic_int after[SILK_STATUS_COUNT];
    atomic_int bad;
    pthread_mutex_t mu;
    char last_path[128];
    bool last_had_ctx;
} refusals;

/* fixture is what a test starts. Its teardown stops it all even when an assertion failed
 * midway, so that a failing case reports, the next ones start afresh and the process exits;
 * what callbacks write into lives here rather than on the test's stack for the same reason.
 * Callbacks on other threads count what they find amiss rather than assert: cmocka's
 * assertions are for the test's own thread. */
typedef struct fixture {
    silk_server *srv; /* self is its channel to itself */
    silk_channel *ch; /* a channel of the test's own */
    nng_stream *raw;  /* a connection of raw frames */
    nng_stream_listener *listener;
    silk_registry *reg;
    batch b;
    counts sc; /* the server's interceptor */
    counts cc; /* the channel's interceptor */
    refusals r;
    atomic_int cancelled;     /* completions of cancelled calls */
    atomic_int not_cancelled; /* and of calls meant to be cancelled that were not */
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    pthread_mutex_init(&f->b.mu, NULL);
    pthread_cond_init(&f->b.cv, NULL);
    pthread_mutex_init(&f->r.mu, NULL);
    *state = f;
    return 0;
}

static size_t raw_have; /* bytes read ahead by raw_response */

static int teardown(void **state)
{
    fixture *f = *state;
    silk_channel_close(self); /* calls still in flight complete, CANCELLED, into f */
    self = NULL;
    silk_channel_close(f->ch);
    if (f->raw != NULL)
        nng_stream_free(f->raw);
    raw_have = 0;
    silk_server_free(f->srv);
    if (f->listener != NULL)
        nng_stream_listener_free(f->listener);
    silk_registry_close(f->reg);
    unsetenv("SILK_TOKEN");
    unsetenv("SILK_REGISTRY");
    pthread_mutex_destroy(&f->r.mu);
    pthread_cond_destroy(&f->b.cv);
    pthread_mutex_destroy(&f->b.mu);
    free(f);
    return 0;
}

/* ============================== helpers ============================== */

/* start starts the test's server and opens self, its channel to itself. */
static void start(fixture *f, unsigned workers, unsigned max_concurrent, uint32_t max_message)
{
    silk_server_opts opts = {.listen = listen_url,
                             .workers = workers,
                             .max_concurrent = max_concurrent,
                             .max_message = max_message,
                             .no_register = true};
    silk_server *srv = silk_server_new(&opts);
    assert_non_null(srv);
    f->srv = srv;
    assert_int_equal(silk_server_add_service(srv, &echo_desc, &(handlers){0}, NULL), SILK_OK);
    assert_int_equal(silk_server_add_service(srv, &echo_desc, &(handlers){0}, NULL),
                     SILK_ALREADY_EXISTS);
    assert_int_equal(silk_server_start(srv), SILK_OK);
    assert_int_equal(silk_server_add_service(srv, &echo_desc, &(handlers){0}, NULL),
                     SILK_FAILED_PRECONDITION);
    assert_int_equal(silk_channel_open(&self, silk_server_address(srv)), SILK_OK);
}

/* stop closes self and stops the test's server before the test's end. */
static void stop(fixture *f)
{
    silk_channel_close(self);
    self = NULL;
    silk_server_free(f->srv);
    f->srv = NULL;
}

static void close_channel(fixture *f)
{
    silk_channel_close(f->ch);
    f->ch = NULL;
}

static silk_status call(silk_ctx *ctx, const silk_method_desc *m, const char *key,
                        const char *value, char *out, size_t cap)
{
    Msg req = SILK__RPC__METADATA__INIT;
    req.key = (char *)key;
    req.value = (char *)value;
    ProtobufCMessage *resp = NULL;
    silk_status st = silk_channel_call(self, ctx, m, &req.base, &resp);
    if (st == SILK_OK) {
        assert_non_null(resp);
        if (out != NULL)
            snprintf(out, cap, "%s", ((Msg *)resp)->value);
        protobuf_c_message_free_unpacked(resp, NULL);
    } else {
        assert_null(resp);
    }
    return st;
}

/* ============================== raw frames ============================== */

static nng_stream *raw_open(const char *address)
{
    nng_stream_dialer *d;
    nng_aio *aio;
    assert_int_equal(nng_stream_dialer_alloc(&d, address), 0);
    assert_int_equal(nng_aio_alloc(&aio, NULL, NULL), 0);
    nng_aio_set_timeout(aio, 5000);
    nng_stream_dialer_dial(d, aio);
    nng_aio_wait(aio);
    assert_int_equal(nng_aio_result(aio), 0);
    nng_stream *s = nng_aio_get_output(aio, 0);
    nng_aio_free(aio);
    nng_stream_dialer_free(d);
    return s;
}

static void raw_close(fixture *f)
{
    nng_stream_free(f->raw);
    f->raw = NULL;
}

static void raw_send(nng_stream *s, const uint8_t *buf, size_t len)
{
    nng_aio *aio;
    assert_int_equal(nng_aio_alloc(&aio, NULL, NULL), 0);
    nng_aio_set_timeout(aio, 5000);
    while (len > 0) {
        nng_iov iov = {.iov_buf = (void *)buf, .iov_len = len};
        nng_aio_set_iov(aio, 1, &iov);
        nng_stream_send(s, aio);
        nng_aio_wait(aio);
        assert_int_equal(nng_aio_result(aio), 0);
        buf += nng_aio_count(aio);
        len -= nng_aio_count(aio);
    }
    nng_aio_free(aio);
}

/* raw_request sends a request frame: a header for method (NULL: bytes that are no header)
 * and a raw payload, laid out by hand as docs/PROTOCOL.md describes. */
static void raw_request(nng_stream *s, uint64_t id, const char *method, uint64_t budget_us,
                        const uint8_t *payload, size_t plen)
{
    Silk__Rpc__RequestHeader h = SILK__RPC__REQUEST_HEADER__INIT;
    h.method = (char *)method;
    h.budget_us = budget_us;
    uint8_t hbuf[256];
    size_t hlen = 3;
    if (method != NULL)
        hlen = silk__rpc__request_header__pack(&h, hbuf);
    else
        memcpy(hbuf, "\xff\xff\xff", 3);
    assert_true(hlen < 128); /* a one-byte varint */
    size_t size = silk__frame_size(hlen, plen);
    uint8_t *buf = malloc(size);
    uint32_t rest = (uint32_t)(size - 4);
    for (int i = 0; i < 4; i++)
        buf[i] = (uint8_t)(rest >> (24 - 8 * i));
    buf[4] = SILK__FRAME_REQUEST;
    for (int i = 0; i < 8; i++)
        buf[5 + i] = (uint8_t)(id >> (56 - 8 * i));
    buf[13] = (uint8_t)hlen;
    memcpy(buf + 14, hbuf, hlen);
    if (plen != 0)
        memcpy(buf + 14 + hlen, payload, plen);
    raw_send(s, buf, size);
    free(buf);
}

/* raw_response reads one response frame and returns its status; -1 when the server closed
 * the connection. */
static int raw_response(nng_stream *s, uint64_t *id)
{
    static uint8_t buf[1 << 16];
    nng_aio *aio;
    assert_int_equal(nng_aio_alloc(&aio, NULL, NULL), 0);
    nng_aio_set_timeout(aio, 5000);
    for (;;) {
        silk__frame f;
        long rc = silk__frame_decode(buf, raw_have, sizeof buf, &f);
        if (rc > 0) {
            Silk__Rpc__ResponseHeader *h =
                silk__rpc__response_header__unpack(NULL, f.header_len, f.header);
            assert_non_null(h);
            int st = (int)h->status;
            *id = f.call_id;
            silk__rpc__response_header__free_unpacked(h, NULL);
            memmove(buf, buf + rc, raw_have - (size_t)rc);
            raw_have -= (size_t)rc;
            nng_aio_free(aio);
            return st;
        }
        nng_iov iov = {.iov_buf = buf + raw_have, .iov_len = sizeof buf - raw_have};
        nng_aio_set_iov(aio, 1, &iov);
        nng_stream_recv(s, aio);
        nng_aio_wait(aio);
        if (nng_aio_result(aio) != 0) {
            raw_have = 0;
            nng_aio_free(aio);
            return -1;
        }
        raw_have += nng_aio_count(aio);
    }
}

/* ============================== tests ============================== */

static void test_echo(void **state)
{
    fixture *f = *state;
    start(f, 2, 0, 0);
    char out[256];
    assert_int_equal(call(NULL, &methods[0], "k", "hello", out, sizeof out), SILK_OK);
    assert_true(strncmp(out, "hello bid=- left_ms=", 20) == 0);
    int left = atoi(strstr(out, "left_ms=") + 8);
    assert_true(left > 4000 && left <= 5000); /* the default budget */

    /* A ctx gives the metadata; the callee's failure message comes back into it. */
    silk_ctx *ctx = silk_ctx_new();
    silk_ctx_set(ctx, SILK_MD_BUSINESS_ID, "100");
    assert_int_equal(call(ctx, &methods[0], "k", "hi", out, sizeof out), SILK_OK);
    assert_true(strncmp(out, "hi bid=100 ", 11) == 0);
    assert_int_equal(call(ctx, &methods[0], "fail", "5", out, sizeof out), SILK_NOT_FOUND);
    assert_string_equal(silk_ctx_message(ctx), "failed as asked: 5");
    assert_int_equal(call(ctx, &methods[0], "fail", "99", out, sizeof out), SILK_UNKNOWN);
    silk_ctx_free(ctx);
    stop(f);
}

static void test_unknown_method(void **state)
{
    fixture *f = *state;
    start(f, 2, 0, 0);
    silk_ctx *ctx = silk_ctx_new();
    assert_int_equal(call(ctx, &missing, "k", "v", NULL, 0), SILK_UNIMPLEMENTED);
    assert_non_null(strstr(silk_ctx_message(ctx), "/test.Echo/Missing"));
    silk_method_desc other = missing;
    other.path = "/no.Such/Service";
    assert_int_equal(call(ctx, &other, "k", "v", NULL, 0), SILK_UNIMPLEMENTED);
    other.path = "garbage";
    assert_int_equal(call(ctx, &other, "k", "v", NULL, 0), SILK_UNIMPLEMENTED);
    /* A request of the wrong type is refused before anything is sent. */
    Silk__Rpc__RequestHeader wrong = SILK__RPC__REQUEST_HEADER__INIT;
    ProtobufCMessage *resp = NULL;
    assert_int_equal(silk_channel_call(self, ctx, &methods[0], &wrong.base, &resp),
                     SILK_INVALID_ARGUMENT);
    assert_int_equal(call(NULL, &methods[0], "k", "still serving", NULL, 0), SILK_OK);
    silk_ctx_free(ctx);
    stop(f);
}

static void test_bad_frames(void **state)
{
    fixture *f = *state;
    start(f, 2, 0, 1024);
    f->raw = raw_open(silk_server_address(f->srv));
    uint64_t id = 0;

    /* A payload that is not a Metadata: INVALID_ARGUMENT. */
    raw_request(f->raw, 1, "/test.Echo/Echo", 1000000, (const uint8_t *)"\xff\xff\xff\xff", 4);
    assert_int_equal(raw_response(f->raw, &id), SILK_INVALID_ARGUMENT);
    assert_true(id == 1);
    /* A header that is not a RequestHeader: INVALID_ARGUMENT. */
    raw_request(f->raw, 2, NULL, 0, NULL, 0);
    assert_int_equal(raw_response(f->raw, &id), SILK_INVALID_ARGUMENT);
    assert_true(id == 2);
    /* A budget spent before a worker takes the call: DEADLINE_EXCEEDED. */
    raw_request(f->raw, 3, "/test.Echo/Echo", 1, NULL, 0);
    assert_int_equal(raw_response(f->raw, &id), SILK_DEADLINE_EXCEEDED);
    /* Longer than the server's limit: RESOURCE_EXHAUSTED, and the bytes are skipped. */
    static uint8_t big[8192];
    raw_request(f->raw, 4, "/test.Echo/Echo", 1000000, big, sizeof big);
    assert_int_equal(raw_response(f->raw, &id), SILK_RESOURCE_EXHAUSTED);
    assert_true(id == 4);
    /* The same connection still works: an empty Metadata is a valid request. */
    raw_request(f->raw, 5, "/test.Echo/Echo", 1000000, NULL, 0);
    assert_int_equal(raw_response(f->raw, &id), SILK_OK);
    assert_true(id == 5);
    /* An unknown kind is a protocol error: that connection is closed... */
    uint8_t bad[SILK__FRAME_PREFIX + 1];
    silk__frame_encode(bad, SILK__FRAME_PING, 6, NULL, 0, NULL, 0);
    bad[4] = 42;
    raw_send(f->raw, bad, sizeof bad);
    assert_int_equal(raw_response(f->raw, &id), -1);
    raw_close(f);
    /* ...and the server keeps serving others. */
    assert_int_equal(call(NULL, &methods[0], "k", "v", NULL, 0), SILK_OK);
    stop(f);
}

static void test_deadline(void **state)
{
    fixture *f = *state;
    start(f, 2, 0, 0);
    silk_ctx *ctx = silk_ctx_new();
    silk_ctx_set_timeout(ctx, 100);
    int64_t t0 = silk__now_us();
    assert_int_equal(call(ctx, &methods[0], "sleep", "400", NULL, 0), SILK_DEADLINE_EXCEEDED);
    int64_t took = silk__now_us() - t0;
    assert_true(took >= 90000 && took < 350000);
    assert_string_equal(silk_ctx_message(ctx), "deadline exceeded");
    /* A spent ctx fails at once, without a call. */
    usleep(20000);
    assert_int_equal(call(ctx, &methods[0], "k", "v", NULL, 0), SILK_DEADLINE_EXCEEDED);
    silk_ctx_free(ctx);
    /* The method's own timeout applies without a ctx. */
    t0 = silk__now_us();
    assert_int_equal(call(NULL, &methods[2], "sleep", "400", NULL, 0), SILK_DEADLINE_EXCEEDED);
    took = silk__now_us() - t0;
    assert_true(took >= 90000 && took < 350000);
    /* The late answers are dropped; the channel goes on. */
    usleep(400000);
    assert_int_equal(call(NULL, &methods[0], "k", "v", NULL, 0), SILK_OK);
    stop(f);
}

static void test_nested_call(void **state)
{
    fixture *f = *state;
    start(f, 4, 0, 0);
    silk_ctx *ctx = silk_ctx_new();
    silk_ctx_set(ctx, SILK_MD_BUSINESS_ID, "100");
    silk_ctx_set_timeout(ctx, 3000);
    char out[256];
    /* The inner call sees the business id and no more time than the outer handler had. */
    assert_int_equal(call(ctx, &methods[1], "k", "0", out, sizeof out), SILK_OK);
    assert_true(strncmp(out, "x bid=100 left_ms=", 18) == 0);
    int left = atoi(strstr(out, "left_ms=") + 8);
    assert_true(left > 2000 && left < 3000);
    /* A handler that shrinks its deadline passes the smaller budget on. */
    assert_int_equal(call(ctx, &methods[1], "k", "300", out, sizeof out), SILK_OK);
    left = atoi(strstr(out, "left_ms=") + 8);
    assert_true(left > 100 && left < 300);
    silk_ctx_free(ctx);
    stop(f);
}

/* ============================== many calls at once ============================== */

static void batch_cb(silk_status st, ProtobufCMessage *resp, const char *message, void *arg)
{
    one *o = arg;
    (void)message;
    bool good = st == SILK_OK && resp != NULL &&
                strncmp(((Msg *)resp)->value, o->expect, strlen(o->expect)) == 0 &&
                ((Msg *)resp)->value[strlen(o->expect)] == ' ';
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    pthread_mutex_lock(&o->b->mu);
    o->b->done++;
    o->b->ok += good;
    o->b->status_count[st]++;
    pthread_cond_signal(&o->b->cv);
    pthread_mutex_unlock(&o->b->mu);
}

static void wait_batch(batch *b, int n)
{
    int64_t until = silk__now_us() + 20000000;
    pthread_mutex_lock(&b->mu);
    while (b->done < n && silk__now_us() < until) {
        pthread_mutex_unlock(&b->mu);
        usleep(1000);
        pthread_mutex_lock(&b->mu);
    }
    pthread_mutex_unlock(&b->mu);
    assert_int_equal(b->done, n);
}

static void test_concurrent_calls(void **state)
{
    fixture *f = *state;
    enum { N = 200 };
    start(f, 4, 256, 0);
    static one ones[N];
    for (int i = 0; i < N; i++) {
        ones[i].b = &f->b;
        snprintf(ones[i].expect, sizeof ones[i].expect, "call-%d", i);
        Msg req = SILK__RPC__METADATA__INIT;
        req.key = "k";
        req.value = ones[i].expect;
        assert_int_equal(
            silk_channel_call_async(self, NULL, &methods[0], &req.base, batch_cb, &ones[i], NULL),
            SILK_OK);
    }
    wait_batch(&f->b, N);
    assert_int_equal(f->b.ok, N);
    stop(f);
}

static void test_max_concurrent(void **state)
{
    fixture *f = *state;
    start(f, 2, 2, 0);
    static one ones[3];
    Msg req = SILK__RPC__METADATA__INIT;
    req.key = "sleep";
    req.value = "300";
    for (int i = 0; i < 3; i++) {
        ones[i].b = &f->b;
        snprintf(ones[i].expect, sizeof ones[i].expect, "300");
        assert_int_equal(
            silk_channel_call_async(self, NULL, &methods[0], &req.base, batch_cb, &ones[i], NULL),
            SILK_OK);
    }
    /* The third is refused at once, long before the two others finish. */
    usleep(150000);
    pthread_mutex_lock(&f->b.mu); /* no assertion with it held: teardown's callbacks take it */
    int done = f->b.done;
    int refused = f->b.status_count[SILK_RESOURCE_EXHAUSTED];
    pthread_mutex_unlock(&f->b.mu);
    assert_int_equal(done, 1);
    assert_int_equal(refused, 1);
    wait_batch(&f->b, 3);
    assert_int_equal(f->b.ok, 2);
    stop(f);
}

/* A client at max_concurrent that sends its next call as soon as an answer arrives finds the
 * answered call's slot free: the server gives it back before it queues the answer. (When it
 * gave it back after, a few calls in thousands were refused.) */
static void test_sequential_calls_at_max_concurrent(void **state)
{
    fixture *f = *state;
    enum { N = 10000 };
    start(f, 2, 1, 0);
    int refused = 0;
    for (int i = 0; i < N; i++) {
        silk_status st = call(NULL, &methods[0], "k", "v", NULL, 0);
        refused += st == SILK_RESOURCE_EXHAUSTED;
        if (st != SILK_RESOURCE_EXHAUSTED)
            assert_int_equal(st, SILK_OK);
    }
    assert_int_equal(refused, 0);
    stop(f);
}

static void test_close_with_calls_in_flight(void **state)
{
    fixture *f = *state;
    start(f, 2, 0, 0);
    assert_int_equal(silk_channel_open(&f->ch, silk_server_address(f->srv)), SILK_OK);
    static one ones[2];
    Msg req = SILK__RPC__METADATA__INIT;
    req.key = "sleep";
    req.value = "500";
    for (int i = 0; i < 2; i++) {
        ones[i].b = &f->b;
        assert_int_equal(
            silk_channel_call_async(f->ch, NULL, &methods[0], &req.base, batch_cb, &ones[i], NULL),
            SILK_OK);
    }
    usleep(50000);
    int64_t t0 = silk__now_us();
    close_channel(f); /* completes both with CANCELLED, without waiting for them */
    assert_true(silk__now_us() - t0 < 300000);
    assert_int_equal(f->b.done, 2);
    assert_int_equal(f->b.status_count[SILK_CANCELLED], 2);
    stop(f);
}

static void test_dead_address(void **state)
{
    fixture *f = *state;
    char address[256];
    if (strncmp(listen_url, "ipc://", 6) == 0)
        snprintf(address, sizeof address, "ipc://%s/nobody.sock", tmpdir);
    else
        snprintf(address, sizeof address, "tcp://127.0.0.1:1");
    assert_int_equal(silk_channel_open(&f->ch, address), SILK_OK);
    silk_ctx *ctx = silk_ctx_new();
    Msg req = SILK__RPC__METADATA__INIT;
    ProtobufCMessage *resp = NULL;
    int64_t t0 = silk__now_us();
    assert_int_equal(silk_channel_call(f->ch, ctx, &methods[0], &req.base, &resp),
                     SILK_UNAVAILABLE);
    assert_true(silk__now_us() - t0 < 1000000);
    assert_non_null(strstr(silk_ctx_message(ctx), "cannot connect"));
    /* Calls soon after fail at once while the channel backs off (those that still find the
     * failed connection, which the reaper takes away a little later, fail on it; on a loaded
     * machine that can outlast the first backoff, and the next, doubled, is caught); one after
     * the backoff dials again, and fails again. */
    bool backing_off = false;
    for (int i = 0; i < 400 && !backing_off; i++) {
        assert_int_equal(silk_channel_call(f->ch, ctx, &methods[0], &req.base, &resp),
                         SILK_UNAVAILABLE);
        backing_off = strstr(silk_ctx_message(ctx), "attempts failed") != NULL;
        if (!backing_off)
            usleep(5000);
    }
    assert_true(backing_off);
    bool dialled = false;
    for (int i = 0; i < 100 && !dialled; i++) {
        usleep(100000);
        assert_int_equal(silk_channel_call(f->ch, ctx, &methods[0], &req.base, &resp),
                         SILK_UNAVAILABLE);
        dialled = strstr(silk_ctx_message(ctx), "attempts failed") == NULL;
    }
    assert_true(dialled);
    silk_ctx_free(ctx);
    close_channel(f);

    assert_int_equal(silk_channel_open(&f->ch, ""), SILK_INVALID_ARGUMENT);
    assert_int_equal(silk_channel_open(&f->ch, "bad/name"), SILK_INVALID_ARGUMENT);
    assert_int_equal(silk_channel_open(&f->ch, NULL), SILK_INVALID_ARGUMENT);
}

/* A stopping server finishes the call in flight and answers it before it closes; the next
 * call finds nobody. */
static void test_graceful_stop(void **state)
{
    fixture *f = *state;
    start(f, 2, 0, 0);
    static one ones[1];
    ones[0].b = &f->b;
    snprintf(ones[0].expect, sizeof ones[0].expect, "200");
    assert_int_equal(silk_channel_open(&f->ch, silk_server_address(f->srv)), SILK_OK);
    Msg req = SILK__RPC__METADATA__INIT;
    req.key = "sleep";
    req.value = "200";
    int before = atomic_load(&sleeping);
    assert_int_equal(
        silk_channel_call_async(f->ch, NULL, &methods[0], &req.base, batch_cb, &ones[0], NULL),
        SILK_OK);
    while (atomic_load(&sleeping) == before) /* until the call is running */
        usleep(1000);
    stop(f);
    wait_batch(&f->b, 1);
    assert_int_equal(f->b.ok, 1);
    silk_ctx *ctx = silk_ctx_new();
    ProtobufCMessage *resp = NULL;
    int64_t t0 = silk__now_us();
    assert_int_equal(silk_channel_call(f->ch, ctx, &methods[0], &req.base, &resp),
                     SILK_UNAVAILABLE);
    assert_true(silk__now_us() - t0 < 1000000);
    silk_ctx_free(ctx);
    close_channel(f);
}

/* raw_accept waits for the channel's connection on a test-owned listener. */
static nng_stream *raw_accept(nng_stream_listener *l)
{
    nng_aio *aio;
    assert_int_equal(nng_aio_alloc(&aio, NULL, NULL), 0);
    nng_aio_set_timeout(aio, 5000);
    nng_stream_listener_accept(l, aio);
    nng_aio_wait(aio);
    assert_int_equal(nng_aio_result(aio), 0);
    nng_stream *s = nng_aio_get_output(aio, 0);
    /* Read the request, so that the call is surely in flight. */
    uint8_t buf[256];
    nng_iov iov = {.iov_buf = buf, .iov_len = sizeof buf};
    nng_aio_set_iov(aio, 1, &iov);
    nng_stream_recv(s, aio);
    nng_aio_wait(aio);
    assert_int_equal(nng_aio_result(aio), 0);
    nng_aio_free(aio);
    return s;
}

/* A peer that hangs up mid-call: the call fails UNAVAILABLE at once; the next reconnects. */
static void test_connection_lost(void **state)
{
    fixture *f = *state;
    char address[256];
    if (strncmp(listen_url, "ipc://", 6) == 0)
        snprintf(address, sizeof address, "ipc://%s/raw.sock", tmpdir);
    else
        snprintf(address, sizeof address, "tcp://127.0.0.1:0");
    assert_int_equal(nng_stream_listener_alloc(&f->listener, address), 0);
    assert_int_equal(nng_stream_listener_listen(f->listener), 0);
    int port = 0;
    if (nng_stream_listener_get_int(f->listener, NNG_OPT_TCP_BOUND_PORT, &port) == 0)
        snprintf(address, sizeof address, "tcp://127.0.0.1:%d", port);

    assert_int_equal(silk_channel_open(&f->ch, address), SILK_OK);
    static one ones[2];
    Msg req = SILK__RPC__METADATA__INIT;
    for (int i = 0; i < 2; i++) {
        ones[i].b = &f->b;
        assert_int_equal(
            silk_channel_call_async(f->ch, NULL, &methods[0], &req.base, batch_cb, &ones[i], NULL),
            SILK_OK);
        f->raw = raw_accept(f->listener);
        int64_t t0 = silk__now_us();
        raw_close(f);
        wait_batch(&f->b, i + 1);
        assert_true(silk__now_us() - t0 < 500000);
        assert_int_equal(f->b.status_count[SILK_UNAVAILABLE], i + 1);
    }
    close_channel(f);
    nng_stream_listener_free(f->listener);
    f->listener = NULL;
}

static void test_by_name_through_registry(void **state)
{
    fixture *f = *state;
    char url[256];
    snprintf(url, sizeof url, "file:%s/registry", tmpdir);
    setenv("SILK_REGISTRY", url, 1);
    silk_server_opts opts = {.listen = listen_url, .workers = 2, .instance_id = "i-1"};
    f->srv = silk_server_new(&opts);
    assert_non_null(f->srv);
    assert_int_equal(silk_server_add_service(f->srv, &echo_desc, &(handlers){0}, NULL), SILK_OK);
    assert_int_equal(silk_server_start(f->srv), SILK_OK);

    assert_int_equal(silk_channel_open(&f->ch, "test.Echo"), SILK_OK);
    Msg req = SILK__RPC__METADATA__INIT;
    req.value = "by name";
    ProtobufCMessage *resp = NULL;
    assert_int_equal(silk_channel_call(f->ch, NULL, &methods[0], &req.base, &resp), SILK_OK);
    protobuf_c_message_free_unpacked(resp, NULL);
    close_channel(f);

    /* An instance that died without deregistering is passed over once it has failed. */
    assert_int_equal(silk_registry_open(&f->reg, NULL), SILK_OK);
    silk_instance dead = {.service = "test.Echo", .id = "i-0", .address = "tcp://127.0.0.1:1"};
    assert_int_equal(silk_registry_register(f->reg, &dead), SILK_OK);
    assert_int_equal(silk_channel_open(&f->ch, "test.Echo"), SILK_OK);
    int failed = 0;
    for (int i = 0; i < 10; i++) {
        silk_status st = silk_channel_call(f->ch, NULL, &methods[0], &req.base, &resp);
        if (st == SILK_OK)
            protobuf_c_message_free_unpacked(resp, NULL);
        else
            failed++;
    }
    assert_true(failed <= 1);
    close_channel(f);
    silk_registry_deregister(f->reg, "test.Echo", "i-0");
    silk_registry_close(f->reg);
    f->reg = NULL;
    silk_server_free(f->srv); /* deregisters */
    f->srv = NULL;

    assert_int_equal(silk_channel_open(&f->ch, "test.Echo"), SILK_OK);
    silk_ctx *ctx = silk_ctx_new();
    assert_int_equal(silk_channel_call(f->ch, ctx, &methods[0], &req.base, &resp),
                     SILK_UNAVAILABLE);
    assert_string_equal(silk_ctx_message(ctx), "no live instance of test.Echo in the registry");
    silk_ctx_free(ctx);
    close_channel(f);
    unsetenv("SILK_REGISTRY");
}

static void test_token(void **state)
{
    fixture *f = *state;
    setenv("SILK_TOKEN", "secret", 1);
    start(f, 2, 0, 0); /* its channel carries the token */
    assert_int_equal(call(NULL, &methods[0], "k", "v", NULL, 0), SILK_OK);
    unsetenv("SILK_TOKEN");
    assert_int_equal(silk_channel_open(&f->ch, silk_server_address(f->srv)), SILK_OK);
    silk_ctx *ctx = silk_ctx_new();
    Msg req = SILK__RPC__METADATA__INIT;
    ProtobufCMessage *resp = NULL;
    assert_int_equal(silk_channel_call(f->ch, ctx, &methods[0], &req.base, &resp),
                     SILK_UNAUTHENTICATED);
    assert_string_equal(silk_ctx_message(ctx), "missing or wrong cluster token");
    silk_ctx_free(ctx);
    close_channel(f);
    stop(f);
}

static silk_status count_before(const silk_call_info *info, const ProtobufCMessage *req, void *arg)
{
    counts *c = arg;
    c->before++;
    if (info->method == NULL || info->trace_id == NULL || strlen(info->trace_id) != 32)
        c->bad++;
    const Msg *in = (const Msg *)req;
    if (info->server && strcmp(in->key, "deny") == 0)
        return silk_ctx_fail(info->ctx, SILK_PERMISSION_DENIED, "denied by the test");
    if (!info->server && strcmp(in->key, "deny-here") == 0)
        return silk_ctx_fail(info->ctx, SILK_PERMISSION_DENIED, "denied at the client");
    return SILK_OK;
}

static void count_after(const silk_call_info *info, const ProtobufCMessage *resp, void *arg)
{
    counts *c = arg;
    c->after++;
    c->last_status = (int)info->status;
    c->last_elapsed = info->elapsed_us;
    if ((info->status == SILK_OK) != (resp != NULL))
        c->bad++;
}

static void test_interceptors(void **state)
{
    fixture *f = *state;
    silk_server_opts opts = {.listen = listen_url, .workers = 2, .no_register = true};
    silk_server *srv = silk_server_new(&opts);
    assert_non_null(srv);
    f->srv = srv;
    silk_interceptor server_ic = {
        .name = "count", .before = count_before, .after = count_after, .arg = &f->sc};
    assert_int_equal(silk_server_add_interceptor(srv, &server_ic), SILK_OK);
    assert_int_equal(silk_server_add_interceptor(srv, &silk_log_interceptor), SILK_OK);
    assert_int_equal(silk_server_add_interceptor(srv, &(silk_interceptor){.name = "none"}),
                     SILK_INVALID_ARGUMENT);
    assert_int_equal(silk_server_add_service(srv, &echo_desc, &(handlers){0}, NULL), SILK_OK);
    assert_int_equal(silk_server_start(srv), SILK_OK);
    assert_int_equal(silk_server_add_interceptor(srv, &server_ic), SILK_FAILED_PRECONDITION);
    assert_int_equal(silk_channel_open(&self, silk_server_address(f->srv)), SILK_OK);
    silk_interceptor client_ic = {
        .name = "count", .before = count_before, .after = count_after, .arg = &f->cc};
    assert_int_equal(silk_channel_add_interceptor(self, &client_ic), SILK_OK);
    assert_int_equal(silk_channel_add_interceptor(self, &silk_log_interceptor), SILK_OK);

    silk_ctx *ctx = silk_ctx_new();
    assert_int_equal(call(ctx, &methods[0], "k", "v", NULL, 0), SILK_OK);
    assert_int_equal(f->sc.before, 1);
    assert_int_equal(f->sc.after, 1);
    assert_int_equal(f->cc.before, 1);
    assert_int_equal(f->cc.after, 1);
    assert_int_equal(f->cc.last_status, SILK_OK);
    assert_true(f->cc.last_elapsed >= 0);

    /* A server-side before refuses the call: the handler does not run, afters do. */
    assert_int_equal(call(ctx, &methods[0], "deny", "v", NULL, 0), SILK_PERMISSION_DENIED);
    assert_string_equal(silk_ctx_message(ctx), "denied by the test");
    assert_int_equal(f->sc.after, 2);
    assert_int_equal(f->sc.last_status, SILK_PERMISSION_DENIED);
    assert_int_equal(f->cc.last_status, SILK_PERMISSION_DENIED);

    /* A client-side before refuses it synchronously: nothing is sent. */
    assert_int_equal(call(ctx, &methods[0], "deny-here", "v", NULL, 0), SILK_PERMISSION_DENIED);
    assert_string_equal(silk_ctx_message(ctx), "denied at the client");
    assert_int_equal(f->sc.before, 2);
    assert_int_equal(f->cc.before, 3);
    assert_int_equal(f->cc.after, 3);
    assert_int_equal(f->sc.bad, 0);
    assert_int_equal(f->cc.bad, 0);
    silk_ctx_free(ctx);
    stop(f);
}

static silk_status refusals_before(const silk_call_info *info, const ProtobufCMessage *req,
                                   void *arg)
{
    (void)info;
    (void)req;
    atomic_fetch_add(&((refusals *)arg)->before, 1);
    return SILK_OK;
}

static void refusals_after(const silk_call_info *info, const ProtobufCMessage *resp, void *arg)
{
    refusals *r = arg;
    if (!info->server || info->method == NULL || info->method->path == NULL ||
        info->message == NULL || info->elapsed_us < 0 ||
        (info->status == SILK_OK) != (resp != NULL) ||
        (unsigned)info->status >= SILK_STATUS_COUNT) {
        atomic_fetch_add(&r->bad, 1);
        return;
    }
    pthread_mutex_lock(&r->mu);
    snprintf(r->last_path, sizeof r->last_path, "%s", info->method->path);
    r->last_had_ctx = info->ctx != NULL && silk_ctx_get(info->ctx, SILK_MD_TRACE_ID) != NULL;
    pthread_mutex_unlock(&r->mu);
    atomic_fetch_add(&r->after[info->status], 1);
}

/* start_refusals starts the test's server, with the refusals interceptor. */
static void start_refusals(fixture *f, unsigned max_concurrent, uint32_t max_message)
{
    silk_server_opts opts = {.listen = listen_url,
                             .workers = 2,
                             .max_concurrent = max_concurrent,
                             .max_message = max_message,
                             .no_register = true};
    silk_server *srv = silk_server_new(&opts);
    assert_non_null(srv);
    f->srv = srv;
    silk_interceptor ic = {
        .name = "refusals", .before = refusals_before, .after = refusals_after, .arg = &f->r};
    assert_int_equal(silk_server_add_interceptor(srv, &ic), SILK_OK);
    assert_int_equal(silk_server_add_interceptor(srv, &silk_log_interceptor), SILK_OK);
    assert_int_equal(silk_server_add_service(srv, &echo_desc, &(handlers){0}, NULL), SILK_OK);
    assert_int_equal(silk_server_start(srv), SILK_OK);
}

/* expect_last_path checks the path of the last call the afters saw. */
static void expect_last_path(refusals *r, const char *path)
{
    char last[sizeof r->last_path];
    pthread_mutex_lock(&r->mu); /* no assertion with it held: teardown's callbacks take it */
    memcpy(last, r->last_path, sizeof last);
    pthread_mutex_unlock(&r->mu);
    assert_string_equal(last, path);
}

/* expect_refused checks that the last call reached the afters alone with status st. */
static void expect_refused(refusals *r, silk_status st, int times, const char *path)
{
    assert_int_equal(atomic_load(&r->bad), 0);
    assert_int_equal(atomic_load(&r->before), 0);
    assert_int_equal(atomic_load(&r->after[st]), times);
    expect_last_path(r, path);
}

/* A server's interceptors see the calls it refuses before their handler would run: their
 * afters run with the status (their befores do not: there was no request to show). */
static void test_interceptors_see_refusals(void **state)
{
    fixture *f = *state;
    uint64_t id = 0;

    /* A wrong cluster token. */
    setenv("SILK_TOKEN", "s3cret", 1);
    start_refusals(f, 0, 0);
    unsetenv("SILK_TOKEN");
    f->raw = raw_open(silk_server_address(f->srv));
    raw_request(f->raw, 1, "/test.Echo/Echo", 1000000, NULL, 0);
    assert_int_equal(raw_response(f->raw, &id), SILK_UNAUTHENTICATED);
    expect_refused(&f->r, SILK_UNAUTHENTICATED, 1, "/test.Echo/Echo");
    assert_true(f->r.last_had_ctx); /* the header's metadata, with a trace id */
    raw_close(f);
    stop(f);

    /* max_concurrent 1: each refused call gives its slot back before its answer is queued, so
     * the next request, sent on that answer, finds it free. */
    start_refusals(f, 1, 1024);
    f->raw = raw_open(silk_server_address(f->srv));
    /* An unknown method: the path asked for. */
    raw_request(f->raw, 2, "/test.Echo/Missing", 1000000, NULL, 0);
    assert_int_equal(raw_response(f->raw, &id), SILK_UNIMPLEMENTED);
    expect_refused(&f->r, SILK_UNIMPLEMENTED, 1, "/test.Echo/Missing");
    /* A payload that does not decode. */
    raw_request(f->raw, 3, "/test.Echo/Echo", 1000000, (const uint8_t *)"\xff\xff\xff\xff", 4);
    assert_int_equal(raw_response(f->raw, &id), SILK_INVALID_ARGUMENT);
    expect_refused(&f->r, SILK_INVALID_ARGUMENT, 1, "/test.Echo/Echo");
    /* A header that does not decode: no method to tell. */
    raw_request(f->raw, 4, NULL, 0, NULL, 0);
    assert_int_equal(raw_response(f->raw, &id), SILK_INVALID_ARGUMENT);
    expect_refused(&f->r, SILK_INVALID_ARGUMENT, 2, "");
    /* A budget spent on arrival. */
    raw_request(f->raw, 5, "/test.Echo/Echo", 1, NULL, 0);
    assert_int_equal(raw_response(f->raw, &id), SILK_DEADLINE_EXCEEDED);
    expect_refused(&f->r, SILK_DEADLINE_EXCEEDED, 1, "/test.Echo/Echo");
    /* A message past max_message (within the frame's room for a header). */
    static uint8_t big[4096];
    raw_request(f->raw, 6, "/test.Echo/Echo", 1000000, big, sizeof big);
    assert_int_equal(raw_response(f->raw, &id), SILK_RESOURCE_EXHAUSTED);
    expect_refused(&f->r, SILK_RESOURCE_EXHAUSTED, 1, "/test.Echo/Echo");
    /* Past max_concurrent (1, taken by a sleeping call): refused on arrival. */
    Msg sleep_req = SILK__RPC__METADATA__INIT;
    sleep_req.key = "sleep";
    sleep_req.value = "500";
    uint8_t payload[64];
    size_t plen = silk__rpc__metadata__pack(&sleep_req, payload);
    raw_request(f->raw, 7, "/test.Echo/Echo", 5000000, payload, plen);
    raw_request(f->raw, 8, "/test.Echo/Echo", 5000000, NULL, 0);
    assert_int_equal(raw_response(f->raw, &id), SILK_RESOURCE_EXHAUSTED);
    assert_true(id == 8);
    assert_int_equal(atomic_load(&f->r.after[SILK_RESOURCE_EXHAUSTED]), 2);
    expect_last_path(&f->r, "/test.Echo/Echo");
    /* The sleeping call went through both hooks, as calls that run do. */
    assert_int_equal(raw_response(f->raw, &id), SILK_OK);
    assert_true(id == 7);
    assert_int_equal(atomic_load(&f->r.before), 1);
    assert_int_equal(atomic_load(&f->r.after[SILK_OK]), 1);
    assert_int_equal(atomic_load(&f->r.bad), 0);
    raw_close(f);
    stop(f);
}

/* cancel_cb counts the completions of a cancelled call. */
static void cancel_cb(silk_status st, ProtobufCMessage *resp, const char *message, void *arg)
{
    (void)message;
    fixture *f = arg;
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    atomic_fetch_add(st == SILK_CANCELLED && resp == NULL ? &f->cancelled : &f->not_cancelled, 1);
}

static void test_cancel_and_sync_failure_message(void **state)
{
    fixture *f = *state;
    start(f, 2, 0, 0);
    Msg req = SILK__RPC__METADATA__INIT;
    req.key = "sleep";
    req.value = "300";
    silk_call_id id = 0;
    assert_int_equal(silk_channel_call_async(self, NULL, &methods[0], &req.base, cancel_cb, f, &id),
                     SILK_OK);
    assert_true(id != 0);
    silk_channel_cancel(self, id);
    assert_int_equal(atomic_load(&f->cancelled), 1); /* before silk_channel_cancel returned */
    silk_channel_cancel(self, id);
    silk_channel_cancel(self, 0);
    assert_int_equal(atomic_load(&f->cancelled), 1);
    assert_int_equal(atomic_load(&f->not_cancelled), 0);
    /* The channel still serves. */
    assert_int_equal(call(NULL, &methods[0], "k", "v", NULL, 0), SILK_OK);

    /* A synchronous failure of silk_channel_call_async says why in the ctx. */
    silk_ctx *ctx = silk_ctx_new();
    Msg wrong = SILK__RPC__METADATA__INIT;
    assert_int_equal(silk_channel_call_async(self, ctx, &methods[0], &wrong.base, NULL, NULL, NULL),
                     SILK_INVALID_ARGUMENT);
    assert_string_equal(silk_ctx_message(ctx), "invalid arguments");
    silk_ctx_free(ctx);
    stop(f);
}

/* An asynchronous call a handler started with its ctx is cancelled with the handler's own
 * call, and its server sees the cancel, though the handler itself never cancels it. */
static void test_cancel_reaches_async_calls(void **state)
{
    fixture *f = *state;
    start(f, 4, 0, 0);
    atomic_store(&sleeping, 0);
    atomic_store(&sleeps_cancelled, 0);
    atomic_store(&async_status, -1);
    Msg req = SILK__RPC__METADATA__INIT;
    req.key = "k";
    req.value = "4000";
    silk_call_id id = 0;
    assert_int_equal(silk_channel_call_async(self, NULL, &methods[3], &req.base, cancel_cb, f, &id),
                     SILK_OK);
    for (int i = 0; i < 1000 && atomic_load(&sleeping) == 0; i++)
        usleep(5000);
    assert_int_equal(atomic_load(&sleeping), 1); /* the async Echo runs */
    silk_channel_cancel(self, id);
    assert_int_equal(atomic_load(&f->cancelled), 1);
    assert_int_equal(atomic_load(&f->not_cancelled), 0);
    /* Well before its 4 s of sleep: cancelled, and its handler saw it. */
    for (int i = 0; i < 400 && atomic_load(&sleeps_cancelled) == 0; i++)
        usleep(5000);
    assert_int_equal(atomic_load(&async_status), SILK_CANCELLED);
    assert_int_equal(atomic_load(&sleeps_cancelled), 1);
    stop(f);
}

/* blocker makes blocking calls from a thread of its own: n echoes of distinct values, or
 * one that sleeps (the channel is closed under it). */
typedef struct blocker {
    silk_channel *ch;
    int n;
    int index;
    bool sleep;
    int ok;
    silk_status last;
    char message[128];
} blocker;

static void *blocker_main(void *arg)
{
    blocker *b = arg;
    for (int i = 0; i < b->n; i++) {
        char value[32];
        snprintf(value, sizeof value, "%d-%d", b->index, i);
        Msg req = SILK__RPC__METADATA__INIT;
        req.key = b->sleep ? "sleep" : "k";
        req.value = b->sleep ? "2000" : value;
        silk_ctx *ctx = silk_ctx_new();
        ProtobufCMessage *resp = NULL;
        b->last = silk_channel_call(b->ch, ctx, &methods[0], &req.base, &resp);
        snprintf(b->message, sizeof b->message, "%s", silk_ctx_message(ctx));
        if (b->last == SILK_OK) {
            const char *got = ((Msg *)resp)->value; /* "<value> bid=- left_ms=..." */
            b->ok +=
                strncmp(got, req.value, strlen(req.value)) == 0 && got[strlen(req.value)] == ' ';
            protobuf_c_message_free_unpacked(resp, NULL);
        }
        silk_ctx_free(ctx);
    }
    return NULL;
}

/* Blocking calls from several threads on one channel: one at a time drives the channel's
 * blocking connection from its own thread, the others go the channel's way meanwhile, and
 * every call gets its own answer. */
static void test_blocking_calls_from_threads(void **state)
{
    fixture *f = *state;
    enum { THREADS = 4, CALLS = 300 };
    start(f, 2, 0, 0);
    assert_int_equal(silk_channel_open(&f->ch, silk_server_address(f->srv)), SILK_OK);
    blocker b[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        b[i] = (blocker){.ch = f->ch, .n = CALLS, .index = i};
        assert_int_equal(pthread_create(&t[i], NULL, blocker_main, &b[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(b[i].ok, CALLS);
    }
    close_channel(f);
    stop(f);
}

/* A channel closed while a thread waits in a blocking call on it: the call ends CANCELLED at
 * once, and the server sees its handler's call cancelled. */
static void test_close_with_blocking_call_in_flight(void **state)
{
    fixture *f = *state;
    start(f, 2, 0, 0);
    assert_int_equal(silk_channel_open(&f->ch, silk_server_address(f->srv)), SILK_OK);
    int before = atomic_load(&sleeping), cancelled = atomic_load(&sleeps_cancelled);
    blocker b = {.ch = f->ch, .n = 1, .sleep = true};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, blocker_main, &b), 0);
    while (atomic_load(&sleeping) == before) /* until the call is running */
        usleep(1000);
    int64_t t0 = silk__now_us();
    close_channel(f);
    pthread_join(t, NULL);
    assert_true(silk__now_us() - t0 < 300000);
    assert_int_equal(b.last, SILK_CANCELLED);
    assert_string_equal(b.message, "the channel is closed");
    for (int i = 0; i < 200 && atomic_load(&sleeps_cancelled) == cancelled; i++)
        usleep(5000);
    assert_true(atomic_load(&sleeps_cancelled) > cancelled);
    stop(f);
}

/* ============================== runs ============================== */

/* FIXTURE_TEST is a test with a fixture of its own, stopped whether it passes or fails. */
#define FIXTURE_TEST(test) cmocka_unit_test_setup_teardown(test, setup, teardown)

static int run(const char *name, const char *url)
{
    listen_url = url;
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        FIXTURE_TEST(test_echo),
        FIXTURE_TEST(test_unknown_method),
        FIXTURE_TEST(test_bad_frames),
        FIXTURE_TEST(test_deadline),
        FIXTURE_TEST(test_nested_call),
        FIXTURE_TEST(test_concurrent_calls),
        FIXTURE_TEST(test_max_concurrent),
        FIXTURE_TEST(test_sequential_calls_at_max_concurrent),
        FIXTURE_TEST(test_close_with_calls_in_flight),
        FIXTURE_TEST(test_blocking_calls_from_threads),
        FIXTURE_TEST(test_close_with_blocking_call_in_flight),
        FIXTURE_TEST(test_dead_address),
        FIXTURE_TEST(test_graceful_stop),
        FIXTURE_TEST(test_connection_lost),
        FIXTURE_TEST(test_by_name_through_registry),
        FIXTURE_TEST(test_token),
        FIXTURE_TEST(test_interceptors),
        FIXTURE_TEST(test_interceptors_see_refusals),
        FIXTURE_TEST(test_cancel_and_sync_failure_message),
        FIXTURE_TEST(test_cancel_reaches_async_calls),
    };
    /* clang-format on */
    return _cmocka_run_group_tests(name, tests, sizeof tests / sizeof tests[0], NULL, NULL);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/silk-rpc-test-XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return 1;
    unsetenv("SILK_TOKEN");
    char ipc[256];
    snprintf(ipc, sizeof ipc, "ipc://%s/server.sock", tmpdir);
    int failed = run("rpc over ipc", ipc);
    failed += run("rpc over tcp", "tcp://127.0.0.1:0");
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        failed++;
    silk__reap_fini();
    nng_fini();
    return failed != 0;
}
