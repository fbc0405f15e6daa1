/* directory.c - the gateway's entries in the session directory, written by a thread of its own.
 *
 * A change to the session table queues an entry to write or remove (under gw->lock, so that
 * the queue is in the table's order). The writer writes them one by one and renews the
 * gateway's mark every second; when a write fails or the mark was gone (the store restarted
 * empty), it writes the whole table again from a snapshot taken under gw->lock, which also
 * drops what was queued before it. Why a thread and the registry's own connection rather than
 * hiredis' async API on a loop: one implementation of the link to Redis (credentials,
 * reconnection, timeouts) serves the registry and the directory; docs/ARCHITECTURE.md. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <silk/log.h>

#include "core/clock.h"
#include "core/thread.h"
#include "registry/backend.h"
#include "registry/directory.h"
#include "sessions/directory.h"

#define LOG "gateway"

static int64_t now_ms(void)
{
    return silk__now_us() / 1000;
}

/* How often the writer renews its mark at most, in milliseconds. The mark lives as long as a
 * registry record (silk__registry_ttl): a gateway's entries are trusted as long as it is. */
#define MARK_EVERY_MS 1000

typedef struct entry_op {
    struct entry_op *next;
    bool present;
    char business[]; /* NUL-terminated */
} entry_op;

struct silk__gw_directory {
    silk__gw *gw;
    silk_registry *reg;
    pthread_t thread;
    pthread_mutex_t mu; /* guards what follows; taken after gw->lock, never before */
    pthread_cond_t wake;
    entry_op *head, *tail;
    bool resync; /* write the whole table again: a write failed, the store lost the entries */
    bool stop;
};

typedef struct silk__gw_directory directory;

/* ============================================================================
 * The queue
 * ========================================================================== */

static void queue(directory *d, const char *business, bool present)
{
    size_t len = strlen(business);
    entry_op *op = malloc(sizeof *op + len + 1);
    pthread_mutex_lock(&d->mu);
    if (op == NULL) {
        d->resync = true; /* no room to say what changed: say everything */
    } else {
        op->next = NULL;
        op->present = present;
        memcpy(op->business, business, len + 1);
        if (d->tail != NULL)
            d->tail->next = op;
        else
            d->head = op;
        d->tail = op;
    }
    pthread_cond_signal(&d->wake);
    pthread_mutex_unlock(&d->mu);
}

/* drop_queue frees what is queued; d->mu is held. */
static void drop_queue(directory *d)
{
    for (entry_op *op = d->head, *next; op != NULL; op = next) {
        next = op->next;
        free(op);
    }
    d->head = d->tail = NULL;
}

int silk__gw_session_enter(silk__gw *gw, const char *id, const char *route, const char *business,
                           void *data)
{
    silk__mutex_lock(&gw->lock);
    int rv = silk__gw_sessions_add(&gw->sessions, id, route, business, data);
    if (rv == 0 && gw->directory != NULL &&
        silk__gw_sessions_business(&gw->sessions, NULL, business, NULL, NULL) == 1)
        queue(gw->directory, business, true);
    silk__mutex_unlock(&gw->lock);
    return rv;
}

void silk__gw_session_leave(silk__gw *gw, const char *id, const char *business)
{
    silk__mutex_lock(&gw->lock);
    if (silk__gw_sessions_remove(&gw->sessions, id) != NULL && gw->directory != NULL &&
        silk__gw_sessions_business(&gw->sessions, NULL, business, NULL, NULL) == 0)
        queue(gw->directory, business, false);
    silk__mutex_unlock(&gw->lock);
}

/* ============================================================================
 * The writer
 * ========================================================================== */

typedef struct snapshot {
    char **ids;
    size_t n, cap;
    bool nomem;
} snapshot;

static void snapshot_one(const char *business, void *arg)
{
    snapshot *s = arg;
    char *id = s->n < s->cap ? strdup(business) : NULL;
    if (id == NULL)
        s->nomem = true;
    else
        s->ids[s->n++] = id;
}

/* write_all writes the whole table as the gateway's entries, and drops the queue it covers.
 * It returns the store's answer. */
static silk_status write_all(directory *d)
{
    silk__gw *gw = d->gw;
    snapshot s = {0};
    silk__mutex_lock(&gw->lock);
    pthread_mutex_lock(&d->mu);
    drop_queue(d);
    d->resync = false;
    pthread_mutex_unlock(&d->mu);
    s.cap = silk__gw_sessions_count(&gw->sessions);
    s.ids = s.cap > 0 ? malloc(s.cap * sizeof *s.ids) : NULL;
    if (s.cap > 0 && s.ids == NULL)
        s.nomem = true;
    else if (s.cap > 0)
        silk__gw_sessions_each_business(&gw->sessions, snapshot_one, &s);
    silk__mutex_unlock(&gw->lock);
    silk_status st = s.nomem ? SILK_RESOURCE_EXHAUSTED
                             : silk__directory_sync(d->reg, gw->opts.id, (const char *const *)s.ids,
                                                    s.n, silk__registry_ttl(d->reg));
    for (size_t i = 0; i < s.n; i++)
        free(s.ids[i]);
    free(s.ids);
    if (st == SILK_OK)
        silk_log(SILK_LOG_DEBUG, LOG, "session directory written businesses=%zu", s.n);
    return st;
}

