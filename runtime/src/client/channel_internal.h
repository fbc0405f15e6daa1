/* channel_internal.h - what the parts of the client share: channel.c (the channel's life, its
 * thread and settings), call.c (calls, retries, the copies the channel's thread sends) and
 * peer.c (one connection per instance: the dial, the table of calls in flight, deadlines,
 * keepalive, completions).
 *
 * A channel keeps one peer per instance address. A peer is a stream conn
 * (transport/nng/stream_conn.h) with a dial phase, a table of the calls in flight keyed by
 * call id, and one timer aio that fails calls whose deadline passes. The table, the call ids
 * and the timer's state are under the stream conn's mutex, so that a call is entered, sent,
 * answered, timed out or failed by a lost connection exactly once. Completions run on nng's
 * threads. */
#ifndef SILK_SRC_CHANNEL_INTERNAL_H
#define SILK_SRC_CHANNEL_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <nng/nng.h>

#include <silk/channel.h>
#include <silk/registry.h>

#include "client/balance.h"
#include "core/assert.h"
#include "core/mutex.h"
#include "core/spares.h"
#include "transport/nng/stream_conn.h"
#include "transport/nng/tls.h"
#include "rpc/ctx_internal.h"
#include "rpc/interceptor_internal.h"

/* silk__call_copy is a copy of a call that the channel can send (again) later (call.c). */
typedef struct silk__call_copy silk__call_copy;

/* silk__direct is a connection that blocking calls drive from their own thread (direct.c). */
typedef struct silk__direct silk__direct;

/* silk__call is one call in flight. */
typedef struct silk__call {
    struct silk__call *next; /* in its bucket, or in a list of calls to complete */
    uint64_t id;
    int64_t deadline_us;
    int64_t sent_us; /* when it was queued: a deadline with nothing heard since is a failure */
    const silk_method_desc *method;
    silk_call_cb cb;
    void *arg;
} silk__call;

/* silk__call_init fills c for a call of method, with id, sent now with budget_us to run,
 * completing with cb(..., arg). */
void silk__call_init(silk__call *c, uint64_t id, const silk_method_desc *method, uint64_t budget_us,
                     silk_call_cb cb, void *arg);

/* silk__call_table holds the calls in flight on one connection by call id (call_table.c):
 * chained buckets, a power of two of them, doubled as calls come. */
typedef struct silk__call_table {
    silk__call **buckets;
    size_t nbuckets;
    size_t ncalls;
} silk__call_table;

/* silk__call_table_init makes an empty table; false when memory is exhausted. */
bool silk__call_table_init(silk__call_table *t);

/* silk__call_table_fini frees the table (not the calls still in it). */
void silk__call_table_fini(silk__call_table *t);

/* silk__call_table_add enters c by its id; false when memory is exhausted. */
bool silk__call_table_add(silk__call_table *t, silk__call *c);

/* silk__call_table_remove takes the call of id out of the table and returns it; NULL when
 * the table does not have it. */
silk__call *silk__call_table_remove(silk__call_table *t, uint64_t id);

/* silk__call_table_take takes out the calls whose deadline is at or before now (INT64_MAX:
 * every call) and returns them as a list linked through next. */
silk__call *silk__call_table_take(silk__call_table *t, int64_t now);

/* silk__call_table_next_deadline is the earliest deadline in the table; INT64_MAX if empty. */
int64_t silk__call_table_next_deadline(const silk__call_table *t);

