/* directory_redis.c - the session directory in the Redis registry's database.
 *
 * Keys: "silk/dir/<business>" is the set of the ids of the gateways holding sessions of the
 * business; "silk/dir-gw/<gateway id>" the set of the businesses a gateway has entries for (so
 * that a gateway started again under the same id can forget its last run's); and
 * "silk/dir-mark/<gateway id>" a mark with a TTL that the gateway renews: when it is gone, the
 * database lost what the gateway wrote. An entry naming a gateway whose SessionManager record
 * has expired is dropped by the lookup that finds it. */
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#include <silk/ws.h>

#include "registry/redis_conn.h"

/* How many businesses one pipeline of a sync writes. */
#define SYNC_BATCH 256

/* forget_script forgets every entry of the gateway ARGV[1] (its index KEYS[1]) and its mark
 * (KEYS[2]). */
static const char forget_script[] = "for _, b in ipairs(redis.call('SMEMBERS', KEYS[1])) do "
                                    "redis.call('SREM', 'silk/dir/' .. b, ARGV[1]) end "
                                    "redis.call('DEL', KEYS[1], KEYS[2]) return 1";

/* lookup_script returns, for each gateway in the business's set (KEYS[1]) whose record
 * (ARGV[1] .. id) is there, its id and record; the others leave the set and their index. */
static const char lookup_script[] =
    "local out = {} "
    "for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do "
    "local rec = redis.call('GET', ARGV[1] .. id) "
    "if rec then out[#out + 1] = id out[#out + 1] = rec "
    "else redis.call('SREM', KEYS[1], id) redis.call('SREM', 'silk/dir-gw/' .. id, ARGV[2]) "
    "end end return out";

/* run sends the n commands appended to r->ctx and checks that every reply is one; r->mu is
 * held. The replies are freed unless reps is given (n of them). */
static silk_status run(silk__redis_reg *r, int n, redisReply **reps)
{
    redisReply *mine[2 * SYNC_BATCH] = {0};
    redisReply **got = reps != NULL ? reps : mine;
    if (!silk__redis_exchange(r, got, n))
        return SILK_UNAVAILABLE;
    bool ok = true;
    for (int i = 0; i < n; i++)
        ok = ok && silk__redis_reply_ok(got[i]);
    if (reps == NULL)
        silk__redis_free_replies(got, n);
    return ok ? SILK_OK : SILK_UNAVAILABLE;
}

silk_status silk__redis_dir_set(void *data, const char *gateway_id, const char *business,
                                bool present)
{
    silk__redis_reg *r = data;
    const char *op = present ? "SADD" : "SREM";
    silk__mutex_lock(&r->mu);
    silk_status st = SILK_UNAVAILABLE;
    if (silk__redis_ready(r)) {
        redisAppendCommand(r->ctx, "%s silk/dir/%s %s", op, business, gateway_id);
        redisAppendCommand(r->ctx, "%s silk/dir-gw/%s %s", op, gateway_id, business);
        st = run(r, 2, NULL);
    }
    silk__mutex_unlock(&r->mu);
    return st;
}

silk_status silk__redis_dir_sync(void *data, const char *gateway_id, const char *const *businesses,
                                 size_t n)
{
    silk__redis_reg *r = data;
    silk__mutex_lock(&r->mu);
    silk_status st = SILK_UNAVAILABLE;
    if (silk__redis_ready(r)) {
        redisAppendCommand(r->ctx, "EVAL %s 2 silk/dir-gw/%s silk/dir-mark/%s %s", forget_script,
                           gateway_id, gateway_id, gateway_id);
        st = run(r, 1, NULL);
    }
    for (size_t i = 0; st == SILK_OK && i < n; i += SYNC_BATCH) {
        size_t end = i + SYNC_BATCH < n ? i + SYNC_BATCH : n;
        for (size_t j = i; j < end; j++) {
            redisAppendCommand(r->ctx, "SADD silk/dir/%s %s", businesses[j], gateway_id);
            redisAppendCommand(r->ctx, "SADD silk/dir-gw/%s %s", gateway_id, businesses[j]);
        }
        st = run(r, (int)(2 * (end - i)), NULL);
    }
    silk__mutex_unlock(&r->mu);
    return st;
}

silk_status silk__redis_dir_mark(void *data, const char *gateway_id, int64_t ttl_ms,
                                 bool *was_there)
{
    silk__redis_reg *r = data;
    redisReply *reps[2] = {0};
    *was_there = false;
    silk__mutex_lock(&r->mu);
    silk_status st = SILK_UNAVAILABLE;
    if (silk__redis_ready(r)) {
        redisAppendCommand(r->ctx, "SET silk/dir-mark/%s 1 PX %lld GET", gateway_id,
                           (long long)ttl_ms);
        redisAppendCommand(r->ctx, "PEXPIRE silk/dir-gw/%s %lld", gateway_id, (long long)ttl_ms);
        st = run(r, 2, reps);
        if (st == SILK_OK)
            *was_there = reps[0]->type == REDIS_REPLY_STRING;
        silk__redis_free_replies(reps, 2);
    }
    silk__mutex_unlock(&r->mu);
    return st;
}

/* add_records adds the (id, record) pairs of a lookup's reply to out. */
static silk_status add_records(const redisReply *rep, silk_instance_list *out)
{
    for (size_t i = 0; i + 1 < rep->elements; i += 2) {
        const redisReply *id = rep->element[i], *rec = rep->element[i + 1];
        if (id->type != REDIS_REPLY_STRING || rec->type != REDIS_REPLY_STRING ||
            !silk__registry_valid_name(id->str))
            continue;
        silk_instance inst = {.service = SILK_WS_SESSION_MANAGER, .id = id->str};
        if (!silk__record_parse(rec->str, &inst))
            continue;
        silk_status st = silk__instance_list_add(out, &inst);
        if (st != SILK_OK)
            return st;
    }
    return SILK_OK;
}

silk_status silk__redis_dir_lookup(void *data, const char *business, silk_instance_list *out)
{
    silk__redis_reg *r = data;
    redisReply *rep = NULL;
    silk__mutex_lock(&r->mu);
    silk_status st = SILK_UNAVAILABLE;
    if (silk__redis_ready(r)) {
        redisAppendCommand(r->ctx, "EVAL %s 1 silk/dir/%s silk/inst/%s/ %s", lookup_script,
                           business, SILK_WS_SESSION_MANAGER, business);
        st = run(r, 1, &rep);
        if (st == SILK_OK)
            st = rep->type == REDIS_REPLY_ARRAY ? add_records(rep, out) : SILK_UNAVAILABLE;
        silk__redis_free_replies(&rep, 1);
    }
    silk__mutex_unlock(&r->mu);
    return st;
}
