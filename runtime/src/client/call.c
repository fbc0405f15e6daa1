/* call.c - a channel's calls: starting one (interceptors, the cancellation of a handler's
 * ctx, a copy for retries), sending it to the instance balance.c picks - again, elsewhere,
 * while the one picked could take nothing - the copies the channel's thread sends when they
 * are due, cancelling, and blocking calls. The connections are peer.c's; the channel and its
 * thread are channel.c's. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <silk/channel.h>

#include "client/channel_internal.h"
#include "core/clock.h"

/* An idempotent call that failed UNAVAILABLE is sent again this long after. */
#define RETRY_GAP_US 50000
/* Its retries when its method sets none. */
#define DEFAULT_RETRIES 3

/* silk__call_copy is a copy of a call - its request and its ctx, since the caller's need not
 * outlive silk_channel_call_async - that the channel's own thread sends when it is due: once
 * the registry has been read (no instance was known when the call started), or again after
 * UNAVAILABLE (an idempotent method, up to its retries, RETRY_GAP_US apart, within its
 * deadline; any method when it was never sent). */
struct silk__call_copy {
    struct silk__call_copy *next; /* on ch->scheduled */
    silk_channel *ch;
    silk_call_id id; /* the same at every send, so that silk_channel_cancel finds it */
    const silk_method_desc *method;
    silk_ctx *ctx;
    ProtobufCMessage *req;
    silk_call_cb cb; /* the caller's */
    void *arg;
    unsigned sends;     /* attempts so far */
    silk__route route;  /* its key and the instances it tried */
    bool never_sent;    /* its last send failed before a byte left: the dial failed */
    bool wait_resolve;  /* due once the registry has been read after gen */
    uint64_t gen;       /* ch->resolve_started when it was scheduled */
    int64_t not_before; /* else due at this time */
};

/* ============================== copies ============================== */

static silk_status send_somewhere(silk_channel *ch, silk_ctx *ctx, const silk_method_desc *method,
                                  const ProtobufCMessage *req, silk_call_id id, silk_call_cb cb,
                                  void *arg, silk__route *r, bool copy_if_dialing,
                                  silk__send_fail *how, char *why, size_t cap);

static void copy_free(silk__call_copy *p)
{
    silk_ctx_free(p->ctx);
    if (p->req != NULL)
        protobuf_c_message_free_unpacked(p->req, NULL);
    free(p);
}

/* copy_message makes a copy of msg, by packing and unpacking it; NULL when out of memory. */
static ProtobufCMessage *copy_message(const ProtobufCMessage *msg)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(n != 0 ? n : 1);
    if (buf == NULL)
        return NULL;
    protobuf_c_message_pack(msg, buf);
    ProtobufCMessage *copy = protobuf_c_message_unpack(msg->descriptor, NULL, n, buf);
    free(buf);
    return copy;
}

/* copy_new copies a call so that the channel's thread can send it later. */
static silk__call_copy *copy_new(silk_channel *ch, silk_ctx *ctx, const silk_method_desc *method,
                                 const ProtobufCMessage *req, uint64_t budget, silk_call_id id,
                                 silk_call_cb cb, void *arg, const silk__route *route)
{
    silk__call_copy *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    *p = (silk__call_copy){
        .ch = ch, .id = id, .method = method, .cb = cb, .arg = arg, .route = *route};
    if ((p->ctx = silk__ctx_clone(ctx, budget)) == NULL || (p->req = copy_message(req)) == NULL) {
        copy_free(p);
        return NULL;
    }
    return p;
}

/* schedule hands p to the channel's thread, to send once due; false when the channel is
 * closing. */
