/* ws_client.c - bench-ws: the WebSocket load client of make bench-ws.
 *
 * One thread, epoll, non-blocking sockets and its own client framing (masked frames, RFC
 * 6455 section 5). It runs one test per invocation against a server at --url:
 *
 *   latency     --warmup then --calls round trips on one connection: p50_us, p99_us
 *   throughput  --connections connections, each keeping one message in flight, counted for
 *               --seconds after a warm-up: msgs_per_s
 *   idle        --sessions connections opened and left idle; the server's (--pid) VmRSS
 *               before and after: idle_bytes (per connection)
 *   push        --sessions sessions of one business on silk's gateway; --pushers threads
 *               call silk_ws_send_business() (the gateway's SessionManager) with at most
 *               --window pushes per session not yet received: pushes_per_s (messages
 *               delivered to the sessions per second)
 *   handshakes  --connections connections at a time, each: connect, HTTP upgrade (with
 *               `Authorization: Bearer` when --token is given), read the 101, close; counted
 *               for --seconds after a warm-up: handshakes_per_s
 *   fanout      --sessions sessions of one business; --rounds times, a thread pushes one
 *               message to each, --via business (silk_ws_send_business) or echo (the seed's
 *               wstest.WsTest/Echo, through the registry), and every session must get its
 *               one message (echo: naming its own Silk-Session-Id): call_ms (until the call
 *               returned), first_ms, p50_ms and last_ms (arrivals), medians over the rounds
 *   hold        --sessions sessions of --business, from the --source addresses in turn,
 *               each pinging once; prints `open N` when all are open, then `received N` once
 *               each got exactly one message, --expect; until SIGTERM or --seconds
 *   streams     --sessions silk.v1 sessions, session i of business <--business>(i %
 *               --businesses); --pushers threads call SessionManager.SendToBusiness with
 *               --route ("": every route, kept nowhere; a route with history: each push
 *               appended to its stream), round-robin over the businesses, with at most
 *               --window messages not yet received; every envelope checked (its push, in
 *               order, and with history the next offset of the stream): pushes_per_s
 *   replay      --rounds times: a silk.v1 session of business <--business><round> reads its
 *               welcome and leaves, --missed pushes are made to it with SendToBusiness, then
 *               a session reopens with since=<epoch>:<offset>: the time from its connect to
 *               the first replayed push (first_ms) and to the last (ms), medians, each
 *               replayed push checked once, in order
 *
 * A wss:// URL speaks TLS (OpenSSL, the server's certificate not verified: a benchmark on
 * loopback, never a client to trust). It prints `result <peer> <metric> <value>` lines. A server
 * that answers a message with nothing within 2 s (silk's gateway before OnMessage hooks) makes
 * latency and throughput exit with 3 after printing `result <peer> noreply 1`. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <silk/silk.h>

#include "bench.h"
#include "silk/ws.silk.h"
#include "wstest.silk.h"

/* ============================== options ============================== */

typedef struct opts {
    const char *peer, *test, *host, *path;
    int port;
    bool tls; /* wss:// */
    long calls, warmup;
    int connections, sessions, pushers, window;
    double seconds;
    size_t payload;
    bool any_reply; /* a reply need not be the message itself (silk's OnMessage) */
    long pid;       /* idle: the server's process */
    const char *business;
    char *token;                /* the bearer token sent in each upgrade, or NULL */
    const char *via;            /* fanout: business or echo */
    int rounds;                 /* fanout: pushes timed */
    const char *expect;         /* hold: the message every session must get */
    struct in_addr sources[32]; /* hold: source addresses, taken in turn (none: any) */
    int n_sources;
    const char *route; /* streams, replay: SendToBusiness's route (NULL: streams "", replay
                          the URL's) */
    int businesses;    /* streams: the sessions' businesses */
    long missed;       /* replay: pushes made while away */
} opts;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: bench-ws --url ws[s]://HOST:PORT/PATH --test "
            "latency|throughput|idle|push|handshakes|\n"
            "                fanout|hold|streams|replay\n"
            "                [--peer NAME] [options]\n"
            "\n"
            "The WebSocket load client of make bench-ws: prints result <peer> <metric> "
            "<value>.\n"
            "\n"
            "  --calls N        latency: timed round trips on one connection (20000)\n"
            "  --warmup N       latency: round trips before timing (2000)\n"
            "  --connections N  throughput: connections, one message in flight each (100);\n"
            "                   handshakes: handshakes at a time (4)\n"
            "  --seconds S      throughput, push, streams, handshakes: the measured window\n"
            "                   (10)\n"
            "  --token T        every upgrade carries Authorization: Bearer T; T is a file's\n"
            "                   contents (trailing white space dropped) when it names one\n"
            "  --sessions N     idle: idle connections (10000); push, streams: sessions\n"
            "                   (1000); fanout, hold: sessions (10000)\n"
            "  --pid PID        idle: the server process whose VmRSS is read\n"
            "  --payload N      bytes per message (64)\n"
            "  --any-reply      latency, throughput: any reply counts (default: the echo)\n"
            "  --business ID    push: the sessions' business id (benchpush); it is appended\n"
            "                   to the URL as ?businessId=ID; streams, replay: the prefix\n"
            "                   of the businesses' ids (streams, replay)\n"
            "  --pushers N      push: threads calling silk_ws_send_business; streams:\n"
            "                   threads calling SendToBusiness (1)\n"
            "  --window N       push: pushes not yet received, per session, at most (8);\n"
            "                   streams: messages not yet received, in all (64)\n"
            "  --route R        streams: SendToBusiness's route, \"\" every route, kept\n"
            "                   nowhere (\"\"); replay: the route pushed to (the URL's)\n"
            "  --businesses N   streams: the businesses the sessions are spread over (1000)\n"
            "  --missed N       replay: pushes made while the session is away (1000)\n"
            "  --via KIND       fanout: business (SendToBusiness) or echo (WsTest.Echo)\n"
            "  --rounds N       fanout: pushes to every session, timed; replay: reconnections\n"
            "                   timed (5)\n"
            "  --source A,B,... hold: bind the connections to these addresses in turn\n"
            "  --expect TEXT    hold: the message every session must get (pushed)\n"
            "\n"
            "push, fanout, streams and replay find the gateway (and Echo) through\n"
            "$SILK_REGISTRY.\n");
}

static double num(const char *opt, const char *v)
{
    char *end = NULL;
    double d = v != NULL ? strtod(v, &end) : -1;
    if (v == NULL || end == v || *end != '\0' || d < 0) {
        bench_fail("%s needs a non-negative number", opt);
        exit(2);
    }
    return d;
}

/* read_token returns the token v names: a regular file's contents without trailing white
 * space, else v itself; a copy, or exits 2. */
static char *read_token(const char *v)
{
    struct stat st;
    char *t = NULL;
    if (stat(v, &st) == 0 && S_ISREG(st.st_mode)) {
        FILE *f = fopen(v, "r");
        t = f != NULL && st.st_size < 65536 ? calloc(1, (size_t)st.st_size + 1) : NULL;
        if (t == NULL || fread(t, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
            bench_fail("cannot read the token file %s", v);
            exit(2);
        }
        fclose(f);
        size_t n = strlen(t);
        while (n > 0 && (t[n - 1] == '\n' || t[n - 1] == '\r' || t[n - 1] == ' '))
            t[--n] = '\0';
    } else {
        t = strdup(v);
    }
    if (t == NULL || strpbrk(t, "\r\n") != NULL || strlen(t) > 8000) {
        bench_fail("--token: not a token (one line, at most 8000 bytes)");
        exit(2);
    }
    return t;
}

static int parse_url(opts *o, const char *url)
{
    static char host[64], path[512];
    o->tls = strncmp(url, "wss://", 6) == 0;
    if (!o->tls && strncmp(url, "ws://", 5) != 0)
        return -1;
    const char *h = url + (o->tls ? 6 : 5), *colon = strchr(h, ':');
    if (colon == NULL || (size_t)(colon - h) >= sizeof host)
        return -1;
    memcpy(host, h, (size_t)(colon - h));
    host[colon - h] = '\0';
    o->port = atoi(colon + 1);
    const char *p = strchr(colon, '/');
    snprintf(path, sizeof path, "%s", p != NULL ? p : "/");
    o->host = host;
    o->path = path;
    return o->port > 0 && o->port < 65536 ? 0 : -1;
}

/* parse_sources reads --source's comma-separated IPv4 addresses, or exits 2. */
static void parse_sources(opts *o, const char *v)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", v);
    o->n_sources = 0;
    for (char *save = NULL, *a = strtok_r(buf, ",", &save); a != NULL;
         a = strtok_r(NULL, ",", &save)) {
        if (o->n_sources == 32 || inet_pton(AF_INET, a, &o->sources[o->n_sources]) != 1) {
            bench_fail("--source: at most 32 IPv4 addresses, comma-separated");
            exit(2);
        }
        o->n_sources++;
    }
}

