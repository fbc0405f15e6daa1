/* ws_test.c - unit tests of ws.c: scripted client frames over a socketpair, the server's replies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "ws/frames.h"

/* The heap allocations made while counting (allocs >= 0), to show that reading messages makes
 * none: glibc's own entry points do the work, as in bench/alloc_count.c. A sanitizer's
 * allocator cannot be wrapped so: there nothing is counted. */
#ifndef __SANITIZE_ADDRESS__
#define COUNTS_ALLOCS 1
void *__libc_malloc(size_t n);
void *__libc_calloc(size_t k, size_t n);
void *__libc_realloc(void *p, size_t n);

static int allocs = -1;

void *malloc(size_t n)
{
    allocs += allocs >= 0;
    return __libc_malloc(n);
}

void *calloc(size_t k, size_t n)
{
    allocs += allocs >= 0;
    return __libc_calloc(k, n);
}

void *realloc(void *p, size_t n)
{
    allocs += allocs >= 0;
    return __libc_realloc(p, n);
}
#endif

typedef struct fixture {
    int server;     /* the gateway's end, given to silk__gw_ws as a plain stream */
    silk__gw_io io; /* on server */
    int client;     /* the test's end */
    silk__gw_ws *ws;
    int messages;
    int binary;
    uint8_t last[128 * 1024];
    size_t last_len;
} fixture;

static void on_message(void *arg, int binary, const uint8_t *data, size_t len)
{
    fixture *f = arg;
    assert_non_null(data); /* even for an empty message */
    f->messages++;
    f->binary = binary;
    f->last_len = len < sizeof f->last ? len : sizeof f->last;
    memcpy(f->last, data, f->last_len);
}

static const silk__gw_ws_callbacks callbacks = {.on_message = on_message};

static fixture *open_fixture(const silk__gw_ws_opts *opts, const void *pending, size_t pending_len)
{
    fixture *f = calloc(1, sizeof *f);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    f->server = sv[0];
    f->client = sv[1];
    fcntl(f->server, F_SETFL, O_NONBLOCK);
    fcntl(f->client, F_SETFL, O_NONBLOCK);
    char *p = NULL;
    if (pending_len > 0) {
        p = malloc(pending_len);
        memcpy(p, pending, pending_len);
    }
    silk__gw_io_init_plain(&f->io, f->server);
    f->ws = silk__gw_ws_new(&f->io, &callbacks, f, opts, p, pending_len);
    assert_non_null(f->ws);
    return f;
}

static void close_fixture(fixture *f)
{
    silk__gw_ws_free(f->ws);
    close(f->server);
    if (f->client >= 0)
        close(f->client);
    free(f);
}

/* frame writes one client frame (masked unless told not to) into out; returns its length. */
static size_t frame(uint8_t *out, int fin, int opcode, const void *payload, size_t len, int masked)
{
    static const uint8_t mask[4] = {0x11, 0x22, 0x33, 0x44};
    size_t n = 0;
    out[n++] = (uint8_t)((fin ? 0x80 : 0) | opcode);
    if (len < 126) {
        out[n++] = (uint8_t)((masked ? 0x80 : 0) | len);
    } else {
        out[n++] = (uint8_t)((masked ? 0x80 : 0) | 126);
        out[n++] = (uint8_t)(len >> 8);
        out[n++] = (uint8_t)len;
    }
    if (masked) {
        memcpy(out + n, mask, 4);
        n += 4;
    }
    for (size_t i = 0; i < len; i++)
        out[n + i] = ((const uint8_t *)payload)[i] ^ (masked ? mask[i % 4] : 0);
    return n + len;
}

static void client_send(fixture *f, const uint8_t *data, size_t len)
{
    assert_int_equal(write(f->client, data, len), (ssize_t)len);
}

/* server_frame reads the server's next frame (unmasked, short) and returns its payload length. */
static size_t server_frame(fixture *f, int *opcode, uint8_t *payload)
{
    uint8_t head[2];
    assert_int_equal(read(f->client, head, 2), 2);
    *opcode = head[0] & 0x0f;
    assert_true(head[0] & 0x80);         /* fin */
    assert_int_equal(head[1] & 0x80, 0); /* servers do not mask */
    size_t len = head[1] & 0x7f;
    assert_true(len < 126);
    if (len > 0)
        assert_int_equal(read(f->client, payload, len), (ssize_t)len);
    return len;
}

