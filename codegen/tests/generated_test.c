/* generated_test.c - the code protoc-gen-silk generates, compiled and run against a fake runtime.
 *
 * The corpus in protos/ is generated at build time through silk_generate(), as users build it,
 * and compiled with the project's warnings. This file plays the runtime: it defines the three
 * functions generated code calls (silk_server_add_service, silk_channel_call,
 * silk_channel_call_async), records what they were given, and so checks the descriptors,
 * trampolines and typed calls, and the tables the descriptors carry for the runtime and the
 * gateway: business_id fields, path segments, JSON names and the OpenAPI parts (whose content
 * tests/openapi validates and checks). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "billing.silk.h"
#include "catalog.silk.h"
#include "nopkg.silk.h"
#include "shapes.silk.h"
#include "shop.silk.h"
#include "time/clock.silk.h"
#include "wstest.silk.h"

/* --- the fake runtime --- */

struct silk_server {
    const silk_service_desc *desc;
    const void *handlers;
    void *user;
};

struct silk_channel {
    const silk_method_desc *method;
    const ProtobufCMessage *req;
    silk_ctx *ctx;
    silk_call_cb cb;
    void *arg;
    silk_call_id *idp;
};

silk_status silk_server_add_service(silk_server *srv, const silk_service_desc *desc,
                                    const void *handlers, void *user)
{
    srv->desc = desc;
    srv->handlers = handlers;
    srv->user = user;
    return SILK_OK;
}

/* new_message makes an empty message of type d, as the runtime would unpack a reply. */
static ProtobufCMessage *new_message(const ProtobufCMessageDescriptor *d)
{
    ProtobufCMessage *m = calloc(1, d->sizeof_message);
    assert_non_null(m);
    protobuf_c_message_init(d, m);
    return m;
}

silk_status silk_channel_call(silk_channel *ch, silk_ctx *ctx, const silk_method_desc *method,
                              const ProtobufCMessage *req, ProtobufCMessage **resp)
{
    ch->method = method;
    ch->req = req;
    ch->ctx = ctx;
    *resp = new_message(method->output);
    return SILK_OK;
}

silk_status silk_channel_call_async(silk_channel *ch, silk_ctx *ctx, const silk_method_desc *method,
                                    const ProtobufCMessage *req, silk_call_cb cb, void *arg,
                                    silk_call_id *idp)
{
    ch->idp = idp;
    ch->method = method;
    ch->req = req;
    ch->ctx = ctx;
    ch->cb = cb;
    ch->arg = arg;
    return SILK_DEADLINE_EXCEEDED; /* something other than OK, passed through as it is */
}

static const silk_method_desc *find_method(const silk_service_desc *d, const char *name)
{
    for (size_t i = 0; i < d->n_methods; i++)
        if (strcmp(d->methods[i].name, name) == 0)
            return &d->methods[i];
    fail_msg("%s has no method %s", d->name, name);
    return NULL;
}

/* --- the seed's service, exactly as the design shows it --- */

static int echo_calls;

static silk_status echo(silk_ctx *ctx, const Wstest__EchoRequest *req,
                        Google__Protobuf__Empty *resp, void *user)
{
    assert_string_equal(req->business_id, "100");
    assert_ptr_equal(user, &echo_calls);
    echo_calls++;
    return SILK_NOT_FOUND;
}

