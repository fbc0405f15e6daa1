/* parser.c - HTTP/1.1 requests parsed over http-parser, free of I/O, and responses formatted. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/parser.h"

/* Parser states, in the order a request goes through them. */
enum {
    ST_IDLE = 0, /* before the first byte of a request */
    ST_URL,      /* in the request target */
    ST_FIELD,    /* in a header name */
    ST_VALUE,    /* in a header value */
    ST_BODY,     /* headers complete, reading the body */
    ST_DONE,     /* the request is complete */
};

/* The parts of a message the framing checks tell apart (check_framing). */
enum {
    PART_HEAD = 0,   /* the request line and the header section */
    PART_BODY,       /* a body of Content-Length bytes, none, or after the trailer section */
    PART_CHUNK_LINE, /* a chunk's size line */
    PART_CHUNK_DATA, /* a chunk's data and its CRLF */
    PART_TRAILER,    /* the trailer section, after the last chunk */
};

/* Why a callback paused http-parser: so that feed sees where a chunk's parts end. */
enum {
    PAUSE_NONE = 0,
    PAUSE_CHUNK_HEADER, /* just after a chunk's size line */
    PAUSE_CHUNK_DONE,   /* just after a chunk's data and its CRLF */
};

/* ============================================================================
 * Storage: the target and header strings go into one growing buffer, recorded by offset
 * while it may still move and turned into pointers once the headers are complete.
 * ========================================================================== */

/* buf_append appends len bytes of data, which may lie in the buffer itself (the path and the
 * query are copied out of the target): they are found again after the buffer moves. */
static int buf_append(silk__gw_http_parser *p, const char *data, size_t len)
{
    if (p->len + len + 1 > p->cap) {
        bool inside = p->buf != NULL && data >= p->buf && data < p->buf + p->cap;
        size_t off = inside ? (size_t)(data - p->buf) : 0;
        size_t cap = p->cap ? p->cap : 512;
        while (cap < p->len + len + 1)
            cap *= 2;
        char *b = realloc(p->buf, cap);
        if (b == NULL)
            return -1;
        p->buf = b;
        p->cap = cap;
        if (inside)
            data = b + off;
    }
    memcpy(p->buf + p->len, data, len);
    p->len += len;
    return 0;
}

/* buf_end_string terminates the string being built and returns 0, or -1 out of memory. */
static int buf_end_string(silk__gw_http_parser *p)
{
    return buf_append(p, "", 1);
}

static int fail(silk__gw_http_parser *p, int err)
{
    if (p->error == 0)
        p->error = err;
    return -1;
}

/* refuse_as fails the request with err, saying why (a constant text). It returns -1. */
static int refuse_as(silk__gw_http_parser *p, int err, const char *why)
{
    if (p->error == 0) {
        p->error = err;
        p->why = why;
    }
    return -1;
}

static int refuse(silk__gw_http_parser *p, const char *why)
{
    return refuse_as(p, SILK__GW_HTTP_ERR_MALFORMED, why);
}

/* set_detail keeps the first bytes of s[0..len) in p->detail for the log: '"', '\\', control
 * bytes and bytes above 0x7e as \xNN, so that the text can be quoted. */
static void set_detail(silk__gw_http_parser *p, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        bool plain = c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
        if (o + (plain ? 1 : 4) >= sizeof p->detail)
            break;
        if (plain) {
            p->detail[o++] = (char)c;
            continue;
        }
        p->detail[o++] = '\\';
        p->detail[o++] = 'x';
        p->detail[o++] = hex[c >> 4];
        p->detail[o++] = hex[c & 15];
    }
    p->detail[o] = '\0';
}

/* ============================================================================
 * Strictness (RFC 9112): the checks http-parser, built lenient, does not make
 * ========================================================================== */

/* is_tchar tells whether c may be in a token (RFC 9110 5.6.2), as a field name must be. */
static bool is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
        return true;
    default:
        return false;
    }
}

/* check_name refuses a piece of a field name (its pieces come one read at a time) that holds
 * anything but token characters: whitespace before the colon ("Transfer-Encoding :"), which
 * a proxy may read as another field or as the same one, above all. name[0..name_len) is the
 * name read so far, for the log. */
