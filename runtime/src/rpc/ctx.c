/* ctx.c - the call context: metadata, deadline, error message and an arena per call. */
#include <stdalign.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <silk/ctx.h>

#include "core/clock.h"
#include "rpc/ctx_internal.h"
#include "core/random.h"
#include "core/scratch.h"

#define NO_DEADLINE INT64_MAX

#define ARENA_ALIGN     alignof(max_align_t)
#define ARENA_FIRST     1024
#define ARENA_MAX_CHUNK 65536

typedef struct md_pair {
    char *key;
    char *value;
} md_pair;

typedef struct chunk {
    struct chunk *next;
    size_t used;
    size_t cap;
    alignas(max_align_t) unsigned char data[];
} chunk;

/* What a ctx holds of its metadata in itself before it allocates: the gateway's calls carry
 * three or four short pairs, which then cost no allocation of their own. */
#define INLINE_PAIRS 4
#define INLINE_TEXT  192

struct silk_ctx {
    md_pair *md; /* inline_md, allocated once it is too small, or borrowed */
    size_t n_md;
    size_t cap_md;
    /* A handler's ctx made by silk__ctx_from_header_in: it lives in the call's scratch, and
     * so do its pairs (borrowed from the request's header) until one changes. */
    bool embedded;
    bool md_borrowed;
    int64_t deadline_us; /* absolute, on silk__now_us(); NO_DEADLINE when there is none */
    bool capped;         /* a handler's ctx: its deadline may shrink, never grow */
    char *message;       /* NULL until a failure is recorded */
    const silk_service_desc *service;
    silk_server *server;  /* a handler's ctx: the server running it */
    silk__cancel *cancel; /* a handler's ctx: its call's cancellation */
    chunk *arena;
    md_pair inline_md[INLINE_PAIRS];
    size_t text_used;
    char text[INLINE_TEXT]; /* keys and values that fit, NUL-terminated, one after another */
};

silk_ctx *silk_ctx_new(void)
{
    silk_ctx *ctx = calloc(1, sizeof *ctx);
    if (ctx != NULL)
        ctx->deadline_us = NO_DEADLINE;
    return ctx;
}

/* keep_len returns a copy of s, len bytes long, that ctx owns: in its text when it fits, else
 * allocated; NULL when memory is exhausted. */
static char *keep_len(silk_ctx *ctx, const char *s, size_t len)
{
    size_t n = len + 1;
    if (n > sizeof ctx->text - ctx->text_used)
        return strdup(s);
    char *p = ctx->text + ctx->text_used;
    memcpy(p, s, n);
    ctx->text_used += n;
    return p;
}

static char *keep(silk_ctx *ctx, const char *s)
{
    return keep_len(ctx, s, strlen(s));
}

/* drop frees a copy keep made (nothing when it is in ctx's text). */
static void drop(silk_ctx *ctx, char *s)
{
    if (s != NULL && (s < ctx->text || s >= ctx->text + sizeof ctx->text))
        free(s);
}

/* drop_pairs frees n of md's pairs and md, which ctx owns. */
static void drop_pairs(silk_ctx *ctx, md_pair *md, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        drop(ctx, md[i].key);
        drop(ctx, md[i].value);
    }
    if (md != ctx->inline_md)
        free(md);
}

/* release frees what ctx holds beyond itself: its pairs, its message, its arena. */
static void release(silk_ctx *ctx)
{
    if (!ctx->md_borrowed)
        drop_pairs(ctx, ctx->md, ctx->n_md);
    free(ctx->message);
    for (chunk *c = ctx->arena, *next; c != NULL; c = next) {
        next = c->next;
        free(c);
    }
}

void silk_ctx_free(silk_ctx *ctx)
{
    if (ctx == NULL)
        return;
    release(ctx);
    if (!ctx->embedded)
        free(ctx);
}

void silk_ctx_reset(silk_ctx *ctx)
{
    if (ctx == NULL || ctx->embedded || ctx->capped) /* a handler's */
        return;
    release(ctx);
    *ctx = (silk_ctx){.deadline_us = NO_DEADLINE};
}

/* ============================== metadata ============================== */

/* key_len returns the length of key when it is a valid metadata key, else 0. */
static size_t key_len(const char *key)
{
    size_t n = 0;
    for (const char *p = key; *p != '\0'; p++, n++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
            return 0;
    }
    return n <= SILK_MD_MAX_KEY ? n : 0;
}

