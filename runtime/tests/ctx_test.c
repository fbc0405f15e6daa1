/* ctx_test.c - the call context: metadata, deadlines and budgets, messages, the arena, copies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/wait.h>
#include <cmocka.h>

#include <silk/ctx.h>
#include <silk/status.h>

#include "core/clock.h"
#include "google/protobuf/descriptor.pb-c.h"
#include "google/protobuf/empty.pb-c.h"
#include "rpc/ctx_internal.h"
#include "silk/ws.silk.h"

static void test_metadata(void **state)
{
    (void)state;
    silk_ctx *ctx = silk_ctx_new();
    assert_non_null(ctx);
    assert_null(silk_ctx_get(ctx, "business-id"));
    assert_null(silk_ctx_business_id(ctx));
    assert_int_equal(silk_ctx_set(ctx, SILK_MD_BUSINESS_ID, "100"), SILK_OK);
    assert_string_equal(silk_ctx_business_id(ctx), "100");
    assert_int_equal(silk_ctx_set(ctx, SILK_MD_BUSINESS_ID, "200"), SILK_OK);
    assert_string_equal(silk_ctx_get(ctx, "business-id"), "200");
    assert_int_equal(silk_ctx_set(ctx, "trace-id", ""), SILK_OK);
    assert_string_equal(silk_ctx_get(ctx, "trace-id"), "");
    assert_null(silk_ctx_get(NULL, "trace-id"));
    silk_ctx_free(ctx);
}

static void test_metadata_validation(void **state)
{
    (void)state;
    silk_ctx *ctx = silk_ctx_new();
    assert_int_equal(silk_ctx_set(ctx, "", "v"), SILK_INVALID_ARGUMENT);
    assert_int_equal(silk_ctx_set(ctx, "Business-Id", "v"), SILK_INVALID_ARGUMENT);
    assert_int_equal(silk_ctx_set(ctx, "a b", "v"), SILK_INVALID_ARGUMENT);
    assert_int_equal(silk_ctx_set(ctx, "a\n", "v"), SILK_INVALID_ARGUMENT);
    assert_int_equal(silk_ctx_set(ctx, NULL, "v"), SILK_INVALID_ARGUMENT);
    assert_int_equal(silk_ctx_set(ctx, "k", NULL), SILK_INVALID_ARGUMENT);
    assert_int_equal(silk_ctx_set(NULL, "k", "v"), SILK_INVALID_ARGUMENT);
    assert_int_equal(silk_ctx_set(ctx, "x-app_1.v", "ok"), SILK_OK);

    char key[SILK_MD_MAX_KEY + 2];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    assert_int_equal(silk_ctx_set(ctx, key, "v"), SILK_INVALID_ARGUMENT);
    key[SILK_MD_MAX_KEY] = '\0';
    assert_int_equal(silk_ctx_set(ctx, key, "v"), SILK_OK);

    char *value = malloc(SILK_MD_MAX_VALUE + 2);
    memset(value, 'v', SILK_MD_MAX_VALUE + 1);
    value[SILK_MD_MAX_VALUE + 1] = '\0';
    assert_int_equal(silk_ctx_set(ctx, "big", value), SILK_INVALID_ARGUMENT);
    free(value);

    /* Two pairs are set; fill up to the limit. */
    char name[16];
    for (int i = 2; i < SILK_MD_MAX_PAIRS; i++) {
        snprintf(name, sizeof name, "k%d", i);
        assert_int_equal(silk_ctx_set(ctx, name, "v"), SILK_OK);
    }
    assert_int_equal(silk_ctx_set(ctx, "one-more", "v"), SILK_RESOURCE_EXHAUSTED);
    assert_int_equal(silk_ctx_set(ctx, "k2", "replaced"), SILK_OK); /* replacing still works */
    assert_string_equal(silk_ctx_get(ctx, "k2"), "replaced");
    /* Past what a ctx holds in itself (pairs and text), every pair keeps its value. */
    assert_string_equal(silk_ctx_get(ctx, "x-app_1.v"), "ok");
    assert_string_equal(silk_ctx_get(ctx, key), "v");
    snprintf(name, sizeof name, "k%d", SILK_MD_MAX_PAIRS - 1);
    assert_string_equal(silk_ctx_get(ctx, name), "v");
    char longer[300];
    memset(longer, 'w', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    assert_int_equal(silk_ctx_set(ctx, "x-app_1.v", longer), SILK_OK);
    assert_string_equal(silk_ctx_get(ctx, "x-app_1.v"), longer);
    silk_ctx_free(ctx);
}

