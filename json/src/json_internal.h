/* json_internal.h - what the files of libsilk_json share (lex.c, syntax.c, decode*.c, ...). */
#ifndef SILK_JSON_INTERNAL_H
#define SILK_JSON_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include <silk/status.h>

/* The well-known types with a JSON form of their own. */
typedef enum silk__json_wkt {
    SILK__JSON_WKT_NONE = 0,
    SILK__JSON_WKT_TIMESTAMP,
    SILK__JSON_WKT_DURATION,
    SILK__JSON_WKT_WRAPPER, /* DoubleValue ... BytesValue: the JSON of field 1, "value" */
} silk__json_wkt;

/* silk__json_wkt_of tells which well-known type desc is, by its full name. */
silk__json_wkt silk__json_wkt_of(const ProtobufCMessageDescriptor *desc);

/* silk__json_elem_size returns the bytes one value of a field's type takes in a message or
 * in a repeated field's array. */
size_t silk__json_elem_size(ProtobufCType type);

/* silk__json_type_name returns the proto name of a field's type ("int32", "bytes"). */
const char *silk__json_type_name(ProtobufCType type);

/* silk__json_custom_names returns, by field index, the [json_name]s of desc's fields that
 * silk_json_add_names recorded (NULL where a field has the default name), or NULL when desc
 * has none: one lookup per message, not per field. Any thread. */
const char *const *silk__json_custom_names(const ProtobufCMessageDescriptor *desc);

/* silk__json_find_field returns the field of desc named key (len bytes), or NULL: its proto
 * name or its JSON name (the [json_name] when it has one, else lowerCamelCase), the two a
 * reader takes; the first field that either names. */
const ProtobufCFieldDescriptor *silk__json_find_field(const ProtobufCMessageDescriptor *desc,
                                                      const char *key, size_t len);

/* silk__json_is_map tells whether f is a map<K, V> field: a repeated message field whose
 * type is the generated entry message (fields key = 1 and value = 2, named <Field>Entry). */
bool silk__json_is_map(const ProtobufCFieldDescriptor *f);

/* silk__json_malloc is protobuf-c's default allocator as its own: malloc and free, what a
 * NULL ProtobufCAllocator means. Never changed. */
extern ProtobufCAllocator silk__json_malloc;

/* silk__json_base64_decode decodes standard or URL-safe base64, padded or not, into a new
 * buffer from a (*out, freed through a; NULL for empty input) of *out_len bytes. It returns
 * 0, -1 for malformed input, -2 when memory is exhausted. */
int silk__json_base64_decode(const char *in, size_t len, ProtobufCAllocator *a, uint8_t **out,
                             size_t *out_len);

/* silk__json_base64_len is the length of the padded standard base64 of n bytes. */
size_t silk__json_base64_len(size_t n);

/* silk__json_base64_encode writes the padded standard base64 of n bytes into out, which
 * holds silk__json_base64_len(n) bytes (no NUL is written). */
void silk__json_base64_encode(const uint8_t *in, size_t n, char *out);

/* Timestamps and durations: the range proto3 JSON allows. */
#define SILK__JSON_TS_MIN  (-62135596800LL) /* 0001-01-01T00:00:00Z */
#define SILK__JSON_TS_MAX  253402300799LL   /* 9999-12-31T23:59:59Z */
#define SILK__JSON_DUR_MAX 315576000000LL   /* 10000 years */

/* silk__json_days_from_civil returns the days since 1970-01-01 of a proleptic Gregorian date. */
int64_t silk__json_days_from_civil(int64_t y, unsigned m, unsigned d);

/* silk__json_civil_from_days is the inverse of silk__json_days_from_civil. */
void silk__json_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);

/* ---- decoding's errors: decode_scalar.c ---- */

/* silk__json_dec is one decoding: where the error goes, the path to the value being read
 * ("inner.tags[2]"), and the allocator that everything in the message comes from (never
 * NULL: &silk__json_malloc for malloc). */
