/* conn.c - one client connection: HTTP requests, the calls they make, or a WebSocket session. */
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>

#include <silk/ctx.h>
#include <silk/json.h>
#include <silk/log.h>

#include "handshake.h"
#include "silk/health.silk.h"
#include "silk/ws.silk.h"
#include "http.h"
#include "json.h"
#include "loop.h"
#include "routes.h"
#include "ws.h"

#define LOG "gateway"

/* How long a session we close may take to answer our close frame, in seconds. */
#define CLOSE_TIMEOUT 5.0

/* The deadline of a hook call, in milliseconds. */
#define HOOK_TIMEOUT_MS 10000

/* How long a hook that answered UNIMPLEMENTED is left alone, in milliseconds. */
#define HOOK_RETRY_MS 60000

/* OnMessage calls in flight for one session; more messages wait in the session's backlog,
 * and the gateway stops reading from the session until replies come back. */
#define MAX_MESSAGE_HOOKS 16

/* The most subprotocols of a client that OnOpen is told of. */
#define MAX_SUBPROTOCOLS 16

/* ============================================================================
 * Types: a connection, and a call made for one of its requests.
 * ========================================================================== */

typedef struct silk__gw_conn conn;
typedef struct silk__gw_call call;

typedef enum conn_state {
    CONN_READING, /* reading an HTTP request */
    CONN_CALLING, /* the request's call (or a handshake's OnOpen) is in flight */
    CONN_WRITING, /* writing the response; then the next request, or close */
    CONN_WS,      /* a WebSocket session */
} conn_state;

/* A call made for an HTTP request. It outlives its connection when the client goes away
 * first: conn is then NULL, and the completion only frees it. */
/* A deep health check: Health/Check on every service, answered once all have completed. It
 * outlives its connection like a call does: conn is then NULL. */
typedef struct health {
    conn *conn;
    size_t pending;
    size_t n;
    silk_status *st; /* by service index */
    char **why;      /* by service index: the failure's message, or NULL */
} health;

typedef enum call_kind {
    CALL_HTTP,    /* a method called for an HTTP request, or a deep health check's Check */
    CALL_OPEN,    /* OnOpen for a handshake: conn waits for it */
    CALL_MESSAGE, /* OnMessage: its reply goes to the session named session_id */
    CALL_CLOSE,   /* OnClose: nothing waits */
} call_kind;

struct silk__gw_call {
    silk__gw_loop *loop;
    call_kind kind;
    size_t service;                               /* a hook's service, by index */
    char session_id[SILK__GW_SESSION_ID_MAX + 1]; /* a hook's session */
    conn *conn;                                   /* touched only on the loop */
    health *health;                               /* for a deep health check's call, else NULL */
    size_t index;                                 /* the service checked */
    ProtobufCMessage *req;
    silk_status st;
    ProtobufCMessage *resp;
    char *message;
    silk__gw_cmd done; /* the completion's command, here so that completing cannot fail */
};

struct silk__gw_conn {
    silk__gw_loop *loop;
    int fd;
    conn_state state;
    ev_io rio, wio;
    ev_timer timer;
    ev_tstamp last_active;      /* when the client last sent something */
    ev_tstamp closing_since;    /* when we queued a close frame, or 0 */
    silk__gw_http_parser *http; /* while HTTP */
    char *in;                   /* bytes read after a complete request, not parsed yet */
    size_t in_len, in_off;
    char *out; /* an HTTP response being written */
    size_t out_len, out_off;
    bool close_after;      /* close once out is written */
    bool continued;        /* "100 Continue" was sent for the current request */
    ev_tstamp req_start;   /* when the current request was complete, for its latency */
    const char *req_route; /* the current request's route, for metrics */
    call *call;
    health *health; /* a deep health check in flight */
    silk__gw_ws *ws;
    char *business_id;                            /* the session's */
    uint16_t service;                             /* the session's service, by index */
    uint32_t hook_calls;                          /* OnMessage calls in flight */
    struct backlog *backlog, *backlog_tail;       /* OnMessage calls waiting for a slot */
    bool opened;                                  /* the session is in the table */
    char session_id[SILK__GW_SESSION_ID_MAX + 1]; /* "" until a session is opening */
    conn *prev, *next;
};

/* An OnMessage request waiting until fewer calls are in flight for its session. */
typedef struct backlog {
    struct backlog *next;
    ProtobufCMessage *req;
} backlog;

static int conn_drive(conn *c);
static void conn_close(conn *c, const char *why);

/* ============================================================================
 * Responses
 * ========================================================================== */

/* json_code returns the silk status a gateway-made HTTP error stands for. */
static silk_status json_code(int http_status)
{
    switch (http_status) {
    case 404:
        return SILK_NOT_FOUND;
    case 405:
        return SILK_UNIMPLEMENTED;
    case 413:
    case 431:
        return SILK_RESOURCE_EXHAUSTED;
    case 426:
        return SILK_FAILED_PRECONDITION;
    case 500:
        return SILK_INTERNAL;
    case 503:
        return SILK_UNAVAILABLE;
    default:
        return SILK_INVALID_ARGUMENT;
    }
}

/* count_request and count_upstream_failure count into the loop's metrics. */
static void count_request(silk__gw_loop *l, const char *route, int status, double seconds)
{
    pthread_mutex_lock(&l->metrics_lock);
    silk__gw_metrics_request(&l->metrics, route, status, seconds);
    pthread_mutex_unlock(&l->metrics_lock);
}

static void count_upstream_failure(silk__gw_loop *l, int code)
{
    pthread_mutex_lock(&l->metrics_lock);
    silk__gw_metrics_upstream_failure(&l->metrics, code);
    pthread_mutex_unlock(&l->metrics_lock);
}

/* respond sets the response to write. It returns 0, or -1 when memory is exhausted. */
static int respond(conn *c, int status, const char *extra_headers, const char *json, bool close)
{
    size_t len;
    close = close || c->loop->stopping;
    char *out = silk__gw_http_response(status, extra_headers, json ? "application/json" : NULL,
                                       json, json ? strlen(json) : 0, close, &len);
    if (out == NULL)
        return -1;
    if (c->http != NULL && c->http->req.method == HTTP_HEAD) {
        char *end = strstr(out, "\r\n\r\n");
        len = (size_t)(end + 4 - out); /* the head only: Content-Length still says the size */
    }
    free(c->out);
    c->out = out;
    c->out_len = len;
    c->out_off = 0;
    c->close_after = close;
    if (c->state != CONN_WS) {
        c->state = CONN_WRITING;
        double now = ev_time();
        count_request(c->loop, c->req_route ? c->req_route : "other", status,
                      c->req_start > 0 ? now - c->req_start : 0);
    }
    return 0;
}

/* respond_metrics answers GET /metrics. */
static int respond_metrics(conn *c, bool close)
{
    silk__gw *gw = c->loop->gw;
    pthread_mutex_lock(&gw->lock);
    size_t sessions = silk__gw_sessions_count(&gw->sessions);
    pthread_mutex_unlock(&gw->lock);
    silk__gw_metrics all = {0};
    size_t conns = 0;
    for (size_t i = 0; i < gw->opts.workers; i++) {
        silk__gw_loop *l = gw->loops[i];
        pthread_mutex_lock(&l->metrics_lock);
        silk__gw_metrics_add(&all, &l->metrics);
        pthread_mutex_unlock(&l->metrics_lock);
        conns += atomic_load(&l->n_conns);
    }
    char *text = silk__gw_metrics_text(&all, sessions, conns);
    silk__gw_metrics_fini(&all);
    if (text == NULL)
        return -1;
    size_t len;
    close = close || c->loop->stopping;
    char *out = silk__gw_http_response(200, NULL, "text/plain; version=0.0.4; charset=utf-8", text,
                                       strlen(text), close, &len);
    free(text);
    if (out == NULL)
        return -1;
    if (c->http->req.method == HTTP_HEAD)
        len = (size_t)(strstr(out, "\r\n\r\n") + 4 - out);
    free(c->out);
    c->out = out;
    c->out_len = len;
    c->out_off = 0;
    c->close_after = close;
    c->state = CONN_WRITING;
    count_request(c->loop, "/metrics", 200, ev_time() - c->req_start);
    return 0;
}

