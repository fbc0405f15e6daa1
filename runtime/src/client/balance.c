/* balance.c - choosing the instance a call goes to (see balance.h): round-robin, random and
 * rendezvous hashing over the live instances, failover away from instances a call tried,
 * connection backoff and a circuit breaker per instance. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <silk/log.h>

#include "core/env.h"
#include "client/balance.h"
#include "rpc/ctx_internal.h"

/* An instance whose connection was lost is passed over for this long, while others are up. */
#define DOWN_US 2000000
/* After a failed dial the next waits BACKOFF_MIN_US, doubling with each failure in a row up
 * to BACKOFF_MAX_US. A record of failures is forgotten FORGET_US after the last one. */
#define BACKOFF_MIN_US 100000
#define BACKOFF_MAX_US 5000000
#define FORGET_US      60000000
/* The breaker's defaults: open after this many failures in a row, for this long. */
#define BREAKER_FAILURES 3
#define BREAKER_OPEN_MS  60000

/* ============================== hashing ============================== */

static uint64_t fnv1a(const void *data, size_t n)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3u;
    return h;
}

/* mix64 is MurmurHash3's finalizer: every bit of x affects every bit of the result. */
static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdu;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53u;
    return x ^ (x >> 33);
}

uint64_t silk__lb_address_hash(const char *address)
{
    return mix64(fnv1a(address, strlen(address)));
}

/* score is the rendezvous weight of an instance for a key: the highest wins. With equal
 * weights the raw 64-bit draw is compared; with weights, -w / ln(u) for u uniform in (0,1),
 * so that an instance wins a share of keys proportional to its weight. */
static double score(uint64_t key_hash, uint64_t id_hash, uint32_t weight, bool weighted)
{
    uint64_t draw = mix64(key_hash ^ id_hash);
    if (!weighted)
        return (double)(draw >> 11);
    double u = ((double)(draw >> 11) + 0.5) / 9007199254740992.0;
    return -(double)(weight != 0 ? weight : 1) / log(u);
}

/* key_of_field hashes the value of req's field name (a string, bytes, or an integer); false
 * when it has none: no such field, unset, empty, repeated or of another type. */
static bool key_of_field(const ProtobufCMessage *req, const char *name, uint64_t *out)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(req->descriptor, name);
    if (f == NULL || f->label == PROTOBUF_C_LABEL_REPEATED)
        return false;
    const char *base = (const char *)req;
    if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0 &&
        *(const uint32_t *)(const void *)(base + f->quantifier_offset) != f->id)
        return false;
    const void *at = base + f->offset;
    char num[24];
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)at;
        if (s == NULL || s[0] == '\0')
            return false;
        *out = fnv1a(s, strlen(s));
        return true;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *d = at;
        if (d->len == 0)
            return false;
        *out = fnv1a(d->data, d->len);
        return true;
    }
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_ENUM:
        snprintf(num, sizeof num, "%ld", (long)*(const int32_t *)at);
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        snprintf(num, sizeof num, "%lu", (unsigned long)*(const uint32_t *)at);
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        snprintf(num, sizeof num, "%lld", (long long)*(const int64_t *)at);
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        snprintf(num, sizeof num, "%llu", (unsigned long long)*(const uint64_t *)at);
        break;
    default:
        return false;
    }
    /* An integer is hashed as its decimal text, so that 42 and "42" land alike. */
    *out = fnv1a(num, strlen(num));
    return true;
}

void silk__lb_route_init(silk__route *r, silk_lb_policy policy, const silk_method_desc *method,
                         const ProtobufCMessage *req, const silk_ctx *ctx)
{
    r->ntried = 0;
    r->hashed = false;
    if (method->hash_key != NULL && method->hash_key[0] != '\0' &&
        key_of_field(req, method->hash_key, &r->key_hash)) {
        r->hashed = true;
        return;
    }
    if (policy != SILK_LB_HASH)
        return;
    const char *biz = silk_ctx_business_id(ctx);
    if (biz == NULL || biz[0] == '\0')
        biz = silk_method_business_id(method, req);
    if (biz != NULL && biz[0] != '\0') {
        r->key_hash = fnv1a(biz, strlen(biz));
        r->hashed = true;
    }
}

/* ============================== setup and the view ============================== */

bool silk__lb_policy_parse(const char *s, silk_lb_policy *out)
{
    if (strcmp(s, "round-robin") == 0)
        *out = SILK_LB_ROUND_ROBIN;
    else if (strcmp(s, "random") == 0)
        *out = SILK_LB_RANDOM;
    else if (strcmp(s, "hash") == 0)
        *out = SILK_LB_HASH;
    else
        return false;
    return true;
}

