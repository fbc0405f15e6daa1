/* client.h - a client connection, and what the files serving it share: conn/client.c (the
 * connection), http/ (requests, calls, health) and ws/ (upgrade, hooks). Every function declared
 * here runs on the connection's loop, unless it says otherwise. */
#ifndef SILK_GATEWAY_CLIENT_H
#define SILK_GATEWAY_CLIENT_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>
#include <protobuf-c/protobuf-c.h>

#include <silk/status.h>

#include "auth/jwt.h"
#include "conn/io.h"
#include "http/parser.h"
#include "loop/loop.h"
#include "limits/address.h"
#include "limits/peers.h"
#include "loop/upstream.h"
#include "http/routes.h"
#include "ws/frames.h"

typedef enum silk__gw_client_state {
    SILK__GW_CLIENT_READING, /* reading an HTTP request */
    SILK__GW_CLIENT_CALLING, /* the request's call (or a handshake's OnOpen) is in flight */
    SILK__GW_CLIENT_WRITING, /* writing the response; then the next request, or close */
    SILK__GW_CLIENT_WS,      /* a WebSocket session */
} silk__gw_client_state;

/* A deep health check: Health/Check on every service, answered once all have completed. It
 * outlives its connection like a call does: client is then NULL. */
typedef struct silk__gw_health {
    silk__gw_client *client;
    size_t pending;
    size_t n;
    silk_status *st; /* by service index */
    char **why;      /* by service index: the failure's message, or NULL */
} silk__gw_health;

/* A call made for a client: the call its current request waits for (a method called for
 * HTTP, or a handshake's OnOpen), or its session's OnMessage. It outlives its client when the
 * client goes away first: client is then NULL, and the completion only frees it. */
typedef struct silk__gw_client_call {
    silk__gw_call call;      /* first: its done finds the client call from it */
    silk__gw_client *client; /* touched only on the loop */
} silk__gw_client_call;
static_assert(offsetof(silk__gw_client_call, call) == 0,
              "a done casts its call to the client call");

/* An OnMessage request waiting until fewer calls are in flight for its session. */
typedef struct silk__gw_backlog {
    struct silk__gw_backlog *next;
    ProtobufCMessage *req;
} silk__gw_backlog;

/* What the limits keep of a connection (conn/limits.c). */
typedef struct silk__gw_client_limits {
    silk__gw_addr peer;       /* the socket's peer (:: for a socket that has none) */
    bool trusted_peer;        /* the peer is a proxy --trust-proxy names */
    silk__gw_peer *entry;     /* the peer's entry in gw->peers, which counts this connection */
    bool first_charged;       /* the connection paid for its first request when it was accepted, */
    double first_wait;        /* or came over the rate: the seconds its first request must wait */
    ev_tstamp head_deadline;  /* when the head being read must be complete; 0: none yet */
    silk__gw_bucket messages; /* the session's client's messages (--session-rate) */
    ev_timer resume;          /* reading again once the bucket holds a token */
    bool paused;              /* reading stopped by --session-rate */
} silk__gw_client_limits;

/* A client connection: HTTP requests one after another, until an upgrade makes it a WebSocket
 * session. Only its loop touches it, but for what SessionManager's presence reads under the
 * gateway's lock while the session is in the table: session_id, business_id, opened_at_ms and
 * auth.subject, all set before the session enters the table and never changed after. */
struct silk__gw_client {
    silk__gw_loop *loop;
    silk__gw_io io; /* the socket's bytes: plain, or TLS (tls/tls.c) */
    silk__gw_client_state state;
    ev_io rio, wio;
    ev_timer timer;
    ev_tstamp last_active;      /* when the client last sent something */
    ev_tstamp closing_since;    /* when the session began closing (silk__gw_client_closing), or 0 */
    silk__gw_http_parser *http; /* while HTTP */
    char *in;                   /* bytes read after a complete request, not parsed yet */
    size_t in_len, in_off;
    char *out; /* an HTTP response being written */
    size_t out_len, out_off;
    bool close_after;           /* close once out is written */
    bool continued;             /* "100 Continue" was sent for the current request */
    ev_tstamp req_start;        /* when the current request was complete, for its latency */
    const char *req_route;      /* the current request's route, for metrics */
    silk__gw_client_call *call; /* the call (or OnOpen) the current request waits for */
    silk__gw_health *health;    /* a deep health check in flight */
    silk__gw_ws *ws;
    char *business_id;                            /* the session's */
    uint16_t service;                             /* the session's service, by index */
    silk__gw_client_call *message_call;           /* its OnMessage call in flight (hooks.c) */
    silk__gw_backlog *backlog, *backlog_tail;     /* OnMessage calls waiting for a slot */
    bool opened;                                  /* the session is in the table */
    bool dirty;                                   /* in its loop's dirty list */
    char session_id[SILK__GW_SESSION_ID_MAX + 1]; /* "" until a session is opening */
    /* The session's verified token (zeroed when none): its identity goes with every hook,
     * and the loop's sweep closes the session with 4001 once auth.expires has passed. */
    silk__gw_jwt_claims auth;
    int64_t opened_at_ms; /* when the session opened, wall clock; set before it is in the table */
    silk__gw_client_limits limits;
    /* silk.v1 and the session's place in its stream (streams/session.c); NULL for a session
     * with neither. */
    struct silk__gw_stream_session *stream;
    bool since_recovered; /* opening with since: what the store said before OnOpen */
    silk__gw_client *prev, *next;
};

