/* limits_unit_test.c - unit tests of limits/: addresses and ranges, X-Forwarded-For behind
 * trusted proxies, token buckets, and the per-address table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "limits/address.h"
#include "limits/peers.h"

static silk__gw_addr addr(const char *s)
{
    silk__gw_addr a;
    assert_true(silk__gw_addr_parse(s, strlen(s), &a));
    return a;
}

static void text_of(const silk__gw_addr *a, const char *want)
{
    char out[SILK__GW_ADDR_TEXT];
    silk__gw_addr_format(a, out);
    assert_string_equal(out, want);
}

static void test_parse_and_format(void **state)
{
    (void)state;
    silk__gw_addr a;
    a = addr("198.51.100.7");
    text_of(&a, "198.51.100.7");
    a = addr("2001:db8::1");
    text_of(&a, "2001:db8::1");
    a = addr("::ffff:192.0.2.1"); /* a dual-stack socket's IPv4 peer is the IPv4 address */
    text_of(&a, "192.0.2.1");
    assert_false(silk__gw_addr_parse("198.51.100", 10, &a));
    assert_false(silk__gw_addr_parse("example.com", 11, &a));
    assert_false(silk__gw_addr_parse("", 0, &a));
    assert_false(silk__gw_addr_parse("1.2.3.4:80", 10, &a));
}

static void test_key_is_the_ipv6_64(void **state)
{
    (void)state;
    silk__gw_addr a = addr("2001:db8:1:2:aaaa::1"), b = addr("2001:db8:1:2:bbbb::2");
    silk__gw_addr c = addr("2001:db8:1:3::1");
    silk__gw_addr ka = silk__gw_addr_key(&a), kb = silk__gw_addr_key(&b);
    silk__gw_addr kc = silk__gw_addr_key(&c);
    assert_memory_equal(&ka, &kb, sizeof ka);
    assert_memory_not_equal(&ka, &kc, sizeof ka);
    silk__gw_addr v4 = addr("198.51.100.7"), k4 = silk__gw_addr_key(&v4);
    assert_memory_equal(&v4, &k4, sizeof v4); /* IPv4: the address itself */
}

static void test_ranges(void **state)
{
    (void)state;
    silk__gw_cidr r[3];
    assert_true(silk__gw_cidr_parse("10.0.0.0/8", &r[0]));
    assert_true(silk__gw_cidr_parse("2001:db8::/32", &r[1]));
    assert_true(silk__gw_cidr_parse("192.0.2.9", &r[2]));
    silk__gw_addr in1 = addr("10.200.3.4"), in2 = addr("2001:db8:ffff::1"), in3 = addr("192.0.2.9"),
                  out1 = addr("11.0.0.1"), out2 = addr("192.0.2.10"), out3 = addr("2001:db9::1");
    assert_true(silk__gw_cidr_match(r, 3, &in1));
    assert_true(silk__gw_cidr_match(r, 3, &in2));
    assert_true(silk__gw_cidr_match(r, 3, &in3));
    assert_false(silk__gw_cidr_match(r, 3, &out1));
    assert_false(silk__gw_cidr_match(r, 3, &out2));
    assert_false(silk__gw_cidr_match(r, 3, &out3));
    silk__gw_cidr odd;
    assert_true(silk__gw_cidr_parse("198.51.100.128/25", &odd));
    silk__gw_addr hi = addr("198.51.100.200"), lo = addr("198.51.100.100");
    assert_true(silk__gw_cidr_match(&odd, 1, &hi));
    assert_false(silk__gw_cidr_match(&odd, 1, &lo));
    assert_false(silk__gw_cidr_parse("10.0.0.0/33", &odd));
    assert_false(silk__gw_cidr_parse("::/129", &odd));
    assert_false(silk__gw_cidr_parse("10.0.0.0/", &odd));
    assert_false(silk__gw_cidr_parse("10.0.0.0/-1", &odd));
    assert_false(silk__gw_cidr_parse("10.0.0.0/8x", &odd));
    assert_true(silk__gw_cidr_parse("0.0.0.0/0", &odd));
    assert_true(silk__gw_cidr_match(&odd, 1, &lo));
    assert_false(silk__gw_cidr_match(&odd, 1, &in2)); /* an IPv4 /0 holds no IPv6 address */
}