static bool schedule(silk__call_copy *p, bool wait_resolve, int64_t not_before)
{
    silk_channel *ch = p->ch;
    silk__mutex_lock(&ch->mu);
    bool ok = !ch->closing;
    if (ok) {
        p->wait_resolve = wait_resolve;
        p->gen = ch->resolve_started;
        p->not_before = not_before;
        p->next = ch->scheduled;
        ch->scheduled = p;
        ch->resolve_now = ch->resolve_now || wait_resolve;
        pthread_cond_signal(&ch->resolver_cv);
    }
    silk__mutex_unlock(&ch->mu);
    return ok;
}

static unsigned retries_of(const silk_method_desc *m)
{
    return m->idempotent ? (m->retries != 0 ? m->retries : DEFAULT_RETRIES) : 0;
}

/* may_resend tells whether a copy whose send ended with st may be sent again: its method
 * allows another attempt, and the instance failed or refused it before running it. */
static bool may_resend(const silk__call_copy *p, silk_status st, const char *message)
{
    if (silk_ctx_remaining_us(p->ctx) <= RETRY_GAP_US)
        return false;
    if (p->never_sent && st == SILK_UNAVAILABLE) /* nothing left: any method may go elsewhere */
        return p->sends < SILK__LB_MAX_TRIED;
    if (p->sends > retries_of(p->method))
        return false;
    return st == SILK_UNAVAILABLE || (st == SILK_RESOURCE_EXHAUSTED && message != NULL &&
                                      strcmp(message, SILK__MSG_BUSY) == 0);
}

/* copy_done is the completion of every send of a copy: it schedules it again when the
 * method allows another attempt, and else completes the caller's call. */
static void copy_done(silk_status st, ProtobufCMessage *resp, const char *message, void *arg)
{
    silk__call_copy *p = arg;
    if (may_resend(p, st, message) && schedule(p, false, silk__now_us() + RETRY_GAP_US))
        return;
    p->cb(st, resp, message, p->arg);
    copy_free(p);
}

void silk__call_mark_never_sent(silk__call *c)
{
    if (c->cb == copy_done) /* the channel's own copy */
        ((silk__call_copy *)c->arg)->never_sent = true;
}

/* resend sends a scheduled copy, on the channel's thread. */
static void resend(silk__call_copy *p)
{
    SILK__ASSERT(p->ch->resolver_id == silk__thread_id());
    char why[256] = "";
    silk__send_fail how = SILK__SEND_FAIL_OTHER;
    p->sends++;
    p->never_sent = false;
    silk_status st = SILK_DEADLINE_EXCEEDED;
    if (silk_ctx_remaining_us(p->ctx) == 0)
        snprintf(why, sizeof why, "the deadline passed before the call could be sent");
    else
        st = send_somewhere(p->ch, p->ctx, p->method, p->req, p->id, copy_done, p, &p->route, false,
                            &how, why, sizeof why);
    if (st == SILK_OK)
        return;
    if (how == SILK__SEND_FAIL_BREAKERS) { /* no point in waiting 50 ms */
        p->cb(st, NULL, why, p->arg);
        copy_free(p);
        return;
    }
    copy_done(st, NULL, why, p);
}

void silk__call_copies_resend(silk__call_copy *due)
{
    for (silk__call_copy *p = due, *next; p != NULL; p = next) {
        next = p->next;
        resend(p);
    }
}

silk__call_copy *silk__channel_take_due(silk_channel *ch, int64_t now, int64_t *next)
{
    SILK__ASSERT_HELD(&ch->mu);
    silk__call_copy *due = NULL;
    for (silk__call_copy **pp = &ch->scheduled; *pp != NULL;) {
        silk__call_copy *p = *pp;
        bool ready = p->wait_resolve ? ch->resolve_done > p->gen : p->not_before <= now;
        if (!ready) {
            if (!p->wait_resolve && p->not_before < *next)
                *next = p->not_before;
            pp = &p->next;
            continue;
        }
        *pp = p->next;
        p->next = due;
        due = p;
    }
    return due;
}

void silk__channel_cancel_scheduled(silk_channel *ch)
{
    for (silk__call_copy *p = ch->scheduled, *next; p != NULL; p = next) {
        next = p->next;
        p->cb(SILK_CANCELLED, NULL, "the channel is closed", p->arg);
        copy_free(p);
    }
    ch->scheduled = NULL;
}