static uint16_t close_code(const uint8_t *payload)
{
    return (uint16_t)(payload[0] << 8 | payload[1]);
}

/* read_driving reads exactly len bytes the server sent, writing what waits on its side
 * whenever the client's socket is empty. */
static void read_driving(fixture *f, uint8_t *out, size_t len)
{
    for (int spins = 0; len > 0; spins++) {
        assert_true(spins < 100000);
        ssize_t n = read(f->client, out, len);
        if (n > 0) {
            out += n;
            len -= (size_t)n;
        } else {
            assert_true(silk__gw_ws_want_write(f->ws));
            assert_int_equal(silk__gw_ws_write(f->ws), 0);
        }
    }
}

static void drive(fixture *f)
{
    silk__gw_ws_read(f->ws);
    while (silk__gw_ws_want_write(f->ws))
        assert_int_equal(silk__gw_ws_write(f->ws), 0);
}

static void test_text_binary_fragments(void **state)
{
    (void)state;
    fixture *f = open_fixture(NULL, NULL, 0);
    uint8_t buf[512];
    size_t n = frame(buf, 1, 1, "hello", 5, 1);
    client_send(f, buf, n);
    assert_int_equal(silk__gw_ws_read(f->ws), 0);
    assert_int_equal(f->messages, 1);
    assert_int_equal(f->binary, 0);
    assert_memory_equal(f->last, "hello", 5);

    n = frame(buf, 1, 2, "\x00\x01\x02", 3, 1);
    client_send(f, buf, n);
    assert_int_equal(silk__gw_ws_read(f->ws), 0);
    assert_int_equal(f->messages, 2);
    assert_int_equal(f->binary, 1);
    assert_int_equal(f->last_len, 3);

    /* One message in two frames, with a ping between them; byte by byte. */
    n = frame(buf, 0, 1, "frag", 4, 1);
    n += frame(buf + n, 1, 9, "p", 1, 1);
    n += frame(buf + n, 1, 0, "ment", 4, 1);
    for (size_t i = 0; i < n; i++) {
        client_send(f, buf + i, 1);
        assert_int_equal(silk__gw_ws_read(f->ws), 0);
    }
    assert_int_equal(f->messages, 3);
    assert_int_equal(f->last_len, 8);
    assert_memory_equal(f->last, "fragment", 8);
    drive(f);
    int op;
    uint8_t payload[128];
    assert_int_equal(server_frame(f, &op, payload), 1);
    assert_int_equal(op, 0xa); /* pong, with the ping's data */
    assert_int_equal(payload[0], 'p');
    close_fixture(f);
}

/* sleeps asks the session to hibernate, as the loop's sweep does, and tells whether it did. */
static bool sleeps(silk__gw_ws *ws)
{
    silk__gw_ws_hibernate(ws);
    return silk__gw_ws_hibernating(ws);
}

/* A session hibernates (frees its wslay context) only at a message boundary with nothing
 * queued, and wakes for the next byte or message without losing any. */
