/* ws_test.c - the WebSocket helpers against fake gateways serving silk.ws.SessionManager. */
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <nng/nng.h>

#include <silk/silk.h>

#include "silk/rpc.pb-c.h"
#include "silk/ws.silk.h"
#include "core/reap.h"
#include "push/push_internal.h"
#include "wire/frame.h"

/* ============================== fake gateways ============================== */

typedef struct session {
    const char *id;
    const char *business;
    const char *route;
} session;

typedef struct fake_gw {
    const char *id;
    session sessions[4];
    silk_server *srv;
    pthread_mutex_t mu;
    char sent[8][128]; /* "session:data" of every Send and SendToBusiness, in order */
    int nsent;
    char business_md[32]; /* the business-id metadata of the last Sessions call */
    /* Numbered sessions for batches: "<id>.n0" ... "<id>.n<many - 1>", whose Sends must carry
     * "m<n>"; got[n] counts each one's, bad the Sends that carried something else. */
    int many;
    unsigned *got;
    int bad;
    unsigned max_concurrent; /* the server's (0: its default) */
    unsigned delay_us;       /* each Send or SendMany takes this long */
    /* "<id>.seq" takes "o0", "o1", ... in this order: next is the one it waits for, and
     * out_of_order counts the others. */
    int next;
    int out_of_order;
    atomic_int refused_busy; /* calls its server answered busy without running them */
} fake_gw;

static bool on_route(const session *s, const char *route)
{
    return route[0] == '\0' || strcmp(s->route, route) == 0;
}

static void record(fake_gw *gw, const char *who, const ProtobufCBinaryData *data)
{
    pthread_mutex_lock(&gw->mu);
    if (gw->nsent < 8)
        snprintf(gw->sent[gw->nsent++], sizeof gw->sent[0], "%s:%.*s", who, (int)data->len,
                 (const char *)data->data);
    pthread_mutex_unlock(&gw->mu);
}

static silk_status sm_sessions(silk_ctx *ctx, const Silk__Ws__SessionsRequest *req,
                               Silk__Ws__SessionsReply *resp, void *user)
{
    fake_gw *gw = user;
    const char *md = silk_ctx_business_id(ctx);
    pthread_mutex_lock(&gw->mu);
    snprintf(gw->business_md, sizeof gw->business_md, "%s", md != NULL ? md : "-");
    pthread_mutex_unlock(&gw->mu);
    char **ids = silk_ctx_alloc(ctx, 4 * sizeof *ids);
    for (const session *s = gw->sessions; s->id != NULL; s++) {
        if (strcmp(s->business, req->business_id) == 0 && on_route(s, req->route))
            ids[resp->n_session_ids++] = (char *)s->id;
    }
    resp->session_ids = ids;
    return SILK_OK;
}

/* numbered takes a Send to one of gw's numbered sessions: true when id is one. */
static bool numbered(fake_gw *gw, const char *id, const ProtobufCBinaryData *data)
{
    size_t n = strlen(gw->id);
    if (gw->many == 0 || strncmp(id, gw->id, n) != 0 || strncmp(id + n, ".n", 2) != 0)
        return false;
    int k = atoi(id + n + 2);
    if (k < 0 || k >= gw->many)
        return false;
    char want[32];
    int len = snprintf(want, sizeof want, "m%d", k);
    pthread_mutex_lock(&gw->mu);
    gw->got[k]++;
    if (data->len != (size_t)len || memcmp(data->data, want, (size_t)len) != 0)
        gw->bad++;
    pthread_mutex_unlock(&gw->mu);
    return true;
}

static silk_status sm_send(silk_ctx *ctx, const Silk__Ws__SendRequest *req,
                           Silk__Ws__SendReply *resp, void *user)
{
    fake_gw *gw = user;
    if (gw->delay_us != 0)
        usleep(gw->delay_us);
    if (req->gateway_id[0] != '\0' && strcmp(req->gateway_id, gw->id) != 0)
        return silk_ctx_fail(ctx, SILK_NOT_FOUND, "this is not gateway %s", req->gateway_id);
    if (numbered(gw, req->session_id, &req->data)) {
        resp->delivered = 1;
        return SILK_OK;
    }
    for (const session *s = gw->sessions; s->id != NULL; s++) {
        if (strcmp(s->id, req->session_id) == 0) {
            record(gw, s->id, &req->data);
            resp->delivered = 1;
            return SILK_OK;
        }
    }
    return silk_ctx_fail(ctx, SILK_NOT_FOUND, "no session %s", req->session_id);
}

