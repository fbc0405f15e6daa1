/* session_manager_client.c - silk-gateway-sm: calls a gateway's SessionManager, for tests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <silk/silk.h>

#include "silk/ws.silk.h"

static int usage(void)
{
    fprintf(stderr, "usage: silk-gateway-sm sessions BUSINESS_ID [ROUTE]\n"
                    "       silk-gateway-sm send SESSION_ID TEXT\n"
                    "       silk-gateway-sm business BUSINESS_ID ROUTE TEXT\n"
                    "       silk-gateway-sm close SESSION_ID CODE\n"
                    "\n"
                    "Calls silk.ws.SessionManager, found through $SILK_REGISTRY, and prints the\n"
                    "reply; on failure prints the status and exits 1.\n");
    return 2;
}

static int failed(silk_status st, silk_ctx *ctx)
{
    fprintf(stderr, "silk-gateway-sm: %s: %s\n", silk_status_str(st), silk_ctx_message(ctx));
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return usage();
    silk_channel *ch;
    silk_status st = silk_channel_open(&ch, SILK_WS_SESSION_MANAGER);
    silk_ctx *ctx = silk_ctx_new();
    if (st != SILK_OK || ctx == NULL) {
        fprintf(stderr, "silk-gateway-sm: cannot open a channel: %s\n", silk_status_str(st));
        return 1;
    }
    int rc = 0;
    if (strcmp(argv[1], "sessions") == 0 && argc <= 4) {
        Silk__Ws__SessionsRequest req = SILK__WS__SESSIONS_REQUEST__INIT;
        Silk__Ws__SessionsReply *r = NULL;
        req.business_id = argv[2];
        req.route = argc == 4 ? argv[3] : "";
        st = silk__ws__session_manager__call_sessions(ch, ctx, &req, &r);
        if (st == SILK_OK) {
            for (size_t i = 0; i < r->n_session_ids; i++)
                printf("%s\n", r->session_ids[i]);
            silk__ws__sessions_reply__free_unpacked(r, NULL);
        }
    } else if (strcmp(argv[1], "send") == 0 && argc == 4) {
        Silk__Ws__SendRequest req = SILK__WS__SEND_REQUEST__INIT;
        Silk__Ws__SendReply *r = NULL;
        req.session_id = argv[2];
        req.data.data = (uint8_t *)argv[3];
        req.data.len = strlen(argv[3]);
        st = silk__ws__session_manager__call_send(ch, ctx, &req, &r);
        if (st == SILK_OK) {
            printf("%u\n", r->delivered);
            silk__ws__send_reply__free_unpacked(r, NULL);
        }
    } else if (strcmp(argv[1], "business") == 0 && argc == 5) {
        Silk__Ws__SendToBusinessRequest req = SILK__WS__SEND_TO_BUSINESS_REQUEST__INIT;
        Silk__Ws__SendReply *r = NULL;
        req.business_id = argv[2];
        req.route = argv[3];
        req.data.data = (uint8_t *)argv[4];
        req.data.len = strlen(argv[4]);
        st = silk__ws__session_manager__call_send_to_business(ch, ctx, &req, &r);
        if (st == SILK_OK) {
            printf("%u\n", r->delivered);
            silk__ws__send_reply__free_unpacked(r, NULL);
        }
    } else if (strcmp(argv[1], "close") == 0 && argc == 4) {
        Silk__Ws__CloseRequest req = SILK__WS__CLOSE_REQUEST__INIT;
        Google__Protobuf__Empty *r = NULL;
        req.session_id = argv[2];
        req.code = (uint32_t)strtoul(argv[3], NULL, 10);
        req.reason = "closed by test";
        st = silk__ws__session_manager__call_close(ch, ctx, &req, &r);
        if (st == SILK_OK)
            google__protobuf__empty__free_unpacked(r, NULL);
    } else {
        rc = usage();
    }
    if (rc == 0 && st != SILK_OK)
        rc = failed(st, ctx);
    silk_ctx_free(ctx);
    silk_channel_close(ch);
    return rc;
}