/* ============================== calls ============================== */

/* send_call builds a call's header and sends it on the peer picked for r, with the call id
 * given; when it fails at once, *how says whether another instance may take it. With
 * copy_if_dialing (a call with no copy yet, on a channel to a name), a call queued on a
 * connection still being made is copied first, so that another instance can take it if the
 * dial fails: nothing of it was sent then. Calls on connections already made cost no copy. */
static silk_status send_call(silk_channel *ch, silk_ctx *ctx, const silk_method_desc *method,
                             const ProtobufCMessage *req, silk_call_id id, silk_call_cb cb,
                             void *arg, silk__route *r, bool copy_if_dialing, silk__send_fail *how,
                             char *why, size_t cap)
{
    uint64_t budget = silk__ctx_budget_us(ctx, method->timeout_ms);
    silk__call c; /* the peer copies it into its own */
    silk__call_init(&c, id, method, budget, cb, arg);
    silk__reqhdr rh;
    silk_status st = silk__reqhdr_init(&rh, ctx, method, req, budget, ch->token);
    if (st != SILK_OK) {
        snprintf(why, cap, "out of memory");
        return st;
    }
    silk__peer *l = NULL;
    silk__call_copy *copy = NULL;
    st = silk__peer_get(ch, r, &l, how, why, cap);
    if (st == SILK_OK && copy_if_dialing && !atomic_load(&l->connected) &&
        (copy = copy_new(ch, ctx, method, req, budget, id, cb, arg, r)) != NULL) {
        copy->sends = 1;
        c.cb = copy_done;
        c.arg = copy;
    }
    if (st == SILK_OK) {
        st = silk__peer_submit(l, &c, &rh.h, req, how, why, cap);
        silk__stream_conn_rele(&l->conn);
    }
    silk__reqhdr_fini(&rh);
    if (st != SILK_OK && copy != NULL)
        copy_free(copy);
    return st;
}

/* send_somewhere is send_call, given to other instances at once while the one picked could
 * take nothing (nothing was queued, so this holds for every method). */
static silk_status send_somewhere(silk_channel *ch, silk_ctx *ctx, const silk_method_desc *method,
                                  const ProtobufCMessage *req, silk_call_id id, silk_call_cb cb,
                                  void *arg, silk__route *r, bool copy_if_dialing,
                                  silk__send_fail *how, char *why, size_t cap)
{
    for (unsigned k = 0;; k++) {
        *how = SILK__SEND_FAIL_OTHER;
        silk_status st =
            send_call(ch, ctx, method, req, id, cb, arg, r, copy_if_dialing, how, why, cap);
        if (st != SILK_UNAVAILABLE || *how != SILK__SEND_FAIL_ELSEWHERE || !ch->by_name ||
            k + 1 >= SILK__LB_MAX_TRIED)
            return st;
    }
}

/* intercepted is a call whose channel has interceptors: their afters run at completion. */
typedef struct intercepted {
    silk_channel *ch;
    const silk_method_desc *method;
    silk_call_cb cb; /* the caller's */
    void *arg;
    size_t ran;
    int64_t start_us;
    char trace_id[SILK_MD_MAX_VALUE + 1];
} intercepted;

static void run_afters(intercepted *ic, silk_status st, const ProtobufCMessage *resp,
                       const char *message)
{
    silk_call_info info = {.method = ic->method,
                           .target = ic->ch->target,
                           .trace_id = ic->trace_id,
                           .status = st,
                           .message = message != NULL ? message : "",
                           .elapsed_us = silk__now_us() - ic->start_us};
    silk__chain_after(&ic->ch->chain, ic->ran, &info, resp);
}

static void intercepted_cb(silk_status st, ProtobufCMessage *resp, const char *message, void *arg)
{
    intercepted *ic = arg;
    run_afters(ic, st, resp, message);
    ic->cb(st, resp, message, ic->arg);
    free(ic);
}

