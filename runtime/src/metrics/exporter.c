/* exporter.c - the process's metrics listener (exporter.h): a blocking HTTP/1.1 server on a
 * thread of its own that answers one request per connection, GET /metrics, and closes it. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <silk/log.h>

#include "core/clock.h"
#include "core/env.h"
#include "core/thread.h"
#include "metrics/exporter.h"

#define LOG "metrics"
/* The variable that turns the listener on. */
#define ENV "SILK_METRICS_LISTEN"
/* A request head may be this long, and must arrive (and its answer leave) this soon. */
#define HEAD_MAX      8192
#define IO_TIMEOUT_MS 2000

/* life_mu orders attach and detach, which start and stop the listener; list_mu guards the
 * list, which a scrape reads. A scrape takes list_mu only, so detach may wait for the thread
 * with life_mu held. */
static pthread_mutex_t life_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t list_mu = PTHREAD_MUTEX_INITIALIZER;
static silk__metrics *list;        /* under list_mu */
static bool tried;                 /* under life_mu: the listener was started (or failed) */
static bool running;               /* under life_mu: the thread runs */
static pthread_t thread;           /* under life_mu */
static int listen_fd = -1;         /* under life_mu, and the thread's while it runs */
static int wake_fds[2] = {-1, -1}; /* written to stop the thread */
static atomic_int bound_port;

/* ============================== the address ============================== */

bool silk__metrics_parse_address(const char *s, char *host, size_t host_size, char *port,
                                 size_t port_size)
{
    const char *h = s, *h_end, *p;
    if (s[0] == '[') {
        h = s + 1;
        h_end = strchr(h, ']');
        if (h_end == NULL || h_end[1] != ':')
            return false;
        p = h_end + 2;
    } else {
        h_end = strrchr(s, ':');
        if (h_end == NULL || memchr(s, ':', (size_t)(h_end - s)) != NULL)
            return false; /* no port, or a v6 address without brackets */
        p = h_end + 1;
    }
    size_t hn = (size_t)(h_end - h), pn = strlen(p);
    if (hn == 0 || hn >= host_size || pn == 0 || pn > 5 || pn >= port_size ||
        strspn(p, "0123456789") != pn || atol(p) > 65535)
        return false;
    memcpy(host, h, hn);
    host[hn] = '\0';
    memcpy(port, p, pn + 1);
    return true;
}

bool silk__metrics_wanted(void)
{
    const char *v = silk__env_str(ENV);
    char host[256], port[8];
    if (v == NULL)
        return false;
    if (!silk__metrics_parse_address(v, host, sizeof host, port, sizeof port)) {
        silk_log(SILK_LOG_WARN, "env", "ignoring %s: not HOST:PORT or [V6]:PORT; no metrics", ENV);
        return false;
    }
    return true;
}

int silk__metrics_port(void)
{
    return atomic_load(&bound_port);
}

/* ============================== one request ============================== */

/* wait_readable waits until fd is readable, within the time left before deadline_us; false on
 * a timeout, or when the listener is being stopped. */
static bool wait_readable(int fd, int64_t deadline_us)
{
    for (;;) {
        int64_t left = (deadline_us - silk__now_us()) / 1000;
        if (left <= 0)
            return false;
        struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = wake_fds[0], .events = POLLIN}};
        int n = poll(p, 2, (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        return n > 0 && p[1].revents == 0;
    }
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* gone, or too slow (SO_SNDTIMEO) */
        p += w;
        n -= (size_t)w;
    }
}

static void respond(int fd, const char *status, const char *type, const char *body)
{
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     status, type, strlen(body));
    send_all(fd, head, (size_t)n);
    send_all(fd, body, strlen(body));
}

/* read_head reads a request head into buf (HEAD_MAX bytes and a NUL) and returns its length,
 * 0 when the client went away or was too slow, -1 when the head is too large. */
