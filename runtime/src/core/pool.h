/* pool.h - the worker threads that run handlers, off nng's threads, so handlers may block. */
#ifndef SILK_SRC_POOL_H
#define SILK_SRC_POOL_H

#include <stdbool.h>

#include <silk/status.h>

/* silk__job is embedded in whatever a worker is to process. */
typedef struct silk__job {
    struct silk__job *next;
    void (*run)(struct silk__job *job);
} silk__job;

typedef struct silk__pool silk__pool;

/* silk__pool_new starts nthreads workers (at least 1). SILK_RESOURCE_EXHAUSTED when memory
 * or threads are exhausted. */
silk_status silk__pool_new(silk__pool **pp, unsigned nthreads);

/* silk__pool_push queues job->run(job) for a worker, first in first out, and returns true;
 * once the pool is stopping it returns false and the job is the caller's again. It never
 * blocks: the caller bounds how many jobs it has queued (the server's max_concurrent). */
bool silk__pool_push(silk__pool *p, silk__job *job);

/* silk__pool_backlog tells whether jobs wait for a worker: a hint, read without a lock. */
bool silk__pool_backlog(silk__pool *p);

/* silk__pool_stop refuses new jobs, lets the workers run every job queued, and joins them.
 * It must not be called from a job. */
void silk__pool_stop(silk__pool *p);

/* silk__pool_free stops the pool if needed and frees it. NULL is ignored. */
void silk__pool_free(silk__pool *p);

#endif /* SILK_SRC_POOL_H */