static bool valid_key(const char *key)
{
    return key_len(key) != 0;
}

static md_pair *find_pair(const silk_ctx *ctx, const char *key)
{
    for (size_t i = 0; i < ctx->n_md; i++) { /* the first byte first: keys mostly differ there */
        if (ctx->md[i].key[0] == key[0] && strcmp(ctx->md[i].key, key) == 0)
            return &ctx->md[i];
    }
    return NULL;
}

/* own_pairs gives a ctx whose pairs are borrowed copies of its own, before one changes. */
static silk_status own_pairs(silk_ctx *ctx)
{
    if (!ctx->md_borrowed)
        return SILK_OK;
    size_t cap = ctx->n_md > INLINE_PAIRS ? ctx->n_md : INLINE_PAIRS;
    md_pair *md = cap == INLINE_PAIRS ? ctx->inline_md : malloc(cap * sizeof *md);
    size_t i = 0;
    for (; md != NULL && i < ctx->n_md; i++) {
        md[i] = (md_pair){.key = keep(ctx, ctx->md[i].key), .value = keep(ctx, ctx->md[i].value)};
        if (md[i].key == NULL || md[i].value == NULL) {
            drop(ctx, md[i].key);
            drop(ctx, md[i].value);
            break;
        }
    }
    if (md == NULL || i < ctx->n_md) {
        if (md != NULL)
            drop_pairs(ctx, md, i);
        return SILK_RESOURCE_EXHAUSTED;
    }
    ctx->md = md;
    ctx->cap_md = cap;
    ctx->md_borrowed = false;
    return SILK_OK;
}

static silk_status add_pair(silk_ctx *ctx, const char *key, size_t klen, const char *value,
                            size_t vlen)
{
    if (own_pairs(ctx) != SILK_OK)
        return SILK_RESOURCE_EXHAUSTED;
    if (ctx->n_md == SILK_MD_MAX_PAIRS)
        return SILK_RESOURCE_EXHAUSTED;
    if (ctx->md == NULL) {
        ctx->md = ctx->inline_md;
        ctx->cap_md = INLINE_PAIRS;
    }
    if (ctx->n_md == ctx->cap_md) {
        size_t cap = ctx->cap_md * 2;
        md_pair *md = ctx->md == ctx->inline_md ? malloc(cap * sizeof *md)
                                                : realloc(ctx->md, cap * sizeof *md);
        if (md == NULL)
            return SILK_RESOURCE_EXHAUSTED;
        if (ctx->md == ctx->inline_md)
            memcpy(md, ctx->inline_md, sizeof ctx->inline_md);
        ctx->md = md;
        ctx->cap_md = cap;
    }
    char *k = keep_len(ctx, key, klen);
    char *v = k != NULL ? keep_len(ctx, value, vlen) : NULL;
    if (k == NULL || v == NULL) {
        drop(ctx, k);
        return SILK_RESOURCE_EXHAUSTED;
    }
    ctx->md[ctx->n_md++] = (md_pair){.key = k, .value = v};
    return SILK_OK;
}

silk_status silk_ctx_set(silk_ctx *ctx, const char *key, const char *value)
{
    size_t klen = ctx != NULL && key != NULL && value != NULL ? key_len(key) : 0;
    size_t vlen = klen != 0 ? strlen(value) : 0;
    if (klen == 0 || vlen > SILK_MD_MAX_VALUE)
        return SILK_INVALID_ARGUMENT;
    if (find_pair(ctx, key) == NULL)
        return add_pair(ctx, key, klen, value, vlen);
    if (own_pairs(ctx) != SILK_OK)
        return SILK_RESOURCE_EXHAUSTED;
    md_pair *p = find_pair(ctx, key);
    char *v = keep_len(ctx, value, vlen);
    if (v == NULL)
        return SILK_RESOURCE_EXHAUSTED;
    drop(ctx, p->value);
    p->value = v;
    return SILK_OK;
}

const char *silk_ctx_get(const silk_ctx *ctx, const char *key)
{
    if (ctx == NULL || key == NULL)
        return NULL;
    md_pair *p = find_pair(ctx, key);
    return p != NULL ? p->value : NULL;
}

const char *silk_ctx_business_id(const silk_ctx *ctx)
{
    return silk_ctx_get(ctx, SILK_MD_BUSINESS_ID);
}

/* ============================== deadline ============================== */

