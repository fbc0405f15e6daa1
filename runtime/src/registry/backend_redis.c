/* backend_redis.c - the Redis registry, redis://[USER:PASSWORD@]HOST:PORT[/DB], on hiredis:
 * the backend's operations, sent through its link to Redis (redis_conn.c).
 *
 * Keys (in DB): "silk/inst/<service>/<id>" holds an instance's record (silk__record_format)
 * with a TTL; "silk/svc/<service>" is the set of its ids; "silk/services" the set of service
 * names. Register and deregister publish the service's name on "silk/changes/<DB>"; watchers
 * subscribe to it. A heartbeat writes the whole record again (SET ... PX), so that instances
 * come back by themselves into a Redis restarted empty. Members whose key expired are
 * ignored and removed.
 *
 * Every command has a 300 ms timeout. When Redis cannot be reached, a warning is logged once
 * per outage, reconnection is tried at most every 500 ms, and resolve answers the last view
 * read for the service. For one TTL after a reconnection, resolve adds that last view's
 * instances to what Redis holds, so that a Redis restarted empty does not empty the view
 * until the instances' heartbeats have filled it again. */
#include <hiredis/hiredis.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <silk/log.h>

#include "core/clock.h"
#include "registry/redis_conn.h"

static const char cleanup_script[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return redis.call('SREM', KEYS[2], ARGV[1]) "
    "end return 0";

/* prune_script drops from a service's set (KEYS[1]) the ids whose record (ARGV[2]..id) is
 * gone, and the service (ARGV[1]) from silk/services (KEYS[2]) when none is left; it returns
 * the ids left. A register adds the id to the service's set before the service to
 * silk/services, so a prune running between the two cannot lose a service just registered. */
static const char prune_script[] =
    "for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do "
    "if redis.call('EXISTS', ARGV[2] .. id) == 0 then redis.call('SREM', KEYS[1], id) end end "
    "local n = redis.call('SCARD', KEYS[1]) "
    "if n == 0 then redis.call('SREM', KEYS[2], ARGV[1]) end return n";

/* ============================== keys ============================== */

static int inst_key(char *buf, size_t cap, const char *service, const char *id)
{
    return snprintf(buf, cap, "silk/inst/%s/%s", service, id);
}

static int svc_key(char *buf, size_t cap, const char *service)
{
    return snprintf(buf, cap, "silk/svc/%s", service);
}

/* ============================== open and close ============================== */

static void redis_close(void *data);

static silk_status redis_open(void **datap, const char *where, const silk__registry_conf *conf)
{
    silk__redis_reg *r = calloc(1, sizeof *r);
    if (r == NULL)
        return SILK_RESOURCE_EXHAUSTED;
    if (!silk__redis_parse_where(r, where)) {
        explicit_bzero(r, sizeof *r);
        free(r);
        return SILK_INVALID_ARGUMENT;
    }
    snprintf(r->channel, sizeof r->channel, "silk/changes/%d", r->db);
    r->conf = conf;
    silk__mutex_init(&r->mu);
    silk__mutex_lock(&r->mu);
    silk__redis_ready(r); /* a Redis down now is no error: it is warned about and tried again */
    bool refused = r->refused;
    silk__mutex_unlock(&r->mu);
    if (refused) { /* wrong credentials are: they will not get better by themselves */
        redis_close(r);
        return SILK_UNAUTHENTICATED;
    }
    *datap = r;
    return SILK_OK;
}

static void redis_close(void *data)
{
    silk__redis_reg *r = data;
    if (r->ctx != NULL)
        redisFree(r->ctx);
    if (r->sub != NULL)
        redisFree(r->sub);
    silk_instance_list_fini(&r->mine);
    for (size_t i = 0; i < r->n_cache; i++) {
        free(r->cache[i].service);
        silk_instance_list_fini(&r->cache[i].view);
    }
    free(r->cache);
    silk__mutex_destroy(&r->mu);
    explicit_bzero(r->pass, sizeof r->pass);
    free(r);
}

/* ============================== register, heartbeat, deregister ============================== */

static silk_instance *find_mine(silk__redis_reg *r, const char *service, const char *id)
{
    for (size_t i = 0; i < r->mine.count; i++) {
        silk_instance *in = &r->mine.items[i];
        if (strcmp(in->service, service) == 0 && strcmp(in->id, id) == 0)
            return in;
    }
    return NULL;
}

static void forget_mine(silk__redis_reg *r, const char *service, const char *id)
{
    silk_instance *in = find_mine(r, service, id);
    if (in == NULL)
        return;
    silk_instance_list gone = {.count = 1, .items = malloc(sizeof *in)};
    if (gone.items == NULL)
        return; /* kept: a later register replaces nothing but still works */
    gone.items[0] = *in;
    *in = r->mine.items[--r->mine.count];
    silk_instance_list_fini(&gone);
}

/* write_record writes inst's whole record with the TTL, in its sets; publishes when asked or
 * when the record was not there (re-created after an expiry or a Redis restart). */
static silk_status write_record(silk__redis_reg *r, const silk_instance *inst, bool publish)
{
    char key[512], set[512], text[4096];
    if (silk__record_format(text, sizeof text, inst) < 0)
        return SILK_INVALID_ARGUMENT;
    inst_key(key, sizeof key, inst->service, inst->id);
    svc_key(set, sizeof set, inst->service);
    if (!silk__redis_ready(r))
        return SILK_UNAVAILABLE;
    redisReply *reps[5] = {0};
    redisAppendCommand(r->ctx, "EXISTS %s", key);
    redisAppendCommand(r->ctx, "SET %s %s PX %lld", key, text, (long long)r->conf->ttl_ms);
    redisAppendCommand(r->ctx, "SADD %s %s", set, inst->id);
    redisAppendCommand(r->ctx, "SADD silk/services %s", inst->service);
    if (!silk__redis_exchange(r, reps, 4))
        return SILK_UNAVAILABLE;
    bool ok = silk__redis_reply_ok(reps[1]) && silk__redis_reply_ok(reps[2]) &&
              silk__redis_reply_ok(reps[3]);
    bool absent = reps[0]->type == REDIS_REPLY_INTEGER && reps[0]->integer == 0;
    silk__redis_free_replies(reps, 4);
    if (ok && (publish || absent)) {
        redisAppendCommand(r->ctx, "PUBLISH %s %s", r->channel, inst->service);
        if (!silk__redis_exchange(r, reps, 1))
            return SILK_UNAVAILABLE;
        silk__redis_free_replies(reps, 1);
    }
    return ok ? SILK_OK : SILK_UNAVAILABLE;
}

static silk_status redis_reg_instance(void *data, const silk_instance *inst)
{
    silk__redis_reg *r = data;
    silk__mutex_lock(&r->mu);
    forget_mine(r, inst->service, inst->id);
    silk_status st = silk__instance_list_add(&r->mine, inst);
    if (st == SILK_OK)
        st = write_record(r, inst, true);
    silk__mutex_unlock(&r->mu);
    return st;
}

static silk_status redis_heartbeat(void *data, const char *service, const char *id)
{
    silk__redis_reg *r = data;
    silk__mutex_lock(&r->mu);
    silk_status st;
    const silk_instance *in = find_mine(r, service, id);
    if (in != NULL) {
        st = write_record(r, in, false);
    } else if (!silk__redis_ready(r)) {
        st = SILK_UNAVAILABLE;
    } else {
        /* Not registered through this handle: keep the record alive if it is there. */
        char key[512];
        redisReply *rep = NULL;
        inst_key(key, sizeof key, service, id);
        redisAppendCommand(r->ctx, "PEXPIRE %s %lld", key, (long long)r->conf->ttl_ms);
        st = SILK_UNAVAILABLE;
        if (silk__redis_exchange(r, &rep, 1)) {
            if (rep->type == REDIS_REPLY_INTEGER)
                st = rep->integer == 1 ? SILK_OK : SILK_NOT_FOUND;
            freeReplyObject(rep);
        }
    }
    silk__mutex_unlock(&r->mu);
    return st;
}

static silk_status redis_dereg(void *data, const char *service, const char *id)
{
    silk__redis_reg *r = data;
    char key[512], set[512];
    inst_key(key, sizeof key, service, id);
    svc_key(set, sizeof set, service);
    silk__mutex_lock(&r->mu);
    forget_mine(r, service, id);
    silk_status st = SILK_UNAVAILABLE;
    redisReply *reps[3] = {0};
    if (silk__redis_ready(r)) {
        redisAppendCommand(r->ctx, "DEL %s", key);
        redisAppendCommand(r->ctx, "SREM %s %s", set, id);
        redisAppendCommand(r->ctx, "PUBLISH %s %s", r->channel, service);
        if (silk__redis_exchange(r, reps, 3)) {
            st = silk__redis_reply_ok(reps[0]) && silk__redis_reply_ok(reps[1]) ? SILK_OK
                                                                                : SILK_UNAVAILABLE;
            silk__redis_free_replies(reps, 3);
        }
    }
    silk__mutex_unlock(&r->mu);
    return st;
}

/* ============================== resolve ============================== */

static silk__redis_view *find_cached(silk__redis_reg *r, const char *service)
{
    for (size_t i = 0; i < r->n_cache; i++) {
        if (strcmp(r->cache[i].service, service) == 0)
            return &r->cache[i];
    }
    return NULL;
}

/* remember makes view the service's last known view. */
static void remember(silk__redis_reg *r, const char *service, const silk_instance_list *view)
{
    silk_instance_list copy;
    if (silk__instance_list_copy(&copy, view) != SILK_OK)
        return;
    silk__redis_view *c = find_cached(r, service);
    if (c == NULL) {
        silk__redis_view *grown = realloc(r->cache, (r->n_cache + 1) * sizeof *grown);
        char *name = strdup(service);
        if (grown != NULL)
            r->cache = grown;
        if (grown == NULL || name == NULL) {
            free(name);
            silk_instance_list_fini(&copy);
            return;
        }
        c = &r->cache[r->n_cache++];
        *c = (silk__redis_view){.service = name};
    }
    silk_instance_list_fini(&c->view);
    c->view = copy;
}

static bool has_id(const silk_instance_list *list, const char *id)
{
    for (size_t i = 0; i < list->count; i++) {
        if (strcmp(list->items[i].id, id) == 0)
            return true;
    }
    return false;
}

/* read_members reads the service's set; NULL when Redis is down. */
static redisReply *read_members(silk__redis_reg *r, const char *service)
{
    char set[512];
    redisReply *rep = NULL;
    svc_key(set, sizeof set, service);
    if (!silk__redis_ready(r))
        return NULL;
    redisAppendCommand(r->ctx, "SMEMBERS %s", set);
    if (!silk__redis_exchange(r, &rep, 1))
        return NULL;
    if (rep->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(rep);
        return NULL;
    }
    return rep;
}

/* member_id is a member of a service's set, "" when it is not a string (never valid). */
static const char *member_id(const redisReply *members, size_t i)
{
    const redisReply *e = members->element[i];
    return e->type == REDIS_REPLY_STRING ? e->str : "";
}

/* read_records reads the records of members into out, removing members whose key expired;
 * false when Redis went away. */
static bool read_records(silk__redis_reg *r, const char *service, const redisReply *members,
                         silk_instance_list *out)
{
    size_t n = members->elements;
    if (n == 0)
        return true;
    redisReply **reps = calloc(n, sizeof *reps);
    if (reps == NULL)
        return false;
    char key[512], set[512];
    svc_key(set, sizeof set, service);
    for (size_t i = 0; i < n; i++) {
        inst_key(key, sizeof key, service, member_id(members, i));
        redisAppendCommand(r->ctx, "GET %s", key);
    }
    if (!silk__redis_exchange(r, reps, (int)n)) {
        free(reps);
        return false;
    }
    int expired = 0;
    for (size_t i = 0; i < n; i++) {
        const char *id = member_id(members, i);
        silk_instance inst = {.service = (char *)service, .id = (char *)id};
        if (reps[i]->type == REDIS_REPLY_STRING && silk__registry_valid_name(id) &&
            silk__record_parse(reps[i]->str, &inst)) {
            silk__instance_list_add(out, &inst);
        } else if (reps[i]->type == REDIS_REPLY_NIL && id[0] != '\0') {
            inst_key(key, sizeof key, service, id);
            redisAppendCommand(r->ctx, "EVAL %s 2 %s %s %s", cleanup_script, key, set, id);
            expired++;
        }
    }
    silk__redis_free_replies(reps, (int)n);
    bool ok = expired == 0 || silk__redis_exchange(r, reps, expired);
    if (ok && expired > 0)
        silk__redis_free_replies(reps, expired);
    free(reps);
    return ok;
}

/* merge_recent adds the last view's instances missing from out while Redis is recovering. */
static void merge_recent(silk__redis_reg *r, const char *service, silk_instance_list *out)
{
    if (r->recovered_at_us == 0 || silk__now_us() - r->recovered_at_us > r->conf->ttl_ms * 1000)
        return;
    const silk__redis_view *c = find_cached(r, service);
    for (size_t i = 0; c != NULL && i < c->view.count; i++) {
        if (!has_id(out, c->view.items[i].id))
            silk__instance_list_add(out, &c->view.items[i]);
    }
}

static silk_status redis_resolve(void *data, const char *service, silk_instance_list *out)
{
    silk__redis_reg *r = data;
    silk__mutex_lock(&r->mu);
    redisReply *members = read_members(r, service);
    bool fresh = members != NULL;
    if (fresh) {
        fresh = read_records(r, service, members, out);
        freeReplyObject(members);
    }
    silk_status st = SILK_OK;
    if (fresh) {
        merge_recent(r, service, out);
        remember(r, service, out);
    } else {
        silk_instance_list_fini(out);
        const silk__redis_view *c = find_cached(r, service);
        st = c != NULL ? silk__instance_list_copy(out, &c->view) : SILK_UNAVAILABLE;
    }
    silk__mutex_unlock(&r->mu);
    return st;
}

/* prune asks Redis, for each service in names (SMEMBERS silk/services), to drop the ids whose
 * record expired and the service itself when none is left; gone[i] tells that service i was
 * dropped. False when Redis failed or memory is exhausted. */
static bool prune(silk__redis_reg *r, const redisReply *names, bool *gone)
{
    int n = (int)names->elements;
    redisReply **reps = calloc(n != 0 ? (size_t)n : 1, sizeof *reps);
    if (reps == NULL)
        return false;
    for (int i = 0; i < n; i++) {
        const redisReply *e = names->element[i];
        char set[512], prefix[512];
        if (e->type != REDIS_REPLY_STRING) {
            redisAppendCommand(r->ctx, "PING"); /* keeps the replies in step */
            continue;
        }
        svc_key(set, sizeof set, e->str);
        inst_key(prefix, sizeof prefix, e->str, "");
        redisAppendCommand(r->ctx, "EVAL %s 2 %s silk/services %s %s", prune_script, set, e->str,
                           prefix);
    }
    bool ok = silk__redis_exchange(r, reps, n);
    for (int i = 0; ok && i < n; i++)
        gone[i] = reps[i]->type == REDIS_REPLY_INTEGER && reps[i]->integer == 0;
    if (ok)
        silk__redis_free_replies(reps, n);
    free(reps);
    return ok;
}

static silk_status redis_services(void *data, silk__name_list *out)
{
    silk__redis_reg *r = data;
    redisReply *rep = NULL;
    bool *gone = NULL;
    silk_status st = SILK_UNAVAILABLE;
    silk__mutex_lock(&r->mu);
    if (silk__redis_ready(r)) {
        redisAppendCommand(r->ctx, "SMEMBERS silk/services");
        if (silk__redis_exchange(r, &rep, 1) && rep->type == REDIS_REPLY_ARRAY &&
            (gone = calloc(rep->elements + 1, sizeof *gone)) != NULL && prune(r, rep, gone))
            st = SILK_OK;
        for (size_t i = 0; st == SILK_OK && i < rep->elements; i++) {
            if (rep->element[i]->type == REDIS_REPLY_STRING && !gone[i])
                st = silk__name_list_add(out, rep->element[i]->str);
        }
    }
    if (rep != NULL)
        freeReplyObject(rep);
    free(gone);
    silk__mutex_unlock(&r->mu);
    return st;
}

/* ============================== watch ============================== */

static void wait_stop(int stop_fd, int timeout_ms)
{
    struct pollfd p = {.fd = stop_fd, .events = POLLIN};
    poll(&p, 1, timeout_ms);
}

/* redis_wait returns when a change was published, after a (re)subscription (changes may
 * have been missed), when stop_fd is readable, or after timeout_ms. */
static void redis_wait(void *data, int stop_fd, int timeout_ms)
{
    silk__redis_reg *r = data;
    if (r->sub == NULL) {
        if (silk__now_us() >= r->sub_retry_at_us && silk__redis_subscribe(r))
            return;
        r->sub_retry_at_us = silk__now_us() + SILK__REDIS_RETRY_US;
        wait_stop(stop_fd, SILK__REDIS_RETRY_US / 1000 < timeout_ms ? SILK__REDIS_RETRY_US / 1000
                                                                    : timeout_ms);
        return;
    }
    struct pollfd p[2] = {{.fd = r->sub->fd, .events = POLLIN}, {.fd = stop_fd, .events = POLLIN}};
    if (poll(p, 2, timeout_ms) <= 0 || p[0].revents == 0)
        return;
    void *rep = NULL;
    if (redisBufferRead(r->sub) != REDIS_OK) {
        redisFree(r->sub);
        r->sub = NULL;
        return;
    }
    while (redisGetReplyFromReader(r->sub, &rep) == REDIS_OK && rep != NULL) {
        freeReplyObject(rep);
        rep = NULL;
    }
}

const silk__registry_ops silk__registry_redis_ops = {
    .scheme = "redis",
    .open = redis_open,
    .close = redis_close,
    .reg = redis_reg_instance,
    .heartbeat = redis_heartbeat,
    .dereg = redis_dereg,
    .resolve = redis_resolve,
    .services = redis_services,
    .wait = redis_wait,
    .watch_poll_ms = 1000,
    .dir_set = silk__redis_dir_set,
    .dir_sync = silk__redis_dir_sync,
    .dir_mark = silk__redis_dir_mark,
    .dir_lookup = silk__redis_dir_lookup,
    .stream_append = silk__redis_stream_append,
    .stream_read = silk__redis_stream_read,
};
