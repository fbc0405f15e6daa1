/* bench.c - the harness shared by the RPC benchmarks (see bench.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

static const char *progname = "bench";

/* ============================== options ============================== */

static void usage(FILE *out, const char *about)
{
    fprintf(out,
            "usage: %s [options]\n"
            "\n"
            "%s\n"
            "\n"
            "Prints one line per figure: result <peer> <metric> <value>, metrics p50_us,\n"
            "p99_us and throughput (calls per second).\n"
            "\n"
            "options:\n"
            "  --calls N       latency: timed round trips (default 20000)\n"
            "  --warmup N      latency: round trips before timing (default 2000)\n"
            "  --seconds S     throughput: measured window in seconds (default 10)\n"
            "  --inflight N    throughput: calls in flight on one connection (default 64)\n"
            "  --payload N     bytes echoed (default 64)\n"
            "  --only WHAT     latency or throughput (default both)\n"
            "  --serve         be the server only: print its address, serve until stdin "
            "closes\n"
            "  --variant NAME  which server, for programs that have several: the one to be\n"
            "                  with --serve, else the one to start\n"
            "  --connect ADDR  be the client only, of a server started with --serve\n"
            "  --pin HOW       same: server and client on CPU 0; split: server on CPU 1,\n"
            "                  client on CPU 0 (default: where the scheduler puts them)\n"
            "  --help          this text\n",
            progname, about);
}

static long number(const char *opt, const char *s, double *d)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s != NULL ? s : "", &end);
    if (s == NULL || end == s || *end != '\0' || errno != 0 || v < 0 || !isfinite(v)) {
        bench_fail("%s needs a non-negative number", opt);
        exit(2);
    }
    if (d != NULL)
        *d = v;
    return (long)v;
}

void bench_set_name(const char *argv0)
{
    const char *slash = strrchr(argv0, '/');
    progname = slash != NULL ? slash + 1 : argv0;
}

void bench_parse(bench_opts *o, int argc, char **argv, const char *about)
{
    bench_set_name(argv[0]);
    *o = (bench_opts){.calls = 20000,
                      .warmup = 2000,
                      .seconds = 10,
                      .inflight = 64,
                      .payload = 64,
                      .latency = true,
                      .throughput = true};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout, about);
            exit(0);
        } else if (strcmp(a, "--serve") == 0) {
            o->serve = true;
            continue;
        } else if (v == NULL) {
            usage(stderr, about);
            exit(2);
        } else if (strcmp(a, "--calls") == 0) {
            o->calls = number(a, v, NULL);
        } else if (strcmp(a, "--warmup") == 0) {
            o->warmup = number(a, v, NULL);
        } else if (strcmp(a, "--seconds") == 0) {
            number(a, v, &o->seconds);
        } else if (strcmp(a, "--inflight") == 0) {
            o->inflight = (int)number(a, v, NULL);
        } else if (strcmp(a, "--payload") == 0) {
            o->payload = (size_t)number(a, v, NULL);
        } else if (strcmp(a, "--variant") == 0) {
            o->variant = v;
        } else if (strcmp(a, "--connect") == 0) {
            o->connect = v;
        } else if (strcmp(a, "--pin") == 0 && (strcmp(v, "same") == 0 || strcmp(v, "split") == 0)) {
            o->pin = v;
        } else if (strcmp(a, "--only") == 0 &&
                   (strcmp(v, "latency") == 0 || strcmp(v, "throughput") == 0)) {
            o->latency = strcmp(v, "latency") == 0;
            o->throughput = !o->latency;
        } else {
            usage(stderr, about);
            exit(2);
        }
        i++;
    }
    if (o->calls < 1 || o->inflight < 1 || o->inflight > 4096 || o->payload > (1u << 20)) {
        bench_fail("--calls must be at least 1, --inflight 1 to 4096, --payload at most 1 MiB");
        exit(2);
    }
}

/* ============================== the server child ============================== */

/* pin_to binds the calling process (its threads to come) to one CPU. */
static void pin_to(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0)
        bench_fail("cannot pin to CPU %d: %s", cpu, strerror(errno));
}

