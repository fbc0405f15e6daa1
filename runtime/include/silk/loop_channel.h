/* loop_channel.h - calls driven by the caller's own event loop: no thread, no lock, no hand-off.
 *
 * A loop channel wraps a channel and makes its calls on sockets the caller's loop watches:
 * the runtime asks for descriptors to be watched through silk_loop_ops, the loop reports them
 * ready with silk_loop_io_ready(), and every completion runs on the loop's thread. Calls it
 * does not make itself go through the channel and come back by silk_loop_ops.post. Which
 * calls those are, and how retries and failover work, is in docs/runtime.md, "Calls from an
 * event loop".
 *
 * Everything here runs on the loop's thread, but silk_loop_ops.post, which any thread may
 * call. */
#ifndef SILK_LOOP_CHANNEL_H
#define SILK_LOOP_CHANNEL_H

#include <silk/channel.h>
#include <silk/ctx.h>
#include <silk/server.h>
#include <silk/service.h>
#include <silk/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/* silk_loop_channel is opaque: a channel's calls made on one event loop. */
typedef struct silk_loop_channel silk_loop_channel;

/* What a descriptor is watched for. */
enum {
    SILK_LOOP_READ = 1,
    SILK_LOOP_WRITE = 2,
};

/* silk_loop_task is work handed to the loop from another thread: the loop links it into its
 * own queue through next (no allocation, so posting cannot fail) and later calls run(task). */
typedef struct silk_loop_task {
    struct silk_loop_task *next; /* the loop's while the task waits */
    void (*run)(struct silk_loop_task *task);
} silk_loop_task;

/* silk_loop_ops is how a loop channel talks to its loop; the loop implements both. */
typedef struct silk_loop_ops {
    void *loop; /* handed to both functions */
    /* io sets what the loop watches fd for: events is a mask of SILK_LOOP_READ and
     * SILK_LOOP_WRITE, and when fd is ready the loop calls silk_loop_io_ready(token, ready).
     * *state is the loop's own storage for fd (its watcher), NULL the first time; events 0
     * stops watching fd, which is about to be closed, and must leave *state NULL. It returns
     * 0, or -1 when it cannot watch fd (the connection is then given up). Called on the
     * loop's thread. */
    int (*io)(void *loop, void **state, int fd, int events, void *token);
    /* post queues task, from any thread, to have task->run(task) called on the loop's
     * thread soon, and wakes the loop. It must not fail or block. */
    void (*post)(void *loop, silk_loop_task *task);
    /* flushes, when true, promises that the loop calls silk_loop_channel_flush() on every
     * loop channel it drives before it waits for events (libev: from an ev_prepare watcher).
     * A request then leaves in the turn of the loop that made it, with the others of that
     * turn, without first waiting for the loop to report its socket writable. False (as a
     * zeroed ops leaves it): requests are written once the socket is reported writable. */
    bool flushes;
} silk_loop_ops;

/* silk_loop_channel_open makes a loop channel over ch; ops is copied.
 *
 * Returns SILK_OK with *lcp the caller's, to close with silk_loop_channel_close(), or
 * SILK_INVALID_ARGUMENT when lcp, ch or ops is NULL or ops lacks io or post, or
 * SILK_RESOURCE_EXHAUSTED when memory is exhausted. ch must outlive the loop channel. */
silk_status silk_loop_channel_open(silk_loop_channel **lcp, silk_channel *ch,
                                   const silk_loop_ops *ops);

/* silk_loop_channel_set_local has srv answer, in this process, the calls lc makes itself whose
 * method is of a service srv hosts inline (silk_server_set_inline): the handler runs on the
 * loop's thread while silk_loop_channel_call starts the call, with no socket and no packing,
 * and gets what a call off a connection gets - the deadline, the metadata (the business id
 * and a trace id included), srv's interceptors and counts, max_concurrent - and the caller
 * gets its status and message. Such a call is not balanced, retried or failed over: srv
 * answers it, whatever the registry lists, without the cluster token. Its callback runs at
 * the loop channel's next flush, so ops must set flushes. Calls of other services, and those
 * handed to the channel (interceptors, a cancellable ctx, $SILK_TLS_CA), still go to an
 * instance. NULL sends every call again. docs/runtime.md, "Services in the gateway's
 * process", says when to.
 *
 * Returns SILK_OK, SILK_INVALID_ARGUMENT when lc is NULL, or SILK_FAILED_PRECONDITION when
 * srv is not NULL and lc's ops do not set flushes. srv is started before lc's first call and
 * outlives lc. On the loop's thread, or where lc was opened before the loop drives it. */
