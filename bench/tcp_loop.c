/* tcp_loop.c - bench-tcp-loop: the throughput floor of round trips over loopback TCP, straight
 * to an echo and through a relay, every process one epoll loop.
 *
 * The client keeps --inflight connections with one length-prefixed frame (a big-endian u32
 * length and that many bytes) in flight on each, as bench-ws's throughput test keeps its
 * WebSocket connections, and counts round trips per second. The echo server writes back what
 * it reads (peer tcp-loop: the floor of a two-process round trip, as an echo server's). With
 * --variant relay the server is a relay that passes every frame over one connection to an echo
 * in a third process, tagged with the connection it came from, and each answer back to its
 * connection (peer tcp-relay-loop): what a gateway multiplexing its sessions' calls over one
 * connection to a service pays at least. The frames read from the clients in one turn of the
 * relay's loop leave for the echo in one send. Throughput only; nothing is checked but the
 * frames' lengths. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

#define MAX_FDS  8192         /* descriptors a process tracks */
#define READ_CAP (256u << 10) /* bytes one read takes at most */
#define STALL_MS 10000        /* a peer that takes nothing for this long has failed */

/* bytes is a growable buffer. */
typedef struct bytes {
    uint8_t *p;
    size_t len;
    size_t cap;
} bytes;

/* room makes room for n more bytes in b; false when memory is exhausted. */
static bool room(bytes *b, size_t n)
{
    if (b->len + n <= b->cap)
        return true;
    size_t cap = b->cap > 0 ? b->cap : 4096;
    while (cap < b->len + n)
        cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (p == NULL)
        return false;
    b->p = p;
    b->cap = cap;
    return true;
}

/* frame_len tells the length of the whole frame at p (its length field included), or 0 when
 * the n bytes there do not hold one yet. */
static size_t frame_len(const uint8_t *p, size_t n)
{
    if (n < 4)
        return 0;
    uint32_t len;
    memcpy(&len, p, 4);
    size_t whole = (size_t)ntohl(len) + 4;
    return n >= whole ? whole : 0;
}

/* consume drops the first n bytes of b. */
static void consume(bytes *b, size_t n)
{
    b->len -= n;
    memmove(b->p, b->p + n, b->len);
}

/* write_all writes n bytes to a non-blocking socket, waiting for room when it is full; -1 when
 * the peer closed or took nothing for STALL_MS. */
static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
        } else if (w < 0 && errno == EAGAIN) {
            struct pollfd pf = {.fd = fd, .events = POLLOUT};
            if (poll(&pf, 1, STALL_MS) == 0)
                return -1;
        } else if (w == 0 || errno != EINTR) {
            return -1;
        }
    }
    return 0;
}

/* read_into appends what fd has to b; the bytes read, 0 at end of stream, -1 on an error and
 * when nothing is there (errno EAGAIN). */
static ssize_t read_into(int fd, bytes *b)
{
    if (!room(b, READ_CAP))
        return -1;
    ssize_t r;
    do
        r = recv(fd, b->p + b->len, READ_CAP, 0);
    while (r < 0 && errno == EINTR);
    if (r > 0)
        b->len += (size_t)r;
    return r;
}

static bool watch(int ep, int fd)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0;
}

/* dial connects to address ("127.0.0.1:port") as bench_dial_tcp does, then makes the socket
 * non-blocking; the descriptor, or -1 after printing why. */