static int check_name(silk__gw_http_parser *p, const char *at, size_t len, const char *name,
                      size_t name_len)
{
    for (size_t i = 0; i < len; i++) {
        if (!is_tchar((unsigned char)at[i])) {
            set_detail(p, name, name_len);
            return refuse(p, "a header name that is not a token (whitespace before the colon?)");
        }
    }
    return 0;
}

/* refuse_line refuses the request for why, keeping for the log the bytes of s[from..to) that
 * lead up to at: up to 24 before it, and 8 from it. */
static int refuse_line(silk__gw_http_parser *p, const char *why, const char *s, size_t from,
                       size_t at, size_t to)
{
    size_t start = at - from > 24 ? at - 24 : from;
    size_t stop = to - at > 8 ? at + 8 : to;
    if (p->error == 0)
        set_detail(p, s + start, stop - start);
    return refuse(p, why);
}

/* scan_lines checks the lines in s[0..n), the next bytes of a head, a trailer section or (one)
 * a chunk's size line, picking up where the last call stopped: every CR is followed by LF,
 * every LF follows a CR, and no line of a head or trailer section starts with whitespace. It
 * returns 1 with *end just past the line that ends the part (one: the first line; else the
 * empty line after the request line, or after the trailer fields), 0 when s ends inside the
 * part, or -1 when the request is refused. */
static int scan_lines(silk__gw_http_parser *p, const char *s, size_t n, bool one, size_t *end)
{
    size_t i = 0;
    while (i < n) {
        if (p->last == '\r' && s[i] != '\n')
            return refuse_line(p, "a CR not followed by LF", s, i, i, n);
        if (p->line_start) {
            p->line_start = false;
            if (!one && p->started && (s[i] == ' ' || s[i] == '\t'))
                return refuse_line(p,
                                   p->n_lines < 2 ? "whitespace before the first header field"
                                                  : "a folded header line (obs-fold)",
                                   s, i, i, n);
        }
        const char *lf = memchr(s + i, '\n', n - i);
        size_t stop = lf != NULL ? (size_t)(lf - s) : n;
        const char *cr = memchr(s + i, '\r', stop - i);
        if (cr != NULL && (size_t)(cr - s) != stop - 1)
            return refuse_line(p, "a CR not followed by LF", s, i, (size_t)(cr - s), n);
        if (lf == NULL) {
            p->line_len += n - i;
            p->last = (unsigned char)s[n - 1];
            return 0;
        }
        unsigned char before = stop > i ? (unsigned char)s[stop - 1] : p->last;
        if (before != '\r')
            return refuse_line(p, "a line that ends in a bare LF", s, i, stop, n);
        bool empty = p->line_len + (stop - i) == 1;
        p->line_len = 0;
        p->line_start = true;
        p->last = '\n';
        i = stop + 1;
        if (!empty) {
            p->started = true;
            if (p->n_lines < 2)
                p->n_lines++;
        }
        if (one || (empty && p->started)) {
            *end = i;
            return 1;
        }
        /* An empty line before the request line is ignored (RFC 9112 2.2). */
    }
    return 0;
}

/* check_framing checks s[0..n), the bytes http-parser has just consumed, part by part; a
 * pause (p->pause) ends them. A chunk's data is not looked at, only the CRLF after it. It
 * returns 0, or -1 when the request is refused. */
