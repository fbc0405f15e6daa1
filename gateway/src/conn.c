/* conn.c - one client connection: HTTP requests, the calls they make, or a WebSocket session. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>

#include <silk/ctx.h>
#include <silk/log.h>

#include "handshake.h"
#include "http.h"
#include "json.h"
#include "loop.h"
#include "routes.h"
#include "ws.h"

#define LOG "gateway"

/* How long a session we close may take to answer our close frame, in seconds. */
#define CLOSE_TIMEOUT 5.0

/* ============================================================================
 * Types: a connection, and a call made for one of its requests.
 * ========================================================================== */

typedef struct silk__gw_conn conn;
typedef struct silk__gw_call call;

typedef enum conn_state {
    CONN_READING, /* reading an HTTP request */
    CONN_CALLING, /* the request's call is in flight */
    CONN_WRITING, /* writing the response; then the next request, or close */
    CONN_WS,      /* a WebSocket session */
} conn_state;

/* A call made for an HTTP request. It outlives its connection when the client goes away
 * first: conn is then NULL, and the completion only frees it. */
struct silk__gw_call {
    silk__gw_loop *loop;
    conn *conn; /* touched only on the loop */
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
    bool close_after; /* close once out is written */
    bool continued;   /* "100 Continue" was sent for the current request */
    call *call;
    silk__gw_ws *ws;
    char session_id[SILK__GW_SESSION_ID_MAX + 1]; /* "" until a session is open */
    conn *prev, *next;
};

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
    if (c->state != CONN_WS)
        c->state = CONN_WRITING;
    return 0;
}

