/* stream_redis.c - the streams in the Redis registry's database, one Lua script a call (by
 * EVALSHA once Redis named the script, so its text is not sent and hashed each time), and the
 * appends of several threads at once sent together, in one write and one exchange.
 *
 * Keys, with the route, business id and idempotency key percent-escaped (every byte that is
 * not printable ASCII, and '/', '%' and ' ', as %XX), so that no two streams share a key:
 * "silk/stream/<route>/<business>" is the Redis stream of the kept messages, entry ids
 * "<offset>-0", fields d (the bytes) and b ("1" binary, "0" text), trimmed to the limit's
 * size exactly (MAXLEN without ~); "silk/stream-meta/<route>/<business>" a hash of the epoch
 * and top (the last offset appended); "silk/stream-idem/<route>/<business>/<key>" the
 * "epoch:offset" an idempotency key was first appended under, with the ttl. An append
 * expires the stream and its meta ttl_s later; once the meta is gone the history is lost, and
 * the next append or range makes a new epoch (and drops what is left of the stream). */
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/redis_conn.h"
#include "registry/stream.h"

/* The longest key: the longest prefix, three names escaped (3 bytes a byte) and slashes. */
#define KEY_CAP (sizeof "silk/stream-idem/" + 3 * (3 * SILK__STREAM_NAME_MAX + 1))

/* The most entries one range asks for: Redis's COUNT is a signed 64-bit number. */
#define RANGE_MAX 1000000000u

/* append_script appends ARGV[4] (binary: ARGV[5]) under the next offset of the stream
 * KEYS[1] with the meta KEYS[2], trimmed to ARGV[2] entries, and expires both ARGV[3] seconds
 * later; a stream without meta gets the epoch ARGV[1]. With an idempotency key KEYS[3] already
 * there it appends nothing; else it records the append there. It returns {epoch, offset,
 * duplicate 0|1}. */
static const char append_script[] =
    "if KEYS[3] then local seen = redis.call('GET', KEYS[3]) "
    "if seen then local e, o = string.match(seen, '^(.*):(%d+)$') "
    "if e then return {e, o, 1} end end end "
    "local m = redis.call('HMGET', KEYS[2], 'epoch', 'top') "
    "local epoch, n = m[1], tonumber(m[2]) or 0 "
    "if not epoch then epoch = ARGV[1] n = 0 redis.call('DEL', KEYS[1]) end "
    "local top = string.format('%d', n + 1) "
    "redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[2], top .. '-0', 'd', ARGV[4], 'b', ARGV[5]) "
    "redis.call('HSET', KEYS[2], 'epoch', epoch, 'top', top) "
    "redis.call('EXPIRE', KEYS[1], ARGV[3]) redis.call('EXPIRE', KEYS[2], ARGV[3]) "
    "if KEYS[3] then redis.call('SET', KEYS[3], epoch .. ':' .. top, 'EX', ARGV[3]) end "
    "return {epoch, top, 0}";

/* range_script answers {epoch, top, the id of the oldest entry kept or nil, the entries from
 * offset ARGV[3] on, at most ARGV[4] of them} of the stream KEYS[1] with the meta KEYS[2]; a
 * stream without meta gets the epoch ARGV[1] and top 0, expiring ARGV[2] seconds later. */
static const char range_script[] =
    "local m = redis.call('HMGET', KEYS[2], 'epoch', 'top') "
    "local epoch, top = m[1], m[2] or '0' "
    "if not epoch then epoch = ARGV[1] top = '0' redis.call('DEL', KEYS[1]) "
    "redis.call('HSET', KEYS[2], 'epoch', epoch, 'top', top) "
    "redis.call('EXPIRE', KEYS[2], ARGV[2]) end "
    "local head = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1) "
    "local first = false if head[1] then first = head[1][1] end "
    "local got = {} if ARGV[4] ~= '0' then "
    "got = redis.call('XRANGE', KEYS[1], ARGV[3], '+', 'COUNT', ARGV[4]) end "
    "return {epoch, top, first, got}";

/* script is a Lua script and the SHA1 Redis knows it by, once SCRIPT LOAD answered it. */
typedef struct script {
    const char *text;
    atomic_bool known; /* sha is set, and never changes again */
    char sha[41];
} script;

static script append_lua = {.text = append_script};
static script range_lua = {.text = range_script};
static pthread_mutex_t sha_mu = PTHREAD_MUTEX_INITIALIZER; /* the one write of each sha */

/* args is one command's arguments, binary-safe. A script's call begins with two slots that
 * eval fills: EVALSHA and the SHA1, or EVAL and the text. */