static int check_framing(silk__gw_http_parser *p, const char *s, size_t n)
{
    size_t i = 0, end = 0;
    while (i < n) {
        int rc;
        switch (p->part) {
        case PART_HEAD:
        case PART_TRAILER:
            rc = scan_lines(p, s + i, n - i, false, &end);
            if (rc < 0)
                return -1;
            if (rc == 0)
                return 0;
            i += end;
            p->part =
                p->part == PART_HEAD && (p->hp.flags & F_CHUNKED) ? PART_CHUNK_LINE : PART_BODY;
            break;
        case PART_CHUNK_LINE:
            rc = scan_lines(p, s + i, n - i, true, &end);
            if (rc < 0)
                return -1;
            if ((rc == 1) != (p->pause == PAUSE_CHUNK_HEADER) || (rc == 1 && i + end != n))
                return refuse(p, "a chunk size line that does not end in CRLF");
            if (rc == 1)
                p->part = p->hp.content_length == 0 ? PART_TRAILER : PART_CHUNK_DATA;
            return 0;
        case PART_CHUNK_DATA:
            if (p->pause == PAUSE_CHUNK_DONE) {
                unsigned char a = n >= 2 ? (unsigned char)s[n - 2] : p->last;
                if (a != '\r' || s[n - 1] != '\n')
                    return refuse(p, "chunk data not followed by CRLF");
                p->part = PART_CHUNK_LINE;
            }
            p->last = (unsigned char)s[n - 1];
            return 0;
        default:
            p->last = (unsigned char)s[n - 1];
            return 0;
        }
    }
    return 0;
}

/* name_done counts the field whose name has just been read, when it is one that frames the
 * body. */
static void name_done(silk__gw_http_parser *p)
{
    const char *name = p->buf + p->name_off[p->n_fields - 1];
    size_t len = p->len - p->name_off[p->n_fields - 1];
    if (len == 14 && strncasecmp(name, "Content-Length", 14) == 0 && p->n_length < 2)
        p->n_length++;
    else if (len == 17 && strncasecmp(name, "Transfer-Encoding", 17) == 0 && p->n_encoding < 2)
        p->n_encoding++;
}

/* check_codings checks the request's Transfer-Encoding (RFC 9112 6.1, 6.3): in HTTP/1.1, with
 * no Content-Length, chunked last and only once (400 otherwise); and no coding but chunked,
 * which the gateway does not decode (501). It returns 0, or -1 when the request is refused. */
static int check_codings(silk__gw_http_parser *p, const silk__gw_http_request *r)
{
    if (p->n_length > 0)
        return refuse(p, "both Content-Length and Transfer-Encoding");
    if (r->http_major < 1 || (r->http_major == 1 && r->http_minor == 0))
        return refuse(p, "Transfer-Encoding in an HTTP/1.0 request");
    size_t chunked = 0, others = 0;
    bool last_chunked = false;
    for (size_t i = 0; i < r->n_headers; i++) {
        if (strcasecmp(r->headers[i].name, "Transfer-Encoding") != 0)
            continue;
        for (const char *s = r->headers[i].value; *s != '\0';) {
            while (*s == ' ' || *s == '\t' || *s == ',')
                s++;
            const char *coding = s;
            while (*s != '\0' && *s != ',' && *s != ';' && *s != ' ' && *s != '\t')
                s++;
            size_t len = (size_t)(s - coding);
            while (*s != '\0' && *s != ',')
                s++; /* parameters */
            if (len == 0)
                continue;
            last_chunked = len == 7 && strncasecmp(coding, "chunked", 7) == 0;
            if (last_chunked) {
                chunked++;
            } else if (others++ == 0) {
                set_detail(p, coding, len);
            }
        }
    }
    if (chunked != 1 || !last_chunked)
        return refuse(p, "Transfer-Encoding must end in chunked, given once");
    if (others > 0)
        return refuse_as(p, SILK__GW_HTTP_ERR_NOT_IMPLEMENTED,
                         "a transfer coding other than chunked is not implemented");
    return 0;
}

/* ============================================================================
 * http-parser callbacks
 * ========================================================================== */

static int on_message_begin(http_parser *hp)
{
    silk__gw_http_parser *p = hp->data;
    p->state = ST_IDLE;
    return 0;
}

static int on_url(http_parser *hp, const char *at, size_t len)
{
    silk__gw_http_parser *p = hp->data;
    if (p->state != ST_URL) {
        p->state = ST_URL;
        p->target_off = p->len;
    }
    return buf_append(p, at, len) == 0 ? 0 : fail(p, SILK__GW_HTTP_ERR_NOMEM);
}

