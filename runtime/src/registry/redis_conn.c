/* redis_conn.c - the Redis registry's link to Redis, on hiredis: connecting with timeouts and
 * the DB selected, exchanges of pipelined commands, SIGPIPE kept from the process, and the
 * outage bookkeeping (one warning per outage, reconnections at most every 500 ms). */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <silk/log.h>

#include "core/clock.h"
#include "registry/redis_conn.h"

/* A write to a connection Redis closed raises SIGPIPE: it is blocked around every exchange
 * and a SIGPIPE it raised is taken back, so the process's own handling is left alone. */
typedef struct pipe_guard {
    sigset_t old;
    bool was_pending;
} pipe_guard;

static void guard_begin(pipe_guard *g)
{
    sigset_t set, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigpending(&pending);
    g->was_pending = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &set, &g->old);
}

static void guard_end(pipe_guard *g)
{
    sigset_t set, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigpending(&pending);
    if (!g->was_pending && sigismember(&pending, SIGPIPE) == 1) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR) {
        }
    }
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

bool silk__redis_reply_ok(const redisReply *rep)
{
    return rep != NULL && rep->type != REDIS_REPLY_ERROR;
}

/* refusal tells whether Redis's error err refuses a connection's credentials. */
static bool refusal(const char *cmd, const char *err)
{
    return strcmp(cmd, "AUTH") == 0 || strncmp(err, "NOAUTH", 6) == 0 ||
           strncmp(err, "WRONGPASS", 9) == 0;
}

/* setup sends one command of a new connection's setup (AUTH, SELECT, PING); false, with
 * Redis's error in why (Redis never repeats a password), when it fails. *refused tells
 * whether Redis refused the credentials. */
static bool setup(redisContext *c, int argc, const char **argv, char *why, size_t cap,
                  bool *refused)
{
    pipe_guard g;
    guard_begin(&g);
    redisReply *rep = redisCommandArgv(c, argc, argv, NULL);
    guard_end(&g);
    bool ok = silk__redis_reply_ok(rep);
    if (!ok) {
        const char *err = rep != NULL && rep->str != NULL ? rep->str
                          : c->errstr[0] != '\0'          ? c->errstr
                                                          : "no answer";
        *refused = rep != NULL && refusal(argv[0], err);
        snprintf(why, cap, "%s", err);
    }
    if (rep != NULL)
        freeReplyObject(rep);
    return ok;
}

/* connect_to opens a connection with the timeouts set, authenticated and with the DB
 * selected (or pinged: a Redis that wants a password says so then); NULL, with why filled
 * and *refused telling whether the credentials were refused, on failure. */
static redisContext *connect_to(const silk__redis_reg *r, char *why, size_t cap, bool *refused)
{
    *refused = false;
    struct timeval tv = {0, SILK__REDIS_TIMEOUT_US};
    redisContext *c = redisConnectWithTimeout(r->host, r->port, tv);
    if (c == NULL || c->err != 0 || redisSetTimeout(c, tv) != REDIS_OK) {
        snprintf(why, cap, "cannot connect");
        if (c != NULL)
            redisFree(c);
        return NULL;
    }
    redisEnableKeepAlive(c);
    char db[16];
    snprintf(db, sizeof db, "%d", r->db);
    const char *auth_user[] = {"AUTH", r->user, r->pass}, *auth[] = {"AUTH", r->pass};
    const char *select[] = {"SELECT", db}, *ping[] = {"PING"};
    bool ok = true;
    if (r->pass[0] != '\0')
        ok = r->user[0] != '\0' ? setup(c, 3, auth_user, why, cap, refused)
                                : setup(c, 2, auth, why, cap, refused);
    if (ok)
        ok = r->db != 0 ? setup(c, 2, select, why, cap, refused)
                        : setup(c, 1, ping, why, cap, refused);
    if (!ok) {
        redisFree(c);
        return NULL;
    }
    return c;
}

/* lost drops the command connection after a failure; the first failure of an outage warns,
 * and so does the first refusal of the credentials. */
static void lost(silk__redis_reg *r, const char *why, bool refused)
{
    SILK__ASSERT_HELD(&r->mu);
    if (r->ctx != NULL) {
        redisFree(r->ctx);
        r->ctx = NULL;
    }
    r->retry_at_us = silk__now_us() + SILK__REDIS_RETRY_US;
    bool first = !r->down || refused != r->refused;
    r->refused = refused;
    if (first && refused)
        silk_log(SILK_LOG_ERROR, "registry",
                 "redis %s:%d refused the credentials of the registry URL (%s): check its "
                 "user and password",
                 r->host, r->port, why);
    else if (!r->down)
        silk_log(SILK_LOG_WARN, "registry",
                 "redis %s:%d unreachable (%s): serving the last known view until it is back",
                 r->host, r->port, why);
    r->down = true;
}

/* peer_closed tells whether Redis closed an idle connection (it was restarted): nothing is
 * ever left to read on it otherwise. */
static bool peer_closed(const redisContext *c)
{
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    return poll(&p, 1, 0) != 0;
}

