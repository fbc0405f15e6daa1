/* parser.h - HTTP/1.1 requests parsed over http-parser, free of I/O, and responses formatted. */
#ifndef SILK_GATEWAY_HTTP_H
#define SILK_GATEWAY_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include <http_parser.h>

/* Limits: the request line and headers together, the body, and the number of headers. */
#define SILK__GW_HTTP_MAX_HEADER_BYTES (16 * 1024)
#define SILK__GW_HTTP_MAX_BODY_BYTES   (4 * 1024 * 1024)
#define SILK__GW_HTTP_MAX_HEADERS      64

/* What silk__gw_http_feed() returns: a request is complete, more bytes are needed, or the
 * request is refused with the HTTP status silk__gw_http_error_status() gives. */
#define SILK__GW_HTTP_DONE                1
#define SILK__GW_HTTP_MORE                0
#define SILK__GW_HTTP_ERR_MALFORMED       (-1) /* 400 */
#define SILK__GW_HTTP_ERR_HEADERS_LARGE   (-2) /* 431 */
#define SILK__GW_HTTP_ERR_BODY_LARGE      (-3) /* 413 */
#define SILK__GW_HTTP_ERR_NOMEM           (-4) /* 503 */
#define SILK__GW_HTTP_ERR_NOT_IMPLEMENTED (-5) /* 501: a transfer coding other than chunked */

typedef struct silk__gw_http_header {
    const char *name;
    const char *value; /* without leading or trailing blanks */
} silk__gw_http_header;

/* silk__gw_http_request is a complete request. Every string is NUL-terminated and belongs to
 * the parser: it lives until silk__gw_http_reset() or silk__gw_http_parser_fini(). */
typedef struct silk__gw_http_request {
    enum http_method method;
    unsigned short http_major;
    unsigned short http_minor;
    const char *target; /* the request target as sent, "/api/wstest?businessId=100" */
    const char *path;   /* the target up to '?', "/api/wstest" */
    const char *query;  /* after '?', "businessId=100"; "" when there is none */
    size_t n_headers;
    silk__gw_http_header headers[SILK__GW_HTTP_MAX_HEADERS];
    const char *body; /* NUL-terminated for convenience; "" when there is none */
    size_t body_len;
    bool upgrade;    /* http-parser saw Upgrade with Connection: upgrade */
    bool keep_alive; /* the connection may carry another request */
} silk__gw_http_request;

/* silk__gw_http_parser parses one request at a time from bytes fed to it. Embed it anywhere;
 * it allocates only while a request is being read and up to the limits above.
 *
 * It is stricter than http-parser (which Debian builds lenient) wherever two readers of one
 * request could disagree on where it ends (RFC 9112): every line of the head, of a chunk's
 * size and of the trailer section ends in CRLF, with no CR or LF elsewhere; no line of the
 * head starts with whitespace (obs-fold); a field name is a token, so no whitespace before
 * its colon; one Content-Length at most, and never with Transfer-Encoding; Transfer-Encoding
 * is chunked alone, once, and only in HTTP/1.1 (chunked after another coding is 501). Trailer
 * fields are checked and dropped. */
typedef struct silk__gw_http_parser {
    http_parser hp;
    silk__gw_http_request req;
    int state;
    int error;
    const char *why; /* once error is set: what was wrong (a constant text), or NULL */
    char detail[48]; /* the bytes at fault (a field name, a line's) for the log, with '"',
                        '\\' and bytes outside printable ASCII as \xNN; or "" */
    /* What the framing checks know of the bytes http-parser consumed (parser.c). */
    unsigned char part;       /* the part of the message the next byte is in */
    unsigned char pause;      /* why a callback paused http-parser */
    unsigned char last;       /* the last byte consumed */
    bool line_start;          /* the next byte starts a line */
    bool started;             /* the request line has been seen */
    size_t line_len;          /* bytes of the current line so far */
    unsigned char n_lines;    /* lines of the head so far, up to 2 */
    unsigned char n_length;   /* Content-Length fields */
    unsigned char n_encoding; /* Transfer-Encoding fields */
    size_t header_bytes;      /* bytes fed before the headers were complete */
    char *buf;                /* target and header strings, NUL-separated */
    size_t len, cap;
    size_t target_off;
    size_t name_off[SILK__GW_HTTP_MAX_HEADERS];
    size_t value_off[SILK__GW_HTTP_MAX_HEADERS];
    size_t n_fields;
    char *body;
    size_t body_len, body_cap;
} silk__gw_http_parser;

/* silk__gw_http_parser_init prepares p for the first request. */
void silk__gw_http_parser_init(silk__gw_http_parser *p);