void silk_ctx_set_timeout(silk_ctx *ctx, uint32_t ms)
{
    if (ctx == NULL)
        return;
    int64_t deadline = ms == 0 ? NO_DEADLINE : silk__now_us() + (int64_t)ms * 1000;
    if (ctx->capped && deadline > ctx->deadline_us)
        return;
    ctx->deadline_us = deadline;
}

int64_t silk_ctx_remaining_us(const silk_ctx *ctx)
{
    if (ctx == NULL || ctx->deadline_us == NO_DEADLINE)
        return INT64_MAX;
    int64_t left = ctx->deadline_us - silk__now_us();
    return left > 0 ? left : 0;
}

uint64_t silk__ctx_budget_us(const silk_ctx *ctx, uint32_t timeout_ms)
{
    int64_t budget = (int64_t)(timeout_ms != 0 ? timeout_ms : SILK__DEFAULT_TIMEOUT_MS) * 1000;
    int64_t left = silk_ctx_remaining_us(ctx);
    if (left == 0)
        return 0;
    return (uint64_t)(left < budget ? left : budget);
}

/* ============================== cancellation ============================== */

bool silk_ctx_cancelled(const silk_ctx *ctx)
{
    return ctx != NULL && ctx->cancel != NULL && atomic_load(&ctx->cancel->cancelled);
}

silk__cancel *silk__ctx_cancel(const silk_ctx *ctx)
{
    return ctx != NULL ? ctx->cancel : NULL;
}

void silk__ctx_set_cancel(silk_ctx *ctx, silk__cancel *cancel)
{
    if (ctx != NULL)
        ctx->cancel = cancel;
}

/* ============================== messages ============================== */

void silk__ctx_set_message(silk_ctx *ctx, const char *msg)
{
    if (ctx == NULL)
        return;
    char *copy = msg != NULL && msg[0] != '\0' ? strdup(msg) : NULL;
    free(ctx->message);
    ctx->message = copy;
}

silk_status silk_ctx_fail(silk_ctx *ctx, silk_status st, const char *fmt, ...)
{
    if (ctx == NULL || fmt == NULL)
        return st;
    va_list ap;
    va_start(ap, fmt);
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    free(ctx->message);
    ctx->message = msg;
    return st;
}

const char *silk_ctx_message(const silk_ctx *ctx)
{
    return ctx != NULL && ctx->message != NULL ? ctx->message : "";
}

/* ============================== arena ============================== */

static chunk *new_chunk(size_t cap)
{
    chunk *c = calloc(1, sizeof *c + cap);
    if (c != NULL)
        c->cap = cap;
    return c;
}