static long read_head(int fd, char *buf)
{
    size_t n = 0;
    int64_t deadline = silk__now_us() + IO_TIMEOUT_MS * 1000;
    for (;;) {
        buf[n] = '\0';
        if (strstr(buf, "\r\n\r\n") != NULL || strstr(buf, "\n\n") != NULL)
            return (long)n;
        if (n == HEAD_MAX)
            return -1;
        if (!wait_readable(fd, deadline))
            return 0;
        ssize_t r = recv(fd, buf + n, HEAD_MAX - n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return 0;
        n += (size_t)r;
    }
}

/* scrape answers GET /metrics: every attached server's counters. */
static void scrape(int fd)
{
    pthread_mutex_lock(&list_mu);
    char *body = silk__metrics_text(list);
    pthread_mutex_unlock(&list_mu);
    if (body == NULL) {
        respond(fd, "503 Service Unavailable", "text/plain", "out of memory\n");
        return;
    }
    respond(fd, "200 OK", "text/plain; version=0.0.4; charset=utf-8", body);
    free(body);
}

/* finish ends a connection once answered: it sends the end of the stream and reads what the
 * client still sends (a head past HEAD_MAX, a body) for a moment, so that closing with unread
 * bytes does not reset the connection before the client has read the answer. */
static void finish(int fd)
{
    shutdown(fd, SHUT_WR);
    char sink[4096];
    int64_t deadline = silk__now_us() + 200 * 1000;
    for (size_t total = 0; total < 65536 && wait_readable(fd, deadline);) {
        ssize_t r = recv(fd, sink, sizeof sink, 0);
        if (r <= 0)
            break;
        total += (size_t)r;
    }
}

/* serve answers the one request of an accepted connection. */
static void serve(int fd)
{
    struct timeval tv = {.tv_sec = IO_TIMEOUT_MS / 1000};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    static char head[HEAD_MAX + 1]; /* the thread's own: one request at a time */
    long n = read_head(fd, head);
    if (n < 0) {
        respond(fd, "431 Request Header Fields Too Large", "text/plain", "head too large\n");
        return;
    }
    if (n == 0)
        return;
    /* The request line: METHOD SP TARGET SP HTTP/1.x */
    char *sp1 = strchr(head, ' ');
    char *sp2 = sp1 != NULL ? strchr(sp1 + 1, ' ') : NULL;
    if (sp1 == NULL || sp2 == NULL || strncmp(sp2 + 1, "HTTP/1.", 7) != 0) {
        respond(fd, "400 Bad Request", "text/plain", "bad request\n");
        return;
    }
    *sp1 = *sp2 = '\0';
    const char *target = sp1 + 1;
    size_t path_len = strcspn(target, "?");
    if (strcmp(head, "GET") == 0 && path_len == 8 && strncmp(target, "/metrics", 8) == 0)
        scrape(fd);
    else
        respond(fd, "404 Not Found", "text/plain", "only GET /metrics is served here\n");
}

static void *exporter_main(void *arg)
{
    (void)arg;
    for (;;) {
        struct pollfd p[2] = {{.fd = listen_fd, .events = POLLIN},
                              {.fd = wake_fds[0], .events = POLLIN}};
        int n = poll(p, 2, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || p[1].revents != 0)
            break;
        int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0) {
            serve(fd);
            finish(fd);
            close(fd);
        } else if (errno == EMFILE || errno == ENFILE || errno == ENOMEM || errno == ENOBUFS) {
            poll(&p[1], 1, 100); /* out of descriptors: wait a little rather than spin */
        }
    }
    return NULL;
}

/* ============================== start and stop ============================== */

/* bind_address makes the listening socket of host:port; -1 with errno when it cannot. */
static int bind_address(const char *host, const char *port)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int rv = getaddrinfo(host, port, &hints, &res);
    if (rv != 0) {
        errno = rv == EAI_SYSTEM ? errno : EADDRNOTAVAIL;
        return -1;
    }
    int fd = -1, err = EADDRNOTAVAIL;
    for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 16) != 0) {
            err = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    errno = err;
    return fd;
}

static int local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return 0;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* start_listener binds $SILK_METRICS_LISTEN and starts the thread; life_mu is held. Any
 * failure is logged and leaves nothing behind: the servers serve without metrics. */
static void start_listener(void)
{
    const char *v = silk__env_str(ENV);
    char host[256], port[8];
    if (v == NULL || !silk__metrics_parse_address(v, host, sizeof host, port, sizeof port))
        return; /* silk__metrics_wanted has warned */
    if ((listen_fd = bind_address(host, port)) < 0) {
        silk_log(SILK_LOG_WARN, LOG,
                 "cannot listen: serving without metrics address=%s error=\"%s\"", v,
                 strerror(errno));
        return;
    }
    if (pipe2(wake_fds, O_CLOEXEC) != 0 || silk__thread_start(&thread, exporter_main, NULL) != 0) {
        silk_log(SILK_LOG_WARN, LOG, "cannot start the metrics thread: serving without metrics");
        close(listen_fd);
        listen_fd = -1;
        if (wake_fds[0] >= 0) {
            close(wake_fds[0]);
            close(wake_fds[1]);
        }
        wake_fds[0] = wake_fds[1] = -1;
        return;
    }
    running = true;
    atomic_store(&bound_port, local_port(listen_fd));
    silk_log(SILK_LOG_INFO, LOG, "metrics listening address=%s port=%d path=/metrics", v,
             atomic_load(&bound_port));
}

/* stop_listener stops the thread and closes its sockets; life_mu is held. */
static void stop_listener(void)
{
    if (!running)
        return;
    char b = 1;
    if (write(wake_fds[1], &b, 1) < 0) {
        /* Cannot happen with an empty pipe; the thread would then run on. */
    }
    pthread_join(thread, NULL);
    running = false;
    close(listen_fd);
    close(wake_fds[0]);
    close(wake_fds[1]);
    listen_fd = wake_fds[0] = wake_fds[1] = -1;
    atomic_store(&bound_port, 0);
}

void silk__metrics_attach(silk__metrics *m)
{
    pthread_mutex_lock(&life_mu);
    pthread_mutex_lock(&list_mu);
    silk__metrics **at = &list;
    while (*at != NULL)
        at = &(*at)->next;
    m->next = NULL;
    *at = m;
    m->attached = true;
    pthread_mutex_unlock(&list_mu);
    if (!tried) {
        tried = true;
        start_listener();
    }
    pthread_mutex_unlock(&life_mu);
}

void silk__metrics_detach(silk__metrics *m)
{
    if (m == NULL || !m->attached)
        return;
    pthread_mutex_lock(&life_mu);
    pthread_mutex_lock(&list_mu);
    for (silk__metrics **at = &list; *at != NULL; at = &(*at)->next) {
        if (*at == m) {
            *at = m->next;
            break;
        }
    }
    m->attached = false;
    m->next = NULL;
    bool empty = list == NULL;
    pthread_mutex_unlock(&list_mu);
    if (empty) {
        stop_listener();
        tried = false;
    }
    pthread_mutex_unlock(&life_mu);
}