static void test_deadline(void **state)
{
    (void)state;
    silk_ctx *ctx = silk_ctx_new();
    assert_true(silk_ctx_remaining_us(ctx) == INT64_MAX);
    assert_true(silk_ctx_remaining_us(NULL) == INT64_MAX);
    silk_ctx_set_timeout(ctx, 1000);
    int64_t left = silk_ctx_remaining_us(ctx);
    assert_true(left > 900000 && left <= 1000000);
    silk_ctx_set_timeout(ctx, 0);
    assert_true(silk_ctx_remaining_us(ctx) == INT64_MAX);
    silk_ctx_set_timeout(ctx, 1);
    usleep(3000);
    assert_true(silk_ctx_remaining_us(ctx) == 0);
    silk_ctx_free(ctx);
}

static void test_budget_is_the_smaller(void **state)
{
    (void)state;
    /* No ctx, no deadline: the method's timeout, or the default 5 s. */
    assert_true(silk__ctx_budget_us(NULL, 0) == 5000000);
    assert_true(silk__ctx_budget_us(NULL, 250) == 250000);
    silk_ctx *ctx = silk_ctx_new();
    assert_true(silk__ctx_budget_us(ctx, 250) == 250000);
    /* A ctx deadline shorter than the method's timeout wins... */
    silk_ctx_set_timeout(ctx, 100);
    uint64_t b = silk__ctx_budget_us(ctx, 250);
    assert_true(b > 90000 && b <= 100000);
    /* ...and a longer one does not. */
    silk_ctx_set_timeout(ctx, 60000);
    assert_true(silk__ctx_budget_us(ctx, 250) == 250000);
    silk_ctx_set_timeout(ctx, 1);
    usleep(3000);
    assert_true(silk__ctx_budget_us(ctx, 250) == 0);
    silk_ctx_free(ctx);
}

static void release_nothing(silk__cancel *cx)
{
    (void)cx; /* on the stack */
}

static void test_server_ctx(void **state)
{
    (void)state;
    Silk__Rpc__Metadata m[3] = {SILK__RPC__METADATA__INIT, SILK__RPC__METADATA__INIT,
                                SILK__RPC__METADATA__INIT};
    Silk__Rpc__Metadata *mp[3] = {&m[0], &m[1], &m[2]};
    m[0].key = "business-id";
    m[0].value = "100";
    m[1].key = "Bad Key"; /* skipped */
    m[1].value = "x";
    m[2].key = "trace-id";
    m[2].value = "t1";
    Silk__Rpc__RequestHeader h = SILK__RPC__REQUEST_HEADER__INIT;
    h.method = "/a.B/C";
    h.budget_us = 200000;
    h.n_metadata = 3;
    h.metadata = mp;

    int64_t now = silk__now_us();
    silk_ctx *ctx = silk__ctx_from_header(&h, now);
    assert_non_null(ctx);
    assert_string_equal(silk_ctx_business_id(ctx), "100");
    assert_string_equal(silk_ctx_get(ctx, "trace-id"), "t1");
    assert_null(silk_ctx_get(ctx, "bad key"));
    int64_t left = silk_ctx_remaining_us(ctx);
    assert_true(left > 150000 && left <= 200000);
    /* A handler's ctx can shrink its deadline, never extend it. */
    silk_ctx_set_timeout(ctx, 60000);
    assert_true(silk_ctx_remaining_us(ctx) <= 200000);
    silk_ctx_set_timeout(ctx, 0);
    assert_true(silk_ctx_remaining_us(ctx) <= 200000);
    silk_ctx_set_timeout(ctx, 50);
    assert_true(silk_ctx_remaining_us(ctx) <= 50000);
    /* A nested call gets the smaller of what is left and the method's timeout. */
    assert_true(silk__ctx_budget_us(ctx, 5000) <= 50000);
    silk_ctx_free(ctx);

    /* A budget spent on the way is a ctx with nothing left; none is no deadline. */
    ctx = silk__ctx_from_header(&h, now - 300000);
    assert_true(silk_ctx_remaining_us(ctx) == 0);
    silk_ctx_free(ctx);
    h.budget_us = 0;
    ctx = silk__ctx_from_header(&h, now);
    assert_true(silk_ctx_remaining_us(ctx) == INT64_MAX);
    silk_ctx_free(ctx);
}

