/* request.c - one HTTP request of a connection: routed to what answers it, and the responses. */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <silk/log.h>

#include "auth/auth.h"
#include "conn/client.h"
#include "http/bodies.h"
#include "http/console.h"
#include "http/cors.h"
#include "http/openapi.h"
#include "core/mutex.h"

#define LOG "gateway"

typedef silk__gw_client client;

/* ============================================================================
 * Responses
 * ========================================================================== */

silk_status silk__gw_http_error_code(int http_status)
{
    switch (http_status) {
    case 404:
        return SILK_NOT_FOUND;
    case 405:
        return SILK_UNIMPLEMENTED;
    case 413:
    case 429:
    case 431:
        return SILK_RESOURCE_EXHAUSTED;
    case 408:
        return SILK_DEADLINE_EXCEEDED;
    case 426:
        return SILK_FAILED_PRECONDITION;
    case 500:
        return SILK_INTERNAL;
    case 501:
        return SILK_UNIMPLEMENTED;
    case 503:
        return SILK_UNAVAILABLE;
    default:
        return SILK_INVALID_ARGUMENT;
    }
}

void silk__gw_count_request(silk__gw_loop *l, const char *route, int status, double seconds)
{
    SILK__GW_ASSERT_ON_LOOP(l);
    pthread_mutex_lock(&l->metrics_lock);
    silk__gw_metrics_request(&l->metrics, route, status, seconds);
    pthread_mutex_unlock(&l->metrics_lock);
}

/* send_now writes the response out (len bytes in the loop's write buffer) as far as the
 * socket takes it, and leaves the rest, if any, for c to write. It returns 0, or -1 when
 * memory is exhausted. */
static int send_now(client *c, const char *out, size_t len)
{
    ssize_t n = silk__gw_io_write(&c->io, out, len);
    size_t sent = n > 0 ? (size_t)n : 0; /* an error shows again when c writes the rest */
    if (sent == len)
        return 0; /* silk__gw_client_drive ends the response: its state is WRITING */
    char *rest = malloc(len - sent);
    if (rest == NULL)
        return -1;
    memcpy(rest, out + sent, len - sent);
    return silk__gw_client_set_out(c, rest, len - sent);
}

/* respond_as sets the response to write: status, a body of type (none when type is NULL),
 * and no header but those given. A response with nothing ahead of it is made in the loop's
 * write buffer and written at once; else c keeps it until the socket takes it. It returns 0,
 * or -1 when memory is exhausted. */
static int respond_as(client *c, int status, const char *extra_headers, const char *type,
                      const char *body, size_t body_len, bool close)
{
    silk__gw_loop *l = c->loop;
    close = close || l->stopping;
    size_t room = silk__gw_http_response_room(status, extra_headers, type, body_len);
    bool now = c->out == NULL && c->state != SILK__GW_CLIENT_WS && room <= sizeof l->wbuf;
    char *out = now ? l->wbuf : malloc(room);
    if (out == NULL)
        return -1;
    size_t len =
        silk__gw_http_response_write(out, status, extra_headers, type, body, body_len, close);
    if (c->http != NULL && c->http->req.method == HTTP_HEAD) {
        char *end = strstr(out, "\r\n\r\n");
        len = (size_t)(end + 4 - out); /* the head only: Content-Length still says the size */
    }
    if ((now ? send_now(c, out, len) : silk__gw_client_set_out(c, out, len)) != 0)
        return -1;
    c->close_after = close;
    if (c->state != SILK__GW_CLIENT_WS) {
        c->state = SILK__GW_CLIENT_WRITING;
        double t = ev_time();
        silk__gw_count_request(l, c->req_route ? c->req_route : "other", status,
                               c->req_start > 0 ? t - c->req_start : 0);
    }
    return 0;
}

/* respond_with is respond_as with the CORS headers of the response (http/cors.h) before
 * extra_headers: never on a WebSocket handshake's, which browsers do not check for them. */
