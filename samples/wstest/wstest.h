/* wstest.h - the seed's WsTest handlers, served by wstest-service and by wstest-host. */
#ifndef WSTEST_SAMPLE_H
#define WSTEST_SAMPLE_H

#include <silk/silk.h>

/* wstest_serve hosts wstest.WsTest (Echo) and its silk.ws.Hooks (OnMessage echoes, inline)
 * on srv, before it starts. Returns SILK_OK or why not. */
silk_status wstest_serve(silk_server *srv);

#endif /* WSTEST_SAMPLE_H */
