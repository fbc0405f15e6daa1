/* push.c - pushes and closes for sessions, from any thread: a push is split by the loops that
 * own its sessions, and each loop is handed its share as one command. */
#include <assert.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn/client.h"
#include "loop/gateway.h"
#include "core/mutex.h"
#include "loop/loop.h"
#include "sessions/push.h"
#include "streams/streams.h"
#include "ws/frames.h"

/* A message for one or more sessions, shared by the sends that carry it. */
typedef struct payload {
    atomic_int refs;
    int binary;
    silk__gw *gw;                           /* a spare's: it goes back to gw's spares */
    char epoch[SILK__STREAM_EPOCH_MAX + 1]; /* a push of a stream: its place; "" and 0: none */
    uint64_t offset;
    size_t len;
    char data[];
} payload;

/* A send of a batch: a session's id and its message, as offsets into the batch's bytes (data
 * SHARED: the batch's shared payload). */
typedef struct entry {
    size_t id;
    size_t data;
    size_t len;
    bool binary;
} entry;
#define SHARED SIZE_MAX

/* What a loop's sends hold in themselves, before they allocate: a push to one session of
 * a short id and message takes one allocation. */
#define INLINE_ENTRIES 4
#define INLINE_BYTES   256

/* A loop's sends of one push: resolved and written together on the loop (run_sends). */
typedef struct sends {
    silk_loop_task task; /* first: run_sends casts the task back */
    silk__gw_loop *loop;
    payload *shared; /* the message of entries whose data is SHARED; held */
    entry *entries;  /* inline_entries, or allocated once they are too few */
    size_t n, cap;
    char *bytes; /* the ids, NUL-terminated, and the messages of entries not SHARED */
    size_t used, size;
    entry inline_entries[INLINE_ENTRIES];
    char inline_bytes[INLINE_BYTES];
} sends;
static_assert(offsetof(sends, task) == 0, "run_sends casts its task to the sends");

/* A close: close a session of loop with code and reason. */
typedef struct close_cmd {
    silk_loop_task task; /* first: run_close casts the task back */
    silk__gw_loop *loop;
    char session_id[SILK__GW_SESSION_ID_MAX + 1];
    uint16_t code;
    char reason[124];
} close_cmd;
static_assert(offsetof(close_cmd, task) == 0, "run_close casts its task to the close");

/* How many sends run_sends resolves under one hold of the gateway's lock, and writes out
 * before it resolves more: the first sessions get their bytes while the rest are looked up. */
#define SEND_CHUNK 256

/* What finished pushes leave for the next ones: at most SPARES sends and payloads of up to
 * SPARE_PAYLOAD bytes; a sends keeps its grown arrays while they hold SPARE_BYTES or less. */
#define SPARES        16
#define SPARE_PAYLOAD 1024
#define SPARE_BYTES   (64 * 1024)

static payload *payload_new(silk__gw *gw, int binary, const void *data, size_t len)
{
    payload *p;
    if (len <= SPARE_PAYLOAD) {
        silk__mutex_lock(&gw->spare_lock);
        p = silk__spares_take(&gw->spare_payloads, sizeof *p + SPARE_PAYLOAD);
        silk__mutex_unlock(&gw->spare_lock);
    } else {
        p = malloc(sizeof *p + len);
    }
    if (p == NULL)
        return NULL;
    atomic_init(&p->refs, 1);
    p->gw = len <= SPARE_PAYLOAD ? gw : NULL;
    p->binary = binary;
    p->epoch[0] = '\0';
    p->offset = 0;
    p->len = len;
    if (len > 0)
        memcpy(p->data, data, len);
    return p;
}

static void payload_unref(payload *p)
{
    if (p == NULL || atomic_fetch_sub(&p->refs, 1) != 1)
        return;
    if (p->gw == NULL) {
        free(p);
        return;
    }
    silk__gw *gw = p->gw;
    silk__mutex_lock(&gw->spare_lock);
    silk__spares_give(&gw->spare_payloads, p, SPARES);
    silk__mutex_unlock(&gw->spare_lock);
}

/* owner returns the loop of a session of gw; the caller holds gw->lock. */
static silk__gw_loop *owner(silk__gw *gw, silk__gw_session *s)
{
    SILK__ASSERT_HELD(&gw->lock);
    return silk__gw_client_loop(s->data);
}

