/* thread.h - starting silk's own threads (workers, heartbeat, reaper). */
#ifndef SILK_SRC_THREAD_H
#define SILK_SRC_THREAD_H

#include <pthread.h>

/* silk__thread_start starts fn(arg) on a new thread with every signal blocked, so that
 * signals reach the application's threads, never silk's. It returns 0 or an errno. */
int silk__thread_start(pthread_t *thr, void *(*fn)(void *), void *arg);

#endif /* SILK_SRC_THREAD_H */