static void test_request_header(void **state)
{
    (void)state;
    silk_method_desc m = {.name = "C", .path = "/a.B/C"};
    Silk__Rpc__Metadata req = SILK__RPC__METADATA__INIT; /* has no business_id field */
    silk_ctx *ctx = silk_ctx_new();
    char key[16];
    for (int i = 0; i < 20; i++) { /* more pairs than the header keeps inline */
        snprintf(key, sizeof key, "k%d", i);
        silk_ctx_set(ctx, key, "v");
    }
    silk__reqhdr rh;
    assert_int_equal(silk__reqhdr_init(&rh, ctx, &m, &req.base, 777, "tok"), SILK_OK);
    assert_string_equal(rh.h.method, "/a.B/C");
    assert_true(rh.h.budget_us == 777);
    assert_string_equal(rh.h.token, "tok");
    /* The ctx has no trace id: the call starts a trace, as at the edge. */
    assert_int_equal(rh.h.n_metadata, 21);
    assert_string_equal(rh.h.metadata[19]->key, "k19");
    assert_string_equal(rh.h.metadata[20]->key, SILK_MD_TRACE_ID);
    assert_int_equal(strlen(rh.h.metadata[20]->value), 32);
    silk__reqhdr_fini(&rh);

    /* Without a ctx only the new trace id travels; each such call starts its own. */
    assert_int_equal(silk__reqhdr_init(&rh, NULL, &m, &req.base, 1, NULL), SILK_OK);
    assert_int_equal(rh.h.n_metadata, 1);
    assert_string_equal(rh.h.metadata[0]->key, SILK_MD_TRACE_ID);
    assert_string_equal(rh.h.token, "");
    silk__reqhdr_fini(&rh);
    assert_null(silk_method_business_id(&m, &req.base));
    silk_ctx_free(ctx);
}

static void test_business_id_from_request(void **state)
{
    (void)state;
    /* The generated descriptor names the request's business_id field. */
    const silk_method_desc *sessions =
        silk_service_find_method(&silk__ws__session_manager__silk_desc, "Sessions");
    assert_non_null(sessions);
    assert_int_not_equal(sessions->business_id_field, 0);
    silk_method_desc m = *sessions;
    Silk__Ws__SessionsRequest req = SILK__WS__SESSIONS_REQUEST__INIT;
    silk__reqhdr rh;
    /* An empty business_id field does not travel (the trace id made for the call does). */
    assert_null(silk_method_business_id(&m, &req.base));
    assert_int_equal(silk__reqhdr_init(&rh, NULL, &m, &req.base, 1, NULL), SILK_OK);
    assert_int_equal(rh.h.n_metadata, 1);
    assert_string_equal(rh.h.metadata[0]->key, SILK_MD_TRACE_ID);
    silk__reqhdr_fini(&rh);
    /* A request's business_id travels when the ctx has none... */
    req.business_id = "42";
    assert_string_equal(silk_method_business_id(&m, &req.base), "42");
    /* A request of another type than the method's input has none. */
    Silk__Rpc__Metadata other = SILK__RPC__METADATA__INIT;
    assert_null(silk_method_business_id(&m, &other.base));
    silk_ctx *ctx = silk_ctx_new();
    silk_ctx_set(ctx, SILK_MD_TRACE_ID, "t");
    assert_int_equal(silk__reqhdr_init(&rh, ctx, &m, &req.base, 1, NULL), SILK_OK);
    assert_int_equal(rh.h.n_metadata, 2);
    assert_string_equal(rh.h.metadata[1]->key, SILK_MD_BUSINESS_ID);
    assert_string_equal(rh.h.metadata[1]->value, "42");
    silk__reqhdr_fini(&rh);
    /* ...and the ctx's wins when it has one. */
    silk_ctx_set(ctx, SILK_MD_BUSINESS_ID, "7");
    assert_int_equal(silk__reqhdr_init(&rh, ctx, &m, &req.base, 1, NULL), SILK_OK);
    assert_int_equal(rh.h.n_metadata, 2);
    assert_string_equal(rh.h.metadata[1]->value, "7");
    silk__reqhdr_fini(&rh);
    silk_ctx_free(ctx);
}