silk_status silk_loop_channel_set_local(silk_loop_channel *lc, silk_server *srv);

/* silk_loop_channel_call starts a call as silk_channel_call_async() does, with no call id.
 * Deadlines are enforced by silk_loop_channel_tick(), so to within the period it is called
 * at (the callee enforces its budget too).
 *
 * On SILK_OK cb runs exactly once, on the loop's thread and never before
 * silk_loop_channel_call returns, with what silk_channel_call_async()'s callback would get.
 * Otherwise cb is never called, silk_ctx_message(ctx) says why, and the status is:
 * - SILK_INVALID_ARGUMENT when lc, method, req or cb is NULL, or req is not a method->input;
 * - SILK_CANCELLED when the loop channel is closing or ctx is a cancelled handler's;
 * - SILK_DEADLINE_EXCEEDED when ctx's deadline has passed;
 * - SILK_RESOURCE_EXHAUSTED when memory is exhausted, or the request exceeds the message
 *   limit or the connection's send buffer;
 * - any error of silk_channel_call_async(), for a call handed to the channel.
 * On the loop's thread, callbacks included. */
silk_status silk_loop_channel_call(silk_loop_channel *lc, silk_ctx *ctx,
                                   const silk_method_desc *method, const ProtobufCMessage *req,
                                   silk_call_cb cb, void *arg);

/* silk_loop_channel_call_lent is silk_loop_channel_call whose callback borrows the response:
 * resp is valid until cb returns and is freed by the loop channel then (cb must not free it).
 * A response that comes on the loop channel's own connections is unpacked on the stack of
 * the loop's thread, with no allocation when it fits in a few KiB. */
silk_status silk_loop_channel_call_lent(silk_loop_channel *lc, silk_ctx *ctx,
                                        const silk_method_desc *method, const ProtobufCMessage *req,
                                        silk_call_cb cb, void *arg);

/* silk_loop_io_ready is the loop's answer to silk_loop_ops.io: the descriptor of token is
 * ready for ready (SILK_LOOP_READ and/or SILK_LOOP_WRITE). Completions run from it. On the
 * loop's thread, with a token io was given and has not been told to stop watching. */
void silk_loop_io_ready(void *token, int ready);

/* silk_loop_channel_flush writes the requests lc's calls queued since its last flush, on each
 * of its connections, as far as their sockets take them (the rest once they are writable). It
 * returns whether it wrote any: a connection that failed meanwhile completes its calls from
 * here, and their callbacks may start calls on other loop channels, to be flushed in turn. For
 * a loop whose ops set flushes; on the loop's thread. */
bool silk_loop_channel_flush(silk_loop_channel *lc);

/* silk_loop_channel_tick fails the calls whose deadline passed with SILK_DEADLINE_EXCEEDED
 * (telling the server to drop them) and keeps the connections alive: a ping after the
 * channel's keepalive interval of silence, closed when silent as long again. Call it every
 * second or so, on the loop's thread. */
void silk_loop_channel_tick(silk_loop_channel *lc);

/* silk_loop_channel_close completes every call on the loop channel's own connections with
 * SILK_CANCELLED (before it returns; calls made from those callbacks fail at once), closes
 * the connections and frees lc. Calls it handed to the channel complete by
 * silk_loop_ops.post when the channel closes. NULL is ignored.
 *
 * On the loop's thread, not from a callback of its calls. */
void silk_loop_channel_close(silk_loop_channel *lc);

#ifdef __cplusplus
}
#endif

#endif /* SILK_LOOP_CHANNEL_H */