/* defaults sets what --test decides when not given: connections, sessions, window and the
 * business id (or prefix). */
static void defaults(opts *o)
{
    bool streams = strcmp(o->test, "streams") == 0, replay = strcmp(o->test, "replay") == 0;
    if (o->connections < 0)
        o->connections = strcmp(o->test, "handshakes") == 0 ? 4 : 100;
    if (o->sessions < 0)
        o->sessions = strcmp(o->test, "idle") == 0 || strcmp(o->test, "fanout") == 0 ||
                              strcmp(o->test, "hold") == 0
                          ? 10000
                          : 1000;
    if (o->window < 0)
        o->window = streams ? 64 : 8;
    if (o->business == NULL)
        o->business = streams ? "streams" : replay ? "replay" : "benchpush";
}

static void parse(opts *o, int argc, char **argv)
{
    *o = (opts){.peer = "peer",
                .calls = 20000,
                .warmup = 2000,
                .connections = -1,
                .sessions = -1,
                .pushers = 1,
                .window = -1,
                .seconds = 10,
                .payload = 64,
                .business = NULL,
                .via = "business",
                .rounds = 5,
                .expect = "pushed",
                .businesses = 1000,
                .missed = 1000};
    const char *url = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(a, "--any-reply") == 0) {
            o->any_reply = true;
            continue;
        } else if (v == NULL) {
            usage(stderr);
            exit(2);
        } else if (strcmp(a, "--url") == 0) {
            url = v;
        } else if (strcmp(a, "--test") == 0) {
            o->test = v;
        } else if (strcmp(a, "--peer") == 0) {
            o->peer = v;
        } else if (strcmp(a, "--business") == 0) {
            o->business = v;
        } else if (strcmp(a, "--calls") == 0) {
            o->calls = (long)num(a, v);
        } else if (strcmp(a, "--warmup") == 0) {
            o->warmup = (long)num(a, v);
        } else if (strcmp(a, "--connections") == 0) {
            o->connections = (int)num(a, v);
        } else if (strcmp(a, "--sessions") == 0) {
            o->sessions = (int)num(a, v);
        } else if (strcmp(a, "--pushers") == 0) {
            o->pushers = (int)num(a, v);
        } else if (strcmp(a, "--window") == 0) {
            o->window = (int)num(a, v);
        } else if (strcmp(a, "--seconds") == 0) {
            o->seconds = num(a, v);
        } else if (strcmp(a, "--payload") == 0) {
            o->payload = (size_t)num(a, v);
        } else if (strcmp(a, "--pid") == 0) {
            o->pid = (long)num(a, v);
        } else if (strcmp(a, "--token") == 0) {
            o->token = read_token(v);
        } else if (strcmp(a, "--via") == 0) {
            o->via = v;
        } else if (strcmp(a, "--rounds") == 0) {
            o->rounds = (int)num(a, v);
        } else if (strcmp(a, "--expect") == 0) {
            o->expect = v;
        } else if (strcmp(a, "--source") == 0) {
            parse_sources(o, v);
        } else if (strcmp(a, "--route") == 0) {
            o->route = v;
        } else if (strcmp(a, "--businesses") == 0) {
            o->businesses = (int)num(a, v);
        } else if (strcmp(a, "--missed") == 0) {
            o->missed = (long)num(a, v);
        } else {
            usage(stderr);
            exit(2);
        }
        i++;
    }
    if (url == NULL || o->test == NULL || parse_url(o, url) != 0) {
        bench_fail("--url ws[s]://HOST:PORT/PATH and --test are required");
        usage(stderr);
        exit(2);
    }
    defaults(o);
    if (o->calls < 1 || o->connections < 1 || o->sessions < 1 || o->pushers < 1 || o->window < 1 ||
        o->rounds < 1 || o->businesses < 1 || o->missed < 1 || o->payload < 1 ||
        o->payload > 8192) {
        bench_fail("--calls, --connections, --sessions, --pushers, --window, --businesses, "
                   "--missed must be at least 1 and --payload 1 to 8192");
        exit(2);
    }
}

/* ============================== connections ============================== */

enum { C_CONNECTING, C_TLS, C_HANDSHAKE, C_OPEN, C_CLOSED };

typedef struct wsconn {
    int fd;
    SSL *ssl; /* wss: the connection's TLS, else NULL */
    int state;
    uint8_t in[16384];
    size_t in_len;
    int in_flight; /* throughput: a message is on its way */
    long received;
    char sid[96];    /* the Silk-Session-Id the 101 gave, or "" */
    uint64_t got_ns; /* fanout: when this round's message arrived (0: not yet) */
    bool welcomed;   /* streams, replay: silk.v1's welcome came */
    char epoch[64];  /* streams, replay: the stream's epoch, from the welcome */
    uint64_t offset; /* streams, replay: the last offset received (at first the welcome's) */
    long last;       /* streams: the number of the last push received (-1: none) */
} wsconn;

typedef struct client {
    const opts *o;
    int ep;
    SSL_CTX *tls; /* wss: the client context, else NULL */
    wsconn *conns;
    int n;
    int open, failed;
    uint8_t *msg; /* the message sent, o->payload bytes */
    /* on_message is called for each whole data message received. */
    void (*on_message)(struct client *cl, wsconn *c, const uint8_t *data, size_t len);
    void *arg;
    /* path_of writes connection c's request path (NULL: every connection's is o->path). */
    void (*path_of)(const struct client *cl, const wsconn *c, char *buf, size_t cap);
    const char *protocol; /* offered as Sec-WebSocket-Protocol, or NULL */
} client;

static void conn_close(client *cl, wsconn *c, const char *why)
{
    if (c->state == C_CLOSED)
        return;
    if (why != NULL) {
        bench_fail("connection %d: %s", (int)(c - cl->conns), why);
        cl->failed++;
    }
    if (c->state == C_OPEN)
        cl->open--;
    c->state = C_CLOSED;
    epoll_ctl(cl->ep, EPOLL_CTL_DEL, c->fd, NULL);
    SSL_free(c->ssl);
    c->ssl = NULL;
    close(c->fd);
    c->fd = -1;
}

/* send_all writes a small buffer; the socket's buffer always has room for it here (one
 * message in flight), so a short write is an error. */
static int send_all(client *cl, wsconn *c, const void *buf, size_t len)
{
    ssize_t n;
    if (c->ssl != NULL) {
        ERR_clear_error();
        n = SSL_write(c->ssl, buf, (int)len);
        if (n != (ssize_t)len) {
            conn_close(cl, c, "SSL_write failed or was short");
            return -1;
        }
        return 0;
    }
    do
        n = send(c->fd, buf, len, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)len) {
        conn_close(cl, c, n < 0 ? strerror(errno) : "short write");
        return -1;
    }
    return 0;
}

/* ws_send sends one masked frame (FIN set) of opcode op. */
static int ws_send(client *cl, wsconn *c, int op, const uint8_t *data, size_t len)
{
    uint8_t frame[14 + 8192];
    size_t h = 0;
    frame[h++] = (uint8_t)(0x80 | op);
    if (len < 126) {
        frame[h++] = (uint8_t)(0x80 | len);
    } else {
        frame[h++] = 0x80 | 126;
        frame[h++] = (uint8_t)(len >> 8);
        frame[h++] = (uint8_t)len;
    }
    uint32_t key = (uint32_t)random();
    uint8_t mask[4];
    memcpy(mask, &key, 4);
    memcpy(frame + h, mask, 4);
    h += 4;
    for (size_t i = 0; i < len; i++)
        frame[h + i] = data[i] ^ mask[i & 3];
    return send_all(cl, c, frame, h + len);
}

static int send_handshake(client *cl, wsconn *c)
{
    uint8_t raw[16];
    for (size_t i = 0; i < sizeof raw; i++)
        raw[i] = (uint8_t)random();
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char key[25];
    for (int i = 0, k = 0; i < 16; i += 3) {
        uint32_t v = (uint32_t)raw[i] << 16 | (i + 1 < 16 ? (uint32_t)raw[i + 1] << 8 : 0) |
                     (i + 2 < 16 ? raw[i + 2] : 0);
        key[k++] = b64[v >> 18 & 63];
        key[k++] = b64[v >> 12 & 63];
        key[k++] = i + 1 < 16 ? b64[v >> 6 & 63] : '=';
        key[k++] = i + 2 < 16 ? b64[v & 63] : '=';
    }
    key[24] = '\0';
    char req[9216], path[600];
    const char *tok = cl->o->token, *proto = cl->protocol;
    if (cl->path_of != NULL)
        cl->path_of(cl, c, path, sizeof path);
    else
        snprintf(path, sizeof path, "%s", cl->o->path);
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n%s%s%s%s%s%s\r\n",
                     path, cl->o->host, cl->o->port, key,
                     tok != NULL ? "Authorization: Bearer " : "", tok != NULL ? tok : "",
                     tok != NULL ? "\r\n" : "", proto != NULL ? "Sec-WebSocket-Protocol: " : "",
                     proto != NULL ? proto : "", proto != NULL ? "\r\n" : "");
    c->state = C_HANDSHAKE;
    return send_all(cl, c, req, (size_t)n);
}

