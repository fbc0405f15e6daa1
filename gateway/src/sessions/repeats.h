/* repeats.h - the messages a gateway was given under an idempotency key lately, so that a
 * retried SendMany does not send them twice. */
#ifndef SILK_GATEWAY_REPEATS_H
#define SILK_GATEWAY_REPEATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How long a message is remembered, in seconds, and how many at most (the oldest go first). */
#define SILK__GW_REPEATS_TTL 300.0
#define SILK__GW_REPEATS_MAX 65536

typedef struct silk__gw_repeats silk__gw_repeats;

/* silk__gw_repeats_new makes an empty memory; NULL when memory is exhausted. */
silk__gw_repeats *silk__gw_repeats_new(void);
void silk__gw_repeats_free(silk__gw_repeats *r);

/* silk__gw_repeats_seen tells whether (key, session_id, data) was given within the ttl before
 * now (seconds, any clock that only grows), and remembers it. Any thread. */
bool silk__gw_repeats_seen(silk__gw_repeats *r, const char *key, const char *session_id,
                           const void *data, size_t len, double now);

#endif /* SILK_GATEWAY_REPEATS_H */