static void wstest_descriptor(void **state)
{
    const silk_service_desc *d = &wstest__ws_test__silk_desc;
    assert_string_equal(d->name, "wstest.WsTest");
    assert_string_equal(d->route, "api/wstest");
    assert_true(d->websocket);
    assert_int_equal(d->history_size, 100);
    assert_int_equal(d->history_ttl_s, 300);
    assert_int_equal(d->n_methods, 1);
    assert_int_equal(d->handlers_size, sizeof(Wstest__WsTest_Handlers));
    const silk_method_desc *m = &d->methods[0];
    assert_string_equal(m->name, "Echo");
    assert_string_equal(m->path, "/wstest.WsTest/Echo");
    assert_ptr_equal(m->input, &wstest__echo_request__descriptor);
    assert_ptr_equal(m->output, &google__protobuf__empty__descriptor);
    assert_int_equal(m->http_verb, SILK_HTTP_POST);
    assert_string_equal(m->http_path, "api/wstest/echo");
    assert_string_equal(m->hash_key, "business_id");
    assert_int_equal(m->timeout_ms, 0);
    assert_int_equal(m->retries, 0);
    assert_false(m->idempotent);
    assert_non_null(m->invoke);
}

static void wstest_serve_and_invoke(void **state)
{
    silk_server srv = {0};
    assert_int_equal(
        wstest__ws_test__serve(&srv, &(Wstest__WsTest_Handlers){.echo = echo}, &echo_calls),
        SILK_OK);
    assert_ptr_equal(srv.desc, &wstest__ws_test__silk_desc);
    assert_ptr_equal(srv.user, &echo_calls);

    /* The server calls the trampoline with its copy of the table; here the table itself. */
    Wstest__WsTest_Handlers table = {.echo = echo};
    Wstest__EchoRequest req = WSTEST__ECHO_REQUEST__INIT;
    req.business_id = "100";
    Google__Protobuf__Empty resp = GOOGLE__PROTOBUF__EMPTY__INIT;
    const silk_method_desc *m = &wstest__ws_test__silk_desc.methods[0];
    echo_calls = 0;
    assert_int_equal(m->invoke(NULL, &req.base, &resp.base, &table, &echo_calls), SILK_NOT_FOUND);
    assert_int_equal(echo_calls, 1);

    Wstest__WsTest_Handlers empty = {0};
    assert_int_equal(m->invoke(NULL, &req.base, &resp.base, &empty, NULL), SILK_UNIMPLEMENTED);
    assert_int_equal(echo_calls, 1);
}

static void on_done(silk_status st, ProtobufCMessage *resp, const char *message, void *arg)
{
}

static void wstest_calls(void **state)
{
    silk_channel ch = {0};
    Wstest__EchoRequest req = WSTEST__ECHO_REQUEST__INIT;
    Google__Protobuf__Empty *out = NULL;
    assert_int_equal(wstest__ws_test__call_echo(&ch, NULL, &req, &out), SILK_OK);
    assert_ptr_equal(ch.method, &wstest__ws_test__silk_desc.methods[0]);
    assert_ptr_equal(ch.req, &req.base);
    assert_non_null(out);
    assert_ptr_equal(out->base.descriptor, &google__protobuf__empty__descriptor);
    protobuf_c_message_free_unpacked(&out->base, NULL);

    int arg;
    silk_call_id id;
    assert_int_equal(wstest__ws_test__call_echo_async(&ch, NULL, &req, on_done, &arg, &id),
                     SILK_DEADLINE_EXCEEDED);
    assert_ptr_equal(ch.cb, on_done);
    assert_ptr_equal(ch.arg, &arg);
    assert_ptr_equal(ch.idp, &id);
}

/* --- the corpus: dotted package, nested and imported types, every option --- */

