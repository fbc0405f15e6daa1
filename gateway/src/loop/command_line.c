/* command_line.c - silk_gateway_main: silk-gateway's command line, for a deployment's five-line
 * main(). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <silk/ctx.h>
#include <silk/gateway.h>
#include <silk/json.h>
#include <silk/log.h>

#include "auth/auth.h"
#include "auth/jwt.h"
#include "core/random.h"
#include "http/cors.h"
#include "loop/gateway.h"

static void usage(FILE *out, const char *prog)
{
    fprintf(out,
            "usage: %s [--listen HOST:PORT] [--id GATEWAY_ID] [options]\n"
            "\n"
            "The WebSocket and HTTP edge of silk: sessions on the routes of the services linked\n"
            "in, their methods as JSON web APIs, and silk.ws.SessionManager over nng so that\n"
            "services can push to sessions.\n"
            "\n"
            "options:\n"
            "  --listen HOST:PORT     HTTP and WebSocket address (default 127.0.0.1:5000)\n"
            "  --id GATEWAY_ID        this gateway's id, the prefix of its session ids: letters,\n"
            "                         digits, '-' and '_' (default gw and 8 random hex digits)\n"
            "  --rpc-listen ADDRESS   nng address of SessionManager (default $SILK_LISTEN or\n"
            "                         tcp://127.0.0.1:0); beyond loopback it needs SILK_TOKEN\n"
            "                         or mutual TLS (tls+tcp:// and SILK_TLS_*)\n"
            "  --insecure             let SessionManager listen beyond loopback with neither\n"
            "                         (anyone who reaches the port can then push and close)\n"
            "  --idle-timeout SEC     close HTTP connections idle this long (default 30)\n"
            "  --ping-interval SEC    ping sessions this often; close one silent for two\n"
            "                         intervals (default 30)\n"
            "  --max-message BYTES    largest WebSocket message from a client (default 1048576)\n"
            "  --max-queued BYTES     bytes queued for a session before it is closed as too slow\n"
            "                         (default 8388608)\n"
            "  --max-connections N    connections served at once; more get 503 (default 10000)\n"
            "  --max-connections-per-ip N\n"
            "                         connections one client address (IPv6: its /64) may have\n"
            "                         open; more get 503 (default: no cap)\n"
            "  --header-timeout SEC   close a connection whose request head has not arrived\n"
            "                         this long after it began, with 408 (default 10)\n"
            "  --rate-limit N         new connections and requests a client address may make a\n"
            "                         second; more get 429 with Retry-After (default: no limit)\n"
            "  --rate-burst N         requests over the rate a client may make at once\n"
            "                         (default: the rate)\n"
            "  --session-rate N       messages a second a session's client may send; past it\n"
            "                         the gateway stops reading from it for a while (default:\n"
            "                         no limit)\n"
            "  --trust-proxy CIDR     a proxy's range: a request from it counts for the client\n"
            "                         its X-Forwarded-For names (repeatable, up to 16)\n"
            "  --workers N            event loops, each on its own thread, sharing the port\n"
            "                         (SO_REUSEPORT; default: the cores online, at most 16)\n"
            "  --allow-origin ORIGIN  accept browsers' WebSocket handshakes only from this\n"
            "                         Origin, '*' for any (repeatable, up to 16; 403 for\n"
            "                         others; default: the gateway's own origin only)\n"
            "  --wrap-response        answer calls Silky's way: {\"result\":..,\"status\":..,\n"
            "                         \"code\":..,\"errorMessage\":..,\"validErrors\":..}\n"
            "  --openapi              serve the services' OpenAPI 3.1 document at\n"
            "                         GET /openapi.json, to anyone (default: off)\n"
            "  --console              serve the console page at /_silk/: the methods, calls,\n"
            "                         sessions, instances and metrics; its data need the\n"
            "                         token with --jwt-key (default: off)\n"
            "  --forward-header NAME  send this request header as call metadata under its\n"
            "                         lower-cased name (repeatable, up to 16; the business id\n"
            "                         always travels; auth-subject and auth-claims may not)\n"
            "  --jwt-key FILE         require a bearer JWT on every route but /healthz and\n"
            "                         public methods: FILE is a PEM public key (RSA: RS*, PS*;\n"
            "                         EC: ES*) or an HMAC secret (HS*)\n"
            "  --jwt-issuer ISS       the issuer (iss) tokens must have\n"
            "  --jwt-audience AUD     the audience (aud) tokens must be for\n"
            "  --jwt-leeway SEC       clock skew allowed for exp and nbf (default 0)\n"
            "  --jwt-business-claim NAME\n"
            "                         the claim listing the business ids a token may use\n"
            "  --tls-cert FILE        serve https and wss only, with this PEM certificate (its\n"
            "                         chain may follow it in the file); with --tls-key\n"
            "  --tls-key FILE         the PEM private key of --tls-cert (not encrypted);\n"
            "                         SIGHUP loads both again, for new connections\n"
            "  --cors-origin ORIGIN   answer CORS preflights to the web API for pages of this\n"
            "                         Origin (\"https://app.example\"), and let them read its\n"
            "                         answers; '*' for any, never with credentials\n"
            "                         (repeatable, up to 16; default: no CORS)\n"
            "  --help                 show this and exit\n"
            "  --version              show the version and exit\n"
            "\n"
            "environment:\n"
            "  SILK_REGISTRY  registry URL: file:DIR or redis://[USER:PASSWORD@]HOST:PORT[/DB]\n"
            "                 (default file:$XDG_RUNTIME_DIR/silk or file:/tmp/silk-$UID)\n"
            "  SILK_LOG       debug, info, warn or error (default info)\n"
            "  SILK_TOKEN     the cluster token every SessionManager call must carry\n"
            "  SILK_TLS_CERT, SILK_TLS_KEY, SILK_TLS_CA  TLS of tls+tcp:// (docs/security.md)\n",
            prog);
}

/* parse_listen splits HOST:PORT ("[::1]:5000" for IPv6) into o->host and o->port. */
static int parse_listen(const char *arg, silk__gw_opts *o)
{
    const char *colon = strrchr(arg, ':');
    if (colon == NULL || colon[1] == '\0' || strlen(colon + 1) >= sizeof o->port)
        return -1;
    const char *host = arg;
    size_t host_len = (size_t)(colon - arg);
    if (host_len >= 2 && host[0] == '[' && host[host_len - 1] == ']') {
        host++;
        host_len -= 2;
    }
    if (host_len >= sizeof o->host)
        return -1;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port < 0 || port > 65535)
        return -1;
    memcpy(o->host, host, host_len);
    o->host[host_len] = '\0';
    snprintf(o->port, sizeof o->port, "%ld", port);
    return 0;
}

