/* stream.c - what every store of streams shares: argument checks, new epochs, freeing a range. */
#include <stdlib.h>
#include <string.h>

#include "core/random.h"
#include "registry/stream.h"

/* name_ok tells whether s is a usable route, business id or idempotency key. */
static bool name_ok(const char *s)
{
    return s != NULL && s[0] != '\0' &&
           strnlen(s, SILK__STREAM_NAME_MAX + 1) <= SILK__STREAM_NAME_MAX;
}

silk_status silk__stream_check(const char *route, const char *business_id,
                               const silk__stream_limits *lim, const char *idem_key)
{
    if (!name_ok(route) || !name_ok(business_id) || lim == NULL || lim->size == 0 ||
        lim->ttl_s == 0 || (idem_key != NULL && !name_ok(idem_key)))
        return SILK_INVALID_ARGUMENT;
    return SILK_OK;
}

void silk__stream_new_epoch(char epoch[SILK__STREAM_EPOCH_MAX + 1])
{
    silk__random_hex(epoch, 8);
}

void silk__stream_range_fini(silk__stream_range *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->entries[i].data);
    free(r->entries);
    memset(r, 0, sizeof *r);
}