/* silk__peer is the connection to one instance. */
typedef struct silk__peer {
    silk__stream_conn conn; /* first: a silk__stream_conn * is a silk__peer * */
    silk_channel *ch;
    char *address;
    nng_stream_dialer *dialer;
    nng_aio *dial_aio; /* holds a reference while a dial is in flight */
    nng_aio *timer_aio;
    nng_aio *keepalive_aio;
    atomic_int_fast64_t last_rx_us; /* when a frame last arrived; 0: none yet */
    bool dial_failed;               /* set before the dial's failure closes the connection */
    uint64_t addr_hash;             /* silk__lb_address_hash(address) */
    atomic_bool watched;            /* the instance has failures: report answers to the breaker */
    atomic_bool connected;          /* made: dialled, and for TLS its first frame came */

    /* Under ch->mu. */
    struct silk__peer *next;
    bool in_table;

    /* Under the connection's mutex. */
    silk__call_table calls;
    silk__spares spare_calls; /* answered calls, for the next ones */
    bool ping_out;            /* a keepalive ping is unanswered */
    int64_t ping_at;          /* when it was sent */
    bool timer_busy;          /* a sleep is in flight on timer_aio */
    int64_t timer_at;         /* when it ends */
} silk__peer;
SILK__FIRST_MEMBER(silk__peer, conn);

struct silk_channel {
    silk__mutex mu;
    pthread_cond_t cv;
    char *target;
    uint64_t target_hash; /* silk__lb_address_hash(target): what a channel to an address tried */
    bool by_name;
    char *token;
    bool tls_only;       /* $SILK_TLS_CA is set: dial tls+tcp:// addresses only */
    nng_tls_config *tls; /* the client configuration held when tls_only (transport/nng/tls.h) */
    uint32_t max_message;
    silk_registry *reg;
    atomic_uint_fast64_t last_id; /* call ids are unique in the channel, for silk_channel_cancel */
    unsigned keepalive_ms;        /* 0: no keepalive pings */
    silk__chain chain;            /* interceptors, fixed before the first call */
    atomic_int policy;            /* a silk_lb_policy: how new calls are routed */

    /* A channel to a service name reads the registry on a thread of its own, so that no call
     * ever waits for the registry's I/O on the caller's thread (a gateway's event loop). */
    pthread_t resolver;
    uintptr_t resolver_id; /* the thread's silk__thread_id(), set by the thread itself */
    bool resolver_running;
    pthread_cond_t resolver_cv; /* wakes the resolver early: a call found no instance, or the
                                   registry's watch saw a change */
    uint64_t watch_id;          /* the registry watch that wakes it; 0: none */

    /* Under mu. */
    bool closing;
    bool resolve_now;
    uint64_t resolve_started;   /* registry reads begun */
    uint64_t resolve_done;      /* the count of the last one finished */
    silk__call_copy *scheduled; /* copies of calls the channel's thread sends (call.c) */
    silk__balancer lb;          /* the instances the resolver found last, and their health */
    silk__peer *peers;          /* live peers, one per address */
    unsigned npeers;            /* peers not yet finalized */
    silk__direct *direct;       /* connections of blocking calls, at most one per address */
    unsigned direct_busy;       /* of those, the ones a caller is driving */
    int wake_fd;                /* an eventfd, made with the first of them: readable once the
                                   channel is closing, so that their callers stop waiting */
    atomic_bool direct_off;     /* an instance had an address they cannot reach (a host name):
                                   blocking calls go the channel's way, picked once */
};

/* silk__send_fail tells, for a send that failed at once, what became of it. */
typedef enum silk__send_fail {
    SILK__SEND_FAIL_OTHER,       /* failed for a reason of its own */
    SILK__SEND_FAIL_NO_INSTANCE, /* the registry knows no instance */
    SILK__SEND_FAIL_ELSEWHERE,   /* the instance picked could take nothing: another may, at once */
    SILK__SEND_FAIL_BREAKERS,    /* every instance's breaker is open: fail fast */
} silk__send_fail;

/* silk__peer_get returns, with a reference, the peer a new call on route r goes on - picked
 * by the channel's balancer, or the channel's address - dialling it when there is none, and
 * records it among those r tried; when it fails, *how tells whether another instance may be
 * tried. */
silk_status silk__peer_get(silk_channel *ch, silk__route *r, silk__peer **lp, silk__send_fail *how,
                           char *why, size_t cap);

/* silk__peer_submit enters a call made as call says (silk__call_init) in l's table, in one of
 * l's spare calls or a new one, and queues its request frame (header h, payload req). */