static int valid_id(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > SILK__GW_ID_MAX)
        return 0;
    for (const char *p = id; *p != '\0'; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_'))
            return 0;
    return 1;
}

/* valid_header_name tells whether name can be a header name and a metadata key: letters,
 * digits, '-', '_' and '.', at most SILK_MD_MAX_KEY bytes. */
static int valid_header_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > SILK_MD_MAX_KEY)
        return 0;
    for (const char *p = name; *p != '\0'; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.'))
            return 0;
    return 1;
}

/* random_id writes "gw" and 8 hex digits from the kernel's generator: a default gateway id. */
static void random_id(char out[SILK__GW_ID_MAX + 1])
{
    memcpy(out, "gw", 2);
    silk__random_hex(out + 2, 4);
}

static int parse_seconds(const char *arg, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(arg, &end);
    if (*end != '\0' || errno != 0 || !(v > 0) || v > 86400 * 365)
        return -1;
    *out = v;
    return 0;
}

/* parse_rate reads a rate a second: a positive number, at most a million. */
static int parse_rate(const char *arg, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(arg, &end);
    if (arg[0] == '\0' || *end != '\0' || errno != 0 || !(v > 0) || v > 1e6)
        return -1;
    *out = v;
    return 0;
}

/* parse_leeway reads --jwt-leeway: whole seconds, 0 to a day. */
static int parse_leeway(const char *arg, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (arg[0] == '\0' || *end != '\0' || errno != 0 || v < 0 || v > 86400)
        return -1;
    *out = v;
    return 0;
}

static int parse_size(const char *arg, unsigned long long *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(arg, &end, 10);
    if (*end != '\0' || errno != 0 || v == 0 || arg[0] == '-')
        return -1;
    *out = v;
    return 0;
}