static int dial(const char *address)
{
    int fd = bench_dial_tcp(address);
    if (fd >= MAX_FDS) {
        bench_fail("cannot connect to %s: too many descriptors", address);
        close(fd);
        return -1;
    }
    if (fd >= 0)
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

/* ============================== the servers ============================== */

/* A server's loop: one epoll set, the listening socket, and for a relay its connection to the
 * echo with what it has read from it and what waits to go to it. */
typedef struct server {
    int ep;
    int lfd;
    int up; /* the relay's connection to the echo; -1: this server echoes */
    bytes up_in;
    bytes up_out;
    bytes in[MAX_FDS]; /* a relay's partial frames from each client */
} server;

static void drop(server *s, int fd)
{
    close(fd); /* which also takes it out of the epoll set */
    free(s->in[fd].p);
    s->in[fd] = (bytes){0};
}

static void accept_all(server *s)
{
    int fd;
    while ((fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        bench_nodelay(fd);
        if (fd >= MAX_FDS || !watch(s->ep, fd))
            close(fd);
    }
}

/* echo writes back what a client sent, as it came. */
static void echo(server *s, int fd)
{
    bytes *b = &s->in[fd];
    ssize_t r = read_into(fd, b);
    if (r > 0 && write_all(fd, b->p, b->len) == 0)
        b->len = 0;
    else if (r >= 0 || errno != EAGAIN)
        drop(s, fd);
}

/* from_client queues every whole frame a client sent for the echo, tagged with the client's
 * descriptor: length + 4, the descriptor, the body. */
static void from_client(server *s, int fd)
{
    bytes *b = &s->in[fd];
    ssize_t r = read_into(fd, b);
    if (r <= 0) {
        if (r == 0 || errno != EAGAIN)
            drop(s, fd);
        return;
    }
    size_t off = 0, n;
    while ((n = frame_len(b->p + off, b->len - off)) > 0) {
        if (!room(&s->up_out, n + 4)) {
            drop(s, fd);
            return;
        }
        uint8_t *o = s->up_out.p + s->up_out.len;
        uint32_t len = htonl((uint32_t)n), tag = (uint32_t)fd;
        memcpy(o, &len, 4);
        memcpy(o + 4, &tag, 4);
        memcpy(o + 8, b->p + off + 4, n - 4);
        s->up_out.len += n + 4;
        off += n;
    }
    consume(b, off);
}

/* from_echo passes every whole answer from the echo to its client, its tag overwritten by
 * the client's length field. False when the echo's connection failed. */
static bool from_echo(server *s)
{
    bytes *b = &s->up_in;
    ssize_t r = read_into(s->up, b);
    if (r <= 0)
        return r < 0 && errno == EAGAIN;
    size_t off = 0, n;
    while ((n = frame_len(b->p + off, b->len - off)) > 0) {
        uint8_t *f = b->p + off;
        uint32_t tag, len = htonl((uint32_t)(n - 8));
        memcpy(&tag, f + 4, 4);
        memcpy(f + 4, &len, 4);
        if (tag < MAX_FDS && s->in[tag].p != NULL)
            write_all((int)tag, f + 4, n - 4); /* a client gone is dropped on its own read */
        off += n;
    }
    consume(b, off);
    return true;
}

static void *serve_main(void *arg)
{
    server *s = arg;
    struct epoll_event ev[256];
    for (;;) {
        int n = epoll_wait(s->ep, ev, 256, -1);
        if (n < 0 && errno != EINTR)
            break;
        for (int i = 0; i < n; i++) {
            int fd = ev[i].data.fd;
            if (fd == s->lfd)
                accept_all(s);
            else if (s->up < 0)
                echo(s, fd);
            else if (fd != s->up)
                from_client(s, fd);
            else if (!from_echo(s))
                return NULL;
        }
        if (s->up >= 0 && s->up_out.len > 0) { /* this turn's frames, in one send */
            if (write_all(s->up, s->up_out.p, s->up_out.len) != 0)
                return NULL;
            s->up_out.len = 0;
        }
    }
    return NULL;
}

/* listen_loopback listens on a free port of 127.0.0.1 and writes its address. */
static int listen_loopback(char *address, size_t cap)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 1024) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        bench_fail("cannot listen: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    snprintf(address, cap, "127.0.0.1:%u", ntohs(sa.sin_port));
    return fd;
}

static int serve(const bench_opts *o)
{
    bool relay = o->variant != NULL && strcmp(o->variant, "relay") == 0;
    if (o->variant != NULL && !relay) {
        bench_fail("no server variant %s (relay, or none)", o->variant);
        return 1;
    }
    static server s; /* large: its partial frames of every descriptor */
    s.up = -1;
    bench_server echo_child;
    if (relay) { /* the echo, a process of its own, on this one's CPU */
        bench_opts plain = *o;
        plain.variant = NULL;
        plain.pin = NULL;
        if (bench_spawn(&echo_child, &plain, NULL) != 0)
            return 1;
        if ((s.up = dial(echo_child.address)) < 0)
            return 1;
    }
    char address[64];
    pthread_t t;
    if ((s.ep = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
        (s.lfd = listen_loopback(address, sizeof address)) < 0 || !watch(s.ep, s.lfd) ||
        (s.up >= 0 && !watch(s.ep, s.up)) || pthread_create(&t, NULL, serve_main, &s) != 0) {
        bench_fail("cannot serve: %s", strerror(errno));
        return 1;
    }
    bench_serve_ready(address);
    return relay && bench_stop(&echo_child) != 0 ? 1 : 0; /* exiting ends the loop */
}

/* ============================== the client ============================== */

typedef struct client {
    const bench_opts *o;
    int ep;
    int n;
    int *fds;
    bytes *in;    /* per connection, indexed like fds */
    uint8_t *out; /* the request frame */
    size_t out_len;
    long done;    /* round trips completed */
    int waiting;  /* connections with a frame in flight */
    bool sending; /* false once the window is over: answers start no new round trip */
} client;

/* answered counts the whole answers on connection k and starts the next round trip; -1 when
 * the connection failed or an answer was not the frame sent. */
static int answered(client *c, int k)
{
    bytes *b = &c->in[k];
    ssize_t r = read_into(c->fds[k], b);
    if (r <= 0)
        return r < 0 && errno == EAGAIN ? 0 : -1;
    size_t n;
    while ((n = frame_len(b->p, b->len)) > 0) {
        if (n != c->out_len)
            return -1;
        consume(b, n);
        c->done++;
        c->waiting--;
        if (c->sending) {
            if (write_all(c->fds[k], c->out, c->out_len) != 0)
                return -1;
            c->waiting++;
        }
    }
    return 0;
}

/* pump runs the client's loop until deadline_ns, or until no frame is in flight when
 * draining; -1 when a connection failed. */
static int pump(client *c, uint64_t deadline_ns)
{
    struct epoll_event ev[256];
    while (bench_now_ns() < deadline_ns && (c->sending || c->waiting > 0)) {
        int n = epoll_wait(c->ep, ev, 256, 100);
        if (n < 0 && errno != EINTR)
            return -1;
        for (int i = 0; i < n; i++)
            if (answered(c, ev[i].data.fd) != 0) {
                bench_fail("connection %d failed or answered wrong", ev[i].data.fd);
                return -1;
            }
    }
    return 0;
}

static int measure(client *c, const char *address, double *rate)
{
    for (int k = 0; k < c->n; k++) {
        if ((c->fds[k] = dial(address)) < 0)
            return -1;
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = k};
        if (epoll_ctl(c->ep, EPOLL_CTL_ADD, c->fds[k], &ev) != 0 ||
            write_all(c->fds[k], c->out, c->out_len) != 0)
            return -1;
        c->waiting++;
    }
    double warm = c->o->seconds / 5 < 1 ? c->o->seconds / 5 : 1;
    uint64_t t0 = bench_now_ns();
    if (pump(c, t0 + (uint64_t)(warm * 1e9)) != 0)
        return -1;
    long before = c->done;
    uint64_t t1 = bench_now_ns();
    if (pump(c, t1 + (uint64_t)(c->o->seconds * 1e9)) != 0)
        return -1;
    uint64_t t2 = bench_now_ns();
    *rate = (double)(c->done - before) / ((double)(t2 - t1) / 1e9);
    c->sending = false;
    if (pump(c, t2 + (uint64_t)STALL_MS * 1000000u) != 0 || c->waiting > 0) {
        bench_fail("%d round trips still unanswered after %d ms", c->waiting, STALL_MS);
        return -1;
    }
    return 0;
}

static int run(const bench_opts *o, const char *address)
{
    client c = {.o = o, .n = o->inflight, .sending = true, .out_len = o->payload + 4};
    c.fds = malloc(sizeof *c.fds * (size_t)c.n);
    c.in = calloc((size_t)c.n, sizeof *c.in);
    c.out = malloc(c.out_len);
    c.ep = epoll_create1(EPOLL_CLOEXEC);
    int rc = 1;
    double rate = 0;
    if (c.fds != NULL && c.in != NULL && c.out != NULL && c.ep >= 0) {
        for (int k = 0; k < c.n; k++)
            c.fds[k] = -1;
        uint32_t len = htonl((uint32_t)o->payload);
        memcpy(c.out, &len, 4);
        bench_fill(c.out + 4, o->payload);
        rc = measure(&c, address, &rate) == 0 ? 0 : 1;
    }
    if (rc == 0)
        bench_result(o->variant != NULL ? "tcp-relay-loop" : "tcp-loop", "msgs_per_s", rate);
    for (int k = 0; c.fds != NULL && k < c.n; k++) {
        if (c.fds[k] >= 0)
            close(c.fds[k]);
        free(c.in[k].p);
    }
    if (c.ep >= 0)
        close(c.ep);
    free(c.fds);
    free(c.in);
    free(c.out);
    return rc;
}

int main(int argc, char **argv)
{
    bench_opts o;
    bench_parse(&o, argc, argv,
                "bench-tcp-loop measures the throughput floor of round trips over loopback "
                "TCP, every process one epoll loop: --inflight connections with one frame in "
                "flight each against an echo (peer tcp-loop) or, with --variant relay, through "
                "a relay that multiplexes them over one connection to an echo in a third "
                "process (peer tcp-relay-loop). It prints msgs_per_s.");
    return bench_main(&o, serve, run);
}