static void shop_descriptors(void **state)
{
    const silk_service_desc *d = &acme__shop_v1__order_app_service__silk_desc;
    assert_string_equal(d->name, "acme.shop_v1.OrderAppService");
    assert_string_equal(d->route, "api/order");
    assert_false(d->websocket);
    assert_int_equal(d->history_size, 0); /* no option (silk.history): no history */
    assert_int_equal(d->history_ttl_s, 0);
    assert_int_equal(d->n_methods, 8);
    assert_int_equal(d->handlers_size, sizeof(Acme__ShopV1__OrderAppService_Handlers));

    static const struct {
        const char *name, *path, *http_path, *hash_key;
        silk_http_verb verb;
        const ProtobufCMessageDescriptor *in, *out;
    } want[] = {
        {"GetOrder", "/acme.shop_v1.OrderAppService/GetOrder", "api/order/items/{id}", "id",
         SILK_HTTP_GET, &acme__shop_v1__get_order_request__descriptor,
         &acme__shop_v1__order__descriptor},
        {"PutLine", "/acme.shop_v1.OrderAppService/PutLine", "api/order/lines", "sku",
         SILK_HTTP_PUT, &acme__shop_v1__order__line__descriptor,
         &google__protobuf__empty__descriptor},
        {"DeleteOrder", "/acme.shop_v1.OrderAppService/DeleteOrder", "api/order/items/{id}",
         "shard", SILK_HTTP_DELETE, &acme__shop_v1__get_order_request__descriptor,
         &google__protobuf__empty__descriptor},
        {"PatchOrder", "/acme.shop_v1.OrderAppService/PatchOrder", "api/order/items/{id=**}", NULL,
         SILK_HTTP_PATCH, &acme__shop_v1__order__descriptor, &acme__shop_v1__order__descriptor},
        {"CreateOrder", "/acme.shop_v1.OrderAppService/CreateOrder", "api/order/items", NULL,
         SILK_HTTP_POST, &acme__shop_v1__order__descriptor, &acme__shop_v1__order__descriptor},
        {"LastLine", "/acme.shop_v1.OrderAppService/LastLine", "api/order/lastline", NULL,
         SILK_HTTP_POST, &acme__shop_v1__get_order_request__descriptor,
         &acme__shop_v1__order__line__descriptor},
        {"Total", "/acme.shop_v1.OrderAppService/Total", "api/order/total/{cash.currency}/*", NULL,
         SILK_HTTP_GET, &acme__shop_v1__order__descriptor, &acme__common__v1__money__descriptor},
        {"GetURL", "/acme.shop_v1.OrderAppService/GetURL", "api/order/geturl", NULL, SILK_HTTP_POST,
         &acme__shop_v1__get_order_request__descriptor, &google__protobuf__empty__descriptor},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const silk_method_desc *m = &d->methods[i];
        assert_string_equal(m->name, want[i].name);
        assert_string_equal(m->path, want[i].path);
        assert_string_equal(m->http_path, want[i].http_path);
        assert_int_equal(m->http_verb, want[i].verb);
        if (want[i].hash_key)
            assert_string_equal(m->hash_key, want[i].hash_key);
        else
            assert_null(m->hash_key);
        assert_ptr_equal(m->input, want[i].in);
        assert_ptr_equal(m->output, want[i].out);
    }
    assert_int_equal(d->methods[0].timeout_ms, 1500);
    assert_int_equal(d->methods[0].retries, 2);
    assert_true(d->methods[0].idempotent);
    /* (silk.public) on GetOrder only; (silk.public_service) on HTTPAudit, whose methods
     * inherit it. */
    assert_true(d->methods[0].public_access);
    assert_false(d->methods[1].public_access);
    assert_false(d->public_access);

    const silk_service_desc *audit = &acme__shop_v1__httpaudit__silk_desc;
    assert_string_equal(audit->name, "acme.shop_v1.HTTPAudit");
    assert_string_equal(audit->route, "audit/httpaudit/v2");
    assert_true(audit->websocket);
    assert_true(audit->public_access);
    assert_true(audit->methods[0].public_access);
    assert_string_equal(audit->methods[0].http_path, "audit/httpaudit/v2");
}

static silk_status last_line(silk_ctx *ctx, const Acme__ShopV1__GetOrderRequest *req,
                             Acme__ShopV1__Order__Line *resp, void *user)
{
    resp->sku = (char *)req->id;
    return SILK_OK;
}