/* intercept runs the channel's befores for a call; on SILK_OK *icp wraps cb and arg. */
static silk_status intercept(silk_channel *ch, silk_ctx *ctx, const silk_method_desc *method,
                             const ProtobufCMessage *req, silk_call_cb cb, void *arg,
                             intercepted **icp, char *why, size_t cap)
{
    intercepted *ic = malloc(sizeof *ic);
    if (ic == NULL) {
        snprintf(why, cap, "out of memory");
        return SILK_RESOURCE_EXHAUSTED;
    }
    const char *trace = silk_ctx_get(ctx, SILK_MD_TRACE_ID);
    *ic =
        (intercepted){.ch = ch, .method = method, .cb = cb, .arg = arg, .start_us = silk__now_us()};
    snprintf(ic->trace_id, sizeof ic->trace_id, "%s", trace != NULL ? trace : "");
    silk_call_info info = {
        .method = method, .ctx = ctx, .target = ch->target, .trace_id = ic->trace_id};
    silk_status st = silk__chain_before(&ch->chain, &info, req, &ic->ran);
    if (st != SILK_OK) {
        snprintf(why, cap, "%s",
                 silk_ctx_message(ctx)[0] != '\0' ? silk_ctx_message(ctx)
                                                  : "refused by an interceptor");
        run_afters(ic, st, NULL, why);
        free(ic);
        return st;
    }
    *icp = ic;
    return SILK_OK;
}

/* start_call starts a call; on a synchronous failure why says what went wrong and the
 * callback is never called. A call of an idempotent method on a channel to a name is
 * copied so that it can be sent again; a call that finds no instance known is scheduled, to
 * wait for the registry to be read again rather than read it on the caller's thread. */
