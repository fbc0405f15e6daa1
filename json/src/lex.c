/* lex.c - JSON text read once, token by token, with the rules and the error texts of
 * jansson's lexer (which the decoder was built on before); syntax.c has its grammar. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "json_internal.h"

/* ============================================================================
 * Errors, worded and placed as jansson words and places them
 * ========================================================================== */

/* fail_text records the syntax error msg at the cursor, with jansson's context: " near '<the
 * token so far>'" when that is 1 to 20 bytes, " near end of file" when it is empty (nothing
 * then for a UTF-8 error). */
static silk_status fail_text(silk__json_lex *lx, bool utf8, const char *msg)
{
    size_t n = (size_t)(lx->p - lx->tok_start);
    if (n > 0 && lx->tok_start[0] != '\0') {
        if (n <= 20)
            snprintf(lx->why, sizeof lx->why, "%s near '%.*s'", msg, (int)n, lx->tok_start);
        else
            snprintf(lx->why, sizeof lx->why, "%s", msg);
    } else {
        snprintf(lx->why, sizeof lx->why, utf8 ? "%s" : "%s near end of file", msg);
    }
    lx->failed = true;
    return SILK_INVALID_ARGUMENT;
}

silk_status silk__json_lex_fail(silk__json_lex *lx, const char *fmt, ...)
{
    char msg[120];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return fail_text(lx, false, msg);
}

/* fail_utf8 records the byte at p, which starts no well-formed UTF-8 sequence. */
static silk_status fail_utf8(silk__json_lex *lx, const char *p)
{
    char msg[48];
    snprintf(msg, sizeof msg, "unable to decode byte 0x%x", (unsigned)(unsigned char)*p);
    lx->p = p;
    return fail_text(lx, true, msg);
}

/* bad_utf8 tells whether the byte at p (before end) starts no well-formed UTF-8 sequence. */
static bool bad_utf8(const silk__json_lex *lx, const char *p)
{
    return (unsigned char)*p >= 0x80 &&
           silk__utf8_len((const unsigned char *)p, (size_t)(lx->end - p)) == 0;
}

/* peek returns the byte at p, -1 at the end, or -2 when it starts bad UTF-8 (the error is
 * recorded, the token so far its context): jansson checks every byte it reads. */
static int peek(silk__json_lex *lx, const char *p)
{
    if (p == lx->end)
        return -1;
    if (bad_utf8(lx, p)) {
        fail_utf8(lx, p);
        return -2;
    }
    return (unsigned char)*p;
}