static void shop_nested_types(void **state)
{
    Acme__ShopV1__OrderAppService_Handlers table = {.last_line = last_line};
    Acme__ShopV1__GetOrderRequest req = ACME__SHOP_V1__GET_ORDER_REQUEST__INIT;
    req.id = "o-1";
    Acme__ShopV1__Order__Line line = ACME__SHOP_V1__ORDER__LINE__INIT;
    const silk_method_desc *m =
        find_method(&acme__shop_v1__order_app_service__silk_desc, "LastLine");
    assert_int_equal(m->invoke(NULL, &req.base, &line.base, &table, NULL), SILK_OK);
    assert_string_equal(line.sku, "o-1");

    silk_channel ch = {0};
    Acme__ShopV1__Order__Line *out = NULL;
    assert_int_equal(acme__shop_v1__order_app_service__call_last_line(&ch, NULL, &req, &out),
                     SILK_OK);
    assert_ptr_equal(out->base.descriptor, &acme__shop_v1__order__line__descriptor);
    protobuf_c_message_free_unpacked(&out->base, NULL);

    Acme__Common__V1__Money *money = NULL;
    Acme__ShopV1__Order order = ACME__SHOP_V1__ORDER__INIT;
    assert_int_equal(acme__shop_v1__order_app_service__call_total(&ch, NULL, &order, &money),
                     SILK_OK);
    assert_ptr_equal(ch.req, &order.base);
    assert_ptr_equal(money->base.descriptor, &acme__common__v1__money__descriptor);
    protobuf_c_message_free_unpacked(&money->base, NULL);
}

/* --- protobuf-c's c_package, and a file without a package --- */

static void c_package_and_no_package(void **state)
{
    assert_string_equal(bill__billing_service__silk_desc.name, "acme.billing.v1.BillingService");
    assert_string_equal(bill__billing_service__silk_desc.route, "api/billing");
    assert_ptr_equal(bill__billing_service__silk_desc.methods[0].input,
                     &bill__invoice__item__descriptor);
    Bill__BillingService_Handlers billing = {.charge = NULL};
    (void)billing;

    assert_string_equal(pinger__silk_desc.name, "Pinger");
    assert_string_equal(pinger__silk_desc.route, "api/pinger");
    assert_string_equal(pinger__silk_desc.methods[0].path, "/Pinger/SendPing");
    assert_string_equal(pinger__silk_desc.methods[1].http_path, "api/pinger/httpget");
    Pinger_Handlers pinger = {.send_ping = NULL, .httpget = NULL};
    (void)pinger;

    assert_string_equal(idle__silk_desc.name, "Idle");
    assert_int_equal(idle__silk_desc.n_methods, 0);
    assert_null(idle__silk_desc.methods);
    silk_server srv = {0};
    assert_int_equal(idle__serve(&srv, &(Idle_Handlers){0}, NULL), SILK_OK);
    assert_ptr_equal(srv.desc, &idle__silk_desc);
}

/* --- a file in a subfolder, well-known types in requests and responses --- */

static silk_status now(silk_ctx *ctx, const Google__Protobuf__Timestamp *req,
                       Google__Protobuf__Timestamp *resp, void *user)
{
    resp->seconds = req->seconds + 1;
    return SILK_OK;
}

static silk_status set_alarm(silk_ctx *ctx, const Acme__Time__V1__Alarm *req,
                             Google__Protobuf__Duration *resp, void *user)
{
    resp->seconds = req->at->seconds;
    return SILK_OK;
}