/* owner_of returns the loop of the session named session_id, or NULL when there is none. */
static silk__gw_loop *owner_of(silk__gw *gw, const char *session_id)
{
    silk__mutex_lock(&gw->lock);
    silk__gw_session *s = silk__gw_sessions_find(&gw->sessions, session_id);
    silk__gw_loop *l = s ? owner(gw, s) : NULL;
    silk__mutex_unlock(&gw->lock);
    return l;
}

/* find_client_locked returns l's connection of a session, or NULL; on l's thread, holding
 * the gateway's lock. */
static silk__gw_client *find_client_locked(silk__gw_loop *l, const char *session_id)
{
    SILK__GW_ASSERT_ON_LOOP(l);
    SILK__ASSERT_HELD(&l->gw->lock);
    silk__gw_session *s = silk__gw_sessions_find(&l->gw->sessions, session_id);
    silk__gw_client *c = s ? s->data : NULL;
    return c != NULL && silk__gw_client_loop(c) == l ? c : NULL;
}

/* ============================================================================
 * A loop's sends, built from any thread
 * ========================================================================== */

/* sends_new returns an empty sends for l: a spare, with the arrays it grew, or a new one. */
static sends *sends_new(silk__gw_loop *l)
{
    silk__gw *gw = l->gw;
    silk__mutex_lock(&gw->spare_lock);
    bool spare = gw->spare_sends.head != NULL;
    sends *k = silk__spares_take(&gw->spare_sends, sizeof *k);
    silk__mutex_unlock(&gw->spare_lock);
    if (k == NULL)
        return NULL;
    if (!spare) {
        k->entries = k->inline_entries;
        k->cap = INLINE_ENTRIES;
        k->bytes = k->inline_bytes;
        k->size = INLINE_BYTES;
    }
    k->loop = l;
    k->shared = NULL;
    k->n = 0;
    k->used = 0;
    return k;
}

/* sends_shrink frees k's arrays that grew beyond what a spare keeps (all of them: all). */
static void sends_shrink(sends *k, bool all)
{
    if (k->entries != k->inline_entries && (all || k->cap * sizeof *k->entries > SPARE_BYTES)) {
        free(k->entries);
        k->entries = k->inline_entries;
        k->cap = INLINE_ENTRIES;
    }
    if (k->bytes != k->inline_bytes && (all || k->size > SPARE_BYTES)) {
        free(k->bytes);
        k->bytes = k->inline_bytes;
        k->size = INLINE_BYTES;
    }
}

/* sends_free keeps k among the gateway's spares, or frees it. */
static void sends_free(sends *k)
{
    silk__gw *gw = k->loop->gw;
    payload_unref(k->shared);
    sends_shrink(k, false); /* a spare keeps small arrays only */
    silk__mutex_lock(&gw->spare_lock);
    bool keep = gw->spare_sends.n < SPARES;
    if (keep)
        silk__spares_give(&gw->spare_sends, k, SPARES);
    silk__mutex_unlock(&gw->spare_lock);
    if (!keep) {
        sends_shrink(k, true);
        free(k);
    }
}

void silk__gw_push_spares_fini(silk__gw *gw)
{
    while (gw->spare_sends.head != NULL) {
        sends *k = silk__spares_take(&gw->spare_sends, sizeof *k);
        sends_shrink(k, true);
        free(k);
    }
    silk__spares_fini(&gw->spare_payloads);
}

/* The first allocation of a sends' bytes or entries past its inline part: a push to many
 * sessions then grows a few times at most. */
#define FIRST_GROWTH 4096

/* grow makes *p, which holds used bytes in size and is inline (in k) or allocated, hold at
 * least need bytes, doubling: 0, or -1 when memory is exhausted. */
static int grow(void **p, const void *inline_part, size_t used, size_t *size, size_t need)
{
    size_t bigger = *p == inline_part && *size < FIRST_GROWTH ? FIRST_GROWTH : *size;
    while (bigger < need)
        bigger *= 2;
    void *grown = *p == inline_part ? malloc(bigger) : realloc(*p, bigger);
    if (grown == NULL)
        return -1;
    if (*p == inline_part)
        memcpy(grown, inline_part, used);
    *p = grown;
    *size = bigger;
    return 0;
}

/* reserve makes room for len more bytes in k: 0, or -1 when memory is exhausted. */
static int reserve(sends *k, size_t len)
{
    if (k->size - k->used >= len)
        return 0;
    void *bytes = k->bytes;
    if (grow(&bytes, k->inline_bytes, k->used, &k->size, k->used + len) != 0)
        return -1;
    k->bytes = bytes;
    return 0;
}

/* sends_add adds a send of len bytes of data (NULL: k's shared payload) to session_id: 0, or
 * -1 when memory is exhausted. */
