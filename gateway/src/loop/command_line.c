/* command_line.c - silk_gateway_main: silk-gateway's command line, for a deployment's five-line
 * main(). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <silk/ctx.h>
#include <silk/gateway.h>
#include <silk/json.h>
#include <silk/log.h>

#include "core/random.h"
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
            "                         tcp://127.0.0.1:0)\n"
            "  --idle-timeout SEC     close HTTP connections idle this long (default 30)\n"
            "  --ping-interval SEC    ping sessions this often; close one silent for two\n"
            "                         intervals (default 30)\n"
            "  --max-message BYTES    largest WebSocket message from a client (default 1048576)\n"
            "  --max-queued BYTES     bytes queued for a session before it is closed as too slow\n"
            "                         (default 8388608)\n"
            "  --max-connections N    connections served at once; more get 503 (default 10000)\n"
            "  --workers N            event loops, each on its own thread, sharing the port\n"
            "                         (SO_REUSEPORT; default 1)\n"
            "  --allow-origin ORIGIN  accept WebSocket handshakes only from this Origin, or\n"
            "                         none (repeatable, up to 16; 403 for others)\n"
            "  --wrap-response        answer calls Silky's way: {\"result\":..,\"status\":..,\n"
            "                         \"code\":..,\"errorMessage\":..,\"validErrors\":..}\n"
            "  --forward-header NAME  send this request header as call metadata under its\n"
            "                         lower-cased name (repeatable, up to 16; the business id\n"
            "                         always travels)\n"
            "  --tls-cert FILE        serve https and wss only, with this PEM certificate (its\n"
            "                         chain may follow it in the file); with --tls-key\n"
            "  --tls-key FILE         the PEM private key of --tls-cert (not encrypted);\n"
            "                         SIGHUP loads both again, for new connections\n"
            "  --help                 show this and exit\n"
            "  --version              show the version and exit\n"
            "\n"
            "environment:\n"
            "  SILK_REGISTRY  registry URL: file:DIR or redis://HOST:PORT[/DB] (default\n"
            "                 file:$XDG_RUNTIME_DIR/silk or file:/tmp/silk-$UID)\n"
            "  SILK_LOG       debug, info, warn or error (default info)\n",
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
    OPT_TLS_CERT,
    OPT_TLS_KEY,
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
    {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
    {"tls-key", required_argument, NULL, OPT_TLS_KEY},
    {NULL, 0, NULL, 0},
};

int silk_gateway_main(int argc, char **argv, const silk_service_desc *const *services,
                      size_t n_services)
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
        .workers = 1,
    };
    unsigned long long size = 0;
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
        case OPT_FORWARD_HEADER:
            ok = o.n_forward_headers < SILK__GW_MAX_FORWARD_HEADERS && valid_header_name(optarg);
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
        case OPT_TLS_CERT:
            ok = optarg[0] != '\0';
            o.tls_cert = optarg;
            break;
        case OPT_TLS_KEY:
            ok = optarg[0] != '\0';
            o.tls_key = optarg;
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
    /* Sockets are written with MSG_NOSIGNAL; this guards against any other write. */
    signal(SIGPIPE, SIG_IGN);
    return silk__gw_run(&o, services, n_services);
}