silk_status silk__peer_submit(silk__peer *l, const silk__call *call,
                              const Silk__Rpc__RequestHeader *h, const ProtobufCMessage *req,
                              silk__send_fail *how, char *why, size_t cap);

/* silk__peer_cancel takes the call id out of l's table, telling the server to drop it, and
 * returns it (the caller completes and frees it), or NULL when l does not have it. */
silk__call *silk__peer_cancel(silk__peer *l, uint64_t id);

/* silk__call_mark_never_sent tells a call that its connection could never be made, so that
 * nothing of it was sent (channel.c: its copy may then go to another instance). */
void silk__call_mark_never_sent(silk__call *c);

/* silk__channel_take_due takes the scheduled copies of ch that are due at now off
 * ch->scheduled and returns them as a list linked through their next; *next is lowered to the
 * time the earliest of those left is due, if earlier. ch->mu is held (call.c). */
silk__call_copy *silk__channel_take_due(silk_channel *ch, int64_t now, int64_t *next);

/* silk__call_copies_resend sends every copy of a list from silk__channel_take_due, on the
 * channel's thread without ch->mu; each is owned by its send from then on. */
void silk__call_copies_resend(silk__call_copy *due);

/* silk__channel_cancel_scheduled completes every copy still scheduled on ch with
 * SILK_CANCELLED, on this thread, and frees them: the channel's thread has stopped. */
void silk__channel_cancel_scheduled(silk_channel *ch);

/* silk__channel_route_init fills r for a new call of method with req and ctx on ch: routed
 * by the channel's policy on a channel to a name, with nothing tried yet. */
void silk__channel_route_init(const silk_channel *ch, silk__route *r,
                              const silk_method_desc *method, const ProtobufCMessage *req,
                              const silk_ctx *ctx);

/* silk__channel_max_frame is the longest frame ch's connections send or accept, its length
 * field excluded: the message limit plus room for the header. */
uint32_t silk__channel_max_frame(const silk_channel *ch);

/* ---- blocking calls on the caller's thread (direct.c) ---- */

/* What silk__direct_call did with a call. */
typedef enum silk__direct_outcome {
    SILK__DIRECT_NOT_MADE, /* nothing was sent: the channel's path makes the call */
    SILK__DIRECT_DONE,     /* completed: *stp (and *resp on SILK_OK), why on failure */
    SILK__DIRECT_HANDED,   /* failed as the channel retries: a copy went to the channel's
                              thread, which completes it with cb(..., arg) */
} silk__direct_outcome;

/* silk__direct_call makes a blocking call on the caller's thread when it can: a channel with
 * no interceptors that dials plain connections, and a numeric tcp:// or ipc:// instance
 * (picked as the channel's calls are) whose blocking connection no other caller is driving.
 * It sends the request and reads the answer itself; a call with a handler's ctx joins its
 * cancellation tree. On SILK__DIRECT_HANDED the result comes through cb(..., arg). */
silk__direct_outcome silk__direct_call(silk_channel *ch, silk_ctx *ctx,
                                       const silk_method_desc *method, const ProtobufCMessage *req,
                                       silk_call_cb cb, void *arg, silk_status *stp,
                                       ProtobufCMessage **resp, char *why, size_t cap);

/* silk__direct_close_all closes the blocking connections of a closing channel once no caller
 * drives any (channel.c's close waits for that), and its eventfd. */
void silk__direct_close_all(silk_channel *ch);

/* silk__direct_cancel_locked stops the blocking call of id on ch's blocking connections, if
 * one is waiting there: it ends CANCELLED on its own thread. ch->mu is held. */
void silk__direct_cancel_locked(silk_channel *ch, silk_call_id id);

/* silk__channel_copy_call_as is silk__channel_copy_call with the copy's call id given: a
 * blocking call's, so that its handler's cancellation finds the copy (call.c). */
