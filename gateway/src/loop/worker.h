/* worker.h - one worker: a loop with its listener, opened, run and closed by the process. */
#ifndef SILK_GATEWAY_WORKER_H
#define SILK_GATEWAY_WORKER_H

#include <stddef.h>

#include "loop/gateway.h"
#include "loop/loop.h"

/* silk__gw_worker_open makes l loop number index of gw, on the main thread, which entered l
 * (silk__gw_loop_enter). Loop 0 is libev's default loop, which takes SIGTERM and SIGINT; with
 * several workers each loop listens on its own socket of the same port (SO_REUSEPORT), and the
 * kernel spreads the connections. It returns 0, or -1 with nothing left to close. Run the loop
 * with ev_run(l->ev) on a thread that entered l. */
int silk__gw_worker_open(silk__gw_loop *l, silk__gw *gw, size_t index);

/* silk__gw_worker_close closes what l still holds and frees its resources (not l), on the main
 * thread, which entered l, once l stopped and so did every thread that posts to it: it closes
 * the connections left and runs the last tasks (completions of cancelled calls). */
void silk__gw_worker_close(silk__gw_loop *l);

#endif /* SILK_GATEWAY_WORKER_H */
