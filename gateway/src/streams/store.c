/* store.c - where a gateway's streams live (Redis through the registry, or this process's
 * memory with the file registry), and the reader thread that reads them for sessions so that
 * no loop waits for Redis. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <silk/log.h>
#include <silk/registry.h>

#include "conn/client.h"
#include "core/mutex.h"
#include "core/thread.h"
#include "loop/loop.h"
#include "sessions/push.h"
#include "streams/memory.h"
#include "streams/streams.h"

#define LOG "gateway"

/* A read for a session, queued for the reader; then its answer, posted to the session's loop
 * as a task. */
typedef struct read_req {
    silk_loop_task task; /* first: read_answered casts the task back */
    struct read_req *next;
    /* A probe before a session opens (silk__gw_store_probe): its connection's call, whose
     * client is NULL once the connection is gone; then is what runs with the answer. */
    silk__gw_client_call probe;
    silk__gw_since since;
    silk__gw_probe_then *then;
    silk__gw *gw;
    silk__gw_loop *loop;
    char session_id[SILK__GW_SESSION_ID_MAX + 1];
    const char *route; /* the service's */
    char *business_id;
    silk__stream_limits lim;
    uint64_t after;
    size_t max;
    uint64_t seq;
    silk_status st;
    silk__stream_range range;
} read_req;
_Static_assert(offsetof(read_req, task) == 0, "read_answered casts its task to the read");

struct silk__gw_store {
    silk_registry *reg;       /* with streams (Redis), else NULL */
    silk__gw_streams *memory; /* without: this process's */
    pthread_t thread;
    pthread_mutex_t mu; /* guards the queue and stop */
    pthread_cond_t wake;
    read_req *head, *tail;
    bool stop;
};

typedef struct silk__gw_store store;

/* ============================================================================
 * History
 * ========================================================================== */

bool silk__gw_history(const silk__gw *gw, size_t service, silk__stream_limits *lim)
{
    const silk_service_desc *d = service < gw->n_services ? gw->services[service] : NULL;
    if (d == NULL || d->history_size == 0)
        return false;
    *lim = (silk__stream_limits){.size = d->history_size, .ttl_s = d->history_ttl_s};
    return true;
}

bool silk__gw_history_of_route(const silk__gw *gw, const char *route, silk__stream_limits *lim)
{
    for (size_t i = 0; route != NULL && route[0] != '\0' && i < gw->n_services; i++)
        if (gw->services[i]->websocket && strcmp(gw->services[i]->route, route) == 0)
            return silk__gw_history(gw, i, lim);
    return false;
}

silk_status silk__gw_store_append(silk__gw *gw, const char *route, const char *business_id,
                                  const silk__stream_limits *lim, const void *data, size_t len,
                                  bool binary, const char *idem_key,
                                  char epoch[SILK__STREAM_EPOCH_MAX + 1], uint64_t *offset,
                                  bool *duplicate)
{
    store *s = gw->store;
    if (s == NULL)
        return SILK_UNAVAILABLE;
    if (s->reg != NULL)
        return silk__stream_append(s->reg, route, business_id, lim, data, len, binary, idem_key,
                                   epoch, offset, duplicate);
    return silk__gw_streams_append(s->memory, route, business_id, lim, data, len, binary, idem_key,
                                   epoch, offset, duplicate);
}

void silk__gw_count_append(silk__gw *gw, bool duplicate)
{
    atomic_fetch_add_explicit(&gw->history_appends[duplicate], 1, memory_order_relaxed);
}

void silk__gw_count_recovery(silk__gw *gw, bool recovered)
{
    atomic_fetch_add_explicit(&gw->recoveries[recovered], 1, memory_order_relaxed);
}

void silk__gw_store_sweep(silk__gw *gw, double now)
{
    if (gw->store != NULL && gw->store->memory != NULL)
        silk__gw_streams_sweep(gw->store->memory, now);
}

/* ============================================================================
 * The reader
 * ========================================================================== */

static void read_free(read_req *q)
{
    silk__stream_range_fini(&q->range);
    free(q->business_id);
    free(q);
}

/* probe_answered tells a probe's connection, if it is still there, whether its since is
 * recovered: same epoch, not ahead of the stream, and nothing after it lost. */
static void probe_answered(read_req *q)
{
    silk__gw_client *c = q->probe.client;
    if (c == NULL)
        return;
    c->call = NULL;
    const silk__stream_range *r = &q->range;
    bool recovered = q->st == SILK_OK && strcmp(r->epoch, q->since.epoch) == 0 &&
                     q->since.offset <= r->top && r->first <= q->since.offset + 1;
    q->then(c, recovered);
}

/* read_answered hands a read's answer to its session, if it is still on the loop. */
static void read_answered(silk_loop_task *task)
{
    read_req *q = (read_req *)task;
    if (q->then != NULL) {
        probe_answered(q);
        read_free(q);
        return;
    }
    silk__gw_client *c = silk__gw_loop_client(q->loop, q->session_id);
    if (c != NULL)
        silk__gw_stream_read_done(c, q->seq, q->st, &q->range);
    read_free(q);
}