static void wkt_and_subfolder(void **state)
{
    const silk_service_desc *d = &acme__time__v1__clock_service__silk_desc;
    assert_string_equal(d->name, "acme.time.v1.ClockService");
    assert_string_equal(d->route, "api/clock");
    assert_int_equal(d->n_methods, 3);
    assert_ptr_equal(d->methods[0].input, &google__protobuf__timestamp__descriptor);
    assert_ptr_equal(d->methods[0].output, &google__protobuf__timestamp__descriptor);
    assert_ptr_equal(d->methods[1].input, &acme__time__v1__alarm__descriptor);
    assert_ptr_equal(d->methods[1].output, &google__protobuf__duration__descriptor);
    assert_string_equal(d->methods[1].http_path, "api/clock/alarms/{id}");
    assert_int_equal(d->methods[1].http_verb, SILK_HTTP_PUT);
    assert_string_equal(d->methods[1].hash_key, "id");
    assert_ptr_equal(d->methods[2].input, &google__protobuf__bool_value__descriptor);
    assert_ptr_equal(d->methods[2].output, &google__protobuf__uint64_value__descriptor);

    silk_server srv = {0};
    Acme__Time__V1__ClockService_Handlers table = {.now = now, .set = set_alarm};
    assert_int_equal(acme__time__v1__clock_service__serve(&srv, &table, NULL), SILK_OK);
    Google__Protobuf__Timestamp at = GOOGLE__PROTOBUF__TIMESTAMP__INIT, next = at;
    at.seconds = 41;
    assert_int_equal(d->methods[0].invoke(NULL, &at.base, &next.base, srv.handlers, NULL), SILK_OK);
    assert_int_equal(next.seconds, 42);
    Acme__Time__V1__Alarm alarm = ACME__TIME__V1__ALARM__INIT;
    alarm.at = &at;
    Google__Protobuf__Duration left = GOOGLE__PROTOBUF__DURATION__INIT;
    assert_int_equal(d->methods[1].invoke(NULL, &alarm.base, &left.base, srv.handlers, NULL),
                     SILK_OK);
    assert_int_equal(left.seconds, 41);

    silk_channel ch = {0};
    Google__Protobuf__BoolValue any = GOOGLE__PROTOBUF__BOOL_VALUE__INIT;
    Google__Protobuf__UInt64Value *count = NULL;
    assert_int_equal(acme__time__v1__clock_service__call_count(&ch, NULL, &any, &count), SILK_OK);
    assert_ptr_equal(ch.method, &d->methods[2]);
    assert_ptr_equal(count->base.descriptor, &google__protobuf__uint64_value__descriptor);
    protobuf_c_message_free_unpacked(&count->base, NULL);
}

/* --- what the descriptors carry for the runtime and the gateway --- */

/* The corpus's services, every one. */
static const silk_service_desc *const corpus[] = {
    &wstest__ws_test__silk_desc,
    &acme__shop_v1__order_app_service__silk_desc,
    &acme__shop_v1__httpaudit__silk_desc,
    &bill__billing_service__silk_desc,
    &pinger__silk_desc,
    &idle__silk_desc,
    &acme__time__v1__clock_service__silk_desc,
    &acme__catalog__v1__catalog_service__silk_desc,
    &acme__catalog__v1__label_service__silk_desc,
    &acme__catalog__v1__plain__silk_desc,
    &shapes__v1__shapes__silk_desc,
};
#define N_CORPUS (sizeof corpus / sizeof corpus[0])

