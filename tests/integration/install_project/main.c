/* main.c - a user's program against an installed silk: it serves greet.v1.GreeterService and
 * calls itself over ipc:// (real runtime, no mocks), blocking and async, then exits 0; or it
 * serves GreeterService for the user's silk-gateway (gateway_main.c) until SIGTERM.
 *   greeter DIR       (DIR: a folder for the ipc socket)
 *   greeter --serve   (registered in $SILK_REGISTRY, on any free loopback port) */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <silk/silk.h>

#include "greet/v1/greeter.silk.h"

static unsigned hellos;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "greeter: %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);      \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static silk_status hello(silk_ctx *ctx, const Greet__V1__HelloRequest *req,
                         Greet__V1__Greeting *resp, void *user)
{
    (void)user;
    if (req->name == NULL || req->name[0] == '\0')
        return silk_ctx_fail(ctx, SILK_INVALID_ARGUMENT, "no name");
    pthread_mutex_lock(&mu);
    unsigned n = ++hellos;
    pthread_mutex_unlock(&mu);
    /* What the response points to must outlive the handler: ctx memory or the request. */
    resp->text = silk_ctx_printf(ctx, "hello, %s%s%s", req->title ? req->title->value : "",
                                 req->title ? " " : "", req->name);
    Greet__V1__Greeting__Stamp *stamp = silk_ctx_alloc(ctx, sizeof *stamp);
    Google__Protobuf__UInt32Value *count = silk_ctx_alloc(ctx, sizeof *count);
    if (stamp == NULL || count == NULL)
        return SILK_RESOURCE_EXHAUSTED;
    greet__v1__greeting__stamp__init(stamp);
    stamp->at = req->sent;
    resp->stamp = stamp;
    google__protobuf__uint32_value__init(count);
    count->value = n;
    resp->count = count;
    return SILK_OK;
}

static silk_status count(silk_ctx *ctx, const Google__Protobuf__Empty *req,
                         Google__Protobuf__UInt32Value *resp, void *user)
{
    (void)ctx, (void)req, (void)user;
    pthread_mutex_lock(&mu);
    resp->value = hellos;
    pthread_mutex_unlock(&mu);
    return SILK_OK;
}

/* An async call's completion, handed back to main. */
typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
    silk_status st;
    ProtobufCMessage *resp;
} waiter;

static void on_count(silk_status st, ProtobufCMessage *resp, const char *message, void *arg)
{
    (void)message;
    waiter *w = arg;
    pthread_mutex_lock(&w->mu);
    w->st = st;
    w->resp = resp;
    w->done = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static const Greet__V1__GreeterService_Handlers handlers = {
    .hello = hello, .greet = hello, .count = count};

/* serve serves GreeterService until SIGTERM and returns the exit code. */
static int serve(void)
{
    silk_server_opts opts = {.workers = 2};
    silk_server *srv = silk_server_new(&opts);
    CHECK(srv != NULL);
    CHECK(greet__v1__greeter_service__serve(srv, &handlers, NULL) == SILK_OK);
    return silk_server_run(srv);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: greeter DIR | greeter --serve\n");
        return 2;
    }
    if (strcmp(argv[1], "--serve") == 0)
        return serve();
    char listen[512];
    snprintf(listen, sizeof listen, "ipc://%s/greeter.sock", argv[1]);

    /* The generated descriptor carries the options of greeter.proto. */
    const silk_service_desc *desc = &greet__v1__greeter_service__silk_desc;
    CHECK(strcmp(desc->name, "greet.v1.GreeterService") == 0);
    CHECK(strcmp(desc->route, "api/greeter") == 0);
    CHECK(desc->n_methods == 3);
    CHECK(desc->methods[0].http_verb == SILK_HTTP_GET);
    CHECK(strcmp(desc->methods[0].http_path, "api/greeter/hello/{name}") == 0);
    CHECK(strcmp(desc->methods[0].hash_key, "name") == 0);
    CHECK(desc->methods[0].timeout_ms == 2000 && desc->methods[0].idempotent);
    CHECK(desc->methods[1].http_verb == SILK_HTTP_POST);
    CHECK(strcmp(desc->methods[1].http_path, "api/greeter/greet") == 0);
    CHECK(strcmp(desc->methods[2].http_path, "api/greeter/count") == 0);
    CHECK(SILK_VERSION_NUMBER >= 1000);

    silk_server_opts opts = {.listen = listen, .no_register = true, .workers = 2};
    silk_server *srv = silk_server_new(&opts);
    CHECK(srv != NULL);
    CHECK(greet__v1__greeter_service__serve(srv, &handlers, NULL) == SILK_OK);
    CHECK(silk_server_start(srv) == SILK_OK);

    silk_channel *ch;
    CHECK(silk_channel_open(&ch, silk_server_address(srv)) == SILK_OK);
    silk_ctx *ctx = silk_ctx_new();
    CHECK(ctx != NULL);

    /* A blocking call, well-known types both ways. */
    Google__Protobuf__Timestamp sent = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    sent.seconds = 1700000000;
    sent.nanos = 42;
    Google__Protobuf__StringValue title = GOOGLE__PROTOBUF__STRING_VALUE__INIT;
    title.value = "Dr.";
    Greet__V1__HelloRequest req = GREET__V1__HELLO_REQUEST__INIT;
    req.name = "silk";
    req.sent = &sent;
    req.title = &title;
    Greet__V1__Greeting *greeting = NULL;
    silk_status st = greet__v1__greeter_service__call_hello(ch, ctx, &req, &greeting);
    if (st != SILK_OK)
        fprintf(stderr, "greeter: Hello: %s: %s\n", silk_status_str(st), silk_ctx_message(ctx));
    CHECK(st == SILK_OK && greeting != NULL);
    CHECK(strcmp(greeting->text, "hello, Dr. silk") == 0);
    CHECK(greeting->stamp != NULL && greeting->stamp->at != NULL);
    CHECK(greeting->stamp->at->seconds == 1700000000 && greeting->stamp->at->nanos == 42);
    CHECK(greeting->count != NULL && greeting->count->value == 1);
    protobuf_c_message_free_unpacked(&greeting->base, NULL);

    /* The handler's error comes back with its message. */
    req.name = "";
    st = greet__v1__greeter_service__call_hello(ch, ctx, &req, &greeting);
    CHECK(st == SILK_INVALID_ARGUMENT && greeting == NULL);
    CHECK(strstr(silk_ctx_message(ctx), "no name") != NULL);

    /* An async call. */
    waiter w = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    Google__Protobuf__Empty empty = GOOGLE__PROTOBUF__EMPTY__INIT;
    CHECK(greet__v1__greeter_service__call_count_async(ch, ctx, &empty, on_count, &w, NULL) ==
          SILK_OK);
    pthread_mutex_lock(&w.mu);
    while (!w.done)
        pthread_cond_wait(&w.cv, &w.mu);
    pthread_mutex_unlock(&w.mu);
    CHECK(w.st == SILK_OK && w.resp != NULL);
    CHECK(((Google__Protobuf__UInt32Value *)w.resp)->value == 1);
    protobuf_c_message_free_unpacked(w.resp, NULL);

    silk_ctx_free(ctx);
    silk_channel_close(ch);
    silk_server_free(srv);
    printf("greeter: ok (silk %s)\n", SILK_VERSION_STRING);
    return 0;
}
