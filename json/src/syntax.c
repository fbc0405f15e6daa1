/* syntax.c - jansson's grammar over lex.c's tokens (values, members, elements, nesting), the
 * set of an object's keys that refuses one twice, and the syntax-only walk of a text. */
#include <stdlib.h>
#include <string.h>

#include "json_internal.h"

/* jansson's limit on nesting, counted as its parser counts it: every value, scalars too. */
#define MAX_DEPTH 2048

/* ============================================================================
 * The grammar: values, members, elements
 * ========================================================================== */

silk_status silk__json_value_begin(silk__json_lex *lx)
{
    if (++lx->depth > MAX_DEPTH)
        return silk__json_lex_fail(lx, "maximum parsing depth reached");
    switch (lx->tok.kind) {
    case SILK__JSON_OBJECT:
    case SILK__JSON_ARRAY:
    case SILK__JSON_STRING:
    case SILK__JSON_INTEGER:
    case SILK__JSON_REAL:
    case SILK__JSON_TRUE:
    case SILK__JSON_FALSE:
    case SILK__JSON_NULL:
        return SILK_OK;
    case SILK__JSON_INVALID:
        return silk__json_lex_fail(lx, "invalid token");
    default:
        return silk__json_lex_fail(lx, "unexpected token");
    }
}

void silk__json_value_end(silk__json_lex *lx)
{
    lx->depth--;
}

/* member_key checks that the current token is a key. */
static silk_status member_key(silk__json_lex *lx)
{
    if (lx->tok.kind != SILK__JSON_STRING)
        return silk__json_lex_fail(lx, "string or '}' expected");
    if (memchr(lx->tok.s, '\0', lx->tok.len) != NULL)
        return silk__json_lex_fail(lx, "NUL byte in object key not supported");
    return SILK_OK;
}

silk_status silk__json_member_first(silk__json_lex *lx, bool *more)
{
    silk_status st = silk__json_lex_next(lx);
    if (st != SILK_OK)
        return st;
    *more = lx->tok.kind != SILK__JSON_OBJECT_END;
    return *more ? member_key(lx) : SILK_OK;
}

silk_status silk__json_member_value(silk__json_lex *lx)
{
    silk_status st = silk__json_lex_next(lx);
    if (st != SILK_OK)
        return st;
    if (lx->tok.kind != SILK__JSON_COLON)
        return silk__json_lex_fail(lx, "':' expected");
    if ((st = silk__json_lex_next(lx)) != SILK_OK)
        return st;
    return silk__json_value_begin(lx);
}

silk_status silk__json_member_next(silk__json_lex *lx, bool *more)
{
    silk__json_value_end(lx);
    silk_status st = silk__json_lex_next(lx);
    if (st != SILK_OK)
        return st;
    *more = lx->tok.kind == SILK__JSON_COMMA;
    if (*more)
        return (st = silk__json_lex_next(lx)) != SILK_OK ? st : member_key(lx);
    return lx->tok.kind == SILK__JSON_OBJECT_END ? SILK_OK
                                                 : silk__json_lex_fail(lx, "'}' expected");
}

silk_status silk__json_elem_first(silk__json_lex *lx, bool *more)
{
    silk_status st = silk__json_lex_next(lx);
    if (st != SILK_OK)
        return st;
    *more = lx->tok.kind != SILK__JSON_ARRAY_END;
    if (*more && lx->tok.kind == SILK__JSON_EOF)
        return silk__json_lex_fail(lx, "']' expected");
    return *more ? silk__json_value_begin(lx) : SILK_OK;
}

silk_status silk__json_elem_next(silk__json_lex *lx, bool *more)
{
    silk__json_value_end(lx);
    silk_status st = silk__json_lex_next(lx);
    if (st != SILK_OK)
        return st;
    *more = lx->tok.kind == SILK__JSON_COMMA;
    if (!*more)
        return lx->tok.kind == SILK__JSON_ARRAY_END ? SILK_OK
                                                    : silk__json_lex_fail(lx, "']' expected");
    if ((st = silk__json_lex_next(lx)) != SILK_OK)
        return st;
    if (lx->tok.kind == SILK__JSON_EOF)
        return silk__json_lex_fail(lx, "']' expected");
    return silk__json_value_begin(lx);
}

silk_status silk__json_doc_begin(silk__json_lex *lx)
{
    silk_status st = silk__json_lex_next(lx);
    return st != SILK_OK ? st : silk__json_value_begin(lx);
}

silk_status silk__json_doc_end(silk__json_lex *lx)
{
    silk__json_value_end(lx);
    silk_status st = silk__json_lex_next(lx);
    if (st != SILK_OK)
        return st;
    return lx->tok.kind == SILK__JSON_EOF ? SILK_OK
                                          : silk__json_lex_fail(lx, "end of file expected");
}

/* ============================================================================
 * Keys seen: an object's, to refuse one given twice
 * ========================================================================== */

void silk__json_keys_init(silk__json_keys *k)
{
    k->arena = k->arena_small;
    k->arena_cap = sizeof k->arena_small;
    k->used = 0;
    k->slots = k->slots_small;
    k->n_slots = sizeof k->slots_small / sizeof k->slots_small[0];
    k->n = 0;
    memset(k->slots_small, 0, sizeof k->slots_small);
}

void silk__json_keys_fini(silk__json_keys *k)
{
    if (k->arena != k->arena_small)
        free(k->arena);
    if (k->slots != k->slots_small)
        free(k->slots);
    silk__json_keys_init(k);
}