static void business_id_fields(void **state)
{
    static const struct {
        const silk_service_desc *svc;
        const char *method;
        uint32_t field;
    } want[] = {
        {&wstest__ws_test__silk_desc, "Echo", 1},
        {&acme__shop_v1__order_app_service__silk_desc, "CreateOrder", 2},
        {&acme__shop_v1__order_app_service__silk_desc, "GetOrder", 0},
        {&acme__catalog__v1__catalog_service__silk_desc, "GetBook", 7},
        {&acme__catalog__v1__catalog_service__silk_desc, "Raw", 0},    /* in a oneof */
        {&acme__catalog__v1__catalog_service__silk_desc, "Count", 0},  /* an int64 */
        {&acme__catalog__v1__catalog_service__silk_desc, "Repeat", 0}, /* repeated */
        {&acme__catalog__v1__catalog_service__silk_desc, "Bytes", 0},  /* string_as_bytes */
        {&acme__catalog__v1__catalog_service__silk_desc, "Wrap", 0},   /* not top-level */
        {&acme__catalog__v1__label_service__silk_desc, "Tag", 5},      /* an imported type */
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_int_equal(find_method(want[i].svc, want[i].method)->business_id_field,
                         want[i].field);
}

/* runtime_business_id is the runtime's rule (runtime/src/ctx.c) on protobuf-c's descriptor:
 * the number of a string business_id field, neither repeated nor in a oneof; 0 for none. */
static uint32_t runtime_business_id(const ProtobufCMessageDescriptor *d)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(d, "business_id");
    if (f == NULL || f->type != PROTOBUF_C_TYPE_STRING || f->label == PROTOBUF_C_LABEL_REPEATED ||
        (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0)
        return 0;
    return f->id;
}

static void business_id_as_the_runtime_finds_it(void **state)
{
    size_t found = 0;
    for (size_t i = 0; i < N_CORPUS; i++) {
        for (size_t k = 0; k < corpus[i]->n_methods; k++) {
            const silk_method_desc *m = &corpus[i]->methods[k];
            assert_int_equal(m->business_id_field, runtime_business_id(m->input));
            found += m->business_id_field != 0;
        }
    }
    /* Echo; shop's 3 and Record on Order; catalog's 3 on Book; Tag; shapes' 3 on All */
    assert_int_equal(found, 12);
}

/* spell writes segments back as a template: "{id}" for a binding of one "*". */
static void spell(const silk_path_segment *segs, size_t n, char *out, size_t size)
{
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const silk_path_segment *s = &segs[i];
        bool first = i == 0 || segs[i - 1].kind == SILK_PATH_VAR_BEGIN;
        const char *sep = first || s->kind == SILK_PATH_VAR_END ? "" : "/";
        bool short_var = s->kind == SILK_PATH_VAR_BEGIN && i + 2 < n &&
                         segs[i + 1].kind == SILK_PATH_ANY && segs[i + 2].kind == SILK_PATH_VAR_END;
        switch (s->kind) {
        case SILK_PATH_LITERAL:
            assert_non_null(s->text);
            len += (size_t)snprintf(out + len, size - len, "%s%s", sep, s->text);
            break;
        case SILK_PATH_ANY:
        case SILK_PATH_REST:
            assert_null(s->text);
            len += (size_t)snprintf(out + len, size - len, "%s%s", sep,
                                    s->kind == SILK_PATH_ANY ? "*" : "**");
            break;
        case SILK_PATH_VAR_BEGIN:
            assert_non_null(s->text);
            len += (size_t)snprintf(out + len, size - len, "%s{%s%s", sep, s->text,
                                    short_var ? "}" : "=");
            i += short_var ? 2 : 0;
            break;
        case SILK_PATH_VAR_END:
            assert_null(s->text);
            len += (size_t)snprintf(out + len, size - len, "}");
            break;
        }
        assert_true(len < size);
    }
}

/* check_shape checks what the gateway may rely on: bindings do not nest and hold at least
 * one segment, and "**" is the last segment. */
static void check_shape(const silk_method_desc *m)
{
    bool open = false, rest = false;
    size_t held = 0;
    for (size_t i = 0; i < m->n_http_segments; i++) {
        silk_path_segment_kind kind = m->http_segments[i].kind;
        if (kind == SILK_PATH_VAR_BEGIN || kind == SILK_PATH_VAR_END) {
            assert_true(open == (kind == SILK_PATH_VAR_END));
            assert_true(kind == SILK_PATH_VAR_BEGIN || held > 0);
            open = kind == SILK_PATH_VAR_BEGIN;
            held = 0;
            continue;
        }
        assert_false(rest);
        rest = kind == SILK_PATH_REST;
        held++;
    }
    assert_false(open);
}

static void path_segments_spell_http_path(void **state)
{
    size_t n = 0;
    for (size_t i = 0; i < N_CORPUS; i++) {
        for (size_t k = 0; k < corpus[i]->n_methods; k++) {
            const silk_method_desc *m = &corpus[i]->methods[k];
            char spelt[256];
            assert_non_null(m->http_segments);
            spell(m->http_segments, m->n_http_segments, spelt, sizeof spelt);
            assert_string_equal(spelt, m->http_path);
            check_shape(m);
            n++;
        }
    }
    assert_int_equal(n, 30);
}

