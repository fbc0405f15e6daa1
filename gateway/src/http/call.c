/* call.c - a method called for an HTTP request: its message built from the body, query and
 * path, its answer made JSON. */
#include <ctype.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <silk/ctx.h>
#include <silk/json.h>
#include <silk/log.h>

#include "auth/auth.h"
#include "core/scratch.h"
#include "conn/client.h"
#include "http/bodies.h"

#define LOG "gateway"

typedef silk__gw_client client;
typedef silk__gw_client_call call;

static void count_upstream_failure(silk__gw_loop *l, int code)
{
    pthread_mutex_lock(&l->metrics_lock);
    silk__gw_metrics_upstream_failure(&l->metrics, code);
    pthread_mutex_unlock(&l->metrics_lock);
}

/* answer_ok answers a call's response as JSON (wrapped with --wrap-response), made on this
 * stack when it fits. */
static int answer_ok(client *c, const ProtobufCMessage *resp, bool close)
{
    char err[256], buf[4096], *json = NULL;
    size_t len = 0;
    silk_status st =
        silk_json_from_message_buf(resp, buf, sizeof buf, &json, &len, err, sizeof err);
    if (st == SILK_OK && c->loop->gw->opts.wrap_response) {
        char *wrapped = silk__gw_body_wrapped(200, SILK_OK, json, NULL);
        if (json != buf)
            free(json);
        json = wrapped;
        len = json != NULL ? strlen(json) : 0;
        if (json == NULL)
            st = SILK_RESOURCE_EXHAUSTED;
    }
    int rv;
    if (st == SILK_OK)
        rv = silk__gw_respond_typed(c, 200, NULL, "application/json", json, len, close);
    else
        rv = silk__gw_respond_error(c, 500, SILK_INTERNAL, err, NULL, close);
    if (json != buf)
        free(json);
    return rv;
}

/* answer answers the request of a completed call on its connection. */
static void answer(client *c, const silk__gw_call *k)
{
    c->call = NULL;
    int rv;
    bool close = !c->http->req.keep_alive;
    if (k->st == SILK_OK) {
        rv = answer_ok(c, k->resp, close);
    } else {
        const char *msg = k->message ? k->message : silk_status_str(k->st);
        count_upstream_failure(c->loop, (int)k->st);
        rv = silk__gw_respond_error(c, silk__gw_http_status(k->st), k->st, msg, NULL, close);
    }
    if (rv != 0)
        silk__gw_client_close(c, "out of memory");
    else
        silk__gw_client_drive(c);
}

/* call_done is an HTTP call's completion: it answers the request, if the client is still
 * there, and frees the call. */
static void call_done(silk__gw_call *base)
{
    call *k = (call *)base;
    silk__gw_loop *l = base->loop;
    if (k->client != NULL)
        answer(k->client, base);
    silk__gw_call_fini(base);
    silk__spares_give(&l->spare_http_calls, k, SILK__SPARE_CALLS);
}

/* ============================================================================
 * The request message: POST /<route>/<method> with a JSON body, or the query's fields.
 * ========================================================================== */

/* request_business_id finds the business id of a call into *out: the request's business_id
 * field (as the method's descriptor names it), else the query or a header; NULL when there is
 * none. It returns 0, or -1 when the id is not silk__gw_business_id_valid. */