static int on_header_field(http_parser *hp, const char *at, size_t len)
{
    silk__gw_http_parser *p = hp->data;
    if (p->state >= ST_BODY) /* a trailer field: checked, then dropped */
        return check_name(p, at, len, at, len);
    if (p->state != ST_FIELD) {
        if (p->n_fields == SILK__GW_HTTP_MAX_HEADERS)
            return fail(p, SILK__GW_HTTP_ERR_HEADERS_LARGE);
        if (buf_end_string(p) != 0)
            return fail(p, SILK__GW_HTTP_ERR_NOMEM);
        p->state = ST_FIELD;
        p->name_off[p->n_fields++] = p->len;
    }
    if (buf_append(p, at, len) != 0)
        return fail(p, SILK__GW_HTTP_ERR_NOMEM);
    size_t off = p->name_off[p->n_fields - 1];
    return check_name(p, at, len, p->buf + off, p->len - off);
}

static int on_header_value(http_parser *hp, const char *at, size_t len)
{
    silk__gw_http_parser *p = hp->data;
    if (p->state >= ST_BODY)
        return 0;
    if (p->state != ST_VALUE) {
        name_done(p);
        if (buf_end_string(p) != 0)
            return fail(p, SILK__GW_HTTP_ERR_NOMEM);
        p->state = ST_VALUE;
        p->value_off[p->n_fields - 1] = p->len;
    }
    return buf_append(p, at, len) == 0 ? 0 : fail(p, SILK__GW_HTTP_ERR_NOMEM);
}

/* trim returns s without leading blanks and cuts its trailing ones. */
static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

static int on_headers_complete(http_parser *hp)
{
    silk__gw_http_parser *p = hp->data;
    silk__gw_http_request *r = &p->req;

    if (p->state == ST_FIELD) { /* a name with no value at all */
        name_done(p);
        p->value_off[p->n_fields - 1] = p->len;
    }
    if (buf_end_string(p) != 0)
        return fail(p, SILK__GW_HTTP_ERR_NOMEM);
    /* Copy the path and the query out of the target, so that each is a string of its own. */
    size_t target_len = strlen(p->buf + p->target_off);
    const char *q = memchr(p->buf + p->target_off, '?', target_len);
    size_t path_len = q ? (size_t)(q - (p->buf + p->target_off)) : target_len;
    size_t path_off = p->len;
    if (buf_append(p, p->buf + p->target_off, path_len) != 0 || buf_end_string(p) != 0)
        return fail(p, SILK__GW_HTTP_ERR_NOMEM);
    size_t query_off = p->len;
    if (q != NULL &&
        buf_append(p, p->buf + p->target_off + path_len + 1, target_len - path_len - 1) != 0)
        return fail(p, SILK__GW_HTTP_ERR_NOMEM);
    if (buf_end_string(p) != 0)
        return fail(p, SILK__GW_HTTP_ERR_NOMEM);

    /* The buffer does not move any more: hand out pointers. */
    r->method = hp->method;
    r->http_major = hp->http_major;
    r->http_minor = hp->http_minor;
    r->target = p->buf + p->target_off;
    r->path = p->buf + path_off;
    r->query = p->buf + query_off;
    r->n_headers = p->n_fields;
    for (size_t i = 0; i < p->n_fields; i++) {
        r->headers[i].name = p->buf + p->name_off[i];
        r->headers[i].value = trim(p->buf + p->value_off[i]);
    }
    if (p->n_length > 1)
        return refuse(p, "more than one Content-Length");
    if (p->n_encoding > 0 && check_codings(p, r) != 0)
        return -1;
    /* http-parser sets content_length to ULLONG_MAX when there is no Content-Length. */
    if (hp->content_length != UINT64_MAX && hp->content_length > SILK__GW_HTTP_MAX_BODY_BYTES)
        return fail(p, SILK__GW_HTTP_ERR_BODY_LARGE);
    p->state = ST_BODY;
    return 0;
}

