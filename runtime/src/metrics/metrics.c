/* metrics.c - a server's counters (metrics.h), and writing them in Prometheus' text format. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/metrics.h"

const int64_t silk__metrics_bounds_us[SILK__METRICS_BUCKETS] = {
    500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 5000000};

static const char *const reason_names[SILK__REFUSED_REASONS] = {
    [SILK__REFUSED_MAX_CONNECTIONS] = "max_connections",
    [SILK__REFUSED_FIRST_FRAME_TIMEOUT] = "first_frame_timeout",
    [SILK__REFUSED_UNAUTHENTICATED] = "unauthenticated",
    [SILK__REFUSED_UNIMPLEMENTED] = "unimplemented",
    [SILK__REFUSED_UNDECODABLE] = "undecodable",
    [SILK__REFUSED_DEADLINE] = "deadline_exceeded",
    [SILK__REFUSED_MAX_CONCURRENT] = "max_concurrent",
    [SILK__REFUSED_MAX_MESSAGE] = "max_message",
    [SILK__REFUSED_STOPPING] = "stopping",
    [SILK__REFUSED_CANCELLED] = "cancelled",
    [SILK__REFUSED_OUT_OF_MEMORY] = "out_of_memory",
};

const char *silk__metrics_reason_name(silk__metrics_reason r)
{
    return (unsigned)r < SILK__REFUSED_REASONS ? reason_names[r] : "other";
}

/* ============================== life ============================== */

silk__metrics *silk__metrics_new(size_t n_methods)
{
    silk__metrics *m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    size_t size = (n_methods != 0 ? n_methods : 1) * sizeof *m->methods;
    m->methods = aligned_alloc(alignof(silk__metrics_method), size);
    if (m->methods == NULL) {
        free(m);
        return NULL;
    }
    memset(m->methods, 0, size);
    m->n_methods = n_methods;
    for (size_t i = 0; i < n_methods; i++)
        m->methods[i].path = "";
    return m;
}

void silk__metrics_free(silk__metrics *m)
{
    if (m == NULL)
        return;
    free(m->methods);
    free(m);
}

/* ============================== the text ============================== */

/* text is the growing output of silk__metrics_text; oom once memory ran out. */
typedef struct text {
    char *p;
    size_t len, cap;
    bool oom;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(text *t, const char *fmt, ...)
{
    while (!t->oom) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->oom = true;
        } else if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        } else {
            size_t cap = t->cap * 2 + (size_t)n;
            char *p = realloc(t->p, cap);
            if (p == NULL)
                t->oom = true;
            else
                t->p = p, t->cap = cap;
        }
    }
}

/* put_label writes s as a label value: backslash, double quote and newline escaped. */
static void put_label(text *t, const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '\\' || *s == '"')
            put(t, "\\%c", *s);
        else if (*s == '\n')
            put(t, "\\n");
        else
            put(t, "%c", *s);
    }
}

static uint64_t load(const atomic_uint_fast64_t *a)
{
    return (uint64_t)atomic_load_explicit(a, memory_order_relaxed);
}

/* totals is one method's counts, added up over every server that hosts it. */
typedef struct totals {
    uint64_t by_code[SILK_STATUS_COUNT];
    uint64_t buckets[SILK__METRICS_BUCKETS + 1];
    uint64_t sum_us;
} totals;

/* first_of tells whether methods[i] of m is the first method of that path on the list. */
static bool first_of(const silk__metrics *first, const silk__metrics *m, size_t i)
{
    const char *path = m->methods[i].path;
    for (const silk__metrics *o = first; o != NULL; o = o->next) {
        for (size_t j = 0; j < o->n_methods; j++) {
            if (o == m && j == i)
                return true;
            if (strcmp(o->methods[j].path, path) == 0)
                return false;
        }
    }
    return true;
}

/* add_up adds up the counts of path over the list. */
static void add_up(const silk__metrics *first, const char *path, totals *out)
{
    memset(out, 0, sizeof *out);
    for (const silk__metrics *o = first; o != NULL; o = o->next) {
        for (size_t j = 0; j < o->n_methods; j++) {
            const silk__metrics_method *mm = &o->methods[j];
            if (strcmp(mm->path, path) != 0)
                continue;
            for (int c = 0; c < SILK_STATUS_COUNT; c++)
                out->by_code[c] += load(&mm->by_code[c]);
            for (int b = 0; b <= SILK__METRICS_BUCKETS; b++)
                out->buckets[b] += load(&mm->buckets[b]);
            out->sum_us += load(&mm->sum_us);
        }
    }
}

