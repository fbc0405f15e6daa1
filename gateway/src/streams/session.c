/* session.c - a session's place in its stream, on its loop: silk.v1's welcome and envelopes,
 * the replay after `since`, pushes sent in offset order and once each, gaps read from the
 * store before what follows them. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include <silk/log.h>

#include "conn/client.h"
#include "http/metrics.h"
#include "http/parser.h"
#include "streams/streams.h"

#define LOG "gateway"

/* How many entries one read of the store returns at most. */
#define PAGE 1000

/* How many pushes a session holds while a read is out; more are dropped (the store has them,
 * and the read after the next one brings them). */
#define HELD_MAX 4096

/* How many offsets a session without silk.v1 remembers to drop a repeat (an idempotent push
 * sent again). */
#define RECENT 16

/* A push held while a read is out. */
typedef struct held {
    struct held *next;
    char epoch[SILK__STREAM_EPOCH_MAX + 1];
    uint64_t offset;
    int binary;
    size_t len;
    uint8_t data[];
} held;

typedef struct silk__gw_stream_session silk__gw_stream_session;

struct silk__gw_stream_session {
    bool v1;      /* envelopes */
    bool history; /* the route keeps history: the session has a place in its stream */
    silk__gw_since since;
    bool welcomed; /* v1: the welcome went out */
    char epoch[SILK__STREAM_EPOCH_MAX + 1];
    uint64_t next;     /* the next offset to send; 0: not known yet */
    bool reading;      /* a read is out: pushes are held */
    uint64_t read_seq; /* the read out, or the last */
    held *held_head, *held_tail;
    size_t n_held;
    bool dropped;            /* pushes were dropped while reading: read once more */
    uint64_t recent[RECENT]; /* without v1: offsets sent lately */
    unsigned n_recent;
};

/* ============================================================================
 * Envelopes
 * ========================================================================== */

/* base64 returns data in base64 (RFC 4648, padded), NUL-terminated; NULL on memory. */
static char *base64(const void *data, size_t len)
{
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    if (out != NULL)
        EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    return out;
}

/* send_json sends j to c as a text message and frees j. */
static void send_json(silk__gw_client *c, json_t *j)
{
    char *text = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (text == NULL) {
        silk_log(SILK_LOG_WARN, LOG, "no memory for an envelope session_id=%s", c->session_id);
        return;
    }
    silk__gw_client_send(c, 0, text, strlen(text));
    free(text);
}

/* data_field puts a message's bytes in j as "data": text as it is (a JSON string must be
 * UTF-8, which a text message is), binary in base64 with "binary": true. */
static void data_field(json_t *j, int binary, const void *data, size_t len)
{
    if (!binary) {
        json_object_set_new(j, "data", json_stringn(data, len));
        return;
    }
    char *b = base64(data, len);
    json_object_set_new(j, "data", b ? json_string(b) : json_null());
    json_object_set_new(j, "binary", json_true());
    free(b);
}

/* send_message sends c a push (type "push") or a reply: raw without silk.v1; epoch NULL for a
 * push kept nowhere. */
static void send_message(silk__gw_client *c, const char *type, const char *epoch, uint64_t offset,
                         int binary, const void *data, size_t len)
{
    const silk__gw_stream_session *s = c->stream;
    if (s == NULL || !s->v1) {
        silk__gw_client_send(c, binary, data, len);
        return;
    }
    json_t *j = json_pack("{ss}", "type", type);
    if (j != NULL && epoch != NULL) {
        json_object_set_new(j, "epoch", json_string(epoch));
        json_object_set_new(j, "offset", json_integer((json_int_t)offset));
    }
    if (j != NULL)
        data_field(j, binary, data, len);
    send_json(c, j);
}

static void send_welcome(silk__gw_client *c, uint64_t top, bool recovered)
{
    silk__gw_stream_session *s = c->stream;
    s->welcomed = true;
    send_json(c, json_pack("{ss ss ss sI sb}", "type", "welcome", "sessionId", c->session_id,
                           "epoch", s->epoch, "offset", (json_int_t)top, "recovered", recovered));
}

/* ============================================================================
 * The place in the stream
 * ========================================================================== */