/* respond_error answers {"code":..,"message":..} (or, with --wrap-response, Silky's wrapped
 * form) with an HTTP status. */
static int respond_error(conn *c, int status, silk_status code, const char *message,
                         const char *extra_headers, bool close)
{
    char *json = c->loop->gw->opts.wrap_response
                     ? silk__gw_json_wrapped(status, code, NULL, message)
                     : silk__gw_json_error(code, message);
    if (json == NULL)
        return -1;
    int rv = respond(c, status, extra_headers, json, close);
    free(json);
    return rv;
}

/* ============================================================================
 * Calls: POST /<route>/<method> with a JSON body.
 * ========================================================================== */

/* on_call_done runs on one of nng's threads: it only hands the result to the loop. */
static void on_call_done(silk_status st, ProtobufCMessage *resp, const char *message, void *arg)
{
    call *k = arg;
    k->st = st;
    k->resp = resp;
    k->message = message != NULL && message[0] != '\0' ? strdup(message) : NULL;
    k->done.kind = SILK__GW_CMD_CALL_DONE;
    k->done.call = k;
    silk__gw_loop_push(k->loop, &k->done);
}

static void health_done(call *k);
static void hook_done(call *k);

void silk__gw_conn_call_done(call *k)
{
    if (k->kind != CALL_HTTP) {
        hook_done(k);
        return;
    }
    if (k->health != NULL) {
        health_done(k);
        return;
    }
    conn *c = k->conn;
    if (c != NULL) {
        c->call = NULL;
        int rv;
        bool close = !c->http->req.keep_alive;
        if (k->st == SILK_OK) {
            char err[256], *json = NULL;
            silk_status st = silk_json_from_message(k->resp, &json, NULL, err, sizeof err);
            if (st == SILK_OK && c->loop->gw->opts.wrap_response) {
                char *wrapped = silk__gw_json_wrapped(200, SILK_OK, json, NULL);
                free(json);
                json = wrapped;
                if (json == NULL)
                    st = SILK_RESOURCE_EXHAUSTED;
            }
            if (st == SILK_OK)
                rv = respond(c, 200, NULL, json, close);
            else
                rv = respond_error(c, 500, SILK_INTERNAL, err, NULL, close);
            free(json);
        } else {
            const char *msg = k->message ? k->message : silk_status_str(k->st);
            count_upstream_failure(c->loop, (int)k->st);
            rv = respond_error(c, silk_status_http(k->st), k->st, msg, NULL, close);
        }
        if (rv != 0)
            conn_close(c, "out of memory");
        else
            conn_drive(c);
    }
    if (k->resp != NULL)
        protobuf_c_message_free_unpacked(k->resp, NULL);
    protobuf_c_message_free_unpacked(k->req, NULL);
    free(k->message);
    free(k);
}

/* request_business_id finds the business id of a call: the request's business_id field,
 * else the query or a header. It returns NULL when there is none. */
static const char *request_business_id(const ProtobufCMessage *msg,
                                       const silk__gw_http_request *req, char *buf, size_t size)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(msg->descriptor, "business_id");
    if (f != NULL && f->type == PROTOBUF_C_TYPE_STRING && f->label != PROTOBUF_C_LABEL_REPEATED) {
        const char *v = *(char *const *)((const char *)msg + f->offset);
        if (v != NULL && v[0] != '\0')
            return v;
    }
    return silk__gw_route_business_id(req, buf, size) > 0 ? buf : NULL;
}

/* is_json_type tells whether a Content-Type names JSON: application/json, or any type
 * ending in "+json". */
static bool is_json_type(const char *type)
{
    size_t n = strcspn(type, ";");
    while (n > 0 && (type[n - 1] == ' ' || type[n - 1] == '\t'))
        n--;
    static const char json[] = "application/json", plus[] = "+json";
    return (n == sizeof json - 1 && strncasecmp(type, json, n) == 0) ||
           (n > sizeof plus - 1 &&
            strncasecmp(type + n - (sizeof plus - 1), plus, sizeof plus - 1) == 0);
}

/* is_blank tells whether len bytes of s are all JSON whitespace. */
static bool is_blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return false;
    return true;
}

/* build_request makes a call's request message from the HTTP request: the JSON body for POST,
 * PUT and PATCH, the query parameters for GET and DELETE, then the path's {field}s. It
 * returns SILK_OK with *out the caller's, or an error with err set and *http_status the
 * answer's status (415 for a body that is not JSON, 400 otherwise). */
static silk_status build_request(const silk__gw_http_request *req, const silk__gw_route *r,
                                 ProtobufCMessage **out, int *http_status, char *err,
                                 size_t err_size)
{
    const ProtobufCMessageDescriptor *desc = r->method->input;
    ProtobufCMessage *msg = NULL;
    silk_status st;
    *out = NULL;
    *http_status = 400;
    bool from_query =
        req->method == HTTP_GET || req->method == HTTP_HEAD || req->method == HTTP_DELETE;
    if (!from_query) {
        const char *type = silk__gw_http_header_get(req, "Content-Type");
        if (req->body_len > 0 && type != NULL && !is_json_type(type)) {
            *http_status = 415;
            snprintf(err, err_size, "the body must be application/json, not %.100s", type);
            return SILK_INVALID_ARGUMENT;
        }
        /* An empty body is the empty message. */
        bool blank = is_blank(req->body, req->body_len);
        st = silk_json_to_message(desc, blank ? "{}" : req->body, blank ? 2 : req->body_len, &msg,
                                  err, err_size);
        if (st != SILK_OK) {
            if (st == SILK_RESOURCE_EXHAUSTED)
                *http_status = 503;
            return st;
        }
    } else {
        st = silk_json_to_message(desc, "{}", 2, &msg, err, err_size);
        if (st != SILK_OK)
            return st;
        size_t qlen = strlen(req->query) + 1;
        char name[256], *value = malloc(qlen);
        const char *cursor = req->query;
        int rv;
        if (value == NULL) {
            protobuf_c_message_free_unpacked(msg, NULL);
            snprintf(err, err_size, "out of memory");
            return SILK_RESOURCE_EXHAUSTED;
        }
        while (st == SILK_OK &&
               (rv = silk__gw_http_query_next(&cursor, name, sizeof name, value, qlen)) != 0) {
            if (rv < 0) {
                snprintf(err, err_size, "malformed query string");
                st = SILK_INVALID_ARGUMENT;
                break;
            }
            /* Every name of the business id fills business_id, when the message has one;
             * it travels as metadata either way. */
            const char *field = name;
            if (silk__gw_route_is_business_id_name(name)) {
                if (protobuf_c_message_descriptor_get_field_by_name(desc, "business_id") == NULL)
                    continue;
                field = "business_id";
            }
            char why[256];
            st = silk_json_set_field(msg, field, value, why, sizeof why);
            if (st != SILK_OK)
                snprintf(err, err_size, "query parameter %.100s: %s", name, why);
        }
        free(value);
    }
    for (size_t i = 0; st == SILK_OK && i < r->n_params; i++) {
        const silk__gw_route_param *p = &r->params[i];
        char name[128], value[1024], why[256];
        snprintf(name, sizeof name, "%.*s", (int)p->name_len, p->name);
        if (silk__gw_http_url_decode(p->value, p->value_len, value, sizeof value) < 0) {
            snprintf(err, err_size, "path parameter %s: badly escaped or too long", name);
            st = SILK_INVALID_ARGUMENT;
            break;
        }
        st = silk_json_set_field(msg, name, value, why, sizeof why);
        if (st != SILK_OK)
            snprintf(err, err_size, "path parameter %s: %s", name, why);
    }
    if (st != SILK_OK) {
        protobuf_c_message_free_unpacked(msg, NULL);
        if (st == SILK_RESOURCE_EXHAUSTED)
            *http_status = 503;
        return st;
    }
    *out = msg;
    return SILK_OK;
}