typedef struct args {
    const char *v[12];
    size_t len[12];
    int n;
} args;

static void arg(args *a, const void *p, size_t len)
{
    a->v[a->n] = p;
    a->len[a->n++] = len;
}

static void arg_str(args *a, const char *s)
{
    arg(a, s, strlen(s));
}

/* escape writes s percent-escaped to out (3 bytes a byte at most) and returns its length. */
static size_t escape(char *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t k = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p > ' ' && *p < 0x7f && *p != '/' && *p != '%') {
            out[k++] = (char)*p;
        } else {
            out[k++] = '%';
            out[k++] = hex[*p >> 4];
            out[k++] = hex[*p & 15];
        }
    }
    return k;
}

/* make_key writes "<kind>/<route>/<business>[/<idem>]", the names escaped, to buf (KEY_CAP
 * bytes; the names are at most SILK__STREAM_NAME_MAX bytes) and returns its length. */
static size_t make_key(char buf[KEY_CAP], const char *kind, const char *route, const char *business,
                       const char *idem)
{
    size_t k = strlen(kind);
    memcpy(buf, kind, k);
    buf[k++] = '/';
    k += escape(buf + k, route);
    buf[k++] = '/';
    k += escape(buf + k, business);
    if (idem != NULL) {
        buf[k++] = '/';
        k += escape(buf + k, idem);
    }
    buf[k] = '\0';
    return k;
}

/* error_status is what an error reply of Redis means for the caller. */
static silk_status error_status(const char *err)
{
    if (strncmp(err, "OOM", 3) == 0 || strstr(err, "OOM command") != NULL)
        return SILK_RESOURCE_EXHAUSTED;
    if (strncmp(err, "ERR", 3) == 0 || strncmp(err, "WRONGTYPE", 9) == 0)
        return SILK_INTERNAL; /* a key of another type in the way, a script refused */
    return SILK_UNAVAILABLE;  /* LOADING, BUSY, READONLY, MASTERDOWN, NOAUTH...: for now */
}

/* request sends the command a on r's connection and reads its reply, an error or not, into *rep;
 * on a broken connection (dropped then) SILK_UNAVAILABLE. r->mu is held. */
static silk_status request(silk__redis_reg *r, args *a, redisReply **rep)
{
    if (redisAppendCommandArgv(r->ctx, a->n, a->v, a->len) != REDIS_OK)
        return SILK_RESOURCE_EXHAUSTED;
    return silk__redis_exchange(r, rep, 1) ? SILK_OK : SILK_UNAVAILABLE;
}

/* learn asks Redis for s's SHA1 with SCRIPT LOAD; an error reply leaves it unknown (EVAL
 * then). Anything but SILK_OK: the connection is no longer usable. r->mu is held. */
static silk_status learn(silk__redis_reg *r, script *s)
{
    args a = {0};
    arg_str(&a, "SCRIPT");
    arg_str(&a, "LOAD");
    arg_str(&a, s->text);
    redisReply *rep = NULL;
    silk_status st = request(r, &a, &rep);
    if (st == SILK_OK && rep->type == REDIS_REPLY_STRING && rep->len == 40) {
        pthread_mutex_lock(&sha_mu);
        if (!atomic_load(&s->known)) {
            memcpy(s->sha, rep->str, 40);
            s->sha[40] = '\0';
            atomic_store(&s->known, true);
        }
        pthread_mutex_unlock(&sha_mu);
    }
    if (rep != NULL)
        freeReplyObject(rep);
    return st;
}

/* run runs s with a's arguments (after its two slots) and leaves the reply in *rep: EVALSHA
 * once the SHA1 is known, EVAL (which loads the script again) when it is not or Redis lost it
 * (NOSCRIPT: restarted, or SCRIPT FLUSH). r->mu is held. */
static silk_status run(silk__redis_reg *r, script *s, args *a, redisReply **rep)
{
    silk_status st = atomic_load(&s->known) ? SILK_OK : learn(r, s);
    if (st != SILK_OK)
        return st;
    if (atomic_load(&s->known)) {
        a->v[0] = "EVALSHA";
        a->len[0] = 7;
        a->v[1] = s->sha;
        a->len[1] = 40;
        st = request(r, a, rep);
        if (st != SILK_OK || (*rep)->type != REDIS_REPLY_ERROR ||
            strncmp((*rep)->str, "NOSCRIPT", 8) != 0)
            return st;
        freeReplyObject(*rep);
        *rep = NULL;
    }
    a->v[0] = "EVAL";
    a->len[0] = 4;
    a->v[1] = s->text;
    a->len[1] = strlen(s->text);
    return request(r, a, rep);
}

