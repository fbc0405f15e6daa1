/* metrics.c - the gateway's counters and latency histograms, written in Prometheus' text format. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <silk/status.h>

#include "http/metrics.h"

static const double bounds[SILK__GW_METRICS_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                        0.05,   0.1,   0.25,   0.5,   1,    5};

/* bucket_of returns the latency bucket of seconds. */
static size_t bucket_of(double seconds)
{
    size_t b;
    for (b = 0; b < SILK__GW_METRICS_BUCKETS && seconds > bounds[b]; b++)
        ;
    return b;
}

void silk__gw_metrics_fini(silk__gw_metrics *m)
{
    for (size_t i = 0; i < m->n_routes; i++)
        free(m->routes[i].route);
    free(m->routes);
    free(m->upstream);
    memset(m, 0, sizeof *m);
}

static silk__gw_metrics_route *find_route(silk__gw_metrics *m, const char *route)
{
    for (size_t i = 0; i < m->n_routes; i++)
        if (strcmp(m->routes[i].route, route) == 0)
            return &m->routes[i];
    if (m->n_routes == m->cap_routes) {
        size_t cap = m->cap_routes ? m->cap_routes * 2 : 8;
        silk__gw_metrics_route *r = realloc(m->routes, cap * sizeof *r);
        if (r == NULL)
            return NULL;
        m->routes = r;
        m->cap_routes = cap;
    }
    silk__gw_metrics_route *r = &m->routes[m->n_routes];
    memset(r, 0, sizeof *r);
    if ((r->route = strdup(route)) == NULL)
        return NULL;
    m->n_routes++;
    return r;
}

void silk__gw_metrics_request(silk__gw_metrics *m, const char *route, int status, double seconds)
{
    silk__gw_metrics_route *r = find_route(m, route);
    if (r == NULL)
        return;
    size_t i;
    for (i = 0; i < r->n_statuses && r->statuses[i].status != status; i++)
        ;
    if (i == r->n_statuses) {
        if (i == sizeof r->statuses / sizeof r->statuses[0])
            i--; /* more statuses than slots: the last slot takes the rest */
        else
            r->n_statuses++;
        r->statuses[i].status = status;
    }
    r->statuses[i].count++;
    r->buckets[bucket_of(seconds)]++;
    r->sum += seconds;
    r->count++;
}

/* find_upstream finds (or adds) the entry of method: by descriptor on a loop, by path when
 * loops are added up, so that one path is one series. */
static silk__gw_metrics_upstream *find_upstream(silk__gw_metrics *m, const silk_method_desc *method,
                                                bool by_path)
{
    for (size_t i = 0; i < m->n_upstream; i++) {
        const silk_method_desc *d = m->upstream[i].method;
        if (d == method || (by_path && strcmp(d->path, method->path) == 0))
            return &m->upstream[i];
    }
    if (m->n_upstream == m->cap_upstream) {
        size_t cap = m->cap_upstream ? m->cap_upstream * 2 : 8;
        silk__gw_metrics_upstream *u = realloc(m->upstream, cap * sizeof *u);
        if (u == NULL)
            return NULL;
        m->upstream = u;
        m->cap_upstream = cap;
    }
    silk__gw_metrics_upstream *u = &m->upstream[m->n_upstream++];
    memset(u, 0, sizeof *u);
    u->method = method;
    return u;
}

void silk__gw_metrics_upstream_call(silk__gw_metrics *m, const silk_method_desc *method, int code,
                                    double seconds)
{
    silk__gw_metrics_upstream *u = method != NULL ? find_upstream(m, method, false) : NULL;
    if (u == NULL)
        return;
    u->by_code[code >= 0 && code < SILK_STATUS_COUNT ? code : SILK_UNKNOWN]++;
    u->buckets[bucket_of(seconds)]++;
    u->sum += seconds;
    u->count++;
}

void silk__gw_metrics_add(silk__gw_metrics *dst, const silk__gw_metrics *src)
{
    for (size_t i = 0; i < src->n_upstream; i++) {
        const silk__gw_metrics_upstream *from = &src->upstream[i];
        silk__gw_metrics_upstream *u = find_upstream(dst, from->method, true);
        if (u == NULL)
            continue;
        for (int c = 0; c < SILK_STATUS_COUNT; c++)
            u->by_code[c] += from->by_code[c];
        for (size_t b = 0; b <= SILK__GW_METRICS_BUCKETS; b++)
            u->buckets[b] += from->buckets[b];
        u->sum += from->sum;
        u->count += from->count;
    }
    for (size_t i = 0; i < src->n_routes; i++) {
        const silk__gw_metrics_route *from = &src->routes[i];
        silk__gw_metrics_route *r = find_route(dst, from->route);
        if (r == NULL)
            continue;
        for (size_t j = 0; j < from->n_statuses; j++) {
            size_t k;
            for (k = 0; k < r->n_statuses && r->statuses[k].status != from->statuses[j].status; k++)
                ;
            if (k == r->n_statuses) {
                if (k == sizeof r->statuses / sizeof r->statuses[0])
                    k--;
                else
                    r->n_statuses++;
                r->statuses[k].status = from->statuses[j].status;
            }
            r->statuses[k].count += from->statuses[j].count;
        }
        for (size_t b = 0; b <= SILK__GW_METRICS_BUCKETS; b++)
            r->buckets[b] += from->buckets[b];
        r->sum += from->sum;
        r->count += from->count;
    }
    dst->pushes_sent += src->pushes_sent;
    dst->upstream_failures += src->upstream_failures;
    dst->tls_handshake_failures += src->tls_handshake_failures;
    dst->rate_limited_requests += src->rate_limited_requests;
    dst->session_pauses += src->session_pauses;
    dst->refused_max_connections += src->refused_max_connections;
    dst->refused_per_address += src->refused_per_address;
    dst->head_timeouts += src->head_timeouts;
    for (size_t c = 0; c < sizeof dst->upstream_by_code / sizeof dst->upstream_by_code[0]; c++)
        dst->upstream_by_code[c] += src->upstream_by_code[c];
}