static int request_business_id(const silk_method_desc *method, const ProtobufCMessage *msg,
                               const silk__gw_http_request *req, char *buf, size_t size,
                               const char **out)
{
    const char *v = silk_method_business_id(method, msg);
    if (v != NULL) {
        *out = v;
        return silk__gw_business_id_valid(v, strlen(v)) ? 0 : -1;
    }
    long n = silk__gw_route_business_id(req, buf, size);
    *out = n > 0 ? buf : NULL;
    return n == -2 ? -1 : 0;
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

/* message_from_body makes *msg from the request's JSON body (empty: the empty message), with
 * mem (NULL: malloc). On an error err is set, and *http_status too when it is not 400. */
static silk_status message_from_body(const silk__gw_http_request *req,
                                     const ProtobufCMessageDescriptor *desc,
                                     ProtobufCAllocator *mem, ProtobufCMessage **msg,
                                     int *http_status, char *err, size_t err_size)
{
    const char *type = silk__gw_http_header_get(req, "Content-Type");
    /* A body without a type is not taken for JSON: a cross-site form POST with one would run
     * without a CORS preflight. */
    if (req->body_len > 0 && (type == NULL || !is_json_type(type))) {
        *http_status = 415;
        if (type == NULL)
            snprintf(err, err_size, "the body must be application/json; it has no Content-Type");
        else
            snprintf(err, err_size, "the body must be application/json, not %.100s", type);
        return SILK_INVALID_ARGUMENT;
    }
    bool blank = is_blank(req->body, req->body_len);
    return silk_json_to_message_in(desc, blank ? "{}" : req->body, blank ? 2 : req->body_len, mem,
                                   msg, err, err_size);
}

/* set_query_fields sets msg's fields from the query parameters. Every name of the business id
 * fills business_id, when the message has one; it travels as metadata either way. With a key,
 * access_token is the gateway's (the bearer token) and fills no field. */
static silk_status set_query_fields(const silk__gw_http_request *req, bool token_param,
                                    ProtobufCMessage *msg, char *err, size_t err_size)
{
    size_t qlen = strlen(req->query) + 1;
    char name[256], *value = malloc(qlen);
    const char *cursor = req->query;
    silk_status st = SILK_OK;
    int rv;
    if (value == NULL) {
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
        const char *field = name;
        if (token_param && silk__gw_auth_is_token_param(name))
            continue;
        if (silk__gw_route_is_business_id_name(name)) {
            if (protobuf_c_message_descriptor_get_field_by_name(msg->descriptor, "business_id") ==
                NULL)
                continue;
            field = "business_id";
        }
        char why[256];
        st = silk_json_set_field(msg, field, value, why, sizeof why);
        if (st != SILK_OK)
            snprintf(err, err_size, "query parameter %.100s: %s", name, why);
    }
    free(value);
    return st;
}

/* set_path_fields sets msg's fields from the path's {field}s. */
static silk_status set_path_fields(const silk__gw_route *r, ProtobufCMessage *msg, char *err,
                                   size_t err_size)
{
    silk_status st = SILK_OK;
    for (size_t i = 0; st == SILK_OK && i < r->n_params; i++) {
        const silk__gw_route_param *p = &r->params[i];
        char name[128], value[1024], why[256];
        snprintf(name, sizeof name, "%.*s", (int)p->name_len, p->name);
        if (silk__gw_http_url_decode(p->value, p->value_len, value, sizeof value) < 0) {
            snprintf(err, err_size, "path parameter %s: badly escaped or too long", name);
            return SILK_INVALID_ARGUMENT;
        }
        st = silk_json_set_field(msg, name, value, why, sizeof why);
        if (st != SILK_OK)
            snprintf(err, err_size, "path parameter %s: %s", name, why);
    }
    return st;
}

/* build_request makes a call's request message from the HTTP request: the JSON body for POST,
 * PUT and PATCH, the query parameters for GET and DELETE, then the path's {field}s. A body
 * alone is decoded with mem; fields set one by one (silk_json_set_field) need malloc. It
 * returns SILK_OK with *out the caller's, to free with *out_mem (mem or NULL), or an error
 * with err set and *http_status the answer's status (415 for a body that is not JSON, 503 when
 * memory is exhausted, 400 otherwise). */
static silk_status build_request(const silk__gw_http_request *req, const silk__gw_route *r,
                                 bool token_param, ProtobufCAllocator *mem, ProtobufCMessage **out,
                                 ProtobufCAllocator **out_mem, int *http_status, char *err,
                                 size_t err_size)
{
    const ProtobufCMessageDescriptor *desc = r->method->input;
    ProtobufCMessage *msg = NULL;
    silk_status st;
    *out = NULL;
    *out_mem = NULL;
    *http_status = 400;
    bool from_query =
        req->method == HTTP_GET || req->method == HTTP_HEAD || req->method == HTTP_DELETE;
    if (!from_query) {
        if (r->n_params == 0)
            *out_mem = mem;
        st = message_from_body(req, desc, *out_mem, &msg, http_status, err, err_size);
        if (st != SILK_OK) {
            if (st == SILK_RESOURCE_EXHAUSTED)
                *http_status = 503;
            return st;
        }
    } else {
        st = silk_json_to_message(desc, "{}", 2, &msg, err, err_size);
        if (st != SILK_OK)
            return st;
        st = set_query_fields(req, token_param, msg, err, err_size);
    }
    if (st == SILK_OK)
        st = set_path_fields(r, msg, err, err_size);
    if (st != SILK_OK) {
        protobuf_c_message_free_unpacked(msg, *out_mem);
        if (st == SILK_RESOURCE_EXHAUSTED)
            *http_status = 503;
        return st;
    }
    *out = msg;
    return SILK_OK;
}

/* ============================================================================
 * The call
 * ========================================================================== */

/* set_metadata puts the call's metadata into ctx: the business id, an Idempotency-Key header
 * as "idempotency-key" (a retried call's pushes are not sent twice: docs/gateway.md,
 * "Streams"), the headers named by --forward-header under their lower-cased names, and last
 * the verified identity (claims zeroed: none). It returns SILK_OK or why not. */
static silk_status set_metadata(const silk__gw *gw, silk_ctx *ctx, const char *bid,
                                const silk__gw_http_request *req, const silk__gw_jwt_claims *claims)
{
    silk_status st = SILK_OK;
    const char *idem = silk__gw_http_header_get(req, "Idempotency-Key");
    if (bid != NULL)
        st = silk_ctx_set(ctx, SILK_MD_BUSINESS_ID, bid);
    if (st == SILK_OK && idem != NULL && idem[0] != '\0')
        st = silk_ctx_set(ctx, SILK_MD_IDEMPOTENCY_KEY, idem);
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
    if (st == SILK_OK)
        st = silk__gw_auth_set_metadata(ctx, claims->subject, claims->json);
    return st;
}

/* call_async starts k's call of r's method; on an error it writes why into err. */
static silk_status call_async(silk__gw_loop *l, const silk__gw_route *r, silk_ctx *ctx, call *k,
                              char *err, size_t err_size)
{
    silk_status st = silk__gw_upstream_call(l, &k->call, r->service_index, ctx, r->method);
    if (st != SILK_OK) {
        const char *why = silk_ctx_message(ctx);
        snprintf(err, err_size, "cannot call %s: %s", r->method->path,
                 why[0] != '\0' ? why : silk_status_str(st));
    }
    return st;
}

/* start_call calls r's method with msg (read only until it returns) for c's request, as
 * claims allow; it answers why not itself. It returns 0, or -1 when the connection must be
 * closed. */
static int start_call(client *c, const silk__gw_route *r, ProtobufCMessage *msg,
                      const silk__gw_jwt_claims *claims)
{
    silk__gw *gw = c->loop->gw;
    const silk__gw_http_request *req = &c->http->req;
    bool close = !req->keep_alive;
    char err[512];
    const char *why = NULL;

    call *k = silk__spares_take(&c->loop->spare_http_calls, sizeof *k);
    if (k != NULL)
        *k = (call){.client = NULL};
    silk_ctx *ctx = silk__gw_upstream_ctx(c->loop);
    char bid_buf[SILK__GW_BUSINESS_ID_MAX + 1];
    const char *bid = NULL;
    bool bad_id = request_business_id(r->method, msg, req, bid_buf, sizeof bid_buf, &bid) != 0;
    bool oom = k == NULL || ctx == NULL;
    silk_status st = SILK_OK;
    int denied = bad_id ? 0 : silk__gw_auth_business(gw->opts.jwt, claims, bid, &why);
    if (oom) {
        st = SILK_RESOURCE_EXHAUSTED;
    } else if (bad_id) {
        st = SILK_INVALID_ARGUMENT;
        snprintf(err, sizeof err, "%s", SILK__GW_BUSINESS_ID_RULE);
    } else if (denied != 0) {
        st = SILK_PERMISSION_DENIED;
    } else if ((st = set_metadata(gw, ctx, bid, req, claims)) != SILK_OK) {
        snprintf(err, sizeof err, "a header cannot travel as metadata");
    } else {
        k->call.done = call_done;
        k->call.req = msg; /* encoded by the call, never kept */
        k->client = c;
        if ((st = call_async(c->loop, r, ctx, k, err, sizeof err)) != SILK_OK)
            count_upstream_failure(c->loop, (int)st);
        k->call.req = NULL;
    }
    silk__gw_upstream_ctx_done(c->loop, ctx);
    if (st != SILK_OK) {
        silk__spares_give(&c->loop->spare_http_calls, k, SILK__SPARE_CALLS);
        if (oom)
            return silk__gw_respond_error(c, 503, SILK_UNAVAILABLE, "out of memory", NULL, true);
        if (denied != 0)
            return silk__gw_respond_auth(c, denied, why, close);
        return silk__gw_respond_error(c, silk__gw_http_status(st), st, err, NULL, close);
    }
    c->call = k;
    c->state = SILK__GW_CLIENT_CALLING;
    silk_log(SILK_LOG_DEBUG, LOG, "call started method=%s business_id=%s", r->method->path,
             bid ? bid : "");
    return 0;
}

int silk__gw_call_start(client *c, const silk__gw_route *r)
{
    SILK__GW_ASSERT_ON_LOOP(c->loop);
    const silk__gw_jwt *jwt = c->loop->gw->opts.jwt;
    const silk__gw_http_request *req = &c->http->req;
    bool close = !req->keep_alive;
    char err[512];
    ProtobufCMessage *msg = NULL;
    int http_status;
    silk__gw_jwt_claims claims;
    const char *why = NULL;

    int status =
        silk__gw_auth_request(jwt, req, r->method->public_access, ev_time(), &claims, &why);
    if (status != 0)
        return silk__gw_respond_auth(c, status, why, close);
    silk__scratch mem; /* the request's, when it is its body alone */
    silk__scratch_init(&mem);
    ProtobufCAllocator *msg_mem;
    silk_status st = build_request(req, r, jwt != NULL, &mem.allocator, &msg, &msg_mem,
                                   &http_status, err, sizeof err);
    int rv = st == SILK_OK ? start_call(c, r, msg, &claims)
                           : silk__gw_respond_error(c, http_status, st, err, NULL, close);
    if (msg != NULL)
        protobuf_c_message_free_unpacked(msg, msg_mem);
    silk__scratch_fini(&mem);
    silk__gw_jwt_claims_fini(&claims);
    return rv;
}
