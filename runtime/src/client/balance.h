/* balance.h - choosing the instance a call goes to: the policies (round-robin, random,
 * rendezvous hashing), the instances a call already tried, connection backoff and the
 * per-instance circuit breaker. A channel to a service name embeds one silk__balancer and
 * calls these functions with its mutex held; nothing here allocates on a pick. */
#ifndef SILK_SRC_BALANCE_H
#define SILK_SRC_BALANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <silk/channel.h>
#include <silk/registry.h>

/* SILK__LB_MAX_TRIED is how many instances a call remembers having tried. */
#define SILK__LB_MAX_TRIED 8

/* silk__route is what the balancer needs of one call: its key, when it is hashed, and the
 * instances it was sent to already (so that a failover goes elsewhere). */
typedef struct silk__route {
    bool hashed;
    uint64_t key_hash;
    unsigned ntried;
    uint64_t tried[SILK__LB_MAX_TRIED]; /* address hashes, the latest at (ntried - 1) % MAX */
} silk__route;

/* silk__lb_health is what the balancer remembers of an instance that failed lately. */
typedef struct silk__lb_health {
    char *address;
    int64_t down_until;      /* its connection was lost: passed over while others are up */
    unsigned dial_failures;  /* dials that failed in a row */
    int64_t retry_at;        /* no dial before then: the backoff */
    unsigned failures;       /* failures in a row, for the breaker */
    int64_t last_failure_at; /* when the last one happened */
    bool open;               /* the breaker is open (or half-open once open_until passed) */
    int64_t open_until;      /* skipped until then; then one probe call goes through */
} silk__lb_health;

/* silk__balancer is a channel's view of a service and its instances' health; it is used
 * under the channel's mutex. */
typedef struct silk__balancer {
    const char *service;
    silk_lb_policy policy;
    unsigned breaker_failures; /* 0: no breaker */
    int64_t breaker_open_us;
    silk_instance_list insts; /* the registry's last good answer */
    uint64_t *id_hash;        /* per instance: for rendezvous hashing */
    uint64_t *addr_hash;      /* per instance: to recognise the ones a call tried */
    int64_t *current;         /* per instance: smooth weighted round-robin's running value */
    bool weighted;            /* weights differ */
    size_t rr;
    uint64_t rng;
    silk__lb_health *health;
    size_t nhealth;
} silk__balancer;

/* silk__lb_init sets b up for service with the defaults: $SILK_LB (round-robin when unset),
 * $SILK_BREAKER_FAILURES (3) and $SILK_BREAKER_OPEN_MS (60000). */
void silk__lb_init(silk__balancer *b, const char *service);

/* silk__lb_fini frees what b holds. */
void silk__lb_fini(silk__balancer *b);

/* silk__lb_policy_parse reads "round-robin", "random" or "hash"; false for anything else. */
bool silk__lb_policy_parse(const char *s, silk_lb_policy *out);

/* silk__lb_prepare_view computes what picks need of a fresh registry answer (outside the
 * lock); silk__lb_set_view then swaps it in (under it) and hands back the old one in *fresh,
 * for the caller to free with silk__lb_view_fini. */
typedef struct silk__lb_view {
    silk_instance_list insts;
    uint64_t *id_hash;
    uint64_t *addr_hash;
    int64_t *current;
    bool weighted;
} silk__lb_view;
silk_status silk__lb_prepare_view(silk__lb_view *v, silk_instance_list *insts);
void silk__lb_set_view(silk__balancer *b, silk__lb_view *fresh);
void silk__lb_view_fini(silk__lb_view *v);

/* silk__lb_route_init fills r for a call of method with req and ctx under policy: hashed on
 * the method's hash_key field when it has a value, else - with the hash policy - on the
 * call's business id, else not hashed. */
void silk__lb_route_init(silk__route *r, silk_lb_policy policy, const silk_method_desc *method,
                         const ProtobufCMessage *req, const silk_ctx *ctx);

/* silk__lb_address_hash is the hash by which a route remembers an address. */
uint64_t silk__lb_address_hash(const char *address);

/* silk__lb_pick chooses the instance for r (NULL r: a plain pick) and returns its address,
 * or NULL with why filled: no instance known (*none set), or every breaker open. Instances
 * r tried are passed over while others remain, then those whose connection was lost lately;
 * those whose breaker is open are never chosen, except for one probe once the open period
 * has passed. When addr_hash is not NULL it gets the address's silk__lb_address_hash, which
 * the balancer keeps (a pick hashes nothing). */
const char *silk__lb_pick(silk__balancer *b, const silk__route *r, int64_t now, bool *none,
                          uint64_t *addr_hash, char *why, size_t cap);

/* silk__lb_backoff_us tells how long a dial to address must still wait (0: it may dial). */
int64_t silk__lb_backoff_us(silk__balancer *b, const char *address, int64_t now,
                            unsigned *failures);

/* silk__lb_conn_failed records that the connection to address failed: could not be made
 * (dial_failed: the backoff grows) or was lost. It counts as a failure for the breaker, but
 * for a loss while address is already marked down: the same outage seen on another
 * connection. */
void silk__lb_conn_failed(silk__balancer *b, const char *address, bool dial_failed, int64_t now);

/* silk__lb_conn_made forgets the dial failures of address, to which a connection was made. */
void silk__lb_conn_made(silk__balancer *b, const char *address);

/* silk__lb_failed counts a failed call (UNAVAILABLE from the instance, or a deadline it let
 * pass without a word) for the breaker; silk__lb_succeeded an answer, which closes it. */
void silk__lb_failed(silk__balancer *b, const char *address, int64_t now);
void silk__lb_succeeded(silk__balancer *b, const char *address);

/* silk__lb_watch tells whether a success of address must be reported: it has failures. */
bool silk__lb_watch(silk__balancer *b, const char *address);

#endif /* SILK_SRC_BALANCE_H */
