/* frame_test.c - the frame codec: round trips, partial input, and every malformed frame. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "wire/frame.h"

#define MAX 4096

/* guarded copies data so that it ends where an unreadable page begins: any read past the
 * end crashes, as picohttpparser's tests do it. */
typedef struct guarded {
    uint8_t *map;
    size_t maplen;
    uint8_t *data;
} guarded;

static guarded guard(const uint8_t *data, size_t len)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t pages = (len + page - 1) / page + 1;
    guarded g = {.maplen = (pages + 1) * page};
    g.map = mmap(NULL, g.maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(g.map != MAP_FAILED);
    assert_int_equal(mprotect(g.map + pages * page, page, PROT_NONE), 0);
    g.data = g.map + pages * page - len;
    if (len != 0)
        memcpy(g.data, data, len);
    return g;
}

static void unguard(guarded *g)
{
    munmap(g->map, g->maplen);
}

static long decode_guarded(const uint8_t *buf, size_t len, uint32_t max, silk__frame *f)
{
    guarded g = guard(buf, len);
    long rc = silk__frame_decode(g.data, len, max, f);
    /* Pointers into the guarded copy are rebased onto buf for the caller. */
    if (rc > 0) {
        f->header = buf + (f->header - g.data);
        f->payload = buf + (f->payload - g.data);
    }
    unguard(&g);
    return rc;
}

/* encode_request encodes a request for method with a Metadata payload into a new buffer. */
static uint8_t *encode_request(const char *method, const char *value, uint64_t id, size_t *len)
{
    Silk__Rpc__RequestHeader h = SILK__RPC__REQUEST_HEADER__INIT;
    h.method = (char *)method;
    h.budget_us = 1234567;
    Silk__Rpc__Metadata m = SILK__RPC__METADATA__INIT;
    m.key = "k";
    m.value = (char *)value;
    size_t hlen = protobuf_c_message_get_packed_size(&h.base);
    size_t plen = protobuf_c_message_get_packed_size(&m.base);
    *len = silk__frame_size(hlen, plen);
    uint8_t *buf = malloc(*len);
    assert_non_null(buf);
    size_t n = silk__frame_encode(buf, SILK__FRAME_REQUEST, id, &h.base, hlen, &m.base, plen);
    assert_int_equal(n, *len);
    return buf;
}

static void test_round_trip(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = encode_request("/pkg.Svc/Echo", "hello", 0x0102030405060708ull, &len);
    silk__frame f;
    assert_int_equal(decode_guarded(buf, len, MAX, &f), (long)len);
    assert_int_equal(f.kind, SILK__FRAME_REQUEST);
    assert_true(f.call_id == 0x0102030405060708ull);
    assert_int_equal(f.size, len);
    /* The call id is big-endian on the wire. */
    assert_int_equal(buf[5], 0x01);
    assert_int_equal(buf[12], 0x08);

    Silk__Rpc__RequestHeader *h = silk__rpc__request_header__unpack(NULL, f.header_len, f.header);
    assert_non_null(h);
    assert_string_equal(h->method, "/pkg.Svc/Echo");
    assert_true(h->budget_us == 1234567);
    silk__rpc__request_header__free_unpacked(h, NULL);
    Silk__Rpc__Metadata *m = silk__rpc__metadata__unpack(NULL, f.payload_len, f.payload);
    assert_non_null(m);
    assert_string_equal(m->value, "hello");
    silk__rpc__metadata__free_unpacked(m, NULL);
    free(buf);
}

static void test_empty_frame(void **state)
{
    (void)state;
    uint8_t buf[SILK__FRAME_MAX_HEAD];
    size_t len = silk__frame_encode(buf, SILK__FRAME_PING, 7, NULL, 0, NULL, 0);
    assert_int_equal(len, silk__frame_size(0, 0));
    assert_int_equal(len, SILK__FRAME_PREFIX + 1);
    silk__frame f;
    assert_int_equal(decode_guarded(buf, len, MAX, &f), (long)len);
    assert_int_equal(f.kind, SILK__FRAME_PING);
    assert_true(f.call_id == 7);
    assert_int_equal(f.header_len, 0);
    assert_int_equal(f.payload_len, 0);
}

