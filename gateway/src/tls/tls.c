/* tls.c - TLS on the gateway's port, on OpenSSL's libssl: the server context, a non-blocking
 * stream per connection for the loop, and the reload on SIGHUP.
 *
 * The stream keeps the loop's rules: SSL_read and SSL_write never wait, and what they wait for
 * (SSL_ERROR_WANT_READ / WANT_WRITE) becomes the io's want flags, from which the connection
 * arms its watchers. A write that could not go out is offered again with the same bytes
 * (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER lets them move), and a write may take part of what it
 * is given (SSL_MODE_ENABLE_PARTIAL_WRITE), as send() does. Bytes already decrypted wait in
 * the SSL object, not in the socket: pending says how many, so the reader can take them
 * without waiting for the socket. Each loop holds a reference to the context it gives new
 * connections; SSL_new from several threads on one context is safe, and a reload hands each
 * loop the new context through its queue, so no lock sits on the accept path. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <silk/log.h>

#include "loop/loop.h"
#include "tls/tls.h"

#define LOG "gateway"

/* ============================================================================
 * The context
 * ========================================================================== */

/* no_passphrase refuses to ask for a passphrase: OpenSSL would prompt on the terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *user)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)user;
    return 0;
}

/* select_alpn chooses http/1.1 when the client offers it, and no protocol otherwise. */
static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *out_len,
                       const unsigned char *in, unsigned int in_len, void *arg)
{
    static const unsigned char http11[] = "\x08http/1.1";
    unsigned char *chosen;
    (void)ssl;
    (void)arg;
    if (SSL_select_next_proto(&chosen, out_len, http11, sizeof http11 - 1, in, in_len) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = chosen;
    return SSL_TLSEXT_ERR_OK;
}

/* openssl_reason returns the reason of the oldest error in the thread's queue, and empties it. */
static const char *openssl_reason(void)
{
    const char *r = ERR_reason_error_string(ERR_peek_error());
    ERR_clear_error();
    return r != NULL ? r : "unknown error";
}

/* configure sets what every context of the gateway has: versions, options, modes, ALPN. */
static int configure(SSL_CTX *ctx)
{
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1)
        return -1;
    uint64_t opts = SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE;
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
    opts |= SSL_OP_IGNORE_UNEXPECTED_EOF; /* a client that just closes is EOF, not an error */
#endif
    SSL_CTX_set_options(ctx, opts);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
    SSL_CTX_set_alpn_select_cb(ctx, select_alpn, NULL);
    return 0;
}

/* load_key loads the private key into ctx, which has its certificate, and checks that they
 * match: 0, or -1 with why written (OpenSSL's queue emptied). */
static int load_key(SSL_CTX *ctx, const char *cert_file, const char *key_file, char *why,
                    size_t why_size)
{
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) == 1 &&
        SSL_CTX_check_private_key(ctx) == 1)
        return 0;
    unsigned long e = ERR_peek_last_error(); /* OpenSSL checks the pair as it loads the key */
    if (e == 0 ||
        (ERR_GET_LIB(e) == ERR_LIB_X509 && ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH))
        snprintf(why, why_size, "the private key does not match the certificate key=%s cert=%s",
                 key_file, cert_file);
    else
        snprintf(why, why_size, "cannot load the private key file=%s: %s", key_file,
                 openssl_reason());
    ERR_clear_error();
    return -1;
}

SSL_CTX *silk__gw_tls_ctx_new(const char *cert_file, const char *key_file, char *why,
                              size_t why_size)
{
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL || configure(ctx) != 0) {
        snprintf(why, why_size, "cannot make a TLS context: %s", openssl_reason());
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1)
        snprintf(why, why_size, "cannot load the certificate file=%s: %s", cert_file,
                 openssl_reason());
    else if (load_key(ctx, cert_file, key_file, why, why_size) == 0)
        return ctx;
    SSL_CTX_free(ctx);
    return NULL;
}

void silk__gw_tls_ctx_free(SSL_CTX *ctx)
{
    SSL_CTX_free(ctx);
}

SSL_CTX *silk__gw_tls_ctx_hold(SSL_CTX *ctx)
{
    SSL_CTX_up_ref(ctx);
    return ctx;
}

/* describe writes what identifies ctx's certificate: its subject, serial and end of validity. */
static void describe(SSL_CTX *ctx, char *out, size_t size)
{
    X509 *x = SSL_CTX_get0_certificate(ctx);
    char subject[256] = "?", not_after[32] = "?";
    char *serial = NULL;
    if (x != NULL) {
        X509_NAME_oneline(X509_get_subject_name(x), subject, sizeof subject);
        BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
        serial = bn != NULL ? BN_bn2hex(bn) : NULL;
        BN_free(bn);
        struct tm tm;
        if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1)
            strftime(not_after, sizeof not_after, "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    snprintf(out, size, "subject=\"%s\" serial=%s not_after=%s", subject, serial ? serial : "?",
             not_after);
    OPENSSL_free(serial);
    ERR_clear_error();
}

/* ============================================================================
 * The stream: SSL_read and SSL_write on the loop
 * ========================================================================== */

/* fail marks io failed. A protocol error before the handshake finished (not a socket that
 * failed or was reset: a client may close as soon as its side is done) is a failed handshake,
 * and OpenSSL's reason is kept. */
static void fail(silk__gw_io *io, int err)
{
    io->failed = true;
    if (io->handshaking && err == SSL_ERROR_SSL && io->handshake_error == NULL)
        io->handshake_error = openssl_reason();
    ERR_clear_error();
}