void bench_serve_ready(const char *address)
{
    printf("listening %s\n", address);
    fflush(stdout);
    /* The parent reads no further: a later write to the pipe would kill us with SIGPIPE. */
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, STDOUT_FILENO);
        close(null);
    }
    char buf[256];
    for (;;) {
        ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
        if (n == 0 || (n < 0 && errno != EINTR))
            break;
    }
}

int bench_spawn(bench_server *s, const bench_opts *o, const char *variant)
{
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0) {
        bench_fail("pipe: %s", strerror(errno));
        return -1;
    }
    if (pipe2(out, O_CLOEXEC) != 0) {
        bench_fail("pipe: %s", strerror(errno));
        close(in[0]);
        close(in[1]);
        return -1;
    }
    char inflight[32], payload[32];
    snprintf(inflight, sizeof inflight, "%d", o->inflight);
    snprintf(payload, sizeof payload, "%zu", o->payload);
    const char *argv[10] = {progname, "--serve", "--inflight", inflight, "--payload", payload};
    if (variant != NULL) {
        argv[6] = "--variant";
        argv[7] = variant;
    }
    s->pid = fork();
    if (s->pid < 0) {
        bench_fail("fork: %s", strerror(errno));
        return -1;
    }
    if (s->pid == 0) {
        if (o->pin != NULL)
            pin_to(strcmp(o->pin, "split") == 0 ? 1 : 0);
        dup2(in[0], STDIN_FILENO);
        dup2(out[1], STDOUT_FILENO);
        execv("/proc/self/exe", (char *const *)argv);
        fprintf(stderr, "%s: cannot run the server: %s\n", progname, strerror(errno));
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    s->ctl = in[1];
    if (o->pin != NULL)
        pin_to(0);
    FILE *f = fdopen(out[0], "r");
    char line[sizeof s->address + 10] = ""; /* "listening " and the address */
    bool ok =
        f != NULL && fgets(line, sizeof line, f) != NULL && strncmp(line, "listening ", 10) == 0;
    if (f != NULL)
        fclose(f);
    else
        close(out[0]);
    if (!ok) {
        bench_fail("the server child did not start");
        bench_stop(s);
        return -1;
    }
    line[strcspn(line, "\r\n")] = '\0';
    memcpy(s->address, line + 10, strlen(line + 10) + 1);
    return 0;
}