/* set_metadata puts the call's metadata into ctx: the business id, and the headers named by
 * --forward-header under their lower-cased names. It returns SILK_OK or why not. */
static silk_status set_metadata(const silk__gw *gw, silk_ctx *ctx, const char *bid,
                                const silk__gw_http_request *req)
{
    silk_status st = SILK_OK;
    if (bid != NULL)
        st = silk_ctx_set(ctx, SILK_MD_BUSINESS_ID, bid);
    for (size_t i = 0; st == SILK_OK && i < gw->opts.n_forward_headers; i++) {
        const char *name = gw->opts.forward_headers[i];
        const char *v = silk__gw_http_header_get(req, name);
        if (v == NULL)
            continue;
        char key[SILK_MD_MAX_KEY + 1];
        size_t n = 0;
        for (; name[n] != '\0' && n < SILK_MD_MAX_KEY; n++)
            key[n] = (char)tolower((unsigned char)name[n]);
        key[n] = '\0';
        st = silk_ctx_set(ctx, key, v);
    }
    return st;
}

static int start_call(conn *c, const silk__gw_route *r)
{
    silk__gw *gw = c->loop->gw;
    const silk__gw_http_request *req = &c->http->req;
    bool close = !req->keep_alive;
    char err[512];
    ProtobufCMessage *msg;
    int http_status;

    silk_status st = build_request(req, r, &msg, &http_status, err, sizeof err);
    if (st != SILK_OK)
        return respond_error(c, http_status, st, err, NULL, close);

    call *k = calloc(1, sizeof *k);
    silk_ctx *ctx = silk_ctx_new();
    char bid_buf[SILK__GW_BUSINESS_ID_MAX + 1];
    const char *bid = request_business_id(msg, req, bid_buf, sizeof bid_buf);
    if (k == NULL || ctx == NULL) {
        free(k);
        silk_ctx_free(ctx);
        protobuf_c_message_free_unpacked(msg, NULL);
        return respond_error(c, 503, SILK_UNAVAILABLE, "out of memory", NULL, true);
    }
    st = set_metadata(gw, ctx, bid, req);
    if (st != SILK_OK) {
        free(k);
        silk_ctx_free(ctx);
        protobuf_c_message_free_unpacked(msg, NULL);
        return respond_error(c, silk_status_http(st), st, "a header cannot travel as metadata",
                             NULL, close);
    }
    k->loop = c->loop;
    k->conn = c;
    k->req = msg;
    st = silk_call_async(gw->channels[r->service_index], ctx, r->method, msg, on_call_done, k);
    if (st != SILK_OK) {
        const char *why = silk_ctx_message(ctx);
        snprintf(err, sizeof err, "cannot call %s: %s", r->method->path,
                 why[0] != '\0' ? why : silk_status_str(st));
        silk_ctx_free(ctx);
        free(k);
        protobuf_c_message_free_unpacked(msg, NULL);
        count_upstream_failure(c->loop, (int)st);
        return respond_error(c, silk_status_http(st), st, err, NULL, close);
    }
    silk_ctx_free(ctx);
    c->call = k;
    c->state = CONN_CALLING;
    silk_log(SILK_LOG_DEBUG, LOG, "call started method=%s business_id=%s", r->method->path,
             bid ? bid : "");
    return 0;
}

/* ============================================================================
 * Health: GET /healthz, and with ?deep=1 every service's Health/Check.
 * ========================================================================== */

static void health_free(health *h)
{
    for (size_t i = 0; i < h->n; i++)
        free(h->why[i]);
    free(h->why);
    free(h->st);
    free(h);
}

/* health_answer answers a finished deep check: 200 when every service is SERVING, else 503,
 * with {"status":..,"services":{"<name>":"SERVING" or "<STATUS>: <why>",...}}. */
static int health_answer(conn *c, health *h)
{
    const silk__gw *gw = c->loop->gw;
    bool all = true;
    size_t size = 64;
    for (size_t i = 0; i < h->n; i++) {
        all = all && h->st[i] == SILK_OK;
        size += strlen(gw->services[i]->name) + (h->why[i] ? strlen(h->why[i]) : 0) + 64;
    }
    char *json = malloc(size);
    if (json == NULL)
        return -1;
    size_t n = (size_t)snprintf(json, size, "{\"status\":\"%s\",\"services\":{",
                                all ? "SERVING" : "NOT_SERVING");
    for (size_t i = 0; i < h->n; i++) {
        char *why = h->why[i];
        for (char *p = why; p != NULL && *p != '\0'; p++)
            if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20 || (unsigned char)*p >= 0x80)
                *p = '?';
        n += (size_t)snprintf(json + n, size - n, "%s\"%s\":\"%s%s%s\"", i ? "," : "",
                              gw->services[i]->name,
                              h->st[i] == SILK_OK ? "SERVING" : silk_status_str(h->st[i]),
                              why ? ": " : "", why ? why : "");
    }
    snprintf(json + n, size - n, "}}");
    int rv = respond(c, all ? 200 : 503, NULL, json, !c->http->req.keep_alive);
    free(json);
    return rv;
}

static void health_done(call *k)
{
    health *h = k->health;
    const Silk__Health__HealthCheckResponse *r = (const void *)k->resp;
    if (k->st == SILK_OK &&
        r->status != SILK__HEALTH__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING) {
        k->st = SILK_UNAVAILABLE;
        free(k->message);
        k->message = strdup("not serving");
    }
    h->st[k->index] = k->st;
    if (k->st != SILK_OK) {
        h->why[k->index] = k->message;
        k->message = NULL;
    }
    if (k->resp != NULL)
        protobuf_c_message_free_unpacked(k->resp, NULL);
    protobuf_c_message_free_unpacked(k->req, NULL);
    free(k->message);
    free(k);
    if (--h->pending > 0)
        return;
    conn *c = h->conn;
    if (c != NULL) {
        c->health = NULL;
        if (health_answer(c, h) != 0)
            conn_close(c, "out of memory");
        else
            conn_drive(c);
    }
    health_free(h);
}

/* start_health answers GET /healthz: the gateway itself, or with ?deep=1 every service it
 * routes, each asked Health/Check with a 2 s deadline. */