/* sequenced takes a message for gw's "<id>.seq": true when id is that session. */
static bool sequenced(fake_gw *gw, const char *id, const ProtobufCBinaryData *data)
{
    size_t n = strlen(gw->id);
    if (strncmp(id, gw->id, n) != 0 || strcmp(id + n, ".seq") != 0)
        return false;
    char want[32];
    int len = snprintf(want, sizeof want, "o%d", gw->next);
    pthread_mutex_lock(&gw->mu);
    if (data->len != (size_t)len || memcmp(data->data, want, (size_t)len) != 0)
        gw->out_of_order++;
    gw->next++;
    pthread_mutex_unlock(&gw->mu);
    return true;
}

/* take_one takes a message for one of gw's sessions: true when it has that session. */
static bool take_one(fake_gw *gw, const char *id, const ProtobufCBinaryData *data)
{
    if (numbered(gw, id, data) || sequenced(gw, id, data))
        return true;
    for (const session *s = gw->sessions; s->id != NULL; s++) {
        if (strcmp(s->id, id) == 0) {
            record(gw, s->id, data);
            return true;
        }
    }
    return false;
}

static silk_status sm_send_many(silk_ctx *ctx, const Silk__Ws__SendManyRequest *req,
                                Silk__Ws__SendManyReply *resp, void *user)
{
    fake_gw *gw = user;
    if (gw->delay_us != 0)
        usleep(gw->delay_us);
    if (req->gateway_id[0] != '\0' && strcmp(req->gateway_id, gw->id) != 0)
        return silk_ctx_fail(ctx, SILK_NOT_FOUND, "this is not gateway %s", req->gateway_id);
    resp->missing = silk_ctx_alloc(ctx, (req->n_messages + 1) * sizeof *resp->missing);
    for (size_t i = 0; i < req->n_messages; i++) {
        const Silk__Ws__SendItem *m = req->messages[i];
        if (take_one(gw, m->session_id, &m->data))
            resp->delivered++;
        else
            resp->missing[resp->n_missing++] = m->session_id;
    }
    return SILK_OK;
}

static silk_status sm_send_to_business(silk_ctx *ctx, const Silk__Ws__SendToBusinessRequest *req,
                                       Silk__Ws__SendReply *resp, void *user)
{
    (void)ctx;
    fake_gw *gw = user;
    for (const session *s = gw->sessions; s->id != NULL; s++) {
        if (strcmp(s->business, req->business_id) == 0 && on_route(s, req->route)) {
            record(gw, s->id, &req->data);
            resp->delivered++;
        }
    }
    return SILK_OK;
}

static fake_gw gw1 = {.id = "gw1",
                      .sessions = {{"gw1.a", "100", "api/wstest"}, {"gw1.z", "200", "api/wstest"}}};
static fake_gw gw2 = {.id = "gw2",
                      .sessions = {{"gw2.b", "100", "api/wstest"}, {"gw2.c", "100", "api/other"}}};

/* count_busy counts the calls gw's server refused as busy (a server's afters see them). */
static void count_busy(const silk_call_info *info, const ProtobufCMessage *resp, void *arg)
{
    (void)resp;
    fake_gw *gw = arg;
    if (info->status == SILK_RESOURCE_EXHAUSTED && strcmp(info->message, SILK__MSG_BUSY) == 0)
        atomic_fetch_add(&gw->refused_busy, 1);
}

/* start_gateway_in starts gw registered in registry (NULL: $SILK_REGISTRY's). */
static void start_gateway_in(fake_gw *gw, const char *registry)
{
    static const Silk__Ws__SessionManager_Handlers handlers = {
        .sessions = sm_sessions,
        .send = sm_send,
        .send_many = sm_send_many,
        .send_to_business = sm_send_to_business,
    };
    pthread_mutex_init(&gw->mu, NULL);
    gw->nsent = 0;
    gw->next = gw->out_of_order = 0;
    gw->srv = silk_server_new(&(silk_server_opts){.instance_id = gw->id,
                                                  .workers = 2,
                                                  .registry = registry,
                                                  .max_concurrent = gw->max_concurrent});
    assert_non_null(gw->srv);
    atomic_store(&gw->refused_busy, 0);
    silk_interceptor busy = {.name = "busy", .after = count_busy, .arg = gw};
    assert_int_equal(silk_server_add_interceptor(gw->srv, &busy), SILK_OK);
    assert_int_equal(silk__ws__session_manager__serve(gw->srv, &handlers, gw), SILK_OK);
    assert_int_equal(silk_server_start(gw->srv), SILK_OK);
}

