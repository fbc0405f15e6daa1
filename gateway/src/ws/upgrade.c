/* upgrade.c - opening a WebSocket session: the handshake's checks (Origin, token, business
 * id), the session id, OnOpen and its subprotocol, the session table and the 101 answer. */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <silk/log.h>

#include "auth/auth.h"
#include "conn/client.h"
#include "core/random.h"
#include "http/bodies.h"
#include "core/clock.h"
#include "core/mutex.h"
#include "sessions/directory.h"
#include "streams/streams.h"
#include "ws/handshake.h"
#include "silk/ws.silk.h"

#define LOG "gateway"

/* The most subprotocols of a client that OnOpen is told of. */
#define MAX_SUBPROTOCOLS 16

typedef silk__gw_client client;

/* OnOpen's response is read as its message type, its request made as one (base first). */
static_assert(offsetof(Silk__Ws__OpenReply, base) == 0, "open_done casts the response");
static_assert(offsetof(Silk__Ws__OpenRequest, base) == 0, "open_request makes a message");

/* on_message counts a message from the client toward --session-rate and hands it on. */
static void on_message(void *arg, int binary, const uint8_t *data, size_t len)
{
    silk__gw_limits_count_message(arg);
    silk__gw_hook_on_message(arg, binary, data, len);
}

static const silk__gw_ws_callbacks ws_callbacks = {.on_message = on_message};

/* refuse answers a handshake that opens no session with an error, and closes after it. */
static int refuse(client *c, int status, silk_status code, const char *message)
{
    c->session_id[0] = '\0';
    return silk__gw_respond_error(c, status, code, message, NULL, true);
}

/* ============================================================================
 * What the handshake carries
 * ========================================================================== */

/* new_session_id writes "<gateway id>.<32 hex digits from the kernel's generator>". */
static void new_session_id(const silk__gw *gw, char out[SILK__GW_SESSION_ID_MAX + 1])
{
    int n = snprintf(out, SILK__GW_SESSION_ID_MAX + 1, "%s.", gw->opts.id);
    silk__random_hex(out + n, 16);
}

/* same_origin tells whether an Origin ("https://host:port") names the host and port the
 * request was sent to, its Host header, compared without regard to case; a Host with the
 * scheme's default port written out matches an Origin without it. */
static bool same_origin(const char *origin, const char *host)
{
    const char *sep = strstr(origin, "://");
    if (sep == NULL || host == NULL)
        return false;
    const char *authority = sep + 3;
    if (strcasecmp(authority, host) == 0)
        return true;
    size_t scheme_len = (size_t)(sep - origin), n = strlen(authority);
    const char *port = scheme_len == 5 && strncasecmp(origin, "https", 5) == 0  ? ":443"
                       : scheme_len == 4 && strncasecmp(origin, "http", 4) == 0 ? ":80"
                                                                                : NULL;
    return port != NULL && strlen(host) == n + strlen(port) &&
           strncasecmp(host, authority, n) == 0 && strcasecmp(host + n, port) == 0;
}

/* origin_allowed tells whether a handshake's Origin may open a session: one --allow-origin
 * lists (or any, with '*'), or without the flag the gateway's own origin. A handshake without
 * an Origin, which is not from a browser, passes. */