static int sends_add(sends *k, const char *session_id, const void *data, size_t len, bool binary)
{
    size_t id_len = strlen(session_id) + 1;
    if (k->n == k->cap) {
        void *entries = k->entries;
        size_t size = k->cap * sizeof *k->entries;
        if (grow(&entries, k->inline_entries, size, &size, 2 * size) != 0)
            return -1;
        k->entries = entries;
        k->cap = size / sizeof *k->entries;
    }
    if (reserve(k, id_len + (data != NULL ? len : 0)) != 0)
        return -1;
    entry *e = &k->entries[k->n++];
    *e = (entry){.id = k->used, .data = SHARED, .len = len, .binary = binary};
    memcpy(k->bytes + k->used, session_id, id_len);
    k->used += id_len;
    if (data != NULL) {
        e->data = k->used;
        if (len > 0)
            memcpy(k->bytes + k->used, data, len);
        k->used += len;
    }
    return 0;
}

/* How many loops' sends a split keeps in itself; a gateway of more loops allocates them. */
#define SPLIT_INLINE_LOOPS 16

/* A push being split into its loops' sends, while the session table is locked: one sends per
 * loop that has sessions of it, by loop index, posted once the table is unlocked. */
typedef struct split {
    silk__gw *gw;
    payload *shared;  /* the message of every send (SendToBusiness); NULL: each its own */
    sends **per_loop; /* inline_loops, or allocated for more loops */
    size_t queued;
    bool nomem;
    sends *inline_loops[SPLIT_INLINE_LOOPS];
} split;

static int split_init(split *sp, silk__gw *gw, payload *shared)
{
    size_t n = gw->opts.workers;
    *sp = (split){.gw = gw, .shared = shared};
    sp->per_loop = n <= SPLIT_INLINE_LOOPS ? sp->inline_loops : calloc(n, sizeof(void *));
    return sp->per_loop != NULL ? 0 : -1;
}

/* split_add adds a send to session s (data NULL: the shared message); the caller holds the
 * gateway's lock. */
static void split_add(split *sp, silk__gw_session *s, const void *data, size_t len, bool binary)
{
    silk__gw_loop *l = owner(sp->gw, s);
    sends **k = &sp->per_loop[l->index];
    if (*k == NULL && (*k = sends_new(l)) != NULL) {
        if (sp->shared != NULL) {
            atomic_fetch_add(&sp->shared->refs, 1);
            (*k)->shared = sp->shared;
        }
    }
    if (*k == NULL || sends_add(*k, s->id, data, len, binary) != 0)
        sp->nomem = true;
    else
        sp->queued++;
}

/* split_post hands each loop its sends (those that could not all be made are posted too: a
 * push is best effort once memory runs out) and frees sp. */
static void run_sends(silk_loop_task *task);
static void split_post(split *sp)
{
    for (size_t i = 0; i < sp->gw->opts.workers; i++) {
        sends *k = sp->per_loop[i];
        if (k == NULL)
            continue;
        k->task.run = run_sends;
        silk__gw_loop_post(k->loop, &k->task);
    }
    if (sp->per_loop != sp->inline_loops)
        free(sp->per_loop);
}

/* ============================================================================
 * On the loop
 * ========================================================================== */

static void run_sends(silk_loop_task *task)
{
    sends *k = (sends *)task;
    silk__gw_loop *l = k->loop;
    silk__gw_client *c[SEND_CHUNK];
    for (size_t i = 0; i < k->n; i += SEND_CHUNK) {
        size_t m = k->n - i < SEND_CHUNK ? k->n - i : SEND_CHUNK;
        silk__mutex_lock(&l->gw->lock);
        for (size_t j = 0; j < m; j++)
            c[j] = find_client_locked(l, k->bytes + k->entries[i + j].id);
        silk__mutex_unlock(&l->gw->lock);
        for (size_t j = 0; j < m; j++) { /* silk__gw_client_send never frees a connection */
            const entry *e = &k->entries[i + j];
            if (c[j] == NULL)
                continue;
            const payload *p = k->shared;
            if (e->data == SHARED)
                silk__gw_stream_push(c[j], p->epoch, p->offset, p->binary, p->data, p->len);
            else
                silk__gw_stream_push(c[j], "", 0, e->binary, k->bytes + e->data, e->len);
        }
        silk__gw_client_flush(l);
    }
    sends_free(k);
}

silk__gw_client *silk__gw_loop_client(silk__gw_loop *l, const char *session_id)
{
    silk__mutex_lock(&l->gw->lock);
    silk__gw_client *c = find_client_locked(l, session_id);
    silk__mutex_unlock(&l->gw->lock);
    return c;
}