static int cmp_ids(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Trace ids come from a per-thread generator: 32 lower-case hex digits, never repeated, and a
 * forked child does not replay its parent's sequence. */
static void test_trace_ids_are_unique(void **state)
{
    (void)state;
    enum { N = 2000 };
    static char ids[N][SILK__TRACE_ID_LEN + 1];
    for (int i = 0; i < N; i++) {
        silk__trace_id(ids[i]);
        assert_int_equal(strlen(ids[i]), SILK__TRACE_ID_LEN);
        assert_int_equal(strspn(ids[i], "0123456789abcdef"), SILK__TRACE_ID_LEN);
    }
    qsort(ids, N, sizeof ids[0], cmp_ids);
    for (int i = 1; i < N; i++)
        assert_string_not_equal(ids[i - 1], ids[i]);

    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char child[SILK__TRACE_ID_LEN + 1];
        silk__trace_id(child);
        _exit(write(fds[1], child, sizeof child) == (ssize_t)sizeof child ? 0 : 1);
    }
    char parent[SILK__TRACE_ID_LEN + 1], child[SILK__TRACE_ID_LEN + 1];
    silk__trace_id(parent);
    assert_int_equal(read(fds[0], child, sizeof child), (ssize_t)sizeof child);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_string_not_equal(parent, child);
    close(fds[0]);
    close(fds[1]);
}

static void test_trace_id_and_cancel_flag(void **state)
{
    (void)state;
    /* A top-level ctx gets a trace id once, which every later call of it carries. */
    silk_ctx *ctx = silk_ctx_new();
    assert_null(silk_ctx_get(ctx, SILK_MD_TRACE_ID));
    assert_int_equal(silk__ctx_ensure_trace_id(ctx), SILK_OK);
    char first[64];
    snprintf(first, sizeof first, "%s", silk_ctx_get(ctx, SILK_MD_TRACE_ID));
    assert_int_equal(strlen(first), 32);
    assert_int_equal(silk__ctx_ensure_trace_id(ctx), SILK_OK);
    assert_string_equal(silk_ctx_get(ctx, SILK_MD_TRACE_ID), first);
    silk_ctx_free(ctx);

    /* A handler's ctx inherits the caller's trace and session, or starts a trace. */
    Silk__Rpc__Metadata md[2] = {SILK__RPC__METADATA__INIT, SILK__RPC__METADATA__INIT};
    md[0].key = SILK_MD_TRACE_ID;
    md[0].value = "abc";
    md[1].key = SILK_MD_SESSION_ID;
    md[1].value = "gw.123";
    Silk__Rpc__Metadata *mdp[2] = {&md[0], &md[1]};
    Silk__Rpc__RequestHeader h = SILK__RPC__REQUEST_HEADER__INIT;
    h.n_metadata = 2;
    h.metadata = mdp;
    ctx = silk__ctx_from_header(&h, 0);
    assert_string_equal(silk_ctx_get(ctx, SILK_MD_TRACE_ID), "abc");
    assert_string_equal(silk_ctx_get(ctx, SILK_MD_SESSION_ID), "gw.123");
    silk_method_desc m = {.name = "C", .path = "/a.B/C"};
    Silk__Rpc__Metadata req = SILK__RPC__METADATA__INIT;
    silk__reqhdr rh;
    assert_int_equal(silk__reqhdr_init(&rh, ctx, &m, &req.base, 1, NULL), SILK_OK);
    assert_int_equal(rh.h.n_metadata, 2); /* inherited as is, nothing made */
    assert_string_equal(rh.h.metadata[0]->value, "abc");
    assert_string_equal(rh.h.metadata[1]->value, "gw.123");
    silk__reqhdr_fini(&rh);

    /* The cancellation a server points the ctx at. */
    silk__cancel cx;
    silk__cancel_init(&cx, release_nothing);
    assert_false(silk_ctx_cancelled(ctx));
    silk__ctx_set_cancel(ctx, &cx);
    assert_true(silk__ctx_cancel(ctx) == &cx);
    assert_false(silk_ctx_cancelled(ctx));
    silk__cancel_fire(&cx);
    assert_true(silk_ctx_cancelled(ctx));
    silk__cancel_rele(&cx);
    assert_false(silk_ctx_cancelled(NULL));
    silk_ctx_free(ctx);

    h.n_metadata = 0;
    ctx = silk__ctx_from_header(&h, 0);
    assert_int_equal(strlen(silk_ctx_get(ctx, SILK_MD_TRACE_ID)), 32);
    silk_ctx_free(ctx);
}