/* --- conn/client.c --- */

/* silk__gw_client_open starts serving an accepted, non-blocking socket, over TLS when the loop
 * has a TLS context, with what silk__gw_limits_admit said of it (which c takes); NULL when
 * memory is exhausted (the caller closes fd and releases limits then). */
silk__gw_client *silk__gw_client_open(silk__gw_loop *l, int fd,
                                      const silk__gw_client_limits *limits);

/* silk__gw_client_close closes a connection, its session if any, and frees it; why (may be
 * NULL) is logged. A call in flight for it completes into nothing. */
void silk__gw_client_close(silk__gw_client *c, const char *why);

/* silk__gw_client_drive moves a connection along until it waits for its socket or a call: it
 * writes what is pending, parses requests already read, and closes the connection when it is
 * done. It returns 0, or -1 when it closed (and freed) c. */
int silk__gw_client_drive(silk__gw_client *c);

/* silk__gw_client_set_out makes out (len bytes, which c takes) the next bytes c writes, after
 * what is left of a "100 Continue" it could not write at once. It returns 0, or -1 when memory
 * is exhausted (out is freed then). */
int silk__gw_client_set_out(silk__gw_client *c, char *out, size_t len);

/* silk__gw_client_loop returns the loop that owns a connection; it never changes, so other
 * threads may read it while they hold gw->lock and find c in the session table. */
silk__gw_loop *silk__gw_client_loop(const silk__gw_client *c);

/* silk__gw_client_ws_send queues a message on c's session; a client too slow to take it is
 * closed with 1008. It returns what silk__gw_ws_send returns. */
int silk__gw_client_ws_send(silk__gw_client *c, int binary, const void *data, size_t len);

/* silk__gw_client_send queues a push on a connection's session (counted in its loop's
 * metrics when it is queued, not when the session is closing); it is written by the next
 * silk__gw_client_flush. It never closes or frees c (a client too slow is told to close, and
 * closes later), so a caller may send to many. */
void silk__gw_client_send(silk__gw_client *c, int binary, const void *data, size_t len);

/* silk__gw_client_flush writes what silk__gw_client_send queued since the last flush. */
void silk__gw_client_flush(silk__gw_loop *l);

/* silk__gw_client_sweep closes with 4001 ("token expired") every session of l whose token has
 * expired, and lets every other idle one hibernate (silk__gw_ws_hibernate). */
void silk__gw_client_sweep(silk__gw_loop *l);

/* silk__gw_client_closing notes that c's session has begun closing (silk__gw_ws_closing: a
 * close frame queued, waiting or sent, by us or by wslay); every close comes through here, once.
 * It marks the session's entry in the table closing, so that pushes skip it from now on
 * (sessions/push.c), and the client has 5 s from now to answer before the connection is
 * dropped, whether or not the close frame could be written. */
void silk__gw_client_closing(silk__gw_client *c);

/* silk__gw_client_close_session closes a connection's session with a close code and reason. */
void silk__gw_client_close_session(silk__gw_client *c, uint16_t code, const char *reason);

/* silk__gw_client_shutdown_all starts closing every connection of l for shutdown: sessions get
 * 1001, idle HTTP connections close, requests in flight are answered and then closed. */
void silk__gw_client_shutdown_all(silk__gw_loop *l);

/* --- conn/limits.c --- */

/* silk__gw_limits_admit decides on a connection accepted from peer (NULL when the socket has
 * none): it fills *out, and returns 0, or -1 when the peer has as many connections open as it
 * may (counted in the metrics; refuse it). */
int silk__gw_limits_admit(silk__gw_loop *l, const silk__gw_addr *peer, silk__gw_client_limits *out);

/* silk__gw_limits_release uncounts a connection silk__gw_limits_admit counted, and stops its
 * timer. */
void silk__gw_limits_release(silk__gw_loop *l, silk__gw_client_limits *limits);

/* silk__gw_limits_request_wait takes a token for c's complete request from its client's
 * bucket: it returns 0, or the seconds the client should wait (answer 429, counted). */
double silk__gw_limits_request_wait(silk__gw_client *c);

/* silk__gw_limits_count_message counts a message from c's session's client toward
 * --session-rate, and pauses reading from it while it is over (silk__gw_ws_pause). */
void silk__gw_limits_count_message(silk__gw_client *c);

/* silk__gw_limits_reading_paused tells whether --session-rate keeps c from reading now. */
bool silk__gw_limits_reading_paused(const silk__gw_client *c);

/* --- http/request.c --- */