static void test_long_header(void **state)
{
    (void)state;
    /* A method name of 300 bytes makes the header length a two-byte varint. */
    char method[301];
    memset(method, 'm', 300);
    method[0] = '/';
    method[300] = '\0';
    size_t len;
    uint8_t *buf = encode_request(method, "v", 1, &len);
    silk__frame f;
    assert_int_equal(decode_guarded(buf, len, MAX, &f), (long)len);
    assert_true(f.header_len > 300);
    assert_true(buf[SILK__FRAME_PREFIX] & 0x80);
    free(buf);
}

static void test_need_more_at_every_split(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = encode_request("/pkg.Svc/Echo", "some payload", 42, &len);
    for (size_t n = 0; n < len; n++) {
        silk__frame f;
        assert_int_equal(decode_guarded(buf, n, MAX, &f), SILK__FRAME_MORE);
        assert_int_equal(f.size, n < SILK__FRAME_PREFIX ? 0 : len);
    }
    free(buf);
}

static void test_back_to_back(void **state)
{
    (void)state;
    size_t l1, l2;
    uint8_t *a = encode_request("/a.A/A", "one", 1, &l1);
    uint8_t *b = encode_request("/b.B/B", "two", 2, &l2);
    uint8_t *both = malloc(l1 + l2);
    memcpy(both, a, l1);
    memcpy(both + l1, b, l2);
    silk__frame f;
    assert_int_equal(decode_guarded(both, l1 + l2, MAX, &f), (long)l1);
    assert_true(f.call_id == 1);
    assert_int_equal(decode_guarded(both + l1, l2, MAX, &f), (long)l2);
    assert_true(f.call_id == 2);
    free(a);
    free(b);
    free(both);
}

static void test_too_big_before_allocation(void **state)
{
    (void)state;
    /* Only the 13-byte prefix of a 4 GiB frame: refused at once, with what is needed to
     * answer it and skip it. */
    uint8_t buf[SILK__FRAME_PREFIX] = {0xff, 0xff, 0xff, 0xf0, SILK__FRAME_REQUEST, 0, 0, 0, 0,
                                       0,    0,    0,    9};
    silk__frame f;
    assert_int_equal(decode_guarded(buf, sizeof buf, MAX, &f), SILK__FRAME_TOO_BIG);
    assert_int_equal(f.kind, SILK__FRAME_REQUEST);
    assert_true(f.call_id == 9);
    assert_true(f.size == 4 + (size_t)0xfffffff0u);
    /* Exactly at the limit is fine. */
    uint8_t at[SILK__FRAME_PREFIX] = {0, 0, 0x10, 0, SILK__FRAME_REQUEST, 0, 0, 0, 0, 0, 0, 0, 1};
    assert_int_equal(decode_guarded(at, sizeof at, MAX, &f), SILK__FRAME_MORE);
    assert_int_equal(decode_guarded(at, sizeof at, MAX - 1, &f), SILK__FRAME_TOO_BIG);
}

static void test_bad_kind(void **state)
{
    (void)state;
    uint8_t buf[SILK__FRAME_PREFIX + 1];
    silk__frame_encode(buf, SILK__FRAME_PING, 1, NULL, 0, NULL, 0);
    buf[4] = 0;
    silk__frame f;
    assert_int_equal(decode_guarded(buf, sizeof buf, MAX, &f), SILK__FRAME_BAD_KIND);
    buf[4] = SILK__FRAME_PONG + 1;
    assert_int_equal(decode_guarded(buf, sizeof buf, MAX, &f), SILK__FRAME_BAD_KIND);
    /* Another protocol's bytes read as a huge length: a broken stream, not a frame to skip. */
    const uint8_t http[SILK__FRAME_PREFIX] = "HTTP/1.1 400";
    assert_int_equal(decode_guarded(http, sizeof http, MAX, &f), SILK__FRAME_BAD_KIND);
}

static void test_too_short(void **state)
{
    (void)state;
    /* A length of 9 leaves no room for the header length. */
    uint8_t buf[SILK__FRAME_PREFIX] = {0, 0, 0, 9, SILK__FRAME_PING, 0, 0, 0, 0, 0, 0, 0, 1};
    silk__frame f;
    assert_int_equal(decode_guarded(buf, sizeof buf, MAX, &f), SILK__FRAME_BAD_HEADER);
}

