/* reap.c - the reaper: one thread, started on first use, that runs deferred teardowns. */
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include <silk/log.h>

#include "core/reap.h"
#include "core/thread.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static silk__reap_node *head;
static silk__reap_node *tail;
static bool started;
static bool stopping; /* silk__reap_fini is stopping the thread */
static pthread_t thread;
static _Thread_local bool on_reaper; /* this thread is the reaper */

static void *reaper(void *unused)
{
    (void)unused;
    on_reaper = true;
    pthread_mutex_lock(&mu);
    for (;;) {
        while (head == NULL && !stopping)
            pthread_cond_wait(&cv, &mu);
        silk__reap_node *n = head;
        if (n == NULL)
            break;
        head = n->next;
        if (head == NULL)
            tail = NULL;
        pthread_mutex_unlock(&mu);
        n->fn(n->arg);
        pthread_mutex_lock(&mu);
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

bool silk__reap_on_reaper(void)
{
    return on_reaper;
}

void silk__reap_fini(void)
{
    pthread_mutex_lock(&mu);
    bool was_started = started;
    stopping = true;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
    if (was_started)
        pthread_join(thread, NULL);
    pthread_mutex_lock(&mu);
    stopping = false;
    started = false;
    pthread_mutex_unlock(&mu);
}

void silk__reap(silk__reap_node *node, void (*fn)(void *arg), void *arg)
{
    node->next = NULL;
    node->fn = fn;
    node->arg = arg;
    pthread_mutex_lock(&mu);
    if (tail != NULL)
        tail->next = node;
    else
        head = node;
    tail = node;
    if (!started) {
        int rv = silk__thread_start(&thread, reaper, NULL);
        if (rv == 0) {
            started = true;
        } else {
            /* The node stays queued: the next call to silk__reap tries again. */
            silk_log(SILK_LOG_ERROR, "runtime", "cannot start the reaper thread errno=%d", rv);
        }
    }
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
}