void silk__lb_init(silk__balancer *b, const char *service)
{
    *b = (silk__balancer){.service = service, .policy = SILK_LB_ROUND_ROBIN};
    const char *lb = silk__env_str("SILK_LB");
    if (lb != NULL && !silk__lb_policy_parse(lb, &b->policy))
        silk_log(SILK_LOG_WARN, "channel",
                 "ignoring SILK_LB=%s: not round-robin, random or hash; using round-robin", lb);
    long failures = BREAKER_FAILURES, open_ms = BREAKER_OPEN_MS;
    silk__env_long("SILK_BREAKER_FAILURES", 0, UINT_MAX, &failures); /* 0: no breaker */
    silk__env_long("SILK_BREAKER_OPEN_MS", 0, UINT32_MAX, &open_ms);
    b->breaker_failures = (unsigned)failures;
    b->breaker_open_us = (int64_t)open_ms * 1000;
    if (getrandom(&b->rng, sizeof b->rng, GRND_NONBLOCK) != (ssize_t)sizeof b->rng)
        b->rng = (uint64_t)(uintptr_t)b ^ 0x9e3779b97f4a7c15u;
}

/* weight_of is an instance's weight; 0 (unset) counts as 1. */
static uint32_t weight_of(const silk_instance *in)
{
    return in->weight != 0 ? in->weight : 1;
}

/* view_of is what b holds of its view, to swap or free. */
static silk__lb_view view_of(const silk__balancer *b)
{
    return (silk__lb_view){.insts = b->insts,
                           .id_hash = b->id_hash,
                           .addr_hash = b->addr_hash,
                           .current = b->current,
                           .weighted = b->weighted};
}

void silk__lb_view_fini(silk__lb_view *v)
{
    silk_instance_list_fini(&v->insts);
    free(v->id_hash);
    free(v->addr_hash);
    free(v->current);
    *v = (silk__lb_view){0};
}

silk_status silk__lb_prepare_view(silk__lb_view *v, silk_instance_list *insts)
{
    *v = (silk__lb_view){.insts = *insts};
    *insts = (silk_instance_list){0};
    size_t n = v->insts.count;
    v->id_hash = calloc(n != 0 ? n : 1, sizeof *v->id_hash);
    v->addr_hash = calloc(n != 0 ? n : 1, sizeof *v->addr_hash);
    v->current = calloc(n != 0 ? n : 1, sizeof *v->current);
    if (v->id_hash == NULL || v->addr_hash == NULL || v->current == NULL) {
        silk__lb_view_fini(v);
        return SILK_RESOURCE_EXHAUSTED;
    }
    for (size_t i = 0; i < n; i++) {
        const silk_instance *in = &v->insts.items[i];
        v->id_hash[i] = silk__lb_address_hash(in->id);
        v->addr_hash[i] = silk__lb_address_hash(in->address);
        v->weighted = v->weighted || weight_of(in) != weight_of(&v->insts.items[0]);
    }
    return SILK_OK;
}

static void forget(silk__balancer *b, silk__lb_health *h);

/* listed tells whether address is one of the view's. */
static bool listed(const silk__balancer *b, const char *address)
{
    for (size_t i = 0; i < b->insts.count; i++) {
        if (strcmp(b->insts.items[i].address, address) == 0)
            return true;
    }
    return false;
}

void silk__lb_set_view(silk__balancer *b, silk__lb_view *fresh)
{
    silk__lb_view old = view_of(b);
    b->insts = fresh->insts;
    b->id_hash = fresh->id_hash;
    b->addr_hash = fresh->addr_hash;
    b->current = fresh->current;
    b->weighted = fresh->weighted;
    *fresh = old;
    /* The health of instances the registry no longer lists is forgotten: one that comes back
     * starts afresh. */
    for (size_t i = 0; i < b->nhealth;) {
        if (!listed(b, b->health[i].address)) {
            forget(b, &b->health[i]);
            continue;
        }
        i++;
    }
}

void silk__lb_fini(silk__balancer *b)
{
    silk__lb_view v = view_of(b);
    silk__lb_view_fini(&v);
    for (size_t i = 0; i < b->nhealth; i++)
        free(b->health[i].address);
    free(b->health);
    *b = (silk__balancer){0};
}

/* ============================== health records ============================== */

/* find returns the health record of address, or NULL. */
static silk__lb_health *find(silk__balancer *b, const char *address)
{
    for (size_t i = 0; i < b->nhealth; i++) {
        if (strcmp(b->health[i].address, address) == 0)
            return &b->health[i];
    }
    return NULL;
}