/* checked turns an error reply in *rep into its status (and frees it): what eval and
 * append_eval answer. */
static silk_status checked(silk_status st, redisReply **rep)
{
    if (st == SILK_OK && (*rep)->type == REDIS_REPLY_ERROR)
        st = error_status((*rep)->str);
    if (st != SILK_OK && *rep != NULL) {
        silk__redis_free_replies(rep, 1);
        *rep = NULL;
    }
    return st;
}

/* eval runs the script s with a's arguments on r's connection and leaves its reply, not an
 * error, in *rep. */
static silk_status eval(silk__redis_reg *r, script *s, args *a, redisReply **rep)
{
    *rep = NULL;
    silk__mutex_lock(&r->mu);
    silk_status st = SILK_UNAVAILABLE;
    if (silk__redis_ready(r))
        st = run(r, s, a, rep);
    silk__mutex_unlock(&r->mu);
    return checked(st, rep);
}

/* ============================================================================
 * Appends in batches
 *
 * Appends made at once by several threads (a gateway's SessionManager workers) go to Redis
 * together: a thread that finds an exchange of appends under way queues its own, and the
 * first to find none sends every append queued in one write and reads their replies in one
 * exchange (flat combining). One thread alone sends its own at once, as eval does.
 * ========================================================================== */

#define BATCH_MAX 64

/* pending is one queued append, on its thread's stack until done. */
typedef struct pending {
    silk__redis_reg *r;
    args *a;
    redisReply *rep;
    silk_status st;
    bool done; /* rep and st are set; under batcher.mu */
    struct pending *next;
} pending;

static struct {
    pthread_mutex_t mu; /* guards all below */
    pthread_cond_t cv;  /* an exchange of appends ended */
    pending *head, *tail;
    bool busy; /* a thread is exchanging appends */
} batcher = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, false};

/* take moves up to BATCH_MAX of the queued appends to the first one's registry into b, in
 * their order, and returns how many. batcher.mu is held. */
static int take(pending **b)
{
    silk__redis_reg *r = batcher.head->r;
    pending **link = &batcher.head, *last = NULL;
    int n = 0;
    while (*link != NULL && n < BATCH_MAX) {
        pending *p = *link;
        if (p->r == r) {
            *link = p->next;
            b[n++] = p;
        } else {
            last = p;
            link = &p->next;
        }
    }
    for (pending *p = *link; p != NULL; p = p->next)
        last = p;
    batcher.tail = last;
    return n;
}

/* send_batch sends the n appends of b flagged in redo (all when redo is NULL) by EVALSHA (sha
 * known) or EVAL, in one write, and reads their replies into b. r->mu is held. */
static silk_status send_batch(silk__redis_reg *r, pending **b, int n, const bool *redo, bool sha)
{
    redisReply *reps[BATCH_MAX];
    int k = 0, idx[BATCH_MAX];
    for (int i = 0; i < n; i++) {
        if (redo != NULL && !redo[i])
            continue;
        args *a = b[i]->a;
        a->v[0] = sha ? "EVALSHA" : "EVAL";
        a->len[0] = strlen(a->v[0]);
        a->v[1] = sha ? append_lua.sha : append_lua.text;
        a->len[1] = strlen(a->v[1]);
        if (redisAppendCommandArgv(r->ctx, a->n, a->v, a->len) != REDIS_OK) {
            b[i]->st = SILK_RESOURCE_EXHAUSTED;
            continue;
        }
        idx[k++] = i;
    }
    if (k > 0 && !silk__redis_exchange(r, reps, k))
        return SILK_UNAVAILABLE;
    for (int j = 0; j < k; j++) {
        b[idx[j]]->rep = reps[j];
        b[idx[j]]->st = SILK_OK;
    }
    return SILK_OK;
}

/* noscript flags in redo the appends of b whose EVALSHA Redis did not know (its script cache
 * was emptied), freeing their replies: whether there are any. */
static bool noscript(pending **b, int n, bool *redo)
{
    bool any = false;
    for (int i = 0; i < n; i++) {
        redisReply *rep = b[i]->rep;
        redo[i] = b[i]->st == SILK_OK && rep->type == REDIS_REPLY_ERROR &&
                  strncmp(rep->str, "NOSCRIPT", 8) == 0;
        if (redo[i]) {
            freeReplyObject(rep);
            b[i]->rep = NULL;
            b[i]->st = SILK_UNAVAILABLE; /* until it is sent again */
        }
        any |= redo[i];
    }
    return any;
}

