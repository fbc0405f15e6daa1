/* loop_channel.c - calls made on connections the caller's event loop drives (loop_channel.h):
 * the connections with their buffers and tables of calls, deadlines and keepalive, and the
 * hand-back of the calls given to the wrapped channel. All of it runs on the loop's thread
 * but handback_cb, which runs on nng's. */
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <silk/log.h>
#include <silk/loop_channel.h>

#include "client/channel_internal.h"
#include "core/clock.h"
#include "wire/frame.h"

#define LOG "channel"

/* What one read asks for; the input buffer keeps this much between large frames. */
#define READ_CHUNK (64u << 10)
/* The request bytes a connection may hold unwritten: past it new calls fail at once
 * (RESOURCE_EXHAUSTED), since the service has stopped reading. */
#define OUT_MAX (16u << 20)
/* A connection not made within this long is given up: the calls queued on it were never
 * sent, and the channel gives them to another instance. */
#define CONNECT_TIMEOUT_US 10000000
/* The longest address a loop channel connects to itself. */
#define ADDRESS_MAX 256

/* lcall is a call in flight on a loop channel's connection. */
typedef struct lcall {
    silk__call call; /* first: the table's silk__call * is an lcall * */
    /* On a channel to a name, a call of an idempotent method, or one queued while its
     * connection is being made, keeps a copy with the channel: a failure the channel would
     * retry goes to it (finish), and its answer comes back through post. */
    struct silk__parked *again;
    struct handback *again_h;
} lcall;

/* lconn is the loop channel's connection to one instance. */
typedef struct lconn {
    struct lconn *next; /* on lc->conns */
    silk_loop_channel *lc;
    char *address;
    int fd;
    void *io_state; /* the loop's watcher */
    int events;     /* what the loop watches fd for */
    bool connected; /* connect() has completed */
    bool failing;   /* failures were reported: the next answer is reported too */
    unsigned holds; /* frames or a tick are being handled: a close waits for them */
    bool doomed;    /* to be closed once the holds are gone */
    silk_status doom_st;
    char doom_why[96];
    uint8_t *out; /* requests not yet written: out[out_off..out_len) */
    size_t out_off, out_len, out_cap;
    silk__frame_in in; /* bytes read, not yet a whole frame */
    silk__call_table calls;
    uint64_t last_id;
    int64_t last_rx_us;
    bool ping_out;
    int64_t ping_at;
} lconn;

struct silk_loop_channel {
    silk_channel *ch;
    silk_loop_ops ops;
    lconn *conns;
    uint32_t max_frame;
    bool closing;
};

/* ============================== calls given to the channel ============================== */

/* handback is a call made through the wrapped channel; its completion is posted to the loop. */
typedef struct handback {
    silk_loop_task task; /* first: a silk_loop_task * is a handback * */
    silk_loop_ops ops;
    silk_call_cb cb;
    void *arg;
    silk_status st;
    ProtobufCMessage *resp;
    char *message;
} handback;

static void handback_run(silk_loop_task *task)
{
    handback *h = (handback *)task;
    h->cb(h->st, h->resp, h->message != NULL ? h->message : "", h->arg);
    free(h->message);
    free(h);
}

static void handback_cb(silk_status st, ProtobufCMessage *resp, const char *message, void *arg)
{
    handback *h = arg;
    h->st = st;
    h->resp = resp;
    h->message = message != NULL && message[0] != '\0' ? strdup(message) : NULL;
    h->ops.post(h->ops.loop, &h->task);
}

static handback *handback_new(silk_loop_channel *lc, silk_call_cb cb, void *arg)
{
    handback *h = calloc(1, sizeof *h);
    if (h != NULL)
        *h = (handback){.task = {.run = handback_run}, .ops = lc->ops, .cb = cb, .arg = arg};
    return h;
}

static silk_status call_through_channel(silk_loop_channel *lc, silk_ctx *ctx,
                                        const silk_method_desc *method, const ProtobufCMessage *req,
                                        silk_call_cb cb, void *arg)
{
    handback *h = handback_new(lc, cb, arg);
    if (h == NULL) {
        silk__ctx_set_message(ctx, "out of memory");
        return SILK_RESOURCE_EXHAUSTED;
    }
    silk_status st = silk_channel_call_async(lc->ch, ctx, method, req, handback_cb, h, NULL);
    if (st != SILK_OK)
        free(h);
    return st;
}

/* ============================== completing calls ============================== */