static void run_read(store *s, read_req *q)
{
    if (s->reg != NULL)
        q->st = silk__stream_read(s->reg, q->route, q->business_id, &q->lim, q->after, q->max,
                                  &q->range);
    else
        q->st = silk__gw_streams_range(s->memory, q->route, q->business_id, &q->lim, q->after,
                                       q->max, &q->range);
    q->task.run = read_answered;
    silk__gw_loop_post(q->loop, &q->task);
}

static void *reader_main(void *arg)
{
    store *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        read_req *q = s->head;
        if (q == NULL) {
            pthread_cond_wait(&s->wake, &s->mu);
            continue;
        }
        if ((s->head = q->next) == NULL)
            s->tail = NULL;
        pthread_mutex_unlock(&s->mu);
        run_read(s, q);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* new_read makes a read of c's stream; NULL when memory is exhausted. */
static read_req *new_read(silk__gw_client *c, uint64_t after, size_t max)
{
    silk__gw *gw = c->loop->gw;
    read_req *q = gw->store != NULL ? calloc(1, sizeof *q) : NULL;
    if (q == NULL || (q->business_id = strdup(c->business_id)) == NULL ||
        !silk__gw_history(gw, c->service, &q->lim)) {
        free(q);
        return NULL;
    }
    q->gw = gw;
    q->loop = c->loop;
    snprintf(q->session_id, sizeof q->session_id, "%s", c->session_id);
    q->route = gw->services[c->service]->route;
    q->after = after;
    q->max = max;
    return q;
}

/* queue_read hands q to the reader. */
static void queue_read(store *s, read_req *q)
{
    pthread_mutex_lock(&s->mu);
    if (s->tail != NULL)
        s->tail->next = q;
    else
        s->head = q;
    s->tail = q;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->mu);
}

int silk__gw_store_read(silk__gw_client *c, uint64_t after, size_t max, uint64_t seq)
{
    SILK__GW_ASSERT_ON_LOOP(c->loop);
    read_req *q = new_read(c, after, max);
    if (q == NULL)
        return -1;
    q->seq = seq;
    queue_read(c->loop->gw->store, q);
    return 0;
}

int silk__gw_store_probe(silk__gw_client *c, const silk__gw_since *since, silk__gw_probe_then *then)
{
    SILK__GW_ASSERT_ON_LOOP(c->loop);
    read_req *q = new_read(c, 0, 0);
    if (q == NULL)
        return -1;
    q->since = *since;
    q->then = then;
    q->probe.client = c;
    c->call = &q->probe;
    queue_read(c->loop->gw->store, q);
    return 0;
}

/* ============================================================================
 * Start and stop
 * ========================================================================== */

/* any_history tells whether a service of gw keeps history. */
static bool any_history(const silk__gw *gw)
{
    silk__stream_limits lim;
    for (size_t i = 0; i < gw->n_services; i++)
        if (silk__gw_history(gw, i, &lim))
            return true;
    return false;
}

/* open_backing gives s Redis when the registry keeps streams, else memory: 0, or -1. */
static int open_backing(store *s)
{
    silk_registry *reg = NULL;
    if (silk_registry_open(&reg, NULL) == SILK_OK) {
        silk__stream_range r;
        silk__stream_limits probe = {.size = 1, .ttl_s = 1};
        silk_status st = silk__stream_read(reg, "silk", "probe", &probe, 0, 0, &r);
        if (st != SILK_UNIMPLEMENTED) { /* Redis, up or not yet: it keeps them */
            if (st == SILK_OK)
                silk__stream_range_fini(&r);
            s->reg = reg;
            return 0;
        }
        silk_registry_close(reg);
    }
    s->memory = silk__gw_streams_new();
    return s->memory != NULL ? 0 : -1;
}

int silk__gw_store_start(silk__gw *gw)
{
    if (!any_history(gw))
        return 0;
    store *s = calloc(1, sizeof *s);
    if (s == NULL || open_backing(s) != 0) {
        free(s);
        return -1;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->wake, NULL);
    if (silk__thread_start(&s->thread, reader_main, s) != 0) {
        silk_registry_close(s->reg);
        silk__gw_streams_free(s->memory);
        free(s);
        return -1;
    }
    gw->store = s;
    silk_log(SILK_LOG_INFO, LOG, "streams kept in %s", s->reg ? "Redis" : "this gateway's memory");
    return 0;
}

void silk__gw_store_stop(silk__gw *gw)
{
    store *s = gw->store;
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    for (read_req *q = s->head, *next; q != NULL; q = next) {
        next = q->next;
        read_free(q);
    }
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->mu);
    silk_registry_close(s->reg);
    silk__gw_streams_free(s->memory);
    free(s);
    gw->store = NULL;
}
