/* openapi.h - GET /openapi.json (--openapi): the OpenAPI 3.1 document of the routed services. */
#ifndef SILK_GATEWAY_OPENAPI_H
#define SILK_GATEWAY_OPENAPI_H

#include <stdbool.h>
#include <stddef.h>

#include <silk/service.h>

struct silk__gw_opts;
struct silk__gw_client;

/* silk__gw_openapi_document returns the OpenAPI 3.1 document the gateway serves, as a new
 * compact JSON string the caller frees with free(), or NULL with err set (errlen bytes with the
 * NUL): a service's part that is not JSON, or memory exhausted. It merges the parts
 * protoc-gen-silk wrote into services[0..n)'s descriptors (silk_service_desc.openapi; a
 * descriptor without one is left out, logged) as silkc --openapi merges them, and adds what
 * only the gateway knows: servers (the address the document is fetched from), with
 * opts->jwt the bearer token every method but the public ones needs, with
 * opts->wrap_response Silky's wrapped replies and errors in place of the plain ones. */
char *silk__gw_openapi_document(const struct silk__gw_opts *opts,
                                const silk_service_desc *const *services, size_t n, char *err,
                                size_t errlen);

/* silk__gw_openapi_respond answers GET /openapi.json on c: the document, application/json, to
 * anyone (no token: docs/gateway.md says why), or 404 as for any path without --openapi. It
 * returns as silk__gw_respond. */
int silk__gw_openapi_respond(struct silk__gw_client *c, bool close);

#endif /* SILK_GATEWAY_OPENAPI_H */