static int respond_with(client *c, int status, const char *extra_headers, const char *type,
                        const char *body, size_t body_len, bool close)
{
    const silk__gw_opts *o = &c->loop->gw->opts;
    if (o->n_cors_origins == 0 || c->http == NULL || c->state == SILK__GW_CLIENT_WS ||
        silk__gw_http_header_get(&c->http->req, "Upgrade") != NULL)
        return respond_as(c, status, extra_headers, type, body, body_len, close);
    char buf[2048], *heap = NULL;
    size_t n = silk__gw_cors_response_headers(o, &c->http->req, buf, sizeof buf);
    size_t extra = extra_headers ? strlen(extra_headers) : 0;
    char *headers = buf;
    if (n + extra + 1 > sizeof buf) {
        if ((heap = malloc(n + extra + 1)) == NULL)
            return -1;
        memcpy(heap, buf, n);
        headers = heap;
    }
    memcpy(headers + n, extra_headers ? extra_headers : "", extra + 1);
    int rv = respond_as(c, status, headers, type, body, body_len, close);
    free(heap);
    return rv;
}

int silk__gw_respond_typed(client *c, int status, const char *extra_headers, const char *type,
                           const char *body, size_t body_len, bool close)
{
    return respond_with(c, status, extra_headers, type, body, body_len, close);
}

int silk__gw_respond(client *c, int status, const char *extra_headers, const char *json, bool close)
{
    return respond_with(c, status, extra_headers, json ? "application/json" : NULL, json,
                        json ? strlen(json) : 0, close);
}

int silk__gw_respond_error(client *c, int status, silk_status code, const char *message,
                           const char *extra_headers, bool close)
{
    char *json = c->loop->gw->opts.wrap_response
                     ? silk__gw_body_wrapped(status, code, NULL, message)
                     : silk__gw_body_error(code, message);
    if (json == NULL)
        return -1;
    int rv = silk__gw_respond(c, status, extra_headers, json, close);
    free(json);
    return rv;
}

int silk__gw_respond_auth(client *c, int status, const char *why, bool close)
{
    silk_log(SILK_LOG_INFO, LOG, "request refused status=%d reason=\"%s\"", status, why);
    if (status == 401)
        return silk__gw_respond_error(c, 401, SILK_UNAUTHENTICATED, why, SILK__GW_AUTH_CHALLENGE,
                                      close);
    return silk__gw_respond_error(c, 403, SILK_PERMISSION_DENIED, why, NULL, close);
}

bool silk__gw_token_ok(client *c, bool close, int *rv)
{
    silk__gw_jwt_claims claims;
    const char *why = NULL;
    int status = silk__gw_auth_request(c->loop->gw->opts.jwt, &c->http->req, false, ev_time(),
                                       &claims, &why);
    silk__gw_jwt_claims_fini(&claims);
    if (status == 0)
        return true;
    *rv = silk__gw_respond_auth(c, status, why, close);
    return false;
}

/* respond_metrics answers GET /metrics: the metrics of every loop, added up. */
static int respond_metrics(client *c, bool close)
{
    silk__gw *gw = c->loop->gw;
    int rv = 0;
    if (!silk__gw_token_ok(c, close, &rv))
        return rv;
    silk__mutex_lock(&gw->lock);
    size_t sessions = silk__gw_sessions_count(&gw->sessions);
    silk__mutex_unlock(&gw->lock);
    silk__gw_metrics all = {0};
    size_t clients = 0;
    for (size_t i = 0; i < gw->opts.workers; i++) {
        silk__gw_loop *l = gw->loops[i];
        pthread_mutex_lock(&l->metrics_lock);
        silk__gw_metrics_add(&all, &l->metrics);
        pthread_mutex_unlock(&l->metrics_lock);
        clients += atomic_load(&l->n_clients);
    }
    for (int i = 0; i < SILK__GW_SM_METHODS; i++)
        all.session_manager_calls[i] = atomic_load(&gw->session_manager_calls[i]);
    for (int i = 0; i < 2; i++) {
        all.recoveries[i] = atomic_load(&gw->recoveries[i]);
        all.history_appends[i] = atomic_load(&gw->history_appends[i]);
    }
    char *text = silk__gw_metrics_text(&all, sessions, clients);
    silk__gw_metrics_fini(&all);
    if (text == NULL)
        return -1;
    rv = respond_with(c, 200, NULL, "text/plain; version=0.0.4; charset=utf-8", text, strlen(text),
                      close);
    free(text);
    return rv;
}