static silk_status start_call(silk_channel *ch, silk_ctx *ctx, const silk_method_desc *method,
                              const ProtobufCMessage *req, silk_call_cb cb, void *arg,
                              silk_call_id *idp, char *why, size_t cap)
{
    if (ch == NULL || method == NULL || req == NULL || cb == NULL ||
        req->descriptor != method->input) {
        snprintf(why, cap, "invalid arguments");
        return SILK_INVALID_ARGUMENT;
    }
    uint64_t budget = silk__ctx_budget_us(ctx, method->timeout_ms);
    if (budget == 0) {
        snprintf(why, cap, "the deadline passed before the call started");
        return SILK_DEADLINE_EXCEEDED;
    }
    if (silk_ctx_cancelled(ctx)) {
        snprintf(why, cap, "the caller's call was cancelled");
        return SILK_CANCELLED;
    }
    if (silk__ctx_ensure_trace_id(ctx) != SILK_OK) {
        snprintf(why, cap, "out of memory");
        return SILK_RESOURCE_EXHAUSTED;
    }
    intercepted *ic = NULL;
    if (ch->chain.n > 0) {
        silk_status st = intercept(ch, ctx, method, req, cb, arg, &ic, why, cap);
        if (st != SILK_OK)
            return st;
        cb = intercepted_cb;
        arg = ic;
    }
    silk_call_id id = atomic_fetch_add(&ch->last_id, 1) + 1;
    /* A call made with a handler's ctx is cancelled with the handler's own call. */
    silk__cancel_child *child = NULL;
    silk__cancel *cx = silk__ctx_cancel(ctx);
    if (cx != NULL) {
        silk_status st = silk__cancel_add_child(cx, ch, id, &cb, &arg, &child);
        if (st != SILK_OK) {
            snprintf(why, cap, "%s",
                     st == SILK_CANCELLED ? "the caller's call was cancelled" : "out of memory");
            if (ic != NULL) {
                run_afters(ic, st, NULL, why);
                free(ic);
            }
            return st;
        }
    }
    silk__route route;
    silk__channel_route_init(ch, &route, method, req, ctx);
    silk__call_copy *p = NULL;
    if (ch->by_name && retries_of(method) > 0 &&
        (p = copy_new(ch, ctx, method, req, budget, id, cb, arg, &route)) == NULL) {
        snprintf(why, cap, "out of memory");
        if (child != NULL)
            silk__cancel_remove_child(child);
        if (ic != NULL) {
            run_afters(ic, SILK_RESOURCE_EXHAUSTED, NULL, why);
            free(ic);
        }
        return SILK_RESOURCE_EXHAUSTED;
    }
    silk__send_fail how = SILK__SEND_FAIL_OTHER;
    if (p != NULL)
        p->sends = 1; /* before the send: its completion may run at once, and owns p */
    silk_status st = send_somewhere(ch, ctx, method, req, id, p != NULL ? copy_done : cb,
                                    p != NULL ? (void *)p : arg, p != NULL ? &p->route : &route,
                                    ch->by_name && p == NULL, &how, why, cap);
    if (st == SILK_UNAVAILABLE && how == SILK__SEND_FAIL_NO_INSTANCE) {
        if (p == NULL)
            p = copy_new(ch, ctx, method, req, budget, id, cb, arg, &route);
        else
            p->sends = 0; /* it was not sent */
        if (p != NULL && schedule(p, true, 0)) {
            p = NULL;
            st = SILK_OK;
        }
    } else if (st == SILK_OK) {
        p = NULL;
    } else if (st == SILK_UNAVAILABLE && p != NULL && how != SILK__SEND_FAIL_BREAKERS &&
               silk_ctx_remaining_us(p->ctx) > RETRY_GAP_US &&
               schedule(p, false, silk__now_us() + RETRY_GAP_US)) {
        /* The instance picked is down (its connection just failed, or is backing off): the
         * method allows another attempt, which the channel's thread makes. */
        p = NULL;
        st = SILK_OK;
    }
    if (p != NULL)
        copy_free(p);
    if (st != SILK_OK && child != NULL)
        silk__cancel_remove_child(child); /* its callback never runs */
    if (st != SILK_OK && ic != NULL) {
        run_afters(ic, st, NULL, why);
        free(ic);
    }
    if (st == SILK_OK && idp != NULL)
        *idp = id;
    return st;
}

silk_status silk_channel_call_async(silk_channel *ch, silk_ctx *ctx, const silk_method_desc *method,
                                    const ProtobufCMessage *req, silk_call_cb cb, void *arg,
                                    silk_call_id *idp)
{
    char why[256] = "";
    silk_status st = start_call(ch, ctx, method, req, cb, arg, idp, why, sizeof why);
    if (st != SILK_OK)
        silk__ctx_set_message(ctx, why);
    return st;
}

void silk_channel_cancel(silk_channel *ch, silk_call_id id)
{
    if (ch == NULL || id == 0)
        return;
    silk__call *c = NULL;
    silk__call_copy *p = NULL;
    silk__mutex_lock(&ch->mu);
    for (silk__call_copy **pp = &ch->scheduled; *pp != NULL; pp = &(*pp)->next) {
        if ((*pp)->id == id) {
            p = *pp;
            *pp = p->next;
            break;
        }
    }
    for (silk__peer *l = ch->peers; l != NULL && c == NULL && p == NULL; l = l->next)
        c = silk__peer_cancel(l, id);
    if (c == NULL && p == NULL)
        silk__direct_cancel_locked(ch, id); /* a blocking call on its caller's thread */
    silk__mutex_unlock(&ch->mu);
    if (p != NULL) {
        p->cb(SILK_CANCELLED, NULL, "the call was cancelled", p->arg);
        copy_free(p);
    }
    if (c != NULL)
        c->cb(SILK_CANCELLED, NULL, "the call was cancelled", c->arg);
    free(c);
}

/* waiter is what a blocking call waits on. */
typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    silk_status st;
    ProtobufCMessage *resp;
    char *message;
} waiter;