static void start_gateway(fake_gw *gw)
{
    start_gateway_in(gw, NULL);
}

static void stop_gateway(fake_gw *gw)
{
    silk_server_free(gw->srv);
    pthread_mutex_destroy(&gw->mu);
}

/* ============================== a WebSocket service ============================== */

typedef Silk__Rpc__Metadata Msg; /* key: the business id, value: the message */

/* push is the seed's Echo, written on rpc.proto's Metadata: every session of the business
 * on the service's route gets "message:<msg>,sessionId:<id>", the sends in one batch. */
static silk_status push(silk_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp,
                        const void *h, void *user)
{
    (void)resp;
    (void)h;
    (void)user;
    const Msg *in = (const Msg *)req;
    silk_session_list sessions;
    silk_status st = silk_ws_session_list(ctx, in->key, &sessions);
    if (st != SILK_OK)
        return st;
    if (sessions.count == 0)
        return silk_ctx_fail(ctx, SILK_NOT_FOUND, "no session for businessId %s", in->key);
    silk_ws_batch *b;
    st = silk_ws_batch_open(ctx, &b);
    for (size_t i = 0; i < sessions.count && st == SILK_OK; i++)
        st = silk_ws_batch_sendf(b, sessions.ids[i], "message:%s,sessionId:%s", in->value,
                                 sessions.ids[i]);
    silk_status closed = silk_ws_batch_close(b, NULL);
    silk_session_list_fini(&sessions);
    return st != SILK_OK ? st : closed;
}

/* Push's budget outlasts a call to a gateway that does not answer (the method's 5 s). */
static const silk_method_desc push_method = {.name = "Push",
                                             .path = "/wstest.WsTest/Push",
                                             .input = &silk__rpc__metadata__descriptor,
                                             .output = &silk__rpc__metadata__descriptor,
                                             .timeout_ms = 20000,
                                             .invoke = push};
static const silk_service_desc push_desc = {
    .name = "wstest.WsTest", .route = "api/wstest", .n_methods = 1, .methods = &push_method};

/* push_service starts a server hosting WsTest's Push with opts. */
static silk_server *push_service(const silk_server_opts *opts)
{
    silk_server *svc = silk_server_new(opts);
    assert_int_equal(silk_server_add_service(svc, &push_desc, NULL, NULL), SILK_OK);
    assert_int_equal(silk_server_start(svc), SILK_OK);
    return svc;
}

/* call_push calls Push on ch: value to the sessions of business. */
static silk_status call_push(silk_channel *ch, silk_ctx *ctx, const char *business,
                             const char *value)
{
    Msg req = SILK__RPC__METADATA__INIT;
    req.key = (char *)business;
    req.value = (char *)value;
    ProtobufCMessage *resp = NULL;
    silk_status st = silk_channel_call(ch, ctx, &push_method, &req.base, &resp);
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    return st;
}

/* expect_pushed checks that business 100's sessions on WsTest's route - gw1.a and gw2.b, not
 * gw2.c (another route) - got value, once each. */
static void expect_pushed(const char *value)
{
    char want[128];
    assert_int_equal(gw1.nsent, 1);
    snprintf(want, sizeof want, "gw1.a:message:%s,sessionId:gw1.a", value);
    assert_string_equal(gw1.sent[0], want);
    assert_int_equal(gw2.nsent, 1);
    snprintf(want, sizeof want, "gw2.b:message:%s,sessionId:gw2.b", value);
    assert_string_equal(gw2.sent[0], want);
}

/* ============================== tests ============================== */

