/* address.h - a client's address as the limits key it: IPv4, or an IPv6 /64; trusted proxy
 * ranges, and the client address a trusted proxy's X-Forwarded-For names. */
#ifndef SILK_GATEWAY_ADDRESS_H
#define SILK_GATEWAY_ADDRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

#include "http/parser.h"

/* The most ranges --trust-proxy may list. */
#define SILK__GW_MAX_TRUSTED 16

/* Long enough for any address silk__gw_addr_format writes, with its NUL. */
#define SILK__GW_ADDR_TEXT 48

/* silk__gw_addr is an address as 16 bytes, IPv4 as ::ffff:a.b.c.d (RFC 4291 2.5.5.2), so that
 * one comparison serves both families. */
typedef struct silk__gw_addr {
    uint8_t b[16];
} silk__gw_addr;

/* silk__gw_cidr is a range: the addresses whose first bits (of the 16 bytes) match base's. */
typedef struct silk__gw_cidr {
    silk__gw_addr base;
    unsigned bits; /* 0..128; an IPv4 /N is 96 + N */
} silk__gw_cidr;

/* silk__gw_addr_from_sockaddr reads an accepted socket's peer; false for a family that is
 * neither IPv4 nor IPv6 (a Unix socket). */
bool silk__gw_addr_from_sockaddr(const struct sockaddr *sa, socklen_t len, silk__gw_addr *out);

/* silk__gw_addr_parse reads a numeric IPv4 or IPv6 address of len bytes ("198.51.100.7",
 * "2001:db8::1"); false when it is not one. */
bool silk__gw_addr_parse(const char *s, size_t len, silk__gw_addr *out);

/* silk__gw_addr_key returns the address the limits count a client by: IPv4 as it is, IPv6 cut
 * to its /64 (one host's or one customer's prefix: an address per request costs nothing). */
silk__gw_addr silk__gw_addr_key(const silk__gw_addr *a);

/* silk__gw_addr_format writes a readable address into out (SILK__GW_ADDR_TEXT bytes). */
void silk__gw_addr_format(const silk__gw_addr *a, char *out);

/* silk__gw_cidr_parse reads "ADDR/BITS" or a bare ADDR (one address); false when it is
 * malformed or BITS is too large for the family. */
bool silk__gw_cidr_parse(const char *s, silk__gw_cidr *out);

/* silk__gw_cidr_match tells whether a is in any of the n ranges. */
bool silk__gw_cidr_match(const silk__gw_cidr *ranges, size_t n, const silk__gw_addr *a);

/* silk__gw_client_address returns the address a request came from: the peer's, or, when the
 * peer is in one of the n trusted ranges, the rightmost X-Forwarded-For address that is not
 * (the proxies append; what a client wrote itself lies to the left of what they added). Every
 * X-Forwarded-For header counts, in order; an entry that is not an address ends the walk at
 * the trusted hop before it. */
silk__gw_addr silk__gw_client_address(const silk__gw_addr *peer, const silk__gw_cidr *trusted,
                                      size_t n, const silk__gw_http_request *req);

#endif /* SILK_GATEWAY_ADDRESS_H */