static int start_health(conn *c)
{
    silk__gw *gw = c->loop->gw;
    const silk__gw_http_request *req = &c->http->req;
    bool close = !req->keep_alive;
    char deep[8];
    if (silk__gw_http_query_get(req->query, "deep", deep, sizeof deep) < 0 ||
        strcmp(deep, "0") == 0 || strcmp(deep, "false") == 0 || gw->n_services == 0)
        return respond(c, 200, NULL, "{\"status\":\"SERVING\"}", close);

    health *h = calloc(1, sizeof *h);
    if (h == NULL || (h->st = calloc(gw->n_services, sizeof *h->st)) == NULL ||
        (h->why = calloc(gw->n_services, sizeof *h->why)) == NULL) {
        if (h != NULL)
            free(h->st);
        free(h);
        return -1;
    }
    h->conn = c;
    h->n = gw->n_services;
    h->pending = gw->n_services + 1; /* one for this function, so nothing answers early */
    c->health = h;
    c->state = CONN_CALLING;
    const silk_method_desc *check = &silk__health__health__silk_desc.methods[0];
    for (size_t i = 0; i < gw->n_services; i++) {
        call *k = calloc(1, sizeof *k);
        Silk__Health__HealthCheckRequest *hr = malloc(sizeof *hr);
        silk_ctx *ctx = silk_ctx_new();
        if (hr != NULL)
            silk__health__health_check_request__init(hr);
        if (k == NULL || hr == NULL || ctx == NULL ||
            (hr->service = strdup(gw->services[i]->name)) == NULL) {
            h->st[i] = SILK_RESOURCE_EXHAUSTED;
            free(k);
            if (hr != NULL)
                protobuf_c_message_free_unpacked(&hr->base, NULL);
            silk_ctx_free(ctx);
            h->pending--;
            continue;
        }
        silk_ctx_set_timeout(ctx, 2000);
        k->loop = c->loop;
        k->health = h;
        k->index = i;
        k->req = &hr->base;
        silk_status st = silk_call_async(gw->channels[i], ctx, check, &hr->base, on_call_done, k);
        if (st != SILK_OK) {
            const char *why = silk_ctx_message(ctx);
            h->st[i] = st;
            h->why[i] = strdup(why[0] != '\0' ? why : silk_status_str(st));
            protobuf_c_message_free_unpacked(&hr->base, NULL);
            free(k);
            h->pending--;
        }
        silk_ctx_free(ctx);
    }
    if (--h->pending > 0)
        return 0;
    c->health = NULL;
    int rv = health_answer(c, h);
    health_free(h);
    return rv;
}

/* ============================================================================
 * Hooks: silk.ws.Hooks of a session's service, called without blocking the loop.
 * ========================================================================== */

static int64_t now_ms(void)
{
    return (int64_t)(ev_time() * 1000);
}

/* hook_wanted tells whether a service's hook may exist: it has not answered UNIMPLEMENTED
 * lately, and the gateway is not closing its channels. */
static bool hook_wanted(silk__gw *gw, size_t service, int hook)
{
    return !atomic_load(&gw->hooks_off) &&
           atomic_load(&gw->hooks[service].missing_until_ms[hook]) <= now_ms();
}

static const char *const hook_names[SILK__GW_N_HOOKS] = {"OnOpen", "OnMessage", "OnClose"};

static void hook_missing(silk__gw *gw, size_t service, int hook)
{
    atomic_store(&gw->hooks[service].missing_until_ms[hook], now_ms() + HOOK_RETRY_MS);
    silk_log(SILK_LOG_INFO, LOG, "hook unimplemented hook=%s service=%s: not called for %d s",
             hook_names[hook], gw->services[service]->name, HOOK_RETRY_MS / 1000);
}

/* loop_maybe_stop ends a stopping loop once no connection and no hook call is left. */
static void loop_maybe_stop(silk__gw_loop *l)
{
    if (l->stopping && l->n_conns == 0 && l->hook_calls == 0)
        ev_break(l->ev, EVBREAK_ALL);
}

/* hook_call starts hook `hook` of a service for a session, with req (the call's, freed when it
 * completes); c is the connection that waits for it, or NULL. It returns SILK_OK, or why it
 * could not start (req is freed then too). */
static silk_status hook_call(silk__gw_loop *l, call_kind kind, int hook, size_t service,
                             const char *session_id, const char *business_id, ProtobufCMessage *req,
                             conn *c)
{
    silk__gw *gw = l->gw;
    call *k = calloc(1, sizeof *k);
    silk_ctx *ctx = silk_ctx_new();
    silk_status st = k != NULL && ctx != NULL ? SILK_OK : SILK_RESOURCE_EXHAUSTED;
    if (st == SILK_OK)
        st = silk_ctx_set(ctx, SILK_MD_BUSINESS_ID, business_id);
    if (st == SILK_OK)
        st = silk_ctx_set(ctx, SILK_MD_SESSION_ID, session_id);
    if (st == SILK_OK) {
        silk_ctx_set_timeout(ctx, HOOK_TIMEOUT_MS);
        k->loop = l;
        k->kind = kind;
        k->service = service;
        k->conn = c;
        k->req = req;
        snprintf(k->session_id, sizeof k->session_id, "%s", session_id);
        const silk_method_desc *m =
            silk_service_find_method(&silk__ws__hooks__silk_desc, hook_names[hook]);
        st = silk_call_async(gw->channels[service], ctx, m, req, on_call_done, k);
    }
    if (st != SILK_OK) {
        silk_log(SILK_LOG_DEBUG, LOG, "hook not called hook=%s session_id=%s status=%s why=\"%s\"",
                 hook_names[hook], session_id, silk_status_str(st),
                 ctx ? silk_ctx_message(ctx) : "");
        free(k);
        protobuf_c_message_free_unpacked(req, NULL);
    } else {
        l->hook_calls++;
        if (c != NULL)
            c->call = k;
    }
    silk_ctx_free(ctx);
    return st;
}

static int finish_open(conn *c, const char *subprotocol, uint16_t close_code,
                       const char *close_reason);

/* open_done completes a handshake after OnOpen: UNIMPLEMENTED and UNAVAILABLE (no hooks, or no
 * instance to ask) open the session as if there were no hooks; another error refuses it. */
static void open_done(call *k)
{
    conn *c = k->conn;
    silk__gw *gw = k->loop->gw;
    if (k->st == SILK_UNIMPLEMENTED)
        hook_missing(gw, k->service, SILK__GW_HOOK_OPEN);
    if (c == NULL)
        return;
    c->call = NULL;
    int rv;
    if (k->st == SILK_OK) {
        const Silk__Ws__OpenReply *r = (const void *)k->resp;
        rv = finish_open(c, r->subprotocol, r->close_code > 0xffff ? 1008 : (uint16_t)r->close_code,
                         r->close_reason);
    } else if (k->st == SILK_UNIMPLEMENTED || k->st == SILK_UNAVAILABLE) {
        rv = finish_open(c, NULL, 0, NULL);
    } else {
        const char *msg = k->message ? k->message : silk_status_str(k->st);
        silk_log(SILK_LOG_INFO, LOG, "session refused session_id=%s status=%s reason=\"%s\"",
                 c->session_id, silk_status_str(k->st), msg);
        c->session_id[0] = '\0';
        rv = respond_error(c, silk_status_http(k->st), k->st, msg, NULL, true);
    }
    if (rv != 0)
        conn_close(c, "cannot answer");
    else
        conn_drive(c);
}

/* start_message calls OnMessage with req for c's session. */
static void start_message(conn *c, ProtobufCMessage *req)
{
    if (hook_call(c->loop, CALL_MESSAGE, SILK__GW_HOOK_MESSAGE, c->service, c->session_id,
                  c->business_id, req, NULL) == SILK_OK)
        c->hook_calls++;
}