bool silk__redis_ready(silk__redis_reg *r)
{
    SILK__ASSERT_HELD(&r->mu);
    if (r->ctx != NULL && !peer_closed(r->ctx))
        return true;
    if (r->ctx != NULL) { /* reconnect at once, quietly: a new Redis may be there already */
        redisFree(r->ctx);
        r->ctx = NULL;
        r->retry_at_us = 0;
    }
    if (silk__now_us() < r->retry_at_us)
        return false;
    char why[256];
    bool refused = false;
    r->ctx = connect_to(r, why, sizeof why, &refused);
    if (r->ctx == NULL) {
        lost(r, why, refused);
        return false;
    }
    r->refused = false;
    if (r->connected_before)
        r->recovered_at_us = silk__now_us();
    r->connected_before = true;
    if (r->down) {
        r->down = false;
        silk_log(SILK_LOG_INFO, "registry", "redis %s:%d reachable again", r->host, r->port);
    }
    return true;
}

bool silk__redis_exchange(silk__redis_reg *r, redisReply **reps, int n)
{
    SILK__ASSERT_HELD(&r->mu);
    pipe_guard g;
    bool ok = true;
    int got = 0;
    guard_begin(&g);
    for (; got < n && ok; got++) {
        void *rep = NULL;
        ok = redisGetReply(r->ctx, &rep) == REDIS_OK && rep != NULL;
        reps[got] = rep;
    }
    guard_end(&g);
    if (ok)
        return true;
    for (int i = 0; i < got; i++) {
        if (reps[i] != NULL)
            freeReplyObject(reps[i]);
        reps[i] = NULL;
    }
    char why[128];
    snprintf(why, sizeof why, "%s", r->ctx->errstr[0] != '\0' ? r->ctx->errstr : "connection lost");
    lost(r, why, false);
    return false;
}

void silk__redis_free_replies(redisReply **reps, int n)
{
    for (int i = 0; i < n; i++) {
        if (reps[i] != NULL)
            freeReplyObject(reps[i]);
    }
}

/* decode copies the n bytes of s into out (cap bytes with the NUL), percent-decoded; false
 * when they do not fit or a %XX is malformed. */
static bool decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= n)
                return false;
            char hex[3] = {s[i + 1], s[i + 2], '\0'};
            char *end;
            long v = strtol(hex, &end, 16);
            if (end != hex + 2 || v == 0)
                return false;
            c = (char)v;
            i += 2;
        }
        if (k + 1 >= cap)
            return false;
        out[k++] = c;
    }
    out[k] = '\0';
    return true;
}

/* parse_userinfo reads "USER:PASSWORD" (either may be empty) into r. */
static bool parse_userinfo(silk__redis_reg *r, const char *info, size_t n)
{
    const char *colon = memchr(info, ':', n);
    if (colon == NULL) /* "redis://PASSWORD@": ambiguous, as in Redis's own URIs */
        return false;
    size_t user_len = (size_t)(colon - info);
    return decode(info, user_len, r->user, sizeof r->user) &&
           decode(colon + 1, n - user_len - 1, r->pass, sizeof r->pass) &&
           (r->pass[0] != '\0' || r->user[0] == '\0');
}

bool silk__redis_parse_where(silk__redis_reg *r, const char *where)
{
    if (strncmp(where, "//", 2) != 0)
        return false;
    where += 2;
    size_t authority = strcspn(where, "/");
    const char *at = NULL;
    for (const char *p = where; p < where + authority; p++)
        at = *p == '@' ? p : at;
    if (at != NULL) {
        if (!parse_userinfo(r, where, (size_t)(at - where)))
            return false;
        where = at + 1;
    }
    size_t host_len = strcspn(where, ":/");
    if (host_len == 0 || host_len >= sizeof r->host)
        return false;
    memcpy(r->host, where, host_len);
    r->host[host_len] = '\0';
    const char *p = where + host_len;
    char *end;
    r->port = 6379;
    if (*p == ':') {
        long port = strtol(p + 1, &end, 10);
        if (end == p + 1 || port <= 0 || port > 65535)
            return false;
        r->port = (int)port;
        p = end;
    }
    if (*p == '/' && p[1] != '\0') {
        long db = strtol(p + 1, &end, 10);
        if (end == p + 1 || *end != '\0' || db < 0 || db > 1000000)
            return false;
        r->db = (int)db;
        p = end;
    } else if (*p == '/') {
        p++;
    }
    return *p == '\0';
}

bool silk__redis_subscribe(silk__redis_reg *r)
{
    char why[256];
    bool refused;
    r->sub = connect_to(r, why, sizeof why, &refused);
    if (r->sub == NULL)
        return false;
    pipe_guard g;
    guard_begin(&g);
    redisReply *rep = redisCommand(r->sub, "SUBSCRIBE %s", r->channel);
    guard_end(&g);
    bool ok = rep != NULL && rep->type == REDIS_REPLY_ARRAY;
    if (rep != NULL)
        freeReplyObject(rep);
    if (!ok) {
        redisFree(r->sub);
        r->sub = NULL;
    }
    return ok;
}
