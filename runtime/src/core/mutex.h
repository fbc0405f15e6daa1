/* mutex.h - a mutex that knows, in debug builds, which thread holds it, so that a function that
 * must run with it held can check so (SILK__ASSERT_HELD): nng's "_locked" contract, checked.
 *
 * Lock, unlock and the condition waits are pthread's, plus - with SILK_DEBUG_ASSERTS only - a
 * relaxed store of the holder; a Release build pays nothing but one unused word. */
#ifndef SILK_SRC_CORE_MUTEX_H
#define SILK_SRC_CORE_MUTEX_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "core/assert.h"
#include "core/thread.h"

/* silk__mutex is a pthread mutex and, in debug builds, the thread that holds it. */
typedef struct silk__mutex {
    pthread_mutex_t mu;
    atomic_uintptr_t holder; /* silk__thread_id() of the holder, 0 when free (debug builds) */
} silk__mutex;

/* silk__mutex_took and silk__mutex_leaving record, in debug builds, that this thread has just
 * taken m and is about to give it up; for the functions below. */
static inline void silk__mutex_took(silk__mutex *m)
{
#ifdef SILK_DEBUG_ASSERTS
    atomic_store_explicit(&m->holder, silk__thread_id(), memory_order_relaxed);
#else
    (void)m;
#endif
}

static inline void silk__mutex_leaving(silk__mutex *m)
{
#ifdef SILK_DEBUG_ASSERTS
    atomic_store_explicit(&m->holder, 0, memory_order_relaxed);
#else
    (void)m;
#endif
}

/* silk__mutex_init makes m, free; silk__mutex_destroy undoes it (m is free). */
static inline void silk__mutex_init(silk__mutex *m)
{
    pthread_mutex_init(&m->mu, NULL);
    atomic_init(&m->holder, 0);
}

static inline void silk__mutex_destroy(silk__mutex *m)
{
    pthread_mutex_destroy(&m->mu);
}

/* silk__mutex_lock and silk__mutex_unlock take and give up m, as pthread's do. */
static inline void silk__mutex_lock(silk__mutex *m)
{
    pthread_mutex_lock(&m->mu);
    silk__mutex_took(m);
}

static inline void silk__mutex_unlock(silk__mutex *m)
{
    silk__mutex_leaving(m);
    pthread_mutex_unlock(&m->mu);
}

/* silk__cond_wait and silk__cond_timedwait are pthread_cond_wait and pthread_cond_timedwait on
 * m, which the caller holds, and return what they return. */
static inline int silk__cond_wait(pthread_cond_t *cv, silk__mutex *m)
{
    silk__mutex_leaving(m);
    int rc = pthread_cond_wait(cv, &m->mu);
    silk__mutex_took(m);
    return rc;
}

static inline int silk__cond_timedwait(pthread_cond_t *cv, silk__mutex *m,
                                       const struct timespec *at)
{
    silk__mutex_leaving(m);
    int rc = pthread_cond_timedwait(cv, &m->mu, at);
    silk__mutex_took(m);
    return rc;
}

/* silk__mutex_held tells whether this thread holds m, in debug builds; elsewhere it is never
 * called (SILK__ASSERT_HELD does not evaluate it). */
static inline bool silk__mutex_held(const silk__mutex *m)
{
    return atomic_load_explicit(&m->holder, memory_order_relaxed) == silk__thread_id();
}

/* SILK__ASSERT_HELD(m) checks, in debug builds, that the calling thread holds m. */
#define SILK__ASSERT_HELD(m) SILK__ASSERT(silk__mutex_held(m))

#endif /* SILK_SRC_CORE_MUTEX_H */
