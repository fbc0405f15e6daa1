/* push_floor.c - the transport's floor under run_push10k.sh: one small WebSocket frame written
 * to each of many loopback TCP connections, read back on one epoll thread and timed to the
 * last arrival, with no gateway in between.
 *
 It holds --sessions connections between itself and a child process of its own (127.0.0.1,
 * TCP_NODELAY on the child's side, as on a gateway's; a process may hold only 20,000
 * descriptors here). Each round the child's --writers threads split the connections and write
 * each one a text frame carrying "r<round>" with one write(2), which is the least a gateway's
 * loops can do per session; this process's one thread waits in epoll_wait, reads, and checks
 * that each connection got exactly this round's frame. Times are from the round's start, told
 * the child through a pipe. It prints, like bench-ws --test fanout,
 * `result <peer> first_ms|p50_ms|last_ms <median over the rounds>`.
 *
 *   bench-push-floor [--sessions N] [--rounds N] [--writers N] [--peer NAME]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define WRITERS_MAX 64

typedef struct floor_opts {
    int sessions;
    int rounds;
    int writers;
    const char *peer;
} floor_opts;

/* The reading end of a connection, and when this round's frame arrived there (0: not yet). */
typedef struct reader {
    int fd;
    uint64_t got_ns;
} reader;

/* The child's side: the writing ends, split between the writers, and this round's frame. */
typedef struct writing {
    int *fds;
    int n, writers;
    uint8_t frame[16];
    size_t frame_len;
} writing;

typedef struct writer_arg {
    writing *w;
    int first;
    int failed;
} writer_arg;

static void usage(FILE *to)
{
    fprintf(to, "usage: bench-push-floor [--sessions N] [--rounds N] [--writers N] [--peer NAME]\n"
                "\n"
                "  --sessions N  loopback connections, one frame to each per round (10000)\n"
                "  --rounds N    timed rounds, after an untimed one (5)\n"
                "  --writers N   threads writing, the connections split between them (1)\n"
                "  --peer NAME   the name its result lines carry (floor)\n");
}

static int parse(int argc, char **argv, floor_opts *o)
{
    *o = (floor_opts){.sessions = 10000, .rounds = 5, .writers = 1, .peer = "floor"};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        }
        if (v == NULL) {
            usage(stderr);
            return -1;
        }
        if (strcmp(a, "--sessions") == 0)
            o->sessions = atoi(v);
        else if (strcmp(a, "--rounds") == 0)
            o->rounds = atoi(v);
        else if (strcmp(a, "--writers") == 0)
            o->writers = atoi(v);
        else if (strcmp(a, "--peer") == 0)
            o->peer = v;
        else {
            usage(stderr);
            return -1;
        }
        i++;
    }
    if (o->sessions < 1 || o->rounds < 1 || o->writers < 1 || o->writers > WRITERS_MAX) {
        bench_fail("--sessions and --rounds take at least 1, --writers 1 to %d", WRITERS_MAX);
        return -1;
    }
    return 0;
}

/* make_frame makes round k's frame: a text frame carrying "r<k>". */
static size_t make_frame(uint8_t *frame, size_t size, int k)
{
    int len = snprintf((char *)frame + 2, size - 2, "r%d", k);
    frame[0] = 0x81; /* FIN, text */
    frame[1] = (uint8_t)len;
    return (size_t)len + 2;
}

static void *write_share(void *arg)
{
    writer_arg *a = arg;
    writing *w = a->w;
    for (int i = a->first; i < w->n; i += w->writers)
        if (write(w->fds[i], w->frame, w->frame_len) != (ssize_t)w->frame_len)
            a->failed = 1;
    return NULL;
}

/* child connects o->sessions connections to port and, for each round number read from ctl,
 * writes that round's frame to each; it exits when ctl closes: 0, or 1 after saying why. */
