/* upstream.c - a loop's calls to the services: one silk_loop_channel per service, whose
 * sockets this loop's libev watches, so that a hook or an HTTP call and its completion stay on
 * the loop's thread (no hand-off to nng's threads and back); what the runtime still makes
 * through the gateway's channel comes back as a posted task. */
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "loop/loop.h"
#include "loop/upstream.h"

/* ============================================================================
 * The loop channel's side of libev
 * ========================================================================== */

static void on_io(struct ev_loop *ev, ev_io *w, int revents)
{
    (void)ev;
    silk_loop_io_ready(w->data, ((revents & EV_READ) ? SILK_LOOP_READ : 0) |
                                    ((revents & EV_WRITE) ? SILK_LOOP_WRITE : 0));
}

static int io(void *loop, void **state, int fd, int events, void *token)
{
    SILK__GW_ASSERT_ON_LOOP((silk__gw_loop *)loop);
    silk__gw_loop *l = loop;
    ev_io *w = *state;
    if (events == 0) {
        if (w != NULL) {
            ev_io_stop(l->ev, w);
            free(w);
            *state = NULL;
        }
        return 0;
    }
    if (w == NULL) {
        if ((w = malloc(sizeof *w)) == NULL)
            return -1;
        ev_io_init(w, on_io, fd, 0);
        w->data = token;
        *state = w;
    }
    ev_io_stop(l->ev, w);
    ev_io_set(w, fd,
              ((events & SILK_LOOP_READ) ? EV_READ : 0) |
                  ((events & SILK_LOOP_WRITE) ? EV_WRITE : 0));
    ev_io_start(l->ev, w);
    return 0;
}

static void post(void *loop, silk_loop_task *task)
{
    silk__gw_loop_post(loop, task);
}

/* How many times one flush goes round the loop channels while flushing one started calls on
 * another (a connection that failed completes its calls from its flush); what is left then
 * goes at the next turn, or the next tick. */
#define FLUSH_ROUNDS 4

/* on_flush writes the requests the loop's turn made, one send per connection, before the
 * loop waits: a request never waits for its socket to be reported writable. */
static void on_flush(struct ev_loop *ev, ev_prepare *w, int revents)
{
    (void)ev;
    (void)revents;
    silk__gw_loop *l = w->data;
    bool wrote = true;
    for (int round = 0; wrote && round < FLUSH_ROUNDS; round++) {
        wrote = false;
        for (size_t i = 0; i < l->gw->n_services; i++)
            wrote |= silk_loop_channel_flush(l->upstream[i]);
    }
}

/* ============================================================================
 * The loop channels
 * ========================================================================== */

int silk__gw_upstream_init(silk__gw_loop *l)
{
    silk__gw *gw = l->gw;
    l->upstream = calloc(gw->n_services ? gw->n_services : 1, sizeof *l->upstream);
    if (l->upstream == NULL)
        return -1;
    silk_loop_ops ops = {.loop = l, .io = io, .post = post, .flushes = true};
    for (size_t i = 0; i < gw->n_services; i++) {
        if (silk_loop_channel_open(&l->upstream[i], gw->channels[i], &ops) != SILK_OK ||
            silk_loop_channel_set_local(l->upstream[i], gw->opts.local) != SILK_OK)
            return -1;
    }
    ev_prepare_init(&l->upstream_flush_w, on_flush);
    l->upstream_flush_w.data = l;
    ev_prepare_start(l->ev, &l->upstream_flush_w);
    return 0;
}

void silk__gw_upstream_fini(silk__gw_loop *l)
{
    if (ev_is_active(&l->upstream_flush_w))
        ev_prepare_stop(l->ev, &l->upstream_flush_w);
    for (size_t i = 0; l->upstream != NULL && i < l->gw->n_services; i++)
        silk_loop_channel_close(l->upstream[i]);
    free(l->upstream);
    l->upstream = NULL;
    silk_ctx_free(l->spare_ctx);
    l->spare_ctx = NULL;
}

silk_ctx *silk__gw_upstream_ctx(silk__gw_loop *l)
{
    SILK__GW_ASSERT_ON_LOOP(l);
    silk_ctx *ctx = l->spare_ctx;
    l->spare_ctx = NULL;
    return ctx != NULL ? ctx : silk_ctx_new();
}

void silk__gw_upstream_ctx_done(silk__gw_loop *l, silk_ctx *ctx)
{
    SILK__GW_ASSERT_ON_LOOP(l);
    if (ctx == NULL || l->spare_ctx != NULL) {
        silk_ctx_free(ctx);
        return;
    }
    silk_ctx_reset(ctx);
    l->spare_ctx = ctx;
}

void silk__gw_upstream_tick(silk__gw_loop *l)
{
    SILK__GW_ASSERT_ON_LOOP(l);
    for (size_t i = 0; i < l->gw->n_services; i++)
        silk_loop_channel_tick(l->upstream[i]);
}

/* count counts k's call in its loop's metrics, ended with st. */
static void count(silk__gw_call *k, silk_status st)
{
    silk__gw_loop *l = k->loop;
    double seconds = ev_now(l->ev) - k->started; /* the loop's clock: no clock read */
    if (seconds < 0)
        seconds = 0;
    pthread_mutex_lock(&l->metrics_lock);
    silk__gw_metrics_upstream_call(&l->metrics, k->method, (int)st, seconds);
    pthread_mutex_unlock(&l->metrics_lock);
}

static void on_done(silk_status st, ProtobufCMessage *resp, const char *message, void *arg)
{
    silk__gw_call *k = arg;
    SILK__GW_ASSERT_ON_LOOP(k->loop);
    count(k, st);
    k->st = st;
    k->resp = resp;
    k->message = message != NULL && message[0] != '\0' ? strdup(message) : NULL;
    k->done(k);
}

silk_status silk__gw_upstream_call(silk__gw_loop *l, silk__gw_call *k, size_t service,
                                   silk_ctx *ctx, const silk_method_desc *method)
{
    SILK__GW_ASSERT_ON_LOOP(l);
    k->loop = l;
    k->method = method;
    k->started = ev_now(l->ev);
    silk_status st =
        silk_loop_channel_call_lent(l->upstream[service], ctx, method, k->req, on_done, k);
    if (st != SILK_OK)
        count(k, st); /* failed at once: done never runs */
    return st;
}

void silk__gw_call_fini(silk__gw_call *k)
{
    k->resp = NULL; /* lent to done, which has returned or is returning */
    if (k->req != NULL)
        protobuf_c_message_free_unpacked(k->req, NULL);
    free(k->message);
}
