/* sock_conn.c - a framed connection on a non-blocking socket the caller's loop watches:
 * numeric addresses, connect, buffered writes, reads into frames, deferred close. */
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

#include "transport/socket/sock_conn.h"
#include "wire/header.h"

/* What one read asks for; the input buffer keeps this much between large frames. */
#define READ_CHUNK (64u << 10)

/* ============================== closing ============================== */

/* close_later marks k to be closed with st once nothing holds it; the first reason stays. */
static void close_later(silk__sock_conn *k, silk_status st, const char *why)
{
    if (!k->close_pending) {
        k->close_pending = true;
        k->close_st = st;
        snprintf(k->close_why, sizeof k->close_why, "%s", why);
    }
}

void silk__sock_conn_close(silk__sock_conn *k, silk_status st, const char *why)
{
    if (k->holds > 0) {
        close_later(k, st, why);
        return;
    }
    char reason[sizeof k->close_why];
    snprintf(reason, sizeof reason, "%s", why); /* why may be k's own */
    k->loop.io(k->loop.loop, &k->io_state, k->fd, 0, k);
    close(k->fd);
    k->fd = -1;
    free(k->out);
    free(k->in.buf);
    k->out = NULL;
    k->in = (silk__frame_in){0};
    k->ops->closed(k, st, reason);
}

void silk__sock_conn_hold(silk__sock_conn *k)
{
    k->holds++;
}

void silk__sock_conn_release(silk__sock_conn *k)
{
    if (--k->holds == 0 && k->close_pending) {
        k->close_pending = false;
        silk__sock_conn_close(k, k->close_st, k->close_why);
    }
}

bool silk__sock_conn_closing(const silk__sock_conn *k)
{
    return k->close_pending;
}

/* watch has the loop watch k's socket for events; k is left closing when it cannot. */
static void watch(silk__sock_conn *k, int events)
{
    if (k->events == events || k->close_pending)
        return;
    if (k->loop.io(k->loop.loop, &k->io_state, k->fd, events, k) != 0) {
        close_later(k, SILK_UNAVAILABLE, "the loop cannot watch the connection");
        return;
    }
    k->events = events;
}

/* ============================== connecting ============================== */

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

bool silk__sock_conn_address_ok(const char *address)
{
    struct sockaddr_storage sa;
    socklen_t len;
    return parse_address(address, &sa, &len);
}

bool silk__sock_conn_open(silk__sock_conn *k, const silk__sock_conn_ops *ops,
                          const silk_loop_ops *loop, const char *address, uint32_t max_frame)
{
    struct sockaddr_storage sa;
    socklen_t len;
    if (!parse_address(address, &sa, &len))
        return false;
    int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    int one = 1;
    if (sa.ss_family != AF_UNIX)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int rc = connect(fd, (struct sockaddr *)&sa, len);
    if (rc != 0 && errno != EINPROGRESS) {
        close(fd);
        return false;
    }
    *k = (silk__sock_conn){.ops = ops, .loop = *loop, .max_frame = max_frame, .fd = fd};
    k->connected = rc == 0;
    if (k->connected) /* a unix socket: made at once */
        ops->connected(k);
    watch(k, k->connected ? SILK_LOOP_READ : SILK_LOOP_READ | SILK_LOOP_WRITE);
    return true;
}

/* finish_connect checks how a connect() in progress ended; false when k closed. */
static bool finish_connect(silk__sock_conn *k)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err != 0) {
        char why[96];
        snprintf(why, sizeof why, "cannot connect: %s", strerror(err));
        k->ops->dial_failed(k);
        silk__sock_conn_close(k, SILK_UNAVAILABLE, why);
        return false;
    }
    k->connected = true;
    k->ops->connected(k);
    return true;
}

/* ============================== writing ============================== */

/* reserve makes room for n more bytes of output; false when it cannot. */
static bool reserve(silk__sock_conn *k, size_t n)
{
    if (k->out_off > 0 && k->out_off == k->out_len)
        k->out_off = k->out_len = 0;
    if (k->out_len - k->out_off + n > SILK__SOCK_CONN_MAX_QUEUED)
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
    return silk__frame_out_reserve(&k->out, &k->out_cap, k->out_len + n);
}