/* respond_error answers {"code":..,"message":..} with an HTTP status. */
static int respond_error(conn *c, int status, silk_status code, const char *message,
                         const char *extra_headers, bool close)
{
    char *json = silk__gw_json_error(code, message);
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

void silk__gw_conn_call_done(call *k)
{
    conn *c = k->conn;
    if (c != NULL) {
        c->call = NULL;
        int rv;
        if (k->st == SILK_OK) {
            char err[256];
            char *json = silk__gw_json_from_message(k->resp, err, sizeof err);
            if (json != NULL) {
                rv = respond(c, 200, NULL, json, !c->http->req.keep_alive);
                free(json);
            } else {
                rv = respond_error(c, 500, SILK_INTERNAL, err, NULL, !c->http->req.keep_alive);
            }
        } else {
            const char *msg = k->message ? k->message : silk_status_str(k->st);
            rv = respond_error(c, silk_status_http(k->st), k->st, msg, NULL,
                               !c->http->req.keep_alive);
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

static int start_call(conn *c, const silk__gw_route *r)
{
    silk__gw *gw = c->loop->gw;
    const silk__gw_http_request *req = &c->http->req;
    bool close = !req->keep_alive;
    char err[256];
    ProtobufCMessage *msg;

    silk_status st =
        silk__gw_json_to_message(r->method->input, req->body, req->body_len, &msg, err, sizeof err);
    if (st != SILK_OK)
        return respond_error(c, silk_status_http(st), st, err, NULL, close);

    call *k = calloc(1, sizeof *k);
    silk_ctx *ctx = silk_ctx_new();
    char bid_buf[SILK__GW_BUSINESS_ID_MAX + 1];
    const char *bid = request_business_id(msg, req, bid_buf, sizeof bid_buf);
    if (k == NULL || ctx == NULL ||
        (bid != NULL && silk_ctx_set(ctx, SILK_MD_BUSINESS_ID, bid) != SILK_OK)) {
        free(k);
        silk_ctx_free(ctx);
        protobuf_c_message_free_unpacked(msg, NULL);
        return respond_error(c, 503, SILK_UNAVAILABLE, "out of memory", NULL, true);
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
 * WebSocket sessions
 * ========================================================================== */

static void on_ws_message(void *arg, int binary, const uint8_t *data, size_t len)
{
    conn *c = arg;
    (void)data;
    /* Messages from clients go to the service's OnMessage hook once hooks exist; until then
     * the gateway only notes them. */
    silk_log(SILK_LOG_DEBUG, LOG, "message from session session_id=%s bytes=%zu binary=%d",
             c->session_id, len, binary);
}

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

static int open_session(conn *c, const silk__gw_route *r)
{
    silk__gw_loop *l = c->loop;
    silk__gw *gw = l->gw;
    const silk__gw_http_request *req = &c->http->req;
    char accept[SILK__GW_WS_ACCEPT_LEN + 1];
    const char *why;

    int status = silk__gw_ws_handshake(req, accept, &why);
    if (status != 101)
        return respond_error(c, status, json_code(status), why,
                             status == 426 ? "Sec-WebSocket-Version: 13\r\n" : NULL, true);
    char bid[SILK__GW_BUSINESS_ID_MAX + 1];
    if (silk__gw_route_business_id(req, bid, sizeof bid) < 0)
        return respond_error(c, 400, SILK_INVALID_ARGUMENT, "businessId is required", NULL, true);
    if (l->stopping)
        return respond_error(c, 503, SILK_UNAVAILABLE, "the gateway is shutting down", NULL, true);

    int rv = SILK__GW_SESSIONS_EXISTS;
    for (int tries = 0; tries < 2 && rv == SILK__GW_SESSIONS_EXISTS; tries++) {
        if (new_session_id(gw, c->session_id) != 0)
            break;
        pthread_mutex_lock(&gw->lock);
        rv = silk__gw_sessions_add(&gw->sessions, c->session_id, r->service->route, bid, c);
        pthread_mutex_unlock(&gw->lock);
    }
    if (rv != 0) {
        c->session_id[0] = '\0';
        return respond_error(c, 503, SILK_UNAVAILABLE, "cannot open a session", NULL, true);
    }

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
    char *out = c->ws ? silk__gw_ws_response(accept, c->session_id, &len) : NULL;
    if (out == NULL) {
        pthread_mutex_lock(&gw->lock);
        silk__gw_sessions_remove(&gw->sessions, c->session_id);
        pthread_mutex_unlock(&gw->lock);
        c->session_id[0] = '\0';
        silk__gw_ws_free(c->ws);
        c->ws = NULL;
        return respond_error(c, 503, SILK_UNAVAILABLE, "out of memory", NULL, true);
    }
    silk_log(SILK_LOG_INFO, LOG, "session opened session_id=%s business_id=%s route=%s",
             c->session_id, bid, r->service->route);
    silk__gw_http_parser_fini(c->http);
    free(c->http);
    c->http = NULL;
    c->state = CONN_WS;
    c->out = out;
    c->out_len = len;
    c->out_off = 0;
    c->close_after = false;
    ev_timer_stop(l->ev, &c->timer);
    ev_timer_set(&c->timer, gw->opts.ping_interval, 0.);
    ev_timer_start(l->ev, &c->timer);
    if (pending_len > 0 && silk__gw_ws_read(c->ws) != 0)
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
    enum http_method method = req->method == HTTP_HEAD ? HTTP_GET : req->method;
    switch (silk__gw_route_find(gw->services, gw->n_services, method, req->path, &r)) {
    case SILK__GW_ROUTE_HEALTH:
        return respond(c, 200, NULL, "{\"status\":\"SERVING\"}", close);
    case SILK__GW_ROUTE_WEBSOCKET:
        return open_session(c, &r);
    case SILK__GW_ROUTE_CALL:
        if (c->loop->stopping)
            return respond_error(c, 503, SILK_UNAVAILABLE, "the gateway is shutting down", NULL,
                                 true);
        return start_call(c, &r);
    case SILK__GW_ROUTE_BAD_METHOD:
        snprintf(msg, sizeof msg, "%s is not allowed on %.200s", http_method_str(req->method),
                 req->path);
        return respond_error(c, 405, SILK_UNIMPLEMENTED, msg, NULL, close);
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
        r = silk__gw_ws_want_read(c->ws);
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

    if (c->session_id[0] != '\0') {
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
    ev_io_stop(l->ev, &c->rio);
    ev_io_stop(l->ev, &c->wio);
    ev_timer_stop(l->ev, &c->timer);
    close(c->fd);
    if (c->http != NULL) {
        silk__gw_http_parser_fini(c->http);
        free(c->http);
    }
    silk__gw_ws_free(c->ws);
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
    if (l->stopping && l->n_conns == 0)
        ev_break(l->ev, EVBREAK_ALL);
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