static char dir[128];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/silk-ws-test-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    char url[256];
    snprintf(url, sizeof url, "file:%s", dir);
    setenv("SILK_REGISTRY", url, 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    silk__ws_shutdown();
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static bool has(const silk_session_list *l, const char *id)
{
    for (size_t i = 0; i < l->count; i++) {
        if (strcmp(l->ids[i], id) == 0)
            return true;
    }
    return false;
}

static void test_no_gateway(void **state)
{
    (void)state;
    silk_session_list l;
    assert_int_equal(silk_ws_session_list(NULL, "100", &l), SILK_OK);
    assert_int_equal(l.count, 0);
    assert_int_equal(silk_ws_send(NULL, "gw1.a", "x", 1), SILK_NOT_FOUND);
    size_t n = 9;
    assert_int_equal(silk_ws_send_business(NULL, "100", "x", 1, &n), SILK_OK);
    assert_int_equal(n, 0);
    assert_int_equal(silk_ws_session_list(NULL, "", &l), SILK_INVALID_ARGUMENT);
}

static void test_sessions_send_and_business(void **state)
{
    (void)state;
    start_gateway(&gw1);
    start_gateway(&gw2);
    /* A ctx of no service sees every route. */
    silk_ctx *ctx = silk_ctx_new();
    silk_session_list l;
    assert_int_equal(silk_ws_session_list(ctx, "100", &l), SILK_OK);
    assert_int_equal(l.count, 3);
    assert_true(has(&l, "gw1.a") && has(&l, "gw2.b") && has(&l, "gw2.c"));
    silk_session_list_fini(&l);
    /* The business id travels with the call though the ctx had none. */
    assert_string_equal(gw1.business_md, "100");
    assert_int_equal(l.count, 0);

    /* A push by session id goes to the gateway its prefix names. */
    assert_int_equal(silk_ws_sendf(ctx, "gw2.b", "hello %d", 2), SILK_OK);
    assert_int_equal(gw2.nsent, 1);
    assert_string_equal(gw2.sent[0], "gw2.b:hello 2");
    assert_int_equal(gw1.nsent, 0);
    assert_int_equal(silk_ws_send(ctx, "gw2.gone", "x", 1), SILK_NOT_FOUND);
    assert_int_equal(silk_ws_send(ctx, "gw3.x", "x", 1), SILK_NOT_FOUND);
    assert_int_equal(silk_ws_send(ctx, "nodot", "x", 1), SILK_NOT_FOUND);

    size_t delivered = 0;
    assert_int_equal(silk_ws_send_business(ctx, "100", "all", 3, &delivered), SILK_OK);
    assert_int_equal(delivered, 3);
    silk_ctx_free(ctx);
    stop_gateway(&gw1);
    stop_gateway(&gw2);
}

static void test_seed_path_from_a_service(void **state)
{
    (void)state;
    start_gateway(&gw1);
    start_gateway(&gw2);
    silk_server *svc = push_service(&(silk_server_opts){.workers = 2});
    silk_channel *ch;
    assert_int_equal(silk_channel_open(&ch, "wstest.WsTest"), SILK_OK);

    /* Business 100 on WsTest's route: gw1.a and gw2.b, not gw2.c (another route). */
    silk_ctx *ctx = silk_ctx_new();
    assert_int_equal(call_push(ch, ctx, "100", "hi"), SILK_OK);
    expect_pushed("hi");

    /* No session on gateways that answered: NOT_FOUND with the handler's message. */
    assert_int_equal(call_push(ch, ctx, "999", "hi"), SILK_NOT_FOUND);
    assert_string_equal(silk_ctx_message(ctx), "no session for businessId 999");

    silk_ctx_free(ctx);
    silk_channel_close(ch);
    silk_server_free(svc);
    stop_gateway(&gw1);
    stop_gateway(&gw2);
}

/* ============================== batches ============================== */

/* numbered_gateway makes gw serve many numbered sessions (and its usual ones). */
static void numbered_gateway(fake_gw *gw, int many, unsigned max_concurrent, unsigned delay_us)
{
    gw->many = many;
    gw->got = calloc((size_t)many, sizeof *gw->got);
    assert_non_null(gw->got);
    gw->bad = 0;
    gw->max_concurrent = max_concurrent;
    gw->delay_us = delay_us;
    start_gateway(gw);
}

/* stop_numbered stops gw and checks that each of its numbered sessions got its one message
 * (or none at all, when none_of_them). */
static void stop_numbered(fake_gw *gw, bool none_of_them)
{
    stop_gateway(gw);
    for (int k = 0; k < gw->many; k++) {
        if (gw->got[k] != (none_of_them ? 0u : 1u))
            fail_msg("%s.n%d got %u messages", gw->id, k, gw->got[k]);
    }
    assert_int_equal(gw->bad, 0);
    free(gw->got);
    gw->got = NULL;
    gw->many = 0;
    gw->max_concurrent = 0;
    gw->delay_us = 0;
}

/* send_numbered sends "m<k>" to n numbered sessions of gw through b. */
static void send_numbered(silk_ws_batch *b, const char *gw, int n)
{
    for (int k = 0; k < n; k++) {
        char id[32];
        snprintf(id, sizeof id, "%s.n%d", gw, k);
        assert_int_equal(silk_ws_batch_sendf(b, id, "m%d", k), SILK_OK);
    }
}

/* A thousand sends over two gateways all arrive, once each, with their own message, in a
 * few SendMany calls. */
static void test_batch_delivers_every_send(void **state)
{
    (void)state;
    numbered_gateway(&gw1, 500, 0, 0);
    numbered_gateway(&gw2, 500, 0, 200);
    silk_ctx *ctx = silk_ctx_new();
    silk_ws_batch *b;
    assert_int_equal(silk_ws_batch_open(ctx, &b), SILK_OK);
    for (int k = 0; k < 500; k++) { /* interleaved: both gateways' calls fill */
        char id[32];
        snprintf(id, sizeof id, "gw1.n%d", k);
        assert_int_equal(silk_ws_batch_sendf(b, id, "m%d", k), SILK_OK);
        snprintf(id, sizeof id, "gw2.n%d", k);
        char msg[16];
        int len = snprintf(msg, sizeof msg, "m%d", k);
        assert_int_equal(silk_ws_batch_send(b, id, msg, (size_t)len), SILK_OK);
    }
    size_t delivered = 0;
    assert_int_equal(silk_ws_batch_close(b, &delivered), SILK_OK);
    assert_int_equal(delivered, 1000);
    silk_ctx_free(ctx);
    stop_numbered(&gw1, false);
    stop_numbered(&gw2, false);
}

/* Many messages for one session in one batch arrive in the order they were sent, however
 * the batch groups them into calls. */
static void test_batch_keeps_a_sessions_order(void **state)
{
    (void)state;
    numbered_gateway(&gw1, 1, 0, 100);
    silk_ctx *ctx = silk_ctx_new();
    silk_ws_batch *b;
    assert_int_equal(silk_ws_batch_open(ctx, &b), SILK_OK);
    for (int k = 0; k < 3000; k++)
        assert_int_equal(silk_ws_batch_sendf(b, "gw1.seq", "o%d", k), SILK_OK);
    size_t delivered = 0;
    assert_int_equal(silk_ws_batch_close(b, &delivered), SILK_OK);
    assert_int_equal(delivered, 3000);
    silk_ctx_free(ctx);
    stop_gateway(&gw1);
    assert_int_equal(gw1.next, 3000);
    assert_int_equal(gw1.out_of_order, 0);
    free(gw1.got);
    gw1.got = NULL;
    gw1.many = 0;
    gw1.delay_us = 0;
}

/* batch_half sends "m<k>" to gw2's numbered sessions from *first to *first + 249, in one
 * batch of its own, and checks that every one was taken. */
static void *batch_half(void *arg)
{
    int first = *(const int *)arg;
    silk_ctx *ctx = silk_ctx_new();
    silk_ws_batch *b;
    silk_status st = silk_ws_batch_open(ctx, &b);
    for (int k = first; st == SILK_OK && k < first + 250; k++) {
        char id[32];
        snprintf(id, sizeof id, "gw2.n%d", k);
        st = silk_ws_batch_sendf(b, id, "m%d", k);
        if (k % 25 == 0)
            usleep(1000); /* several calls, so that the two batches' calls meet */
    }
    size_t delivered = 0;
    silk_status closed = silk_ws_batch_close(b, &delivered);
    silk_ctx_free(ctx);
    return (void *)(intptr_t)(st == SILK_OK && closed == SILK_OK && delivered == 250 ? 0 : 1);
}

/* A gateway that runs one call at a time, slowly, refuses the second batch's calls as busy
 * while the first's runs: each refused call is sent again, and every send arrives once. */
static void test_batch_busy_gateway(void **state)
{
    (void)state;
    numbered_gateway(&gw2, 500, 1, 3000);
    pthread_t t[2];
    int first[2] = {0, 250};
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, batch_half, &first[i]), 0);
    for (int i = 0; i < 2; i++) {
        void *failed;
        assert_int_equal(pthread_join(t[i], &failed), 0);
        assert_null(failed);
    }
    if (atomic_load(&gw2.refused_busy) == 0)
        fail_msg("no call was refused as busy: the test did not test retries");
    stop_numbered(&gw2, false);
}