/* finish completes c with st (and resp, on SILK_OK) and frees it; a call with a copy kept by
 * the channel that failed as the channel retries goes to the channel instead. */
static void finish(silk_loop_channel *lc, lcall *c, silk_status st, ProtobufCMessage *resp,
                   const char *why, bool unsent)
{
    if (c->again != NULL && st != SILK_OK && !lc->closing &&
        silk__channel_retry(c->again, st, why, unsent)) {
        free(c); /* the channel owns the copy and its handback now */
        return;
    }
    silk__channel_forget(c->again);
    free(c->again_h);
    c->call.cb(st, resp, why, c->call.arg);
    free(c);
}

/* complete_all completes the calls of list (unsent: their connection was never made). */
static void complete_all(silk_loop_channel *lc, silk__call *list, silk_status st, const char *why,
                         bool unsent)
{
    while (list != NULL) {
        lcall *c = (lcall *)list;
        list = list->next;
        finish(lc, c, st, NULL, why, unsent);
    }
}

/* ============================== connections ============================== */

static void conn_close(lconn *k, silk_status st, const char *why);

/* doom marks k to be closed with st once nothing holds it: at the latest on the next tick. */
static void doom(lconn *k, silk_status st, const char *why)
{
    if (!k->doomed) {
        k->doomed = true;
        k->doom_st = st;
        snprintf(k->doom_why, sizeof k->doom_why, "%s", why);
    }
}

/* watch has the loop watch k's socket for events; k is doomed when it cannot. */
static void watch(lconn *k, int events)
{
    if (k->events == events || k->doomed)
        return;
    silk_loop_channel *lc = k->lc;
    if (lc->ops.io(lc->ops.loop, &k->io_state, k->fd, events, k) != 0) {
        doom(k, SILK_UNAVAILABLE, "the loop cannot watch the connection");
        return;
    }
    k->events = events;
}

static void hold(lconn *k)
{
    k->holds++;
}

static void release(lconn *k)
{
    if (--k->holds == 0 && k->doomed) {
        k->doomed = false;
        conn_close(k, k->doom_st, k->doom_why);
    }
}

static void conn_free(lconn *k)
{
    silk__call_table_fini(&k->calls);
    free(k->out);
    free(k->in.buf);
    free(k->address);
    free(k);
}

/* conn_close fails k's calls with st and frees it; while k is held it is only marked. */
static void conn_close(lconn *k, silk_status st, const char *why)
{
    silk_loop_channel *lc = k->lc;
    if (k->holds > 0) {
        doom(k, st, why);
        return;
    }
    lconn **p = &lc->conns;
    while (*p != k)
        p = &(*p)->next;
    *p = k->next;
    lc->ops.io(lc->ops.loop, &k->io_state, k->fd, 0, k);
    close(k->fd);
    if (st == SILK_UNAVAILABLE && k->connected)
        silk__channel_report(lc->ch, k->address, SILK__OUTCOME_LOST);
    if (st != SILK_CANCELLED)
        silk_log(SILK_LOG_DEBUG, LOG, "loop connection closed address=%s reason=\"%s\"", k->address,
                 why);
    char reason[sizeof k->doom_why];
    snprintf(reason, sizeof reason, "%s", why); /* why may be k's own */
    silk__call *calls = silk__call_table_take(&k->calls, INT64_MAX);
    bool unsent = !k->connected;
    conn_free(k);
    complete_all(lc, calls, st, reason, unsent);
}

/* parse_address fills sa for a numeric tcp:// address or an ipc:// path; false for others. */
static bool parse_address(const char *address, struct sockaddr_storage *sa, socklen_t *len)
{
    memset(sa, 0, sizeof *sa);
    if (strncmp(address, "ipc://", 6) == 0) {
        struct sockaddr_un *un = (struct sockaddr_un *)sa;
        const char *path = address + 6;
        if (path[0] == '\0' || strlen(path) >= sizeof un->sun_path)
            return false;
        un->sun_family = AF_UNIX;
        strcpy(un->sun_path, path);
        *len = sizeof *un;
        return true;
    }
    if (strncmp(address, "tcp://", 6) != 0)
        return false;
    char host[64];
    const char *h = address + 6, *colon = strrchr(h, ':');
    if (colon == NULL || (size_t)(colon - h) >= sizeof host)
        return false;
    memcpy(host, h, (size_t)(colon - h));
    host[colon - h] = '\0';
    char *end;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (*end != '\0' || port == 0 || port > 65535)
        return false;
    struct sockaddr_in *in4 = (struct sockaddr_in *)sa;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;
    size_t hl = strlen(host);
    if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
        host[hl - 1] = '\0';
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *len = sizeof *in6;
        return inet_pton(AF_INET6, host + 1, &in6->sin6_addr) == 1;
    }
    in4->sin_family = AF_INET;
    in4->sin_port = htons((uint16_t)port);
    *len = sizeof *in4;
    return inet_pton(AF_INET, host, &in4->sin_addr) == 1;
}