typedef struct seg_want {
    silk_path_segment_kind kind;
    const char *text;
} seg_want;

static void check_segments(const silk_service_desc *svc, const char *method, const seg_want *want,
                           size_t n)
{
    const silk_method_desc *m = find_method(svc, method);
    assert_int_equal(m->n_http_segments, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(m->http_segments[i].kind, want[i].kind);
        if (want[i].text != NULL)
            assert_string_equal(m->http_segments[i].text, want[i].text);
        else
            assert_null(m->http_segments[i].text);
    }
}

#define CHECK_SEGMENTS(svc, method, ...)                                                           \
    do {                                                                                           \
        static const seg_want want[] = {__VA_ARGS__};                                              \
        check_segments(svc, method, want, sizeof want / sizeof want[0]);                           \
    } while (0)

/* Short names for the tables below. */
#define L     SILK_PATH_LITERAL
#define ANY   SILK_PATH_ANY
#define REST  SILK_PATH_REST
#define BEGIN SILK_PATH_VAR_BEGIN
#define END   SILK_PATH_VAR_END

static void path_segments(void **state)
{
    const silk_service_desc *cat = &acme__catalog__v1__catalog_service__silk_desc;
    /* {name=shelves/ *} and a nested {page.size} */
    CHECK_SEGMENTS(cat, "GetBook", {L, "api"}, {L, "v1"}, {L, "catalog"}, {BEGIN, "name"},
                   {L, "shelves"}, {ANY, NULL}, {END, NULL}, {L, "books"}, {BEGIN, "page.size"},
                   {ANY, NULL}, {END, NULL});
    /* a nested {a.b}, then "*" */
    CHECK_SEGMENTS(cat, "ListShelf", {L, "api"}, {L, "v1"}, {L, "catalog"}, {L, "shelves"},
                   {BEGIN, "shelf.name"}, {ANY, NULL}, {END, NULL}, {ANY, NULL});
    /* "**" inside a binding */
    CHECK_SEGMENTS(cat, "ReadFile", {L, "api"}, {L, "v1"}, {L, "catalog"}, {L, "files"},
                   {BEGIN, "name"}, {L, "docs"}, {REST, NULL}, {END, NULL});
    /* "**" alone */
    CHECK_SEGMENTS(cat, "Raw", {L, "api"}, {L, "v1"}, {L, "catalog"}, {L, "raw"}, {REST, NULL});
    /* the default path: the route and the method's name lower-cased */
    CHECK_SEGMENTS(cat, "Count", {L, "api"}, {L, "v1"}, {L, "catalog"}, {L, "count"});
    CHECK_SEGMENTS(&acme__shop_v1__order_app_service__silk_desc, "GetURL", {L, "api"}, {L, "order"},
                   {L, "geturl"});
    /* post: "" is the route itself; slashes around a rule's path are dropped */
    CHECK_SEGMENTS(&acme__catalog__v1__label_service__silk_desc, "Tag", {L, "api"}, {L, "label"});
    CHECK_SEGMENTS(&acme__shop_v1__order_app_service__silk_desc, "GetOrder", {L, "api"},
                   {L, "order"}, {L, "items"}, {BEGIN, "id"}, {ANY, NULL}, {END, NULL});
}

#undef L
#undef ANY
#undef REST
#undef BEGIN
#undef END

typedef struct name_want {
    const ProtobufCMessageDescriptor *message;
    uint32_t field;
    const char *field_name, *json_name;
} name_want;

/* check_json_names checks that svc's table has exactly these rows, in any order, each once,
 * each naming a field protobuf-c's descriptor has. */