/* run_batch exchanges the n appends of b with Redis, each left with its reply or status. */
static void run_batch(silk__redis_reg *r, pending **b, int n)
{
    bool redo[BATCH_MAX];
    for (int i = 0; i < n; i++)
        b[i]->st = SILK_UNAVAILABLE;
    silk__mutex_lock(&r->mu);
    silk_status st = silk__redis_ready(r) ? SILK_OK : SILK_UNAVAILABLE;
    if (st == SILK_OK && !atomic_load(&append_lua.known))
        st = learn(r, &append_lua);
    bool sha = atomic_load(&append_lua.known);
    if (st == SILK_OK)
        st = send_batch(r, b, n, NULL, sha);
    if (st == SILK_OK && sha && noscript(b, n, redo))
        st = send_batch(r, b, n, redo, false); /* EVAL loads the script again */
    silk__mutex_unlock(&r->mu);
    for (int i = 0; st != SILK_OK && i < n; i++) /* those without a reply: why */
        if (b[i]->rep == NULL && b[i]->st != SILK_RESOURCE_EXHAUSTED)
            b[i]->st = st;
}

/* append_eval runs append_lua with a's arguments as eval does, in a batch with the appends
 * other threads make meanwhile. */
static silk_status append_eval(silk__redis_reg *r, args *a, redisReply **rep)
{
    pending me = {.r = r, .a = a};
    pthread_mutex_lock(&batcher.mu);
    if (batcher.tail != NULL)
        batcher.tail->next = &me;
    else
        batcher.head = &me;
    batcher.tail = &me;
    while (!me.done) {
        if (batcher.busy) {
            pthread_cond_wait(&batcher.cv, &batcher.mu);
            continue;
        }
        pending *b[BATCH_MAX];
        int n = take(b);
        batcher.busy = true;
        pthread_mutex_unlock(&batcher.mu);
        run_batch(b[0]->r, b, n);
        pthread_mutex_lock(&batcher.mu);
        for (int i = 0; i < n; i++)
            b[i]->done = true;
        batcher.busy = false;
        pthread_cond_broadcast(&batcher.cv);
    }
    pthread_mutex_unlock(&batcher.mu);
    *rep = me.rep;
    return checked(me.st, rep);
}

/* digits reads the decimal number at the start of the n bytes of s into *v; the digits read,
 * 0 when there are none or the number overflows. */
static size_t digits(const char *s, size_t n, uint64_t *v)
{
    uint64_t x = 0;
    size_t i = 0;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
        uint64_t d = (uint64_t)(s[i] - '0');
        if (x > (UINT64_MAX - d) / 10)
            return 0;
        x = x * 10 + d;
    }
    *v = x;
    return i;
}

/* reply_u64 reads a number the scripts answer, an integer or a string of digits. */
static bool reply_u64(const redisReply *e, uint64_t *v)
{
    if (e->type == REDIS_REPLY_INTEGER) {
        *v = (uint64_t)e->integer;
        return e->integer >= 0;
    }
    return e->type == REDIS_REPLY_STRING && e->len > 0 && digits(e->str, e->len, v) == e->len;
}

/* id_offset reads the offset of an entry id, "<offset>-0". */
static bool id_offset(const redisReply *e, uint64_t *v)
{
    if (e->type != REDIS_REPLY_STRING)
        return false;
    size_t n = digits(e->str, e->len, v);
    return n > 0 && n < e->len && e->str[n] == '-';
}

/* reply_epoch copies an epoch the scripts answer. */
static bool reply_epoch(const redisReply *e, char epoch[SILK__STREAM_EPOCH_MAX + 1])
{
    if (e->type != REDIS_REPLY_STRING || e->len == 0 || e->len > SILK__STREAM_EPOCH_MAX ||
        memchr(e->str, '\0', e->len) != NULL)
        return false;
    memcpy(epoch, e->str, e->len);
    epoch[e->len] = '\0';
    return true;
}