/* start_read asks the store for the entries after after (max 0: the position only). */
static void start_read(silk__gw_client *c, uint64_t after, size_t max)
{
    silk__gw_stream_session *s = c->stream;
    s->reading = true;
    s->dropped = false;
    if (silk__gw_store_read(c, after, max, ++s->read_seq) != 0) {
        silk_log(SILK_LOG_WARN, LOG, "cannot read a stream session_id=%s", c->session_id);
        s->reading = false; /* what is held goes out as it is */
    }
}

static void hold(silk__gw_stream_session *s, const char *epoch, uint64_t offset, int binary,
                 const void *data, size_t len)
{
    held *h = s->n_held < HELD_MAX ? malloc(sizeof *h + len) : NULL;
    if (h == NULL) {
        s->dropped = true;
        return;
    }
    *h = (held){.offset = offset, .binary = binary, .len = len};
    snprintf(h->epoch, sizeof h->epoch, "%s", epoch);
    if (len > 0)
        memcpy(h->data, data, len);
    if (s->held_tail != NULL)
        s->held_tail->next = h;
    else
        s->held_head = h;
    s->held_tail = h;
    s->n_held++;
}

/* recent_seen tells whether offset was sent to c lately, and remembers it (without silk.v1). */
static bool recent_seen(silk__gw_stream_session *s, uint64_t offset)
{
    for (unsigned i = 0; i < s->n_recent && i < RECENT; i++)
        if (s->recent[i] == offset)
            return true;
    s->recent[s->n_recent++ % RECENT] = offset;
    return false;
}

/* place sends, holds or drops a push of c's stream by its offset. */
static void place(silk__gw_client *c, const char *epoch, uint64_t offset, int binary,
                  const void *data, size_t len)
{
    silk__gw_stream_session *s = c->stream;
    if (s->reading) {
        hold(s, epoch, offset, binary, data, len);
        return;
    }
    if (strcmp(epoch, s->epoch) != 0) { /* the stream's history was lost: a new one begins */
        snprintf(s->epoch, sizeof s->epoch, "%s", epoch);
        s->next = offset;
    }
    if (offset < s->next)
        return; /* sent already */
    if (offset > s->next) {
        hold(s, epoch, offset, binary, data, len);
        start_read(c, s->next - 1, PAGE);
        return;
    }
    send_message(c, "push", epoch, offset, binary, data, len);
    s->next = offset + 1;
}

/* release sends what was held while a read was out, in the order it came; a gap among it
 * starts another read, which holds the rest again. */
static void release(silk__gw_client *c)
{
    silk__gw_stream_session *s = c->stream;
    held *h = s->held_head;
    s->held_head = s->held_tail = NULL;
    s->n_held = 0;
    while (h != NULL) {
        held *next = h->next;
        place(c, h->epoch, h->offset, h->binary, h->data, h->len);
        free(h);
        h = next;
    }
}

/* replay sends r's entries from s->next on, skipping over what the store no longer keeps. */
static void replay(silk__gw_client *c, const silk__stream_range *r)
{
    silk__gw_stream_session *s = c->stream;
    if (r->first > s->next)
        s->next = r->first; /* trimmed or expired: that much is lost to this session */
    for (size_t i = 0; i < r->n; i++) {
        const silk__stream_entry *e = &r->entries[i];
        if (e->offset < s->next)
            continue;
        send_message(c, "push", s->epoch, e->offset, e->binary, e->data, e->len);
        s->next = e->offset + 1;
    }
}

/* first_answer sets c's place from the store's first answer and sends the welcome: with a
 * since of the same epoch, the session goes on after it, else after the stream's top. */
static void first_answer(silk__gw_client *c, const silk__stream_range *r)
{
    silk__gw_stream_session *s = c->stream;
    const silk__gw_since *since = &s->since;
    bool same = since->given && strcmp(since->epoch, r->epoch) == 0 && since->offset <= r->top;
    bool recovered = same && r->first <= since->offset + 1;
    snprintf(s->epoch, sizeof s->epoch, "%s", r->epoch);
    s->next = same ? since->offset + 1 : r->top + 1;
    if (since->given) {
        silk__gw_count_recovery(c->loop->gw, recovered);
        silk_log(SILK_LOG_DEBUG, LOG, "session recovering session_id=%s recovered=%d",
                 c->session_id, recovered);
    }
    if (s->v1)
        send_welcome(c, r->top, recovered);
}

