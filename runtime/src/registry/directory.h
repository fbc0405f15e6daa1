/* directory.h - the session directory: which gateways hold sessions of a business, kept by the
 * gateways beside the registry, so that a push asks only those (docs/registry.md). */
#ifndef SILK_SRC_REGISTRY_DIRECTORY_H
#define SILK_SRC_REGISTRY_DIRECTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <silk/registry.h>

/* Each returns SILK_UNIMPLEMENTED when the registry's backend keeps no directory (file: the
 * gateways are few and on one machine; ask them all), SILK_UNAVAILABLE while its store cannot
 * be reached, or SILK_OK. From any thread; each is one round trip. */

/* silk__directory_set records that the gateway gateway_id holds sessions of business (present)
 * or no longer does. */
silk_status silk__directory_set(silk_registry *reg, const char *gateway_id, const char *business,
                                bool present);

/* silk__directory_sync makes the gateway's entries exactly the n businesses given: what it
 * recorded before (an earlier run of the same id) is forgotten. */
silk_status silk__directory_sync(silk_registry *reg, const char *gateway_id,
                                 const char *const *businesses, size_t n);

/* silk__directory_mark renews the gateway's mark for ttl_ms and tells, in *was_there, whether
 * it was there: when not, the store lost what the gateway wrote (a restart, a flush) and the
 * gateway should sync. */
silk_status silk__directory_mark(silk_registry *reg, const char *gateway_id, int64_t ttl_ms,
                                 bool *was_there);

/* silk__directory_lookup fills out with the live SessionManager instances (registry records)
 * of the gateways holding sessions of business; entries of gateways whose record is gone are
 * dropped from the store on the way. out is the caller's, to free with
 * silk_instance_list_fini(), and empty on failure. */
silk_status silk__directory_lookup(silk_registry *reg, const char *business,
                                   silk_instance_list *out);

#endif /* SILK_SRC_REGISTRY_DIRECTORY_H */
