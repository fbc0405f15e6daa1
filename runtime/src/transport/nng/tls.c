/* tls.c - the process's TLS configurations for nng's tls+tcp:// transport, made from the
 * environment once per role and shared by every listener and dialer (tls.h). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <silk/log.h>

#include "core/env.h"
#include "transport/nng/tls.h"

/* A certificate, key or CA file larger than this is refused. */
#define PEM_MAX (1u << 20)

/* One configuration per role, under mu: made by the first hold, freed by the last release. */
typedef struct slot {
    nng_tls_config *cfg;
    unsigned users;
} slot;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static slot slots[2];

bool silk__tls_address(const char *address)
{
    return address != NULL &&
           (strncmp(address, "tls+tcp://", 10) == 0 || strncmp(address, "tls+tcp4://", 11) == 0 ||
            strncmp(address, "tls+tcp6://", 11) == 0);
}

bool silk__tls_mutual(void)
{
    return silk__env_str("SILK_TLS_CERT") != NULL && silk__env_str("SILK_TLS_KEY") != NULL &&
           silk__env_str("SILK_TLS_CA") != NULL;
}

bool silk__tls_required(void)
{
    return silk__env_str("SILK_TLS_CA") != NULL;
}

/* ============================== making a configuration ============================== */

/* read_pem reads the file $var names into a NUL-terminated buffer of the caller's (*lenp
 * bytes with the NUL); NULL, with why filled, when it cannot. */
static char *read_pem(const char *var, size_t *lenp, char *why, size_t cap)
{
    const char *path = silk__env_str(var);
    FILE *f = path != NULL ? fopen(path, "re") : NULL;
    if (f == NULL) {
        snprintf(why, cap, "cannot read %s file=%s: %s", var, path != NULL ? path : "(unset)",
                 strerror(errno));
        return NULL;
    }
    char *buf = malloc(PEM_MAX + 1);
    size_t n = buf != NULL ? fread(buf, 1, PEM_MAX + 1, f) : 0;
    bool bad = buf == NULL || ferror(f) || n > PEM_MAX;
    fclose(f);
    if (bad) {
        snprintf(why, cap, "cannot read %s file=%s: %s", var, path,
                 buf == NULL   ? "out of memory"
                 : n > PEM_MAX ? "too large"
                               : "read error");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *lenp = n + 1;
    return buf;
}

/* warn_if_shared warns when the key file of $var may be read by others than its owner. */
static void warn_if_shared(const char *var)
{
    const char *path = silk__env_str(var);
    struct stat st;
    if (path != NULL && stat(path, &st) == 0 && (st.st_mode & 077) != 0)
        silk_log(SILK_LOG_WARN, "tls", "%s file=%s may be read by others (mode %03o): chmod 600",
                 var, path, (unsigned)(st.st_mode & 0777));
}

/* forget frees a buffer that may hold a private key, wiping it first. */
static void forget(char *buf, size_t len)
{
    if (buf == NULL)
        return;
    explicit_bzero(buf, len);
    free(buf);
}

/* own_cert gives cfg the certificate and key the environment names. */
static bool own_cert(nng_tls_config *cfg, char *why, size_t cap)
{
    size_t clen = 0, klen = 0;
    char *cert = read_pem("SILK_TLS_CERT", &clen, why, cap);
    char *key = cert != NULL ? read_pem("SILK_TLS_KEY", &klen, why, cap) : NULL;
    if (key != NULL)
        warn_if_shared("SILK_TLS_KEY");
    int rv = cert != NULL && key != NULL ? nng_tls_config_own_cert(cfg, cert, key, NULL) : 0;
    if (rv != 0)
        snprintf(why, cap, "cannot use SILK_TLS_CERT file=%s with SILK_TLS_KEY file=%s: %s",
                 silk__env_str("SILK_TLS_CERT"), silk__env_str("SILK_TLS_KEY"), nng_strerror(rv));
    bool ok = cert != NULL && key != NULL && rv == 0;
    forget(cert, clen);
    forget(key, klen);
    return ok;
}

/* verify_with_ca makes cfg verify its peers against SILK_TLS_CA, and refuse those without
 * a certificate it signed. */
static bool verify_with_ca(nng_tls_config *cfg, char *why, size_t cap)
{
    const char *ca = silk__env_str("SILK_TLS_CA");
    int rv = nng_tls_config_ca_file(cfg, ca);
    if (rv == 0)
        rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED);
    if (rv != 0)
        snprintf(why, cap, "cannot use SILK_TLS_CA file=%s: %s", ca, nng_strerror(rv));
    return rv == 0;
}

/* settings_missing tells what role lacks in the environment, in why; false when nothing. */
static bool settings_missing(silk__tls_role role, char *why, size_t cap)
{
    bool cert = silk__env_str("SILK_TLS_CERT") != NULL, key = silk__env_str("SILK_TLS_KEY") != NULL;
    if (role == SILK__TLS_SERVER && (!cert || !key)) {
        snprintf(why, cap, "a tls+tcp:// listener needs SILK_TLS_CERT and SILK_TLS_KEY");
        return true;
    }
    if (role == SILK__TLS_CLIENT && silk__env_str("SILK_TLS_CA") == NULL) {
        snprintf(why, cap,
                 "dialling tls+tcp:// needs SILK_TLS_CA, the CA of the servers' "
                 "certificates");
        return true;
    }
    if (cert != key) {
        snprintf(why, cap, "SILK_TLS_CERT and SILK_TLS_KEY are set together or not at all");
        return true;
    }
    return false;
}

/* make builds role's configuration from the environment; NULL, with why filled, on failure. */
static nng_tls_config *make(silk__tls_role role, char *why, size_t cap)
{
    if (settings_missing(role, why, cap))
        return NULL;
    nng_tls_config *cfg = NULL;
    int rv = nng_tls_config_alloc(&cfg, role == SILK__TLS_SERVER ? NNG_TLS_MODE_SERVER
                                                                 : NNG_TLS_MODE_CLIENT);
    if (rv != 0) {
        snprintf(why, cap, "cannot make a TLS configuration (engine %s): %s", nng_tls_engine_name(),
                 nng_strerror(rv));
        return NULL;
    }
    bool ok = true;
    if (silk__env_str("SILK_TLS_CERT") != NULL)
        ok = own_cert(cfg, why, cap);
    if (ok && silk__env_str("SILK_TLS_CA") != NULL)
        ok = verify_with_ca(cfg, why, cap);
    if (!ok) {
        nng_tls_config_free(cfg);
        return NULL;
    }
    return cfg;
}

/* ============================== sharing it ============================== */

nng_tls_config *silk__tls_hold(silk__tls_role role, char *why, size_t cap)
{
    pthread_mutex_lock(&mu);
    slot *s = &slots[role];
    if (s->cfg == NULL)
        s->cfg = make(role, why, cap);
    if (s->cfg != NULL)
        s->users++;
    nng_tls_config *cfg = s->cfg;
    pthread_mutex_unlock(&mu);
    return cfg;
}

void silk__tls_rele(nng_tls_config *cfg)
{
    if (cfg == NULL)
        return;
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < sizeof slots / sizeof slots[0]; i++) {
        slot *s = &slots[i];
        if (s->cfg == cfg && --s->users == 0) {
            nng_tls_config_free(cfg);
            s->cfg = NULL;
        }
    }
    pthread_mutex_unlock(&mu);
}
