/* service.c - wstest-service: the seed's WsTest service, pushing to WebSocket sessions. */
#include <stdio.h>
#include <string.h>

#include <silk/silk.h>

#include "wstest.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: wstest-service [--help]\n"
                 "\n"
                 "Serves wstest.WsTest (Echo) and its WebSocket hooks (OnMessage echoes)\n"
                 "until SIGTERM or SIGINT.\n"
                 "\n"
                 "environment:\n"
                 "  SILK_LISTEN    nng address to listen on (default tcp://127.0.0.1:0)\n"
                 "  SILK_REGISTRY  registry URL (default file:$XDG_RUNTIME_DIR/silk or "
                 "file:/tmp/silk-$UID)\n"
                 "  SILK_LOG       debug, info, warn or error (default info)\n");
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        int help = strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0;
        usage(help ? stdout : stderr);
        return help ? 0 : 2;
    }
    silk_server *srv = wstest_server_new(NULL, "wstest-service");
    return srv != NULL ? silk_server_run(srv) : 1;
}
