/* reap.h - deferred teardown on a thread of silk's own, never on one of nng's.
 *
 * Freeing an object that owns nng aios means stopping them, which waits for their callbacks:
 * done inside one of nng's callbacks, that can deadlock. Whoever drops the last reference
 * to such an object, wherever it runs, hands it to the reaper, as nng does internally. */
#ifndef SILK_SRC_REAP_H
#define SILK_SRC_REAP_H

#include <stdbool.h>

/* silk__reap_node is embedded in the object to be reaped, so reaping cannot fail. */
typedef struct silk__reap_node {
    struct silk__reap_node *next;
    void (*fn)(void *arg);
    void *arg;
} silk__reap_node;

/* silk__reap queues fn(arg) to run on the reaper thread, in order, and returns at once. The
 * node must stay valid until fn runs; fn may block, and may free the node. */
void silk__reap(silk__reap_node *node, void (*fn)(void *arg), void *arg);

/* silk__reap_on_reaper tells whether the caller runs on the reaper thread: for the checks of
 * functions that must (the owners' fini hooks). */
bool silk__reap_on_reaper(void);

/* silk__reap_fini runs what is queued and joins the reaper thread; the next silk__reap
 * starts it again. Nothing runs it at exit - the thread simply ends with the process, so that
 * channels may still be closed in exit handlers. Tests call it for a valgrind-clean exit. */
void silk__reap_fini(void);

#endif /* SILK_SRC_REAP_H */