silk__call_copy *silk__channel_copy_call_as(silk_channel *ch, silk_ctx *ctx,
                                            const silk_method_desc *method,
                                            const ProtobufCMessage *req, uint64_t budget,
                                            const silk__route *r, silk_call_id id, silk_call_cb cb,
                                            void *arg);

/* silk__direct_wake wakes the callers driving ch's blocking connections: ch is closing.
 * ch->mu is held. */
void silk__direct_wake(silk_channel *ch);

/* ---- for loop channels (loop/loop_channel.c) ---- */

/* silk__channel_by_name tells whether ch is a channel to a service name (balanced, with
 * health records), not to one address. */
bool silk__channel_by_name(const silk_channel *ch);

/* silk__channel_token is the cluster token ch's calls carry; NULL when they carry none. */
const char *silk__channel_token(const silk_channel *ch);

/* silk__channel_keepalive_ms is how long a connection of ch may be silent before it is
 * pinged; 0 when keepalive is off. */
unsigned silk__channel_keepalive_ms(const silk_channel *ch);

/* silk__channel_copies tells whether a call of method on ch sent once gets a copy from
 * silk__channel_copy_call: on a channel to a name, for a method the channel retries, or for any
 * method when never_sent (queued on a connection still being made). */
bool silk__channel_copies(const silk_channel *ch, const silk_method_desc *method, bool never_sent);

/* silk__channel_direct tells whether a loop channel may make a call with ctx on its own
 * connections: not when the channel has interceptors, ctx is a handler's (its calls are
 * cancelled with it) or the channel dials TLS only (loop connections are plain). Those go
 * through the channel. */
bool silk__channel_direct(const silk_channel *ch, const silk_ctx *ctx);

/* silk__channel_copy_call copies a call on a channel to a name, sent once on route r (which holds
 * the instance it went to), so that the channel can send it again should that send fail as
 * retries allow - or, when never_sent (queued on a connection still being made), should the
 * connection never be made, whatever its method; NULL when neither applies
 * (silk__channel_copies) or memory is exhausted. The copy completes with cb, from the channel's
 * threads, only once silk__channel_retry took it. */
silk__call_copy *silk__channel_copy_call(silk_channel *ch, silk_ctx *ctx,
                                         const silk_method_desc *method,
                                         const ProtobufCMessage *req, uint64_t budget,
                                         const silk__route *r, bool never_sent, silk_call_cb cb,
                                         void *arg);

/* silk__channel_retry gives the channel a copy whose first send failed with st (never_sent:
 * its connection was never made): true when the channel sends it again (50 ms later, to
 * another instance, within its budget) and now owns it; false when it may not be sent again,
 * and the caller still owns it. */
bool silk__channel_retry(silk__call_copy *p, silk_status st, const char *message, bool never_sent);

/* silk__channel_copy_free frees a copy the channel did not take. NULL is ignored. */
void silk__channel_copy_free(silk__call_copy *p);

/* silk__channel_pick writes into buf the address a call on route r goes to, picked as one of
 * ch's calls would be, and records it in r; false when no connection should be made to any
 * now (the channel is closing, no instance is known, every breaker is open, the one picked is
 * backing off after failed dials) - the channel's own path then decides what to do. */
bool silk__channel_pick(silk_channel *ch, silk__route *r, char *buf, size_t cap);

/* What a loop channel tells the channel's balancer about an instance. */
typedef enum silk__outcome {
    SILK__OUTCOME_LOST,        /* its connection was lost */
    SILK__OUTCOME_DIAL_FAILED, /* a connection to it could not be made: it backs off */
    SILK__OUTCOME_CONNECTED,   /* a connection to it was made: the backoff ends */
    SILK__OUTCOME_FAILED,      /* a call failed there: UNAVAILABLE, or silence past a deadline */
    SILK__OUTCOME_ANSWERED,    /* a call was answered: closes its breaker */
} silk__outcome;

/* silk__channel_report records an outcome at address (nothing on a channel to an address). */
void silk__channel_report(silk_channel *ch, const char *address, silk__outcome o);

#endif /* SILK_SRC_CHANNEL_INTERNAL_H */