static int conn_start(client *cl, wsconn *c)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cl->o->port)};
    if (inet_pton(AF_INET, cl->o->host, &sa.sin_addr) != 1) {
        bench_fail("%s is not an IPv4 address", cl->o->host);
        return -1;
    }
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        bench_fail("socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (cl->o->n_sources > 0) { /* the port is chosen at connect(), per destination */
        struct sockaddr_in src = {.sin_family = AF_INET,
                                  .sin_addr = cl->o->sources[(c - cl->conns) % cl->o->n_sources]};
        setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(c->fd, (struct sockaddr *)&src, sizeof src) != 0) {
            bench_fail("bind to a --source address: %s", strerror(errno));
            close(c->fd);
            return -1;
        }
    }
    c->state = C_CONNECTING;
    c->in_len = 0;
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.ptr = c};
    if (epoll_ctl(cl->ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        bench_fail("epoll_ctl: %s", strerror(errno));
        close(c->fd);
        return -1;
    }
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS) {
        conn_close(cl, c, strerror(errno));
        return -1;
    }
    return 0;
}

/* tls_step drives SSL_connect; once done it sends the HTTP upgrade. */
static void tls_step(client *cl, wsconn *c)
{
    ERR_clear_error();
    int rv = SSL_connect(c->ssl);
    uint32_t want = EPOLLIN;
    if (rv == 1) {
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(cl->ep, EPOLL_CTL_MOD, c->fd, &ev);
        send_handshake(cl, c);
        return;
    }
    int err = SSL_get_error(c->ssl, rv);
    if (err == SSL_ERROR_WANT_WRITE)
        want |= EPOLLOUT;
    else if (err != SSL_ERROR_WANT_READ) {
        char msg[160];
        snprintf(msg, sizeof msg, "TLS handshake: %s",
                 ERR_reason_error_string(ERR_peek_last_error()) ?: "failed");
        conn_close(cl, c, msg);
        return;
    }
    struct epoll_event ev = {.events = want, .data.ptr = c};
    epoll_ctl(cl->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* conn_read reads into c->in: bytes read, 0 at the end, -1 with errno (EAGAIN: none yet). */
static ssize_t conn_read(wsconn *c)
{
    if (c->ssl == NULL)
        return recv(c->fd, c->in + c->in_len, sizeof c->in - c->in_len, 0);
    ERR_clear_error();
    int n = SSL_read(c->ssl, c->in + c->in_len, (int)(sizeof c->in - c->in_len));
    if (n > 0)
        return n;
    int err = SSL_get_error(c->ssl, n);
    if (err == SSL_ERROR_ZERO_RETURN)
        return 0;
    errno = err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE ? EAGAIN : EPROTO;
    return -1;
}

/* on_handshake reads the server's answer: 101, then frames may follow in the same read. */
static void on_handshake(client *cl, wsconn *c)
{
    uint8_t *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (end == NULL) {
        if (c->in_len == sizeof c->in)
            conn_close(cl, c, "handshake answer too long");
        return;
    }
    if (c->in_len < 12 || memcmp(c->in + 8, " 101", 4) != 0) {
        char line[128];
        size_t n = strcspn((char *)c->in, "\r\n");
        snprintf(line, sizeof line, "handshake refused: %.*s", (int)(n < 100 ? n : 100),
                 (char *)c->in);
        conn_close(cl, c, line);
        return;
    }
    size_t used = (size_t)(end + 4 - c->in);
    c->sid[0] = '\0';
    const uint8_t *h = memmem(c->in, used, "\r\nSilk-Session-Id: ", 19);
    if (h != NULL) {
        size_t n = strcspn((const char *)h + 19, "\r\n");
        snprintf(c->sid, sizeof c->sid, "%.*s", (int)n, (const char *)h + 19);
    }
    memmove(c->in, c->in + used, c->in_len - used);
    c->in_len -= used;
    c->state = C_OPEN;
    cl->open++;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(cl->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* on_frames handles every whole frame in c->in: data to on_message, ping answered, close. */
static void on_frames(client *cl, wsconn *c)
{
    size_t off = 0;
    while (c->state == C_OPEN && c->in_len - off >= 2) {
        const uint8_t *f = c->in + off;
        int op = f[0] & 0x0f;
        size_t len = f[1] & 0x7f, h = 2;
        if (f[1] & 0x80) {
            conn_close(cl, c, "masked frame from the server");
            return;
        }
        if (len == 126) {
            if (c->in_len - off < 4)
                break;
            len = (size_t)f[2] << 8 | f[3];
            h = 4;
        } else if (len == 127) {
            conn_close(cl, c, "frame over 64 KiB");
            return;
        }
        if (h + len > sizeof c->in) {
            conn_close(cl, c, "frame over the client's buffer");
            return;
        }
        if (c->in_len - off < h + len)
            break;
        if (op == 0x1 || op == 0x2 || op == 0x0) {
            if (cl->on_message != NULL)
                cl->on_message(cl, c, f + h, len);
        } else if (op == 0x9) {
            ws_send(cl, c, 0xA, f + h, len);
        } else if (op == 0x8) {
            conn_close(cl, c, "closed by the server");
            return;
        }
        off += h + len;
    }
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
}

static void on_event(client *cl, wsconn *c, uint32_t events)
{
    if (c->state == C_CONNECTING) {
        int err = 0;
        socklen_t l = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err != 0 || (events & (EPOLLERR | EPOLLHUP))) {
            conn_close(cl, c, strerror(err ? err : ECONNRESET));
            return;
        }
        if (!(events & EPOLLOUT))
            return;
        if (cl->tls != NULL) {
            c->ssl = SSL_new(cl->tls);
            if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
                conn_close(cl, c, "SSL_new failed");
                return;
            }
            SSL_set_tlsext_host_name(c->ssl, cl->o->host);
            c->state = C_TLS;
            tls_step(cl, c);
            return;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(cl->ep, EPOLL_CTL_MOD, c->fd, &ev);
        send_handshake(cl, c);
        return;
    }
    if (c->state == C_TLS) {
        tls_step(cl, c);
        return;
    }
    for (;;) {
        ssize_t n = conn_read(c);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            conn_close(cl, c, n == 0 ? "the server closed the connection" : strerror(errno));
            return;
        }
        c->in_len += (size_t)n;
        if (c->state == C_HANDSHAKE)
            on_handshake(cl, c);
        if (c->state == C_OPEN)
            on_frames(cl, c);
        /* TLS may hold decrypted bytes that epoll will not report: read until EAGAIN. */
        if (c->state == C_CLOSED || (c->ssl == NULL && (size_t)n < sizeof c->in / 2))
            return;
    }
}

/* pump waits up to timeout_ms for events and handles them. */
static void pump(client *cl, int timeout_ms)
{
    struct epoll_event evs[256];
    int n = epoll_wait(cl->ep, evs, 256, timeout_ms);
    for (int i = 0; i < n; i++)
        on_event(cl, evs[i].data.ptr, evs[i].events);
}

/* open_all opens n connections, at most 128 handshakes at a time, within 60 s. */
static int open_all(client *cl, int n)
{
    cl->conns = calloc((size_t)n, sizeof *cl->conns);
    if (cl->conns == NULL) {
        bench_fail("out of memory");
        return -1;
    }
    cl->n = n;
    int started = 0;
    uint64_t deadline = bench_now_ns() + 60000000000ull;
    while (cl->open < n && cl->failed == 0 && bench_now_ns() < deadline) {
        while (started < n && started - cl->open < 128) {
            if (conn_start(cl, &cl->conns[started++]) != 0)
                return -1;
        }
        pump(cl, 10);
    }
    if (cl->open < n) {
        bench_fail("%d of %d connections open", cl->open, n);
        return -1;
    }
    return 0;
}

static void close_all(client *cl)
{
    for (int i = 0; i < cl->n; i++)
        conn_close(cl, &cl->conns[i], NULL);
    free(cl->conns);
    cl->conns = NULL;
    cl->n = 0;
}

/* ============================== the tests ============================== */

static bool is_reply(const client *cl, const uint8_t *data, size_t len)
{
    if (cl->o->any_reply)
        return len > 0;
    return len == cl->o->payload && memcmp(data, cl->msg, len) == 0;
}

static void on_reply(client *cl, wsconn *c, const uint8_t *data, size_t len)
{
    if (!is_reply(cl, data, len)) {
        conn_close(cl, c, "the reply is not the message sent");
        return;
    }
    c->received++;
    c->in_flight = 0;
}

/* round_trip sends the message on c and waits up to timeout_ms for the reply: 0, 1 when
 * none came, -1 on an error. */
static int round_trip(client *cl, wsconn *c, int timeout_ms)
{
    long before = c->received;
    uint64_t deadline = bench_now_ns() + (uint64_t)timeout_ms * 1000000u;
    if (ws_send(cl, c, 0x1, cl->msg, cl->o->payload) != 0)
        return -1;
    while (c->received == before) {
        if (c->state != C_OPEN || cl->failed)
            return -1;
        if (bench_now_ns() > deadline)
            return 1;
        pump(cl, 10);
    }
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* probe makes one round trip with a 2 s limit: 3 (and a noreply line) when none comes. */
static int probe(client *cl, wsconn *c)
{
    int rv = round_trip(cl, c, 2000);
    if (rv == 1) {
        bench_fail("%s answered no message within 2 s", cl->o->peer);
        bench_result(cl->o->peer, "noreply", 1);
        return 3;
    }
    return rv == 0 ? 0 : 1;
}

static int test_latency(client *cl)
{
    const opts *o = cl->o;
    cl->on_message = on_reply;
    if (open_all(cl, 1) != 0)
        return 1;
    wsconn *c = &cl->conns[0];
    int rv = probe(cl, c);
    if (rv != 0)
        return rv;
    for (long i = 0; i < o->warmup; i++) {
        if (round_trip(cl, c, 5000) != 0)
            return 1;
    }
    uint64_t *t = malloc((size_t)o->calls * sizeof *t);
    if (t == NULL)
        return 1;
    for (long i = 0; i < o->calls; i++) {
        uint64_t t0 = bench_now_ns();
        if (round_trip(cl, c, 5000) != 0) {
            bench_fail("round trip %ld failed or timed out", i);
            free(t);
            return 1;
        }
        t[i] = bench_now_ns() - t0;
    }
    qsort(t, (size_t)o->calls, sizeof *t, cmp_u64);
    size_t r50 = ((size_t)o->calls * 50 + 99) / 100, r99 = ((size_t)o->calls * 99 + 99) / 100;
    bench_result(o->peer, "p50_us", (double)t[r50 - 1] / 1000.0);
    bench_result(o->peer, "p99_us", (double)t[r99 - 1] / 1000.0);
    free(t);
    close_all(cl);
    return 0;
}

/* on_echo counts a reply and sends the connection's next message. */
static void on_echo(client *cl, wsconn *c, const uint8_t *data, size_t len)
{
    on_reply(cl, c, data, len);
    if (c->state == C_OPEN && cl->arg == NULL && /* arg set: stopping */
        ws_send(cl, c, 0x1, cl->msg, cl->o->payload) == 0)
        c->in_flight = 1;
}

static long total_received(const client *cl)
{
    long n = 0;
    for (int i = 0; i < cl->n; i++)
        n += cl->conns[i].received;
    return n;
}

static int test_throughput(client *cl)
{
    const opts *o = cl->o;
    cl->on_message = on_reply;
    if (open_all(cl, o->connections) != 0)
        return 1;
    int rv = probe(cl, &cl->conns[0]);
    if (rv != 0)
        return rv;
    cl->on_message = on_echo;
    for (int i = 0; i < cl->n; i++) {
        if (ws_send(cl, &cl->conns[i], 0x1, cl->msg, o->payload) == 0)
            cl->conns[i].in_flight = 1;
    }
    double warm = o->seconds / 5 < 1 ? o->seconds / 5 : 1;
    uint64_t t = bench_now_ns() + (uint64_t)(warm * 1e9);
    while (bench_now_ns() < t && !cl->failed)
        pump(cl, 10);
    long n0 = total_received(cl);
    uint64_t t0 = bench_now_ns(), t1;
    t = t0 + (uint64_t)(o->seconds * 1e9);
    while ((t1 = bench_now_ns()) < t && !cl->failed)
        pump(cl, 10);
    long n1 = total_received(cl);
    /* Let the messages in flight come back, so that the server sees clean closes. */
    cl->arg = cl;
    uint64_t drain = bench_now_ns() + 2000000000ull;
    while (bench_now_ns() < drain && !cl->failed) {
        bool waiting = false;
        for (int i = 0; i < cl->n; i++)
            waiting |= cl->conns[i].state == C_OPEN && cl->conns[i].in_flight != 0;
        if (!waiting)
            break;
        pump(cl, 10);
    }
    if (cl->failed)
        return 1;
    bench_result(o->peer, "msgs_per_s", (double)(n1 - n0) * 1e9 / (double)(t1 - t0));
    close_all(cl);
    return 0;
}

/* vmrss returns a process's resident memory in bytes, -1 when it cannot be read. */
static long vmrss(long pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    while (f != NULL && fgets(line, sizeof line, f) != NULL) {
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    }
    if (f != NULL)
        fclose(f);
    return kb < 0 ? -1 : kb * 1024;
}

/* settle pumps the connections for s seconds (answering pings), then returns. */
static void settle(client *cl, double s)
{
    uint64_t t = bench_now_ns() + (uint64_t)(s * 1e9);
    while (bench_now_ns() < t)
        pump(cl, 50);
}

static int test_idle(client *cl)
{
    const opts *o = cl->o;
    if (o->pid <= 0) {
        bench_fail("idle needs --pid, the server's process");
        return 2;
    }
    long before = vmrss(o->pid);
    if (open_all(cl, o->sessions) != 0)
        return 1;
    settle(cl, 1.0);
    long after = vmrss(o->pid);
    if (before < 0 || after < 0 || cl->failed) {
        bench_fail("cannot read the VmRSS of process %ld", o->pid);
        return 1;
    }
    fprintf(stderr, "bench-ws: %s: VmRSS %ld KiB before, %ld KiB with %d idle connections\n",
            o->peer, before / 1024, after / 1024, o->sessions);
    bench_result(o->peer, "idle_bytes", (double)(after - before) / o->sessions);
    close_all(cl);
    return 0;
}

/* ---------- push: silk's service side, on threads of its own ---------- */

typedef struct pusher {
    const opts *o;
    const uint8_t *msg;
    atomic_long *received; /* messages the sessions received */
    atomic_long pushed;    /* pushes made */
    atomic_bool stop;
    atomic_int errors;
} pusher;

static void *push_loop(void *arg)
{
    pusher *p = arg;
    silk_ctx *ctx = silk_ctx_new();
    long sessions = p->o->sessions;
    while (ctx != NULL && !atomic_load(&p->stop)) {
        /* At most --window pushes per session not yet received. */
        long pushed = atomic_load(&p->pushed);
        if ((pushed - p->o->window) * sessions >= atomic_load(p->received)) {
            usleep(50);
            continue;
        }
        atomic_fetch_add(&p->pushed, 1);
        size_t delivered = 0;
        silk_status st =
            silk_ws_send_business(ctx, p->o->business, p->msg, p->o->payload, &delivered);
        if (st != SILK_OK || delivered != (size_t)sessions) {
            bench_fail("silk_ws_send_business: %s, %zu of %ld sessions: %s", silk_status_str(st),
                       delivered, sessions, silk_ctx_message(ctx));
            atomic_fetch_add(&p->errors, 1);
            break;
        }
    }
    silk_ctx_free(ctx);
    return NULL;
}

static void on_push(client *cl, wsconn *c, const uint8_t *data, size_t len)
{
    atomic_long *received = cl->arg;
    if (len != cl->o->payload || memcmp(data, cl->msg, len) != 0) {
        conn_close(cl, c, "a push that is not the message pushed");
        return;
    }
    c->received++;
    atomic_fetch_add_explicit(received, 1, memory_order_relaxed);
}

/* measure pumps the connections through a warm-up (a fifth of --seconds, 1 s at most), then
 * through --seconds, and returns *count's rate over the second, per second; it stops early
 * when a connection failed or *errors is set. */
static double measure(client *cl, atomic_long *count, atomic_int *errors)
{
    const opts *o = cl->o;
    double warm = o->seconds / 5 < 1 ? o->seconds / 5 : 1;
    uint64_t t = bench_now_ns() + (uint64_t)(warm * 1e9);
    while (bench_now_ns() < t && !cl->failed && !atomic_load(errors))
        pump(cl, 10);
    long n0 = atomic_load(count);
    uint64_t t0 = bench_now_ns(), t1;
    t = t0 + (uint64_t)(o->seconds * 1e9);
    while ((t1 = bench_now_ns()) < t && !cl->failed && !atomic_load(errors))
        pump(cl, 10);
    long n1 = atomic_load(count);
    return (double)(n1 - n0) * 1e9 / (double)(t1 - t0);
}

/* join_pumping joins the n threads, reading the connections meanwhile: a pusher waits for its
 * window only while it is full. */
static void join_pumping(client *cl, pthread_t *threads, int n)
{
    for (int i = 0; i < n; i++) {
        while (pthread_tryjoin_np(threads[i], NULL) != 0)
            pump(cl, 10);
    }
}

/* drain pumps until *received reaches want (every push made must arrive): 10 s at most. */
static void drain(client *cl, atomic_long *received, long want)
{
    uint64_t end = bench_now_ns() + 10000000000ull;
    while (atomic_load(received) < want && bench_now_ns() < end && !cl->failed)
        pump(cl, 10);
}

/* reach_all pushes the message until one push reaches every session (10 s at most): with a
 * Redis registry the session directory learns of a new session a little after its handshake.
 * *probes counts the pushes made, *delivered what they delivered; 0, or -1 on a failure. */
static int reach_all(client *cl, long *probes, long *delivered)
{
    const opts *o = cl->o;
    silk_ctx *ctx = silk_ctx_new();
    uint64_t end = bench_now_ns() + 10000000000ull;
    size_t got = 0;
    silk_status st = ctx != NULL ? SILK_OK : SILK_RESOURCE_EXHAUSTED;
    while (st == SILK_OK && got != (size_t)o->sessions && bench_now_ns() < end && !cl->failed) {
        if (*probes > 0)
            pump(cl, 20);
        got = 0;
        st = silk_ws_send_business(ctx, o->business, cl->msg, o->payload, &got);
        ++*probes;
        *delivered += (long)got;
    }
    if (st != SILK_OK || got != (size_t)o->sessions)
        bench_fail("silk_ws_send_business: %s, %zu of %d sessions reached in 10 s: %s",
                   silk_status_str(st), got, o->sessions, ctx ? silk_ctx_message(ctx) : "");
    silk_ctx_free(ctx);
    return st == SILK_OK && got == (size_t)o->sessions ? 0 : -1;
}

static int test_push(client *cl)
{
    const opts *o = cl->o;
    static char path[600];
    snprintf(path, sizeof path, "%s%sbusinessId=%s", o->path, strchr(o->path, '?') ? "&" : "?",
             o->business);
    ((opts *)o)->path = path;
    atomic_long received;
    atomic_init(&received, 0);
    cl->arg = &received;
    cl->on_message = on_push;
    long probes = 0, probed = 0;
    if (open_all(cl, o->sessions) != 0 || reach_all(cl, &probes, &probed) != 0)
        return 1;
    pusher p = {.o = o, .msg = cl->msg, .received = &received};
    pthread_t *threads = calloc((size_t)o->pushers, sizeof *threads);
    int started = 0;
    for (; threads != NULL && started < o->pushers; started++) {
        if (pthread_create(&threads[started], NULL, push_loop, &p) != 0)
            break;
    }
    double rate = measure(cl, &received, &p.errors);
    atomic_store(&p.stop, true);
    join_pumping(cl, threads, started);
    free(threads);
    long want = atomic_load(&p.pushed) * o->sessions + probed;
    drain(cl, &received, want);
    if (cl->failed || atomic_load(&p.errors) || started < o->pushers) {
        bench_fail("the push test failed");
        return 1;
    }
    if (atomic_load(&received) != want) {
        bench_fail("%ld of %ld pushed messages arrived", atomic_load(&received), want);
        return 1;
    }
    bench_result(o->peer, "pushes_per_s", rate);
    /* warm-up and probes included: run_cluster.sh divides SendToBusiness calls by it */
    bench_result(o->peer, "pushes", (double)(atomic_load(&p.pushed) + probes));
    close_all(cl);
    return 0;
}

/* ---------- handshakes: connections opened and closed in a row ---------- */

/* handshake_slots restarts every slot whose handshake is done (state C_OPEN) or not started:
 * the done ones are counted in *done and closed with a reset (SO_LINGER 0), so that no
 * TIME_WAIT piles up in the client over tens of thousands of connections. */
static int handshake_slots(client *cl, long *done)
{
    for (int i = 0; i < cl->n; i++) {
        wsconn *c = &cl->conns[i];
        if (c->state == C_OPEN) {
            struct linger lg = {.l_onoff = 1, .l_linger = 0};
            setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
            conn_close(cl, c, NULL);
            (*done)++;
        }
        if (c->state == C_CLOSED && conn_start(cl, c) != 0)
            return -1;
    }
    return 0;
}

static int test_handshakes(client *cl)
{
    const opts *o = cl->o;
    cl->n = o->connections;
    cl->conns = calloc((size_t)cl->n, sizeof *cl->conns);
    if (cl->conns == NULL)
        return 1;
    for (int i = 0; i < cl->n; i++)
        cl->conns[i].state = C_CLOSED;
    long done = 0;
    double warm = o->seconds / 5 < 1 ? o->seconds / 5 : 1;
    uint64_t t = bench_now_ns() + (uint64_t)(warm * 1e9);
    while (bench_now_ns() < t && !cl->failed) {
        if (handshake_slots(cl, &done) != 0)
            return 1;
        pump(cl, 10);
    }
    long n0 = done;
    uint64_t t0 = bench_now_ns(), t1;
    t = t0 + (uint64_t)(o->seconds * 1e9);
    while ((t1 = bench_now_ns()) < t && !cl->failed) {
        if (handshake_slots(cl, &done) != 0)
            return 1;
        pump(cl, 10);
    }
    if (cl->failed || done == 0) {
        bench_fail("the handshakes test failed (%ld handshakes)", done);
        return 1;
    }
    bench_result(o->peer, "handshakes_per_s", (double)(done - n0) * 1e9 / (double)(t1 - t0));
    close_all(cl);
    return 0;
}

/* ---------- fanout: one message to each of many sessions, timed to the last arrival ---------- */

/* fanout is a round: what the pushing thread does and what the sessions check. */
typedef struct fanout {
    const opts *o;
    char msg[64];     /* this round's message ("r<round>") */
    char expect[160]; /* business: the message itself */
    uint64_t t0, t1;  /* the call made, returned */
    silk_status st;
    size_t delivered;
    char why[256];
    atomic_bool done;
    long arrived;
} fanout;

static void *fanout_call(void *arg)
{
    fanout *f = arg;
    silk_ctx *ctx = silk_ctx_new();
    silk_channel *ch = NULL;
    bool echo = strcmp(f->o->via, "echo") == 0;
    f->st = ctx == NULL ? SILK_RESOURCE_EXHAUSTED : SILK_OK;
    if (f->st == SILK_OK && echo) /* opened first: the registry's read is not timed */
        f->st = silk_channel_open_service(&ch, &wstest__ws_test__silk_desc);
    if (f->st == SILK_OK && echo)
        f->st = silk_ctx_set(ctx, SILK_MD_BUSINESS_ID, f->o->business);
    if (f->st == SILK_OK) {
        f->t0 = bench_now_ns();
        if (echo) {
            Wstest__EchoRequest req = WSTEST__ECHO_REQUEST__INIT;
            req.business_id = (char *)f->o->business;
            req.msg = f->msg;
            Google__Protobuf__Empty *out = NULL;
            f->st = wstest__ws_test__call_echo(ch, ctx, &req, &out);
            if (out != NULL)
                google__protobuf__empty__free_unpacked(out, NULL);
            f->delivered = f->st == SILK_OK ? (size_t)f->o->sessions : 0;
        } else {
            f->st =
                silk_ws_send_business(ctx, f->o->business, f->msg, strlen(f->msg), &f->delivered);
        }
        f->t1 = bench_now_ns();
    }
    snprintf(f->why, sizeof f->why, "%s", silk_ctx_message(ctx));
    silk_channel_close(ch);
    silk_ctx_free(ctx);
    atomic_store(&f->done, true);
    return NULL;
}

static void on_fanout(client *cl, wsconn *c, const uint8_t *data, size_t len)
{
    fanout *f = cl->arg;
    char want[256];
    const char *w = f->expect;
    if (strcmp(f->o->via, "echo") == 0) {
        snprintf(want, sizeof want, "message:%s,sessionId:%s", f->msg, c->sid);
        w = want;
    }
    if (c->got_ns != 0) {
        conn_close(cl, c, "a second message in one round");
        return;
    }
    if (len != strlen(w) || memcmp(data, w, len) != 0) {
        conn_close(cl, c, "a message that is not this round's (or not this session's)");
        return;
    }
    c->got_ns = bench_now_ns();
    f->arrived++;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median_of(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* fanout_round pushes round r and waits (10 s at most) for every arrival: 0, or 1. */
static int fanout_round(client *cl, fanout *f, int r, double *call, double *first, double *p50,
                        double *last)
{
    const opts *o = cl->o;
    *f = (fanout){.o = o};
    snprintf(f->msg, sizeof f->msg, "r%d", r);
    snprintf(f->expect, sizeof f->expect, "%s", f->msg);
    for (int i = 0; i < cl->n; i++)
        cl->conns[i].got_ns = 0;
    cl->arg = f;
    pthread_t t;
    if (pthread_create(&t, NULL, fanout_call, f) != 0)
        return 1;
    uint64_t deadline = bench_now_ns() + 10000000000ull;
    while ((f->arrived < o->sessions || !atomic_load(&f->done)) && !cl->failed &&
           bench_now_ns() < deadline)
        pump(cl, 1);
    while (!atomic_load(&f->done))
        pump(cl, 10);
    pthread_join(t, NULL);
    if (f->st != SILK_OK || f->delivered != (size_t)o->sessions) {
        bench_fail("round %d: %s, %zu of %d delivered: %s", r, silk_status_str(f->st), f->delivered,
                   o->sessions, f->why);
        return 1;
    }
    if (cl->failed || f->arrived != o->sessions) {
        bench_fail("round %d: %ld of %d messages arrived", r, f->arrived, o->sessions);
        return 1;
    }
    double *at = malloc((size_t)cl->n * sizeof *at);
    if (at == NULL)
        return 1;
    for (int i = 0; i < cl->n; i++)
        at[i] = (double)(int64_t)(cl->conns[i].got_ns - f->t0) / 1e6;
    qsort(at, (size_t)cl->n, sizeof *at, cmp_double);
    *call = (double)(f->t1 - f->t0) / 1e6;
    *first = at[0];
    *p50 = at[(cl->n - 1) / 2];
    *last = at[cl->n - 1];
    free(at);
    fprintf(stderr, "bench-ws: %s round %d: call %.1f ms, arrivals %.1f / %.1f / %.1f ms\n",
            o->peer, r, *call, *first, *p50, *last);
    return 0;
}

static int test_fanout(client *cl)
{
    const opts *o = cl->o;
    if (strcmp(o->via, "business") != 0 && strcmp(o->via, "echo") != 0) {
        bench_fail("--via takes business or echo");
        return 2;
    }
    static char path[600];
    snprintf(path, sizeof path, "%s%sbusinessId=%s", o->path, strchr(o->path, '?') ? "&" : "?",
             o->business);
    ((opts *)o)->path = path;
    fanout f;
    cl->arg = &f;
    f = (fanout){.o = o};
    cl->on_message = on_fanout;
    if (open_all(cl, o->sessions) != 0)
        return 1;
    for (int i = 0; i < cl->n; i++) {
        if (strcmp(o->via, "echo") == 0 && cl->conns[i].sid[0] == '\0') {
            bench_fail("the 101 carried no Silk-Session-Id");
            return 1;
        }
    }
    settle(cl, 0.5);
    double *m = calloc(4 * (size_t)(o->rounds + 1), sizeof *m);
    if (m == NULL)
        return 1;
    int rv = 0, rounds = o->rounds + 1; /* round 0 warms up, untimed */
    for (int r = 0; r < rounds && rv == 0; r++) {
        double *x = &m[4 * r];
        rv = fanout_round(cl, &f, r, &x[0], &x[1], &x[2], &x[3]);
        settle(cl, 0.2);
    }
    if (rv == 0) {
        static const char *names[4] = {"call_ms", "first_ms", "p50_ms", "last_ms"};
        double v[64];
        for (int k = 0; k < 4; k++) {
            int n = 0;
            for (int r = 1; r < rounds && n < 64; r++)
                v[n++] = m[4 * r + k];
            bench_result(o->peer, names[k], median_of(v, n));
        }
    }
    free(m);
    if (rv == 0)
        close_all(cl);
    return rv;
}

/* ---------- streams: pushes to many businesses, kept in their streams or not ---------- */

/* json_after returns what follows "key": in the n bytes of an envelope (*left bytes), NULL
 * when the key is not there. The envelopes are compact JSON whose strings carry no quotes. */
static const char *json_after(const uint8_t *data, size_t n, const char *key, size_t *left)
{
    char pat[40];
    int k = snprintf(pat, sizeof pat, "\"%s\":", key);
    const uint8_t *p = memmem(data, n, pat, (size_t)k);
    if (p == NULL)
        return NULL;
    *left = n - (size_t)(p - data) - (size_t)k;
    return (const char *)p + k;
}

/* json_u64 reads the number field key of an envelope: false when it has none. */
static bool json_u64(const uint8_t *data, size_t n, const char *key, uint64_t *v)
{
    size_t left = 0, i = 0;
    const char *p = json_after(data, n, key, &left);
    uint64_t x = 0;
    for (; p != NULL && i < left && i < 19 && p[i] >= '0' && p[i] <= '9'; i++)
        x = x * 10 + (uint64_t)(p[i] - '0');
    *v = x;
    return p != NULL && i > 0;
}

/* json_text points *s at the string field key of an envelope, *len bytes: false when it has
 * none, or one with an escape in it. */
static bool json_text(const uint8_t *data, size_t n, const char *key, const char **s, size_t *len)
{
    size_t left = 0;
    const char *p = json_after(data, n, key, &left);
    if (p == NULL || left < 2 || p[0] != '"')
        return false;
    const char *end = memchr(p + 1, '"', left - 1);
    if (end == NULL || memchr(p + 1, '\\', (size_t)(end - p - 1)) != NULL)
        return false;
    *s = p + 1;
    *len = (size_t)(end - p - 1);
    return true;
}

/* json_is tells whether the string field key of an envelope is want. */
static bool json_is(const uint8_t *data, size_t n, const char *key, const char *want)
{
    const char *s;
    size_t len;
    return json_text(data, n, key, &s, &len) && len == strlen(want) && memcmp(s, want, len) == 0;
}

/* on_welcome takes silk.v1's first envelope, the welcome: the stream's epoch and offset.
 * false, the connection closed, when it is not one. */
static bool on_welcome(client *cl, wsconn *c, const uint8_t *data, size_t len)
{
    const char *e;
    size_t n;
    if (!json_is(data, len, "type", "welcome") || !json_u64(data, len, "offset", &c->offset) ||
        !json_text(data, len, "epoch", &e, &n) || n >= sizeof c->epoch) {
        conn_close(cl, c, "the first message is not silk.v1's welcome");
        return false;
    }
    memcpy(c->epoch, e, n);
    c->epoch[n] = '\0';
    c->welcomed = true;
    return true;
}

/* wait_welcomes pumps until every connection had its welcome: 0, or -1 after 10 s. */
static int wait_welcomes(client *cl)
{
    uint64_t end = bench_now_ns() + 10000000000ull;
    int n = 0;
    while (!cl->failed && bench_now_ns() < end) {
        n = 0;
        for (int i = 0; i < cl->n; i++)
            n += cl->conns[i].welcomed;
        if (n == cl->n)
            return 0;
        pump(cl, 10);
    }
    bench_fail("%d of %d sessions had their welcome", n, cl->n);
    return -1;
}

/* streamer is the streams test's state: the pushers' and the sessions'. */
typedef struct streamer {
    const opts *o;
    const char *route;    /* SendToBusiness's */
    bool history;         /* route keeps the pushes: the envelopes carry offsets */
    atomic_long next;     /* the next push's number k, for business k % --businesses */
    atomic_long expected; /* messages the pushes made so far owe the sessions */
    atomic_long received; /* messages the sessions received, checked */
    atomic_bool stop;
    atomic_int errors;
} streamer;

/* business_sessions is how many sessions business b has: session i is of business i % B. */
static long business_sessions(const opts *o, long b)
{
    return o->sessions / o->businesses + (b < o->sessions % o->businesses);
}

/* push_data writes push k's data, "k<k>:" and letters up to --payload bytes (at least 24). */
static void push_data(char *out, long k, size_t payload)
{
    size_t n = (size_t)snprintf(out, payload + 1, "k%ld:", k);
    for (size_t i = n; i < payload; i++)
        out[i] = (char)('a' + i % 26);
    out[payload] = '\0';
}

/* push_number reads the number k of a push's data, all of it checked against push_data's:
 * -1 when it is not one. */
static long push_number(const opts *o, const char *d, size_t len)
{
    char want[8200];
    long k = 0;
    size_t i = 1;
    for (; len > 1 && d[0] == 'k' && i < len && i < 19 && d[i] >= '0' && d[i] <= '9'; i++)
        k = k * 10 + (d[i] - '0');
    if (i == 1 || len != o->payload)
        return -1;
    push_data(want, k, o->payload);
    return memcmp(d, want, len) == 0 ? k : -1;
}

/* stream_push makes push k with SendToBusiness on ch: 0, or -1 after saying why. Each push
 * must reach every session of its business and, with history, be kept (an offset). */
static int stream_push(streamer *s, silk_channel *ch, silk_ctx *ctx, long k)
{
    const opts *o = s->o;
    char business[200], data[8200];
    long b = k % o->businesses;
    snprintf(business, sizeof business, "%s%ld", o->business, b);
    push_data(data, k, o->payload);
    Silk__Ws__SendToBusinessRequest req = SILK__WS__SEND_TO_BUSINESS_REQUEST__INIT;
    req.business_id = business;
    req.route = (char *)s->route;
    req.data.data = (uint8_t *)data;
    req.data.len = o->payload;
    Silk__Ws__SendReply *r = NULL;
    silk_status st = silk__ws__session_manager__call_send_to_business(ch, ctx, &req, &r);
    bool ok = st == SILK_OK && r->delivered == (uint32_t)business_sessions(o, b) &&
              (r->offset != 0) == s->history;
    if (!ok)
        bench_fail("SendToBusiness to %s: %s, %u sessions, offset %llu: %s", business,
                   silk_status_str(st), r != NULL ? r->delivered : 0,
                   r != NULL ? (unsigned long long)r->offset : 0ull, silk_ctx_message(ctx));
    if (r != NULL)
        silk__ws__send_reply__free_unpacked(r, NULL);
    return ok ? 0 : -1;
}

/* stream_loop is a pusher: round-robin over the businesses (the pushers share the count),
 * with at most --window messages not yet received, until stopped or a push fails. */
static void *stream_loop(void *arg)
{
    streamer *s = arg;
    silk_ctx *ctx = silk_ctx_new();
    silk_channel *ch = NULL;
    if (ctx == NULL || silk_channel_open(&ch, SILK_WS_SESSION_MANAGER) != SILK_OK) {
        bench_fail("cannot open a channel to %s", SILK_WS_SESSION_MANAGER);
        atomic_fetch_add(&s->errors, 1);
    }
    while (ch != NULL && !atomic_load(&s->stop) && !atomic_load(&s->errors)) {
        if (atomic_load(&s->expected) - atomic_load(&s->received) >= s->o->window) {
            usleep(50);
            continue;
        }
        long k = atomic_fetch_add(&s->next, 1);
        atomic_fetch_add(&s->expected, business_sessions(s->o, k % s->o->businesses));
        if (stream_push(s, ch, ctx, k) != 0)
            atomic_fetch_add(&s->errors, 1);
    }
    silk_channel_close(ch);
    silk_ctx_free(ctx);
    return NULL;
}

/* on_stream checks a session's envelope: the welcome first, then pushes of its business,
 * whole, and with history each at the stream's next offset, in its epoch (without, none
 * carries an offset). */
static void on_stream(client *cl, wsconn *c, const uint8_t *data, size_t len)
{
    streamer *s = cl->arg;
    if (!c->welcomed) {
        on_welcome(cl, c, data, len);
        return;
    }
    const char *d;
    size_t n;
    uint64_t off = 0;
    bool kept = json_u64(data, len, "offset", &off);
    long k = json_is(data, len, "type", "push") && json_text(data, len, "data", &d, &n)
                 ? push_number(cl->o, d, n)
                 : -1;
    if (k < 0 || k % cl->o->businesses != (c - cl->conns) % cl->o->businesses) {
        conn_close(cl, c, "a message that is not a push made to this session's business");
        return;
    }
    if (kept != s->history ||
        (kept && (off != c->offset + 1 || !json_is(data, len, "epoch", c->epoch)))) {
        conn_close(cl, c,
                   s->history ? "a push not at its stream's next offset"
                              : "a push with an offset on a route kept nowhere");
        return;
    }
    c->offset = off;
    c->received++;
    atomic_fetch_add_explicit(&s->received, 1, memory_order_relaxed);
}

/* stream_path is session i's path: business <--business>(i % --businesses). */
static void stream_path(const client *cl, const wsconn *c, char *buf, size_t cap)
{
    const opts *o = cl->o;
    snprintf(buf, cap, "%s%sbusinessId=%s%ld", o->path, strchr(o->path, '?') ? "&" : "?",
             o->business, (long)((c - cl->conns) % o->businesses));
}

/* stream_pushers runs the pushers through measure(): the pushes' rate, or -1 when one failed
 * or did not start. Every push made is waited for. */
static double stream_pushers(client *cl, streamer *s)
{
    pthread_t *threads = calloc((size_t)cl->o->pushers, sizeof *threads);
    int started = 0;
    for (; threads != NULL && started < cl->o->pushers; started++) {
        if (pthread_create(&threads[started], NULL, stream_loop, s) != 0)
            break;
    }
    double rate = measure(cl, &s->received, &s->errors);
    atomic_store(&s->stop, true);
    join_pumping(cl, threads, started);
    free(threads);
    drain(cl, &s->received, atomic_load(&s->expected));
    if (cl->failed || atomic_load(&s->errors) || started < cl->o->pushers)
        return -1;
    return rate;
}

static int test_streams(client *cl)
{
    const opts *o = cl->o;
    if (o->payload < 24) {
        bench_fail("streams needs --payload 24 or more (the push's number, then letters)");
        return 2;
    }
    static streamer s; /* the pushers' too */
    s = (streamer){.o = o, .route = o->route != NULL ? o->route : ""};
    s.history = s.route[0] != '\0';
    cl->arg = &s;
    cl->on_message = on_stream;
    cl->path_of = stream_path;
    cl->protocol = "silk.v1";
    if (open_all(cl, o->sessions) != 0 || wait_welcomes(cl) != 0)
        return 1;
    double rate = stream_pushers(cl, &s);
    if (rate < 0) {
        bench_fail("the streams test failed");
        return 1;
    }
    if (atomic_load(&s.received) != atomic_load(&s.expected)) {
        bench_fail("%ld of %ld pushed messages arrived", atomic_load(&s.received),
                   atomic_load(&s.expected));
        return 1;
    }
    bench_result(o->peer, "pushes_per_s", rate);
    bench_result(o->peer, "pushes", (double)atomic_load(&s.next)); /* warm-up included */
    close_all(cl);
    return 0;
}

/* ---------- replay: a session back after missing pushes, timed to the last replayed ---------- */

/* replay is one round's state: the business, where its session left, what came back. */
typedef struct replay {
    const opts *o;
    char route[256];    /* SendToBusiness's: --route, else the URL's path */
    char business[200]; /* <--business><round> */
    char since[100];    /* "<epoch>:<offset>" to come back with, "" the first time */
    uint64_t from;      /* the offset the session left at */
    long got;           /* pushes replayed, checked */
    bool recovered;     /* the welcome's */
    uint64_t t0, first_ns, last_ns;
} replay;

/* replay_text writes push i's data of r's business. */
static void replay_text(char *out, size_t cap, const replay *r, long i)
{
    snprintf(out, cap, "%s-m%ld", r->business, i);
}

/* replay_path is the session's path: its business, and since when it comes back. */
static void replay_path(const client *cl, const wsconn *c, char *buf, size_t cap)
{
    const replay *r = cl->arg;
    (void)c;
    snprintf(buf, cap, "%s%sbusinessId=%s%s%s", cl->o->path, strchr(cl->o->path, '?') ? "&" : "?",
             r->business, r->since[0] ? "&since=" : "", r->since);
}

/* on_replayed checks the welcome (and whether it says recovered), then each push: the next
 * offset after where the session left, in its epoch, with the data pushed. */
static void on_replayed(client *cl, wsconn *c, const uint8_t *data, size_t len)
{
    replay *r = cl->arg;
    if (!c->welcomed) {
        r->recovered = memmem(data, len, "\"recovered\":true", 16) != NULL;
        on_welcome(cl, c, data, len);
        return;
    }
    char want[256];
    const char *d;
    size_t n;
    uint64_t off;
    replay_text(want, sizeof want, r, r->got);
    if (!json_is(data, len, "type", "push") || !json_u64(data, len, "offset", &off) ||
        off != r->from + (uint64_t)r->got + 1 || !json_is(data, len, "epoch", c->epoch) ||
        !json_text(data, len, "data", &d, &n) || n != strlen(want) || memcmp(d, want, n) != 0) {
        conn_close(cl, c, "a replayed push out of order, or not the one pushed");
        return;
    }
    uint64_t now = bench_now_ns();
    if (r->got++ == 0)
        r->first_ns = now;
    r->last_ns = now;
}

/* replay_leave opens a session of r->business, notes where its welcome puts it, closes it. */
static int replay_leave(client *cl, replay *r)
{
    r->since[0] = '\0';
    if (open_all(cl, 1) != 0 || wait_welcomes(cl) != 0)
        return -1;
    const wsconn *c = &cl->conns[0];
    r->from = c->offset;
    snprintf(r->since, sizeof r->since, "%s:%llu", c->epoch, (unsigned long long)c->offset);
    close_all(cl);
    return 0;
}

/* replay_push makes --missed pushes to r->business, one SendToBusiness each, each kept at the
 * stream's next offset: 0, or -1 after saying why. */
static int replay_push(replay *r, silk_channel *ch, silk_ctx *ctx)
{
    Silk__Ws__SendToBusinessRequest req = SILK__WS__SEND_TO_BUSINESS_REQUEST__INIT;
    req.business_id = r->business;
    req.route = r->route;
    char text[256];
    for (long i = 0; i < r->o->missed; i++) {
        replay_text(text, sizeof text, r, i);
        req.data.data = (uint8_t *)text;
        req.data.len = strlen(text);
        Silk__Ws__SendReply *rep = NULL;
        silk_status st = silk__ws__session_manager__call_send_to_business(ch, ctx, &req, &rep);
        uint64_t off = rep != NULL ? rep->offset : 0;
        if (rep != NULL)
            silk__ws__send_reply__free_unpacked(rep, NULL);
        if (st != SILK_OK || off != r->from + (uint64_t)i + 1) {
            bench_fail("push %ld to %s on %s: %s, offset %llu: %s", i, r->business, r->route,
                       silk_status_str(st), (unsigned long long)off, silk_ctx_message(ctx));
            return -1;
        }
    }
    return 0;
}

/* replay_back reopens the session with since and waits (10 s at most) for every missed push,
 * then 100 ms more for any extra one: 0, or -1 after saying why. */
static int replay_back(client *cl, replay *r)
{
    r->got = 0;
    r->recovered = false;
    r->t0 = bench_now_ns();
    if (open_all(cl, 1) != 0)
        return -1;
    uint64_t end = r->t0 + 10000000000ull;
    while (r->got < r->o->missed && !cl->failed && bench_now_ns() < end)
        pump(cl, 1);
    settle(cl, 0.1);
    if (cl->failed || r->got != r->o->missed || !r->recovered) {
        bench_fail("%s: %ld of %ld pushes replayed (%s)", r->business, r->got, r->o->missed,
                   r->recovered ? "recovered" : "the welcome did not say recovered");
        return -1;
    }
    close_all(cl);
    return 0;
}

/* replay_route is SendToBusiness's route: --route, else the URL's path without its '/'. */
static void replay_route(const opts *o, char *out, size_t cap)
{
    const char *p = o->route != NULL ? o->route : o->path + (o->path[0] == '/');
    snprintf(out, cap, "%.*s", (int)strcspn(p, "?"), p);
}

static int test_replay(client *cl)
{
    const opts *o = cl->o;
    static replay r;
    r = (replay){.o = o};
    replay_route(o, r.route, sizeof r.route);
    cl->arg = &r;
    cl->on_message = on_replayed;
    cl->path_of = replay_path;
    cl->protocol = "silk.v1";
    silk_ctx *ctx = silk_ctx_new();
    silk_channel *ch = NULL;
    if (ctx == NULL || silk_channel_open(&ch, SILK_WS_SESSION_MANAGER) != SILK_OK) {
        bench_fail("cannot open a channel to %s", SILK_WS_SESSION_MANAGER);
        silk_ctx_free(ctx);
        return 1;
    }
    double first[64], all[64];
    int n = 0, rv = 0;
    for (; n < o->rounds && n < 64 && rv == 0; n++) {
        snprintf(r.business, sizeof r.business, "%s%d", o->business, n);
        rv = replay_leave(cl, &r) != 0 || replay_push(&r, ch, ctx) != 0 || replay_back(cl, &r) != 0;
        first[n] = (double)(r.first_ns - r.t0) / 1e6;
        all[n] = (double)(r.last_ns - r.t0) / 1e6;
        if (rv == 0)
            fprintf(stderr,
                    "bench-ws: %s round %d: %ld pushes replayed, first %.2f ms, last %.2f ms\n",
                    o->peer, n, r.got, first[n], all[n]);
    }
    silk_channel_close(ch);
    silk_ctx_free(ctx);
    if (rv != 0)
        return 1;
    bench_result(o->peer, "ms", median_of(all, n));
    bench_result(o->peer, "first_ms", median_of(first, n));
    return 0;
}

/* ---------- hold: many sessions, idle, until one push to each ---------- */

static volatile sig_atomic_t stopping;

static void on_term(int sig)
{
    (void)sig;
    stopping = 1;
}

static void on_held(client *cl, wsconn *c, const uint8_t *data, size_t len)
{
    long *received = cl->arg;
    const char *w = cl->o->expect;
    if (c->received != 0 || len != strlen(w) || memcmp(data, w, len) != 0) {
        conn_close(cl, c, c->received ? "a second message" : "a message that is not --expect");
        return;
    }
    c->received++;
    (*received)++;
}

static int test_hold(client *cl)
{
    const opts *o = cl->o;
    static char path[600];
    snprintf(path, sizeof path, "%s%sbusinessId=%s", o->path, strchr(o->path, '?') ? "&" : "?",
             o->business);
    ((opts *)o)->path = path;
    long received = 0;
    cl->arg = &received;
    cl->on_message = on_held;
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    if (open_all(cl, o->sessions) != 0)
        return 1;
    static const uint8_t ping[4] = {'i', 'd', 'l', 'e'};
    for (int i = 0; i < cl->n; i++) /* one ping each: the session has framed something */
        ws_send(cl, &cl->conns[i], 0x9, ping, sizeof ping);
    printf("open %d\n", cl->open);
    fflush(stdout);
    bool told = false;
    uint64_t end = bench_now_ns() + (uint64_t)(o->seconds * 1e9);
    while (!stopping && !cl->failed && bench_now_ns() < end) {
        pump(cl, 50);
        if (!told && received == o->sessions) {
            printf("received %ld\n", received);
            fflush(stdout);
            told = true;
        }
    }
    if (cl->failed)
        return 1;
    close_all(cl);
    return 0;
}

/* raise_nofile lifts the soft limit on open files to the hard one: 10,000 connections. */
static void raise_nofile(int need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < (rlim_t)need + 64)
        bench_fail("RLIMIT_NOFILE is %lu: %d connections will not fit", (unsigned long)rl.rlim_cur,
                   need);
}

int main(int argc, char **argv)
{
    opts o;
    bench_set_name(argv[0]);
    parse(&o, argc, argv);
    client cl = {.o = &o};
    uint32_t seed;
    if (getrandom(&seed, sizeof seed, 0) != sizeof seed)
        seed = (uint32_t)bench_now_ns();
    srandom(seed);
    cl.ep = epoll_create1(EPOLL_CLOEXEC);
    cl.msg = malloc(o.payload);
    if (cl.ep < 0 || cl.msg == NULL) {
        bench_fail("cannot start: %s", strerror(errno));
        return 1;
    }
    bench_fill(cl.msg, o.payload);
    if (o.tls) {
        cl.tls = SSL_CTX_new(TLS_client_method());
        if (cl.tls == NULL) {
            bench_fail("SSL_CTX_new failed");
            return 1;
        }
        SSL_CTX_set_verify(cl.tls, SSL_VERIFY_NONE, NULL);
    }
    raise_nofile(o.sessions > o.connections ? o.sessions : o.connections);
    int rc;
    if (strcmp(o.test, "latency") == 0)
        rc = test_latency(&cl);
    else if (strcmp(o.test, "throughput") == 0)
        rc = test_throughput(&cl);
    else if (strcmp(o.test, "idle") == 0)
        rc = test_idle(&cl);
    else if (strcmp(o.test, "push") == 0)
        rc = test_push(&cl);
    else if (strcmp(o.test, "handshakes") == 0)
        rc = test_handshakes(&cl);
    else if (strcmp(o.test, "fanout") == 0)
        rc = test_fanout(&cl);
    else if (strcmp(o.test, "hold") == 0)
        rc = test_hold(&cl);
    else if (strcmp(o.test, "streams") == 0)
        rc = test_streams(&cl);
    else if (strcmp(o.test, "replay") == 0)
        rc = test_replay(&cl);
    else {
        bench_fail("unknown --test %s", o.test);
        rc = 2;
    }
    close_all(&cl);
    close(cl.ep);
    free(cl.msg);
    free(o.token);
    SSL_CTX_free(cl.tls);
    return rc;
}
