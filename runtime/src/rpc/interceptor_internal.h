/* interceptor_internal.h - a chain of interceptors, as the server and the channel keep one. */
#ifndef SILK_SRC_INTERCEPTOR_INTERNAL_H
#define SILK_SRC_INTERCEPTOR_INTERNAL_H

#include <stddef.h>

#include <silk/interceptor.h>

/* silk__chain is a growable array of interceptors, copied in as they are added. */
typedef struct silk__chain {
    silk_interceptor *items;
    size_t n;
} silk__chain;

/* silk__chain_add appends a copy of ic. SILK_INVALID_ARGUMENT when ic has no hook,
 * SILK_RESOURCE_EXHAUSTED when memory is exhausted. */
silk_status silk__chain_add(silk__chain *chain, const silk_interceptor *ic);

/* silk__chain_fini frees the chain. */
void silk__chain_fini(silk__chain *chain);

/* silk__chain_before runs the befores in order until one refuses the call, whose status it
 * returns; *ran counts the interceptors whose before ran (their afters are due). */
silk_status silk__chain_before(const silk__chain *chain, const silk_call_info *info,
                               const ProtobufCMessage *req, size_t *ran);

/* silk__chain_after runs the afters of the first ran interceptors, last first. */
void silk__chain_after(const silk__chain *chain, size_t ran, const silk_call_info *info,
                       const ProtobufCMessage *resp);

#endif /* SILK_SRC_INTERCEPTOR_INTERNAL_H */