/* load_jwt loads --jwt-key once, before any loop runs. It returns 0 (*out NULL without the
 * flag), or 2 after saying why: a bad key file, or --jwt-* flags without a key. */
static int load_jwt(const char *prog, const char *key_file, const silk__gw_jwt_opts *opts,
                    silk__gw_jwt **out)
{
    char err[256];
    *out = NULL;
    if (key_file == NULL) {
        if (opts->issuer == NULL && opts->audience == NULL && opts->leeway == 0 &&
            opts->business_claim == NULL)
            return 0;
        fprintf(stderr,
                "%s: --jwt-issuer, --jwt-audience, --jwt-leeway and "
                "--jwt-business-claim need --jwt-key\n",
                prog);
        return 2;
    }
    if (silk__gw_jwt_load(key_file, opts, out, err, sizeof err) != 0) {
        fprintf(stderr, "%s: --jwt-key: %s\n", prog, err);
        return 2;
    }
    silk_log(SILK_LOG_INFO, "gateway", "tokens verified with %s from %s",
             silk__gw_jwt_describe(*out), key_file);
    return 0;
}

enum {
    OPT_LISTEN = 256,
    OPT_ID,
    OPT_RPC_LISTEN,
    OPT_IDLE_TIMEOUT,
    OPT_PING_INTERVAL,
    OPT_MAX_MESSAGE,
    OPT_MAX_QUEUED,
    OPT_MAX_CONNECTIONS,
    OPT_WRAP_RESPONSE,
    OPT_FORWARD_HEADER,
    OPT_HELP,
    OPT_VERSION,
    OPT_WORKERS,
    OPT_ALLOW_ORIGIN,
    OPT_INSECURE,
    OPT_JWT_KEY,
    OPT_JWT_ISSUER,
    OPT_JWT_AUDIENCE,
    OPT_JWT_LEEWAY,
    OPT_JWT_BUSINESS_CLAIM,
    OPT_TLS_CERT,
    OPT_TLS_KEY,
    OPT_MAX_CONNECTIONS_PER_IP,
    OPT_HEADER_TIMEOUT,
    OPT_RATE_LIMIT,
    OPT_RATE_BURST,
    OPT_SESSION_RATE,
    OPT_TRUST_PROXY,
    OPT_CORS_ORIGIN,
    OPT_OPENAPI,
    OPT_CONSOLE,
};