bool silk__sock_conn_send(silk__sock_conn *k, uint8_t kind, uint64_t call_id,
                          const ProtobufCMessage *header, const ProtobufCMessage *payload)
{
    size_t hlen = header != NULL ? silk__header_size(header) : 0;
    size_t plen = payload != NULL ? protobuf_c_message_get_packed_size(payload) : 0;
    size_t size = silk__frame_size(hlen, plen);
    if (size - 4 > k->max_frame || !reserve(k, size))
        return false;
    k->out_len +=
        silk__frame_encode(k->out + k->out_len, kind, call_id, header, hlen, payload, plen);
    if (k->loop.flushes && k->connected && !(k->events & SILK_LOOP_WRITE))
        k->unflushed = true; /* the loop flushes before it waits: no round trip through it */
    else
        watch(k, SILK_LOOP_READ | SILK_LOOP_WRITE);
    return true;
}

static bool on_readable(silk__sock_conn *k);

static void on_writable(silk__sock_conn *k)
{
    if (!k->connected && !finish_connect(k))
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
             * still reach the owner. */
            while (!k->close_pending && on_readable(k))
                continue;
            silk__sock_conn_close(k, SILK_UNAVAILABLE, why);
            return;
        }
        k->out_off += (size_t)n;
    }
    k->out_off = k->out_len = 0;
    watch(k, SILK_LOOP_READ);
}

/* ============================== reading ============================== */

/* consume hands every whole frame read to the owner and keeps the rest; when the stream
 * cannot be decoded k closes. */
static void consume(silk__sock_conn *k)
{
    size_t off = 0;
    silk__frame f;
    int rc = SILK__IN_MORE;
    while (!k->close_pending && (rc = silk__frame_in_next(&k->in, &off, k->max_frame, &f)) > 0) {
        if (rc == SILK__IN_FRAME)
            k->ops->frame(k, &f);
        else
            k->ops->too_big(k, &f);
    }
    if (!k->close_pending && rc == SILK__IN_NOMEM)
        silk__sock_conn_close(k, SILK_RESOURCE_EXHAUSTED, "out of memory for a frame");
    else if (!k->close_pending && rc < 0)
        silk__sock_conn_close(k, SILK_UNAVAILABLE, "protocol error: bad frame");
    else
        silk__frame_in_consumed(&k->in, off);
}

/* on_readable reads once and hands over the frames read; true when it read bytes (there
 * may be more). */
static bool on_readable(silk__sock_conn *k)
{
    if (k->in.cap - k->in.len < READ_CHUNK &&
        !silk__frame_in_resize(&k->in, k->in.len + READ_CHUNK)) {
        silk__sock_conn_close(k, SILK_RESOURCE_EXHAUSTED, "out of memory for a read");
        return false;
    }
    ssize_t n = recv(k->fd, k->in.buf + k->in.len, k->in.cap - k->in.len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return false;
    if (n <= 0) {
        char why[96];
        snprintf(why, sizeof why, "connection lost: %s",
                 n == 0 ? "closed by the server" : strerror(errno));
        silk__sock_conn_close(k, SILK_UNAVAILABLE, why);
        return false;
    }
    k->in.len += (size_t)n;
    consume(k);
    return true;
}

bool silk__sock_conn_flush(silk__sock_conn *k)
{
    if (!k->unflushed)
        return false;
    k->unflushed = false;
    silk__sock_conn_hold(k);
    on_writable(k);
    if (!k->close_pending && k->out_off < k->out_len)
        watch(k, SILK_LOOP_READ | SILK_LOOP_WRITE); /* the socket is full: the rest when it can */
    silk__sock_conn_release(k);
    return true;
}

void silk__sock_conn_ready(silk__sock_conn *k, int ready)
{
    silk__sock_conn_hold(k);
    if (ready & SILK_LOOP_WRITE)
        on_writable(k);
    if ((ready & SILK_LOOP_READ) && !k->close_pending && k->connected)
        on_readable(k);
    silk__sock_conn_release(k);
}