static void test_hibernate_and_wake(void **state)
{
    (void)state;
    fixture *f = open_fixture(NULL, NULL, 0);
    assert_true(sleeps(f->ws));
    assert_true(silk__gw_ws_want_read(f->ws));
    assert_false(silk__gw_ws_want_write(f->ws));
    assert_false(silk__gw_ws_finished(f->ws));

    /* Half a frame: the context stays; the rest: the message, and hibernation again. */
    uint8_t buf[512];
    size_t n = frame(buf, 1, 1, "hello", 5, 1);
    client_send(f, buf, 4);
    assert_int_equal(silk__gw_ws_read(f->ws), 0);
    assert_false(sleeps(f->ws));
    client_send(f, buf + 4, n - 4);
    assert_int_equal(silk__gw_ws_read(f->ws), 0);
    assert_int_equal(f->messages, 1);
    assert_memory_equal(f->last, "hello", 5);
    assert_true(sleeps(f->ws));

    /* The first fragment of a message is not a boundary, even when its frame is complete. */
    n = frame(buf, 0, 1, "frag", 4, 1);
    client_send(f, buf, n);
    assert_int_equal(silk__gw_ws_read(f->ws), 0);
    assert_false(sleeps(f->ws));
    n = frame(buf, 1, 0, "ment", 4, 1);
    client_send(f, buf, n);
    assert_int_equal(silk__gw_ws_read(f->ws), 0);
    assert_int_equal(f->messages, 2);
    assert_memory_equal(f->last, "fragment", 8);
    assert_true(sleeps(f->ws));

    /* A ping is answered without waking it, at once (nothing waits); so is a pong taken. */
    n = frame(buf, 1, 9, "p", 1, 1);
    n += frame(buf + n, 1, 10, "q", 1, 1);
    client_send(f, buf, n);
    assert_int_equal(silk__gw_ws_read(f->ws), 0);
    assert_true(silk__gw_ws_hibernating(f->ws));
    assert_false(silk__gw_ws_want_write(f->ws));
    int op;
    uint8_t payload[128];
    assert_int_equal(server_frame(f, &op, payload), 1);
    assert_int_equal(op, 0xa);
    assert_int_equal(payload[0], 'p');

    /* A message or a ping for the client is sent without waking it too, in order. */
    assert_int_equal(silk__gw_ws_send(f->ws, 0, "push", 4), 0);
    assert_int_equal(silk__gw_ws_ping(f->ws), 0);
    assert_true(silk__gw_ws_hibernating(f->ws));
    assert_false(silk__gw_ws_want_write(f->ws));
    assert_int_equal(server_frame(f, &op, payload), 4);
    assert_int_equal(op, 1);
    assert_memory_equal(payload, "push", 4);
    assert_int_equal(server_frame(f, &op, payload), 0);
    assert_int_equal(op, 9);
    /* Held (the 101 of its handshake waits elsewhere), a message waits for the write. */
    silk__gw_ws_hold(f->ws, true);
    assert_int_equal(silk__gw_ws_send(f->ws, 0, "held", 4), 0);
    assert_true(silk__gw_ws_want_write(f->ws));
    assert_int_equal(read(f->client, payload, sizeof payload), -1);
    silk__gw_ws_hold(f->ws, false);
    assert_int_equal(silk__gw_ws_write(f->ws), 0);
    assert_int_equal(server_frame(f, &op, payload), 4);
    assert_memory_equal(payload, "held", 4);

    /* A ping cut in two, or one with a message behind it, wakes it: wslay reads those. */
    n = frame(buf, 1, 9, "cut", 3, 1);
    client_send(f, buf, 3);
    assert_int_equal(silk__gw_ws_read(f->ws), 0);
    assert_false(sleeps(f->ws));
    client_send(f, buf + 3, n - 3);
    drive(f);
    assert_true(sleeps(f->ws));
    assert_int_equal(server_frame(f, &op, payload), 3);
    assert_int_equal(op, 0xa);
    n = frame(buf, 1, 9, "p", 1, 1);
    n += frame(buf + n, 1, 1, "after", 5, 1);
    client_send(f, buf, n);
    drive(f);
    assert_int_equal(f->messages, 3);
    assert_memory_equal(f->last, "after", 5);
    assert_int_equal(server_frame(f, &op, payload), 1);
    assert_int_equal(op, 0xa);
    assert_true(sleeps(f->ws));

    /* A message over 16 KiB wakes it: wslay sends that. */
    static char big[20000];
    memset(big, 'b', sizeof big);
    assert_int_equal(silk__gw_ws_send(f->ws, 1, big, sizeof big), 0);
    assert_false(silk__gw_ws_hibernating(f->ws));
    uint8_t got[4 + sizeof big];
    size_t have = 0;
    while (have < sizeof got) {
        while (silk__gw_ws_want_write(f->ws))
            assert_int_equal(silk__gw_ws_write(f->ws), 0);
        ssize_t r = read(f->client, got + have, sizeof got - have);
        if (r > 0)
            have += (size_t)r;
    }
    assert_int_equal(got[0], 0x82);
    assert_int_equal(got[1], 126);
    assert_int_equal((got[2] << 8) | got[3], (int)sizeof big);
    assert_memory_equal(got + 4, big, sizeof big);
    assert_true(sleeps(f->ws));

    /* Closing a hibernating session sends the close frame. */
    assert_int_equal(silk__gw_ws_close(f->ws, 1001, "bye"), 0);
    drive(f);
    assert_int_equal(server_frame(f, &op, payload), 5);
    assert_int_equal(op, 8);
    assert_int_equal(close_code(payload), 1001);
    assert_int_equal(silk__gw_ws_close_sent(f->ws), 1001);
    close_fixture(f);
}

