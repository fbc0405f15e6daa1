/* metrics.h - a server's counters for Prometheus: calls by method and status, a latency
 * histogram per method, refusals by reason, registry heartbeats; counted with relaxed atomics
 * in arrays made once at start, so a call costs a few additions and no lock or allocation. */
#ifndef SILK_SRC_METRICS_H
#define SILK_SRC_METRICS_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <silk/status.h>

/* The upper bounds of the latency buckets, in microseconds (+Inf follows): the gateway's
 * (0.5 ms ... 5 s), so that the two histograms read alike. */
#define SILK__METRICS_BUCKETS 12

/* What a server refuses, connections and calls: each is answered or closed without a handler
 * running. The names are the reason label's values (silk__metrics_reason_name). */
typedef enum silk__metrics_reason {
    SILK__REFUSED_MAX_CONNECTIONS,     /* a connection closed at accept, past max_connections */
    SILK__REFUSED_FIRST_FRAME_TIMEOUT, /* a connection closed: no valid frame in time */
    SILK__REFUSED_UNAUTHENTICATED,     /* a call without the cluster token */
    SILK__REFUSED_UNIMPLEMENTED,       /* a call of a method the server does not host */
    SILK__REFUSED_UNDECODABLE,         /* a call whose header or request does not decode */
    SILK__REFUSED_DEADLINE,            /* a call whose budget was spent on arrival */
    SILK__REFUSED_MAX_CONCURRENT,      /* a call past max_concurrent */
    SILK__REFUSED_MAX_MESSAGE,         /* a request larger than max_message */
    SILK__REFUSED_STOPPING,            /* a call that came while the server stops */
    SILK__REFUSED_CANCELLED,           /* a call its caller cancelled before it ran */
    SILK__REFUSED_OUT_OF_MEMORY,       /* a call with no memory to run it */
    SILK__REFUSED_REASONS
} silk__metrics_reason;

/* One method's calls: by status, and their latency from arrival to answer. Aligned to a
 * cache line so that two methods' counters never share one. */
typedef struct silk__metrics_method {
    alignas(64) atomic_uint_fast64_t by_code[SILK_STATUS_COUNT];
    atomic_uint_fast64_t buckets[SILK__METRICS_BUCKETS + 1]; /* the last is +Inf */
    atomic_uint_fast64_t sum_us;
    const char *path; /* "/pkg.Service/Method", the descriptor's */
} silk__metrics_method;

typedef struct silk__metrics silk__metrics;

/* silk__metrics_gauges_fn reads the gauges of the server a silk__metrics belongs to: calls in
 * flight and connections open. It runs on the exporter's thread. */
typedef void (*silk__metrics_gauges_fn)(void *arg, uint64_t *in_flight, uint64_t *connections);

/* silk__metrics is one server's counters. The exporter (exporter.c) keeps a list of them. */
struct silk__metrics {
    silk__metrics_method *methods; /* n_methods of them, indexed as the server numbers them */
    size_t n_methods;
    atomic_uint_fast64_t refused[SILK__REFUSED_REASONS];
    atomic_uint_fast64_t heartbeats;
    atomic_uint_fast64_t heartbeat_failures;
    silk__metrics_gauges_fn gauges; /* NULL: no gauges */
    void *gauges_arg;
    silk__metrics *next; /* on the exporter's list, under its lock */
    bool attached;
};

/* silk__metrics_bounds_us are the buckets' upper bounds, in microseconds. */
extern const int64_t silk__metrics_bounds_us[SILK__METRICS_BUCKETS];

/* silk__metrics_new returns counters for n_methods methods, all zero, with no paths yet (set
 * each methods[i].path before the counters are written out), or NULL when memory is
 * exhausted. The caller frees them with silk__metrics_free. */
silk__metrics *silk__metrics_new(size_t n_methods);

/* silk__metrics_free frees m, which must not be attached; NULL is ignored. */
void silk__metrics_free(silk__metrics *m);

/* silk__metrics_reason_name returns the reason label of r ("max_concurrent"). */
const char *silk__metrics_reason_name(silk__metrics_reason r);

/* silk__metrics_call counts one call of method i answered with st, us microseconds after it
 * arrived. m NULL (metrics off) does nothing. Any thread. */
static inline void silk__metrics_call(silk__metrics *m, size_t i, silk_status st, int64_t us)
{
    if (m == NULL || i >= m->n_methods)
        return;
    silk__metrics_method *mm = &m->methods[i];
    unsigned code = (unsigned)st < SILK_STATUS_COUNT ? (unsigned)st : (unsigned)SILK_UNKNOWN;
    size_t b = 0;
    while (b < SILK__METRICS_BUCKETS && us > silk__metrics_bounds_us[b])
        b++;
    atomic_fetch_add_explicit(&mm->by_code[code], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&mm->buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&mm->sum_us, (uint_fast64_t)(us > 0 ? us : 0), memory_order_relaxed);
}

/* silk__metrics_refused counts n refusals of reason r. m NULL does nothing. Any thread. */
static inline void silk__metrics_refused(silk__metrics *m, silk__metrics_reason r, unsigned n)
{
    if (m != NULL)
        atomic_fetch_add_explicit(&m->refused[r], n, memory_order_relaxed);
}

/* silk__metrics_heartbeat counts one heartbeat of a registry record, failed unless ok. m NULL
 * does nothing. Any thread. */
static inline void silk__metrics_heartbeat(silk__metrics *m, bool ok)
{
    if (m == NULL)
        return;
    atomic_fetch_add_explicit(&m->heartbeats, 1, memory_order_relaxed);
    if (!ok)
        atomic_fetch_add_explicit(&m->heartbeat_failures, 1, memory_order_relaxed);
}

/* silk__metrics_text returns the counters of every silk__metrics on the list from first (by
 * next) in Prometheus' text exposition format (0.0.4), added up by method when several
 * servers host one, as a new string the caller frees; NULL when memory is exhausted. */
char *silk__metrics_text(const silk__metrics *first);

#endif /* SILK_SRC_METRICS_H */
