/* session_manager_client.c - silk-gateway-sm: calls a gateway's SessionManager, for tests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <silk/silk.h>

#include "silk/ws.silk.h"

static int usage(void)
{
    fprintf(stderr, "usage: silk-gateway-sm sessions BUSINESS_ID [ROUTE]\n"
                    "       silk-gateway-sm send SESSION_ID TEXT\n"
                    "       silk-gateway-sm business BUSINESS_ID ROUTE TEXT\n"
                    "       silk-gateway-sm close SESSION_ID CODE\n"
                    "       silk-gateway-sm flood BUSINESS_ID ROUTE SIZE COUNT [PAUSE_US]\n"
                    "       silk-gateway-sm many SESSION_ID=TEXT...\n"
                    "       silk-gateway-sm seq BUSINESS_ID ROUTE PREFIX FIRST COUNT\n"
                    "       silk-gateway-sm keyed BUSINESS_ID ROUTE KEY TEXT\n"
                    "       silk-gateway-sm binary BUSINESS_ID ROUTE TEXT\n"
                    "       silk-gateway-sm ws-sessions BUSINESS_ID\n"
                    "       silk-gateway-sm ws-send SESSION_ID TEXT\n"
                    "       silk-gateway-sm ws-business BUSINESS_ID TEXT\n"
                    "       silk-gateway-sm ws-presence BUSINESS_ID\n"
                    "       silk-gateway-sm ws-close-business BUSINESS_ID CODE REASON\n"
                    "       silk-gateway-sm ws-batch SESSION_ID=TEXT...\n"
                    "\n"
                    "Calls silk.ws.SessionManager, found through $SILK_REGISTRY, and prints the\n"
                    "reply; on failure prints the status and exits 1. The ws-* commands go\n"
                    "through libsilk's silk_ws_* helpers, which ask every gateway.\n");
    return 2;
}

static int failed(silk_status st, silk_ctx *ctx)
{
    fprintf(stderr, "silk-gateway-sm: %s: %s\n", silk_status_str(st), silk_ctx_message(ctx));
    return 1;
}

/* push_seq pushes PREFIX<first> ... PREFIX<first + count - 1> to a business, one
 * SendToBusiness each, in order, and prints the sessions reached in all. */
static silk_status push_seq(silk_channel *ch, silk_ctx *ctx, char *business, char *route,
                            const char *prefix, unsigned long first, unsigned long count)
{
    Silk__Ws__SendToBusinessRequest req = SILK__WS__SEND_TO_BUSINESS_REQUEST__INIT;
    req.business_id = business;
    req.route = route;
    char text[256];
    size_t delivered = 0;
    silk_status st = SILK_OK;
    for (unsigned long i = first; i < first + count && st == SILK_OK; i++) {
        int n = snprintf(text, sizeof text, "%s%lu", prefix, i);
        req.data.data = (uint8_t *)text;
        req.data.len = (size_t)n;
        Silk__Ws__SendReply *r = NULL;
        st = silk__ws__session_manager__call_send_to_business(ch, ctx, &req, &r);
        if (st == SILK_OK) {
            delivered += r->delivered;
            silk__ws__send_reply__free_unpacked(r, NULL);
        }
    }
    if (st == SILK_OK)
        printf("%zu\n", delivered);
    return st;
}

/* push_keyed pushes TEXT to a business with an idempotency key ("": none), as a binary
 * message or not, and prints "delivered offset duplicate" from the reply. */
static silk_status push_keyed(silk_channel *ch, silk_ctx *ctx, char *business, char *route,
                              char *key, char *text, bool binary)
{
    Silk__Ws__SendToBusinessRequest req = SILK__WS__SEND_TO_BUSINESS_REQUEST__INIT;
    req.business_id = business;
    req.route = route;
    req.idempotency_key = key;
    req.binary = binary;
    req.data.data = (uint8_t *)text;
    req.data.len = strlen(text);
    Silk__Ws__SendReply *r = NULL;
    silk_status st = silk__ws__session_manager__call_send_to_business(ch, ctx, &req, &r);
    if (st == SILK_OK) {
        printf("%u %llu %d\n", r->delivered, (unsigned long long)r->offset, r->duplicate);
        silk__ws__send_reply__free_unpacked(r, NULL);
    }
    return st;
}

/* split_arg splits "SESSION_ID=TEXT" in place: the text, or NULL without an '='. */
static char *split_arg(char *arg)
{
    char *eq = strchr(arg, '=');
    if (eq != NULL)
        *eq++ = '\0';
    return eq;
}

/* send_many sends each "SESSION_ID=TEXT" in one SendMany; it prints how many were delivered,
 * then "missing <id>" for each session the gateway did not have. */