static void test_send_and_ping(void **state)
{
    (void)state;
    fixture *f = open_fixture(NULL, NULL, 0);
    assert_false(silk__gw_ws_want_write(f->ws));
    /* Awake (a message from the client) with nothing queued, a message and a ping leave at
     * once, in order, without wslay's queue. */
    uint8_t buf[64];
    client_send(f, buf, frame(buf, 1, 1, "wake", 4, 1));
    assert_int_equal(silk__gw_ws_read(f->ws), 0);
    assert_false(silk__gw_ws_hibernating(f->ws));
    assert_int_equal(silk__gw_ws_send(f->ws, 0, "message:hi", 10), 0);
    assert_int_equal(silk__gw_ws_ping(f->ws), 0);
    assert_false(silk__gw_ws_want_write(f->ws));
    int op;
    uint8_t payload[128];
    assert_int_equal(server_frame(f, &op, payload), 10);
    assert_int_equal(op, 1);
    assert_memory_equal(payload, "message:hi", 10);
    assert_int_equal(server_frame(f, &op, payload), 0);
    assert_int_equal(op, 9);
    close_fixture(f);
}

/* A hibernating session's framed messages that the socket does not take wait, the ones after
 * them go through wslay, and all arrive in order. */
static void test_asleep_backlog(void **state)
{
    (void)state;
    fixture *f = open_fixture(NULL, NULL, 0);
    int small = 4096;
    setsockopt(f->server, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    static char msg[1000];
    int sent = 0;
    while (silk__gw_ws_hibernating(f->ws)) {
        memset(msg, 'a' + sent % 26, sizeof msg);
        assert_int_equal(silk__gw_ws_send(f->ws, 1, msg, sizeof msg), 0);
        assert_int_equal(silk__gw_ws_write(f->ws), 0);
        sent++;
        assert_true(sent < 10000);
    }
    assert_true(silk__gw_ws_want_write(f->ws));
    for (int i = 0; i < 3; i++) {
        memset(msg, 'a' + sent % 26, sizeof msg);
        assert_int_equal(silk__gw_ws_send(f->ws, 1, msg, sizeof msg), 0);
        sent++;
    }
    uint8_t got[4 + sizeof msg];
    for (int i = 0; i < sent; i++) {
        size_t have = 0;
        while (have < sizeof got) {
            while (silk__gw_ws_want_write(f->ws) && silk__gw_ws_write(f->ws) == 0 &&
                   silk__gw_ws_want_write(f->ws))
                break;
            ssize_t r = read(f->client, got + have, sizeof got - have);
            if (r > 0)
                have += (size_t)r;
        }
        assert_int_equal(got[0], 0x82);
        assert_int_equal((got[2] << 8) | got[3], (int)sizeof msg);
        for (size_t j = 0; j < sizeof msg; j++)
            assert_int_equal(got[4 + j], 'a' + i % 26);
    }
    assert_false(silk__gw_ws_want_write(f->ws));
    assert_true(sleeps(f->ws));
    close_fixture(f);
}

static void test_client_closes(void **state)
{
    (void)state;
    fixture *f = open_fixture(NULL, NULL, 0);
    uint8_t buf[64];
    size_t n = frame(buf, 1, 8,
                     "\x03\xe8"
                     "bye",
                     5, 1);
    client_send(f, buf, n);
    assert_false(silk__gw_ws_closing(f->ws));
    /* wslay's answer is queued, not written yet: the session is closing already. */
    assert_int_equal(silk__gw_ws_read(f->ws), 0);
    assert_true(silk__gw_ws_closing(f->ws));
    drive(f);
    int op;
    uint8_t payload[128];
    assert_true(server_frame(f, &op, payload) >= 2);
    assert_int_equal(op, 8);
    assert_int_equal(close_code(payload), 1000);
    assert_true(silk__gw_ws_finished(f->ws));
    assert_true(silk__gw_ws_closing(f->ws));
    assert_int_equal(silk__gw_ws_close_received(f->ws), 1000);
    assert_int_equal(silk__gw_ws_close_sent(f->ws), 1000);
    assert_int_equal(silk__gw_ws_send(f->ws, 0, "late", 4), SILK__GW_WS_ERR_CLOSING);
    close_fixture(f);
}

static void test_server_closes(void **state)
{
    (void)state;
    fixture *f = open_fixture(NULL, NULL, 0);
    assert_false(silk__gw_ws_closing(f->ws));
    assert_int_equal(silk__gw_ws_close(f->ws, 1001, "going away"), 0);
    assert_true(silk__gw_ws_closing(f->ws));
    assert_int_equal(silk__gw_ws_close(f->ws, 1000, NULL), SILK__GW_WS_ERR_CLOSING);
    assert_int_equal(silk__gw_ws_write(f->ws), 0);
    int op;
    uint8_t payload[128];
    assert_int_equal(server_frame(f, &op, payload), 12);
    assert_int_equal(op, 8);
    assert_int_equal(close_code(payload), 1001);
    assert_memory_equal(payload + 2, "going away", 10);
    /* Waiting for the client's answer. */
    assert_false(silk__gw_ws_finished(f->ws));
    assert_true(silk__gw_ws_want_read(f->ws));
    uint8_t buf[16];
    size_t n = frame(buf, 1, 8, "\x03\xe9", 2, 1);
    client_send(f, buf, n);
    assert_int_equal(silk__gw_ws_read(f->ws), 0);
    assert_true(silk__gw_ws_finished(f->ws));
    close_fixture(f);
}

/* expect_close sends bytes and checks the server answers with a close frame of code. */
static void expect_close(const silk__gw_ws_opts *opts, const uint8_t *bytes, size_t len,
                         uint16_t code)
{
    fixture *f = open_fixture(opts, NULL, 0);
    client_send(f, bytes, len);
    drive(f);
    int op;
    uint8_t payload[128];
    assert_true(server_frame(f, &op, payload) >= 2);
    assert_int_equal(op, 8);
    assert_int_equal(close_code(payload), code);
    assert_int_equal(f->messages, 0);
    assert_false(silk__gw_ws_want_read(f->ws));
    assert_true(silk__gw_ws_closing(f->ws));
    close_fixture(f);
}

static void test_protocol_errors(void **state)
{
    (void)state;
    uint8_t buf[512];
    size_t n;

    n = frame(buf, 1, 1, "plain", 5, 0); /* unmasked */
    expect_close(NULL, buf, n, 1002);
    n = frame(buf, 1, 3, "x", 1, 1); /* reserved opcode */
    expect_close(NULL, buf, n, 1002);
    n = frame(buf, 1, 1, "x", 1, 1);
    buf[0] |= 0x40; /* RSV1 with no extension */
    expect_close(NULL, buf, n, 1002);
    n = frame(buf, 1, 0, "x", 1, 1); /* a continuation with nothing to continue */
    expect_close(NULL, buf, n, 1002);
    n = frame(buf, 1, 1, "\xc3\x28", 2, 1); /* invalid UTF-8 */
    expect_close(NULL, buf, n, 1007);
    /* Invalid past a valid fragment, or cut short at the message's end: nothing is delivered. */
    n = frame(buf, 0, 1, "ok", 2, 1);
    n += frame(buf + n, 1, 0, "ok\xff", 3, 1);
    expect_close(NULL, buf, n, 1007);
    n = frame(buf, 1, 1, "ok\xe2\x82", 4, 1);
    expect_close(NULL, buf, n, 1007);

    silk__gw_ws_opts small = {.max_message = 16};
    uint8_t big[200];
    memset(big, 'a', sizeof big);
    n = frame(buf, 1, 1, big, sizeof big, 1);
    expect_close(&small, buf, n, 1009);
    /* Over the limit in fragments. */
    n = frame(buf, 0, 1, big, 10, 1);
    n += frame(buf + n, 1, 0, big, 10, 1);
    expect_close(&small, buf, n, 1009);
    /* Each of three frames under it, their sum over it: 1009 at the third, its bytes (here in
     * the same read) kept out of the 16-byte buffer. */
    n = frame(buf, 0, 2, big, 6, 1);
    n += frame(buf + n, 0, 0, big, 6, 1);
    n += frame(buf + n, 1, 0, big, 6, 1);
    expect_close(&small, buf, n, 1009);
}

/* A fragmented message of exactly max_message is taken whole. */
static void test_fragments_up_to_the_limit(void **state)
{
    (void)state;
    silk__gw_ws_opts small = {.max_message = 16};
    fixture *f = open_fixture(&small, NULL, 0);
    uint8_t buf[128];
    size_t n = frame(buf, 0, 2, "012345", 6, 1);
    n += frame(buf + n, 0, 0, "6789ab", 6, 1);
    n += frame(buf + n, 1, 0, "cdef", 4, 1);
    client_send(f, buf, n);
    assert_int_equal(silk__gw_ws_read(f->ws), 0);
    assert_int_equal(f->messages, 1);
    assert_int_equal(f->last_len, 16);
    assert_memory_equal(f->last, "0123456789abcdef", 16);
    assert_false(silk__gw_ws_closing(f->ws));
    close_fixture(f);
}

/* A message in three fragments with a ping between the first two and a pong between the last
 * two (RFC 6455 5.4) arrives whole, without their bytes, and the ping gets its own back. */
static void test_three_fragments_around_control_frames(void **state)
{
    (void)state;
    fixture *f = open_fixture(NULL, NULL, 0);
    uint8_t buf[256];
    size_t n = frame(buf, 0, 1, "abc", 3, 1);
    n += frame(buf + n, 1, 9, "ping!", 5, 1);
    n += frame(buf + n, 0, 0, "def", 3, 1);
    n += frame(buf + n, 1, 10, "pong", 4, 1);
    size_t last = n;
    n += frame(buf + n, 1, 0, "ghi", 3, 1);
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        for (size_t i = 0; i < last; i += bytewise ? 1 : last) {
            client_send(f, buf + i, bytewise ? 1 : last);
            assert_int_equal(silk__gw_ws_read(f->ws), 0);
        }
        assert_int_equal(f->messages, bytewise); /* not before its final fragment */
        client_send(f, buf + last, n - last);
        assert_int_equal(silk__gw_ws_read(f->ws), 0);
        assert_int_equal(f->messages, bytewise + 1);
        assert_int_equal(f->binary, 0);
        assert_int_equal(f->last_len, 9);
        assert_memory_equal(f->last, "abcdefghi", 9);
        drive(f);
        int op;
        uint8_t payload[128];
        assert_int_equal(server_frame(f, &op, payload), 5);
        assert_int_equal(op, 0xa);
        assert_memory_equal(payload, "ping!", 5);
    }
    close_fixture(f);
}