typedef struct silk__json_dec {
    ProtobufCAllocator *alloc;
    char *err;
    size_t errlen;
    char path[256];
    size_t path_len;
} silk__json_dec;

/* silk__json_fail writes "field \"<path>\": <what>" (or just what at the top) into d's error
 * and returns st. */
silk_status silk__json_fail(silk__json_dec *d, silk_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* silk__json_nomem is silk__json_fail for exhausted memory: SILK_RESOURCE_EXHAUSTED. */
silk_status silk__json_nomem(silk__json_dec *d);

/* ---- the tokenizer: lex.c; the grammar and the syntax-only walk: syntax.c ---- */

/* silk__json_kind is a token's kind; OBJECT to NULL start values. */
typedef enum silk__json_kind {
    SILK__JSON_EOF = 0,
    SILK__JSON_OBJECT, /* '{' */
    SILK__JSON_ARRAY,  /* '[' */
    SILK__JSON_STRING,
    SILK__JSON_INTEGER,
    SILK__JSON_REAL,
    SILK__JSON_TRUE,
    SILK__JSON_FALSE,
    SILK__JSON_NULL,
    SILK__JSON_OBJECT_END, /* '}' */
    SILK__JSON_ARRAY_END,  /* ']' */
    SILK__JSON_COLON,
    SILK__JSON_COMMA,
    SILK__JSON_INVALID, /* text that is no token: "nul", "01", "-", "'" */
} silk__json_kind;

/* silk__json_tok is one token, or a value made of one: a STRING's s is decoded UTF-8 with a
 * NUL after its len bytes (it may hold NULs), valid until the next token; an INTEGER's i is
 * a number written without fraction or exponent (as jansson: in long long), a REAL's x any
 * other. */
typedef struct silk__json_tok {
    silk__json_kind kind;
    const char *s;
    size_t len;
    long long i;
    double x;
} silk__json_tok;

/* silk__json_lex reads a text of JSON once: the current token, the nesting so far, where
 * decoded strings go, and the first syntax error, in jansson's words (why) at the cursor. */
typedef struct silk__json_lex {
    const char *in, *end;
    const char *p;         /* the cursor: past the current token */
    const char *tok_start; /* the current token's text, to p */
    silk__json_tok tok;
    size_t depth;
    char *buf; /* small, or the heap for longer strings */
    size_t cap;
    bool failed; /* a syntax error, or memory exhausted (nomem) */
    bool nomem;
    bool skip;       /* the NUL at p reads as nothing (jansson's way) */
    bool escape_nul; /* the error is at a NUL in an escape, the byte before p */
    char why[200];   /* jansson keeps 158 bytes; no text here is that long */
    char small[256];
} silk__json_lex;

/* silk__json_lex_init starts reading json[0..len) (before its first token);
 * silk__json_lex_fini frees what reading took. */
void silk__json_lex_init(silk__json_lex *lx, const char *json, size_t len);
void silk__json_lex_fini(silk__json_lex *lx);

/* silk__json_lex_next reads the next token. It returns SILK_OK (SILK__JSON_EOF at the end of
 * the text; SILK__JSON_INVALID for text that is no token, which only a value's place
 * refuses), or, lx->failed set, SILK_INVALID_ARGUMENT for a syntax error (bad UTF-8, a bad
 * string or escape, an integer beyond long long, a real beyond double) or
 * SILK_RESOURCE_EXHAUSTED. */
silk_status silk__json_lex_next(silk__json_lex *lx);

/* silk__json_lex_fail records a syntax error (fmt) at the current token, jansson's way, and
 * returns SILK_INVALID_ARGUMENT. */
silk_status silk__json_lex_fail(silk__json_lex *lx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* silk__json_lex_report writes lx's error into d ("malformed JSON at line 1 column 7: ...",
 * or out of memory) and returns its status. */
silk_status silk__json_lex_report(const silk__json_lex *lx, silk__json_dec *d);

/* The grammar, as jansson's parser checks it; each returns as silk__json_lex_next does.
 * - silk__json_doc_begin reads the first token, the start of the one value;
 *   silk__json_doc_end, once that value is read, checks that nothing follows.
 * - silk__json_value_begin checks that the current token starts a value, no deeper than
 *   jansson allows; silk__json_value_end ends it (member_next and elem_next call it).
 * - At an object's '{': silk__json_member_first reads the first key (*more) or the '}';
 *   silk__json_member_value reads the ':' and the value's first token; once the value is
 *   read silk__json_member_next reads the next key (*more) or the '}'. A key is a STRING
 *   without NUL; refusing one given twice is the caller's (silk__json_keys).
 * - At an array's '[': silk__json_elem_first and silk__json_elem_next read the next
 *   element's first token (*more, value_begin done) or the ']'. */
silk_status silk__json_doc_begin(silk__json_lex *lx);
silk_status silk__json_doc_end(silk__json_lex *lx);
silk_status silk__json_value_begin(silk__json_lex *lx);
void silk__json_value_end(silk__json_lex *lx);
silk_status silk__json_member_first(silk__json_lex *lx, bool *more);
silk_status silk__json_member_value(silk__json_lex *lx);
silk_status silk__json_member_next(silk__json_lex *lx, bool *more);
silk_status silk__json_elem_first(silk__json_lex *lx, bool *more);
silk_status silk__json_elem_next(silk__json_lex *lx, bool *more);

/* silk__json_keys is a set of an object's keys, in place for a few. */
typedef struct silk__json_keys {
    char *arena; /* each key: a uint32_t length, then its bytes */
    size_t used, arena_cap;
    uint32_t *slots; /* open addressing: 1 + a key's offset, 0 for none */
    size_t n_slots, n;
    char arena_small[128];
    uint32_t slots_small[16];
} silk__json_keys;

/* silk__json_keys_init makes an empty set; silk__json_keys_fini frees it. */
void silk__json_keys_init(silk__json_keys *k);
void silk__json_keys_fini(silk__json_keys *k);

/* silk__json_keys_add adds s[0..len): 1, or 0 when it was there already, or -1 when memory
 * is exhausted. */
int silk__json_keys_add(silk__json_keys *k, const char *s, size_t len);

/* silk__json_check_syntax walks json[0..len) as jansson's parser would, duplicate keys
 * refused, and returns SILK_OK or, its error written into d, what silk__json_lex_report
 * says: the decoder's answer when a JSON error follows the first error of meaning. */
silk_status silk__json_check_syntax(const char *json, size_t len, silk__json_dec *d);

/* ---- the decoder: decode.c and decode_scalar.c ---- */

/* silk__json_kind_of names the kind of a value for an error: "an object", "a string". */
const char *silk__json_kind_of(const silk__json_tok *v);

/* silk__json_alloc_message returns a new, initialised message of desc from a, or NULL. */
ProtobufCMessage *silk__json_alloc_message(ProtobufCAllocator *a,
                                           const ProtobufCMessageDescriptor *desc);

/* silk__json_free frees p (NULL allowed) through a, as protobuf-c's do_free does. */
static inline void silk__json_free(ProtobufCAllocator *a, void *p)
{
    if (p != NULL)
        a->free(a->allocator_data, p);
}

/* silk__json_read_value stores v, a value of f's type written as one token, at slot (one
 * element for a repeated field): any type but a message that is not a well-known type with
 * a form of its own (silk__json_wkt_of), whose message it makes when the slot has none. A
 * string or bytes value replaces the slot's own. What it makes comes from d->alloc. On
 * failure the error says why and the slot is as it was, but for a message made, which is the
 * slot's to free. */
silk_status silk__json_read_value(silk__json_dec *d, const ProtobufCFieldDescriptor *f,
                                  const silk__json_tok *v, void *slot);

/* silk__json_read_wkt fills msg, of a well-known type with a form of its own (a Timestamp,
 * a Duration, a wrapper), from v. */
silk_status silk__json_read_wkt(silk__json_dec *d, const silk__json_tok *v, ProtobufCMessage *msg);

#endif /* SILK_JSON_INTERNAL_H */