/* What a batch refuses, and an empty one. */
static void test_batch_arguments(void **state)
{
    (void)state;
    silk_ws_batch *b;
    assert_int_equal(silk_ws_batch_open(NULL, NULL), SILK_INVALID_ARGUMENT);
    assert_int_equal(silk_ws_batch_open(NULL, &b), SILK_OK);
    assert_int_equal(silk_ws_batch_send(NULL, "gw1.a", "x", 1), SILK_INVALID_ARGUMENT);
    assert_int_equal(silk_ws_batch_send(b, NULL, "x", 1), SILK_INVALID_ARGUMENT);
    assert_int_equal(silk_ws_batch_send(b, "gw1.a", NULL, 1), SILK_INVALID_ARGUMENT);
    size_t delivered = 9;
    assert_int_equal(silk_ws_batch_close(b, &delivered), SILK_OK);
    assert_int_equal(delivered, 0);
    assert_int_equal(silk_ws_batch_close(NULL, &delivered), SILK_OK);
}

/* A session gone, or one no gateway owns: NOT_FOUND, as silk_ws_send says; the rest arrive. */
static void test_batch_session_gone(void **state)
{
    (void)state;
    numbered_gateway(&gw1, 10, 0, 0);
    silk_ctx *ctx = silk_ctx_new();
    silk_ws_batch *b;
    assert_int_equal(silk_ws_batch_open(ctx, &b), SILK_OK);
    send_numbered(b, "gw1", 5);
    assert_int_equal(silk_ws_batch_send(b, "gw1.gone", "x", 1), SILK_OK);
    send_numbered(b, "gw1", 10); /* n0 ... n4 a second time */
    size_t delivered = 0;
    assert_int_equal(silk_ws_batch_close(b, &delivered), SILK_NOT_FOUND);
    assert_int_equal(delivered, 15);
    assert_string_equal(silk_ctx_message(ctx), "no session gw1.gone on gateway gw1");

    assert_int_equal(silk_ws_batch_open(ctx, &b), SILK_OK);
    assert_int_equal(silk_ws_batch_send(b, "gw3.x", "x", 1), SILK_OK);
    assert_int_equal(silk_ws_batch_send(b, "gw1.a", "x", 1), SILK_OK);
    assert_int_equal(silk_ws_batch_close(b, &delivered), SILK_NOT_FOUND);
    assert_int_equal(delivered, 1);
    assert_string_equal(silk_ctx_message(ctx), "no gateway owns session gw3.x");
    silk_ctx_free(ctx);
    stop_gateway(&gw1);
    for (int k = 0; k < 10; k++)
        assert_int_equal(gw1.got[k], k < 5 ? 2 : 1);
    free(gw1.got);
    gw1.got = NULL;
    gw1.many = 0;
}