/* conn_open starts a connection to address; NULL when the loop channel cannot make it
 * itself (another kind of address, no descriptor, refused at once), the channel's way then. */
static lconn *conn_open(silk_loop_channel *lc, const char *address)
{
    struct sockaddr_storage sa;
    socklen_t len;
    if (!parse_address(address, &sa, &len))
        return NULL;
    int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    int one = 1;
    if (sa.ss_family != AF_UNIX)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int rc = connect(fd, (struct sockaddr *)&sa, len);
    lconn *k = rc == 0 || errno == EINPROGRESS ? calloc(1, sizeof *k) : NULL;
    /* last_rx_us, below, is when the connection started until it is made. */
    if (k == NULL || (k->address = strdup(address)) == NULL || !silk__call_table_init(&k->calls)) {
        if (k != NULL)
            conn_free(k);
        close(fd);
        return NULL;
    }
    k->lc = lc;
    k->fd = fd;
    k->connected = rc == 0;
    if (k->connected) /* a unix socket: made at once */
        silk__channel_report(lc->ch, address, SILK__OUTCOME_CONNECTED);
    /* Failures may have been recorded before it (a lost connection, the channel's calls):
     * its first answer is reported, so that it ends a run of failures as the channel's do. */
    k->failing = lc->ch->by_name;
    k->last_rx_us = silk__now_us();
    k->next = lc->conns;
    lc->conns = k;
    watch(k, k->connected ? SILK_LOOP_READ : SILK_LOOP_READ | SILK_LOOP_WRITE);
    if (k->doomed) {
        conn_close(k, k->doom_st, k->doom_why);
        return NULL;
    }
    return k;
}

static lconn *conn_find(silk_loop_channel *lc, const char *address)
{
    for (lconn *k = lc->conns; k != NULL; k = k->next)
        if (strcmp(k->address, address) == 0)
            return k;
    return NULL;
}

/* ============================== writing ============================== */

/* reserve makes room for n more bytes of output; false when it cannot. */
static bool reserve(lconn *k, size_t n)
{
    if (k->out_off > 0 && k->out_off == k->out_len)
        k->out_off = k->out_len = 0;
    if (k->out_len - k->out_off + n > OUT_MAX)
        return false;
    if (k->out_len + n <= k->out_cap)
        return true;
    if (k->out_off > 0) {
        memmove(k->out, k->out + k->out_off, k->out_len - k->out_off);
        k->out_len -= k->out_off;
        k->out_off = 0;
        if (k->out_len + n <= k->out_cap)
            return true;
    }
    size_t cap = k->out_cap != 0 ? k->out_cap : 4096;
    while (cap < k->out_len + n)
        cap *= 2;
    uint8_t *out = realloc(k->out, cap);
    if (out == NULL)
        return false;
    k->out = out;
    k->out_cap = cap;
    return true;
}

/* queue queues a frame; the loop writes it (with whatever else is queued by then) once the
 * socket is writable, on its next turn. */
static bool queue(lconn *k, uint8_t kind, uint64_t id, const ProtobufCMessage *header,
                  const ProtobufCMessage *payload)
{
    size_t hlen = header != NULL ? protobuf_c_message_get_packed_size(header) : 0;
    size_t plen = payload != NULL ? protobuf_c_message_get_packed_size(payload) : 0;
    size_t size = silk__frame_size(hlen, plen);
    if (size - 4 > k->lc->max_frame || !reserve(k, size))
        return false;
    k->out_len += silk__frame_encode(k->out + k->out_len, kind, id, header, hlen, payload, plen);
    watch(k, SILK_LOOP_READ | SILK_LOOP_WRITE);
    return true;
}

/* drop_unsent_copies forgets, once k is connected, the copies kept only in case it would
 * not be: calls of methods the channel does not send twice. */