/* send_read sends one client message of len bytes of p, in frames of at most frag bytes, and
 * reads it: it must be delivered whole, as the only new message. */
static void send_read(fixture *f, int opcode, const uint8_t *p, size_t len, size_t frag)
{
    static uint8_t wire[110 * 1024];
    size_t n = 0, off = 0;
    do {
        size_t part = len - off < frag ? len - off : frag;
        n += frame(wire + n, off + part == len, off == 0 ? opcode : 0, p + off, part, 1);
        off += part;
    } while (off < len);
    int before = f->messages;
    client_send(f, wire, n);
    for (int reads = 0; f->messages == before; reads++) {
        assert_true(reads < 1000);
        assert_int_equal(silk__gw_ws_read(f->ws), 0);
    }
    assert_int_equal(f->messages, before + 1);
    assert_int_equal(f->binary, opcode == 2);
    assert_int_equal(f->last_len, len);
    if (len > 0)
        assert_memory_equal(f->last, p, len);
}

/* Messages of different sizes in a row each arrive exactly, none with bytes of the one before
 * in the reused buffer; the buffer is kept while small and let go after a large message and
 * when the session hibernates. */
static void test_messages_reuse_the_buffer(void **state)
{
    (void)state;
    fixture *f = open_fixture(NULL, NULL, 0);
    static uint8_t big[100 * 1000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)('a' + i * 7 % 26);
    assert_int_equal(silk__gw_ws_recv_kept(f->ws), 0);
    send_read(f, 2, big, 3000, 3000);
    size_t kept = silk__gw_ws_recv_kept(f->ws);
    assert_true(kept >= 3000 && kept <= 64 * 1024);
    send_read(f, 2, (const uint8_t *)"xy", 2, 2);
    send_read(f, 1, big + 1, 2000, 700); /* fragmented */
    send_read(f, 1, (const uint8_t *)"z", 1, 1);
    assert_int_equal(silk__gw_ws_recv_kept(f->ws), kept); /* reused, not grown */
    send_read(f, 2, big, sizeof big, 40000);              /* over 64 KiB: not kept */
    assert_int_equal(silk__gw_ws_recv_kept(f->ws), 0);
    send_read(f, 2, big + 5, 10, 10);
    assert_true(silk__gw_ws_recv_kept(f->ws) > 0);
    assert_true(sleeps(f->ws));
    assert_int_equal(silk__gw_ws_recv_kept(f->ws), 0);
    send_read(f, 1, (const uint8_t *)"awake", 5, 2);
    close_fixture(f);
}