/* start_backlog calls OnMessage for the messages waiting, while there is room. */
static void start_backlog(conn *c)
{
    while (c->backlog != NULL && c->hook_calls < MAX_MESSAGE_HOOKS) {
        backlog *b = c->backlog;
        c->backlog = b->next;
        if (c->backlog == NULL)
            c->backlog_tail = NULL;
        start_message(c, b->req);
        free(b);
    }
}

static void backlog_free(conn *c)
{
    while (c->backlog != NULL) {
        backlog *b = c->backlog;
        c->backlog = b->next;
        protobuf_c_message_free_unpacked(b->req, NULL);
        free(b);
    }
    c->backlog_tail = NULL;
}

/* message_done sends OnMessage's reply, when there is one, to the session if it is still
 * there. */
static void message_done(call *k)
{
    silk__gw_conn *c = silk__gw_loop_find_conn(k->loop, k->session_id);
    if (k->st == SILK_UNIMPLEMENTED)
        hook_missing(k->loop->gw, k->service, SILK__GW_HOOK_MESSAGE);
    else if (k->st != SILK_OK)
        silk_log(SILK_LOG_WARN, LOG, "OnMessage failed session_id=%s status=%s reason=\"%s\"",
                 k->session_id, silk_status_str(k->st), k->message ? k->message : "");
    if (c == NULL)
        return;
    c->hook_calls--;
    start_backlog(c);
    const Silk__Ws__MessageReply *r = (const void *)k->resp;
    if (k->st == SILK_OK && r->data.len > 0 && c->ws != NULL) {
        if (silk__gw_ws_send(c->ws, r->binary, r->data.data, r->data.len) ==
            SILK__GW_WS_ERR_QUEUE_FULL) {
            c->closing_since = ev_now(c->loop->ev);
            silk_log(SILK_LOG_WARN, LOG, "slow consumer closed with 1008 session_id=%s",
                     c->session_id);
        }
    }
    conn_drive(c);
}

static void hook_done(call *k)
{
    silk__gw_loop *l = k->loop;
    switch (k->kind) {
    case CALL_OPEN:
        open_done(k);
        break;
    case CALL_MESSAGE:
        message_done(k);
        break;
    case CALL_CLOSE:
        if (k->st == SILK_UNIMPLEMENTED)
            hook_missing(l->gw, k->service, SILK__GW_HOOK_CLOSE);
        break;
    case CALL_HTTP:
        break;
    }
    if (k->resp != NULL)
        protobuf_c_message_free_unpacked(k->resp, NULL);
    protobuf_c_message_free_unpacked(k->req, NULL);
    free(k->message);
    free(k);
    l->hook_calls--;
    loop_maybe_stop(l);
}

/* new_request allocates an initialised message of a hook's input type; NULL when memory is
 * exhausted. */
static void *new_request(const ProtobufCMessageDescriptor *d)
{
    ProtobufCMessage *m = malloc(d->sizeof_message);
    if (m != NULL)
        protobuf_c_message_init(d, m);
    return m;
}

static void on_ws_message(void *arg, int binary, const uint8_t *data, size_t len)
{
    conn *c = arg;
    silk__gw *gw = c->loop->gw;
    silk_log(SILK_LOG_DEBUG, LOG, "message from session session_id=%s bytes=%zu binary=%d",
             c->session_id, len, binary);
    if (!hook_wanted(gw, c->service, SILK__GW_HOOK_MESSAGE) || c->loop->stopping)
        return;
    Silk__Ws__MessageRequest *req = new_request(&silk__ws__message_request__descriptor);
    char *sid = strdup(c->session_id), *bid = strdup(c->business_id);
    uint8_t *copy = malloc(len ? len : 1);
    if (req == NULL || sid == NULL || bid == NULL || copy == NULL) {
        free(req);
        free(sid);
        free(bid);
        free(copy);
        silk_log(SILK_LOG_WARN, LOG, "out of memory: message dropped session_id=%s", c->session_id);
        return;
    }
    memcpy(copy, data, len);
    req->session_id = sid;
    req->business_id = bid;
    req->route = strdup(gw->services[c->service]->route);
    req->data.data = copy;
    req->data.len = len;
    req->binary = binary != 0;
    if (req->route == NULL) {
        protobuf_c_message_free_unpacked(&req->base, NULL);
        return;
    }
    if (c->backlog == NULL && c->hook_calls < MAX_MESSAGE_HOOKS) {
        start_message(c, &req->base);
        return;
    }
    /* Enough in flight: the message waits, and reading stops until replies come back (what
     * wslay has read already still comes: a few KiB at most). */
    silk__gw_ws_pause(c->ws);
    backlog *b = malloc(sizeof *b);
    if (b == NULL) {
        protobuf_c_message_free_unpacked(&req->base, NULL);
        silk_log(SILK_LOG_WARN, LOG, "out of memory: message dropped session_id=%s", c->session_id);
        return;
    }
    b->next = NULL;
    b->req = &req->base;
    if (c->backlog_tail != NULL)
        c->backlog_tail->next = b;
    else
        c->backlog = b;
    c->backlog_tail = b;
}

/* call_on_close tells the service that a session has closed. */
static void call_on_close(conn *c)
{
    silk__gw *gw = c->loop->gw;
    if (!hook_wanted(gw, c->service, SILK__GW_HOOK_CLOSE))
        return;
    Silk__Ws__CloseEvent *req = new_request(&silk__ws__close_event__descriptor);
    if (req == NULL)
        return;
    uint16_t code = silk__gw_ws_close_sent(c->ws);
    if (code == 0)
        code = silk__gw_ws_close_received(c->ws);
    req->code = code ? code : 1006;
    req->session_id = strdup(c->session_id);
    req->business_id = strdup(c->business_id);
    req->route = strdup(gw->services[c->service]->route);
    if (req->session_id == NULL || req->business_id == NULL || req->route == NULL) {
        protobuf_c_message_free_unpacked(&req->base, NULL);
        return;
    }
    hook_call(c->loop, CALL_CLOSE, SILK__GW_HOOK_CLOSE, c->service, c->session_id, c->business_id,
              &req->base, NULL);
}

/* ============================================================================
 * WebSocket sessions
 * ========================================================================== */

static const silk__gw_ws_callbacks ws_callbacks = {.on_message = on_ws_message};

/* new_session_id writes "<gateway id>.<32 hex digits of getrandom()>"; -1 when the kernel
 * gives no randomness. */
static int new_session_id(const silk__gw *gw, char out[SILK__GW_SESSION_ID_MAX + 1])
{
    unsigned char r[16];
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t n = getrandom(r + got, sizeof r - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        got += (size_t)n;
    }
    int n = snprintf(out, SILK__GW_SESSION_ID_MAX + 1, "%s.", gw->opts.id);
    for (size_t i = 0; i < sizeof r; i++)
        n += snprintf(out + n, (size_t)(SILK__GW_SESSION_ID_MAX + 1 - n), "%02x", r[i]);
    return 0;
}

/* origin_allowed tells whether a handshake's Origin is one --allow-origin lists; a handshake
 * without an Origin (not from a browser) and a gateway without the flag allow any. */
static bool origin_allowed(const silk__gw *gw, const silk__gw_http_request *req)
{
    const char *origin = silk__gw_http_header_get(req, "Origin");
    if (gw->opts.n_origins == 0 || origin == NULL)
        return true;
    for (size_t i = 0; i < gw->opts.n_origins; i++)
        if (strcasecmp(origin, gw->opts.origins[i]) == 0)
            return true;
    return false;
}

/* subprotocols splits the client's Sec-WebSocket-Protocol headers into tokens copied into
 * buf; it returns how many (at most MAX_SUBPROTOCOLS). */
