/* channel.c - a channel's life: open and close, the thread that reads the registry and sends
 * the scheduled copies of calls when due, its settings (interceptors, policy, breaker), and
 * what loop channels ask of it (the pick, the outcomes, its settings). The calls are
 * call.c's, the connections, one per instance, peer.c's; choosing one is balance.c's. */
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>

#include <silk/channel.h>
#include <silk/log.h>
#include <silk/registry.h>

#include "core/env.h"
#include "client/channel_internal.h"
#include "core/clock.h"
#include "registry/backend.h"
#include "core/thread.h"

/* A channel to a service name has its resolver thread read the registry this often. */
#define RESOLVE_EVERY_MS 1000
/* A connection that received nothing for this long is pinged; one that then stays silent
 * for as long again is closed, failing its calls with UNAVAILABLE ($SILK_KEEPALIVE_MS sets
 * it; 0 is the default, a negative value turns keepalive off). It finds a peer that vanished
 * without closing its socket. */
#define KEEPALIVE_MS 10000

/* ============================== choosing an instance ============================== */

/* resolve reads the registry and replaces the channel's view when the read succeeds. */
static void resolve(silk_channel *ch)
{
    silk_instance_list fresh;
    silk__lb_view view;
    silk_status st = silk_registry_resolve(ch->reg, ch->target, &fresh);
    if (st == SILK_OK)
        st = silk__lb_prepare_view(&view, &fresh);
    if (st != SILK_OK) {
        /* The last known view keeps serving. */
        silk_log(SILK_LOG_WARN, "channel", "cannot read the registry service=%s status=%s",
                 ch->target, silk_status_str(st));
        return;
    }
    silk__mutex_lock(&ch->mu);
    silk__lb_set_view(&ch->lb, &view);
    silk__mutex_unlock(&ch->mu);
    silk__lb_view_fini(&view);
}

/* ============================== the channel's thread ============================== */

/* on_registry_change is the registry's watch: the service's instances changed, so the
 * channel's thread reads them at once rather than at its next poll. */
static void on_registry_change(void *arg, const char *service, const silk_instance_list *now)
{
    silk_channel *ch = arg;
    (void)service;
    (void)now;
    silk__mutex_lock(&ch->mu);
    ch->resolve_now = true;
    pthread_cond_signal(&ch->resolver_cv);
    silk__mutex_unlock(&ch->mu);
}

/* channel_main reads the registry every RESOLVE_EVERY_MS (at once when a call asks) for a
 * channel to a name, and sends scheduled copies when they are due. */
static void *channel_main(void *arg)
{
    silk_channel *ch = arg;
    ch->resolver_id = silk__thread_id();
    int64_t next_resolve = silk__now_us() + RESOLVE_EVERY_MS * 1000;
    silk__mutex_lock(&ch->mu);
    while (!ch->closing) {
        int64_t now = silk__now_us();
        if (ch->by_name && (ch->resolve_now || now >= next_resolve)) {
            ch->resolve_now = false;
            uint64_t gen = ++ch->resolve_started;
            silk__mutex_unlock(&ch->mu);
            resolve(ch);
            silk__mutex_lock(&ch->mu);
            ch->resolve_done = gen;
            next_resolve = silk__now_us() + RESOLVE_EVERY_MS * 1000;
            continue;
        }
        int64_t next = ch->by_name ? next_resolve : now + RESOLVE_EVERY_MS * 1000;
        silk__call_copy *due = silk__channel_take_due(ch, now, &next);
        if (due != NULL) {
            silk__mutex_unlock(&ch->mu);
            silk__call_copies_resend(due);
            silk__mutex_lock(&ch->mu);
            continue;
        }
        if (ch->resolve_now)
            continue;
        struct timespec at;
        clock_gettime(CLOCK_MONOTONIC, &at);
        int64_t wait_us = next - now > 0 ? next - now : 0;
        at.tv_sec += (time_t)(wait_us / 1000000);
        at.tv_nsec += (long)(wait_us % 1000000) * 1000;
        if (at.tv_nsec >= 1000000000) {
            at.tv_sec++;
            at.tv_nsec -= 1000000000;
        }
        silk__cond_timedwait(&ch->resolver_cv, &ch->mu, &at);
    }
    silk__mutex_unlock(&ch->mu);
    return NULL;
}

/* ============================== settings ============================== */

silk_status silk_channel_add_interceptor(silk_channel *ch, const silk_interceptor *ic)
{
    if (ch == NULL)
        return SILK_INVALID_ARGUMENT;
    return silk__chain_add(&ch->chain, ic);
}

silk_status silk_channel_set_policy(silk_channel *ch, silk_lb_policy policy)
{
    if (ch == NULL ||
        (policy != SILK_LB_ROUND_ROBIN && policy != SILK_LB_RANDOM && policy != SILK_LB_HASH))
        return SILK_INVALID_ARGUMENT;
    silk__mutex_lock(&ch->mu);
    ch->lb.policy = policy;
    atomic_store(&ch->policy, (int)policy);
    silk__mutex_unlock(&ch->mu);
    return SILK_OK;
}