/* Once a session's context and buffer are made, reading messages allocates nothing: not for
 * one frame or several, text or binary, small or up to the buffer's size. */
static void test_reading_messages_allocates_nothing(void **state)
{
    (void)state;
#ifdef COUNTS_ALLOCS
    fixture *f = open_fixture(NULL, NULL, 0);
    static uint8_t text[4000];
    memset(text, 't', sizeof text);
    send_read(f, 1, text, sizeof text, sizeof text); /* wakes it and makes its buffer */
    allocs = 0;
    for (int i = 0; i < 50; i++) {
        send_read(f, 1, text, 5 + (size_t)i, 64);
        send_read(f, 2, text, sizeof text, 1000);
        send_read(f, 2, (const uint8_t *)"", 0, 1);
    }
    int counted = allocs;
    allocs = -1;
    assert_int_equal(counted, 0);
    close_fixture(f);
#else
    skip();
#endif
}

/* Empty messages are messages: delivered with a length of 0, first thing or after a longer
 * one, in one frame or in empty fragments. */
static void test_empty_messages(void **state)
{
    (void)state;
    fixture *f = open_fixture(NULL, NULL, 0);
    uint8_t buf[64];
    send_read(f, 2, (const uint8_t *)"", 0, 1);
    send_read(f, 1, (const uint8_t *)"full", 4, 4);
    send_read(f, 2, (const uint8_t *)"", 0, 1);
    send_read(f, 1, (const uint8_t *)"", 0, 1);
    size_t n = frame(buf, 0, 2, "", 0, 1);
    n += frame(buf + n, 1, 0, "", 0, 1);
    client_send(f, buf, n);
    assert_int_equal(silk__gw_ws_read(f->ws), 0);
    assert_int_equal(f->messages, 5);
    assert_int_equal(f->binary, 1);
    assert_int_equal(f->last_len, 0);
    close_fixture(f);
}

