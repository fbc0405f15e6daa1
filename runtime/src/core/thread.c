/* thread.c - starting silk's own threads with every signal blocked; thread ids for checks. */
#include <signal.h>

#include "core/thread.h"

int silk__thread_start(pthread_t *thr, void *(*fn)(void *), void *arg)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rv = pthread_create(thr, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rv;
}

uintptr_t silk__thread_id(void)
{
    static _Thread_local char tag;
    return (uintptr_t)&tag;
}
