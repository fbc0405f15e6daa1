/* pool.c - a fixed set of worker threads taking jobs from one queue.
 *
 * A job costs one wake-up at most: the pusher signals only when a worker is idle, after
 * releasing the mutex, and a worker that finishes a job takes the next without sleeping.
 * Workers do not spin before they sleep: on a machine with few cores the spin takes the CPU
 * from the thread that would produce the next job. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "core/pool.h"
#include "core/thread.h"

struct silk__pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    silk__job *head;
    silk__job *tail;
    bool stopping;      /* no new jobs */
    bool joined;        /* the workers are gone, or being joined */
    unsigned idle;      /* workers waiting for a job */
    atomic_uint queued; /* jobs pushed, not yet taken: read without the mutex */
    unsigned nthreads;
    pthread_t threads[];
};

static void *worker(void *arg)
{
    silk__pool *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->head == NULL && !p->stopping) {
            p->idle++;
            pthread_cond_wait(&p->cv, &p->mu);
            p->idle--;
        }
        silk__job *job = p->head;
        if (job == NULL)
            break; /* stopping, and nothing is left to run */
        p->head = job->next;
        if (p->head == NULL)
            p->tail = NULL;
        atomic_fetch_sub_explicit(&p->queued, 1, memory_order_relaxed);
        pthread_mutex_unlock(&p->mu);
        job->run(job);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

void silk__pool_stop(silk__pool *p)
{
    pthread_mutex_lock(&p->mu);
    bool joined = p->joined;
    p->stopping = true;
    p->joined = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; !joined && i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
}

silk_status silk__pool_new(silk__pool **pp, unsigned nthreads)
{
    if (nthreads == 0)
        nthreads = 1;
    silk__pool *p = calloc(1, sizeof *p + nthreads * sizeof p->threads[0]);
    if (p == NULL)
        return SILK_RESOURCE_EXHAUSTED;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    for (; p->nthreads < nthreads; p->nthreads++) {
        if (silk__thread_start(&p->threads[p->nthreads], worker, p) != 0) {
            silk__pool_free(p);
            return SILK_RESOURCE_EXHAUSTED;
        }
    }
    *pp = p;
    return SILK_OK;
}

bool silk__pool_push(silk__pool *p, silk__job *job)
{
    job->next = NULL;
    pthread_mutex_lock(&p->mu);
    bool ok = !p->stopping;
    if (ok) {
        if (p->tail != NULL)
            p->tail->next = job;
        else
            p->head = job;
        p->tail = job;
        atomic_fetch_add_explicit(&p->queued, 1, memory_order_relaxed);
    }
    bool wake = ok && p->idle > 0;
    pthread_mutex_unlock(&p->mu);
    /* After the unlock: a worker woken while the mutex is held wakes only to wait for it,
     * a second sleep per job. Without an idle worker there is nobody to wake: one that is
     * running takes the job when it is done, without sleeping. */
    if (wake)
        pthread_cond_signal(&p->cv);
    return ok;
}

bool silk__pool_backlog(silk__pool *p)
{
    return atomic_load_explicit(&p->queued, memory_order_relaxed) > 0;
}

void silk__pool_free(silk__pool *p)
{
    if (p == NULL)
        return;
    silk__pool_stop(p);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