/* silk__gw_http_parser_fini frees what p holds; p may be initialised again. */
void silk__gw_http_parser_fini(silk__gw_http_parser *p);

/* silk__gw_http_feed parses up to len bytes of data and sets *used to the bytes consumed. It
 * returns SILK__GW_HTTP_DONE when a request is complete (p->req is then valid, and the bytes
 * after *used belong to the next request or, after an upgrade, to the new protocol),
 * SILK__GW_HTTP_MORE when all bytes were consumed and the request is not complete yet, or a
 * negative SILK__GW_HTTP_ERR_* code: the request is refused and the connection must be closed
 * after the error reply. Once DONE, call silk__gw_http_reset() before feeding the next request. */
int silk__gw_http_feed(silk__gw_http_parser *p, const char *data, size_t len, size_t *used);

/* silk__gw_http_headers_complete tells whether the current request's headers have all been
 * read: its method, target and headers in p->req are valid then, its body not yet. */
bool silk__gw_http_headers_complete(const silk__gw_http_parser *p);

/* silk__gw_http_started tells whether any byte of the current request has been fed. */
bool silk__gw_http_started(const silk__gw_http_parser *p);

/* silk__gw_http_reset frees the finished request and makes p ready for the next one. */
void silk__gw_http_reset(silk__gw_http_parser *p);

/* silk__gw_http_error_status returns the HTTP status for a negative silk__gw_http_feed() code. */
int silk__gw_http_error_status(int err);

/* silk__gw_http_header_get returns the value of the first header named name (compared without
 * regard to case), or NULL. */
const char *silk__gw_http_header_get(const silk__gw_http_request *req, const char *name);

/* silk__gw_http_header_count returns how many headers are named name (compared without regard
 * to case). */
size_t silk__gw_http_header_count(const silk__gw_http_request *req, const char *name);

/* silk__gw_http_header_has_token tells whether any header named name holds token in its
 * comma-separated list, compared without regard to case ("Connection: keep-alive, Upgrade"). */
bool silk__gw_http_header_has_token(const silk__gw_http_request *req, const char *name,
                                    const char *token);

/* silk__gw_http_query_get finds the parameter named name (compared without regard to case) in
 * a query string and percent-decodes its value ('+' is a space) into out, which holds
 * out_size bytes including the NUL. It returns the decoded length, or -1 when the parameter
 * is absent, its value does not fit, or its escapes are malformed. */
long silk__gw_http_query_get(const char *query, const char *name, char *out, size_t out_size);

/* silk__gw_http_query_next reads the next "name=value" pair of a query string at *cursor,
 * percent-decoding both ('+' is a space) into name (name_size bytes with the NUL) and value
 * (value_size), and moves *cursor past it. Empty pairs ("a=1&&b=2") are skipped; a pair
 * without '=' has an empty value. It returns 1 for a pair, 0 at the end, or -1 when a name
 * or value does not fit or is badly escaped. */
int silk__gw_http_query_next(const char **cursor, char *name, size_t name_size, char *value,
                             size_t value_size);

/* silk__gw_http_url_decode percent-decodes len bytes of s ('+' stays '+': a path) into out
 * (out_size bytes with the NUL) and returns the decoded length, or -1 when it does not fit or
 * an escape is malformed or a NUL. */
long silk__gw_http_url_decode(const char *s, size_t len, char *out, size_t out_size);

/* silk__gw_http_status_reason returns the reason phrase of an HTTP status ("Not Found"). */
const char *silk__gw_http_status_reason(int status);

/* silk__gw_http_response formats a complete HTTP/1.1 response into a new malloc'ed buffer:
 * the status line, extra_headers (NULL, or lines each ending in "\r\n"), Content-Type (when
 * content_type is not NULL), Content-Length (but for 1xx, 204 and 304, which have none),
 * "Connection: close" when close is set, and the
 * body. It returns NULL when memory is exhausted; on success *out_len is its length and the
 * caller frees it. */
char *silk__gw_http_response(int status, const char *extra_headers, const char *content_type,
                             const char *body, size_t body_len, bool close, size_t *out_len);

/* silk__gw_http_response_room returns the bytes silk__gw_http_response_write may write for
 * such a response (a bound, not its length). */
size_t silk__gw_http_response_room(int status, const char *extra_headers, const char *content_type,
                                   size_t body_len);

/* silk__gw_http_response_write writes silk__gw_http_response's response into out, which has
 * silk__gw_http_response_room() bytes, and returns its length. */
size_t silk__gw_http_response_write(char *out, int status, const char *extra_headers,
                                    const char *content_type, const char *body, size_t body_len,
                                    bool close);

#endif /* SILK_GATEWAY_HTTP_H */