static void test_fail_and_message(void **state)
{
    (void)state;
    silk_ctx *ctx = silk_ctx_new();
    assert_string_equal(silk_ctx_message(ctx), "");
    assert_string_equal(silk_ctx_message(NULL), "");
    assert_int_equal(silk_ctx_fail(ctx, SILK_NOT_FOUND, "no session for businessId %s", "999"),
                     SILK_NOT_FOUND);
    assert_string_equal(silk_ctx_message(ctx), "no session for businessId 999");
    assert_int_equal(silk_ctx_fail(ctx, SILK_INTERNAL, "second %d", 2), SILK_INTERNAL);
    assert_string_equal(silk_ctx_message(ctx), "second 2");
    assert_int_equal(silk_ctx_fail(NULL, SILK_ABORTED, "x"), SILK_ABORTED);
    silk__ctx_set_message(ctx, NULL);
    assert_string_equal(silk_ctx_message(ctx), "");
    silk_ctx_free(ctx);
}

/* silk_ctx_reset leaves a ctx as silk_ctx_new() does, whatever it held (pairs beyond the
 * inline ones, long values, a deadline, a message, arena memory), and ignores a handler's. */
static void test_reset(void **state)
{
    (void)state;
    silk_ctx *ctx = silk_ctx_new();
    char key[16], value[600];
    memset(value, 'v', sizeof value - 1);
    value[sizeof value - 1] = '\0';
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof key, "k%d", i);
        assert_int_equal(silk_ctx_set(ctx, key, value), SILK_OK);
    }
    silk_ctx_set_timeout(ctx, 5000);
    silk_ctx_fail(ctx, SILK_INTERNAL, "failed");
    assert_non_null(silk_ctx_alloc(ctx, 100000));
    silk_ctx_reset(ctx);
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof key, "k%d", i);
        assert_null(silk_ctx_get(ctx, key));
    }
    assert_true(silk_ctx_remaining_us(ctx) == INT64_MAX); /* no deadline */
    assert_string_equal(silk_ctx_message(ctx), "");
    assert_int_equal(silk_ctx_set(ctx, "k0", "again"), SILK_OK); /* usable as new */
    assert_string_equal(silk_ctx_get(ctx, "k0"), "again");
    silk_ctx_free(ctx);
    silk_ctx_reset(NULL);

    Silk__Rpc__Metadata m = SILK__RPC__METADATA__INIT;
    Silk__Rpc__Metadata *mp[1] = {&m};
    m.key = "business-id";
    m.value = "100";
    Silk__Rpc__RequestHeader h = SILK__RPC__REQUEST_HEADER__INIT;
    h.n_metadata = 1;
    h.metadata = mp;
    silk_ctx *handler = silk__ctx_from_header(&h, silk__now_us());
    silk_ctx_reset(handler);
    assert_string_equal(silk_ctx_get(handler, "business-id"), "100");
    silk_ctx_free(handler);
}

static void test_arena(void **state)
{
    (void)state;
    silk_ctx *ctx = silk_ctx_new();
    assert_null(silk_ctx_alloc(NULL, 8));
    for (int i = 0; i < 1000; i++) {
        size_t n = (size_t)(i * 37 % 300) + 1;
        unsigned char *p = silk_ctx_alloc(ctx, n);
        assert_non_null(p);
        assert_true((uintptr_t)p % _Alignof(max_align_t) == 0);
        for (size_t j = 0; j < n; j++)
            assert_int_equal(p[j], 0);
        memset(p, 0xab, n);
    }
    unsigned char *big = silk_ctx_alloc(ctx, 1 << 20);
    assert_non_null(big);
    assert_int_equal(big[(1 << 20) - 1], 0);
    char *s = silk_ctx_strdup(ctx, "hello");
    assert_string_equal(s, "hello");
    char *f = silk_ctx_printf(ctx, "message:%s,sessionId:%d", "hi", 7);
    assert_string_equal(f, "message:hi,sessionId:7");
    assert_string_equal(s, "hello"); /* earlier blocks stay put */
    assert_non_null(silk_ctx_alloc(ctx, 0));
    silk_ctx_free(ctx);
    silk_ctx_free(NULL);
}

