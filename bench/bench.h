/* bench.h - the harness shared by the RPC benchmarks: options, a server child, timing, output.
 *
 * Every bench-rpc-* program runs the same way: it starts itself again as a server child
 * (`--serve`), reads the address the child listens on, measures single-client latency and
 * pipelined throughput against it as the client, and prints one machine-readable line per
 * figure: `result <peer> <metric> <value>` with the metrics p50_us, p99_us and throughput
 * (calls per second). Nothing else goes to stdout. */
#ifndef SILK_BENCH_H
#define SILK_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* bench_opts are the command-line options every program takes. */
typedef struct bench_opts {
    long calls;          /* latency: measured round trips (20000) */
    long warmup;         /* latency: round trips before measuring (2000) */
    double seconds;      /* throughput: the measured window (10) */
    int inflight;        /* throughput: calls kept in flight on the one connection (64) */
    size_t payload;      /* bytes echoed (64) */
    bool latency;        /* run the latency test (unless --only throughput) */
    bool throughput;     /* run the throughput test (unless --only latency) */
    bool serve;          /* --serve: be the server only */
    const char *variant; /* --variant: which server, for programs that have several */
    const char *connect; /* --connect: be the client only, of a server already running */
    const char *pin;     /* --pin: NULL, "same" (all on CPU 0) or "split" (server CPU 1) */
} bench_opts;

/* bench_parse fills o from the command line. It prints the usage and exits (0 for --help,
 * 2 for a bad option). about is one paragraph on the program, for --help. */
void bench_parse(bench_opts *o, int argc, char **argv, const char *about);

/* bench_serve_ready tells the parent (or the user, with --serve) where the server listens and
 * then waits until stdin is closed: the parent closing its end means "stop". */
void bench_serve_ready(const char *address);

/* bench_server is a server child started by bench_spawn. */
typedef struct bench_server {
    pid_t pid;
    int ctl; /* the child's stdin: closing it stops the child */
    char address[256];
} bench_server;

/* bench_spawn starts this program again as a server child with --serve (and --variant when
 * variant is not NULL) and waits for the address it listens on. With o->pin it pins the
 * child, and the calling process, to their CPUs. It returns 0, or -1 after printing why. */
int bench_spawn(bench_server *s, const bench_opts *o, const char *variant);

/* bench_stop stops a server child and waits for it (killing it after 10 s). It returns the
 * child's exit status, or -1 when it had to be killed or did not exit cleanly. */
int bench_stop(bench_server *s);

/* bench_serve_fn is a program's server (--serve): it returns the exit status. */
typedef int (*bench_serve_fn)(const bench_opts *o);

/* bench_run_fn is a program's client of the server at address: it returns the exit status. */
typedef int (*bench_run_fn)(const bench_opts *o, const char *address);

/* bench_main is the main of a program with one server: serve with --serve, run against
 * --connect's address, or else spawn a server child, run against it and stop it. It returns
 * the exit status (1 also when the child did not exit cleanly). */
int bench_main(const bench_opts *o, bench_serve_fn serve, bench_run_fn run);

/* bench_nodelay turns Nagle off on a TCP socket. */
void bench_nodelay(int fd);

/* bench_dial_tcp connects a blocking socket to address ("127.0.0.1:port") with TCP_NODELAY;
 * the descriptor, or -1 after printing why. */
int bench_dial_tcp(const char *address);

/* bench_now_ns returns CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now_ns(void);

/* bench_fill fills buf with n bytes of a recognisable pattern; bench_check tells whether
 * buf holds exactly that (n bytes). */
void bench_fill(uint8_t *buf, size_t n);
bool bench_check(const uint8_t *buf, size_t len, size_t n);

/* bench_call_fn makes one blocking round trip; it returns 0, or -1 after printing why. */
typedef int (*bench_call_fn)(void *arg);

/* bench_latency makes o->warmup round trips, then o->calls timed ones, and sets the median
 * and 99th percentile in microseconds. It returns 0, or -1 when a call failed. */
int bench_latency(const bench_opts *o, bench_call_fn call, void *arg, double *p50_us,
                  double *p99_us);

/* bench_flow is the shared state of a throughput run (opaque, so that C++ can use it too):
 * the completions counted by the program's callbacks, the failures, the stop flag they read
 * before starting the next call, and the slots still running, so that the program can wait
 * for them. */
typedef struct bench_flow bench_flow;

/* bench_flow_new makes a flow of slots running slots (each a chain of calls one after the
 * other); NULL when memory is exhausted. Free it with bench_flow_free once drained. */
bench_flow *bench_flow_new(int slots);
void bench_flow_free(bench_flow *f);

/* bench_flow_finish is what a completion calls after its call: it counts it (as a failure
 * when ok is false) and tells whether the slot should start its next call. When it returns
 * false the slot is retired. */
bool bench_flow_finish(bench_flow *f, bool ok);

/* bench_flow_retire retires a slot whose next call could not be started (a failure). */
void bench_flow_retire(bench_flow *f);

/* bench_flow_running returns the slots not retired yet. */
int bench_flow_running(bench_flow *f);

/* bench_flow_measure lets the calls run for a warm-up (a fifth of o->seconds, at most 1 s),
 * counts the completions in the next o->seconds, sets the stop flag, waits for every slot
 * to retire (for at most 10 s) and sets *rate to the calls per second. It returns 0, or -1
 * when a call failed or calls are still outstanding after 10 s. */
int bench_flow_measure(const bench_opts *o, bench_flow *f, double *rate);

/* bench_result prints `result <peer> <metric> <value>`. */
void bench_result(const char *peer, const char *metric, double value);

/* bench_set_name names the program in bench_fail's messages, for programs that do not use
 * bench_parse. */
void bench_set_name(const char *argv0);

/* bench_fail prints "<program>: <message>" to stderr. */
void bench_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#ifdef __cplusplus
}
#endif

#endif /* SILK_BENCH_H */