static bool origin_allowed(const silk__gw *gw, const silk__gw_http_request *req)
{
    const char *origin = silk__gw_http_header_get(req, "Origin");
    if (origin == NULL)
        return true;
    if (gw->opts.n_origins == 0)
        return same_origin(origin, silk__gw_http_header_get(req, "Host"));
    for (size_t i = 0; i < gw->opts.n_origins; i++)
        if (strcmp(gw->opts.origins[i], "*") == 0 || strcasecmp(origin, gw->opts.origins[i]) == 0)
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

/* ============================================================================
 * Opening: the session table, the framing, the 101
 * ========================================================================== */

/* add_session puts c's session in the table, with a new id if its own is taken (twice at
 * most). It returns 0, or -1. */
static int add_session(client *c, const char *route)
{
    silk__gw *gw = c->loop->gw;
    int rv = SILK__GW_SESSIONS_EXISTS;
    c->opened_at_ms = silk__wall_ms(); /* before the table has it: others read it there */
    for (int tries = 0; tries < 2 && rv == SILK__GW_SESSIONS_EXISTS; tries++) {
        if (tries > 0)
            new_session_id(gw, c->session_id);
        rv = silk__gw_session_enter(gw, c->session_id, route, c->business_id, c);
    }
    return rv != 0 ? -1 : 0;
}

/* remove_session undoes add_session. */
static void remove_session(client *c)
{
    silk__gw_session_leave(c->loop->gw, c->session_id, c->business_id);
}

/* start_framing makes c's WebSocket framing; the bytes after the handshake are the client's
 * first frames, which wslay reads first. It returns how many there are, with c->ws NULL when
 * memory is exhausted. */
static size_t start_framing(client *c)
{
    const silk__gw_opts *opts = &c->loop->gw->opts;
    size_t pending_len = c->in ? c->in_len - c->in_off : 0;
    char *pending = NULL;
    if (pending_len > 0 && (pending = malloc(pending_len)) != NULL)
        memcpy(pending, c->in + c->in_off, pending_len);
    free(c->in);
    c->in = NULL;
    c->in_len = c->in_off = 0;
    silk__gw_ws_opts o = {.max_message = opts->max_message, .max_queued = opts->max_queued};
    c->ws = (pending_len == 0 || pending != NULL)
                ? silk__gw_ws_new(&c->io, &ws_callbacks, c, &o, pending, pending_len)
                : NULL;
    return pending_len;
}

/* become_session turns c from HTTP into a session whose first bytes to write are out, the 101,
 * watched for pings from now on. It returns 0, or -1 when memory is exhausted (out is freed). */
static int become_session(client *c, char *out, size_t len)
{
    silk__gw_loop *l = c->loop;
    if (silk__gw_client_set_out(c, out, len) != 0)
        return -1;
    silk__gw_http_parser_fini(c->http);
    free(c->http);
    c->http = NULL;
    c->state = SILK__GW_CLIENT_WS;
    c->close_after = false;
    c->last_active = ev_now(l->ev);
    ev_timer_stop(l->ev, &c->timer);
    ev_timer_set(&c->timer, l->gw->opts.ping_interval, 0.);
    ev_timer_start(l->ev, &c->timer);
    return 0;
}

/* finish_open completes the handshake of c, whose session id is chosen: it adds the session to
 * the table and answers 101, with the subprotocol OnOpen chose (NULL: none); a close_code
 * closes the session at once. */
static int finish_open(client *c, const char *subprotocol, uint16_t close_code,
                       const char *close_reason)
{
    silk__gw_loop *l = c->loop;
    const silk__gw_http_request *req = &c->http->req;
    const char *route = l->gw->services[c->service]->route;
    char accept[SILK__GW_WS_ACCEPT_LEN + 1];

    if (l->stopping)
        return refuse(c, 503, SILK_UNAVAILABLE, "the gateway is shutting down");
    if (silk__gw_ws_handshake(req, accept, NULL) != 101)
        return refuse(c, 500, SILK_INTERNAL, "the accept key could not be computed");
    if (subprotocol != NULL && subprotocol[0] != '\0' && !offered(req, subprotocol)) {
        silk_log(SILK_LOG_WARN, LOG, "OnOpen chose a subprotocol not offered subprotocol=%.100s",
                 subprotocol);
        subprotocol = NULL;
    }
    bool v1 = offered(req, SILK__GW_SUBPROTOCOL_V1); /* the gateway's own: it speaks it */
    silk__gw_since since;
    silk__gw_since_parse(req->query, &since); /* checked by silk__gw_upgrade_start */
    if (v1)
        subprotocol = SILK__GW_SUBPROTOCOL_V1;
    if (add_session(c, route) != 0)
        return refuse(c, 503, SILK_UNAVAILABLE, "cannot open a session");
    c->opened = true;
    size_t pending_len = start_framing(c);
    size_t len;
    char *out = c->ws ? silk__gw_ws_response(accept, c->session_id, subprotocol, &len) : NULL;
    if (out == NULL) {
        remove_session(c);
        c->opened = false;
        silk__gw_ws_free(c->ws);
        c->ws = NULL;
        return refuse(c, 503, SILK_UNAVAILABLE, "out of memory");
    }
    silk__gw_count_request(l, "websocket", 101, ev_time() - c->req_start);
    silk_log(SILK_LOG_INFO, LOG, "session opened session_id=%s business_id=%s route=%s",
             c->session_id, c->business_id, route);
    if (become_session(c, out, len) != 0 || silk__gw_stream_open(c, v1, &since) != 0)
        return -1;
    if (close_code != 0 && silk__gw_ws_close(c->ws, close_code, close_reason) == 0)
        silk__gw_client_closing(c);
    if (pending_len > 0 && close_code == 0 && silk__gw_ws_read(c->ws) != 0)
        return -1;
    return 0;
}

/* ============================================================================
 * OnOpen, and the handshake
 * ========================================================================== */

/* open_request makes OnOpen's request for c's handshake; NULL when memory is exhausted. */
static Silk__Ws__OpenRequest *open_request(client *c, const char *bid)
{
    silk__gw *gw = c->loop->gw;
    const silk__gw_http_request *req = &c->http->req;
    Silk__Ws__OpenRequest *o = silk__gw_hook_request_new(&silk__ws__open_request__descriptor);
    if (o == NULL)
        return NULL;
    char buf[1024], *list[MAX_SUBPROTOCOLS];
    size_t n = subprotocols(req, buf, sizeof buf, list);
    const char *origin = silk__gw_http_header_get(req, "Origin");
    o->session_id = strdup(c->session_id);
    o->business_id = strdup(bid);
    o->route = strdup(gw->services[c->service]->route);
    o->origin = strdup(origin ? origin : "");
    o->query = gw->opts.jwt != NULL ? silk__gw_auth_strip_query(req->query) : strdup(req->query);
    o->subprotocols = n ? calloc(n, sizeof *o->subprotocols) : NULL;
    bool ok = o->session_id && o->business_id && o->route && o->origin && o->query &&
              (n == 0 || o->subprotocols != NULL);
    for (size_t i = 0; ok && i < n; i++) {
        ok = (o->subprotocols[i] = strdup(list[i])) != NULL;
        o->n_subprotocols = i + 1;
    }
    if (!ok) {
        protobuf_c_message_free_unpacked(&o->base, NULL);
        return NULL;
    }
    return o;
}

/* open_close_code returns the code to close a session with that OnOpen asked for: 0 for none,
 * and 1008 in place of a code no server may send. */
static uint16_t open_close_code(uint32_t code)
{
    if (code == 0 || silk__gw_ws_close_code_sendable(code))
        return (uint16_t)code;
    silk_log(SILK_LOG_WARN, LOG, "OnOpen chose a close code no server may send code=%u: 1008",
             (unsigned)code);
    return 1008;
}

/* open_done completes a handshake after its OnOpen call, if the connection is still there.
 * UNIMPLEMENTED and UNAVAILABLE from OnOpen (no hooks, or no instance to ask) open the session
 * as if there were no hooks; another error refuses it. */
static void open_done(silk__gw_client_call *k)
{
    client *c = k->client;
    const silk__gw_call *answer = &k->call;
    if (c == NULL)
        return;
    c->call = NULL;
    int rv;
    if (answer->st == SILK_OK) {
        const Silk__Ws__OpenReply *r = (const void *)answer->resp;
        rv = finish_open(c, r->subprotocol, open_close_code(r->close_code), r->close_reason);
    } else if (answer->st == SILK_UNIMPLEMENTED || answer->st == SILK_UNAVAILABLE) {
        rv = finish_open(c, NULL, 0, NULL);
    } else {
        const char *msg = answer->message ? answer->message : silk_status_str(answer->st);
        silk_log(SILK_LOG_INFO, LOG, "session refused session_id=%s status=%s reason=\"%s\"",
                 c->session_id, silk_status_str(answer->st), msg);
        rv = refuse(c, silk__gw_http_status(answer->st), answer->st, msg);
    }
    if (rv != 0)
        silk__gw_client_close(c, "cannot answer");
    else
        silk__gw_client_drive(c);
}

/* start_open asks the service's OnOpen whether the session may open; the handshake waits. */
static int start_open(client *c, const char *bid)
{
    Silk__Ws__OpenRequest *o = open_request(c, bid);
    if (o == NULL)
        return refuse(c, 503, SILK_UNAVAILABLE, "out of memory");
    silk_status st = silk__gw_hook_call(c, SILK__GW_HOOK_OPEN, &o->base, &c->call, open_done);
    protobuf_c_message_free_unpacked(&o->base, NULL);
    if (st == SILK_UNAVAILABLE || st == SILK_UNIMPLEMENTED)
        return finish_open(c, NULL, 0, NULL); /* nobody to ask */
    if (st != SILK_OK)
        return refuse(c, silk__gw_http_status(st), st, "cannot call OnOpen");
    c->state = SILK__GW_CLIENT_CALLING; /* open_done goes on */
    return 0;
}

/* probed goes on with a handshake once the store said whether its since is recovered, which
 * OnOpen is told (ws-recovered). */
static void probed(client *c, bool recovered)
{
    c->since_recovered = recovered;
    if (start_open(c, c->business_id) != 0)
        silk__gw_client_close(c, "cannot answer");
    else
        silk__gw_client_drive(c);
}

/* open_with_hooks asks OnOpen, after reading the stream's position when the client asks to
 * recover on a route with history. */
static int open_with_hooks(client *c, const char *bid, const silk__gw_since *since)
{
    silk__stream_limits lim;
    if (!since->given || !silk__gw_history(c->loop->gw, c->service, &lim))
        return start_open(c, bid);
    if (silk__gw_store_probe(c, since, probed) != 0)
        return refuse(c, 503, SILK_UNAVAILABLE, "out of memory");
    c->state = SILK__GW_CLIENT_CALLING; /* probed goes on */
    return 0;
}

/* authenticate checks the handshake's token and that it allows the business id bid (NULL:
 * none given); the session keeps the claims. It returns false when the handshake may go on,
 * or true when it refused it (401 or 403), with *rv what answering returned. */
static bool authenticate(client *c, const silk__gw_route *r, const char *bid, int *rv)
{
    const silk__gw_jwt *jwt = c->loop->gw->opts.jwt;
    silk__gw_jwt_claims claims;
    const char *why = NULL;
    int status = silk__gw_auth_request(jwt, &c->http->req, r->service->public_access, ev_time(),
                                       &claims, &why);
    if (status == 0 && (status = silk__gw_auth_business(jwt, &claims, bid, &why)) != 0)
        silk__gw_jwt_claims_fini(&claims);
    if (status != 0) {
        c->session_id[0] = '\0';
        *rv = silk__gw_respond_auth(c, status, why, true);
        return true;
    }
    silk__gw_jwt_claims_fini(&c->auth);
    c->auth = claims;
    return false;
}

int silk__gw_upgrade_start(client *c, const silk__gw_route *r)
{
    SILK__GW_ASSERT_ON_LOOP(c->loop);
    silk__gw *gw = c->loop->gw;
    const silk__gw_http_request *req = &c->http->req;
    char accept[SILK__GW_WS_ACCEPT_LEN + 1];
    const char *why = NULL;

    int status = silk__gw_ws_handshake(req, accept, &why);
    if (status != 101)
        return silk__gw_respond_error(c, status, silk__gw_http_error_code(status), why,
                                      status == 426 ? "Sec-WebSocket-Version: 13\r\n" : NULL, true);
    if (!origin_allowed(gw, req))
        return refuse(c, 403, SILK_PERMISSION_DENIED, "this Origin is not allowed");
    char bid[SILK__GW_BUSINESS_ID_MAX + 1];
    long bid_len = silk__gw_route_business_id(req, bid, sizeof bid);
    int rv;
    if (authenticate(c, r, bid_len < 0 ? NULL : bid, &rv))
        return rv;
    if (bid_len == -2)
        return refuse(c, 400, SILK_INVALID_ARGUMENT, SILK__GW_BUSINESS_ID_RULE);
    if (bid_len < 0)
        return refuse(c, 400, SILK_INVALID_ARGUMENT, "businessId is required");
    silk__gw_since since;
    if (silk__gw_since_parse(req->query, &since) != 0)
        return refuse(c, 400, SILK_INVALID_ARGUMENT, "since is <epoch>:<offset>");
    if (since.given && !offered(req, SILK__GW_SUBPROTOCOL_V1))
        return refuse(c, 400, SILK_INVALID_ARGUMENT, "since needs the silk.v1 subprotocol");
    if (c->loop->stopping)
        return refuse(c, 503, SILK_UNAVAILABLE, "the gateway is shutting down");
    free(c->business_id);
    if ((c->business_id = strdup(bid)) == NULL)
        return refuse(c, 503, SILK_UNAVAILABLE, "cannot open a session");
    new_session_id(gw, c->session_id);
    c->service = (uint16_t)r->service_index;
    if (silk__gw_hook_wanted(gw, c->service, SILK__GW_HOOK_OPEN))
        return open_with_hooks(c, bid, &since);
    return finish_open(c, NULL, 0, NULL);
}