static int child(const floor_opts *o, uint16_t port, int ctl)
{
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = htons(port)};
    writing w = {
        .fds = calloc((size_t)o->sessions, sizeof(int)), .n = o->sessions, .writers = o->writers};
    if (w.fds == NULL)
        return 1;
    int one = 1;
    for (int i = 0; i < w.n; i++) {
        w.fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (w.fds[i] < 0 || connect(w.fds[i], (struct sockaddr *)&a, sizeof a) != 0) {
            bench_fail("connection %d of %d: %s", i, w.n, strerror(errno));
            return 1;
        }
        setsockopt(w.fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    int k;
    while (read(ctl, &k, sizeof k) == (ssize_t)sizeof k) {
        w.frame_len = make_frame(w.frame, sizeof w.frame, k);
        pthread_t t[WRITERS_MAX];
        writer_arg args[WRITERS_MAX];
        for (int i = 0; i < w.writers; i++) {
            args[i] = (writer_arg){.w = &w, .first = i};
            if (pthread_create(&t[i], NULL, write_share, &args[i]) != 0)
                return 1;
        }
        for (int i = 0; i < w.writers; i++) {
            pthread_join(t[i], NULL);
            if (args[i].failed)
                return 1;
        }
    }
    return 0;
}

/* read_round reads until every connection has round k's frame (10 s at most): 0, or -1. */
static int read_round(int ep, reader *r, int n, int k)
{
    uint8_t frame[16];
    size_t frame_len = make_frame(frame, sizeof frame, k);
    struct epoll_event ev[512];
    int got = 0;
    uint64_t deadline = bench_now_ns() + 10000000000ull;
    while (got < n && bench_now_ns() < deadline) {
        int m = epoll_wait(ep, ev, 512, 100);
        for (int j = 0; j < m; j++) {
            reader *p = &r[ev[j].data.u32];
            uint8_t buf[64];
            ssize_t len = read(p->fd, buf, sizeof buf);
            if (len != (ssize_t)frame_len || memcmp(buf, frame, frame_len) != 0 || p->got_ns != 0) {
                bench_fail("connection %u: not this round's one frame", ev[j].data.u32);
                return -1;
            }
            p->got_ns = bench_now_ns();
            got++;
        }
    }
    if (got < n)
        bench_fail("%d of %d frames arrived within 10 s", got, n);
    return got == n ? 0 : -1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* run_round has the child write round k and reads it back; *first, *p50 and *last are ms
 * from the round's start. */
static int run_round(int ep, int ctl, reader *r, int n, int k, double *first, double *p50,
                     double *last)
{
    for (int i = 0; i < n; i++)
        r[i].got_ns = 0;
    uint64_t t0 = bench_now_ns();
    if (write(ctl, &k, sizeof k) != (ssize_t)sizeof k || read_round(ep, r, n, k) != 0)
        return -1;
    double *at = malloc((size_t)n * sizeof *at);
    if (at == NULL)
        return -1;
    for (int i = 0; i < n; i++)
        at[i] = (double)(r[i].got_ns - t0) / 1e6;
    qsort(at, (size_t)n, sizeof *at, cmp_double);
    *first = at[0];
    *p50 = at[(n - 1) / 2];
    *last = at[n - 1];
    free(at);
    return 0;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* accept_all listens on 127.0.0.1, starts the child, and accepts its n connections into r,
 * each watched by ep: 0, or -1 after saying why. *ctl is the pipe that starts its rounds. */
static int accept_all(const floor_opts *o, reader *r, int ep, int *ctl, pid_t *pid)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), fds[2];
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(l, (struct sockaddr *)&a, &len) != 0 || listen(l, 4096) != 0 ||
        pipe(fds) != 0) {
        bench_fail("listen: %s", strerror(errno));
        return -1;
    }
    if ((*pid = fork()) == 0) {
        close(l);
        close(fds[1]);
        _exit(child(o, ntohs(a.sin_port), fds[0]));
    }
    close(fds[0]);
    *ctl = fds[1];
    for (int i = 0; i < o->sessions; i++) {
        if (*pid < 0 || (r[i].fd = accept4(l, NULL, NULL, SOCK_CLOEXEC)) < 0) {
            bench_fail("accepting connection %d of %d: %s", i, o->sessions, strerror(errno));
            close(l);
            return -1;
        }
        struct epoll_event e = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, r[i].fd, &e) != 0)
            return -1;
    }
    close(l);
    return 0;
}

int main(int argc, char **argv)
{
    bench_set_name(argv[0]);
    floor_opts o;
    if (parse(argc, argv, &o) != 0)
        return 2;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)(o.sessions + 16)) {
        bench_fail("%d sessions need %d descriptors; the limit is %llu", o.sessions,
                   o.sessions + 16, (unsigned long long)rl.rlim_cur);
        return 1;
    }
    reader *r = calloc((size_t)o.sessions, sizeof *r);
    double *m = calloc(3 * (size_t)o.rounds, sizeof *m);
    int ep = epoll_create1(EPOLL_CLOEXEC), ctl = -1, rv = -1;
    pid_t pid = -1;
    if (r != NULL && m != NULL && ep >= 0 && accept_all(&o, r, ep, &ctl, &pid) == 0)
        rv = 0;
    for (int k = 0; k <= o.rounds && rv == 0; k++) { /* round 0 warms up, untimed */
        double f, p, l;
        rv = run_round(ep, ctl, r, o.sessions, k, &f, &p, &l);
        if (rv == 0 && k > 0) {
            m[k - 1] = f;
            m[o.rounds + k - 1] = p;
            m[2 * o.rounds + k - 1] = l;
            fprintf(stderr, "bench-push-floor: %s round %d: arrivals %.1f / %.1f / %.1f ms\n",
                    o.peer, k, f, p, l);
        }
        usleep(200000);
    }
    if (rv == 0) {
        bench_result(o.peer, "first_ms", median(m, o.rounds));
        bench_result(o.peer, "p50_ms", median(m + o.rounds, o.rounds));
        bench_result(o.peer, "last_ms", median(m + 2 * o.rounds, o.rounds));
    }
    if (ctl >= 0)
        close(ctl); /* the child's end of rounds */
    int status = 0;
    if (pid > 0 && (waitpid(pid, &status, 0) != pid || status != 0))
        rv = -1;
    for (int i = 0; r != NULL && i < o.sessions; i++)
        if (r[i].fd > 0)
            close(r[i].fd);
    if (ep >= 0)
        close(ep);
    free(r);
    free(m);
    return rv == 0 ? 0 : 1;
}