static silk_registry *register_gw9(const char *address);
static void deregister_gw9(silk_registry *reg);
static void expect_unreachable(const silk_ctx *ctx, const char *address);

/* A gateway registered whose port refuses: UNAVAILABLE naming it, and the sends to the
 * gateway that is up all arrive. */
static void test_batch_gateway_unreachable(void **state)
{
    (void)state;
    numbered_gateway(&gw1, 300, 0, 0);
    silk_registry *reg = register_gw9("tcp://127.0.0.1:1");
    silk_ctx *ctx = silk_ctx_new();
    silk_ws_batch *b;
    assert_int_equal(silk_ws_batch_open(ctx, &b), SILK_OK);
    for (int k = 0; k < 300; k++) {
        char id[32];
        snprintf(id, sizeof id, "gw1.n%d", k);
        assert_int_equal(silk_ws_batch_sendf(b, id, "m%d", k), SILK_OK);
        snprintf(id, sizeof id, "gw9.n%d", k);
        assert_int_equal(silk_ws_batch_sendf(b, id, "m%d", k), SILK_OK);
    }
    size_t delivered = 0;
    assert_int_equal(silk_ws_batch_close(b, &delivered), SILK_UNAVAILABLE);
    assert_int_equal(delivered, 300);
    expect_unreachable(ctx, "tcp://127.0.0.1:1");
    silk_ctx_free(ctx);
    deregister_gw9(reg);
    stop_numbered(&gw1, false);
}

/* ============================== gateways not reached ============================== */

/* register_gw9 registers a gateway gw9 at address in $SILK_REGISTRY's registry. */
static silk_registry *register_gw9(const char *address)
{
    silk_registry *reg;
    assert_int_equal(silk_registry_open(&reg, NULL), SILK_OK);
    silk_instance gw = {
        .service = SILK_WS_SESSION_MANAGER, .id = "gw9", .address = (char *)address};
    assert_int_equal(silk_registry_register(reg, &gw), SILK_OK);
    return reg;
}

static void deregister_gw9(silk_registry *reg)
{
    assert_int_equal(silk_registry_deregister(reg, SILK_WS_SESSION_MANAGER, "gw9"), SILK_OK);
    silk_registry_close(reg);
}

