/* ws_lws.c - bench-ws-lws: bench-ws's libwebsockets peer, a minimal WebSocket echo server.
 *
 *   bench-ws-lws PORT [CERT KEY]
 *
 * Listens on 127.0.0.1:PORT (wss with the PEM certificate CERT and its key KEY when given) and
 * sends every message back to its sender, text as text and binary as binary, until SIGTERM or
 * SIGINT. Messages wait in a per-connection queue until the connection is writable, as
 * libwebsockets wants. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

/* msg is one message waiting to go back, LWS_PRE bytes of room before its data. */
typedef struct msg {
    struct msg *next;
    size_t len;
    int binary;
    unsigned char buf[]; /* LWS_PRE + len */
} msg;

/* session is libwebsockets' per-connection data: the queue, and a message being received. */
typedef struct session {
    msg *head, *tail;
    msg *partial;
} session;

static volatile sig_atomic_t stopping;
static struct lws_context *context;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
    lws_cancel_service(context);
}

/* receive appends a fragment to the message being received; a whole message is queued. */
static int receive(struct lws *wsi, session *s, const void *in, size_t len)
{
    size_t have = s->partial != NULL ? s->partial->len : 0;
    msg *m = realloc(s->partial, sizeof *m + LWS_PRE + have + len);
    if (m == NULL)
        return -1;
    if (have == 0)
        *m = (msg){.binary = lws_frame_is_binary(wsi)};
    memcpy(m->buf + LWS_PRE + have, in, len);
    m->len = have + len;
    s->partial = m;
    if (!lws_is_final_fragment(wsi))
        return 0;
    s->partial = NULL;
    m->next = NULL;
    if (s->tail != NULL)
        s->tail->next = m;
    else
        s->head = m;
    s->tail = m;
    lws_callback_on_writable(wsi);
    return 0;
}

/* send_one writes the first queued message and asks for the next write when more wait. */
static int send_one(struct lws *wsi, session *s)
{
    msg *m = s->head;
    if (m == NULL)
        return 0;
    int n = lws_write(wsi, m->buf + LWS_PRE, m->len, m->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
    if (n < (int)m->len)
        return -1;
    s->head = m->next;
    if (s->head == NULL)
        s->tail = NULL;
    free(m);
    if (s->head != NULL)
        lws_callback_on_writable(wsi);
    return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    session *s = user;
    switch (reason) {
    case LWS_CALLBACK_RECEIVE:
        return receive(wsi, s, in, len);
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return send_one(wsi, s);
    case LWS_CALLBACK_CLOSED:
        while (s->head != NULL) {
            msg *m = s->head;
            s->head = m->next;
            free(m);
        }
        free(s->partial);
        *s = (session){0};
        return 0;
    default:
        return 0;
    }
}

static const struct lws_protocols protocols[] = {
    {.name = "echo",
     .callback = callback,
     .per_session_data_size = sizeof(session),
     .rx_buffer_size = 4096},
    {0},
};

int main(int argc, char **argv)
{
    if ((argc != 2 && argc != 4) || atoi(argv[1]) <= 0) {
        fprintf(stderr, "usage: bench-ws-lws PORT [CERT KEY]\n\nA libwebsockets echo server on "
                        "127.0.0.1:PORT, for make bench-ws; wss with CERT and KEY.\n");
        return 2;
    }
    lws_set_log_level(LLL_ERR | LLL_WARN, NULL);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = atoi(argv[1]);
    info.iface = "127.0.0.1";
    info.protocols = protocols;
    info.gid = -1;
    info.uid = -1;
    if (argc == 4) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = argv[2];
        info.ssl_private_key_filepath = argv[3];
    }
    context = lws_create_context(&info);
    if (context == NULL) {
        fprintf(stderr, "bench-ws-lws: cannot create the libwebsockets context\n");
        return 1;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    while (!stopping && lws_service(context, 0) >= 0)
        ;
    lws_context_destroy(context);
    return 0;
}