/* BIG_BYTES is the size of a bytes field larger than one of the arena's chunks. */
#define BIG_BYTES 200000

/* heap_reply makes what a nested call's reply is: a message unpacked on the heap, here one
 * with strings, repeated strings and integers, sub-messages, repeated sub-messages and bytes
 * (a FileDescriptorProto whose options hold two uninterpreted options). */
static Google__Protobuf__FileDescriptorProto *heap_reply(void)
{
    static uint8_t big[BIG_BYTES];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 7);
    Google__Protobuf__UninterpretedOption__NamePart parts[2] = {
        GOOGLE__PROTOBUF__UNINTERPRETED_OPTION__NAME_PART__INIT,
        GOOGLE__PROTOBUF__UNINTERPRETED_OPTION__NAME_PART__INIT};
    parts[0].name_part = "silk";
    parts[0].is_extension = 1;
    parts[1].name_part = "route";
    Google__Protobuf__UninterpretedOption__NamePart *partp[2] = {&parts[0], &parts[1]};
    Google__Protobuf__UninterpretedOption opts[2] = {GOOGLE__PROTOBUF__UNINTERPRETED_OPTION__INIT,
                                                     GOOGLE__PROTOBUF__UNINTERPRETED_OPTION__INIT};
    uint8_t blob[] = {0, 1, 2, 0xff, 0};
    opts[0].n_name = 2;
    opts[0].name = partp;
    opts[0].identifier_value = "api/wstest";
    opts[0].has_string_value = 1;
    opts[0].string_value = (ProtobufCBinaryData){.len = sizeof blob, .data = blob};
    opts[1].has_positive_int_value = 1;
    opts[1].positive_int_value = 42;
    opts[1].has_string_value = 1;
    opts[1].string_value = (ProtobufCBinaryData){.len = sizeof big, .data = big};
    Google__Protobuf__UninterpretedOption *optp[2] = {&opts[0], &opts[1]};
    Google__Protobuf__FileOptions fo = GOOGLE__PROTOBUF__FILE_OPTIONS__INIT;
    fo.java_package = "org.silk";
    fo.n_uninterpreted_option = 2;
    fo.uninterpreted_option = optp;
    char *deps[3] = {"a.proto", "", "c/d.proto"};
    int32_t pub[2] = {0, 2};
    Google__Protobuf__FileDescriptorProto f = GOOGLE__PROTOBUF__FILE_DESCRIPTOR_PROTO__INIT;
    f.name = "wstest.proto";
    f.package = "wstest";
    f.n_dependency = 3;
    f.dependency = deps;
    f.n_public_dependency = 2;
    f.public_dependency = pub;
    f.options = &fo;

    size_t n = protobuf_c_message_get_packed_size(&f.base);
    uint8_t *buf = malloc(n);
    assert_non_null(buf);
    assert_int_equal(protobuf_c_message_pack(&f.base, buf), n);
    Google__Protobuf__FileDescriptorProto *out =
        google__protobuf__file_descriptor_proto__unpack(NULL, n, buf);
    free(buf);
    assert_non_null(out);
    return out;
}