/* client_of returns the client address a request with these X-Forwarded-For values (NULL
 * ends them) from peer gets, behind proxies in 10.0.0.0/8. */
static silk__gw_addr client_of(const char *peer, const char *const *xff)
{
    static silk__gw_http_request req;
    silk__gw_cidr trusted;
    assert_true(silk__gw_cidr_parse("10.0.0.0/8", &trusted));
    memset(&req, 0, sizeof req);
    req.headers[req.n_headers++] = (silk__gw_http_header){"Host", "x"};
    for (; *xff != NULL; xff++)
        req.headers[req.n_headers++] = (silk__gw_http_header){"x-forwarded-for", *xff};
    silk__gw_addr p = addr(peer);
    return silk__gw_client_address(&p, &trusted, 1, &req);
}

#define CLIENT(peer, want, ...)                                                                    \
    do {                                                                                           \
        const char *xff_[] = {__VA_ARGS__, NULL};                                                  \
        silk__gw_addr got_ = client_of(peer, xff_);                                                \
        text_of(&got_, want);                                                                      \
    } while (0)

static void test_forwarded_for(void **state)
{
    (void)state;
    CLIENT("10.0.0.1", "198.51.100.1", "198.51.100.1");
    CLIENT("10.0.0.1", "198.51.100.1", "203.0.113.5, 198.51.100.1");   /* the client lied left */
    CLIENT("10.0.0.1", "198.51.100.1", "198.51.100.1, 10.0.0.2");      /* two proxies */
    CLIENT("10.0.0.1", "198.51.100.1", "203.0.113.5", "198.51.100.1"); /* the last header */
    CLIENT("10.0.0.1", "198.51.100.1", "198.51.100.1", "10.9.9.9");
    CLIENT("10.0.0.1", "10.0.0.3", "10.0.0.3");          /* only proxies: the leftmost */
    CLIENT("10.0.0.1", "10.0.0.2", "garbage, 10.0.0.2"); /* a bad entry ends the walk */
    CLIENT("10.0.0.1", "10.0.0.1", "198.51.100.1 junk"); /* one bad entry: the peer */
    CLIENT("10.0.0.1", "198.51.100.1", " 198.51.100.1 ,, ");
    CLIENT("10.0.0.1", "2001:db8::7", "2001:db8::7");
    CLIENT("10.0.0.1", "10.0.0.1", "");
    /* an untrusted peer's header is not read at all */
    CLIENT("192.0.2.1", "192.0.2.1", "198.51.100.1");
}

static void test_bucket(void **state)
{
    (void)state;
    silk__gw_bucket b;
    silk__gw_bucket_init(&b, 3, 100.0);
    for (int i = 0; i < 3; i++)
        assert_true(silk__gw_bucket_take(&b, 2, 3, 100.0) == 0);
    double wait = silk__gw_bucket_take(&b, 2, 3, 100.0);
    assert_true(wait > 0.49 && wait < 0.51); /* 2 a second: half a second to the next */
    assert_true(silk__gw_bucket_take(&b, 2, 3, 100.5) == 0);
    assert_true(silk__gw_bucket_take(&b, 2, 3, 200.0) == 0); /* full again, not over */
    assert_true(silk__gw_bucket_take(&b, 2, 3, 200.0) == 0);
    assert_true(silk__gw_bucket_take(&b, 2, 3, 200.0) == 0);
    assert_true(silk__gw_bucket_take(&b, 2, 3, 200.0) > 0);
    /* spend runs into debt, which is paid before the next token */
    silk__gw_bucket_init(&b, 1, 0.0);
    assert_true(silk__gw_bucket_spend(&b, 1, 1, 0.0) > 0.99);
    assert_true(silk__gw_bucket_spend(&b, 1, 1, 0.0) > 1.99);
    assert_true(silk__gw_bucket_spend(&b, 1, 1, 0.0) > 2.99);
    assert_true(silk__gw_bucket_take(&b, 1, 1, 2.5) > 0);
    assert_true(silk__gw_bucket_take(&b, 1, 1, 3.0) == 0);
}