static bool is_alnum(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* skip_nul passes over a NUL byte right after a number or a word, as jansson does: it reads
 * the byte after one and gives it back, and a NUL given back reads as nothing there. */
static void skip_nul(silk__json_lex *lx)
{
    lx->skip = lx->p < lx->end && *lx->p == '\0';
}

silk_status silk__json_lex_report(const silk__json_lex *lx, silk__json_dec *d)
{
    if (lx->nomem)
        return silk__json_nomem(d);
    int line = 1, column = 0;
    for (const char *p = lx->in; p < lx->p; p++) {
        if (*p == '\n') {
            line++;
            column = 0;
        } else if (*p == '\0' && p > lx->in && is_alnum(p[-1]) &&
                   !(lx->escape_nul && p + 1 == lx->p)) {
            /* a NUL skipped after a number or word (skip_nul), not one in an escape */
        } else if ((*(const unsigned char *)p & 0xc0) != 0x80) { /* a character's first byte */
            column++;
        }
    }
    /* jansson refuses integers beyond long long: say how to send them. */
    bool big = strstr(lx->why, "too big") != NULL && strstr(lx->why, "integer") != NULL;
    d->path_len = 0;
    d->path[0] = '\0';
    return silk__json_fail(d, SILK_INVALID_ARGUMENT, "malformed JSON at line %d column %d: %s%s",
                           line, column, lx->why,
                           big ? " (integers beyond 64 bits signed must be sent as strings)" : "");
}

/* ============================================================================
 * The decoded text of strings
 * ========================================================================== */

void silk__json_lex_init(silk__json_lex *lx, const char *json, size_t len)
{
    lx->in = lx->p = lx->tok_start = json;
    lx->end = json + len;
    lx->depth = 0;
    lx->buf = lx->small;
    lx->cap = sizeof lx->small;
    lx->failed = lx->nomem = lx->skip = lx->escape_nul = false;
    lx->why[0] = '\0';
    lx->tok = (silk__json_tok){.kind = SILK__JSON_EOF};
}

void silk__json_lex_fini(silk__json_lex *lx)
{
    if (lx->buf != lx->small)
        free(lx->buf);
    lx->buf = lx->small;
    lx->cap = sizeof lx->small;
}

/* reserve makes room for n more bytes and a NUL after used ones; false when memory is
 * exhausted (recorded). */
static bool reserve(silk__json_lex *lx, size_t used, size_t n)
{
    if (used + n < lx->cap)
        return true;
    size_t cap = lx->cap * 2;
    while (cap <= used + n)
        cap *= 2;
    char *grown = lx->buf == lx->small ? malloc(cap) : realloc(lx->buf, cap);
    if (grown == NULL) {
        lx->nomem = lx->failed = true;
        return false;
    }
    if (lx->buf == lx->small)
        memcpy(grown, lx->small, used);
    lx->buf = grown;
    lx->cap = cap;
    return true;
}

/* put_utf8 appends code point cp (below 0x110000, no surrogate) at *used. */
static bool put_utf8(silk__json_lex *lx, size_t *used, unsigned cp)
{
    if (!reserve(lx, *used, 4))
        return false;
    unsigned char *o = (unsigned char *)lx->buf + *used;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        *used += 1;
    } else if (cp < 0x800) {
        o[0] = (unsigned char)(0xc0 | cp >> 6);
        o[1] = (unsigned char)(0x80 | (cp & 0x3f));
        *used += 2;
    } else if (cp < 0x10000) {
        o[0] = (unsigned char)(0xe0 | cp >> 12);
        o[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        o[2] = (unsigned char)(0x80 | (cp & 0x3f));
        *used += 3;
    } else {
        o[0] = (unsigned char)(0xf0 | cp >> 18);
        o[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
        o[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        o[3] = (unsigned char)(0x80 | (cp & 0x3f));
        *used += 4;
    }
    return true;
}

/* ============================================================================
 * Strings
 *
 * jansson reads a string twice: a scan that stops at a bad byte, a newline or control
 * character, a bad escape or the end of the input, then the decoding of its \u escapes,
 * which refuses a lone or mismatched surrogate. Here one pass does both; a surrogate error
 * waits for the closing quote, since any error of the scan comes first.
 * ========================================================================== */

/* string_scan is one string's state: the decoded bytes so far, a high surrogate waiting for
 * its low half, and the first surrogate error (bad_hi, with bad_lo when there was one). */
typedef struct string_scan {
    size_t used;
    unsigned pending;
    unsigned bad_hi, bad_lo;
    bool bad, bad_pair;
} string_scan;

static bool is_hex(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static unsigned hex_value(int c)
{
    return c <= '9' ? (unsigned)(c - '0') : (unsigned)((c | 0x20) - 'a' + 10);
}

/* lone_surrogate ends a high surrogate that no \u escape follows: an error. */
static void lone_surrogate(string_scan *s)
{
    if (s->pending != 0 && !s->bad) {
        s->bad = true;
        s->bad_pair = false;
        s->bad_hi = s->pending;
    }
    s->pending = 0;
}

/* unicode_escape takes the value of a \uXXXX escape. */
static bool unicode_escape(silk__json_lex *lx, string_scan *s, unsigned v)
{
    if (s->pending != 0) {
        unsigned hi = s->pending;
        s->pending = 0;
        if (v >= 0xdc00 && v <= 0xdfff)
            return s->bad || put_utf8(lx, &s->used, 0x10000 + ((hi - 0xd800) << 10) + (v - 0xdc00));
        if (!s->bad)
            *s = (string_scan){
                .used = s->used, .bad = true, .bad_pair = true, .bad_hi = hi, .bad_lo = v};
        return true;
    }
    if (v >= 0xd800 && v <= 0xdbff) {
        s->pending = v;
        return true;
    }
    if (v >= 0xdc00 && v <= 0xdfff) {
        if (!s->bad)
            *s = (string_scan){.used = s->used, .bad = true, .bad_hi = v};
        return true;
    }
    return s->bad || put_utf8(lx, &s->used, v);
}

/* escape reads the escape whose backslash is at *pp and moves *pp past it. */
static silk_status escape(silk__json_lex *lx, string_scan *s, const char **pp)
{
    const char *e = *pp + 1;
    int c = peek(lx, e);
    if (c == -2)
        return SILK_INVALID_ARGUMENT;
    if (c == 'u') {
        unsigned v = 0;
        for (int i = 1; i <= 4; i++) {
            int h = peek(lx, e + i);
            if (h == -2)
                return SILK_INVALID_ARGUMENT;
            if (!is_hex(h)) {
                lx->p = h == -1 ? lx->end : e + i + 1;
                lx->escape_nul = h == 0;
                return silk__json_lex_fail(lx, "invalid escape");
            }
            v = v << 4 | hex_value(h);
        }
        *pp = e + 5;
        return unicode_escape(lx, s, v) ? SILK_OK : SILK_RESOURCE_EXHAUSTED;
    }
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *hit = c > 0 ? strchr(from, c) : NULL;
    if (hit == NULL) {
        lx->p = c == -1 ? lx->end : e + 1;
        lx->escape_nul = c == 0;
        return silk__json_lex_fail(lx, "invalid escape");
    }
    lone_surrogate(s);
    *pp = e + 1;
    if (!s->bad) {
        if (!reserve(lx, s->used, 1))
            return SILK_RESOURCE_EXHAUSTED;
        lx->buf[s->used++] = to[hit - from];
    }
    return SILK_OK;
}

/* ascii_run returns the end of the run of bytes at p that are ASCII but quote, backslash
 * and control characters, or a little before it: eight bytes at a time. */
static const char *ascii_run(const char *p, const char *end)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    while (end - p >= 8) {
        uint64_t v;
        memcpy(&v, p, sizeof v);
        uint64_t quote = v ^ (ones * '"'), backslash = v ^ (ones * '\\');
        /* A byte's high bit set: one above 0x7f, below 0x20, or equal to '"' or '\\'. */
        uint64_t care = (v | ((v - ones * 0x20) & ~v) | ((quote - ones) & ~quote) |
                         ((backslash - ones) & ~backslash)) &
                        highs;
        if (care != 0)
            break;
        p += 8;
    }
    return p;
}

/* plain copies the run of bytes at *pp that need no care (ASCII but quote, backslash and
 * control characters; whole UTF-8 sequences) and moves *pp past it. */
static silk_status plain(silk__json_lex *lx, string_scan *s, const char **pp)
{
    const char *p = ascii_run(*pp, lx->end), *run = *pp;
    while (p < lx->end) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x80) {
            if (c < 0x20 || c == '"' || c == '\\')
                break;
            p++;
            continue;
        }
        size_t n = silk__utf8_len((const unsigned char *)p, (size_t)(lx->end - p));
        if (n == 0)
            break;
        p += n;
    }
    if (p > run) {
        lone_surrogate(s);
        if (!s->bad) {
            if (!reserve(lx, s->used, (size_t)(p - run)))
                return SILK_RESOURCE_EXHAUSTED;
            memcpy(lx->buf + s->used, run, (size_t)(p - run));
            s->used += (size_t)(p - run);
        }
    }
    *pp = p;
    return SILK_OK;
}

/* scan_string reads the string whose opening quote is the token's start. */
static silk_status scan_string(silk__json_lex *lx)
{
    string_scan s = {0};
    const char *p = lx->tok_start + 1;
    for (;;) {
        silk_status st = plain(lx, &s, &p);
        if (st != SILK_OK)
            return st;
        if (p == lx->end) {
            lx->p = p;
            return silk__json_lex_fail(lx, "premature end of input");
        }
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            break;
        if (c == '\\') {
            if ((st = escape(lx, &s, &p)) != SILK_OK)
                return st;
            continue;
        }
        if (c >= 0x80)
            return fail_utf8(lx, p);
        lx->p = p;
        return c == '\n' ? silk__json_lex_fail(lx, "unexpected newline")
                         : silk__json_lex_fail(lx, "control character 0x%x", (unsigned)c);
    }
    lone_surrogate(&s);
    lx->p = p + 1;
    if (s.bad && s.bad_pair)
        return silk__json_lex_fail(lx, "invalid Unicode '\\u%04X\\u%04X'", s.bad_hi, s.bad_lo);
    if (s.bad)
        return silk__json_lex_fail(lx, "invalid Unicode '\\u%04X'", s.bad_hi);
    lx->buf[s.used] = '\0';
    lx->tok = (silk__json_tok){.kind = SILK__JSON_STRING, .s = lx->buf, .len = s.used};
    return SILK_OK;
}

/* ============================================================================
 * Numbers, words and punctuation
 * ========================================================================== */

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

/* digits moves *pp past a run of digits; *c is the byte after (peek's). */
static void digits(silk__json_lex *lx, const char **pp, int *c)
{
    while (is_digit(*c))
        *c = peek(lx, ++*pp);
}

/* invalid makes the text up to p a token that is none ("01", "-", "1."). */
static silk_status invalid(silk__json_lex *lx, const char *p)
{
    lx->p = p;
    lx->tok.kind = SILK__JSON_INVALID;
    return SILK_OK;
}

/* number_value converts the number's text [tok_start, p), as jansson does: strtoll for an
 * integer, strtod for a real. */
static silk_status number_value(silk__json_lex *lx, const char *p, bool real)
{
    lx->p = p;
    size_t n = (size_t)(p - lx->tok_start);
    if (!real && n <= 18) { /* no overflow possible */
        const char *q = lx->tok_start + (*lx->tok_start == '-');
        long long v = 0;
        while (q < p)
            v = v * 10 + (*q++ - '0');
        lx->tok = (silk__json_tok){.kind = SILK__JSON_INTEGER, .i = *lx->tok_start == '-' ? -v : v};
        skip_nul(lx);
        return SILK_OK;
    }
    if (!reserve(lx, 0, n))
        return SILK_RESOURCE_EXHAUSTED;
    memcpy(lx->buf, lx->tok_start, n);
    lx->buf[n] = '\0';
    errno = 0;
    if (!real) {
        long long v = strtoll(lx->buf, NULL, 10);
        if (errno == ERANGE)
            return silk__json_lex_fail(lx, v < 0 ? "too big negative integer" : "too big integer");
        lx->tok = (silk__json_tok){.kind = SILK__JSON_INTEGER, .i = v};
        skip_nul(lx);
        return SILK_OK;
    }
    double x = strtod(lx->buf, NULL);
    if ((x == HUGE_VAL || x == -HUGE_VAL) && errno == ERANGE)
        return silk__json_lex_fail(lx, "real number overflow");
    lx->tok = (silk__json_tok){.kind = SILK__JSON_REAL, .x = x};
    skip_nul(lx);
    return SILK_OK;
}

/* more_digits reads the digits that a fraction or an exponent must have, at *pp (*c the
 * first byte): false, *st set, when there are none (no token) or the byte is bad UTF-8. */
static bool more_digits(silk__json_lex *lx, const char **pp, int *c, silk_status *st)
{
    if (!is_digit(*c)) {
        *st = *c == -2 ? SILK_INVALID_ARGUMENT : invalid(lx, *pp);
        return false;
    }
    digits(lx, pp, c);
    return true;
}

/* scan_number reads a number starting with '-' or a digit at the token's start. */
static silk_status scan_number(silk__json_lex *lx)
{
    const char *p = lx->tok_start;
    if (*p == '-')
        p++;
    int c = peek(lx, p);
    if (c == '0') {
        c = peek(lx, ++p);
        if (is_digit(c))
            return invalid(lx, p); /* a leading zero */
    } else if (is_digit(c)) {
        digits(lx, &p, &c);
    } else if (c != -2) {
        return invalid(lx, p);
    }
    if (c == -2)
        return SILK_INVALID_ARGUMENT;
    if (c != '.' && c != 'e' && c != 'E')
        return number_value(lx, p, false);
    silk_status st;
    if (c == '.') {
        c = peek(lx, ++p);
        if (!more_digits(lx, &p, &c, &st))
            return st;
    }
    if (c == 'e' || c == 'E') {
        c = peek(lx, ++p);
        if (c == '+' || c == '-')
            c = peek(lx, ++p);
        if (!more_digits(lx, &p, &c, &st))
            return st;
    }
    if (c == -2)
        return SILK_INVALID_ARGUMENT;
    return number_value(lx, p, true);
}

static bool is_alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* scan_word reads a run of letters: true, false, null, or no token. */
static silk_status scan_word(silk__json_lex *lx)
{
    const char *p = lx->tok_start;
    int c = (unsigned char)*p;
    while (is_alpha(c))
        c = peek(lx, ++p);
    if (c == -2)
        return SILK_INVALID_ARGUMENT;
    lx->p = p;
    size_t n = (size_t)(p - lx->tok_start);
    const char *w = lx->tok_start;
    lx->tok.kind = n == 4 && memcmp(w, "true", 4) == 0    ? SILK__JSON_TRUE
                   : n == 5 && memcmp(w, "false", 5) == 0 ? SILK__JSON_FALSE
                   : n == 4 && memcmp(w, "null", 4) == 0  ? SILK__JSON_NULL
                                                          : SILK__JSON_INVALID;
    if (lx->tok.kind != SILK__JSON_INVALID)
        skip_nul(lx);
    return SILK_OK;
}

silk_status silk__json_lex_next(silk__json_lex *lx)
{
    const char *p = lx->p + lx->skip;
    lx->skip = false;
    while (p < lx->end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    lx->tok_start = lx->p = p;
    if (p == lx->end) {
        lx->tok.kind = SILK__JSON_EOF;
        return SILK_OK;
    }
    if (bad_utf8(lx, p)) /* nothing of the token read yet: no context */
        return fail_utf8(lx, p);
    unsigned char c = (unsigned char)*p;
    silk__json_kind k;
    switch (c) {
    case '{':
        k = SILK__JSON_OBJECT;
        break;
    case '}':
        k = SILK__JSON_OBJECT_END;
        break;
    case '[':
        k = SILK__JSON_ARRAY;
        break;
    case ']':
        k = SILK__JSON_ARRAY_END;
        break;
    case ':':
        k = SILK__JSON_COLON;
        break;
    case ',':
        k = SILK__JSON_COMMA;
        break;
    case '"':
        return scan_string(lx);
    default:
        if (is_digit(c) || c == '-')
            return scan_number(lx);
        if (is_alpha(c))
            return scan_word(lx);
        /* Anything else is no token: the whole character its text. */
        lx->p =
            p + (c < 0x80 ? 1 : silk__utf8_len((const unsigned char *)p, (size_t)(lx->end - p)));
        lx->tok.kind = SILK__JSON_INVALID;
        return SILK_OK;
    }
    lx->p = p + 1;
    lx->tok.kind = k;
    return SILK_OK;
}