void *silk_ctx_alloc(silk_ctx *ctx, size_t size)
{
    if (ctx == NULL || size > SIZE_MAX / 2)
        return NULL;
    size = (size + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    if (size == 0)
        size = ARENA_ALIGN;
    chunk *head = ctx->arena;
    if (head != NULL && head->cap - head->used >= size) {
        void *p = head->data + head->used;
        head->used += size;
        return p;
    }
    if (size > ARENA_MAX_CHUNK / 2 && head != NULL) {
        /* A large block gets a chunk of its own, behind the head that serves small ones. */
        chunk *c = new_chunk(size);
        if (c == NULL)
            return NULL;
        c->used = size;
        c->next = head->next;
        head->next = c;
        return c->data;
    }
    size_t cap = head != NULL ? head->cap * 2 : ARENA_FIRST;
    if (cap > ARENA_MAX_CHUNK)
        cap = ARENA_MAX_CHUNK;
    if (cap < size)
        cap = size;
    chunk *c = new_chunk(cap);
    if (c == NULL)
        return NULL;
    c->used = size;
    c->next = head;
    ctx->arena = c;
    return c->data;
}

char *silk_ctx_strdup(silk_ctx *ctx, const char *s)
{
    if (s == NULL)
        return NULL;
    size_t n = strlen(s) + 1;
    char *p = silk_ctx_alloc(ctx, n);
    if (p != NULL)
        memcpy(p, s, n);
    return p;
}

char *silk_ctx_printf(silk_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *p = silk_ctx_alloc(ctx, (size_t)n + 1);
    if (p == NULL)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

/* ============================== server side ============================== */

silk_ctx *silk__ctx_from_header(const Silk__Rpc__RequestHeader *h, int64_t received_us)
{
    silk_ctx *ctx = silk_ctx_new();
    if (ctx == NULL)
        return NULL;
    ctx->capped = true;
    if (h->budget_us != 0) {
        uint64_t budget = h->budget_us < (uint64_t)INT64_MAX / 2 ? h->budget_us : INT64_MAX / 2;
        ctx->deadline_us = received_us + (int64_t)budget;
    }
    for (size_t i = 0; i < h->n_metadata; i++) {
        const Silk__Rpc__Metadata *m = h->metadata[i];
        if (m->key == NULL || m->value == NULL)
            continue;
        silk_status st = silk_ctx_set(ctx, m->key, m->value);
        if (st == SILK_RESOURCE_EXHAUSTED && ctx->n_md < SILK_MD_MAX_PAIRS) {
            silk_ctx_free(ctx);
            return NULL;
        }
    }
    /* A call from a client that made no trace id starts a trace here. */
    if (silk__ctx_ensure_trace_id(ctx) != SILK_OK) {
        silk_ctx_free(ctx);
        return NULL;
    }
    return ctx;
}

silk_ctx *silk__ctx_from_header_in(silk__scratch *mem, const Silk__Rpc__RequestHeader *h,
                                   int64_t received_us)
{
    silk_ctx *ctx = silk__scratch_alloc(mem, sizeof *ctx);
    size_t cap = h->n_metadata < SILK_MD_MAX_PAIRS ? h->n_metadata + 1 : SILK_MD_MAX_PAIRS;
    md_pair *md = silk__scratch_alloc(mem, cap * sizeof *md);
    if (ctx == NULL || md == NULL)
        return NULL;
    *ctx = (silk_ctx){.md = md,
                      .cap_md = cap,
                      .embedded = true,
                      .md_borrowed = true,
                      .deadline_us = NO_DEADLINE,
                      .capped = true};
    if (h->budget_us != 0) {
        uint64_t budget = h->budget_us < (uint64_t)INT64_MAX / 2 ? h->budget_us : INT64_MAX / 2;
        ctx->deadline_us = received_us + (int64_t)budget;
    }
    /* The pairs silk_ctx_set would take, as it would take them: the last of a key wins, past
     * SILK_MD_MAX_PAIRS the rest are left out. */
    for (size_t i = 0; i < h->n_metadata; i++) {
        const Silk__Rpc__Metadata *m = h->metadata[i];
        if (m->key == NULL || m->value == NULL || !valid_key(m->key) ||
            strlen(m->value) > SILK_MD_MAX_VALUE)
            continue;
        md_pair *p = find_pair(ctx, m->key);
        if (p != NULL)
            p->value = m->value;
        else if (ctx->n_md < cap)
            ctx->md[ctx->n_md++] = (md_pair){.key = m->key, .value = m->value};
    }
    /* A call from a client that made no trace id starts a trace here. */
    if (find_pair(ctx, SILK_MD_TRACE_ID) == NULL && ctx->n_md < cap) {
        char *id = silk__scratch_alloc(mem, SILK__TRACE_ID_LEN + 1);
        if (id == NULL)
            return NULL;
        silk__trace_id(id);
        ctx->md[ctx->n_md++] = (md_pair){.key = (char *)SILK_MD_TRACE_ID, .value = id};
    }
    return ctx;
}

silk_ctx *silk__ctx_clone(const silk_ctx *ctx, uint64_t budget_us)
{
    silk_ctx *copy = silk_ctx_new();
    if (copy == NULL)
        return NULL;
    copy->deadline_us = silk__now_us() + (int64_t)budget_us;
    copy->capped = true;
    for (size_t i = 0; ctx != NULL && i < ctx->n_md; i++) {
        const md_pair *m = &ctx->md[i];
        if (add_pair(copy, m->key, strlen(m->key), m->value, strlen(m->value)) != SILK_OK) {
            silk_ctx_free(copy);
            return NULL;
        }
    }
    return copy;
}

silk_status silk__ctx_ensure_trace_id(silk_ctx *ctx)
{
    if (ctx == NULL || find_pair(ctx, SILK_MD_TRACE_ID) != NULL)
        return SILK_OK;
    char id[SILK__TRACE_ID_LEN + 1];
    silk__trace_id(id);
    silk_status st = silk_ctx_set(ctx, SILK_MD_TRACE_ID, id);
    /* A ctx full of other pairs goes without: tracing is not worth failing a call for. */
    return st == SILK_RESOURCE_EXHAUSTED && ctx->n_md == SILK_MD_MAX_PAIRS ? SILK_OK : st;
}

void silk__ctx_set_service(silk_ctx *ctx, const silk_service_desc *service)
{
    if (ctx != NULL)
        ctx->service = service;
}

const silk_service_desc *silk__ctx_service(const silk_ctx *ctx)
{
    return ctx != NULL ? ctx->service : NULL;
}

void silk__ctx_set_server(silk_ctx *ctx, silk_server *server)
{
    if (ctx != NULL)
        ctx->server = server;
}

silk_server *silk__ctx_server(const silk_ctx *ctx)
{
    return ctx != NULL ? ctx->server : NULL;
}

/* ============================== client side ============================== */

static void set_md(Silk__Rpc__Metadata *m, Silk__Rpc__Metadata **slot, const char *key,
                   const char *value)
{
    silk__rpc__metadata__init(m);
    m->key = (char *)key;
    m->value = (char *)value;
    *slot = m;
}

silk_status silk__reqhdr_init(silk__reqhdr *rh, const silk_ctx *ctx, const silk_method_desc *method,
                              const ProtobufCMessage *req, uint64_t budget_us, const char *token)
{
    silk__rpc__request_header__init(&rh->h);
    rh->h.method = (char *)method->path;
    rh->h.budget_us = budget_us;
    if (token != NULL)
        rh->h.token = (char *)token;

    const char *business = NULL;
    if (silk_ctx_business_id(ctx) == NULL)
        business = silk_method_business_id(method, req);
    const char *trace = NULL;
    if (silk_ctx_get(ctx, SILK_MD_TRACE_ID) == NULL) {
        /* The edge of a trace: a call made without a ctx (or with a full one) starts it. */
        silk__trace_id(rh->trace);
        trace = rh->trace;
    }
    size_t n = (ctx != NULL ? ctx->n_md : 0) + (business != NULL) + (trace != NULL);
    rh->md = rh->md_small;
    rh->mdp = rh->mdp_small;
    if (n > sizeof rh->md_small / sizeof rh->md_small[0]) {
        rh->md = malloc(n * sizeof *rh->md);
        rh->mdp = malloc(n * sizeof *rh->mdp);
        if (rh->md == NULL || rh->mdp == NULL) {
            silk__reqhdr_fini(rh);
            return SILK_RESOURCE_EXHAUSTED;
        }
    }
    size_t i = 0;
    for (; ctx != NULL && i < ctx->n_md; i++)
        set_md(&rh->md[i], &rh->mdp[i], ctx->md[i].key, ctx->md[i].value);
    if (business != NULL) {
        set_md(&rh->md[i], &rh->mdp[i], SILK_MD_BUSINESS_ID, business);
        i++;
    }
    if (trace != NULL)
        set_md(&rh->md[i], &rh->mdp[i], SILK_MD_TRACE_ID, trace);
    rh->h.n_metadata = n;
    rh->h.metadata = n != 0 ? rh->mdp : NULL;
    return SILK_OK;
}

void silk__reqhdr_fini(silk__reqhdr *rh)
{
    if (rh->md != rh->md_small)
        free(rh->md);
    if (rh->mdp != rh->mdp_small)
        free(rh->mdp);
    rh->md = rh->md_small;
    rh->mdp = rh->mdp_small;
}

/* ============================== messages in ctx memory ============================== */

static void *arena_alloc(void *data, size_t size)
{
    return silk_ctx_alloc(data, size);
}

static void arena_free(void *data, void *p)
{
    (void)data;
    (void)p; /* the arena goes all at once, with the ctx */
}

ProtobufCMessage *silk_ctx_copy_message(silk_ctx *ctx, const ProtobufCMessage *msg)
{
    if (ctx == NULL || msg == NULL || msg->descriptor == NULL)
        return NULL;
    size_t n = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(n != 0 ? n : 1); /* only while it is unpacked again */
    ProtobufCMessage *copy = NULL;
    if (buf != NULL) {
        protobuf_c_message_pack(msg, buf);
        ProtobufCAllocator a = {.alloc = arena_alloc, .free = arena_free, .allocator_data = ctx};
        copy = protobuf_c_message_unpack(msg->descriptor, &a, n, buf);
        free(buf);
    }
    if (copy == NULL) {
        char why[300];
        snprintf(why, sizeof why, "out of memory copying a %.200s", msg->descriptor->name);
        silk__ctx_set_message(ctx, why);
    }
    return copy;
}
