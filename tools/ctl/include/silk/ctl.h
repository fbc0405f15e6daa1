/* ctl.h - silk-ctl as a library: call any method of the services linked in, JSON in and out;
 * list the registry's instances and check their health. */
#ifndef SILK_CTL_H
#define SILK_CTL_H

#include <stddef.h>

#include <silk/service.h>

#ifdef __cplusplus
extern "C" {
#endif

/* silk_ctl_main runs silk-ctl for the services whose generated descriptors are given: a
 * deployment's silk-ctl is a main() that passes its descriptors here, as its silk-gateway
 * does. The commands (docs/gateway.md, "silk-ctl", and docs/registry.md, "silk-ctl"):
 *
 *   silk-ctl call SERVICE/METHOD ['{json}' | -d '{json}' | -d @file | -d @-]
 *   silk-ctl list
 *   silk-ctl health SERVICE
 *   silk-ctl methods
 *
 * `call` maps the JSON to the method's request (silk/json.h), calls it through the registry
 * ($SILK_REGISTRY, or --registry URL; --target ADDRESS for one instance) with --metadata
 * KEY=VALUE (repeatable) and --timeout MS, and prints the reply's JSON. `list` prints the
 * registry's services and their live instances (any service, linked in or not); `health`
 * calls silk.health.Health/Check on each instance of SERVICE; `methods` prints every linked
 * method with its web route.
 *
 * Returns the process exit code: 0 on success; 1 when the call fails (its status and message
 * go to stderr), the registry cannot be read, or an instance is not serving; 2 for a bad
 * command line. argv is only read; services and the descriptors must outlive the call. Call
 * it from main(): --registry sets $SILK_REGISTRY for the whole process. */
int silk_ctl_main(int argc, char **argv, const silk_service_desc *const *services,
                  size_t n_services);

#ifdef __cplusplus
}
#endif

#endif /* SILK_CTL_H */
