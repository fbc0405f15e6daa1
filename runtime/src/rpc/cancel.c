/* cancel.c - a handler's call's cancellation, carried on to the calls started with its ctx. */
#include <stdlib.h>

#include "rpc/cancel.h"

struct silk__cancel_child {
    silk__cancel_child *prev;
    silk__cancel_child *next;
    bool listed; /* under cx->mu: on cx->children */
    silk__cancel *cx;
    silk_channel *ch;
    silk_call_id id;
    silk_call_cb cb; /* the caller's */
    void *arg;
};

/* The silk__cancel this thread is firing, whose mutex it holds: a child of it completing
 * here, inside silk_channel_cancel, must not take that mutex again. */
static _Thread_local silk__cancel *firing;

void silk__cancel_init(silk__cancel *cx, void (*release)(silk__cancel *cx))
{
    atomic_init(&cx->cancelled, false);
    atomic_init(&cx->refs, 1);
    silk__mutex_init(&cx->mu);
    cx->children = NULL;
    cx->release = release;
}

void silk__cancel_hold(silk__cancel *cx)
{
    atomic_fetch_add_explicit(&cx->refs, 1, memory_order_relaxed);
}

void silk__cancel_rele(silk__cancel *cx)
{
    if (atomic_fetch_sub_explicit(&cx->refs, 1, memory_order_acq_rel) != 1)
        return;
    silk__mutex_destroy(&cx->mu);
    cx->release(cx);
}

/* unlink_locked takes child off its list; cx->mu is held. */
static void unlink_locked(silk__cancel_child *child)
{
    silk__cancel *cx = child->cx;
    SILK__ASSERT_HELD(&cx->mu);
    if (child->prev != NULL)
        child->prev->next = child->next;
    else
        cx->children = child->next;
    if (child->next != NULL)
        child->next->prev = child->prev;
    child->listed = false;
}

static void lock(silk__cancel *cx)
{
    if (firing != cx)
        silk__mutex_lock(&cx->mu);
}

static void unlock(silk__cancel *cx)
{
    if (firing != cx)
        silk__mutex_unlock(&cx->mu);
}

void silk__cancel_fire(silk__cancel *cx)
{
    atomic_store(&cx->cancelled, true);
    lock(cx);
    silk__cancel *outer = firing;
    firing = cx;
    /* A child on the list has not completed: its channel is alive (silk_channel_close waits
     * for the callbacks of its calls, and a child's callback waits for this mutex to leave
     * the list), and the child is not freed before it leaves. */
    for (silk__cancel_child *child; (child = cx->children) != NULL;) {
        unlink_locked(child);
        silk_channel_cancel(child->ch, child->id); /* its callback may run here */
    }
    firing = outer;
    unlock(cx);
}

static void child_cb(silk_status st, ProtobufCMessage *resp, const char *message, void *arg)
{
    silk__cancel_child *child = arg;
    silk__cancel *cx = child->cx;
    lock(cx);
    if (child->listed)
        unlink_locked(child);
    unlock(cx);
    silk_call_cb cb = child->cb;
    void *cb_arg = child->arg;
    free(child);
    cb(st, resp, message, cb_arg);
    silk__cancel_rele(cx);
}

silk_status silk__cancel_add_child(silk__cancel *cx, silk_channel *ch, silk_call_id id,
                                   silk_call_cb *cb, void **arg, silk__cancel_child **childp)
{
    silk__cancel_child *child = malloc(sizeof *child);
    if (child == NULL)
        return SILK_RESOURCE_EXHAUSTED;
    *child =
        (silk__cancel_child){.listed = true, .cx = cx, .ch = ch, .id = id, .cb = *cb, .arg = *arg};
    lock(cx);
    bool cancelled = atomic_load(&cx->cancelled);
    if (!cancelled) {
        child->next = cx->children;
        if (child->next != NULL)
            child->next->prev = child;
        cx->children = child;
        silk__cancel_hold(cx);
    }
    unlock(cx);
    if (cancelled) {
        free(child);
        return SILK_CANCELLED;
    }
    *cb = child_cb;
    *arg = child;
    *childp = child;
    return SILK_OK;
}

void silk__cancel_remove_child(silk__cancel_child *child)
{
    silk__cancel *cx = child->cx;
    lock(cx);
    if (child->listed)
        unlink_locked(child);
    unlock(cx);
    free(child);
    silk__cancel_rele(cx);
}