static const struct option long_options[] = {
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"id", required_argument, NULL, OPT_ID},
    {"rpc-listen", required_argument, NULL, OPT_RPC_LISTEN},
    {"idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT},
    {"ping-interval", required_argument, NULL, OPT_PING_INTERVAL},
    {"max-message", required_argument, NULL, OPT_MAX_MESSAGE},
    {"max-queued", required_argument, NULL, OPT_MAX_QUEUED},
    {"max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS},
    {"wrap-response", no_argument, NULL, OPT_WRAP_RESPONSE},
    {"forward-header", required_argument, NULL, OPT_FORWARD_HEADER},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {"workers", required_argument, NULL, OPT_WORKERS},
    {"allow-origin", required_argument, NULL, OPT_ALLOW_ORIGIN},
    {"insecure", no_argument, NULL, OPT_INSECURE},
    {"jwt-key", required_argument, NULL, OPT_JWT_KEY},
    {"jwt-issuer", required_argument, NULL, OPT_JWT_ISSUER},
    {"jwt-audience", required_argument, NULL, OPT_JWT_AUDIENCE},
    {"jwt-leeway", required_argument, NULL, OPT_JWT_LEEWAY},
    {"jwt-business-claim", required_argument, NULL, OPT_JWT_BUSINESS_CLAIM},
    {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
    {"tls-key", required_argument, NULL, OPT_TLS_KEY},
    {"max-connections-per-ip", required_argument, NULL, OPT_MAX_CONNECTIONS_PER_IP},
    {"header-timeout", required_argument, NULL, OPT_HEADER_TIMEOUT},
    {"rate-limit", required_argument, NULL, OPT_RATE_LIMIT},
    {"rate-burst", required_argument, NULL, OPT_RATE_BURST},
    {"session-rate", required_argument, NULL, OPT_SESSION_RATE},
    {"trust-proxy", required_argument, NULL, OPT_TRUST_PROXY},
    {"cors-origin", required_argument, NULL, OPT_CORS_ORIGIN},
    {"openapi", no_argument, NULL, OPT_OPENAPI},
    {"console", no_argument, NULL, OPT_CONSOLE},
    {NULL, 0, NULL, 0},
};

/* DEFAULT_WORKERS_MAX bounds --workers' default: past it, more loops rarely write faster. */
#define DEFAULT_WORKERS_MAX 16

/* default_workers is --workers' default: one loop per core online. */
static size_t default_workers(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > DEFAULT_WORKERS_MAX ? DEFAULT_WORKERS_MAX : (size_t)n;
}

/* gateway_main is silk_gateway_main, with local answering what it hosts inline. */
static int gateway_main(int argc, char **argv, const silk_service_desc *const *services,
                        size_t n_services, silk_server *local)
{
    const char *prog = argc > 0 && argv[0] ? argv[0] : "silk-gateway";
    silk__gw_opts o = {
        .host = "127.0.0.1",
        .port = "5000",
        .idle_timeout = 30,
        .ping_interval = 30,
        .max_message = 1024 * 1024,
        .max_queued = 8 * 1024 * 1024,
        .max_connections = 10000,
        .workers = default_workers(),
        .header_timeout = 10,
        .local = local,
    };
    unsigned long long size = 0;
    silk__gw_jwt_opts jwt_opts = {0};
    const char *key_file = NULL;
    int opt;

    if (silk_json_add_names(services, n_services) != SILK_OK) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return 1;
    }
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
        int ok = 1;
        switch (opt) {
        case OPT_LISTEN:
            ok = parse_listen(optarg, &o) == 0;
            break;
        case OPT_ID:
            ok = valid_id(optarg);
            if (ok)
                snprintf(o.id, sizeof o.id, "%s", optarg);
            break;
        case OPT_RPC_LISTEN:
            o.rpc_listen = optarg;
            break;
        case OPT_IDLE_TIMEOUT:
            ok = parse_seconds(optarg, &o.idle_timeout) == 0;
            break;
        case OPT_PING_INTERVAL:
            ok = parse_seconds(optarg, &o.ping_interval) == 0;
            break;
        case OPT_MAX_MESSAGE:
            ok = parse_size(optarg, &size) == 0;
            o.max_message = size;
            break;
        case OPT_MAX_QUEUED:
            ok = parse_size(optarg, &size) == 0;
            o.max_queued = (size_t)size;
            break;
        case OPT_MAX_CONNECTIONS:
            ok = parse_size(optarg, &size) == 0;
            o.max_connections = (size_t)size;
            break;
        case OPT_WRAP_RESPONSE:
            o.wrap_response = true;
            break;
        case OPT_OPENAPI:
            o.openapi = true;
            break;
        case OPT_CONSOLE:
            o.console = true;
            break;
        case OPT_FORWARD_HEADER:
            ok = o.n_forward_headers < SILK__GW_MAX_FORWARD_HEADERS && valid_header_name(optarg) &&
                 !silk__gw_auth_reserved_key(optarg);
            if (ok)
                o.forward_headers[o.n_forward_headers++] = optarg;
            break;
        case OPT_WORKERS:
            ok = parse_size(optarg, &size) == 0 && size <= SILK__GW_MAX_WORKERS;
            o.workers = (size_t)size;
            break;
        case OPT_ALLOW_ORIGIN:
            ok = o.n_origins < SILK__GW_MAX_ORIGINS && optarg[0] != '\0';
            if (ok)
                o.origins[o.n_origins++] = optarg;
            break;
        case OPT_INSECURE:
            o.insecure = true;
            break;
        case OPT_JWT_KEY:
            key_file = optarg;
            break;
        case OPT_JWT_ISSUER:
            jwt_opts.issuer = optarg;
            break;
        case OPT_JWT_AUDIENCE:
            jwt_opts.audience = optarg;
            break;
        case OPT_JWT_LEEWAY:
            ok = parse_leeway(optarg, &jwt_opts.leeway) == 0;
            break;
        case OPT_JWT_BUSINESS_CLAIM:
            ok = optarg[0] != '\0';
            jwt_opts.business_claim = optarg;
            break;
        case OPT_TLS_CERT:
            ok = optarg[0] != '\0';
            o.tls_cert = optarg;
            break;
        case OPT_TLS_KEY:
            ok = optarg[0] != '\0';
            o.tls_key = optarg;
            break;
        case OPT_MAX_CONNECTIONS_PER_IP:
            ok = parse_size(optarg, &size) == 0;
            o.max_connections_per_ip = (size_t)size;
            break;
        case OPT_HEADER_TIMEOUT:
            ok = parse_seconds(optarg, &o.header_timeout) == 0;
            break;
        case OPT_RATE_LIMIT:
            ok = parse_rate(optarg, &o.rate_limit) == 0;
            break;
        case OPT_RATE_BURST:
            ok = parse_rate(optarg, &o.rate_burst) == 0 && o.rate_burst >= 1;
            break;
        case OPT_SESSION_RATE:
            ok = parse_rate(optarg, &o.session_rate) == 0;
            break;
        case OPT_TRUST_PROXY:
            ok = o.n_trusted < SILK__GW_MAX_TRUSTED &&
                 silk__gw_cidr_parse(optarg, &o.trusted[o.n_trusted]);
            if (ok)
                o.n_trusted++;
            break;
        case OPT_CORS_ORIGIN:
            ok = o.n_cors_origins < SILK__GW_MAX_ORIGINS && silk__gw_cors_origin_valid(optarg);
            if (ok)
                o.cors_origins[o.n_cors_origins++] = optarg;
            break;
        case OPT_HELP:
            usage(stdout, prog);
            return 0;
        case OPT_VERSION:
            printf("silk-gateway %s\n", SILK_VERSION_STRING);
            return 0;
        default:
            usage(stderr, prog);
            return 2;
        }
        if (!ok) {
            fprintf(stderr, "%s: invalid value for --%s: %s\n", prog,
                    long_options[opt - OPT_LISTEN].name, optarg);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument: %s\n", prog, argv[optind]);
        usage(stderr, prog);
        return 2;
    }
    if (o.rate_burst > 0 && o.rate_limit == 0) {
        fprintf(stderr, "%s: --rate-burst needs --rate-limit\n", prog);
        return 2;
    }
    if ((o.tls_cert == NULL) != (o.tls_key == NULL)) {
        fprintf(stderr, "%s: --tls-cert and --tls-key go together: give both or neither\n", prog);
        return 2;
    }
    for (size_t i = 0; i < n_services; i++) {
        if (services[i] == NULL || services[i]->name == NULL || services[i]->route == NULL) {
            fprintf(stderr, "%s: service %zu has no name or route\n", prog, i);
            return 2;
        }
    }
    if (o.id[0] == '\0')
        random_id(o.id);
    silk__gw_jwt *jwt = NULL;
    int code = load_jwt(prog, key_file, &jwt_opts, &jwt);
    if (code != 0)
        return code;
    o.jwt = jwt;
    if (local != NULL && silk_server_start(local) != SILK_OK) {
        fprintf(stderr, "%s: cannot start the services it hosts (the log says why)\n", prog);
        silk__gw_jwt_free(jwt);
        return 1;
    }
    /* Sockets are written with MSG_NOSIGNAL; this guards against any other write. */
    signal(SIGPIPE, SIG_IGN);
    code = silk__gw_run(&o, services, n_services);
    silk__gw_jwt_free(jwt);
    return code;
}

int silk_gateway_main(int argc, char **argv, const silk_service_desc *const *services,
                      size_t n_services)
{
    return gateway_main(argc, argv, services, n_services, NULL);
}

int silk_gateway_main_hosting(int argc, char **argv, const silk_service_desc *const *services,
                              size_t n_services, silk_server *srv)
{
    if (srv == NULL) {
        fprintf(stderr, "%s: no server to host\n", argc > 0 && argv[0] ? argv[0] : "silk-gateway");
        return 1;
    }
    int code = gateway_main(argc, argv, services, n_services, srv);
    silk_server_free(srv); /* after the loops, which called it, are gone */
    return code;
}
