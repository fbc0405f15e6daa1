/* loop.c - what a loop's parts may ask of it: its queue of work from other threads, which
 * thread is its own, and its end. */
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include <ev.h>

#include "loop/loop.h"

/* The loop the calling thread works on (silk__gw_loop_enter), or NULL. */
static _Thread_local const silk__gw_loop *current;

void silk__gw_loop_enter(silk__gw_loop *l)
{
    current = l;
}

bool silk__gw_loop_is_current(const silk__gw_loop *l)
{
    return current == l;
}

void silk__gw_loop_post_list(silk__gw_loop *l, silk_loop_task *head, silk_loop_task *tail)
{
    tail->next = NULL;
    pthread_mutex_lock(&l->queue_lock);
    if (l->queue_tail != NULL)
        l->queue_tail->next = head;
    else
        l->queue_head = head;
    l->queue_tail = tail;
    pthread_mutex_unlock(&l->queue_lock);
    ev_async_send(l->ev, &l->queue_w);
}

void silk__gw_loop_post(silk__gw_loop *l, silk_loop_task *task)
{
    silk__gw_loop_post_list(l, task, task);
}

void silk__gw_loop_run_queue(silk__gw_loop *l)
{
    SILK__GW_ASSERT_ON_LOOP(l);
    pthread_mutex_lock(&l->queue_lock);
    silk_loop_task *t = l->queue_head;
    l->queue_head = l->queue_tail = NULL;
    pthread_mutex_unlock(&l->queue_lock);
    while (t != NULL) {
        silk_loop_task *next = t->next;
        t->run(t); /* may free t */
        t = next;
    }
}

void silk__gw_loop_maybe_stop(silk__gw_loop *l)
{
    SILK__GW_ASSERT_ON_LOOP(l);
    if (l->stopping && l->n_clients == 0 && l->hook_calls == 0)
        ev_break(l->ev, EVBREAK_ALL);
}