silk_status silk__redis_stream_append(void *data, const char *route, const char *business_id,
                                      const silk__stream_limits *lim, const void *msg, size_t len,
                                      bool binary, const char *idem_key,
                                      char epoch[SILK__STREAM_EPOCH_MAX + 1], uint64_t *offset,
                                      bool *duplicate)
{
    char keys[3][KEY_CAP], fresh[SILK__STREAM_EPOCH_MAX + 1], size[16], ttl[16];
    size_t klen[3];
    klen[0] = make_key(keys[0], "silk/stream", route, business_id, NULL);
    klen[1] = make_key(keys[1], "silk/stream-meta", route, business_id, NULL);
    if (idem_key != NULL)
        klen[2] = make_key(keys[2], "silk/stream-idem", route, business_id, idem_key);
    silk__stream_new_epoch(fresh);
    snprintf(size, sizeof size, "%u", (unsigned)lim->size);
    snprintf(ttl, sizeof ttl, "%u", (unsigned)lim->ttl_s);

    args a = {.n = 2};
    arg_str(&a, idem_key != NULL ? "3" : "2");
    for (int i = 0; i < (idem_key != NULL ? 3 : 2); i++)
        arg(&a, keys[i], klen[i]);
    arg_str(&a, fresh);
    arg_str(&a, size);
    arg_str(&a, ttl);
    arg(&a, len > 0 ? msg : "", len);
    arg_str(&a, binary ? "1" : "0");

    redisReply *rep;
    silk_status st = append_eval(data, &a, &rep);
    if (st != SILK_OK)
        return st;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 3 ||
        !reply_epoch(rep->element[0], epoch) || !reply_u64(rep->element[1], offset) ||
        rep->element[2]->type != REDIS_REPLY_INTEGER)
        st = SILK_INTERNAL;
    else
        *duplicate = rep->element[2]->integer == 1;
    freeReplyObject(rep);
    return st;
}

/* add_entry appends to out the entry e of an XRANGE reply: [id, [field, value, ...]]. */
static silk_status add_entry(const redisReply *e, silk__stream_range *out)
{
    silk__stream_entry *to = &out->entries[out->n];
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        !id_offset(e->element[0], &to->offset) || e->element[1]->type != REDIS_REPLY_ARRAY)
        return SILK_INTERNAL;
    const redisReply *fields = e->element[1], *d = NULL;
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
        const redisReply *f = fields->element[i], *v = fields->element[i + 1];
        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING || f->len != 1)
            continue;
        if (f->str[0] == 'd')
            d = v;
        else if (f->str[0] == 'b')
            to->binary = v->len == 1 && v->str[0] == '1';
    }
    if (d == NULL)
        return SILK_INTERNAL;
    if ((to->data = malloc(d->len > 0 ? d->len : 1)) == NULL)
        return SILK_RESOURCE_EXHAUSTED;
    memcpy(to->data, d->str, d->len);
    to->len = d->len;
    out->n++;
    return SILK_OK;
}

/* read_range fills out from the reply of range_script. */
static silk_status read_range(const redisReply *rep, silk__stream_range *out)
{
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 4 ||
        !reply_epoch(rep->element[0], out->epoch) || !reply_u64(rep->element[1], &out->top) ||
        rep->element[3]->type != REDIS_REPLY_ARRAY)
        return SILK_INTERNAL;
    const redisReply *head = rep->element[2], *got = rep->element[3];
    if (head->type == REDIS_REPLY_NIL)
        out->first = out->top + 1;
    else if (!id_offset(head, &out->first))
        return SILK_INTERNAL;
    if (got->elements == 0)
        return SILK_OK;
    if ((out->entries = calloc(got->elements, sizeof *out->entries)) == NULL)
        return SILK_RESOURCE_EXHAUSTED;
    silk_status st = SILK_OK;
    for (size_t i = 0; i < got->elements && st == SILK_OK; i++)
        st = add_entry(got->element[i], out);
    return st;
}

silk_status silk__redis_stream_read(void *data, const char *route, const char *business_id,
                                    const silk__stream_limits *lim, uint64_t after, size_t max,
                                    silk__stream_range *out)
{
    char keys[2][KEY_CAP], fresh[SILK__STREAM_EPOCH_MAX + 1], ttl[16], from[24], count[24];
    size_t klen[2];
    klen[0] = make_key(keys[0], "silk/stream", route, business_id, NULL);
    klen[1] = make_key(keys[1], "silk/stream-meta", route, business_id, NULL);
    silk__stream_new_epoch(fresh);
    snprintf(ttl, sizeof ttl, "%u", (unsigned)lim->ttl_s);
    if (after == UINT64_MAX) /* nothing can follow */
        max = 0;
    snprintf(from, sizeof from, "%llu", (unsigned long long)(max > 0 ? after + 1 : 0));
    snprintf(count, sizeof count, "%zu", max < RANGE_MAX ? max : (size_t)RANGE_MAX);

    args a = {.n = 2};
    arg_str(&a, "2");
    arg(&a, keys[0], klen[0]);
    arg(&a, keys[1], klen[1]);
    arg_str(&a, fresh);
    arg_str(&a, ttl);
    arg_str(&a, from);
    arg_str(&a, count);

    redisReply *rep;
    silk_status st = eval(data, &range_lua, &a, &rep);
    if (st != SILK_OK)
        return st;
    st = read_range(rep, out);
    freeReplyObject(rep);
    return st;
}