/* record returns the record of address, made when absent; NULL when out of memory. */
static silk__lb_health *record(silk__balancer *b, const char *address)
{
    silk__lb_health *h = find(b, address);
    if (h != NULL)
        return h;
    silk__lb_health *grown = realloc(b->health, (b->nhealth + 1) * sizeof *grown);
    if (grown == NULL)
        return NULL;
    b->health = grown;
    h = &grown[b->nhealth];
    *h = (silk__lb_health){.address = strdup(address)};
    if (h->address == NULL)
        return NULL;
    b->nhealth++;
    return h;
}

static void forget(silk__balancer *b, silk__lb_health *h)
{
    free(h->address);
    *h = b->health[--b->nhealth];
}

/* forget_old drops the records that no longer matter: nothing recent, and no breaker open
 * (or one that nothing probed for FORGET_US after it could have). */
static void forget_old(silk__balancer *b, int64_t now)
{
    for (size_t i = 0; i < b->nhealth;) {
        silk__lb_health *h = &b->health[i];
        if ((!h->open || h->open_until + FORGET_US <= now) && h->down_until <= now &&
            h->retry_at <= now && h->last_failure_at + FORGET_US <= now) {
            forget(b, h);
            continue;
        }
        i++;
    }
}

int64_t silk__lb_backoff_us(silk__balancer *b, const char *address, int64_t now, unsigned *failures)
{
    silk__lb_health *h = find(b, address);
    if (h == NULL || h->dial_failures == 0)
        return 0;
    *failures = h->dial_failures;
    return h->retry_at > now ? h->retry_at - now : 0;
}

void silk__lb_failed(silk__balancer *b, const char *address, int64_t now)
{
    silk__lb_health *h = record(b, address);
    if (h == NULL)
        return;
    h->failures++;
    h->last_failure_at = now;
    if (b->breaker_failures == 0)
        return;
    if (h->open)
        return; /* the probe, when it was sent, made the breaker open anew until its answer */
    if (h->failures >= b->breaker_failures) {
        h->open = true;
        h->open_until = now + b->breaker_open_us;
        silk_log(SILK_LOG_WARN, "channel",
                 "breaker open service=%s address=%s failures=%u open_ms=%lld", b->service, address,
                 h->failures, (long long)(b->breaker_open_us / 1000));
    }
}

void silk__lb_succeeded(silk__balancer *b, const char *address)
{
    silk__lb_health *h = find(b, address);
    if (h == NULL)
        return;
    if (h->open)
        silk_log(SILK_LOG_INFO, "channel", "breaker closed service=%s address=%s", b->service,
                 address);
    h->open = false;
    h->failures = 0;
}

bool silk__lb_watch(silk__balancer *b, const char *address)
{
    silk__lb_health *h = b->nhealth != 0 ? find(b, address) : NULL;
    return h != NULL && (h->failures != 0 || h->open);
}

void silk__lb_conn_failed(silk__balancer *b, const char *address, bool dial_failed, int64_t now)
{
    silk__lb_health *h = record(b, address);
    if (h == NULL)
        return;
    /* A process that dies closes every connection to it at once (a gateway has one per loop,
     * and its channel's own): one loss for the breaker, however many connections saw it. */
    bool seen = !dial_failed && h->down_until > now;
    h->down_until = now + DOWN_US;
    if (dial_failed) {
        int64_t backoff = BACKOFF_MIN_US;
        for (unsigned i = 0; i < h->dial_failures && backoff < BACKOFF_MAX_US; i++)
            backoff *= 2;
        h->dial_failures++;
        h->retry_at = now + (backoff < BACKOFF_MAX_US ? backoff : BACKOFF_MAX_US);
    }
    if (!seen)
        silk__lb_failed(b, address, now);
}

void silk__lb_conn_made(silk__balancer *b, const char *address)
{
    silk__lb_health *h = find(b, address);
    if (h != NULL) {
        h->dial_failures = 0;
        h->retry_at = 0;
        h->down_until = 0;
    }
}

/* ============================== picking ============================== */

/* Classes of instances, best first; EXCLUDED ones are never picked. */
enum { FRESH, TRIED, DOWN, DOWN_TRIED, EXCLUDED };

static bool was_tried(const silk__route *r, uint64_t addr_hash)
{
    unsigned n = r->ntried < SILK__LB_MAX_TRIED ? r->ntried : SILK__LB_MAX_TRIED;
    for (unsigned i = 0; i < n; i++) {
        if (r->tried[i] == addr_hash)
            return true;
    }
    return false;
}

/* class_of sorts instance i for route r; *open_until tells when an open breaker lets a
 * probe through. */