/* failed makes the writer write everything again once the store answers. */
static void failed(directory *d, silk_status st)
{
    pthread_mutex_lock(&d->mu);
    if (!d->resync)
        silk_log(SILK_LOG_WARN, LOG, "cannot write the session directory status=%s",
                 silk_status_str(st));
    d->resync = true;
    pthread_mutex_unlock(&d->mu);
}

/* renew_mark renews the mark, and asks for everything to be written when it was gone. */
static void renew_mark(directory *d)
{
    bool was_there = false;
    silk_status st =
        silk__directory_mark(d->reg, d->gw->opts.id, silk__registry_ttl(d->reg), &was_there);
    if (st != SILK_OK) {
        failed(d, st);
        return;
    }
    if (!was_there) {
        pthread_mutex_lock(&d->mu);
        d->resync = true;
        pthread_mutex_unlock(&d->mu);
    }
}

/* wait_for_work waits until an entry is queued, everything is to be written, the writer is to
 * stop, or the mark is due; d->mu is held. */
static void wait_for_work(directory *d, int64_t mark_at_ms)
{
    while (d->head == NULL && !d->resync && !d->stop) {
        int64_t left = mark_at_ms - now_ms();
        if (left <= 0)
            return;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += left / 1000;
        until.tv_nsec += (left % 1000) * 1000000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        if (pthread_cond_timedwait(&d->wake, &d->mu, &until) == ETIMEDOUT)
            return;
    }
}

static void *writer_main(void *arg)
{
    directory *d = arg;
    int64_t mark_at = 0, mark_every = silk__registry_ttl(d->reg) / 3;
    if (mark_every > MARK_EVERY_MS)
        mark_every = MARK_EVERY_MS;
    pthread_mutex_lock(&d->mu);
    for (;;) {
        wait_for_work(d, mark_at);
        if (d->stop && d->head == NULL)
            break;
        if (now_ms() >= mark_at) {
            pthread_mutex_unlock(&d->mu);
            renew_mark(d);
            mark_at = now_ms() + mark_every;
            pthread_mutex_lock(&d->mu);
        }
        if (d->resync) {
            pthread_mutex_unlock(&d->mu);
            silk_status st = write_all(d);
            if (st != SILK_OK)
                failed(d, st);
            pthread_mutex_lock(&d->mu);
            if (st != SILK_OK) /* try again with the next mark */
                wait_for_work(d, mark_at);
            continue;
        }
        entry_op *op = d->head;
        if (op == NULL)
            continue;
        d->head = op->next;
        if (d->head == NULL)
            d->tail = NULL;
        pthread_mutex_unlock(&d->mu);
        silk_status st = silk__directory_set(d->reg, d->gw->opts.id, op->business, op->present);
        free(op);
        if (st != SILK_OK)
            failed(d, st);
        pthread_mutex_lock(&d->mu);
    }
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

/* ============================================================================
 * Start and stop
 * ========================================================================== */

int silk__gw_directory_start(silk__gw *gw)
{
    silk_registry *reg = NULL;
    silk_status st = silk_registry_open(&reg, NULL);
    if (st != SILK_OK) {
        silk_log(SILK_LOG_WARN, LOG, "no session directory: cannot open the registry status=%s",
                 silk_status_str(st));
        return 0;
    }
    /* Forget an earlier run's entries; the mark says they are complete: there are none. */
    st = silk__directory_sync(reg, gw->opts.id, NULL, 0, silk__registry_ttl(reg));
    if (st == SILK_UNIMPLEMENTED) {
        silk_registry_close(reg); /* a registry without a directory: pushes ask every gateway */
        return 0;
    }
    directory *d = calloc(1, sizeof *d);
    if (d == NULL) {
        silk_registry_close(reg);
        return -1;
    }
    d->gw = gw;
    d->reg = reg;
    d->resync = st != SILK_OK;
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->wake, NULL);
    if (silk__thread_start(&d->thread, writer_main, d) != 0) {
        pthread_cond_destroy(&d->wake);
        pthread_mutex_destroy(&d->mu);
        free(d);
        silk_registry_close(reg);
        return -1;
    }
    silk__mutex_lock(&gw->lock);
    gw->directory = d;
    silk__mutex_unlock(&gw->lock);
    silk_log(SILK_LOG_INFO, LOG, "session directory on id=%s", gw->opts.id);
    return 0;
}

void silk__gw_directory_stop(silk__gw *gw)
{
    silk__mutex_lock(&gw->lock);
    directory *d = gw->directory;
    gw->directory = NULL;
    silk__mutex_unlock(&gw->lock);
    if (d == NULL)
        return;
    pthread_mutex_lock(&d->mu);
    d->stop = true;
    pthread_cond_signal(&d->wake);
    pthread_mutex_unlock(&d->mu);
    pthread_join(d->thread, NULL);
    silk__directory_sync(d->reg, gw->opts.id, NULL, 0, 0); /* entries and mark gone */
    pthread_mutex_lock(&d->mu);
    drop_queue(d);
    pthread_mutex_unlock(&d->mu);
    pthread_cond_destroy(&d->wake);
    pthread_mutex_destroy(&d->mu);
    silk_registry_close(d->reg);
    free(d);
}