static int on_body(http_parser *hp, const char *at, size_t len)
{
    silk__gw_http_parser *p = hp->data;
    if (p->body_len + len > SILK__GW_HTTP_MAX_BODY_BYTES)
        return fail(p, SILK__GW_HTTP_ERR_BODY_LARGE);
    if (p->body_len + len + 1 > p->body_cap) {
        size_t cap = p->body_cap ? p->body_cap : 1024;
        while (cap < p->body_len + len + 1)
            cap *= 2;
        char *b = realloc(p->body, cap);
        if (b == NULL)
            return fail(p, SILK__GW_HTTP_ERR_NOMEM);
        p->body = b;
        p->body_cap = cap;
    }
    memcpy(p->body + p->body_len, at, len);
    p->body_len += len;
    p->body[p->body_len] = '\0';
    return 0;
}

/* on_chunk_header and on_chunk_complete pause http-parser where a chunk's size line and its
 * data end, for check_framing: not at the end of the trailer section, which ends the message. */
static int on_chunk_header(http_parser *hp)
{
    silk__gw_http_parser *p = hp->data;
    p->pause = PAUSE_CHUNK_HEADER;
    http_parser_pause(hp, 1);
    return 0;
}

static int on_chunk_complete(http_parser *hp)
{
    silk__gw_http_parser *p = hp->data;
    if (hp->flags & F_TRAILING)
        return 0;
    p->pause = PAUSE_CHUNK_DONE;
    http_parser_pause(hp, 1);
    return 0;
}