/* ============================================================================
 * Routing
 * ========================================================================== */

/* respond_bad_method answers 405 with the verbs the path allows. */
static int respond_bad_method(client *c, const silk__gw_route *r, bool close)
{
    const silk__gw_http_request *req = &c->http->req;
    char msg[300], allow[128], header[160];
    snprintf(msg, sizeof msg, "%s is not allowed on %.200s", http_method_str(req->method),
             req->path);
    snprintf(header, sizeof header, "Allow: %s\r\n",
             silk__gw_route_allow(r->allow, allow, sizeof allow));
    return silk__gw_respond_error(c, 405, SILK_UNIMPLEMENTED, msg, header, close);
}

/* route_name names a request's route in the metrics. */
static const char *route_name(silk__gw_route_kind kind, const silk__gw_route *r)
{
    switch (kind) {
    case SILK__GW_ROUTE_CALL:
        return r->method->path;
    case SILK__GW_ROUTE_HEALTH:
        return "/healthz";
    case SILK__GW_ROUTE_WEBSOCKET:
        return "websocket";
    case SILK__GW_ROUTE_METRICS:
        return "/metrics";
    case SILK__GW_ROUTE_OPENAPI:
        return "/openapi.json";
    case SILK__GW_ROUTE_CONSOLE:
        return "/_silk/";
    default:
        return "other";
    }
}

/* refusal returns why a complete request is refused before it is routed (RFC 9112 3.2: an
 * HTTP/1.1 request without Host; a header --forward-header names given twice, which would let
 * a client append a second identity that a proxy's first one does not override), writing it
 * into msg (size bytes); or NULL. */
static const char *refusal(const silk__gw *gw, const silk__gw_http_request *req, char *msg,
                           size_t size)
{
    if (req->http_major == 1 && req->http_minor >= 1 &&
        silk__gw_http_header_count(req, "Host") != 1)
        return "an HTTP/1.1 request needs exactly one Host header";
    for (size_t i = 0; i < gw->opts.n_forward_headers; i++) {
        if (silk__gw_http_header_count(req, gw->opts.forward_headers[i]) > 1) {
            snprintf(msg, size, "header %.100s is given more than once",
                     gw->opts.forward_headers[i]);
            return msg;
        }
    }
    return NULL;
}

/* respond_rate_limited answers 429 to a client over --rate-limit, with the whole seconds it
 * should wait (RFC 9110 10.2.3; RFC 6585 4). */
static int respond_rate_limited(client *c, double wait, bool close)
{
    char header[64];
    unsigned long seconds = (unsigned long)wait;
    if ((double)seconds < wait || seconds == 0)
        seconds++;
    snprintf(header, sizeof header, "Retry-After: %lu\r\n", seconds);
    return silk__gw_respond_error(c, 429, SILK_RESOURCE_EXHAUSTED, "rate limit exceeded", header,
                                  close);
}

/* respond_preflight answers a CORS preflight to a path of the web API: 204 with what the
 * page may send, for an origin --cors-origin lists; 403 for any other. It returns 1 when path
 * is no method's (OPTIONS is then answered as without the flag), else as silk__gw_respond. */
