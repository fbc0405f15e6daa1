/* rpc_tcp.c - bench-rpc-tcp: the floor, a blocking TCP ping-pong of length-prefixed frames.
 *
 * A frame is a big-endian u32 length and that many bytes. Each side writes a frame with one
 * send() and reads with recv() into a buffer, so a round trip costs one send and (usually)
 * one recv on each side: what any RPC over TCP pays at least. Latency only. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

/* framer reads frames from a socket through a buffer. */
typedef struct framer {
    int fd;
    uint8_t *buf;
    size_t cap;
    size_t len; /* bytes in buf */
} framer;

/* read_frame reads one frame; it returns its body length (the body at f->buf + 4), or -1 at
 * end of stream or on error. Call consume() once done with it. */
static long read_frame(framer *f)
{
    for (;;) {
        if (f->len >= 4) {
            uint32_t n;
            memcpy(&n, f->buf, 4);
            n = ntohl(n);
            if ((size_t)n + 4 > f->cap) {
                errno = EMSGSIZE;
                return -1;
            }
            if (f->len >= (size_t)n + 4)
                return (long)n;
        }
        ssize_t r = recv(f->fd, f->buf + f->len, f->cap - f->len, 0);
        if (r <= 0) {
            if (r < 0 && errno == EINTR)
                continue;
            return -1;
        }
        f->len += (size_t)r;
    }
}

static void consume(framer *f, size_t body)
{
    f->len -= body + 4;
    memmove(f->buf, f->buf + body + 4, f->len);
}

static int send_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* ============================== the server ============================== */

/* conn_main echoes every frame of one connection, sending it back as it came. */
static void *conn_main(void *arg)
{
    int fd = (int)(intptr_t)arg;
    framer f = {.fd = fd, .cap = (2u << 20) + 4};
    f.buf = malloc(f.cap);
    long n;
    while (f.buf != NULL && (n = read_frame(&f)) >= 0) {
        if (send_all(fd, f.buf, (size_t)n + 4) != 0)
            break;
        consume(&f, (size_t)n);
    }
    free(f.buf);
    close(fd);
    return NULL;
}

static void *accept_main(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return NULL;
        }
        nodelay(fd);
        pthread_t t;
        if (pthread_create(&t, NULL, conn_main, (void *)(intptr_t)fd) != 0)
            close(fd);
        else
            pthread_detach(t);
    }
}

static int serve(const bench_opts *o)
{
    (void)o;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    pthread_t t;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(lfd, 16) != 0 ||
        getsockname(lfd, (struct sockaddr *)&sa, &len) != 0 ||
        pthread_create(&t, NULL, accept_main, (void *)(intptr_t)lfd) != 0) {
        bench_fail("cannot listen: %s", strerror(errno));
        return 1;
    }
    char address[64];
    snprintf(address, sizeof address, "127.0.0.1:%u", ntohs(sa.sin_port));
    bench_serve_ready(address);
    return 0; /* exiting ends the threads */
}

/* ============================== the client ============================== */

typedef struct client {
    const bench_opts *o;
    framer in;
    uint8_t *out; /* the request frame */
} client;

static int call_once(void *arg)
{
    client *c = arg;
    size_t n = c->o->payload;
    if (send_all(c->in.fd, c->out, n + 4) != 0) {
        bench_fail("send: %s", strerror(errno));
        return -1;
    }
    long got = read_frame(&c->in);
    if (got < 0 || !bench_check(c->in.buf + 4, (size_t)got, n)) {
        bench_fail("receive: %s", got < 0 ? strerror(errno) : "wrong reply");
        return -1;
    }
    consume(&c->in, (size_t)got);
    return 0;
}

static int run(const bench_opts *o, const char *address)
{
    char host[64];
    unsigned port = 0;
    struct sockaddr_in sa = {.sin_family = AF_INET};
    if (sscanf(address, "%63[^:]:%u", host, &port) != 2 || port > 65535 ||
        inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        bench_fail("bad address %s (want 127.0.0.1:port)", address);
        return 1;
    }
    sa.sin_port = htons((uint16_t)port);
    client c = {.o = o, .in = {.cap = o->payload + 4 + 4096}};
    c.in.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    c.in.buf = malloc(c.in.cap);
    c.out = malloc(o->payload + 4);
    if (c.in.fd < 0 || c.in.buf == NULL || c.out == NULL ||
        connect(c.in.fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        bench_fail("cannot connect to %s: %s", address, strerror(errno));
        return 1;
    }
    nodelay(c.in.fd);
    uint32_t len = htonl((uint32_t)o->payload);
    memcpy(c.out, &len, 4);
    bench_fill(c.out + 4, o->payload);

    int rc = 0;
    double p50, p99;
    if (o->latency && (rc = bench_latency(o, call_once, &c, &p50, &p99)) == 0) {
        bench_result("tcp", "p50_us", p50);
        bench_result("tcp", "p99_us", p99);
    }
    close(c.in.fd);
    free(c.in.buf);
    free(c.out);
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    bench_opts o;
    bench_parse(&o, argc, argv,
                "bench-rpc-tcp measures the floor: a blocking TCP ping-pong of length-prefixed "
                "frames over loopback, one send() and one recv() a side per round trip. "
                "Latency only.");
    return bench_main(&o, serve, run);
}
