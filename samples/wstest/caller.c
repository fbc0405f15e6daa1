/* caller.c - wstest-caller: another program calling WsTest.Echo over nng by service name. */
#include <stdio.h>
#include <string.h>

#include <silk/silk.h>

#include "wstest.silk.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: wstest-caller BUSINESS_ID MSG\n"
                 "\n"
                 "Calls wstest.WsTest/Echo, found through the registry ($SILK_REGISTRY), with the\n"
                 "business id in the call's metadata. Exits 0 when the call succeeds; otherwise\n"
                 "prints the status and its message and exits 1 (2 for a usage error).\n");
}

int main(int argc, char **argv)
{
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc != 3) {
        usage(stderr);
        return 2;
    }
    silk_channel *ch = NULL;
    silk_status st = silk_channel_open_service(&ch, &wstest__ws_test__silk_desc);
    silk_ctx *ctx = silk_ctx_new();
    if (st == SILK_OK && ctx == NULL)
        st = SILK_RESOURCE_EXHAUSTED;
    if (st == SILK_OK)
        st = silk_ctx_set(ctx, SILK_MD_BUSINESS_ID, argv[1]);

    Google__Protobuf__Empty *out = NULL;
    if (st == SILK_OK) {
        Wstest__EchoRequest req = WSTEST__ECHO_REQUEST__INIT;
        req.business_id = argv[1];
        req.msg = argv[2];
        st = wstest__ws_test__call_echo(ch, ctx, &req, &out);
    }
    if (st == SILK_OK) {
        printf("ok\n");
        google__protobuf__empty__free_unpacked(out, NULL);
    } else {
        fprintf(stderr, "wstest-caller: %s: %s\n", silk_status_str(st), silk_ctx_message(ctx));
    }
    silk_ctx_free(ctx);
    silk_channel_close(ch);
    return st == SILK_OK ? 0 : 1;
}