static void check_json_names(const silk_service_desc *svc, const name_want *want, size_t n)
{
    assert_int_equal(svc->n_json_names, n);
    for (size_t i = 0; i < n; i++) {
        size_t hits = 0;
        for (size_t k = 0; k < svc->n_json_names; k++) {
            const silk_json_name *row = &svc->json_names[k];
            if (row->message != want[i].message || row->field != want[i].field)
                continue;
            hits++;
            assert_string_equal(row->json_name, want[i].json_name);
            const ProtobufCFieldDescriptor *f =
                protobuf_c_message_descriptor_get_field(row->message, row->field);
            assert_non_null(f);
            assert_string_equal(f->name, want[i].field_name);
        }
        assert_int_equal(hits, 1);
    }
}

static void json_names(void **state)
{
    static const name_want catalog[] = {
        {&acme__catalog__v1__book__descriptor, 1, "name", "title"},
        {&acme__catalog__v1__shelf__slot__descriptor, 1, "slot_no", "position"},
        {&acme__catalog__v1__node__descriptor, 1, "node_id", "id"},
        {&acme__common__v1__label__descriptor, 1, "text_value", "text"},
        {&acme__catalog__v1__page__descriptor, 2, "token", "pageToken"},
        {&acme__catalog__v1__in_oneof__descriptor, 2, "user_name", "user"},
    };
    check_json_names(&acme__catalog__v1__catalog_service__silk_desc, catalog,
                     sizeof catalog / sizeof catalog[0]);
    static const name_want label[] = {
        {&acme__common__v1__label__descriptor, 1, "text_value", "text"},
        {&acme__catalog__v1__page__descriptor, 2, "token", "pageToken"},
    };
    check_json_names(&acme__catalog__v1__label_service__silk_desc, label,
                     sizeof label / sizeof label[0]);
    static const name_want billing[] = {
        {&bill__invoice__item__descriptor, 1, "sku", "SKU"},
    };
    check_json_names(&bill__billing_service__silk_desc, billing, 1);

    const silk_service_desc *none[] = {&acme__catalog__v1__plain__silk_desc,
                                       &acme__shop_v1__order_app_service__silk_desc,
                                       &wstest__ws_test__silk_desc, &idle__silk_desc};
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++) {
        assert_null(none[i]->json_names);
        assert_int_equal(none[i]->n_json_names, 0);
    }
}

/* Every service's OpenAPI part is one JSON object that starts with its tag and holds an
 * operation for each of its methods. */
static void openapi_parts(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_CORPUS; i++) {
        const silk_service_desc *d = corpus[i];
        char head[256];
        snprintf(head, sizeof head, "{\"tags\":[{\"name\":\"%s\"", d->name);
        assert_non_null(d->openapi);
        assert_memory_equal(d->openapi, head, strlen(head));
        assert_int_equal(d->openapi[strlen(d->openapi) - 1], '}');
        for (size_t k = 0; k < d->n_methods; k++) {
            char id[256];
            snprintf(id, sizeof id, "\"operationId\":\"%s.%s\"", d->name, d->methods[k].name);
            assert_non_null(strstr(d->openapi, id));
        }
    }
    const char *shop = acme__shop_v1__order_app_service__silk_desc.openapi;
    assert_non_null(strstr(shop, "\"description\":\"GetOrder finds one order.\""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(wstest_descriptor),
        cmocka_unit_test(wstest_serve_and_invoke),
        cmocka_unit_test(wstest_calls),
        cmocka_unit_test(shop_descriptors),
        cmocka_unit_test(shop_nested_types),
        cmocka_unit_test(c_package_and_no_package),
        cmocka_unit_test(wkt_and_subfolder),
        cmocka_unit_test(business_id_fields),
        cmocka_unit_test(business_id_as_the_runtime_finds_it),
        cmocka_unit_test(path_segments_spell_http_path),
        cmocka_unit_test(path_segments),
        cmocka_unit_test(json_names),
        cmocka_unit_test(openapi_parts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