static void wake(silk_status st, ProtobufCMessage *resp, const char *message, void *arg)
{
    waiter *w = arg;
    char *copy = message != NULL && message[0] != '\0' ? strdup(message) : NULL;
    pthread_mutex_lock(&w->mu);
    w->st = st;
    w->resp = resp;
    w->message = copy;
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* waiter_init makes w ready to be woken (initialising a mutex and a condition variable costs
 * no system call, so a call made on the caller's thread pays little for it). */
static void waiter_init(waiter *w)
{
    *w = (waiter){.done = false};
    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &attr);
    pthread_condattr_destroy(&attr);
}

/* waiter_wait waits for w's wake, and returns its status with *resp. */
static silk_status waiter_wait(waiter *w, ProtobufCMessage **resp)
{
    pthread_mutex_lock(&w->mu);
    while (!w->done)
        pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
    *resp = w->resp;
    return w->st;
}

static void waiter_fini(waiter *w)
{
    free(w->message);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
}

silk_status silk_channel_call(silk_channel *ch, silk_ctx *ctx, const silk_method_desc *method,
                              const ProtobufCMessage *req, ProtobufCMessage **resp)
{
    if (resp == NULL)
        return SILK_INVALID_ARGUMENT;
    *resp = NULL;
    waiter w;
    waiter_init(&w);
    char why[256] = "";
    silk_status st = SILK_OK;
    /* When it can, the calling thread sends and reads the answer itself (direct.c); else the
     * call is an async call and a wait, on the channel's path. */
    switch (silk__direct_call(ch, ctx, method, req, wake, &w, &st, resp, why, sizeof why)) {
    case SILK__DIRECT_DONE:
        break;
    case SILK__DIRECT_HANDED:
        st = waiter_wait(&w, resp);
        break;
    case SILK__DIRECT_NOT_MADE:
        st = start_call(ch, ctx, method, req, wake, &w, NULL, why, sizeof why);
        if (st == SILK_OK) /* a handler's nested call is cancelled with it (cancel.h) */
            st = waiter_wait(&w, resp);
        break;
    }
    if (st != SILK_OK)
        silk__ctx_set_message(ctx, w.message != NULL ? w.message : why);
    waiter_fini(&w);
    return st;
}

/* ============================== copies for loop channels ============================== */

bool silk__channel_copies(const silk_channel *ch, const silk_method_desc *method, bool never_sent)
{
    return ch->by_name && (never_sent || retries_of(method) > 0);
}

silk__call_copy *silk__channel_copy_call(silk_channel *ch, silk_ctx *ctx,
                                         const silk_method_desc *method,
                                         const ProtobufCMessage *req, uint64_t budget,
                                         const silk__route *r, bool never_sent, silk_call_cb cb,
                                         void *arg)
{
    if (!silk__channel_copies(ch, method, never_sent))
        return NULL;
    silk_call_id id = atomic_fetch_add(&ch->last_id, 1) + 1;
    return silk__channel_copy_call_as(ch, ctx, method, req, budget, r, id, cb, arg);
}

silk__call_copy *silk__channel_copy_call_as(silk_channel *ch, silk_ctx *ctx,
                                            const silk_method_desc *method,
                                            const ProtobufCMessage *req, uint64_t budget,
                                            const silk__route *r, silk_call_id id, silk_call_cb cb,
                                            void *arg)
{
    silk__call_copy *p = copy_new(ch, ctx, method, req, budget, id, cb, arg, r);
    if (p != NULL)
        p->sends = 1;
    return p;
}

bool silk__channel_retry(silk__call_copy *p, silk_status st, const char *message, bool never_sent)
{
    p->never_sent = never_sent;
    return may_resend(p, st, message) && schedule(p, false, silk__now_us() + RETRY_GAP_US);
}

void silk__channel_copy_free(silk__call_copy *p)
{
    if (p != NULL)
        copy_free(p);
}
