/* directory_redis.c - the session directory in the Redis registry's database.
 *
 * Keys: "silk/dir/<business>" is the set of the ids of the gateways holding sessions of the
 * business; "silk/dir-gw/<gateway id>" the set of the businesses a gateway has entries for (so
 * that a gateway started again under the same id can forget its last run's); and
 * "silk/dir-mark/<gateway id>" a mark with a TTL, set once the gateway's entries are complete
 * and renewed while they stay so: when it is gone, the database lost what the gateway wrote. An
 * entry naming a gateway whose SessionManager record and mark have expired is dropped by the
 * lookup that finds it. */
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#include <silk/ws.h>

#include "core/clock.h"
#include "registry/redis_conn.h"

/* How many businesses one pipeline of a sync writes. */
#define SYNC_BATCH 256

/* forget_script forgets every entry of the gateway ARGV[1] (its index KEYS[1]) and its mark
 * (KEYS[2]). */
static const char forget_script[] = "for _, b in ipairs(redis.call('SMEMBERS', KEYS[1])) do "
                                    "redis.call('SREM', 'silk/dir/' .. b, ARGV[1]) end "
                                    "redis.call('DEL', KEYS[1], KEYS[2]) return 1";

/* lookup_script returns false when the directory cannot be trusted now: no gateway is
 * registered (KEYS[2] empty: the store restarted empty), a live gateway (its record ARGV[1] ..
 * id is there) has no mark (it is writing its entries again), or a gateway of the business's
 * set (KEYS[1]) has its mark but not its record (it is alive, registering again: the
 * registry's view may still hold its address). Else, for each gateway in the set whose record
 * is there, its id and record; one whose record and mark are both gone (dead) leaves the set
 * and its index (ARGV[2] is the business). */
static const char lookup_script[] =
    "local live = redis.call('SMEMBERS', KEYS[2]) "
    "if #live == 0 then return false end "
    "for _, id in ipairs(live) do "
    "if redis.call('EXISTS', ARGV[1] .. id) == 1 and "
    "redis.call('EXISTS', 'silk/dir-mark/' .. id) == 0 then return false end end "
    "local out = {} "
    "for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do "
    "local rec = redis.call('GET', ARGV[1] .. id) "
    "if rec then out[#out + 1] = id out[#out + 1] = rec "
    "elseif redis.call('EXISTS', 'silk/dir-mark/' .. id) == 1 then return false "
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
                                 size_t n, int64_t ttl_ms)
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
    if (st == SILK_OK && ttl_ms > 0) { /* complete: say so */
        redisAppendCommand(r->ctx, "SET silk/dir-mark/%s 1 PX %lld", gateway_id, (long long)ttl_ms);
        st = run(r, 1, NULL);
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
        redisAppendCommand(r->ctx, "PEXPIRE silk/dir-mark/%s %lld", gateway_id, (long long)ttl_ms);
        redisAppendCommand(r->ctx, "PEXPIRE silk/dir-gw/%s %lld", gateway_id, (long long)ttl_ms);
        st = run(r, 2, reps);
        if (st == SILK_OK)
            *was_there = reps[0]->type == REDIS_REPLY_INTEGER && reps[0]->integer == 1;
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

/* recovering tells whether r reconnected less than a TTL ago (Redis restarted empty, say): a
 * gateway may then be neither registered again nor have written its entries again, so the
 * directory would not name it, and only the registry's last view (kept for that TTL) still
 * knows it. r->mu is held. */
static bool recovering(const silk__redis_reg *r)
{
    return r->recovered_at_us != 0 && silk__now_us() - r->recovered_at_us <= r->conf->ttl_ms * 1000;
}

silk_status silk__redis_dir_lookup(void *data, const char *business, silk_instance_list *out)
{
    silk__redis_reg *r = data;
    redisReply *rep = NULL;
    silk__mutex_lock(&r->mu);
    silk_status st = SILK_UNAVAILABLE;
    if (silk__redis_ready(r) && !recovering(r)) {
        redisAppendCommand(r->ctx, "EVAL %s 2 silk/dir/%s silk/svc/%s silk/inst/%s/ %s",
                           lookup_script, business, SILK_WS_SESSION_MANAGER,
                           SILK_WS_SESSION_MANAGER, business);
        st = run(r, 1, &rep);
        if (st == SILK_OK)
            st = rep->type == REDIS_REPLY_ARRAY ? add_records(rep, out)
                                                : SILK_UNAVAILABLE; /* nil: not to be trusted now */
        silk__redis_free_replies(&rep, 1);
    }
    silk__mutex_unlock(&r->mu);
    return st;
}