void silk__gw_stream_read_done(silk__gw_client *c, uint64_t seq, silk_status st,
                               const silk__stream_range *r)
{
    silk__gw_stream_session *s = c->stream;
    if (s == NULL || seq != s->read_seq || !s->reading)
        return; /* an answer to a read given up */
    s->reading = false;
    if (st != SILK_OK) {
        silk_log(SILK_LOG_WARN, LOG, "a stream read failed session_id=%s status=%s", c->session_id,
                 silk_status_str(st));
        if (!s->welcomed && s->v1)
            send_welcome(c, 0, false);
        release(c); /* as they came: nothing better is known */
        return;
    }
    if (!s->welcomed)
        first_answer(c, r);
    else if (strcmp(r->epoch, s->epoch) != 0) { /* lost meanwhile: all that is kept is new */
        snprintf(s->epoch, sizeof s->epoch, "%s", r->epoch);
        s->next = r->first;
    }
    replay(c, r);
    if ((r->n == PAGE && s->next <= r->top) || s->dropped) {
        start_read(c, s->next - 1, PAGE); /* more to read: what is held waits */
        return;
    }
    release(c);
}

/* ============================================================================
 * The session's life
 * ========================================================================== */

/* epoch_char tells whether c may be in an epoch: letters, digits, '-' and '_'. */
static bool epoch_char(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
           c == '_';
}

int silk__gw_since_parse(const char *query, silk__gw_since *out)
{
    *out = (silk__gw_since){0};
    char value[SILK__STREAM_EPOCH_MAX + 32];
    long n = silk__gw_http_query_get(query, "since", value, sizeof value);
    if (n < 0)
        return 0;
    if ((size_t)n >= sizeof value)
        return -1;
    const char *colon = strchr(value, ':');
    size_t epoch_len = colon != NULL ? (size_t)(colon - value) : 0;
    if (epoch_len == 0 || epoch_len > SILK__STREAM_EPOCH_MAX || colon[1] < '0' || colon[1] > '9')
        return -1;
    for (size_t i = 0; i < epoch_len; i++)
        if (!epoch_char(value[i]))
            return -1;
    char *end = NULL;
    errno = 0;
    out->offset = strtoull(colon + 1, &end, 10);
    if (*end != '\0' || errno == ERANGE)
        return -1;
    memcpy(out->epoch, value, epoch_len);
    out->epoch[epoch_len] = '\0';
    out->given = true;
    return 0;
}

int silk__gw_stream_open(silk__gw_client *c, bool v1, const silk__gw_since *since)
{
    silk__stream_limits lim;
    bool history = silk__gw_history(c->loop->gw, c->service, &lim);
    if (!v1 && !history)
        return 0;
    silk__gw_stream_session *s = calloc(1, sizeof *s);
    if (s == NULL)
        return -1;
    s->v1 = v1;
    s->history = history;
    s->since = *since;
    c->stream = s;
    if (!history) {
        send_welcome(c, 0, false); /* no stream: epoch "" and offset 0 */
        return 0;
    }
    if (v1)
        start_read(c, since->given ? since->offset : 0, since->given ? PAGE : 0);
    return 0;
}

void silk__gw_stream_close(silk__gw_client *c)
{
    silk__gw_stream_session *s = c->stream;
    if (s == NULL)
        return;
    for (held *h = s->held_head, *next; h != NULL; h = next) {
        next = h->next;
        free(h);
    }
    free(s);
    c->stream = NULL;
}

void silk__gw_stream_push(silk__gw_client *c, const char *epoch, uint64_t offset, int binary,
                          const void *data, size_t len)
{
    silk__gw_stream_session *s = c->stream;
    if (s == NULL || offset == 0 || !s->history) {
        send_message(c, "push", NULL, 0, binary, data, len);
        return;
    }
    if (!s->v1) { /* as before streams, but for a repeat */
        if (!recent_seen(s, offset))
            silk__gw_client_send(c, binary, data, len);
        return;
    }
    place(c, epoch, offset, binary, data, len);
}

void silk__gw_stream_reply(silk__gw_client *c, int binary, const void *data, size_t len)
{
    if (c->stream == NULL || !c->stream->v1) {
        silk__gw_client_ws_send(c, binary, data, len);
        return;
    }
    json_t *j = json_pack("{ss}", "type", "reply");
    if (j != NULL)
        data_field(j, binary, data, len);
    char *text = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (text != NULL)
        silk__gw_client_ws_send(c, 0, text, strlen(text));
    free(text);
}