/* expect_unreachable checks that ctx's message names gw9 at address as not reached. */
static void expect_unreachable(const silk_ctx *ctx, const char *address)
{
    char want[128];
    snprintf(want, sizeof want, "gateway gw9 at %s cannot be reached: ", address);
    if (strncmp(silk_ctx_message(ctx), want, strlen(want)) != 0)
        fail_msg("message \"%s\", not \"%s...\"", silk_ctx_message(ctx), want);
}

/* expect_every_push_unavailable checks each helper, and a service's push, with gw1 and gw2
 * up and gw9 registered at address but not reached: UNAVAILABLE naming gw9, never OK with
 * nothing delivered or NOT_FOUND; SendToBusiness still delivers on gw1 and gw2. */
static void expect_every_push_unavailable(silk_channel *ch, const char *address)
{
    silk_ctx *ctx = silk_ctx_new();
    silk_session_list l;
    assert_int_equal(silk_ws_session_list(ctx, "100", &l), SILK_UNAVAILABLE);
    assert_int_equal(l.count, 0);
    expect_unreachable(ctx, address);
    /* Its sessions may exist: neither "no session" nor "no gateway owns it". */
    assert_int_equal(silk_ws_send(ctx, "gw9.x", "x", 1), SILK_UNAVAILABLE);
    expect_unreachable(ctx, address);
    gw1.nsent = gw2.nsent = 0;
    size_t delivered = 0;
    assert_int_equal(silk_ws_send_business(ctx, "100", "all", 3, &delivered), SILK_UNAVAILABLE);
    assert_int_equal(delivered, 3); /* gw1.a, gw2.b, gw2.c: a ctx of no service sees every route */
    expect_unreachable(ctx, address);
    /* Through a service: its caller gets UNAVAILABLE, for a business with sessions and for one
     * without alike (gw9 may hold its sessions). */
    assert_int_equal(call_push(ch, ctx, "100", "hi"), SILK_UNAVAILABLE);
    expect_unreachable(ctx, address);
    assert_int_equal(call_push(ch, ctx, "999", "hi"), SILK_UNAVAILABLE);
    expect_unreachable(ctx, address);
    silk_ctx_free(ctx);
}

/* A gateway registered whose port refuses (it died, its record not yet stale). */
static void test_gateway_refusing(void **state)
{
    (void)state;
    start_gateway(&gw1);
    start_gateway(&gw2);
    silk_server *svc = push_service(&(silk_server_opts){.workers = 2});
    silk_channel *ch;
    assert_int_equal(silk_channel_open(&ch, silk_server_address(svc)), SILK_OK);
    silk_registry *reg = register_gw9("tcp://127.0.0.1:1");
    expect_every_push_unavailable(ch, "tcp://127.0.0.1:1");
    deregister_gw9(reg);
    silk_channel_close(ch);
    silk_server_free(svc);
    stop_gateway(&gw1);
    stop_gateway(&gw2);
}

/* silent_listener listens on a free loopback port and never accepts: the kernel completes
 * connections, nothing reads them - a stopped process (SIGSTOP) as a dialer sees it. */
static int silent_listener(char *address, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 16), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    snprintf(address, cap, "tcp://127.0.0.1:%d", ntohs(a.sin_port));
    return fd;
}

/* A gateway registered that answers nothing: a push's call to it ends at the method's timeout
 * (5 s), within its caller's budget, as UNAVAILABLE; with less budget left than that, the
 * caller's deadline passes first and the push says DEADLINE_EXCEEDED. */
static void test_gateway_silent(void **state)
{
    (void)state;
    start_gateway(&gw1);
    start_gateway(&gw2);
    silk_server *svc = push_service(&(silk_server_opts){.workers = 2});
    silk_channel *ch;
    assert_int_equal(silk_channel_open(&ch, silk_server_address(svc)), SILK_OK);
    char address[64];
    int fd = silent_listener(address, sizeof address);
    silk_registry *reg = register_gw9(address);

    silk_ctx *ctx = silk_ctx_new();
    assert_int_equal(call_push(ch, ctx, "999", "hi"), SILK_UNAVAILABLE);
    expect_unreachable(ctx, address);
    silk_ctx_set_timeout(ctx, 300);
    silk_session_list l;
    assert_int_equal(silk_ws_session_list(ctx, "100", &l), SILK_DEADLINE_EXCEEDED);
    assert_int_equal(l.count, 0);
    char want[128];
    snprintf(want, sizeof want, "gateway gw9 at %s did not answer before the deadline", address);
    assert_string_equal(silk_ctx_message(ctx), want);
    silk_ctx_free(ctx);

    deregister_gw9(reg);
    close(fd);
    silk_channel_close(ch);
    silk_server_free(svc);
    stop_gateway(&gw1);
    stop_gateway(&gw2);
}

