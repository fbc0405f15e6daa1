/* metrics.h - the gateway's counters and latency histograms, written in Prometheus' text format. */
#ifndef SILK_GATEWAY_METRICS_H
#define SILK_GATEWAY_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include <silk/service.h>

/* The upper bounds of the latency buckets, in seconds (+Inf follows). */
#define SILK__GW_METRICS_BUCKETS 12

/* One route's requests: by HTTP status, and their latency. */
typedef struct silk__gw_metrics_route {
    char *route; /* "/wstest.WsTest/Echo", "/healthz", "websocket", "other" */
    size_t n_statuses;
    struct {
        int status;
        uint64_t count;
    } statuses[16];
    uint64_t buckets[SILK__GW_METRICS_BUCKETS + 1]; /* the last is +Inf */
    double sum;
    uint64_t count;
} silk__gw_metrics_route;

/* One method's calls from a loop to the services (loop/upstream.c): by silk status, and their
 * latency from the call's start to its completion. */
typedef struct silk__gw_metrics_upstream {
    const silk_method_desc *method; /* its descriptor, which outlives the gateway */
    uint64_t by_code[17];
    uint64_t buckets[SILK__GW_METRICS_BUCKETS + 1]; /* the last is +Inf */
    double sum;
    uint64_t count;
} silk__gw_metrics_upstream;

/* SessionManager's methods, counted by the gateway that serves them (sessions/). */
enum {
    SILK__GW_SM_SESSIONS,
    SILK__GW_SM_SEND,
    SILK__GW_SM_SEND_TO_BUSINESS,
    SILK__GW_SM_CLOSE,
    SILK__GW_SM_PRESENCE,
    SILK__GW_SM_CLOSE_BUSINESS,
    SILK__GW_SM_SEND_MANY,
    SILK__GW_SM_METHODS
};

/* silk__gw_metrics belongs to one loop; /metrics adds up every loop's under their locks. */
typedef struct silk__gw_metrics {
    silk__gw_metrics_route *routes;
    size_t n_routes, cap_routes;
    uint64_t pushes_sent;       /* WebSocket messages queued to sessions */
    uint64_t upstream_failures; /* calls to services that did not return OK */
    uint64_t upstream_by_code[17];
    uint64_t tls_handshake_failures; /* TLS handshakes failed or never finished (tls/tls.c) */
    /* The limits (conn/limits.c): requests answered 429, sessions paused by --session-rate,
     * connections refused past --max-connections or their address's cap, request heads that
     * did not arrive within --header-timeout. */
    uint64_t rate_limited_requests;
    uint64_t session_pauses;
    uint64_t refused_max_connections;
    uint64_t refused_per_address;
    uint64_t head_timeouts;
    /* SessionManager's calls by method: kept by the gateway (its handlers run on the
     * runtime's threads), copied in for /metrics only. */
    uint64_t session_manager_calls[SILK__GW_SM_METHODS];
    uint64_t recoveries[2];      /* [0] not recovered, [1] recovered */
    uint64_t history_appends[2]; /* [0] appended, [1] repeated (idempotency key) */
    /* Calls made to the services, one entry per method called. */
    silk__gw_metrics_upstream *upstream;
    size_t n_upstream, cap_upstream;
} silk__gw_metrics;

/* silk__gw_metrics_fini frees what m holds. */
void silk__gw_metrics_fini(silk__gw_metrics *m);

/* silk__gw_metrics_request counts one answered request of route with its HTTP status and
 * latency in seconds. Out of memory, the request goes uncounted. */
void silk__gw_metrics_request(silk__gw_metrics *m, const char *route, int status, double seconds);

/* silk__gw_metrics_add adds src's counts to dst's (out of memory, a route goes uncounted). */
void silk__gw_metrics_add(silk__gw_metrics *dst, const silk__gw_metrics *src);

/* silk__gw_metrics_upstream_failure counts a call that ended with silk status code. */
void silk__gw_metrics_upstream_failure(silk__gw_metrics *m, int code);

/* silk__gw_metrics_upstream_call counts a call of method to a service that ended with silk
 * status code after seconds (whether it failed at once or completed). Out of memory, the call
 * goes uncounted. */
void silk__gw_metrics_upstream_call(silk__gw_metrics *m, const silk_method_desc *method, int code,
                                    double seconds);

/* silk__gw_metrics_text returns the metrics in Prometheus' text exposition format (0.0.4),
 * with open_sessions and open_connections as gauges, as a new string the caller frees, or
 * NULL when memory is exhausted. */
char *silk__gw_metrics_text(const silk__gw_metrics *m, size_t open_sessions,
                            size_t open_connections);

#endif /* SILK_GATEWAY_METRICS_H */
