/* address.c - client addresses, trusted proxy ranges and X-Forwarded-For. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "limits/address.h"

/* v4_mapped makes ::ffff:a.b.c.d of an IPv4 address's 4 bytes. */
static silk__gw_addr v4_mapped(const void *four)
{
    silk__gw_addr a = {{0}};
    a.b[10] = a.b[11] = 0xff;
    memcpy(a.b + 12, four, 4);
    return a;
}

static bool is_v4(const silk__gw_addr *a)
{
    static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return memcmp(a->b, prefix, sizeof prefix) == 0;
}

bool silk__gw_addr_from_sockaddr(const struct sockaddr *sa, socklen_t len, silk__gw_addr *out)
{
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        *out = v4_mapped(&((const struct sockaddr_in *)sa)->sin_addr);
        return true;
    }
    if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        memcpy(out->b, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        return true;
    }
    return false;
}

bool silk__gw_addr_parse(const char *s, size_t len, silk__gw_addr *out)
{
    char text[INET6_ADDRSTRLEN];
    if (len == 0 || len >= sizeof text)
        return false;
    memcpy(text, s, len);
    text[len] = '\0';
    uint8_t bytes[16];
    if (inet_pton(AF_INET, text, bytes) == 1) {
        *out = v4_mapped(bytes);
        return true;
    }
    if (inet_pton(AF_INET6, text, out->b) == 1)
        return true;
    return false;
}

silk__gw_addr silk__gw_addr_key(const silk__gw_addr *a)
{
    silk__gw_addr k = *a;
    if (!is_v4(a))
        memset(k.b + 8, 0, 8);
    return k;
}

void silk__gw_addr_format(const silk__gw_addr *a, char *out)
{
    if (is_v4(a))
        inet_ntop(AF_INET, a->b + 12, out, SILK__GW_ADDR_TEXT);
    else
        inet_ntop(AF_INET6, a->b, out, SILK__GW_ADDR_TEXT);
}

bool silk__gw_cidr_parse(const char *s, silk__gw_cidr *out)
{
    const char *slash = strchr(s, '/');
    size_t len = slash != NULL ? (size_t)(slash - s) : strlen(s);
    if (!silk__gw_addr_parse(s, len, &out->base))
        return false;
    unsigned max = is_v4(&out->base) ? 32 : 128;
    unsigned long bits = max;
    if (slash != NULL) {
        char *end;
        if (slash[1] < '0' || slash[1] > '9')
            return false;
        bits = strtoul(slash + 1, &end, 10);
        if (*end != '\0' || bits > max)
            return false;
    }
    out->bits = (unsigned)bits + (128 - max);
    return true;
}

/* in_range tells whether a's first r->bits bits are r->base's. */
static bool in_range(const silk__gw_cidr *r, const silk__gw_addr *a)
{
    unsigned whole = r->bits / 8, rest = r->bits % 8;
    if (memcmp(r->base.b, a->b, whole) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (r->base.b[whole] & mask) == (a->b[whole] & mask);
}

bool silk__gw_cidr_match(const silk__gw_cidr *ranges, size_t n, const silk__gw_addr *a)
{
    for (size_t i = 0; i < n; i++)
        if (in_range(&ranges[i], a))
            return true;
    return false;
}

/* walk_header walks one X-Forwarded-For value from its right end. It returns 1 when it found
 * the client (in *client), -1 when an entry is not an address (the walk ends), or 0 when each
 * entry was a trusted hop (*client is the leftmost). */
static int walk_header(const char *v, const silk__gw_cidr *trusted, size_t n, silk__gw_addr *client)
{
    const char *end = v + strlen(v);
    while (end > v) {
        const char *start = end;
        while (start > v && start[-1] != ',')
            start--;
        const char *a = start, *b = end;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        end = start > v ? start - 1 : v;
        if (a == b)
            continue; /* an empty list element: RFC 9110 5.6.1 lets it be */
        silk__gw_addr hop;
        if (!silk__gw_addr_parse(a, (size_t)(b - a), &hop))
            return -1;
        *client = hop;
        if (!silk__gw_cidr_match(trusted, n, &hop))
            return 1;
    }
    return 0;
}

silk__gw_addr silk__gw_client_address(const silk__gw_addr *peer, const silk__gw_cidr *trusted,
                                      size_t n, const silk__gw_http_request *req)
{
    silk__gw_addr client = *peer;
    if (n == 0 || !silk__gw_cidr_match(trusted, n, peer))
        return client;
    for (size_t i = req->n_headers; i-- > 0;) { /* the last header was appended last */
        if (strcasecmp(req->headers[i].name, "X-Forwarded-For") != 0)
            continue;
        /* client becomes the client, the last trusted hop, or the hop before a bad entry */
        int found = walk_header(req->headers[i].value, trusted, n, &client);
        if (found != 0)
            return client;
    }
    return client;
}
