/* thread.h - silk's threads: starting its own (workers, heartbeat, reaper), and telling any
 * thread apart from the others. */
#ifndef SILK_SRC_THREAD_H
#define SILK_SRC_THREAD_H

#include <pthread.h>
#include <stdint.h>

/* silk__thread_start starts fn(arg) on a new thread with every signal blocked, so that
 * signals reach the application's threads, never silk's. It returns 0 or an errno. */
int silk__thread_start(pthread_t *thr, void *(*fn)(void *), void *arg);

/* silk__thread_id returns a number that identifies the calling thread among the live ones,
 * never 0, cheaply (the address of a thread-local variable): for checks of which thread runs
 * what, and of who holds a lock (core/mutex.h). */
uintptr_t silk__thread_id(void);

#endif /* SILK_SRC_THREAD_H */