static int on_message_complete(http_parser *hp)
{
    silk__gw_http_parser *p = hp->data;
    p->req.body = p->body ? p->body : "";
    p->req.body_len = p->body_len;
    p->req.upgrade = hp->upgrade;
    p->req.keep_alive = http_should_keep_alive(hp) && !hp->upgrade;
    p->state = ST_DONE;
    /* Stop at the end of this request: what follows is the next request, which waits until
     * this one is answered. After an upgrade http-parser stops by itself, and pausing there
     * would leave the request's last byte unconsumed. */
    if (!hp->upgrade)
        http_parser_pause(hp, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
    .on_chunk_header = on_chunk_header,
    .on_chunk_complete = on_chunk_complete,
};

/* ============================================================================
 * Feeding
 * ========================================================================== */

void silk__gw_http_parser_init(silk__gw_http_parser *p)
{
    memset(p, 0, sizeof *p);
    http_parser_init(&p->hp, HTTP_REQUEST);
    p->hp.data = p;
}

void silk__gw_http_parser_fini(silk__gw_http_parser *p)
{
    free(p->buf);
    free(p->body);
    memset(p, 0, sizeof *p);
}

/* The most a parser keeps of each of its buffers from one request to the next on a
 * connection: the usual request then allocates nothing. */
#define KEPT_BUFFER_MAX 4096

void silk__gw_http_reset(silk__gw_http_parser *p)
{
    char *buf = p->cap <= KEPT_BUFFER_MAX ? p->buf : NULL;
    char *body = p->body_cap <= KEPT_BUFFER_MAX ? p->body : NULL;
    size_t cap = buf != NULL ? p->cap : 0, body_cap = body != NULL ? p->body_cap : 0;
    if (buf == NULL)
        free(p->buf);
    if (body == NULL)
        free(p->body);
    silk__gw_http_parser_init(p);
    p->buf = buf;
    p->cap = cap;
    p->body = body;
    p->body_cap = body_cap;
    if (body != NULL)
        body[0] = '\0'; /* a request without a body reads "" */
}

int silk__gw_http_feed(silk__gw_http_parser *p, const char *data, size_t len, size_t *used)
{
    size_t off = 0;

    while (p->error == 0 && p->state != ST_DONE && off < len) {
        size_t chunk = len - off;
        int in_headers = p->state < ST_BODY;
        if (in_headers) {
            /* Never hand http-parser more header bytes than the limit allows. */
            size_t room = SILK__GW_HTTP_MAX_HEADER_BYTES - p->header_bytes;
            if (room == 0) {
                p->error = SILK__GW_HTTP_ERR_HEADERS_LARGE;
                break;
            }
            if (chunk > room)
                chunk = room;
        }
        size_t n = http_parser_execute(&p->hp, &settings, data + off, chunk);
        bool paused = p->pause != PAUSE_NONE;
        if (p->error == 0 && n > 0)
            check_framing(p, data + off, n);
        if (paused) {
            p->pause = PAUSE_NONE;
            http_parser_pause(&p->hp, 0);
        }
        off += n;
        if (in_headers)
            p->header_bytes += n;
        if (p->error != 0 || p->state == ST_DONE)
            break;
        if (paused)
            continue;
        enum http_errno e = HTTP_PARSER_ERRNO(&p->hp);
        if (e != HPE_OK || n < chunk)
            refuse(p, e != HPE_OK ? http_errno_description(e) : "malformed HTTP request");
    }
    *used = off;
    if (p->error != 0)
        return p->error;
    if (p->state == ST_DONE) {
        http_parser_pause(&p->hp, 0);
        return SILK__GW_HTTP_DONE;
    }
    return SILK__GW_HTTP_MORE;
}

bool silk__gw_http_headers_complete(const silk__gw_http_parser *p)
{
    return p->state >= ST_BODY;
}

bool silk__gw_http_started(const silk__gw_http_parser *p)
{
    return p->header_bytes > 0;
}

int silk__gw_http_error_status(int err)
{
    switch (err) {
    case SILK__GW_HTTP_ERR_HEADERS_LARGE:
        return 431;
    case SILK__GW_HTTP_ERR_BODY_LARGE:
        return 413;
    case SILK__GW_HTTP_ERR_NOMEM:
        return 503;
    case SILK__GW_HTTP_ERR_NOT_IMPLEMENTED:
        return 501;
    default:
        return 400;
    }
}

/* ============================================================================
 * Reading a request
 * ========================================================================== */

const char *silk__gw_http_header_get(const silk__gw_http_request *req, const char *name)
{
    for (size_t i = 0; i < req->n_headers; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

size_t silk__gw_http_header_count(const silk__gw_http_request *req, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < req->n_headers; i++)
        n += strcasecmp(req->headers[i].name, name) == 0;
    return n;
}

/* list_has_token tells whether a comma-separated list holds token, ignoring case and blanks. */
static bool list_has_token(const char *list, const char *token)
{
    size_t tlen = strlen(token);
    const char *s = list;
    while (*s != '\0') {
        while (*s == ' ' || *s == '\t' || *s == ',')
            s++;
        const char *start = s;
        while (*s != '\0' && *s != ',')
            s++;
        const char *end = s;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        if ((size_t)(end - start) == tlen && strncasecmp(start, token, tlen) == 0)
            return true;
    }
    return false;
}

bool silk__gw_http_header_has_token(const silk__gw_http_request *req, const char *name,
                                    const char *token)
{
    for (size_t i = 0; i < req->n_headers; i++)
        if (strcasecmp(req->headers[i].name, name) == 0 &&
            list_has_token(req->headers[i].value, token))
            return true;
    return false;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* url_decode decodes len bytes of s into out (out_size bytes with the NUL), '+' as a space
 * when plus_is_space, and returns the decoded length, or -1 when it does not fit or an escape
 * is malformed or a NUL. */
static long url_decode_as(const char *s, size_t len, char *out, size_t out_size, bool plus_is_space)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= len)
                return -1;
            int hi = hexval(s[i + 1]);
            int lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = hi << 4 | lo;
            if (c == 0) /* a NUL would cut the string short */
                return -1;
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        if (n + 1 >= out_size)
            return -1;
        out[n++] = (char)c;
    }
    if (out_size == 0)
        return -1;
    out[n] = '\0';
    return (long)n;
}

static long url_decode(const char *s, size_t len, char *out, size_t out_size)
{
    return url_decode_as(s, len, out, out_size, true);
}

long silk__gw_http_url_decode(const char *s, size_t len, char *out, size_t out_size)
{
    return url_decode_as(s, len, out, out_size, false);
}