void silk__gw_metrics_upstream_failure(silk__gw_metrics *m, int code)
{
    m->upstream_failures++;
    if (code >= 0 && code < SILK_STATUS_COUNT)
        m->upstream_by_code[code]++;
}

typedef struct buf {
    char *p;
    size_t len, cap;
    int oom;
} buf;

static void bprintf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void bprintf(buf *b, const char *fmt, ...)
{
    for (;;) {
        if (b->oom)
            return;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)n;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

char *silk__gw_metrics_text(const silk__gw_metrics *m, size_t open_sessions,
                            size_t open_connections)
{
    buf b = {.p = malloc(4096), .cap = 4096};
    if (b.p == NULL)
        return NULL;
    b.p[0] = '\0';
    bprintf(&b, "# HELP silk_gateway_http_requests_total HTTP requests answered, by route and "
                "status.\n# TYPE silk_gateway_http_requests_total counter\n");
    for (size_t i = 0; i < m->n_routes; i++)
        for (size_t j = 0; j < m->routes[i].n_statuses; j++)
            bprintf(&b, "silk_gateway_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
                    m->routes[i].route, m->routes[i].statuses[j].status,
                    (unsigned long long)m->routes[i].statuses[j].count);
    bprintf(&b, "# HELP silk_gateway_http_request_duration_seconds Time from a request's "
                "arrival to its answer.\n# TYPE silk_gateway_http_request_duration_seconds "
                "histogram\n");
    for (size_t i = 0; i < m->n_routes; i++) {
        const silk__gw_metrics_route *r = &m->routes[i];
        uint64_t cum = 0;
        for (size_t k = 0; k <= SILK__GW_METRICS_BUCKETS; k++) {
            cum += r->buckets[k];
            if (k < SILK__GW_METRICS_BUCKETS)
                bprintf(&b,
                        "silk_gateway_http_request_duration_seconds_bucket{route=\"%s\","
                        "le=\"%g\"} %llu\n",
                        r->route, bounds[k], (unsigned long long)cum);
            else
                bprintf(&b,
                        "silk_gateway_http_request_duration_seconds_bucket{route=\"%s\","
                        "le=\"+Inf\"} %llu\n",
                        r->route, (unsigned long long)cum);
        }
        bprintf(&b, "silk_gateway_http_request_duration_seconds_sum{route=\"%s\"} %.9g\n", r->route,
                r->sum);
        bprintf(&b, "silk_gateway_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
                r->route, (unsigned long long)r->count);
    }
    bprintf(&b,
            "# HELP silk_gateway_open_sessions WebSocket sessions open.\n"
            "# TYPE silk_gateway_open_sessions gauge\nsilk_gateway_open_sessions %zu\n",
            open_sessions);
    bprintf(&b,
            "# HELP silk_gateway_open_connections Client connections open.\n"
            "# TYPE silk_gateway_open_connections gauge\nsilk_gateway_open_connections %zu\n",
            open_connections);
    bprintf(&b,
            "# HELP silk_gateway_pushes_sent_total Messages queued to WebSocket sessions.\n"
            "# TYPE silk_gateway_pushes_sent_total counter\n"
            "silk_gateway_pushes_sent_total %llu\n",
            (unsigned long long)m->pushes_sent);
    bprintf(&b,
            "# HELP silk_gateway_tls_handshake_failures_total TLS handshakes that failed "
            "(plaintext or garbage on the TLS port, a refused version, an alert) or did not "
            "finish in time.\n"
            "# TYPE silk_gateway_tls_handshake_failures_total counter\n"
            "silk_gateway_tls_handshake_failures_total %llu\n",
            (unsigned long long)m->tls_handshake_failures);
    bprintf(&b,
            "# HELP silk_gateway_rate_limited_total Requests answered 429 (--rate-limit) and "
            "sessions paused (--session-rate).\n"
            "# TYPE silk_gateway_rate_limited_total counter\n"
            "silk_gateway_rate_limited_total{what=\"request\"} %llu\n"
            "silk_gateway_rate_limited_total{what=\"session\"} %llu\n",
            (unsigned long long)m->rate_limited_requests, (unsigned long long)m->session_pauses);
    bprintf(&b,
            "# HELP silk_gateway_connections_refused_total Connections refused when accepted.\n"
            "# TYPE silk_gateway_connections_refused_total counter\n"
            "silk_gateway_connections_refused_total{reason=\"max_connections\"} %llu\n"
            "silk_gateway_connections_refused_total{reason=\"per_address\"} %llu\n",
            (unsigned long long)m->refused_max_connections,
            (unsigned long long)m->refused_per_address);
    bprintf(&b,
            "# HELP silk_gateway_request_head_timeouts_total Connections closed because a "
            "request head did not arrive within --header-timeout.\n"
            "# TYPE silk_gateway_request_head_timeouts_total counter\n"
            "silk_gateway_request_head_timeouts_total %llu\n",
            (unsigned long long)m->head_timeouts);
    static const char *const sm_methods[SILK__GW_SM_METHODS] = {
        "Sessions", "Send", "SendToBusiness", "Close", "Presence", "CloseBusiness", "SendMany"};
    bprintf(&b, "# HELP silk_gateway_session_manager_calls_total Calls to this gateway's "
                "SessionManager, by method.\n"
                "# TYPE silk_gateway_session_manager_calls_total counter\n");
    for (int i = 0; i < SILK__GW_SM_METHODS; i++)
        bprintf(&b, "silk_gateway_session_manager_calls_total{method=\"%s\"} %llu\n", sm_methods[i],
                (unsigned long long)m->session_manager_calls[i]);
    bprintf(&b,
            "# HELP silk_gateway_recoveries_total Sessions that opened with since, by whether "
            "everything after it was still kept.\n"
            "# TYPE silk_gateway_recoveries_total counter\n"
            "silk_gateway_recoveries_total{result=\"recovered\"} %llu\n"
            "silk_gateway_recoveries_total{result=\"not_recovered\"} %llu\n",
            (unsigned long long)m->recoveries[1], (unsigned long long)m->recoveries[0]);
    bprintf(&b,
            "# HELP silk_gateway_history_appends_total Pushes this gateway kept in their "
            "stream, and repeats of an idempotency key it kept once.\n"
            "# TYPE silk_gateway_history_appends_total counter\n"
            "silk_gateway_history_appends_total{result=\"appended\"} %llu\n"
            "silk_gateway_history_appends_total{result=\"duplicate\"} %llu\n",
            (unsigned long long)m->history_appends[0], (unsigned long long)m->history_appends[1]);
    bprintf(&b, "# HELP silk_gateway_upstream_failures_total Calls to services that did not "
                "return OK, by status.\n# TYPE silk_gateway_upstream_failures_total counter\n");
    for (int code = 1; code < SILK_STATUS_COUNT; code++)
        if (m->upstream_by_code[code] > 0)
            bprintf(&b, "silk_gateway_upstream_failures_total{code=\"%s\"} %llu\n",
                    silk_status_str((silk_status)code),
                    (unsigned long long)m->upstream_by_code[code]);
    bprintf(&b, "# HELP silk_gateway_upstream_calls_total Calls this gateway made to services "
                "(HTTP methods, hooks, deep health checks), by method and status.\n"
                "# TYPE silk_gateway_upstream_calls_total counter\n");
    for (size_t i = 0; i < m->n_upstream; i++)
        for (int code = 0; code < SILK_STATUS_COUNT; code++)
            if (code == SILK_OK || m->upstream[i].by_code[code] > 0)
                bprintf(&b, "silk_gateway_upstream_calls_total{method=\"%s\",code=\"%s\"} %llu\n",
                        m->upstream[i].method->path, silk_status_str((silk_status)code),
                        (unsigned long long)m->upstream[i].by_code[code]);
    bprintf(&b, "# HELP silk_gateway_upstream_call_duration_seconds Time from a call to a service "
                "to its completion, by method.\n"
                "# TYPE silk_gateway_upstream_call_duration_seconds histogram\n");
    for (size_t i = 0; i < m->n_upstream; i++) {
        const silk__gw_metrics_upstream *u = &m->upstream[i];
        const char *path = u->method->path;
        uint64_t cum = 0;
        for (size_t k = 0; k <= SILK__GW_METRICS_BUCKETS; k++) {
            cum += u->buckets[k];
            if (k < SILK__GW_METRICS_BUCKETS)
                bprintf(&b,
                        "silk_gateway_upstream_call_duration_seconds_bucket{method=\"%s\","
                        "le=\"%g\"} %llu\n",
                        path, bounds[k], (unsigned long long)cum);
            else
                bprintf(&b,
                        "silk_gateway_upstream_call_duration_seconds_bucket{method=\"%s\","
                        "le=\"+Inf\"} %llu\n",
                        path, (unsigned long long)cum);
        }
        bprintf(&b, "silk_gateway_upstream_call_duration_seconds_sum{method=\"%s\"} %.9g\n", path,
                u->sum);
        bprintf(&b, "silk_gateway_upstream_call_duration_seconds_count{method=\"%s\"} %llu\n", path,
                (unsigned long long)u->count);
    }
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}