/* check_reply checks a copy of heap_reply()'s message, field by field. */
static void check_reply(const Google__Protobuf__FileDescriptorProto *f)
{
    assert_true(f->base.descriptor == &google__protobuf__file_descriptor_proto__descriptor);
    assert_string_equal(f->name, "wstest.proto");
    assert_string_equal(f->package, "wstest");
    assert_int_equal(f->n_dependency, 3);
    assert_string_equal(f->dependency[0], "a.proto");
    assert_string_equal(f->dependency[1], "");
    assert_string_equal(f->dependency[2], "c/d.proto");
    assert_int_equal(f->n_public_dependency, 2);
    assert_int_equal(f->public_dependency[0], 0);
    assert_int_equal(f->public_dependency[1], 2);
    assert_non_null(f->options);
    assert_string_equal(f->options->java_package, "org.silk");
    assert_int_equal(f->options->n_uninterpreted_option, 2);
    const Google__Protobuf__UninterpretedOption *o = f->options->uninterpreted_option[0];
    assert_int_equal(o->n_name, 2);
    assert_string_equal(o->name[0]->name_part, "silk");
    assert_true(o->name[0]->is_extension);
    assert_string_equal(o->name[1]->name_part, "route");
    assert_false(o->name[1]->is_extension);
    assert_string_equal(o->identifier_value, "api/wstest");
    const uint8_t blob[] = {0, 1, 2, 0xff, 0};
    assert_true(o->has_string_value);
    assert_int_equal(o->string_value.len, sizeof blob);
    assert_memory_equal(o->string_value.data, blob, sizeof blob);
    o = f->options->uninterpreted_option[1];
    assert_true(o->has_positive_int_value);
    assert_int_equal(o->positive_int_value, 42);
    assert_int_equal(o->string_value.len, BIG_BYTES);
    for (size_t i = 0; i < BIG_BYTES; i++)
        assert_int_equal(o->string_value.data[i], (uint8_t)(i * 7));
}

/* A nested call's reply copied into ctx memory is whole, and lives on once the reply is
 * changed and freed; the copy goes with the ctx (ASan's leak check sees to that). */
static void test_copy_message(void **state)
{
    (void)state;
    silk_ctx *ctx = silk_ctx_new();
    assert_non_null(ctx);
    Google__Protobuf__FileDescriptorProto *reply = heap_reply();
    check_reply(reply);
    Google__Protobuf__FileDescriptorProto *copy =
        (Google__Protobuf__FileDescriptorProto *)silk_ctx_copy_message(ctx, &reply->base);
    assert_non_null(copy);
    assert_true(copy != reply);
    assert_true(copy->name != reply->name);
    assert_true(copy->options != reply->options);
    assert_true(copy->options->uninterpreted_option[0]->string_value.data !=
                reply->options->uninterpreted_option[0]->string_value.data);
    /* Scribble over the original, then free it: the copy does not change. */
    reply->name[0] = 'X';
    reply->dependency[0][0] = 'X';
    reply->options->uninterpreted_option[0]->name[0]->name_part[0] = 'X';
    reply->options->uninterpreted_option[0]->string_value.data[1] = 0x55;
    memset(reply->options->uninterpreted_option[1]->string_value.data, 0, BIG_BYTES);
    protobuf_c_message_free_unpacked(&reply->base, NULL);
    check_reply(copy);
    assert_string_equal(silk_ctx_message(ctx), ""); /* nothing went wrong */

    /* A copy of a copy, and a message that packs to nothing. */
    Google__Protobuf__FileDescriptorProto *again =
        (Google__Protobuf__FileDescriptorProto *)silk_ctx_copy_message(ctx, &copy->base);
    assert_non_null(again);
    check_reply(again);
    Google__Protobuf__Empty empty = GOOGLE__PROTOBUF__EMPTY__INIT;
    ProtobufCMessage *e = silk_ctx_copy_message(ctx, &empty.base);
    assert_non_null(e);
    assert_true(e->descriptor == &google__protobuf__empty__descriptor);

    assert_null(silk_ctx_copy_message(NULL, &empty.base));
    assert_null(silk_ctx_copy_message(ctx, NULL));
    silk_ctx_free(ctx);
}

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metadata),
        cmocka_unit_test(test_metadata_validation),
        cmocka_unit_test(test_deadline),
        cmocka_unit_test(test_budget_is_the_smaller),
        cmocka_unit_test(test_server_ctx),
        cmocka_unit_test(test_request_header),
        cmocka_unit_test(test_business_id_from_request),
        cmocka_unit_test(test_trace_ids_are_unique), cmocka_unit_test(test_trace_id_and_cancel_flag),
        cmocka_unit_test(test_fail_and_message),
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_arena),
        cmocka_unit_test(test_copy_message),
    };
    /* clang-format on */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