/* hold_the_connection connects to address ("tcp://127.0.0.1:PORT") and returns the socket
 * once the server has taken it (it answered a ping). */
static int hold_the_connection(const char *address)
{
    int port = atoi(strrchr(address, ':') + 1);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    static const uint8_t ping[14] = {0, 0, 0, 10, SILK__RPC__FRAME_KIND__FRAME_KIND_PING};
    assert_int_equal(write(fd, ping, sizeof ping), (ssize_t)sizeof ping);
    uint8_t pong[14];
    size_t got = 0;
    while (got < sizeof pong) {
        ssize_t n = read(fd, pong + got, sizeof pong - got);
        assert_true(n > 0);
        got += (size_t)n;
    }
    assert_int_equal(pong[4], SILK__RPC__FRAME_KIND__FRAME_KIND_PONG);
    return fd;
}

/* A gateway registered with its max_connections taken: it closes a push's connection as soon
 * as it accepts it. */
static void test_gateway_full(void **state)
{
    (void)state;
    start_gateway(&gw1);
    start_gateway(&gw2);
    silk_server *svc = push_service(&(silk_server_opts){.workers = 2});
    silk_channel *ch;
    assert_int_equal(silk_channel_open(&ch, silk_server_address(svc)), SILK_OK);
    silk_server *full = silk_server_new(&(silk_server_opts){
        .no_register = true, .max_connections = 1, .first_frame_timeout_ms = -1});
    assert_non_null(full);
    assert_int_equal(silk_server_start(full), SILK_OK);
    int fd = hold_the_connection(silk_server_address(full));
    silk_registry *reg = register_gw9(silk_server_address(full));
    expect_every_push_unavailable(ch, silk_server_address(full));
    deregister_gw9(reg);
    close(fd);
    silk_server_free(full);
    silk_channel_close(ch);
    silk_server_free(svc);
    stop_gateway(&gw1);
    stop_gateway(&gw2);
}

/* push_through calls Push for business 100 on a service started with opts, by its address,
 * and checks that both gateways were reached. */
static void push_through(const silk_server_opts *opts)
{
    gw1.nsent = gw2.nsent = 0;
    silk_server *svc = push_service(opts);
    silk_channel *ch;
    assert_int_equal(silk_channel_open(&ch, silk_server_address(svc)), SILK_OK);
    silk_ctx *ctx = silk_ctx_new();
    assert_int_equal(call_push(ch, ctx, "100", "own"), SILK_OK);
    expect_pushed("own");
    silk_ctx_free(ctx);
    silk_channel_close(ch);
    silk_server_free(svc);
}

/* A service pushes through the registry its options name, not $SILK_REGISTRY's: there the
 * gateways are unknown. So does one that does not register. */
static void test_push_through_the_servers_registry(void **state)
{
    (void)state;
    char own[sizeof dir + 16], url[sizeof own + 8];
    snprintf(own, sizeof own, "%s/own", dir);
    assert_int_equal(mkdir(own, 0700), 0);
    snprintf(url, sizeof url, "file:%s", own);
    start_gateway_in(&gw1, url);
    start_gateway_in(&gw2, url);
    silk_session_list l;
    assert_int_equal(silk_ws_session_list(NULL, "100", &l), SILK_OK);
    assert_int_equal(l.count, 0); /* a ctx of no server looks in $SILK_REGISTRY's */

    push_through(&(silk_server_opts){.workers = 2, .registry = url});
    push_through(&(silk_server_opts){.workers = 2, .registry = url, .no_register = true});
    stop_gateway(&gw1);
    stop_gateway(&gw2);
}

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_gateway),
        cmocka_unit_test(test_sessions_send_and_business),
        cmocka_unit_test(test_seed_path_from_a_service),
        cmocka_unit_test(test_batch_delivers_every_send),
        cmocka_unit_test(test_batch_keeps_a_sessions_order),
        cmocka_unit_test(test_batch_busy_gateway),
        cmocka_unit_test(test_batch_arguments),
        cmocka_unit_test(test_batch_session_gone),
        cmocka_unit_test(test_batch_gateway_unreachable),
        cmocka_unit_test(test_push_through_the_servers_registry),
        cmocka_unit_test(test_gateway_refusing),
        cmocka_unit_test(test_gateway_silent),
        cmocka_unit_test(test_gateway_full),
    };
    /* clang-format on */
    int failed = cmocka_run_group_tests(tests, setup, teardown);
    silk__reap_fini();
    nng_fini();
    return failed != 0;
}