static int respond_preflight(client *c, bool close)
{
    const silk__gw *gw = c->loop->gw;
    const silk__gw_http_request *req = &c->http->req;
    silk__gw_verbs verbs = silk__gw_cors_api_verbs(gw, req->path);
    if (verbs == 0)
        return 1;
    const char *allow = silk__gw_cors_allow_origin(&gw->opts, req);
    if (allow == NULL) {
        silk_log(SILK_LOG_INFO, LOG, "preflight refused origin=\"%.200s\" path=%.200s",
                 silk__gw_http_header_get(req, "Origin"), req->path);
        return silk__gw_respond_error(c, 403, SILK_PERMISSION_DENIED,
                                      "this origin may not call the web API", NULL, close);
    }
    char headers[4096];
    if (silk__gw_cors_preflight_headers(&gw->opts, allow, verbs, headers, sizeof headers) == 0)
        return -1;
    return respond_as(c, 204, headers, NULL, NULL, 0, close);
}

/* handle_request answers a complete request, or starts what will. It returns 0, or -1 when
 * the connection must be closed at once. */
static int handle_request(client *c)
{
    silk__gw *gw = c->loop->gw;
    const silk__gw_http_request *req = &c->http->req;
    bool close = !req->keep_alive;
    char msg[300];
    silk__gw_route r;

    silk_log(SILK_LOG_DEBUG, LOG, "request method=%s path=%s", http_method_str(req->method),
             req->path);
    const char *refused = refusal(gw, req, msg, sizeof msg);
    if (refused != NULL)
        return silk__gw_respond_error(c, 400, SILK_INVALID_ARGUMENT, refused, NULL, true);
    double wait = silk__gw_limits_request_wait(c);
    if (wait > 0)
        return respond_rate_limited(c, wait, close);
    silk__gw_route_kind kind =
        silk__gw_route_find(gw->services, gw->n_services, req->method, req->path, &r);
    c->req_start = ev_time();
    c->req_route = route_name(kind, &r);
    if (silk__gw_cors_is_preflight(&gw->opts, req)) {
        int rv = respond_preflight(c, close);
        if (rv <= 0)
            return rv;
    }
    switch (kind) {
    case SILK__GW_ROUTE_HEALTH:
        return silk__gw_health_start(c);
    case SILK__GW_ROUTE_WEBSOCKET:
        return silk__gw_upgrade_start(c, &r);
    case SILK__GW_ROUTE_CALL:
        if (c->loop->stopping)
            return silk__gw_respond_error(c, 503, SILK_UNAVAILABLE, "the gateway is shutting down",
                                          NULL, true);
        return silk__gw_call_start(c, &r);
    case SILK__GW_ROUTE_METRICS:
        return respond_metrics(c, close);
    case SILK__GW_ROUTE_OPENAPI:
        return silk__gw_openapi_respond(c, close);
    case SILK__GW_ROUTE_CONSOLE:
        return silk__gw_console_respond(c, close);
    case SILK__GW_ROUTE_BAD_METHOD:
        return respond_bad_method(c, &r, close);
    case SILK__GW_ROUTE_NONE:
    default:
        snprintf(msg, sizeof msg, "no route for %s %.200s", http_method_str(req->method),
                 req->path);
        return silk__gw_respond_error(c, 404, SILK_NOT_FOUND, msg, NULL, close);
    }
}

int silk__gw_request_act(client *c, int parsed)
{
    SILK__GW_ASSERT_ON_LOOP(c->loop);
    if (parsed == SILK__GW_HTTP_MORE)
        return 0;
    if (parsed < 0) {
        int status = silk__gw_http_error_status(parsed);
        const char *why = c->http->why;
        silk_log(SILK_LOG_DEBUG, LOG, "bad request status=%d reason=\"%s\" detail=\"%s\"", status,
                 why ? why : "", c->http->detail);
        char msg[160];
        if (status == 400 || status == 501)
            snprintf(msg, sizeof msg, "%s%s%s", status == 400 ? "malformed HTTP request" : "",
                     status == 400 && why ? ": " : "", why ? why : "");
        else
            snprintf(msg, sizeof msg, "%s", silk__gw_http_status_reason(status));
        return silk__gw_respond_error(c, status, silk__gw_http_error_code(status), msg, NULL, true);
    }
    return handle_request(c);
}