/* handshake_check notes that the handshake is over once it is. */
static void handshake_check(silk__gw_io *io)
{
    if (io->handshaking && SSL_is_init_finished(io->ssl))
        io->handshaking = false;
}

static ssize_t tls_read(silk__gw_io *io, void *buf, size_t len)
{
    io->read_wants_write = false;
    ERR_clear_error(); /* SSL_get_error reads the thread's queue: it must start empty */
    int n = SSL_read(io->ssl, buf, len > 1 << 30 ? 1 << 30 : (int)len);
    if (n > 0) {
        io->handshaking = false;
        return n;
    }
    int err = SSL_get_error(io->ssl, n);
    switch (err) {
    case SSL_ERROR_WANT_WRITE:
        io->read_wants_write = true;
        /* fall through */
    case SSL_ERROR_WANT_READ:
        handshake_check(io);
        return SILK__GW_IO_AGAIN;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        if (ERR_peek_error() == 0 && n == 0)
            return 0; /* EOF without close_notify (OpenSSL 1.1) */
        /* fall through */
    default:
        fail(io, err);
        return SILK__GW_IO_ERROR;
    }
}

static ssize_t tls_write(silk__gw_io *io, const void *buf, size_t len)
{
    io->write_wants_read = false;
    ERR_clear_error();
    int n = SSL_write(io->ssl, buf, len > 1 << 30 ? 1 << 30 : (int)len);
    if (n > 0)
        return n;
    int err = SSL_get_error(io->ssl, n);
    switch (err) {
    case SSL_ERROR_WANT_READ:
        io->write_wants_read = true;
        /* fall through */
    case SSL_ERROR_WANT_WRITE:
        return SILK__GW_IO_AGAIN;
    default:
        fail(io, err);
        return SILK__GW_IO_ERROR;
    }
}

static size_t tls_pending(const silk__gw_io *io)
{
    int n = SSL_pending(io->ssl);
    return n > 0 ? (size_t)n : 0;
}

static void tls_end(silk__gw_io *io)
{
    /* After a fatal error OpenSSL forbids SSL_shutdown; before the handshake it means nothing. */
    if (!io->failed && !io->handshaking) {
        ERR_clear_error();
        SSL_shutdown(io->ssl); /* our close_notify, if the socket takes it; no waiting for theirs */
    }
    ERR_clear_error();
    SSL_free(io->ssl);
    io->ssl = NULL;
}

static const silk__gw_io_ops tls_ops = {
    .read = tls_read,
    .write = tls_write,
    .pending = tls_pending,
    .end = tls_end,
};

int silk__gw_tls_open(silk__gw_io *io, SSL_CTX *ctx, int fd)
{
    SSL *ssl = SSL_new(ctx);
    if (ssl == NULL || SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        ERR_clear_error();
        return -1;
    }
    SSL_set_accept_state(ssl);
    *io = (silk__gw_io){.ops = &tls_ops, .fd = fd, .ssl = ssl, .handshaking = true};
    return 0;
}

/* ============================================================================
 * Start and reload
 * ========================================================================== */

int silk__gw_tls_start(silk__gw *gw)
{
    if (gw->opts.tls_cert == NULL)
        return 0;
    char why[512], what[512];
    gw->tls_ctx = silk__gw_tls_ctx_new(gw->opts.tls_cert, gw->opts.tls_key, why, sizeof why);
    if (gw->tls_ctx == NULL) {
        silk_log(SILK_LOG_ERROR, LOG, "TLS: %s", why);
        return -1;
    }
    describe(gw->tls_ctx, what, sizeof what);
    silk_log(SILK_LOG_INFO, LOG, "TLS certificate loaded %s", what);
    return 0;
}

/* A new context handed to a loop, for the connections it accepts from now on. */
typedef struct ctx_cmd {
    silk_loop_task task; /* first: run_take casts the task back */
    silk__gw_loop *loop;
    SSL_CTX *ctx; /* a reference, the loop's once it runs */
} ctx_cmd;
static_assert(offsetof(ctx_cmd, task) == 0, "run_take casts its task to the command");

static void run_take(silk_loop_task *task)
{
    ctx_cmd *k = (ctx_cmd *)task;
    SILK__GW_ASSERT_ON_LOOP(k->loop);
    SSL_CTX_free(k->loop->tls_ctx);
    k->loop->tls_ctx = k->ctx;
    free(k);
}

void silk__gw_tls_reload(silk__gw *gw)
{
    if (gw->tls_ctx == NULL) {
        silk_log(SILK_LOG_INFO, LOG, "SIGHUP: no TLS certificate to reload");
        return;
    }
    char why[512], what[512];
    SSL_CTX *ctx = silk__gw_tls_ctx_new(gw->opts.tls_cert, gw->opts.tls_key, why, sizeof why);
    if (ctx == NULL) {
        silk_log(SILK_LOG_ERROR, LOG, "TLS reload failed, the certificate in use stays: %s", why);
        return;
    }
    for (size_t i = 0; i < gw->opts.workers; i++) {
        ctx_cmd *k = calloc(1, sizeof *k);
        if (k == NULL) {
            silk_log(SILK_LOG_WARN, LOG,
                     "TLS reload: out of memory, loop %zu keeps the old "
                     "certificate",
                     i);
            continue;
        }
        k->task.run = run_take;
        k->loop = gw->loops[i];
        k->ctx = silk__gw_tls_ctx_hold(ctx);
        silk__gw_loop_post(k->loop, &k->task);
    }
    SSL_CTX_free(gw->tls_ctx);
    gw->tls_ctx = ctx;
    describe(ctx, what, sizeof what);
    silk_log(SILK_LOG_INFO, LOG, "TLS certificate reloaded %s", what);
}