static size_t subprotocols(const silk__gw_http_request *req, char *buf, size_t size,
                           char *out[MAX_SUBPROTOCOLS])
{
    size_t n = 0, used = 0;
    for (size_t h = 0; h < req->n_headers; h++) {
        if (strcasecmp(req->headers[h].name, "Sec-WebSocket-Protocol") != 0)
            continue;
        const char *p = req->headers[h].value;
        while (*p != '\0' && n < MAX_SUBPROTOCOLS) {
            p += strspn(p, " \t,");
            size_t len = strcspn(p, " \t,");
            if (len == 0 || used + len + 1 > size)
                break;
            memcpy(buf + used, p, len);
            buf[used + len] = '\0';
            out[n++] = buf + used;
            used += len + 1;
            p += len;
        }
    }
    return n;
}

/* offered tells whether the client offered subprotocol. */
static bool offered(const silk__gw_http_request *req, const char *subprotocol)
{
    char buf[1024], *list[MAX_SUBPROTOCOLS];
    size_t n = subprotocols(req, buf, sizeof buf, list);
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], subprotocol) == 0)
            return true;
    return false;
}

/* start_open asks the service's OnOpen whether the session may open; the handshake waits. */
static int start_open(conn *c, const char *bid)
{
    silk__gw *gw = c->loop->gw;
    const silk__gw_http_request *req = &c->http->req;
    Silk__Ws__OpenRequest *o = new_request(&silk__ws__open_request__descriptor);
    char buf[1024], *list[MAX_SUBPROTOCOLS];
    size_t n = subprotocols(req, buf, sizeof buf, list);
    const char *origin = silk__gw_http_header_get(req, "Origin");
    bool ok = o != NULL;
    if (ok) {
        o->session_id = strdup(c->session_id);
        o->business_id = strdup(bid);
        o->route = strdup(gw->services[c->service]->route);
        o->origin = strdup(origin ? origin : "");
        o->query = strdup(req->query);
        o->subprotocols = n ? calloc(n, sizeof *o->subprotocols) : NULL;
        ok = o->session_id && o->business_id && o->route && o->origin && o->query &&
             (n == 0 || o->subprotocols != NULL);
        for (size_t i = 0; ok && i < n; i++) {
            ok = (o->subprotocols[i] = strdup(list[i])) != NULL;
            o->n_subprotocols = i + 1;
        }
    }
    if (!ok) {
        if (o != NULL)
            protobuf_c_message_free_unpacked(&o->base, NULL);
        c->session_id[0] = '\0';
        return respond_error(c, 503, SILK_UNAVAILABLE, "out of memory", NULL, true);
    }
    silk_status st = hook_call(c->loop, CALL_OPEN, SILK__GW_HOOK_OPEN, c->service, c->session_id,
                               bid, &o->base, c);
    if (st == SILK_UNAVAILABLE || st == SILK_UNIMPLEMENTED)
        return finish_open(c, NULL, 0, NULL); /* nobody to ask */
    if (st != SILK_OK) {
        c->session_id[0] = '\0';
        return respond_error(c, silk_status_http(st), st, "cannot call OnOpen", NULL, true);
    }
    c->state = CONN_CALLING; /* open_done goes on */
    return 0;
}

/* open_session checks a handshake and opens a session, asking OnOpen first when the service
 * may have hooks. */
static int open_session(conn *c, const silk__gw_route *r)
{
    silk__gw *gw = c->loop->gw;
    const silk__gw_http_request *req = &c->http->req;
    char accept[SILK__GW_WS_ACCEPT_LEN + 1];
    const char *why;

    int status = silk__gw_ws_handshake(req, accept, &why);
    if (status != 101)
        return respond_error(c, status, json_code(status), why,
                             status == 426 ? "Sec-WebSocket-Version: 13\r\n" : NULL, true);
    if (!origin_allowed(gw, req))
        return respond_error(c, 403, SILK_PERMISSION_DENIED, "this Origin is not allowed", NULL,
                             true);
    char bid[SILK__GW_BUSINESS_ID_MAX + 1];
    if (silk__gw_route_business_id(req, bid, sizeof bid) < 0)
        return respond_error(c, 400, SILK_INVALID_ARGUMENT, "businessId is required", NULL, true);
    if (c->loop->stopping)
        return respond_error(c, 503, SILK_UNAVAILABLE, "the gateway is shutting down", NULL, true);
    free(c->business_id);
    if ((c->business_id = strdup(bid)) == NULL || new_session_id(gw, c->session_id) != 0) {
        c->session_id[0] = '\0';
        return respond_error(c, 503, SILK_UNAVAILABLE, "cannot open a session", NULL, true);
    }
    c->service = (uint16_t)r->service_index;
    if (hook_wanted(gw, c->service, SILK__GW_HOOK_OPEN))
        return start_open(c, bid);
    return finish_open(c, NULL, 0, NULL);
}

/* finish_open completes the handshake of c, whose session id is chosen: it adds the session to
 * the table and answers 101, with the subprotocol OnOpen chose (NULL: none); a close_code
 * closes the session at once. */
static int finish_open(conn *c, const char *subprotocol, uint16_t close_code,
                       const char *close_reason)
{
    silk__gw_loop *l = c->loop;
    silk__gw *gw = l->gw;
    const silk__gw_http_request *req = &c->http->req;
    const char *route = gw->services[c->service]->route;
    char accept[SILK__GW_WS_ACCEPT_LEN + 1];

    if (l->stopping) {
        c->session_id[0] = '\0';
        return respond_error(c, 503, SILK_UNAVAILABLE, "the gateway is shutting down", NULL, true);
    }
    if (silk__gw_ws_handshake(req, accept, NULL) != 101) {
        c->session_id[0] = '\0';
        return respond_error(c, 500, SILK_INTERNAL, "the accept key could not be computed", NULL,
                             true);
    }
    if (subprotocol != NULL && subprotocol[0] != '\0' && !offered(req, subprotocol)) {
        silk_log(SILK_LOG_WARN, LOG, "OnOpen chose a subprotocol not offered subprotocol=%.100s",
                 subprotocol);
        subprotocol = NULL;
    }
    int rv = SILK__GW_SESSIONS_EXISTS;
    for (int tries = 0; tries < 2 && rv == SILK__GW_SESSIONS_EXISTS; tries++) {
        if (tries > 0 && new_session_id(gw, c->session_id) != 0)
            break;
        pthread_mutex_lock(&gw->lock);
        rv = silk__gw_sessions_add(&gw->sessions, c->session_id, route, c->business_id, c);
        pthread_mutex_unlock(&gw->lock);
    }
    if (rv != 0) {
        c->session_id[0] = '\0';
        return respond_error(c, 503, SILK_UNAVAILABLE, "cannot open a session", NULL, true);
    }
    c->opened = true;

    /* Bytes after the handshake are the client's first frames: wslay reads them first. */
    size_t pending_len = c->in ? c->in_len - c->in_off : 0;
    char *pending = NULL;
    if (pending_len > 0 && (pending = malloc(pending_len)) != NULL)
        memcpy(pending, c->in + c->in_off, pending_len);
    free(c->in);
    c->in = NULL;
    c->in_len = c->in_off = 0;
    silk__gw_ws_opts o = {.max_message = gw->opts.max_message, .max_queued = gw->opts.max_queued};
    c->ws = (pending_len == 0 || pending != NULL)
                ? silk__gw_ws_new(c->fd, &ws_callbacks, c, &o, pending, pending_len)
                : NULL;
    size_t len;
    char *out = c->ws ? silk__gw_ws_response(accept, c->session_id, subprotocol, &len) : NULL;
    if (out == NULL) {
        pthread_mutex_lock(&gw->lock);
        silk__gw_sessions_remove(&gw->sessions, c->session_id);
        pthread_mutex_unlock(&gw->lock);
        c->session_id[0] = '\0';
        c->opened = false;
        silk__gw_ws_free(c->ws);
        c->ws = NULL;
        return respond_error(c, 503, SILK_UNAVAILABLE, "out of memory", NULL, true);
    }
    count_request(l, "websocket", 101, ev_time() - c->req_start);
    silk_log(SILK_LOG_INFO, LOG, "session opened session_id=%s business_id=%s route=%s",
             c->session_id, c->business_id, route);
    silk__gw_http_parser_fini(c->http);
    free(c->http);
    c->http = NULL;
    c->state = CONN_WS;
    c->out = out;
    c->out_len = len;
    c->out_off = 0;
    c->close_after = false;
    c->last_active = ev_now(l->ev);
    ev_timer_stop(l->ev, &c->timer);
    ev_timer_set(&c->timer, gw->opts.ping_interval, 0.);
    ev_timer_start(l->ev, &c->timer);
    if (close_code != 0 && silk__gw_ws_close(c->ws, close_code, close_reason) == 0)
        c->closing_since = ev_now(l->ev);
    if (pending_len > 0 && close_code == 0 && silk__gw_ws_read(c->ws) != 0)
        return -1;
    return 0;
}