static void drop_unsent_copies(lconn *k)
{
    for (size_t i = 0; i < k->calls.nbuckets; i++) {
        for (silk__call *call = k->calls.buckets[i]; call != NULL; call = call->next) {
            lcall *c = (lcall *)call;
            if (c->again == NULL || call->method->idempotent)
                continue;
            silk__channel_forget(c->again);
            free(c->again_h);
            c->again = NULL;
            c->again_h = NULL;
        }
    }
}

/* on_connected checks how a connect() in progress ended. */
static bool on_connected(lconn *k)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err != 0) {
        char why[96];
        snprintf(why, sizeof why, "cannot connect: %s", strerror(err));
        silk__channel_report(k->lc->ch, k->address, SILK__OUTCOME_DIAL_FAILED);
        conn_close(k, SILK_UNAVAILABLE, why);
        return false;
    }
    k->connected = true;
    k->last_rx_us = silk__now_us();
    silk__channel_report(k->lc->ch, k->address, SILK__OUTCOME_CONNECTED);
    drop_unsent_copies(k);
    return true;
}

static bool on_readable(lconn *k);

static void on_writable(lconn *k)
{
    if (!k->connected && !on_connected(k))
        return;
    while (k->out_off < k->out_len) {
        ssize_t n = send(k->fd, k->out + k->out_off, k->out_len - k->out_off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return; /* the loop calls again */
        if (n < 0) {
            char why[96];
            snprintf(why, sizeof why, "connection lost: %s", strerror(errno));
            /* Answers that came in before the loss (a server that answered, then closed)
             * still complete their calls. */
            while (!k->doomed && on_readable(k))
                continue;
            conn_close(k, SILK_UNAVAILABLE, why);
            return;
        }
        k->out_off += (size_t)n;
    }
    k->out_off = k->out_len = 0;
    watch(k, SILK_LOOP_READ);
}

/* ============================== reading ============================== */

/* answered tells the balancer about an answer of status st, when it needs to know. */
static void answered(lconn *k, silk_status st)
{
    if (st == SILK_UNAVAILABLE) {
        silk__channel_report(k->lc->ch, k->address, SILK__OUTCOME_FAILED);
        k->failing = true;
    } else if (k->failing) {
        silk__channel_report(k->lc->ch, k->address, SILK__OUTCOME_ANSWERED);
        k->failing = false;
    }
}

static void complete_response(lconn *k, lcall *c, const silk__frame *f)
{
    silk__response r;
    silk__response_decode(&r, f, c->call.method->output);
    answered(k, r.st);
    finish(k->lc, c, r.st, r.msg, r.message, false);
    silk__response_fini(&r);
}

static void on_frame(lconn *k, const silk__frame *f)
{
    k->last_rx_us = silk__now_us();
    k->ping_out = false;
    if (f->kind == SILK__FRAME_PING && !queue(k, SILK__FRAME_PONG, f->call_id, NULL, NULL))
        conn_close(k, SILK_UNAVAILABLE, "cannot answer a ping");
    if (f->kind != SILK__FRAME_RESPONSE)
        return;
    lcall *c = (lcall *)silk__call_table_remove(&k->calls, f->call_id);
    if (c != NULL) /* else it timed out already */
        complete_response(k, c, f);
}

static void on_too_big(lconn *k, const silk__frame *f)
{
    lcall *c = f->kind == SILK__FRAME_RESPONSE
                   ? (lcall *)silk__call_table_remove(&k->calls, f->call_id)
                   : NULL;
    if (c != NULL)
        finish(k->lc, c, SILK_RESOURCE_EXHAUSTED, NULL, "the response exceeds the message limit",
               false);
}

/* consume handles every whole frame read and keeps the rest; when the stream cannot be
 * decoded k is doomed. */
static void consume(lconn *k)
{
    size_t off = 0;
    silk__frame f;
    int rc = SILK__IN_MORE;
    while (!k->doomed && (rc = silk__frame_in_next(&k->in, &off, k->lc->max_frame, &f)) > 0) {
        if (rc == SILK__IN_FRAME)
            on_frame(k, &f);
        else
            on_too_big(k, &f);
    }
    if (!k->doomed && rc == SILK__IN_NOMEM)
        conn_close(k, SILK_RESOURCE_EXHAUSTED, "out of memory for a frame");
    else if (!k->doomed && rc < 0)
        conn_close(k, SILK_UNAVAILABLE, "protocol error: bad frame");
    else
        silk__frame_in_consumed(&k->in, off);
}

/* on_readable reads once and handles the frames read; true when it read bytes (there may be
 * more). */
static bool on_readable(lconn *k)
{
    if (k->in.cap - k->in.len < READ_CHUNK &&
        !silk__frame_in_resize(&k->in, k->in.len + READ_CHUNK)) {
        conn_close(k, SILK_RESOURCE_EXHAUSTED, "out of memory for a read");
        return false;
    }
    ssize_t n = recv(k->fd, k->in.buf + k->in.len, k->in.cap - k->in.len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return false;
    if (n <= 0) {
        char why[96];
        snprintf(why, sizeof why, "connection lost: %s",
                 n == 0 ? "closed by the server" : strerror(errno));
        conn_close(k, SILK_UNAVAILABLE, why);
        return false;
    }
    k->in.len += (size_t)n;
    consume(k);
    return true;
}

void silk_loop_io_ready(void *token, int ready)
{
    lconn *k = token;
    hold(k);
    if (ready & SILK_LOOP_WRITE)
        on_writable(k);
    if ((ready & SILK_LOOP_READ) && !k->doomed && k->connected)
        on_readable(k);
    release(k);
}

/* ============================== deadlines and keepalive ============================== */

/* expire fails k's calls whose deadline passed, telling the server to drop them. */
static void expire(lconn *k, int64_t now)
{
    silk__call *late = silk__call_table_take(&k->calls, now);
    for (silk__call *c = late; c != NULL; c = c->next) {
        queue(k, SILK__FRAME_CANCEL, c->id, NULL, NULL);
        if (k->last_rx_us < c->sent_us) { /* not a word from the instance since */
            silk__channel_report(k->lc->ch, k->address, SILK__OUTCOME_FAILED);
            k->failing = true;
        }
    }
    complete_all(k->lc, late, SILK_DEADLINE_EXCEEDED, "the deadline passed", false);
}

static void keepalive(lconn *k, int64_t now)
{
    int64_t every = (int64_t)k->lc->ch->keepalive_ms * 1000;
    if (!k->connected && now - k->last_rx_us >= CONNECT_TIMEOUT_US) {
        silk__channel_report(k->lc->ch, k->address, SILK__OUTCOME_DIAL_FAILED);
        conn_close(k, SILK_UNAVAILABLE, "cannot connect: timed out");
        return;
    }
    if (every == 0 || !k->connected)
        return;
    if (k->ping_out && now - k->ping_at >= every)
        conn_close(k, SILK_UNAVAILABLE, "no answer to a keepalive ping");
    else if (!k->ping_out && now - k->last_rx_us >= every &&
             queue(k, SILK__FRAME_PING, 0, NULL, NULL)) {
        k->ping_out = true;
        k->ping_at = now;
    }
}

void silk_loop_channel_tick(silk_loop_channel *lc)
{
    int64_t now = silk__now_us();
    for (lconn *k = lc->conns, *next; k != NULL; k = next) {
        hold(k); /* a doomed connection closes on release */
        expire(k, now);
        if (!k->doomed)
            keepalive(k, now);
        next = k->next;
        release(k);
    }
}

/* ============================== calls ============================== */

/* direct_conn returns the connection a call on route r goes on, when the loop channel makes
 * it itself; NULL when the channel must. */
static lconn *direct_conn(silk_loop_channel *lc, silk__route *r)
{
    char address[ADDRESS_MAX];
    if (!silk__channel_pick(lc->ch, r, address, sizeof address))
        return NULL;
    lconn *k = conn_find(lc, address);
    if (k == NULL)
        k = conn_open(lc, address);
    return k != NULL && !k->doomed ? k : NULL; /* made, or being made */
}

/* keep gives c a copy with the channel, on a channel to a name, for a second attempt: for a
 * call of an idempotent method, and for any call while its connection is being made (unsent:
 * should it never be made, the call may go to another instance). False when memory is
 * exhausted. */
static bool keep(silk_loop_channel *lc, lcall *c, silk_ctx *ctx, const ProtobufCMessage *req,
                 uint64_t budget, const silk__route *r, bool unsent)
{
    const silk__call *call = &c->call;
    if (!lc->ch->by_name || (!unsent && !call->method->idempotent))
        return true;
    c->again_h = handback_new(lc, call->cb, call->arg);
    if (c->again_h != NULL)
        c->again = silk__channel_keep(lc->ch, ctx, call->method, req, budget, r, unsent,
                                      handback_cb, c->again_h);
    if (c->again != NULL)
        return true;
    free(c->again_h);
    c->again_h = NULL;
    return false;
}

/* send_request queues the request of a call on k, which route r picked. */
static silk_status send_request(lconn *k, silk_ctx *ctx, const silk_method_desc *method,
                                const ProtobufCMessage *req, uint64_t budget, const silk__route *r,
                                silk_call_cb cb, void *arg)
{
    silk__reqhdr rh;
    lcall *c = malloc(sizeof *c);
    if (c == NULL ||
        silk__reqhdr_init(&rh, ctx, method, req, budget, k->lc->ch->token) != SILK_OK) {
        free(c);
        silk__ctx_set_message(ctx, "out of memory");
        return SILK_RESOURCE_EXHAUSTED;
    }
    int64_t now = silk__now_us();
    *c = (lcall){.call = {.id = ++k->last_id,
                          .deadline_us = now + (int64_t)budget,
                          .sent_us = now,
                          .method = method,
                          .cb = cb,
                          .arg = arg}};
    silk_status st = SILK_OK;
    if (!keep(k->lc, c, ctx, req, budget, r, !k->connected) ||
        !silk__call_table_add(&k->calls, &c->call)) {
        silk__ctx_set_message(ctx, "out of memory");
        st = SILK_RESOURCE_EXHAUSTED;
    } else if (!queue(k, SILK__FRAME_REQUEST, c->call.id, &rh.h.base, req)) {
        silk__call_table_remove(&k->calls, c->call.id);
        silk__ctx_set_message(ctx, "the request exceeds the message limit or the connection's "
                                   "send buffer is full");
        st = SILK_RESOURCE_EXHAUSTED;
    }
    silk__reqhdr_fini(&rh);
    if (st != SILK_OK) {
        silk__channel_forget(c->again);
        free(c->again_h);
        free(c);
    }
    return st;
}

silk_status silk_loop_channel_call(silk_loop_channel *lc, silk_ctx *ctx,
                                   const silk_method_desc *method, const ProtobufCMessage *req,
                                   silk_call_cb cb, void *arg)
{
    if (lc == NULL || method == NULL || req == NULL || cb == NULL ||
        req->descriptor != method->input) {
        silk__ctx_set_message(ctx, "invalid arguments");
        return SILK_INVALID_ARGUMENT;
    }
    if (lc->closing) {
        silk__ctx_set_message(ctx, "the loop channel is closed");
        return SILK_CANCELLED;
    }
    silk_channel *ch = lc->ch;
    if (!silk__channel_direct(ch, ctx))
        return call_through_channel(lc, ctx, method, req, cb, arg);
    uint64_t budget = silk__ctx_budget_us(ctx, method->timeout_ms);
    if (budget == 0) {
        silk__ctx_set_message(ctx, "the deadline passed before the call started");
        return SILK_DEADLINE_EXCEEDED;
    }
    if (silk_ctx_cancelled(ctx)) {
        silk__ctx_set_message(ctx, "the caller's call was cancelled");
        return SILK_CANCELLED;
    }
    silk__route r = {.ntried = 0};
    if (ch->by_name)
        silk__lb_route_init(&r, (silk_lb_policy)atomic_load(&ch->policy), method, req, ctx);
    lconn *k = direct_conn(lc, &r);
    if (k == NULL)
        return call_through_channel(lc, ctx, method, req, cb, arg);
    return send_request(k, ctx, method, req, budget, &r, cb, arg);
}

/* ============================== the loop channel ============================== */

silk_status silk_loop_channel_open(silk_loop_channel **lcp, silk_channel *ch,
                                   const silk_loop_ops *ops)
{
    if (lcp == NULL || ch == NULL || ops == NULL || ops->io == NULL || ops->post == NULL)
        return SILK_INVALID_ARGUMENT;
    silk_loop_channel *lc = calloc(1, sizeof *lc);
    if (lc == NULL)
        return SILK_RESOURCE_EXHAUSTED;
    lc->ch = ch;
    lc->ops = *ops;
    lc->max_frame = ch->max_message + SILK__FRAME_HEADER_ROOM;
    *lcp = lc;
    return SILK_OK;
}

void silk_loop_channel_close(silk_loop_channel *lc)
{
    if (lc == NULL)
        return;
    lc->closing = true;
    while (lc->conns != NULL)
        conn_close(lc->conns, SILK_CANCELLED, "the loop channel is closed");
    free(lc);
}