/* key_hash is FNV-1a. */
static uint32_t key_hash(const char *s, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

/* key_at returns the key stored at offset off (its length in *len). */
static const char *key_at(const silk__json_keys *k, uint32_t off, size_t *len)
{
    uint32_t n;
    memcpy(&n, k->arena + off, sizeof n);
    *len = n;
    return k->arena + off + sizeof n;
}

/* find_slot returns the slot of key s: the one holding it, or the empty one it would take. */
static size_t find_slot(const silk__json_keys *k, const uint32_t *slots, size_t n_slots,
                        const char *s, size_t len)
{
    size_t i = key_hash(s, len) & (n_slots - 1);
    for (; slots[i] != 0; i = (i + 1) & (n_slots - 1)) {
        size_t klen;
        const char *key = key_at(k, slots[i] - 1, &klen);
        if (klen == len && memcmp(key, s, len) == 0)
            break;
    }
    return i;
}

/* grow_slots doubles the table; false when memory is exhausted. */
static bool grow_slots(silk__json_keys *k)
{
    size_t n_slots = k->n_slots * 2;
    uint32_t *slots = calloc(n_slots, sizeof *slots);
    if (slots == NULL)
        return false;
    for (size_t i = 0; i < k->n_slots; i++) {
        if (k->slots[i] == 0)
            continue;
        size_t len;
        const char *key = key_at(k, k->slots[i] - 1, &len);
        slots[find_slot(k, slots, n_slots, key, len)] = k->slots[i];
    }
    if (k->slots != k->slots_small)
        free(k->slots);
    k->slots = slots;
    k->n_slots = n_slots;
    return true;
}

/* store copies key s into the arena and returns its offset, or -1 when memory is exhausted. */
static long store(silk__json_keys *k, const char *s, size_t len)
{
    size_t need = sizeof(uint32_t) + len;
    if (len > UINT32_MAX / 2 || k->used + need > UINT32_MAX / 2)
        return -1;
    if (k->used + need > k->arena_cap) {
        size_t cap = k->arena_cap * 2;
        while (cap < k->used + need)
            cap *= 2;
        char *grown = k->arena == k->arena_small ? malloc(cap) : realloc(k->arena, cap);
        if (grown == NULL)
            return -1;
        if (k->arena == k->arena_small)
            memcpy(grown, k->arena_small, k->used);
        k->arena = grown;
        k->arena_cap = cap;
    }
    uint32_t n = (uint32_t)len;
    memcpy(k->arena + k->used, &n, sizeof n);
    memcpy(k->arena + k->used + sizeof n, s, len);
    long off = (long)k->used;
    k->used += need;
    return off;
}

int silk__json_keys_add(silk__json_keys *k, const char *s, size_t len)
{
    size_t i = find_slot(k, k->slots, k->n_slots, s, len);
    if (k->slots[i] != 0)
        return 0;
    long off = store(k, s, len);
    if (off < 0)
        return -1;
    k->slots[i] = (uint32_t)off + 1;
    if (++k->n * 2 > k->n_slots && !grow_slots(k))
        return -1;
    return 1;
}

/* ============================================================================
 * The syntax-only walk
 * ========================================================================== */

/* key_once refuses the current key when keys holds it already. */
static silk_status key_once(silk__json_lex *lx, silk__json_keys *keys)
{
    int rv = silk__json_keys_add(keys, lx->tok.s, lx->tok.len);
    if (rv < 0) {
        lx->nomem = lx->failed = true;
        return SILK_RESOURCE_EXHAUSTED;
    }
    return rv == 0 ? silk__json_lex_fail(lx, "duplicate object key") : SILK_OK;
}

static silk_status skip_value(silk__json_lex *lx);

static silk_status skip_object(silk__json_lex *lx)
{
    silk__json_keys keys;
    silk__json_keys_init(&keys);
    bool more;
    silk_status st = silk__json_member_first(lx, &more);
    while (st == SILK_OK && more) {
        if ((st = key_once(lx, &keys)) == SILK_OK &&
            (st = silk__json_member_value(lx)) == SILK_OK && (st = skip_value(lx)) == SILK_OK)
            st = silk__json_member_next(lx, &more);
    }
    silk__json_keys_fini(&keys);
    return st;
}

static silk_status skip_array(silk__json_lex *lx)
{
    bool more;
    silk_status st = silk__json_elem_first(lx, &more);
    while (st == SILK_OK && more) {
        if ((st = skip_value(lx)) == SILK_OK)
            st = silk__json_elem_next(lx, &more);
    }
    return st;
}

/* skip_value walks the value whose first token is current (value_begin done). */
static silk_status skip_value(silk__json_lex *lx)
{
    if (lx->tok.kind == SILK__JSON_OBJECT)
        return skip_object(lx);
    if (lx->tok.kind == SILK__JSON_ARRAY)
        return skip_array(lx);
    return SILK_OK;
}

silk_status silk__json_check_syntax(const char *json, size_t len, silk__json_dec *d)
{
    silk__json_lex lx;
    silk__json_lex_init(&lx, json, len);
    silk_status st = silk__json_doc_begin(&lx);
    if (st == SILK_OK && (st = skip_value(&lx)) == SILK_OK)
        st = silk__json_doc_end(&lx);
    if (st != SILK_OK)
        st = silk__json_lex_report(&lx, d);
    silk__json_lex_fini(&lx);
    return st;
}
