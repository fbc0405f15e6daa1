/* cancel.h - the cancellation of a handler's call, and the calls the handler started with its
 * ctx, which go down with it.
 *
 * The server gives each call it runs a silk__cancel, which the handler's ctx points to. A call
 * started with that ctx (silk_channel_call, silk_channel_call_async) registers as
 * a child; when the handler's call is cancelled (a cancel frame, its connection closed) the server
 * fires it and every child still in flight is cancelled with silk_channel_cancel. A child leaves
 * the list when it completes. */
#ifndef SILK_SRC_CANCEL_H
#define SILK_SRC_CANCEL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <silk/channel.h>

#include "core/mutex.h"

typedef struct silk__cancel_child silk__cancel_child;

/* silk__cancel is reference counted: its owner's reference, and one per child in flight. */
typedef struct silk__cancel {
    atomic_bool cancelled;
    atomic_uint refs;
    silk__mutex mu;
    silk__cancel_child *children;             /* under mu: in flight, not yet cancelled */
    void (*release)(struct silk__cancel *cx); /* runs when the last reference goes */
} silk__cancel;

/* silk__cancel_init initialises cx, not cancelled, with one reference (the caller's). */
void silk__cancel_init(silk__cancel *cx, void (*release)(silk__cancel *cx));

/* silk__cancel_hold takes a reference; silk__cancel_rele drops one, the last calls release. */
void silk__cancel_hold(silk__cancel *cx);
void silk__cancel_rele(silk__cancel *cx);

/* silk__cancel_fire marks cx cancelled and cancels every child in flight (their callbacks
 * may run on this thread, before it returns). The caller holds a reference and no lock a
 * call's completion could take. */
void silk__cancel_fire(silk__cancel *cx);

/* silk__cancel_add_child makes the call id of ch, about to start, a child of cx: *cb and *arg are
 * replaced by a wrapper that leaves the list when the call completes, then calls them.
 * SILK_CANCELLED when cx is cancelled already, SILK_RESOURCE_EXHAUSTED when memory is; *cb
 * and *arg are unchanged then. */
silk_status silk__cancel_add_child(silk__cancel *cx, silk_channel *ch, silk_call_id id,
                                   silk_call_cb *cb, void **arg, silk__cancel_child **childp);

/* silk__cancel_remove_child undoes silk__cancel_add_child for a call that failed to start (its
 * callback never runs). */
void silk__cancel_remove_child(silk__cancel_child *child);

#endif /* SILK_SRC_CANCEL_H */