static void run_close(silk_loop_task *task)
{
    close_cmd *k = (close_cmd *)task;
    silk__gw_client *c = silk__gw_loop_client(k->loop, k->session_id);
    if (c != NULL)
        silk__gw_client_close_session(c, k->code, k->reason);
    free(k);
}

/* ============================================================================
 * From any thread
 * ========================================================================== */

silk_status silk__gw_send_many(silk__gw *gw, const silk__gw_message *msgs, size_t n,
                               silk__gw_fate *fate, size_t *delivered)
{
    *delivered = 0;
    split sp;
    if (split_init(&sp, gw, NULL) != 0)
        return SILK_RESOURCE_EXHAUSTED;
    silk__mutex_lock(&gw->lock);
    for (size_t i = 0; i < n; i++) {
        const silk__gw_message *m = &msgs[i];
        silk__gw_session *s = strlen(m->session_id) <= SILK__GW_SESSION_ID_MAX
                                  ? silk__gw_sessions_find(&gw->sessions, m->session_id)
                                  : NULL;
        fate[i] = s == NULL ? SILK__GW_NO_SESSION : s->closing ? SILK__GW_CLOSING : SILK__GW_QUEUED;
        if (fate[i] == SILK__GW_QUEUED && m->repeat)
            sp.queued++;
        else if (fate[i] == SILK__GW_QUEUED)
            split_add(&sp, s, m->data != NULL ? m->data : "", m->len, m->binary);
    }
    silk__mutex_unlock(&gw->lock);
    *delivered = sp.queued;
    bool nomem = sp.nomem;
    split_post(&sp);
    return nomem ? SILK_RESOURCE_EXHAUSTED : SILK_OK;
}

silk_status silk__gw_send(silk__gw *gw, const char *session_id, int binary, const void *data,
                          size_t len, silk__gw_fate *fate)
{
    silk__gw_message m = {.session_id = session_id, .data = data, .len = len, .binary = binary};
    silk__gw_fate f;
    size_t delivered;
    silk_status st = silk__gw_send_many(gw, &m, 1, &f, &delivered);
    if (fate != NULL)
        *fate = f;
    return st == SILK_OK && f != SILK__GW_QUEUED ? SILK_NOT_FOUND : st;
}

/* split_business adds a send of the shared message to a session of the business that is not
 * closing. */
static void split_business(silk__gw_session *s, void *arg)
{
    if (!s->closing)
        split_add(arg, s, NULL, 0, false);
}

silk_status silk__gw_send_business(silk__gw *gw, const char *route, const char *business_id,
                                   const silk__gw_stream_place *at, int binary, const void *data,
                                   size_t len, size_t *delivered)
{
    *delivered = 0;
    payload *p = payload_new(gw, binary, data, len);
    if (p != NULL && at != NULL) {
        snprintf(p->epoch, sizeof p->epoch, "%s", at->epoch);
        p->offset = at->offset;
    }
    split sp;
    if (p == NULL || split_init(&sp, gw, p) != 0) {
        payload_unref(p);
        return SILK_RESOURCE_EXHAUSTED;
    }
    silk__mutex_lock(&gw->lock);
    silk__gw_sessions_business(&gw->sessions, route, business_id, split_business, &sp);
    silk__mutex_unlock(&gw->lock);
    *delivered = sp.queued;
    bool nomem = sp.nomem;
    split_post(&sp);
    payload_unref(p);
    return nomem ? SILK_RESOURCE_EXHAUSTED : SILK_OK;
}

silk_status silk__gw_close_session(silk__gw *gw, const char *session_id, uint16_t code,
                                   const char *reason)
{
    if (!silk__gw_ws_close_code_sendable(code))
        return SILK_INVALID_ARGUMENT;
    if (strlen(session_id) > SILK__GW_SESSION_ID_MAX)
        return SILK_NOT_FOUND;
    close_cmd *k = calloc(1, sizeof *k);
    if (k == NULL)
        return SILK_RESOURCE_EXHAUSTED;
    k->task.run = run_close;
    snprintf(k->session_id, sizeof k->session_id, "%s", session_id);
    k->code = code;
    snprintf(k->reason, sizeof k->reason, "%s", reason ? reason : "");
    if ((k->loop = owner_of(gw, session_id)) == NULL) {
        free(k);
        return SILK_NOT_FOUND;
    }
    silk__gw_loop_post(k->loop, &k->task);
    return SILK_OK;
}
