/* assert.h - SILK__GW_ASSERT: the gateway's checked invariants, on where SILK_DEBUG_ASSERTS is. */
#ifndef SILK_GATEWAY_ASSERT_H
#define SILK_GATEWAY_ASSERT_H

#include <stdio.h>
#include <stdlib.h>

/* SILK__GW_ASSERT(cond) aborts with the condition and where it failed when cond is false, in a
 * build with SILK_DEBUG_ASSERTS (CMake's SILK_ASSERT, on but for Release and MinSizeRel); NDEBUG,
 * which RelWithDebInfo sets, does not turn it off. Elsewhere cond is not evaluated. */
#ifdef SILK_DEBUG_ASSERTS
#define SILK__GW_ASSERT(cond)                                                                      \
    ((cond) ? (void)0                                                                              \
            : (fprintf(stderr, "silk-gateway: %s:%d: %s: assertion failed: %s\n", __FILE__,        \
                       __LINE__, __func__, #cond),                                                 \
               abort()))
#else
#define SILK__GW_ASSERT(cond) ((void)sizeof((cond) ? 1 : 0))
#endif

#endif /* SILK_GATEWAY_ASSERT_H */
