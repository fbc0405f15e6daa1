/* rpc_tcp.c - bench-rpc-tcp: the floor, a blocking TCP ping-pong of length-prefixed frames.
 *
 * A frame is a big-endian u32 length and that many bytes. Each side writes a frame with one
 * send() and reads with recv() into a buffer, so a round trip costs one send and (usually)
 * one recv on each side: what any RPC over TCP pays at least. Latency only.
 *
 * With --variant relay the server is a relay in a process of its own that passes each frame
 * to an echo server in a third process and its answer back, as blocking as the rest: the
 * least a round trip through a middle process (a gateway) costs, reported as tcp-relay. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
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

/* ============================== the server ============================== */

/* The echo server a relay passes frames to; NULL: this server echoes them itself. */
static const char *relay_to;

/* pass reads a frame from in and sends it whole to out; false at end of stream or on error. */
static bool pass(framer *in, int out)
{
    long n = read_frame(in);
    if (n < 0 || send_all(out, in->buf, (size_t)n + 4) != 0)
        return false;
    consume(in, (size_t)n);
    return true;
}

/* conn_main echoes every frame of one connection, sending it back as it came; a relay sends
 * it to the echo server and what comes back to the client. */
static void *conn_main(void *arg)
{
    int fd = (int)(intptr_t)arg;
    size_t cap = (2u << 20) + 4;
    framer f = {.fd = fd, .cap = cap, .buf = malloc(cap)};
    framer back = {
        .fd = relay_to != NULL ? bench_dial_tcp(relay_to) : fd, .cap = cap, .buf = malloc(cap)};
    while (f.buf != NULL && back.buf != NULL && back.fd >= 0 && pass(&f, back.fd) &&
           (relay_to == NULL || pass(&back, fd)))
        ;
    if (relay_to != NULL && back.fd >= 0)
        close(back.fd);
    free(f.buf);
    free(back.buf);
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
        bench_nodelay(fd);
        pthread_t t;
        if (pthread_create(&t, NULL, conn_main, (void *)(intptr_t)fd) != 0)
            close(fd);
        else
            pthread_detach(t);
    }
}

static int serve(const bench_opts *o)
{
    bench_server echo;
    bool relay = o->variant != NULL && strcmp(o->variant, "relay") == 0;
    if (o->variant != NULL && !relay) {
        bench_fail("no server variant %s (relay, or none)", o->variant);
        return 1;
    }
    if (relay) { /* the echo server, a process of its own, on this one's CPU */
        bench_opts plain = *o;
        plain.variant = NULL;
        plain.pin = NULL;
        if (bench_spawn(&echo, &plain, NULL) != 0)
            return 1;
        relay_to = echo.address;
    }
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
    return relay && bench_stop(&echo) != 0 ? 1 : 0; /* exiting ends the threads */
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
    client c = {.o = o, .in = {.cap = o->payload + 4 + 4096}};
    c.in.buf = malloc(c.in.cap);
    c.out = malloc(o->payload + 4);
    if (c.in.buf == NULL || c.out == NULL || (c.in.fd = bench_dial_tcp(address)) < 0) {
        free(c.in.buf);
        free(c.out);
        return 1;
    }
    uint32_t len = htonl((uint32_t)o->payload);
    memcpy(c.out, &len, 4);
    bench_fill(c.out + 4, o->payload);

    int rc = 0;
    double p50, p99;
    if (o->latency && (rc = bench_latency(o, call_once, &c, &p50, &p99)) == 0) {
        const char *peer = o->variant != NULL ? "tcp-relay" : "tcp";
        bench_result(peer, "p50_us", p50);
        bench_result(peer, "p99_us", p99);
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
                "Latency only. With --variant relay each frame goes through a relay process "
                "to an echo process and back (peer tcp-relay): the floor of a round trip "
                "through a gateway.");
    return bench_main(&o, serve, run);
}