/* ============================================================================
 * Connections
 * ========================================================================== */

/* handle_request answers a complete request, or starts what will. It returns 0, or -1 when
 * the connection must be closed at once. */
static int handle_request(conn *c)
{
    silk__gw *gw = c->loop->gw;
    const silk__gw_http_request *req = &c->http->req;
    bool close = !req->keep_alive;
    char msg[300];
    silk__gw_route r;

    silk_log(SILK_LOG_DEBUG, LOG, "request method=%s path=%s", http_method_str(req->method),
             req->path);
    silk__gw_route_kind kind =
        silk__gw_route_find(gw->services, gw->n_services, req->method, req->path, &r);
    c->req_start = ev_time();
    c->req_route = kind == SILK__GW_ROUTE_CALL        ? r.method->path
                   : kind == SILK__GW_ROUTE_HEALTH    ? "/healthz"
                   : kind == SILK__GW_ROUTE_WEBSOCKET ? "websocket"
                                                      : "other";
    switch (kind) {
    case SILK__GW_ROUTE_HEALTH:
        return start_health(c);
    case SILK__GW_ROUTE_WEBSOCKET:
        return open_session(c, &r);
    case SILK__GW_ROUTE_CALL:
        if (c->loop->stopping)
            return respond_error(c, 503, SILK_UNAVAILABLE, "the gateway is shutting down", NULL,
                                 true);
        return start_call(c, &r);
    case SILK__GW_ROUTE_METRICS:
        return respond_metrics(c, close);
    case SILK__GW_ROUTE_BAD_METHOD: {
        char allow[128], header[160];
        snprintf(msg, sizeof msg, "%s is not allowed on %.200s", http_method_str(req->method),
                 req->path);
        snprintf(header, sizeof header, "Allow: %s\r\n",
                 silk__gw_route_allow(r.allow, allow, sizeof allow));
        return respond_error(c, 405, SILK_UNIMPLEMENTED, msg, header, close);
    }
    case SILK__GW_ROUTE_NONE:
    default:
        snprintf(msg, sizeof msg, "no route for %s %.200s", http_method_str(req->method),
                 req->path);
        return respond_error(c, 404, SILK_NOT_FOUND, msg, NULL, close);
    }
}

/* act answers what the parser said about the bytes fed to it: nothing yet, a malformed or
 * too large request, or a complete one. It returns 0, or -1 when the connection must be
 * closed at once. */
static int act(conn *c, int parsed)
{
    if (parsed == SILK__GW_HTTP_MORE)
        return 0;
    if (parsed < 0) {
        int status = silk__gw_http_error_status(parsed);
        silk_log(SILK_LOG_DEBUG, LOG, "bad request status=%d", status);
        return respond_error(c, status, json_code(status),
                             status == 400 ? "malformed HTTP request"
                                           : silk__gw_http_status_reason(status),
                             NULL, true);
    }
    return handle_request(c);
}

static void set_watcher(struct ev_loop *ev, ev_io *w, bool on)
{
    if (on && !ev_is_active(w))
        ev_io_start(ev, w);
    else if (!on && ev_is_active(w))
        ev_io_stop(ev, w);
}

static void update_watchers(conn *c)
{
    bool r = false, w = c->out != NULL;
    switch (c->state) {
    case CONN_READING:
        r = true;
        break;
    case CONN_CALLING:
    case CONN_WRITING:
        break;
    case CONN_WS:
        r = silk__gw_ws_want_read(c->ws) && c->backlog == NULL;
        w = w || silk__gw_ws_want_write(c->ws);
        break;
    }
    set_watcher(c->loop->ev, &c->rio, r);
    set_watcher(c->loop->ev, &c->wio, w);
}

/* flush_out writes the pending response: 1 when all of it is written, 0 when the socket
 * would block, -1 on a socket error. */
static int flush_out(conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (n < 0)
            return -1;
        c->out_off += (size_t)n;
    }
    free(c->out);
    c->out = NULL;
    c->out_len = c->out_off = 0;
    return 1;
}

/* conn_drive moves a connection along until it waits for its socket or a call: it writes
 * what is pending, parses requests already read, and closes the connection when it is done.
 * It returns 0, or -1 when it closed (and freed) c. */
static int conn_drive(conn *c)
{
    for (;;) {
        if (c->out != NULL) {
            int rv = flush_out(c);
            if (rv < 0) {
                conn_close(c, "send failed");
                return -1;
            }
            if (rv == 0)
                break;
            if (c->close_after) {
                conn_close(c, NULL);
                return -1;
            }
            if (c->state == CONN_WRITING) {
                silk__gw_http_reset(c->http);
                c->state = CONN_READING;
                c->continued = false;
                c->req_start = 0;
                c->req_route = NULL;
            }
        }
        if (c->state == CONN_READING && c->in != NULL) {
            size_t used;
            int parsed =
                silk__gw_http_feed(c->http, c->in + c->in_off, c->in_len - c->in_off, &used);
            c->in_off += used;
            if (c->in_off == c->in_len) {
                free(c->in);
                c->in = NULL;
                c->in_len = c->in_off = 0;
            }
            if (act(c, parsed) != 0) {
                conn_close(c, "cannot answer");
                return -1;
            }
            continue;
        }
        if (c->state == CONN_WS && c->out == NULL) {
            if (silk__gw_ws_want_write(c->ws) && silk__gw_ws_write(c->ws) != 0) {
                conn_close(c, NULL);
                return -1;
            }
            if (silk__gw_ws_finished(c->ws)) {
                conn_close(c, NULL);
                return -1;
            }
        }
        break;
    }
    update_watchers(c);
    return 0;
}