int bench_stop(bench_server *s)
{
    if (s->ctl >= 0)
        close(s->ctl);
    s->ctl = -1;
    int status = 0;
    for (int i = 0; i < 10000; i++) {
        pid_t r = waitpid(s->pid, &status, WNOHANG);
        if (r == s->pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        if (r < 0)
            return -1;
        usleep(1000);
    }
    bench_fail("the server child did not stop in 10 s; killing it");
    kill(s->pid, SIGKILL);
    waitpid(s->pid, &status, 0);
    return -1;
}

int bench_main(const bench_opts *o, bench_serve_fn serve, bench_run_fn run)
{
    if (o->serve)
        return serve(o);
    if (o->connect != NULL)
        return run(o, o->connect);
    bench_server s;
    if (bench_spawn(&s, o, o->variant) != 0)
        return 1;
    int rc = run(o, s.address);
    if (bench_stop(&s) != 0) {
        bench_fail("the server did not exit cleanly");
        rc = 1;
    }
    return rc;
}

/* ============================== connecting ============================== */

void bench_nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

int bench_dial_tcp(const char *address)
{
    char host[64];
    unsigned port = 0;
    struct sockaddr_in sa = {.sin_family = AF_INET};
    if (sscanf(address, "%63[^:]:%u", host, &port) != 2 || port > 65535 ||
        inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        bench_fail("bad address %s (want 127.0.0.1:port)", address);
        return -1;
    }
    sa.sin_port = htons((uint16_t)port);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        bench_fail("cannot connect to %s: %s", address, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    bench_nodelay(fd);
    return fd;
}

/* ============================== measuring ============================== */

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void bench_fill(uint8_t *buf, size_t n)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = (uint8_t)('a' + i % 26);
}

bool bench_check(const uint8_t *buf, size_t len, size_t n)
{
    if (len != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (buf[i] != (uint8_t)('a' + i % 26))
            return false;
    }
    return true;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* percentile returns the nearest-rank p-th percentile of sorted v[0..n). */
static uint64_t percentile(const uint64_t *v, size_t n, double p)
{
    size_t rank = (size_t)ceil(p / 100.0 * (double)n);
    return v[rank > 0 ? rank - 1 : 0];
}

int bench_latency(const bench_opts *o, bench_call_fn call, void *arg, double *p50_us,
                  double *p99_us)
{
    for (long i = 0; i < o->warmup; i++) {
        if (call(arg) != 0)
            return -1;
    }
    uint64_t *t = malloc((size_t)o->calls * sizeof *t);
    if (t == NULL) {
        bench_fail("out of memory");
        return -1;
    }
    for (long i = 0; i < o->calls; i++) {
        uint64_t t0 = bench_now_ns();
        if (call(arg) != 0) {
            free(t);
            return -1;
        }
        t[i] = bench_now_ns() - t0;
    }
    qsort(t, (size_t)o->calls, sizeof *t, cmp_u64);
    *p50_us = (double)percentile(t, (size_t)o->calls, 50) / 1000.0;
    *p99_us = (double)percentile(t, (size_t)o->calls, 99) / 1000.0;
    free(t);
    return 0;
}

struct bench_flow {
    atomic_ulong done;
    atomic_ulong errors;
    atomic_bool stop;
    atomic_int running;
};

bench_flow *bench_flow_new(int slots)
{
    bench_flow *f = malloc(sizeof *f);
    if (f == NULL)
        return NULL;
    atomic_init(&f->done, 0);
    atomic_init(&f->errors, 0);
    atomic_init(&f->stop, false);
    atomic_init(&f->running, slots);
    return f;
}

void bench_flow_free(bench_flow *f)
{
    free(f);
}

bool bench_flow_finish(bench_flow *f, bool ok)
{
    if (ok) {
        atomic_fetch_add_explicit(&f->done, 1, memory_order_relaxed);
        if (!atomic_load_explicit(&f->stop, memory_order_relaxed))
            return true;
        atomic_fetch_sub(&f->running, 1);
        return false;
    }
    bench_flow_retire(f);
    return false;
}

void bench_flow_retire(bench_flow *f)
{
    atomic_fetch_add(&f->errors, 1);
    atomic_fetch_sub(&f->running, 1);
}

int bench_flow_running(bench_flow *f)
{
    return atomic_load(&f->running);
}

static void sleep_s(double s)
{
    if (s <= 0)
        return;
    struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int bench_flow_measure(const bench_opts *o, bench_flow *f, double *rate)
{
    sleep_s(o->seconds / 5 < 1 ? o->seconds / 5 : 1);
    unsigned long c0 = atomic_load(&f->done);
    uint64_t t0 = bench_now_ns();
    sleep_s(o->seconds);
    unsigned long c1 = atomic_load(&f->done);
    uint64_t t1 = bench_now_ns();
    atomic_store(&f->stop, true);
    *rate = (double)(c1 - c0) * 1e9 / (double)(t1 - t0);
    for (int i = 0; i < 10000 && atomic_load(&f->running) > 0; i++)
        usleep(1000);
    if (atomic_load(&f->running) > 0) {
        bench_fail("%d calls still outstanding after 10 s", atomic_load(&f->running));
        return -1;
    }
    if (atomic_load(&f->errors) > 0) {
        bench_fail("%lu calls failed", atomic_load(&f->errors));
        return -1;
    }
    if (getenv("BENCH_VERBOSE") != NULL) /* for profiles: costs per call */
        fprintf(stderr, "%s: throughput: %lu calls in all\n", progname, atomic_load(&f->done));
    return 0;
}

/* ============================== output ============================== */

void bench_result(const char *peer, const char *metric, double value)
{
    if (strcmp(metric, "throughput") == 0)
        printf("result %s %s %.0f\n", peer, metric, value);
    else
        printf("result %s %s %.1f\n", peer, metric, value);
    fflush(stdout);
}

void bench_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", progname);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}
