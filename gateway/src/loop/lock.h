/* lock.h - gw->lock, which guards the session table, with its holder noted for the checks. */
#ifndef SILK_GATEWAY_LOCK_H
#define SILK_GATEWAY_LOCK_H

#include <stdbool.h>

#include "loop/assert.h"
#include "loop/gateway.h"

/* silk__gw_lock takes gw->lock, from any thread. */
void silk__gw_lock(silk__gw *gw);

/* silk__gw_unlock gives back gw->lock, which the calling thread holds. */
void silk__gw_unlock(silk__gw *gw);

/* silk__gw_holds_lock tells whether the calling thread holds gw->lock; it knows only in a build
 * with SILK_DEBUG_ASSERTS (elsewhere it says true). */
bool silk__gw_holds_lock(const silk__gw *gw);

/* SILK__GW_ASSERT_LOCKED(gw) checks that the calling thread holds gw->lock. */
#define SILK__GW_ASSERT_LOCKED(gw) SILK__GW_ASSERT(silk__gw_holds_lock(gw))

#endif /* SILK_GATEWAY_LOCK_H */