silk_status silk_channel_set_breaker(silk_channel *ch, unsigned failures, uint32_t open_ms)
{
    if (ch == NULL)
        return SILK_INVALID_ARGUMENT;
    silk__mutex_lock(&ch->mu);
    if (ch->by_name) {
        ch->lb.breaker_failures = failures;
        ch->lb.breaker_open_us = (int64_t)open_ms * 1000;
    }
    silk__mutex_unlock(&ch->mu);
    return SILK_OK;
}

/* ============================== for loop channels ============================== */

void silk__channel_route_init(const silk_channel *ch, silk__route *r,
                              const silk_method_desc *method, const ProtobufCMessage *req,
                              const silk_ctx *ctx)
{
    *r = (silk__route){.ntried = 0};
    if (ch->by_name)
        silk__lb_route_init(r,
                            (silk_lb_policy)atomic_load_explicit(&ch->policy, memory_order_relaxed),
                            method, req, ctx);
}

uint32_t silk__channel_max_frame(const silk_channel *ch)
{
    return ch->max_message + SILK__FRAME_HEADER_ROOM;
}

bool silk__channel_by_name(const silk_channel *ch)
{
    return ch->by_name;
}

const char *silk__channel_token(const silk_channel *ch)
{
    return ch->token;
}

unsigned silk__channel_keepalive_ms(const silk_channel *ch)
{
    return ch->keepalive_ms;
}

bool silk__channel_direct(const silk_channel *ch, const silk_ctx *ctx)
{
    return ch->chain.n == 0 && silk__ctx_cancel(ctx) == NULL && !ch->tls_only;
}

bool silk__channel_pick(silk_channel *ch, silk__route *r, char *buf, size_t cap)
{
    int64_t now = silk__now_us();
    char why[160];
    bool none = false;
    uint64_t hash = ch->target_hash;
    silk__mutex_lock(&ch->mu);
    const char *address = ch->closing ? NULL
                          : ch->by_name
                              ? silk__lb_pick(&ch->lb, r, now, &none, &hash, why, sizeof why)
                              : ch->target;
    unsigned failures = 0;
    if (address != NULL && ch->lb.nhealth != 0 &&
        silk__lb_backoff_us(&ch->lb, address, now, &failures) > 0)
        address = NULL;
    size_t len = address != NULL ? strlen(address) : cap;
    bool ok = len < cap;
    if (ok) {
        memcpy(buf, address, len + 1);
        r->tried[r->ntried++ % SILK__LB_MAX_TRIED] = hash;
    }
    silk__mutex_unlock(&ch->mu);
    return ok;
}

void silk__channel_report(silk_channel *ch, const char *address, silk__outcome o)
{
    if (!ch->by_name)
        return;
    int64_t now = silk__now_us();
    silk__mutex_lock(&ch->mu);
    switch (o) {
    case SILK__OUTCOME_LOST:
        silk__lb_conn_failed(&ch->lb, address, false, now);
        break;
    case SILK__OUTCOME_DIAL_FAILED:
        silk__lb_conn_failed(&ch->lb, address, true, now);
        break;
    case SILK__OUTCOME_CONNECTED:
        silk__lb_conn_made(&ch->lb, address);
        break;
    case SILK__OUTCOME_FAILED:
        silk__lb_failed(&ch->lb, address, now);
        break;
    case SILK__OUTCOME_ANSWERED:
        silk__lb_succeeded(&ch->lb, address);
        break;
    }
    silk__mutex_unlock(&ch->mu);
}

/* ============================== open and close ============================== */

static bool valid_target(const char *target, bool *by_name)
{
    if (target == NULL || target[0] == '\0')
        return false;
    *by_name = strstr(target, "://") == NULL;
    if (*by_name)
        return silk__registry_valid_name(target) && strchr(target, ':') == NULL;
    nng_url *u;
    if (nng_url_parse(&u, target) != 0)
        return false;
    nng_url_free(u);
    return true;
}

/* hold_tls gives a channel that dials TLS only ($SILK_TLS_CA) the process's client
 * configuration; SILK_FAILED_PRECONDITION, logged, when the files cannot be used. */
static silk_status hold_tls(silk_channel *ch)
{
    ch->tls_only = silk__tls_required();
    if (!ch->tls_only)
        return SILK_OK;
    char why[512];
    if ((ch->tls = silk__tls_hold(SILK__TLS_CLIENT, why, sizeof why)) != NULL)
        return SILK_OK;
    silk_log(SILK_LOG_ERROR, "channel", "cannot open a channel target=%s error=\"%s\"", ch->target,
             why);
    return SILK_FAILED_PRECONDITION;
}

