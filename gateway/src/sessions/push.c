/* push.c - pushes and closes for sessions, from any thread: each a command posted to the loop
 * that owns the session, one list per loop for the sessions of a business. */
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
#include "ws/frames.h"

/* A message for one or more sessions, shared by the sends that carry it. */
typedef struct payload {
    atomic_int refs;
    int binary;
    size_t len;
    char data[];
} payload;

/* A send: queue payload on a session of loop. */
typedef struct send_cmd {
    silk_loop_task task; /* first: run_send casts the task back */
    silk__gw_loop *loop;
    char session_id[SILK__GW_SESSION_ID_MAX + 1];
    payload *payload;
} send_cmd;
static_assert(offsetof(send_cmd, task) == 0, "run_send casts its task to the send");

/* A close: close a session of loop with code and reason. */
typedef struct close_cmd {
    silk_loop_task task; /* first: run_close casts the task back */
    silk__gw_loop *loop;
    char session_id[SILK__GW_SESSION_ID_MAX + 1];
    uint16_t code;
    char reason[124];
} close_cmd;
static_assert(offsetof(close_cmd, task) == 0, "run_close casts its task to the close");

static payload *payload_new(int binary, const void *data, size_t len)
{
    payload *p = malloc(sizeof *p + len);
    if (p == NULL)
        return NULL;
    atomic_init(&p->refs, 1);
    p->binary = binary;
    p->len = len;
    if (len > 0)
        memcpy(p->data, data, len);
    return p;
}

static void payload_unref(payload *p)
{
    if (p != NULL && atomic_fetch_sub(&p->refs, 1) == 1)
        free(p);
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

/* find_client returns l's connection of a session, or NULL; on l's thread. */
static silk__gw_client *find_client(silk__gw_loop *l, const char *session_id)
{
    SILK__GW_ASSERT_ON_LOOP(l);
    silk__gw *gw = l->gw;
    silk__mutex_lock(&gw->lock);
    silk__gw_session *s = silk__gw_sessions_find(&gw->sessions, session_id);
    silk__gw_client *c = s ? s->data : NULL;
    silk__mutex_unlock(&gw->lock);
    return c != NULL && silk__gw_client_loop(c) == l ? c : NULL;
}

/* ============================================================================
 * On the loop
 * ========================================================================== */

static void run_send(silk_loop_task *task)
{
    send_cmd *k = (send_cmd *)task;
    silk__gw_client *c = find_client(k->loop, k->session_id);
    if (c != NULL)
        silk__gw_client_send(c, k->payload->binary, k->payload->data, k->payload->len);
    payload_unref(k->payload);
    free(k);
}

static void run_close(silk_loop_task *task)
{
    close_cmd *k = (close_cmd *)task;
    silk__gw_client *c = find_client(k->loop, k->session_id);
    if (c != NULL)
        silk__gw_client_close_session(c, k->code, k->reason);
    free(k);
}

/* ============================================================================
 * From any thread
 * ========================================================================== */

/* send_new makes the send of p (one more reference) to a session of l (NULL: not known yet);
 * NULL when memory is exhausted. */
static send_cmd *send_new(silk__gw_loop *l, const char *session_id, payload *p)
{
    send_cmd *k = calloc(1, sizeof *k);
    if (k == NULL)
        return NULL;
    k->task.run = run_send;
    k->loop = l;
    snprintf(k->session_id, sizeof k->session_id, "%s", session_id);
    atomic_fetch_add(&p->refs, 1);
    k->payload = p;
    return k;
}

silk_status silk__gw_send(silk__gw *gw, const char *session_id, int binary, const void *data,
                          size_t len)
{
    if (strlen(session_id) > SILK__GW_SESSION_ID_MAX)
        return SILK_NOT_FOUND;
    payload *p = payload_new(binary, data, len);
    send_cmd *k = p != NULL ? send_new(NULL, session_id, p) : NULL;
    payload_unref(p); /* k holds it */
    if (k == NULL)
        return SILK_RESOURCE_EXHAUSTED;
    if ((k->loop = owner_of(gw, session_id)) == NULL) {
        payload_unref(k->payload);
        free(k);
        return SILK_NOT_FOUND;
    }
    silk__gw_loop_post(k->loop, &k->task);
    return SILK_OK;
}

/* send_visit gathers a business's sends per loop while the session table is locked; they are
 * handed over after it is unlocked, one list per loop. */
typedef struct send_visit {
    silk__gw *gw;
    payload *p;
    send_cmd **head, **tail; /* per loop, by index */
    size_t queued;
    bool nomem;
} send_visit;

static void send_one(silk__gw_session *s, void *arg)
{
    send_visit *v = arg;
    silk__gw_loop *l = owner(v->gw, s);
    send_cmd *k = send_new(l, s->id, v->p);
    if (k == NULL) {
        v->nomem = true;
        return;
    }
    size_t i = l->index;
    if (v->tail[i] != NULL)
        v->tail[i]->task.next = &k->task;
    else
        v->head[i] = k;
    v->tail[i] = k;
    v->queued++;
}

silk_status silk__gw_send_business(silk__gw *gw, const char *route, const char *business_id,
                                   int binary, const void *data, size_t len, size_t *delivered)
{
    size_t n = gw->opts.workers;
    send_visit v = {.gw = gw,
                    .p = payload_new(binary, data, len),
                    .head = calloc(n, sizeof *v.head),
                    .tail = calloc(n, sizeof *v.tail)};
    *delivered = 0;
    silk_status st = SILK_RESOURCE_EXHAUSTED;
    if (v.p != NULL && v.head != NULL && v.tail != NULL) {
        silk__mutex_lock(&gw->lock);
        silk__gw_sessions_business(&gw->sessions, route, business_id, send_one, &v);
        silk__mutex_unlock(&gw->lock);
        for (size_t i = 0; i < n; i++)
            if (v.head[i] != NULL)
                silk__gw_loop_post_list(gw->loops[i], &v.head[i]->task, &v.tail[i]->task);
        *delivered = v.queued;
        st = v.nomem ? SILK_RESOURCE_EXHAUSTED : SILK_OK;
    }
    payload_unref(v.p);
    free(v.head);
    free(v.tail);
    return st;
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
