/* exporter.h - the process's metrics listener: one small blocking HTTP server on a thread of
 * its own, at $SILK_METRICS_LISTEN, answering GET /metrics with every attached server's
 * counters added up. */
#ifndef SILK_SRC_METRICS_EXPORTER_H
#define SILK_SRC_METRICS_EXPORTER_H

#include <stdbool.h>
#include <stddef.h>

#include "metrics/metrics.h"

/* silk__metrics_wanted tells whether $SILK_METRICS_LISTEN asks for metrics: set and of the
 * form HOST:PORT or [V6]:PORT. A value of another form is ignored with a warning that names
 * the variable (not its value) and false. Any thread. */
bool silk__metrics_wanted(void);

/* silk__metrics_parse_address splits "HOST:PORT" or "[V6]:PORT" (PORT a decimal from 0 to
 * 65535, HOST not empty) into host and port; false when s is not of that form or a part does
 * not fit. */
bool silk__metrics_parse_address(const char *s, char *host, size_t host_size, char *port,
                                 size_t port_size);

/* silk__metrics_attach puts m on the exporter's list, and starts the listener when it is the
 * first: bound to $SILK_METRICS_LISTEN and logged; a failure to listen (an address in use) is
 * logged and the list is kept all the same, without a listener until every m has left. m
 * stays the caller's; it must stay alive until silk__metrics_detach. Any thread but the
 * exporter's. */
void silk__metrics_attach(silk__metrics *m);

/* silk__metrics_detach takes m off the list (nothing when it is not on it); when it was the
 * last one, stops the listener and waits for its thread. After it returns the exporter no
 * longer reads m or calls its gauges. Not with a lock held that m's gauges take. */
void silk__metrics_detach(silk__metrics *m);

/* silk__metrics_port returns the port the listener is bound to, or 0 when none runs (tests
 * listen on port 0). */
int silk__metrics_port(void);

#endif /* SILK_SRC_METRICS_EXPORTER_H */