static void on_readable(struct ev_loop *ev, ev_io *w, int revents)
{
    conn *c = w->data;
    silk__gw_loop *l = c->loop;
    (void)revents;
    c->last_active = ev_now(ev);

    if (c->state == CONN_WS) {
        if (silk__gw_ws_read(c->ws) != 0) {
            conn_close(c, NULL);
            return;
        }
        conn_drive(c);
        return;
    }
    ssize_t n = recv(c->fd, l->rbuf, sizeof l->rbuf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        conn_close(c, NULL);
        return;
    }
    size_t used;
    int parsed = silk__gw_http_feed(c->http, l->rbuf, (size_t)n, &used);
    if (parsed == SILK__GW_HTTP_DONE && used < (size_t)n) {
        /* Keep what follows the request, the next request or WebSocket frames, before the
         * request is handled: an upgrade hands them to wslay. */
        c->in = malloc((size_t)n - used);
        if (c->in == NULL) {
            conn_close(c, "out of memory");
            return;
        }
        memcpy(c->in, l->rbuf + used, (size_t)n - used);
        c->in_len = (size_t)n - used;
        c->in_off = 0;
    }
    if (parsed == SILK__GW_HTTP_MORE && !c->continued && silk__gw_http_headers_complete(c->http) &&
        silk__gw_http_header_has_token(&c->http->req, "Expect", "100-continue")) {
        /* The client waits for this before it sends the body. It is advisory: when the
         * socket cannot take it now, the client sends the body after its own timeout. */
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        ssize_t sent = send(c->fd, cont, sizeof cont - 1, MSG_NOSIGNAL);
        (void)sent;
        c->continued = true;
    }
    if (act(c, parsed) != 0) {
        conn_close(c, "cannot answer");
        return;
    }
    conn_drive(c);
}

static void on_writable(struct ev_loop *ev, ev_io *w, int revents)
{
    (void)ev;
    (void)revents;
    conn_drive(w->data);
}

static void on_timer(struct ev_loop *ev, ev_timer *w, int revents)
{
    conn *c = w->data;
    const silk__gw_opts *o = &c->loop->gw->opts;
    ev_tstamp now = ev_now(ev);
    ev_tstamp idle = now - c->last_active;
    ev_tstamp next;
    (void)revents;

    switch (c->state) {
    case CONN_CALLING: /* the call has its own deadline */
        next = o->idle_timeout;
        break;
    case CONN_READING:
    case CONN_WRITING:
        if (idle >= o->idle_timeout) {
            conn_close(c, "idle");
            return;
        }
        next = o->idle_timeout - idle;
        break;
    case CONN_WS:
    default:
        if (c->closing_since > 0 && now - c->closing_since >= CLOSE_TIMEOUT) {
            conn_close(c, "no answer to close");
            return;
        }
        if (idle >= 2 * o->ping_interval) {
            conn_close(c, "no pong");
            return;
        }
        if (c->closing_since > 0) {
            next = CLOSE_TIMEOUT - (now - c->closing_since);
        } else if (idle >= o->ping_interval) {
            silk__gw_ws_ping(c->ws);
            if (conn_drive(c) != 0)
                return;
            next = o->ping_interval;
        } else {
            next = o->ping_interval - idle;
        }
        break;
    }
    ev_timer_set(w, next, 0.);
    ev_timer_start(ev, w);
}

static conn *conn_open(silk__gw_loop *l, int fd)
{
    conn *c = calloc(1, sizeof *c);
    if (c == NULL || (c->http = malloc(sizeof *c->http)) == NULL) {
        free(c);
        return NULL;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    silk__gw_http_parser_init(c->http);
    c->loop = l;
    c->fd = fd;
    c->state = CONN_READING;
    c->last_active = ev_now(l->ev);
    ev_io_init(&c->rio, on_readable, fd, EV_READ);
    ev_io_init(&c->wio, on_writable, fd, EV_WRITE);
    ev_timer_init(&c->timer, on_timer, l->gw->opts.idle_timeout, 0.);
    c->rio.data = c->wio.data = c->timer.data = c;
    ev_io_start(l->ev, &c->rio);
    ev_timer_start(l->ev, &c->timer);
    c->next = l->conns;
    if (l->conns != NULL)
        l->conns->prev = c;
    l->conns = c;
    l->n_conns++;
    return c;
}

static void conn_close(conn *c, const char *why)
{
    silk__gw_loop *l = c->loop;
    silk__gw *gw = l->gw;

    if (c->opened) {
        call_on_close(c);
        pthread_mutex_lock(&gw->lock);
        silk__gw_sessions_remove(&gw->sessions, c->session_id);
        pthread_mutex_unlock(&gw->lock);
        silk_log(SILK_LOG_INFO, LOG,
                 "session closed session_id=%s code_sent=%u code_received=%u%s%s", c->session_id,
                 silk__gw_ws_close_sent(c->ws), silk__gw_ws_close_received(c->ws),
                 why ? " reason=" : "", why ? why : "");
    } else if (why != NULL) {
        silk_log(SILK_LOG_DEBUG, LOG, "connection closed reason=%s", why);
    }
    if (c->call != NULL)
        c->call->conn = NULL;
    if (c->health != NULL)
        c->health->conn = NULL;
    ev_io_stop(l->ev, &c->rio);
    ev_io_stop(l->ev, &c->wio);
    ev_timer_stop(l->ev, &c->timer);
    if (c->state != CONN_WS) {
        /* Closing with unread bytes sends a reset, which can destroy the answer we just sent
         * (a 413 before the rest of the body): end our side and drop what has arrived. */
        shutdown(c->fd, SHUT_WR);
        for (int i = 0; i < 16 && recv(c->fd, l->rbuf, sizeof l->rbuf, MSG_DONTWAIT) > 0; i++)
            ;
    }
    close(c->fd);
    if (c->http != NULL) {
        silk__gw_http_parser_fini(c->http);
        free(c->http);
    }
    silk__gw_ws_free(c->ws);
    backlog_free(c);
    free(c->business_id);
    free(c->in);
    free(c->out);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        l->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    l->n_conns--;
    free(c);
    loop_maybe_stop(l);
}

/* ============================================================================
 * What the loop asks of its connections
 * ========================================================================== */

silk__gw_conn *silk__gw_conn_open(silk__gw_loop *l, int fd)
{
    return conn_open(l, fd);
}

void silk__gw_conn_close(silk__gw_conn *c, const char *why)
{
    conn_close(c, why);
}

silk__gw_loop *silk__gw_conn_loop(const silk__gw_conn *c)
{
    return c->loop;
}

void silk__gw_conn_send(silk__gw_conn *c, const silk__gw_payload *p)
{
    if (c->ws == NULL)
        return;
    pthread_mutex_lock(&c->loop->metrics_lock);
    c->loop->metrics.pushes_sent++;
    pthread_mutex_unlock(&c->loop->metrics_lock);
    if (silk__gw_ws_send(c->ws, p->binary, p->data, p->len) == SILK__GW_WS_ERR_QUEUE_FULL) {
        c->closing_since = ev_now(c->loop->ev);
        silk_log(SILK_LOG_WARN, LOG, "slow consumer closed with 1008 session_id=%s", c->session_id);
    }
    conn_drive(c);
}

void silk__gw_conn_close_session(silk__gw_conn *c, uint16_t code, const char *reason)
{
    if (c->ws == NULL)
        return;
    if (silk__gw_ws_close(c->ws, code, reason) == 0)
        c->closing_since = ev_now(c->loop->ev);
    conn_drive(c);
}

void silk__gw_conn_shutdown_all(silk__gw_loop *l)
{
    conn *next;
    for (conn *c = l->conns; c != NULL; c = next) {
        next = c->next;
        switch (c->state) {
        case CONN_WS:
            silk__gw_conn_close_session(c, 1001, "going away");
            break;
        case CONN_READING:
            conn_close(c, NULL);
            break;
        case CONN_CALLING:
        case CONN_WRITING:
            c->close_after = true; /* answer what is in flight, then close */
            break;
        }
    }
}