/* put_method writes one method's calls and histogram. */
static void put_method(text *calls, text *hist, const char *path, const totals *t)
{
    for (int c = 0; c < SILK_STATUS_COUNT; c++) {
        if (c != SILK_OK && t->by_code[c] == 0)
            continue; /* OK is always there, so that every method has a series */
        put(calls, "silk_server_calls_total{method=\"");
        put_label(calls, path);
        put(calls, "\",code=\"%s\"} %llu\n", silk_status_str((silk_status)c),
            (unsigned long long)t->by_code[c]);
    }
    uint64_t cum = 0;
    for (int b = 0; b <= SILK__METRICS_BUCKETS; b++) {
        cum += t->buckets[b];
        put(hist, "silk_server_call_duration_seconds_bucket{method=\"");
        put_label(hist, path);
        if (b < SILK__METRICS_BUCKETS)
            put(hist, "\",le=\"%g\"} %llu\n", (double)silk__metrics_bounds_us[b] / 1e6,
                (unsigned long long)cum);
        else
            put(hist, "\",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
    }
    put(hist, "silk_server_call_duration_seconds_sum{method=\"");
    put_label(hist, path);
    put(hist, "\"} %.6f\n", (double)t->sum_us / 1e6);
    put(hist, "silk_server_call_duration_seconds_count{method=\"");
    put_label(hist, path);
    put(hist, "\"} %llu\n", (unsigned long long)cum);
}

char *silk__metrics_text(const silk__metrics *first)
{
    text out = {.p = malloc(4096), .cap = 4096};
    text hist = {.p = malloc(4096), .cap = 4096};
    out.oom = out.p == NULL;
    hist.oom = hist.p == NULL;
    uint64_t in_flight = 0, conns = 0, heartbeats = 0, hb_failures = 0;
    uint64_t refused[SILK__REFUSED_REASONS] = {0};
    put(&out, "# HELP silk_server_calls_total Calls of the methods a server hosts, answered "
              "(or dropped, as CANCELLED), by method and status.\n"
              "# TYPE silk_server_calls_total counter\n");
    put(&hist, "# HELP silk_server_call_duration_seconds Time from a call's arrival to its "
               "answer, by method.\n"
               "# TYPE silk_server_call_duration_seconds histogram\n");
    /* The gauges first: a call leaves in_flight only after it is counted, so a scrape that
     * sees it gone also sees its count. */
    for (const silk__metrics *m = first; m != NULL; m = m->next) {
        uint64_t f = 0, c = 0;
        if (m->gauges != NULL)
            m->gauges(m->gauges_arg, &f, &c);
        in_flight += f;
        conns += c;
    }
    for (const silk__metrics *m = first; m != NULL; m = m->next) {
        for (size_t i = 0; i < m->n_methods; i++) {
            if (!first_of(first, m, i))
                continue;
            totals t;
            add_up(first, m->methods[i].path, &t);
            put_method(&out, &hist, m->methods[i].path, &t);
        }
        for (int r = 0; r < SILK__REFUSED_REASONS; r++)
            refused[r] += load(&m->refused[r]);
        heartbeats += load(&m->heartbeats);
        hb_failures += load(&m->heartbeat_failures);
    }
    if (!hist.oom)
        put(&out, "%s", hist.p);
    free(hist.p);
    out.oom |= hist.oom;
    put(&out,
        "# HELP silk_server_calls_in_flight Calls taken and not yet answered.\n"
        "# TYPE silk_server_calls_in_flight gauge\nsilk_server_calls_in_flight %llu\n"
        "# HELP silk_server_connections Client connections open.\n"
        "# TYPE silk_server_connections gauge\nsilk_server_connections %llu\n"
        "# HELP silk_server_refusals_total Connections closed and calls answered without their "
        "handler running, by reason.\n"
        "# TYPE silk_server_refusals_total counter\n",
        (unsigned long long)in_flight, (unsigned long long)conns);
    for (int r = 0; r < SILK__REFUSED_REASONS; r++)
        put(&out, "silk_server_refusals_total{reason=\"%s\"} %llu\n",
            silk__metrics_reason_name((silk__metrics_reason)r), (unsigned long long)refused[r]);
    put(&out,
        "# HELP silk_registry_heartbeats_total Heartbeats of this process's registry records.\n"
        "# TYPE silk_registry_heartbeats_total counter\nsilk_registry_heartbeats_total %llu\n"
        "# HELP silk_registry_heartbeat_failures_total Heartbeats that failed.\n"
        "# TYPE silk_registry_heartbeat_failures_total counter\n"
        "silk_registry_heartbeat_failures_total %llu\n",
        (unsigned long long)heartbeats, (unsigned long long)hb_failures);
    if (out.oom) {
        free(out.p);
        return NULL;
    }
    return out.p;
}