static void test_pending_bytes_and_eof(void **state)
{
    (void)state;
    uint8_t buf[64];
    size_t n = frame(buf, 1, 1, "early", 5, 1);
    fixture *f = open_fixture(NULL, buf, n);
    assert_int_equal(silk__gw_ws_read(f->ws), 0);
    assert_int_equal(f->messages, 1);
    assert_memory_equal(f->last, "early", 5);
    /* Half a frame, then the client goes away. */
    client_send(f, buf, 3);
    assert_int_equal(silk__gw_ws_read(f->ws), 0);
    close(f->client);
    f->client = -1;
    assert_int_equal(silk__gw_ws_read(f->ws), -1);
    assert_true(silk__gw_ws_finished(f->ws));
    close_fixture(f);
}

static void test_queue_limit(void **state)
{
    (void)state;
    silk__gw_ws_opts opts = {.max_queued = 32};
    fixture *f = open_fixture(&opts, NULL, 0);
    /* A client that reads nothing: its socket fills, and what it does not take waits. */
    int small = 4096;
    setsockopt(f->server, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    static char big[1000];
    int sent = 0;
    while (!silk__gw_ws_want_write(f->ws)) {
        assert_int_equal(silk__gw_ws_send(f->ws, 1, big, 10), 0);
        assert_true(++sent < 100000);
    }
    assert_false(silk__gw_ws_closing(f->ws));
    /* Past max_queued waiting, it is closed at once. */
    int rv = 0;
    for (int i = 0; i < 10 && rv == 0; i++)
        rv = silk__gw_ws_send(f->ws, 0, "0123456789abcdef", 16);
    assert_int_equal(rv, SILK__GW_WS_ERR_QUEUE_FULL);
    assert_true(silk__gw_ws_closing(f->ws));
    assert_int_equal(silk__gw_ws_send(f->ws, 0, "x", 1), SILK__GW_WS_ERR_CLOSING);
    assert_int_equal(silk__gw_ws_close(f->ws, 1000, NULL), SILK__GW_WS_ERR_CLOSING);
    /* The close frame follows what the socket was offered already, and nothing else. */
    uint8_t head[2] = {0}, payload[128]; /* head[0] is read before the first frame */
    for (int frames = 0; (head[0] & 0x0f) != 8; frames++) {
        assert_true(frames <= sent + 1);
        read_driving(f, head, 2);
        assert_true(head[0] == (0x80 | 2) || head[0] == (0x80 | 8));
        assert_true((head[1] & 0x7f) < 126);
        read_driving(f, payload, head[1] & 0x7f);
    }
    assert_int_equal(close_code(payload), 1008);
    close_fixture(f);
}

static void test_close_after_messages(void **state)
{
    (void)state;
    fixture *f = open_fixture(NULL, NULL, 0);
    assert_int_equal(silk__gw_ws_send(f->ws, 0, "last", 4), 0);
    assert_int_equal(silk__gw_ws_send(f->ws, 1, "words", 5), 0);
    assert_int_equal(silk__gw_ws_close(f->ws, 4000, "done"), 0);
    assert_true(silk__gw_ws_closing(f->ws)); /* its close frame waits for the messages */
    assert_int_equal(silk__gw_ws_send(f->ws, 0, "late", 4), SILK__GW_WS_ERR_CLOSING);
    assert_true(silk__gw_ws_want_write(f->ws));
    assert_int_equal(silk__gw_ws_write(f->ws), 0);
    assert_false(silk__gw_ws_want_write(f->ws));
    int op;
    uint8_t payload[128];
    assert_int_equal(server_frame(f, &op, payload), 4);
    assert_int_equal(op, 1);
    assert_int_equal(server_frame(f, &op, payload), 5);
    assert_int_equal(op, 2);
    assert_int_equal(server_frame(f, &op, payload), 6);
    assert_int_equal(op, 8);
    assert_int_equal(close_code(payload), 4000);
    assert_int_equal(silk__gw_ws_close_sent(f->ws), 4000);
    close_fixture(f);
}

/* The codes a server may send: RFC 6455 7.4's, never 1004-1006, 1015 or one above 0xffff. */
static void test_close_code_sendable(void **state)
{
    (void)state;
    static const uint32_t ok[] = {1000, 1001, 1003, 1007, 1008, 1011, 3000, 4999};
    static const uint32_t bad[] = {0,    999,  1004, 1005, 1006,
                                   1012, 1015, 2999, 5000, 0x10000 + 1000};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        assert_true(silk__gw_ws_close_code_sendable(ok[i]));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(silk__gw_ws_close_code_sendable(bad[i]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_binary_fragments),
        cmocka_unit_test(test_send_and_ping),
        cmocka_unit_test(test_client_closes),
        cmocka_unit_test(test_server_closes),
        cmocka_unit_test(test_protocol_errors),
        cmocka_unit_test(test_pending_bytes_and_eof),
        cmocka_unit_test(test_hibernate_and_wake),
        cmocka_unit_test(test_queue_limit),
        cmocka_unit_test(test_close_after_messages),
        cmocka_unit_test(test_close_code_sendable),
        cmocka_unit_test(test_asleep_backlog),
        cmocka_unit_test(test_fragments_up_to_the_limit),
        cmocka_unit_test(test_three_fragments_around_control_frames),
        cmocka_unit_test(test_messages_reuse_the_buffer),
        cmocka_unit_test(test_empty_messages),
        cmocka_unit_test(test_reading_messages_allocates_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
