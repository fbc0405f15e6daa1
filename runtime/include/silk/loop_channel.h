/* loop_channel.h - calls driven by the caller's own event loop: no thread, no lock, no hand-off.
 *
 * A silk_channel's connections run on nng's threads: a call's request leaves from one of them
 * and its completion runs on another, so a caller living on an event loop (the gateway) pays
 * a thread hand-off each way. A loop channel wraps a channel and makes the calls itself, on
 * sockets the caller's loop watches, in the way of hiredis' async adapters: the runtime says
 * which descriptors it wants watched through silk_loop_ops, the loop says when they are ready
 * with silk_loop_io_ready(), and every completion runs on the loop's thread. The requests of
 * the calls made in one turn of the loop leave in one write.
 *
 * The wrapped channel still decides where a call goes (its registry view, policy, breaker and
 * backoff) and still serves what a loop channel does not do itself - a channel with
 * interceptors, calls made with a handler's ctx (cancelled with it), an instance whose
 * address is neither numeric tcp:// nor ipc:// - through silk_channel_call_async(), with the
 * completion handed back to the loop by silk_loop_ops.post. A call of an idempotent method on a
 * channel to a service name is made on the loop with a copy kept by the channel: when it fails as
 * the channel would retry it (UNAVAILABLE, or refused busy), the channel sends the copy again, to
 * another instance, and its answer comes back by post. So is any call queued while its connection
 * is being made, until it is: should it never be, the call was never sent and the channel gives it
 * to another instance. Either way a call behaves as silk_channel_call_async() says, but for where
 * its callback runs.
 *
 * Everything here but silk_loop_ops.post's callers runs on the loop's thread. */
#ifndef SILK_LOOP_CHANNEL_H
#define SILK_LOOP_CHANNEL_H

#include <silk/channel.h>
#include <silk/ctx.h>
#include <silk/service.h>
#include <silk/status.h>

#ifdef __cplusplus
extern "C" {
#endif

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

/* silk_loop_ops is how a loop channel talks to its loop. */
typedef struct silk_loop_ops {
    void *loop; /* handed to both functions */
    /* io sets what the loop watches fd for: events is a mask of SILK_LOOP_READ and
     * SILK_LOOP_WRITE, and when fd is ready the loop calls silk_loop_io_ready(token, ready).
     * *state is the loop's own storage for fd (its watcher), NULL the first time; events 0
     * stops watching fd, which is about to be closed, and must leave *state NULL. It returns
     * 0, or -1 when it cannot watch fd (the connection is then given up). */
    int (*io)(void *loop, void **state, int fd, int events, void *token);
    /* post queues task, from any thread, to have task->run(task) called on the loop's
     * thread soon, and wakes the loop. */
    void (*post)(void *loop, silk_loop_task *task);
} silk_loop_ops;

/* silk_loop_channel_open makes a loop channel over ch, which must outlive it. */
silk_status silk_loop_channel_open(silk_loop_channel **lcp, silk_channel *ch,
                                   const silk_loop_ops *ops);

/* silk_loop_channel_call starts a call as silk_channel_call_async() does; its callback runs on the
 * loop's thread, never before silk_loop_channel_call returns. Deadlines are enforced by
 * silk_loop_channel_tick(), so to within the period it is called at (the callee enforces its
 * budget too). */
silk_status silk_loop_channel_call(silk_loop_channel *lc, silk_ctx *ctx,
                                   const silk_method_desc *method, const ProtobufCMessage *req,
                                   silk_call_cb cb, void *arg);

/* silk_loop_io_ready is the loop's answer to silk_loop_ops.io: the descriptor of token is
 * ready for ready (SILK_LOOP_READ and/or SILK_LOOP_WRITE). Completions run from it. */
void silk_loop_io_ready(void *token, int ready);

/* silk_loop_channel_tick fails the calls whose deadline passed (DEADLINE_EXCEEDED, telling the
 * server to drop them) and keeps the connections alive (a ping after the channel's keepalive
 * interval of silence, closed when silent as long again). Call it every second or so. */
void silk_loop_channel_tick(silk_loop_channel *lc);

/* silk_loop_channel_close fails every call still in flight on the loop channel's own
 * connections with SILK_CANCELLED (their callbacks run before it returns), closes them and
 * frees lc; calls it handed to the channel complete through silk_loop_ops.post when the
 * channel closes. New calls made from those callbacks fail at once. Not from a callback.
 * NULL is ignored. */
void silk_loop_channel_close(silk_loop_channel *lc);

#ifdef __cplusplus
}
#endif

#endif /* SILK_LOOP_CHANNEL_H */