static void test_truncated_varint(void **state)
{
    (void)state;
    /* The frame ends inside the header-length varint. */
    uint8_t buf[] = {0, 0, 0, 11, SILK__FRAME_REQUEST, 0, 0, 0, 0, 0, 0, 0, 1, 0x80, 0x80};
    silk__frame f;
    assert_int_equal(decode_guarded(buf, sizeof buf, MAX, &f), SILK__FRAME_BAD_HEADER);
    /* A varint longer than five bytes is refused too. */
    uint8_t longer[] = {
        0,    0,    0,    15,  SILK__FRAME_REQUEST, 0, 0, 0, 0, 0, 0, 0, 1, 0x80, 0x80,
        0x80, 0x80, 0x80, 0x01};
    assert_int_equal(decode_guarded(longer, sizeof longer, MAX, &f), SILK__FRAME_BAD_HEADER);
}

static void test_header_longer_than_frame(void **state)
{
    (void)state;
    uint8_t buf[] = {0, 0, 0, 14, SILK__FRAME_REQUEST, 0, 0, 0, 0, 0, 0, 0, 1, 100, 1, 2, 3, 4};
    silk__frame f;
    assert_int_equal(decode_guarded(buf, sizeof buf, MAX, &f), SILK__FRAME_BAD_HEADER);
    /* Exactly as long as the rest is fine: an empty payload. */
    buf[13] = 4;
    assert_int_equal(decode_guarded(buf, sizeof buf, MAX, &f), (long)sizeof buf);
    assert_int_equal(f.header_len, 4);
    assert_int_equal(f.payload_len, 0);
}

/* decode_response decodes a response frame of header bytes h and payload bytes p, with
 * Metadata as the response type. */
static void decode_response(silk__response *r, const uint8_t *h, size_t hlen, const uint8_t *p,
                            size_t plen)
{
    silk__frame f = {.kind = SILK__FRAME_RESPONSE,
                     .header = h,
                     .header_len = hlen,
                     .payload = p,
                     .payload_len = plen};
    silk__response_decode(r, &f, &silk__rpc__metadata__descriptor, NULL, NULL);
}

/* A response's status and message come from its header - none at all meaning OK - and its
 * message is decoded only on OK; what does not decode is INTERNAL, with why. */
static void test_response_decode(void **state)
{
    (void)state;
    const uint8_t value[] = {0x12, 0x02, 'h', 'i'}; /* Metadata{value: "hi"} */
    silk__response r;
    decode_response(&r, NULL, 0, value, sizeof value);
    assert_int_equal(r.st, SILK_OK);
    assert_string_equal(r.message, "");
    assert_string_equal(((Silk__Rpc__Metadata *)r.msg)->value, "hi");
    protobuf_c_message_free_unpacked(r.msg, NULL);
    silk__response_fini(&r);

    const uint8_t not_found[] = {0x08, 0x05, 0x12, 0x01, 'x'}; /* status 5, message "x" */
    decode_response(&r, not_found, sizeof not_found, value, sizeof value);
    assert_int_equal(r.st, SILK_NOT_FOUND);
    assert_string_equal(r.message, "x");
    assert_null(r.msg);
    silk__response_fini(&r);

    const uint8_t ok_header[] = {0x08, 0x00}; /* status 0 given */
    decode_response(&r, ok_header, sizeof ok_header, value, sizeof value);
    assert_int_equal(r.st, SILK_OK);
    assert_non_null(r.msg);
    protobuf_c_message_free_unpacked(r.msg, NULL);
    silk__response_fini(&r);

    const uint8_t status_unknown[] = {0x08, 0x7f};
    decode_response(&r, status_unknown, sizeof status_unknown, NULL, 0);
    assert_int_equal(r.st, SILK_UNKNOWN);
    silk__response_fini(&r);

    const uint8_t garbage[] = {0x0f, 0xff};
    decode_response(&r, garbage, sizeof garbage, value, sizeof value);
    assert_int_equal(r.st, SILK_INTERNAL);
    assert_string_equal(r.message, "cannot decode the response header");
    silk__response_fini(&r);

    decode_response(&r, NULL, 0, garbage, sizeof garbage);
    assert_int_equal(r.st, SILK_INTERNAL);
    assert_string_equal(r.message, "cannot decode the response");
    assert_null(r.msg);
    silk__response_fini(&r);
}

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_empty_frame),
        cmocka_unit_test(test_long_header),
        cmocka_unit_test(test_need_more_at_every_split),
        cmocka_unit_test(test_back_to_back),
        cmocka_unit_test(test_too_big_before_allocation),
        cmocka_unit_test(test_bad_kind),
        cmocka_unit_test(test_too_short),
        cmocka_unit_test(test_truncated_varint),
        cmocka_unit_test(test_header_longer_than_frame),
        cmocka_unit_test(test_response_decode),
    };
    /* clang-format on */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