static void test_table_counts_connections_and_tokens(void **state)
{
    (void)state;
    silk__gw_peers t;
    assert_int_equal(silk__gw_peers_init(&t, 1, 2, 2, 1000), 0);
    assert_true(silk__gw_peers_active(&t));
    silk__gw_addr a = addr("198.51.100.1"), b = addr("198.51.100.2");
    silk__gw_peer *p1, *p2, *p3, *q;
    double wait;
    assert_int_equal(silk__gw_peers_connect(&t, &a, 0, &p1, &wait), SILK__GW_PEER_OK);
    assert_int_equal(silk__gw_peers_connect(&t, &a, 0, &p2, &wait), SILK__GW_PEER_OK);
    assert_ptr_equal(p1, p2);
    assert_int_equal(silk__gw_peers_connect(&t, &a, 0, &p3, &wait), SILK__GW_PEER_FULL);
    assert_null(p3);
    assert_int_equal(silk__gw_peers_connect(&t, &b, 0, &q, &wait), SILK__GW_PEER_OK);
    assert_true(silk__gw_peers_take_at(&t, p1, 0) > 0); /* a's two tokens went on connecting */
    silk__gw_peers_disconnect(&t, p2);
    assert_int_equal(silk__gw_peers_connect(&t, &a, 0.1, &p3, &wait), SILK__GW_PEER_LIMITED);
    assert_true(wait > 0.8 && wait < 1.0);
    assert_true(silk__gw_peers_take_at(&t, p1, 5) == 0);
    /* an address no connection holds: its own bucket */
    silk__gw_addr c = addr("203.0.113.1");
    assert_true(silk__gw_peers_take(&t, &c, 0) == 0);
    assert_true(silk__gw_peers_take(&t, &c, 0) == 0);
    assert_true(silk__gw_peers_take(&t, &c, 0) > 0);
    /* the sweep forgets c once its bucket is full again, but not a or b */
    for (int i = 0; i < SILK__GW_PEER_SHARDS; i++)
        silk__gw_peers_sweep(&t, 100);
    assert_true(silk__gw_peers_take_at(&t, p1, 100) == 0);
    assert_true(silk__gw_peers_take_at(&t, q, 100) == 0);
    silk__gw_peers_fini(&t);
}

static void test_table_full_lets_new_addresses_through(void **state)
{
    (void)state;
    silk__gw_peers t;
    assert_int_equal(silk__gw_peers_init(&t, 1, 1, 1, 0), 0); /* room for one a shard */
    silk__gw_peer *p;
    double wait;
    int untracked = 0;
    char text[32];
    for (int i = 0; i < 200; i++) {
        snprintf(text, sizeof text, "198.51.%d.%d", i / 250, i % 250 + 1);
        silk__gw_addr a = addr(text);
        silk__gw_peer_verdict v = silk__gw_peers_connect(&t, &a, 0, &p, &wait);
        assert_true(v == SILK__GW_PEER_OK || v == SILK__GW_PEER_UNTRACKED);
        untracked += v == SILK__GW_PEER_UNTRACKED;
    }
    assert_true(untracked >= 200 - 2 * SILK__GW_PEER_SHARDS);
    silk__gw_peers_fini(&t);
}

static void test_no_limits_no_table(void **state)
{
    (void)state;
    silk__gw_peers t;
    assert_int_equal(silk__gw_peers_init(&t, 0, 0, 0, 1000), 0);
    assert_false(silk__gw_peers_active(&t));
    silk__gw_peers_sweep(&t, 0);
    silk__gw_peers_fini(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_and_format),
        cmocka_unit_test(test_key_is_the_ipv6_64),
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_forwarded_for),
        cmocka_unit_test(test_bucket),
        cmocka_unit_test(test_table_counts_connections_and_tokens),
        cmocka_unit_test(test_table_full_lets_new_addresses_through),
        cmocka_unit_test(test_no_limits_no_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