static silk_status send_many(silk_channel *ch, silk_ctx *ctx, int n, char **args)
{
    Silk__Ws__SendItem *items = calloc((size_t)n + 1, sizeof *items);
    Silk__Ws__SendItem **ptrs = calloc((size_t)n + 1, sizeof *ptrs);
    silk_status st = items != NULL && ptrs != NULL ? SILK_OK : SILK_RESOURCE_EXHAUSTED;
    for (int i = 0; st == SILK_OK && i < n; i++) {
        char *text = split_arg(args[i]);
        silk__ws__send_item__init(&items[i]);
        items[i].session_id = args[i];
        items[i].data.data = (uint8_t *)(text ? text : "");
        items[i].data.len = text ? strlen(text) : 0;
        ptrs[i] = &items[i];
    }
    Silk__Ws__SendManyRequest req = SILK__WS__SEND_MANY_REQUEST__INIT;
    req.n_messages = (size_t)n;
    req.messages = ptrs;
    Silk__Ws__SendManyReply *r = NULL;
    if (st == SILK_OK)
        st = silk__ws__session_manager__call_send_many(ch, ctx, &req, &r);
    if (st == SILK_OK) {
        printf("%u\n", r->delivered);
        for (size_t i = 0; i < r->n_missing; i++)
            printf("missing %s\n", r->missing[i]);
        silk__ws__send_many_reply__free_unpacked(r, NULL);
    }
    free(items);
    free(ptrs);
    return st;
}

/* batch sends each "SESSION_ID=TEXT" through one silk_ws_batch and prints how many were
 * delivered. */
static silk_status batch(silk_ctx *ctx, int n, char **args)
{
    silk_ws_batch *b;
    silk_status st = silk_ws_batch_open(ctx, &b);
    for (int i = 0; st == SILK_OK && i < n; i++) {
        char *text = split_arg(args[i]);
        st = silk_ws_batch_send(b, args[i], text ? text : "", text ? strlen(text) : 0);
    }
    size_t delivered = 0;
    silk_status closed = silk_ws_batch_close(b, &delivered);
    if (st == SILK_OK && closed == SILK_OK)
        printf("%zu\n", delivered);
    return st != SILK_OK ? st : closed;
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
    size_t delivered = 0;
    silk_session_list list;
    if (strcmp(argv[1], "ws-sessions") == 0 && argc == 3) {
        st = silk_ws_session_list(ctx, argv[2], &list);
        for (size_t i = 0; st == SILK_OK && i < list.count; i++)
            printf("%s\n", list.ids[i]);
        silk_session_list_fini(&list);
    } else if (strcmp(argv[1], "ws-send") == 0 && argc == 4) {
        st = silk_ws_send(ctx, argv[2], argv[3], strlen(argv[3]));
    } else if (strcmp(argv[1], "ws-business") == 0 && argc == 4) {
        st = silk_ws_send_business(ctx, argv[2], argv[3], strlen(argv[3]), &delivered);
        if (st == SILK_OK)
            printf("%zu\n", delivered);
    } else if (strcmp(argv[1], "ws-presence") == 0 && argc == 3) {
        silk_presence_list who;
        st = silk_ws_presence(ctx, argv[2], &who);
        for (size_t i = 0; st == SILK_OK && i < who.count; i++)
            printf("%s %s %s %lld %s\n", who.items[i].session_id, who.items[i].gateway_id,
                   who.items[i].route, (long long)who.items[i].opened_at_ms,
                   who.items[i].subject[0] ? who.items[i].subject : "-");
        silk_presence_list_fini(&who);
    } else if (strcmp(argv[1], "ws-close-business") == 0 && argc == 5) {
        st = silk_ws_close_business(ctx, argv[2], (uint16_t)strtoul(argv[3], NULL, 10), argv[4]);
    } else if (strcmp(argv[1], "flood") == 0 && (argc == 6 || argc == 7)) {
        /* COUNT messages of SIZE bytes for every session of a business, PAUSE_US microseconds
         * apart (none without it): a slow consumer's, beside clients that keep up. */
        size_t size = strtoul(argv[4], NULL, 10), count = strtoul(argv[5], NULL, 10);
        useconds_t pause = argc == 7 ? (useconds_t)strtoul(argv[6], NULL, 10) : 0;
        uint8_t *data = malloc(size ? size : 1);
        memset(data, 'f', size);
        Silk__Ws__SendToBusinessRequest req = SILK__WS__SEND_TO_BUSINESS_REQUEST__INIT;
        req.business_id = argv[2];
        req.route = argv[3];
        req.data.data = data;
        req.data.len = size;
        for (size_t i = 0; i < count && st == SILK_OK; i++) {
            Silk__Ws__SendReply *r = NULL;
            st = silk__ws__session_manager__call_send_to_business(ch, ctx, &req, &r);
            if (st == SILK_OK) {
                delivered += r->delivered;
                silk__ws__send_reply__free_unpacked(r, NULL);
            }
            if (pause > 0)
                usleep(pause);
        }
        free(data);
        if (st == SILK_OK)
            printf("%zu\n", delivered);
    } else if (strcmp(argv[1], "seq") == 0 && argc == 7) {
        st = push_seq(ch, ctx, argv[2], argv[3], argv[4], strtoul(argv[5], NULL, 10),
                      strtoul(argv[6], NULL, 10));
    } else if (strcmp(argv[1], "keyed") == 0 && argc == 6) {
        st = push_keyed(ch, ctx, argv[2], argv[3], argv[4], argv[5], false);
    } else if (strcmp(argv[1], "binary") == 0 && argc == 5) {
        st = push_keyed(ch, ctx, argv[2], argv[3], "", argv[4], true);
    } else if (strcmp(argv[1], "many") == 0) {
        st = send_many(ch, ctx, argc - 2, argv + 2);
    } else if (strcmp(argv[1], "ws-batch") == 0) {
        st = batch(ctx, argc - 2, argv + 2);
    } else if (strcmp(argv[1], "sessions") == 0 && argc <= 4) {
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
