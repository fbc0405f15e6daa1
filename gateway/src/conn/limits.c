/* limits.c - a connection's limits: admitted or refused by its address, its requests' tokens,
 * and the pace at which its session's client may send (--session-rate). */
#include <pthread.h>
#include <string.h>

#include <ev.h>

#include <silk/log.h>

#include "conn/client.h"

#define LOG "gateway"

typedef silk__gw_client client;

/* count adds one to a counter of l's metrics. */
#define COUNT(l, field)                                                                            \
    do {                                                                                           \
        pthread_mutex_lock(&(l)->metrics_lock);                                                    \
        (l)->metrics.field++;                                                                      \
        pthread_mutex_unlock(&(l)->metrics_lock);                                                  \
    } while (0)

/* on_resume reads from a session again once its client may send. */
static void on_resume(struct ev_loop *ev, ev_timer *w, int revents)
{
    client *c = w->data;
    (void)revents;
    c->limits.paused = false;
    c->last_active = ev_now(ev); /* the silence was ours */
    silk__gw_client_drive(c);
}

int silk__gw_limits_admit(silk__gw_loop *l, const silk__gw_addr *peer, silk__gw_client_limits *out)
{
    silk__gw *gw = l->gw;
    memset(out, 0, sizeof *out);
    ev_timer_init(&out->resume, on_resume, 0., 0.); /* its data is set with the connection's */
    silk__gw_bucket_init(&out->messages, gw->opts.session_rate, ev_now(l->ev));
    if (peer == NULL)
        return 0;
    out->peer = *peer;
    out->trusted_peer = silk__gw_cidr_match(gw->opts.trusted, gw->opts.n_trusted, peer);
    if (!silk__gw_peers_active(&gw->peers) || out->trusted_peer)
        return 0;
    silk__gw_addr key = silk__gw_addr_key(peer);
    double wait;
    switch (silk__gw_peers_connect(&gw->peers, &key, ev_now(l->ev), &out->entry, &wait)) {
    case SILK__GW_PEER_FULL:
        COUNT(l, refused_per_address);
        return -1;
    case SILK__GW_PEER_LIMITED:
        out->first_wait = wait;
        /* fall through */
    case SILK__GW_PEER_OK:
        out->first_charged = gw->peers.rate > 0;
        return 0;
    case SILK__GW_PEER_UNTRACKED:
    default:
        return 0;
    }
}

void silk__gw_limits_release(silk__gw_loop *l, silk__gw_client_limits *limits)
{
    if (limits->entry != NULL)
        silk__gw_peers_disconnect(&l->gw->peers, limits->entry);
    limits->entry = NULL;
    ev_timer_stop(l->ev, &limits->resume);
}

double silk__gw_limits_request_wait(client *c)
{
    silk__gw *gw = c->loop->gw;
    silk__gw_client_limits *lim = &c->limits;
    double wait = 0;
    if (gw->peers.rate <= 0)
        return 0;
    if (lim->first_charged) {
        lim->first_charged = false;
        wait = lim->first_wait;
    } else if (lim->entry != NULL) {
        wait = silk__gw_peers_take_at(&gw->peers, lim->entry, ev_now(c->loop->ev));
    } else if (lim->trusted_peer) {
        silk__gw_addr from = silk__gw_client_address(&lim->peer, gw->opts.trusted,
                                                     gw->opts.n_trusted, &c->http->req);
        silk__gw_addr key = silk__gw_addr_key(&from);
        wait = silk__gw_peers_take(&gw->peers, &key, ev_now(c->loop->ev));
    }
    if (wait > 0)
        COUNT(c->loop, rate_limited_requests);
    return wait;
}

void silk__gw_limits_count_message(client *c)
{
    const silk__gw_opts *o = &c->loop->gw->opts;
    silk__gw_client_limits *lim = &c->limits;
    if (o->session_rate <= 0)
        return;
    struct ev_loop *ev = c->loop->ev;
    double wait =
        silk__gw_bucket_spend(&lim->messages, o->session_rate, o->session_rate, ev_now(ev));
    if (wait <= 0 || lim->paused)
        return;
    COUNT(c->loop, session_pauses);
    lim->paused = true;
    silk__gw_ws_pause(c->ws);
    ev_timer_set(&lim->resume, wait, 0.);
    ev_timer_start(ev, &lim->resume);
    silk_log(SILK_LOG_DEBUG, LOG, "session paused by --session-rate session_id=%s seconds=%.3f",
             c->session_id, wait);
}

bool silk__gw_limits_reading_paused(const client *c)
{
    return c->limits.paused;
}