silk_status silk_channel_open(silk_channel **chp, const char *target)
{
    bool by_name = false;
    if (chp == NULL || !valid_target(target, &by_name))
        return SILK_INVALID_ARGUMENT;
    silk_channel *ch = calloc(1, sizeof *ch);
    if (ch == NULL || (ch->target = strdup(target)) == NULL) {
        free(ch);
        return SILK_RESOURCE_EXHAUSTED;
    }
    ch->by_name = by_name;
    ch->target_hash = silk__lb_address_hash(ch->target);
    ch->wake_fd = -1;
    ch->max_message = SILK__MAX_MESSAGE_DEFAULT;
    silk__lb_init(&ch->lb, ch->target);
    if (!by_name)
        ch->lb.breaker_failures = 0; /* one address: nothing to fail over to */
    atomic_init(&ch->policy, (int)ch->lb.policy);
    atomic_init(&ch->direct_off, false);
    long keepalive = 0; /* as an option would be: 0 the default, negative off */
    silk__env_long("SILK_KEEPALIVE_MS", LONG_MIN, UINT_MAX, &keepalive);
    ch->keepalive_ms = keepalive == 0 ? KEEPALIVE_MS : keepalive < 0 ? 0 : (unsigned)keepalive;
    const char *token = silk__env_str("SILK_TOKEN");
    silk_status st = SILK_OK;
    if (token != NULL && (ch->token = strdup(token)) == NULL)
        st = SILK_RESOURCE_EXHAUSTED;
    if (st == SILK_OK)
        st = hold_tls(ch);
    if (st == SILK_OK && by_name)
        st = silk_registry_open(&ch->reg, NULL);
    if (st != SILK_OK) {
        silk__tls_rele(ch->tls);
        silk_registry_close(ch->reg);
        silk__lb_fini(&ch->lb);
        free(ch->token);
        free(ch->target);
        free(ch);
        return st;
    }
    silk__mutex_init(&ch->mu);
    pthread_cond_init(&ch->cv, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&ch->resolver_cv, &attr);
    pthread_condattr_destroy(&attr);
    if (by_name) {
        /* The first view is read here, so that a call right after open finds the instances
         * already up; later ones are the channel thread's. */
        resolve(ch);
        if (silk__thread_start(&ch->resolver, channel_main, ch) != 0) {
            silk_channel_close(ch);
            return SILK_RESOURCE_EXHAUSTED;
        }
        ch->resolver_running = true;
        /* The poll stays the backstop: a watch is a hint to read now. */
        silk_status wst =
            silk_registry_watch(ch->reg, ch->target, on_registry_change, ch, &ch->watch_id);
        if (wst != SILK_OK)
            silk_log(SILK_LOG_WARN, "channel", "cannot watch the registry service=%s status=%s",
                     ch->target, silk_status_str(wst));
    }
    *chp = ch;
    return SILK_OK;
}

silk_status silk_channel_open_service(silk_channel **chp, const silk_service_desc *desc)
{
    if (chp == NULL || desc == NULL)
        return SILK_INVALID_ARGUMENT;
    silk_status st = silk_channel_open(chp, desc->name);
    if (st == SILK_OK && desc->websocket)
        silk_channel_set_policy(*chp, SILK_LB_HASH);
    return st;
}

void silk_channel_close(silk_channel *ch)
{
    if (ch == NULL)
        return;
    if (ch->watch_id != 0)
        silk_registry_unwatch(ch->reg, ch->watch_id); /* never with ch->mu held: it takes it */
    silk__mutex_lock(&ch->mu);
    ch->closing = true;
    pthread_cond_signal(&ch->resolver_cv);
    silk__direct_wake(ch); /* blocking calls on their callers' threads stop waiting */
    silk__peer *peers = ch->peers;
    ch->peers = NULL;
    for (silk__peer *l = peers; l != NULL; l = l->next)
        l->in_table = false; /* the table's references are now ours */
    silk__mutex_unlock(&ch->mu);

    for (silk__peer *l = peers, *next; l != NULL; l = next) {
        next = l->next;
        silk__stream_conn_close(&l->conn, SILK_CANCELLED, "the channel is closed");
        silk__stream_conn_rele(&l->conn);
    }

    silk__mutex_lock(&ch->mu);
    while (ch->npeers > 0 || ch->direct_busy > 0)
        silk__cond_wait(&ch->cv, &ch->mu);
    silk__mutex_unlock(&ch->mu);
    silk__direct_close_all(ch);
    if (ch->resolver_running)
        pthread_join(ch->resolver, NULL);
    silk__channel_cancel_scheduled(ch); /* nothing sends them now */

    silk__lb_fini(&ch->lb);
    silk_registry_close(ch->reg);
    silk__tls_rele(ch->tls);
    silk__chain_fini(&ch->chain);
    free(ch->token);
    free(ch->target);
    pthread_cond_destroy(&ch->resolver_cv);
    pthread_cond_destroy(&ch->cv);
    silk__mutex_destroy(&ch->mu);
    free(ch);
}