static int class_of(silk__balancer *b, size_t i, const silk__route *r, int64_t now,
                    int64_t *open_until)
{
    int c = r != NULL && r->ntried != 0 && was_tried(r, b->addr_hash[i]) ? TRIED : FRESH;
    if (b->nhealth == 0)
        return c;
    silk__lb_health *h = find(b, b->insts.items[i].address);
    if (h == NULL)
        return c;
    if (h->open && h->open_until > now) {
        if (h->open_until < *open_until)
            *open_until = h->open_until;
        return EXCLUDED;
    }
    return h->down_until > now ? c + DOWN : c;
}

static uint64_t next_random(silk__balancer *b)
{
    uint64_t z = (b->rng += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* smooth_weighted is nginx's smooth weighted round-robin among the instances of class best:
 * each pick adds every one's weight to its running value and takes the largest, which then
 * gives back the total; weights 3 and 1 pick a, a, b, a rather than a, a, a, b. */
static size_t smooth_weighted(silk__balancer *b, const silk__route *r, int best, int64_t now)
{
    int64_t total = 0, ignored = INT64_MAX;
    size_t win = SIZE_MAX;
    for (size_t i = 0; i < b->insts.count; i++) {
        if (class_of(b, i, r, now, &ignored) != best)
            continue;
        int64_t w = weight_of(&b->insts.items[i]);
        b->current[i] += w;
        total += w;
        if (win == SIZE_MAX || b->current[i] > b->current[win])
            win = i;
    }
    if (win != SIZE_MAX)
        b->current[win] -= total;
    return win;
}

/* choose applies the policy among the instances of class best. */
static size_t choose(silk__balancer *b, const silk__route *r, int best, int64_t now)
{
    size_t n = b->insts.count;
    int64_t ignored = INT64_MAX;
    if (r != NULL && r->hashed) {
        size_t win = SIZE_MAX;
        double top = -1;
        for (size_t i = 0; i < n; i++) {
            if (class_of(b, i, r, now, &ignored) != best)
                continue;
            double s = score(r->key_hash, b->id_hash[i], b->insts.items[i].weight, b->weighted);
            if (win == SIZE_MAX || s > top) {
                win = i;
                top = s;
            }
        }
        return win;
    }
    size_t first;
    if (b->policy == SILK_LB_ROUND_ROBIN && b->weighted)
        return smooth_weighted(b, r, best, now);
    if (b->policy == SILK_LB_RANDOM && b->weighted) {
        uint64_t total = 0;
        for (size_t i = 0; i < n; i++) {
            if (class_of(b, i, r, now, &ignored) == best)
                total += weight_of(&b->insts.items[i]);
        }
        uint64_t at = next_random(b) % total;
        for (size_t i = 0; i < n; i++) {
            if (class_of(b, i, r, now, &ignored) != best)
                continue;
            uint64_t w = weight_of(&b->insts.items[i]);
            if (at < w)
                return i;
            at -= w;
        }
    }
    first = b->policy == SILK_LB_RANDOM ? (size_t)(next_random(b) % n) : b->rr++ % n;
    for (size_t k = 0; k < n; k++) {
        size_t i = (first + k) % n;
        if (class_of(b, i, r, now, &ignored) == best)
            return i;
    }
    return SIZE_MAX;
}

const char *silk__lb_pick(silk__balancer *b, const silk__route *r, int64_t now, bool *none,
                          uint64_t *addr_hash, char *why, size_t cap)
{
    size_t n = b->insts.count;
    if (n == 0) {
        *none = true;
        snprintf(why, cap, "no live instance of %s in the registry", b->service);
        return NULL;
    }
    if (b->nhealth != 0)
        forget_old(b, now);
    int best = EXCLUDED;
    int64_t open_until = INT64_MAX;
    for (size_t i = 0; i < n && best != FRESH; i++) {
        int c = class_of(b, i, r, now, &open_until);
        best = c < best ? c : best;
    }
    if (best == EXCLUDED) {
        snprintf(why, cap,
                 "every instance of %s is failing: %zu circuit breakers open, the next probe "
                 "in %lld ms",
                 b->service, n, (long long)((open_until - now + 999) / 1000));
        return NULL;
    }
    size_t i = choose(b, r, best, now);
    silk__lb_health *h = b->nhealth != 0 ? find(b, b->insts.items[i].address) : NULL;
    if (h != NULL && h->open) {
        /* Half-open: this call is the probe; the instance is skipped again meanwhile, and its
         * answer closes the breaker or opens it anew. */
        h->open_until = now + b->breaker_open_us;
        silk_log(SILK_LOG_INFO, "channel", "breaker half-open service=%s address=%s: one probe",
                 b->service, h->address);
    }
    if (addr_hash != NULL)
        *addr_hash = b->addr_hash[i];
    return b->insts.items[i].address;
}