/* silk__gw_request_act answers what the HTTP parser said about the bytes fed to it: nothing
 * yet, a malformed or too large request, or a complete one, which it routes. It returns 0, or
 * -1 when the connection must be closed at once. */
int silk__gw_request_act(silk__gw_client *c, int parsed);

/* silk__gw_respond sets the response to write, with a JSON body unless json is NULL. It
 * returns 0, or -1 when memory is exhausted. */
int silk__gw_respond(silk__gw_client *c, int status, const char *extra_headers, const char *json,
                     bool close);

/* silk__gw_respond_typed sets the response to write: status, extra_headers (NULL, or lines
 * each ending in "\r\n"), and body_len bytes of body of Content-Type type (no body when type
 * is NULL); to a HEAD request, the head alone. It returns 0, or -1 when memory is exhausted. */
int silk__gw_respond_typed(silk__gw_client *c, int status, const char *extra_headers,
                           const char *type, const char *body, size_t body_len, bool close);

/* silk__gw_respond_error answers {"code":..,"message":..} (or, with --wrap-response, Silky's
 * wrapped form) with an HTTP status; 0, or -1 when memory is exhausted. */
int silk__gw_respond_error(silk__gw_client *c, int status, silk_status code, const char *message,
                           const char *extra_headers, bool close);

/* silk__gw_respond_auth refuses a request the gateway's authentication did not let through:
 * 401 (UNAUTHENTICATED, with the Bearer challenge) or 403 (PERMISSION_DENIED), why as the
 * message; 0, or -1 when memory is exhausted. */
int silk__gw_respond_auth(silk__gw_client *c, int status, const char *why, bool close);

/* silk__gw_token_ok tells whether c's request may read what the gateway serves of itself
 * (/metrics, the console's data): with --jwt-key, only with a valid token. When it may not,
 * the refusal is answered and *rv is what silk__gw_respond_auth returned. */
bool silk__gw_token_ok(silk__gw_client *c, bool close, int *rv);

/* silk__gw_http_error_code returns the silk status a gateway-made HTTP error stands for. */
silk_status silk__gw_http_error_code(int http_status);

/* silk__gw_count_request counts a request into the loop's metrics; from the loop's thread. */
void silk__gw_count_request(silk__gw_loop *l, const char *route, int status, double seconds);

/* --- http/call.c --- */

/* silk__gw_call_start calls the method of route r for c's request, or answers why not. It
 * returns 0, or -1 when the connection must be closed at once. */
int silk__gw_call_start(silk__gw_client *c, const silk__gw_route *r);

/* --- http/health.c --- */

/* silk__gw_health_start answers GET /healthz: the gateway itself, or with ?deep=1 every
 * service it routes. It returns 0, or -1 when the connection must be closed at once. */
int silk__gw_health_start(silk__gw_client *c);

/* --- ws/hooks.c --- */

/* silk__gw_hook_wanted tells whether a service's hook may exist: it has not answered
 * UNIMPLEMENTED lately, and the gateway is not closing its channels. From any thread. */
bool silk__gw_hook_wanted(silk__gw *gw, size_t service, int hook);

/* silk__gw_hook_then is what the starter of a hook call does with its answer (k->call.st,
 * resp and message), before the call is freed; k->client is NULL when the client has gone. */
typedef void silk__gw_hook_then(silk__gw_client_call *k);

/* silk__gw_hook_call calls hook (SILK__GW_HOOK_*) of c's service for c's session, with req,
 * which stays the caller's (it is encoded before this returns). With wait, c waits for the
 * call: *wait is the call until it completes, and then then(k) runs with the answer. Without
 * (then is NULL), nothing waits. It returns SILK_OK, or why it could not start (then never
 * runs). */
silk_status silk__gw_hook_call(silk__gw_client *c, int hook, const ProtobufCMessage *req,
                               silk__gw_client_call **wait, silk__gw_hook_then *then);

/* silk__gw_hook_request_new allocates an initialised message of a hook's input type; NULL when
 * memory is exhausted. */
void *silk__gw_hook_request_new(const ProtobufCMessageDescriptor *d);

/* silk__gw_hook_on_message is the session's on_message callback: it calls OnMessage, or puts
 * the message in the session's backlog. */
void silk__gw_hook_on_message(void *arg, int binary, const uint8_t *data, size_t len);

/* silk__gw_hook_on_close tells the service that c's session has closed. */
void silk__gw_hook_on_close(silk__gw_client *c);

/* silk__gw_hook_backlog_free frees the OnMessage requests still waiting on c. */
void silk__gw_hook_backlog_free(silk__gw_client *c);

/* --- ws/upgrade.c --- */

/* silk__gw_upgrade_start checks a handshake for route r and opens a session, asking OnOpen
 * first when the service may have hooks. It returns 0, or -1 when the connection must be
 * closed at once. */
int silk__gw_upgrade_start(silk__gw_client *c, const silk__gw_route *r);

#endif /* SILK_GATEWAY_CLIENT_H */