int silk__gw_http_query_next(const char **cursor, char *name, size_t name_size, char *value,
                             size_t value_size)
{
    const char *s = *cursor;
    while (s != NULL && *s == '&')
        s++;
    if (s == NULL || *s == '\0') {
        *cursor = s;
        return 0;
    }
    const char *end = strchr(s, '&');
    size_t seg = end ? (size_t)(end - s) : strlen(s);
    const char *eq = memchr(s, '=', seg);
    size_t name_len = eq ? (size_t)(eq - s) : seg;
    const char *v = eq ? eq + 1 : s + seg;
    *cursor = end ? end + 1 : s + seg;
    if (url_decode(s, name_len, name, name_size) < 0 ||
        url_decode(v, (size_t)(s + seg - v), value, value_size) < 0)
        return -1;
    return 1;
}

long silk__gw_http_query_get(const char *query, const char *name, char *out, size_t out_size)
{
    char key[128];
    const char *s = query;
    while (s != NULL && *s != '\0') {
        const char *end = strchr(s, '&');
        size_t seg = end ? (size_t)(end - s) : strlen(s);
        const char *eq = memchr(s, '=', seg);
        size_t key_len = eq ? (size_t)(eq - s) : seg;
        if (url_decode(s, key_len, key, sizeof key) >= 0 && strcasecmp(key, name) == 0) {
            const char *v = eq ? eq + 1 : s + seg;
            return url_decode(v, (size_t)(s + seg - v), out, out_size);
        }
        s = end ? end + 1 : NULL;
    }
    return -1;
}

/* ============================================================================
 * Responses
 * ========================================================================== */

const char *silk__gw_http_status_reason(int status)
{
    switch (status) {
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 426:
        return "Upgrade Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 499:
        return "Client Closed Request";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Unknown";
    }
}

/* put copies n bytes of s (NULL when n is 0) to p and returns the end of what it wrote. */
static char *put(char *p, const char *s, size_t n)
{
    if (n > 0)
        memcpy(p, s, n);
    return p + n;
}

/* put_uint writes v in decimal to p and returns the end of what it wrote. */
static char *put_uint(char *p, size_t v)
{
    char digits[20];
    size_t n = 0;
    do {
        digits[sizeof digits - ++n] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    return put(p, digits + sizeof digits - n, n);
}

#define PUT_LITERAL(p, s) put((p), (s), sizeof(s) - 1)

size_t silk__gw_http_response_room(int status, const char *extra_headers, const char *content_type,
                                   size_t body_len)
{
    return strlen(silk__gw_http_status_reason(status)) +
           (extra_headers ? strlen(extra_headers) : 0) + (content_type ? strlen(content_type) : 0) +
           body_len + 128;
}

/* The response head is made of constant parts and a few strings, copied rather than
 * formatted: it is written for every request. */
size_t silk__gw_http_response_write(char *out, int status, const char *extra_headers,
                                    const char *content_type, const char *body, size_t body_len,
                                    bool close)
{
    const char *reason = silk__gw_http_status_reason(status);
    char *p = PUT_LITERAL(out, "HTTP/1.1 ");
    p = put_uint(p, status > 0 ? (size_t)status : 0);
    *p++ = ' ';
    p = put(p, reason, strlen(reason));
    p = PUT_LITERAL(p, "\r\n");
    p = put(p, extra_headers, extra_headers ? strlen(extra_headers) : 0);
    if (content_type != NULL) {
        p = PUT_LITERAL(p, "Content-Type: ");
        p = put(p, content_type, strlen(content_type));
        p = PUT_LITERAL(p, "\r\n");
    }
    if (status >= 200 && status != 204 && status != 304) { /* RFC 9110 8.6, 15.4.5 */
        p = PUT_LITERAL(p, "Content-Length: ");
        p = put_uint(p, body_len);
        p = PUT_LITERAL(p, "\r\n");
    }
    if (close)
        p = PUT_LITERAL(p, "Connection: close\r\n");
    p = PUT_LITERAL(p, "\r\n");
    p = put(p, body, body_len);
    return (size_t)(p - out);
}

char *silk__gw_http_response(int status, const char *extra_headers, const char *content_type,
                             const char *body, size_t body_len, bool close, size_t *out_len)
{
    char *out = malloc(silk__gw_http_response_room(status, extra_headers, content_type, body_len));
    if (out != NULL)
        *out_len = silk__gw_http_response_write(out, status, extra_headers, content_type, body,
                                                body_len, close);
    return out;
}
