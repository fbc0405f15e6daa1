/* ctl.c - silk_ctl_main: silk-ctl's command line: calling linked services with JSON, listing
 * the registry's instances, checking their health. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <silk/channel.h>
#include <silk/ctl.h>
#include <silk/ctx.h>
#include <silk/json.h>
#include <silk/registry.h>
#include <silk/ws.h>

#include "silk/health.silk.h"

static void usage(FILE *out, const char *prog)
{
    fprintf(
        out,
        "usage: %s call SERVICE/METHOD ['{json}' | -d '{json}' | -d @FILE | -d @-] [options]\n"
        "       %s list [--registry URL]\n"
        "       %s health SERVICE [--registry URL] [--timeout MS]\n"
        "       %s methods\n"
        "       %s sessions BUSINESS_ID [--registry URL]\n"
        "       %s close-business BUSINESS_ID [CODE [REASON]] [--registry URL]\n"
        "\n"
        "call     calls a method of a service linked into this silk-ctl, through the registry,\n"
        "         with the request given as proto3 JSON (default {}), and prints the reply as\n"
        "         JSON. SERVICE is the full name (wstest.WsTest), METHOD the method's (Echo).\n"
        "list     prints the services in the registry and their live instances: service, id,\n"
        "         address, weight, version, age (since the instance started), gateway id.\n"
        "health   calls silk.health.Health/Check for SERVICE on each of its instances, by\n"
        "         address, and prints one line per instance: SERVING or why not.\n"
        "methods  prints every method linked into this silk-ctl, with its web route.\n"
        "sessions prints who is online for a business: each session on every gateway, with\n"
        "         its gateway id, route, age and verified subject (silk_ws_presence).\n"
        "close-business\n"
        "         closes every session of a business on every gateway with CODE (default\n"
        "         1000) and REASON: a revoked user or token (silk_ws_close_business).\n"
        "\n"
        "options:\n"
        "  -d, --data JSON|@FILE  the request; @- reads standard input\n"
        "  --target ADDRESS       call this nng address instead of resolving the service\n"
        "  --metadata KEY=VALUE   call metadata (repeatable): business-id=100\n"
        "  --timeout MS           a call's deadline (default: the method's, or 5000;\n"
        "                         health: 2000 per instance)\n"
        "  --registry URL         the registry to use instead of $SILK_REGISTRY:\n"
        "                         file:DIR or redis://[USER:PASSWORD@]HOST:PORT[/DB] (a\n"
        "                         password here shows in ps: put it in SILK_REGISTRY)\n"
        "  --help                 show this and exit\n"
        "\n"
        "exit status: 0 on success; 1 when the call fails (the status and message are\n"
        "printed on standard error), the registry cannot be read, or an instance is not\n"
        "serving (or none is registered); 2 for a bad command line.\n"
        "environment: SILK_REGISTRY (default file:$XDG_RUNTIME_DIR/silk, else\n"
        "file:/tmp/silk-$UID), SILK_LOG\n",
        prog, prog, prog, prog, prog, prog);
}

/* read_all reads a file ("-": standard input) into a new NUL-terminated buffer. */
static char *read_all(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
        if (n + 1 == cap) {
            char *p = realloc(buf, cap * 2);
            if (p == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = p;
            cap *= 2;
        }
    }
    if (f != stdin)
        fclose(f);
    if (buf != NULL) {
        buf[n] = '\0';
        *len = n;
    }
    return buf;
}

/* find_method resolves "pkg.Service/Method" (or "/pkg.Service/Method", or
 * "pkg.Service.Method") among the services. */
static const silk_method_desc *find_method(const silk_service_desc *const *services, size_t n,
                                           const char *spec, size_t *service_index)
{
    while (*spec == '/')
        spec++;
    const char *sep = strrchr(spec, '/');
    if (sep == NULL)
        sep = strrchr(spec, '.');
    if (sep == NULL)
        return NULL;
    size_t svc_len = (size_t)(sep - spec);
    for (size_t i = 0; i < n; i++) {
        if (strlen(services[i]->name) != svc_len || strncmp(services[i]->name, spec, svc_len) != 0)
            continue;
        *service_index = i;
        return silk_service_find_method(services[i], sep + 1);
    }
    return NULL;
}

static const char *verb_name(silk_http_verb v)
{
    static const char *const names[] = {"POST", "GET", "PUT", "DELETE", "PATCH"};
    return (unsigned)v < sizeof names / sizeof names[0] ? names[v] : "POST";
}

static int list_methods(const silk_service_desc *const *services, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < services[i]->n_methods; j++) {
            const silk_method_desc *m = &services[i]->methods[j];
            printf("%s/%s\t%s /%s\t%s -> %s\n", services[i]->name, m->name, verb_name(m->http_verb),
                   m->http_path ? m->http_path : services[i]->route, m->input->name,
                   m->output->name);
        }
    return 0;
}

/* ============================== the registry ============================== */

/* open_registry opens the registry silk-ctl's calls use, saying why it cannot; a file
 * registry whose directory does not exist is not made: it is reported. */
static silk_registry *open_registry(const char *prog)
{
    char url[4096];
    silk_registry_default_url(url, sizeof url);
    if (strncmp(url, "file:", 5) == 0) {
        const char *dir = strncmp(url + 5, "//", 2) == 0 ? url + 7 : url + 5;
        struct stat st;
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            fprintf(stderr,
                    "%s: no registry at %s: the directory %s does not exist (no service has "
                    "registered there); set SILK_REGISTRY or --registry to the services' "
                    "registry\n",
                    prog, url, dir);
            return NULL;
        }
    }
    silk_registry *reg = NULL;
    silk_status st = silk_registry_open(&reg, url);
    if (st != SILK_OK) {
        char masked[sizeof url];
        silk_registry_mask_url(url, masked, sizeof masked);
        fprintf(stderr, "%s: cannot open the registry %s: %s\n", prog, masked, silk_status_str(st));
        return NULL;
    }
    return reg;
}

/* format_age writes how long ago started_ms was: 42s, 5m03s, 2h07m, 3d04h. */
static void format_age(char *buf, size_t cap, int64_t started_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t s = ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - started_ms) / 1000;
    if (started_ms <= 0 || s < 0)
        snprintf(buf, cap, "-");
    else if (s < 60)
        snprintf(buf, cap, "%" PRId64 "s", s);
    else if (s < 3600)
        snprintf(buf, cap, "%" PRId64 "m%02" PRId64 "s", s / 60, s % 60);
    else if (s < 86400)
        snprintf(buf, cap, "%" PRId64 "h%02" PRId64 "m", s / 3600, s % 3600 / 60);
    else
        snprintf(buf, cap, "%" PRId64 "d%02" PRId64 "h", s / 86400, s % 86400 / 3600);
}

/* column_width is the widest value of the string field at field_offset in a silk_instance
 * (offsetof(silk_instance, address)) over the list, at least `least`. */
static int column_width(const silk_instance_list *l, size_t field_offset, int least)
{
    int w = least;
    for (size_t i = 0; i < l->count; i++) {
        const char *v = *(char *const *)((const char *)&l->items[i] + field_offset);
        int n = (int)strlen(v);
        w = n > w ? n : w;
    }
    return w;
}

static const char *or_dash(const char *s)
{
    return s != NULL && s[0] != '\0' ? s : "-";
}

static int list_instances(const char *prog)
{
    silk_registry *reg = open_registry(prog);
    if (reg == NULL)
        return 1;
    silk_instance_list l;
    silk_status st = silk_registry_list(reg, &l);
    if (st != SILK_OK) {
        fprintf(stderr, "%s: cannot read the registry %s: %s\n", prog, silk_registry_url(reg),
                silk_status_str(st));
        silk_registry_close(reg);
        return 1;
    }
    printf("registry %s: %zu instance%s\n", silk_registry_url(reg), l.count,
           l.count == 1 ? "" : "s");
    int ws = column_width(&l, offsetof(silk_instance, service), 7);
    int wi = column_width(&l, offsetof(silk_instance, id), 2);
    int wa = column_width(&l, offsetof(silk_instance, address), 7);
    int wv = column_width(&l, offsetof(silk_instance, version), 7);
    if (l.count > 0)
        printf("%-*s  %-*s  %-*s  %6s  %-*s  %7s  %s\n", ws, "SERVICE", wi, "ID", wa, "ADDRESS",
               "WEIGHT", wv, "VERSION", "AGE", "GATEWAY");
    for (size_t i = 0; i < l.count; i++) {
        const silk_instance *in = &l.items[i];
        char age[32];
        format_age(age, sizeof age, in->started_ms);
        printf("%-*s  %-*s  %-*s  %6" PRIu32 "  %-*s  %7s  %s\n", ws, in->service, wi, in->id, wa,
               in->address, in->weight, wv, or_dash(in->version), age, or_dash(in->gateway_id));
    }
    silk_instance_list_fini(&l);
    silk_registry_close(reg);
    return 0;
}

/* check_one calls Health/Check for service on one instance; true when it is SERVING. */
static bool check_one(const silk_instance *in, uint32_t timeout_ms)
{
    silk_channel *ch = NULL;
    silk_ctx *ctx = silk_ctx_new();
    Silk__Health__HealthCheckRequest req = SILK__HEALTH__HEALTH_CHECK_REQUEST__INIT;
    Silk__Health__HealthCheckResponse *resp = NULL;
    req.service = in->service;
    silk_status st = ctx != NULL ? silk_channel_open(&ch, in->address) : SILK_RESOURCE_EXHAUSTED;
    if (st == SILK_OK) {
        silk_ctx_set_timeout(ctx, timeout_ms);
        st = silk__health__health__call_check(ch, ctx, &req, &resp);
    }
    bool serving = false;
    if (st == SILK_OK) {
        const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
            &silk__health__health_check_response__serving_status__descriptor, (int)resp->status);
        serving = resp->status == SILK__HEALTH__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
        printf("%s  %s  %s  %s\n", in->service, in->id, in->address, v != NULL ? v->name : "?");
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    } else {
        const char *why = ctx != NULL ? silk_ctx_message(ctx) : "";
        printf("%s  %s  %s  NOT_SERVING (%s%s%s)\n", in->service, in->id, in->address,
               silk_status_str(st), why[0] != '\0' ? ": " : "", why);
    }
    silk_channel_close(ch);
    silk_ctx_free(ctx);
    return serving;
}

static int health(const char *prog, const char *service, uint32_t timeout_ms)
{
    silk_registry *reg = open_registry(prog);
    if (reg == NULL)
        return 1;
    silk_instance_list l;
    silk_status st = silk_registry_resolve(reg, service, &l);
    if (st != SILK_OK) {
        fprintf(stderr, "%s: cannot read the registry %s: %s\n", prog, silk_registry_url(reg),
                silk_status_str(st));
        silk_registry_close(reg);
        return 1;
    }
    if (l.count == 0)
        fprintf(stderr, "%s: no instance of %s in the registry %s\n", prog, service,
                silk_registry_url(reg));
    size_t serving = 0;
    for (size_t i = 0; i < l.count; i++)
        serving += check_one(&l.items[i], timeout_ms);
    int rc = l.count > 0 && serving == l.count ? 0 : 1;
    silk_instance_list_fini(&l);
    silk_registry_close(reg);
    return rc;
}

/* ============================== the command line ============================== */

enum { OPT_TARGET = 256, OPT_METADATA, OPT_TIMEOUT, OPT_REGISTRY, OPT_HELP };

static const struct option long_options[] = {
    {"data", required_argument, NULL, 'd'},
    {"target", required_argument, NULL, OPT_TARGET},
    {"metadata", required_argument, NULL, OPT_METADATA},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"registry", required_argument, NULL, OPT_REGISTRY},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

/* presence prints who is online for business: session, gateway, route, age, subject. */
static int presence(const char *prog, silk_ctx *ctx, const char *business)
{
    silk_presence_list list;
    silk_status st = silk_ws_presence(ctx, business, &list);
    if (st != SILK_OK) {
        fprintf(stderr, "%s: %s: %s\n", prog, silk_status_str(st), silk_ctx_message(ctx));
        return 1;
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    for (size_t i = 0; i < list.count; i++) {
        const silk_presence *p = &list.items[i];
        printf("%s %s %s %" PRId64 "s %s\n", p->session_id, p->gateway_id, p->route,
               (now_ms - p->opened_at_ms) / 1000, p->subject[0] ? p->subject : "-");
    }
    silk_presence_list_fini(&list);
    return 0;
}

/* close_business closes every session of business with code (NULL: 1000) and reason. */
static int close_business(const char *prog, silk_ctx *ctx, const char *business,
                          const char *code_arg, const char *reason)
{
    unsigned long code = 1000;
    if (code_arg != NULL) {
        char *end;
        code = strtoul(code_arg, &end, 10);
        if (*end != '\0' || code == 0 || code > 4999) {
            fprintf(stderr, "%s: bad close code %s\n", prog, code_arg);
            return 2;
        }
    }
    silk_status st = silk_ws_close_business(ctx, business, (uint16_t)code, reason);
    if (st != SILK_OK) {
        fprintf(stderr, "%s: %s: %s\n", prog, silk_status_str(st), silk_ctx_message(ctx));
        return 1;
    }
    return 0;
}

int silk_ctl_main(int argc, char **argv, const silk_service_desc *const *services,
                  size_t n_services)
{
    const char *prog = argc > 0 && argv[0] ? argv[0] : "silk-ctl";
    const char *data = NULL, *target = NULL;
    unsigned long timeout_ms = 0;
    silk_ctx *ctx = silk_ctx_new();
    int opt, rc = 2;
    if (ctx == NULL)
        return 1;
    if (silk_json_add_names(services, n_services) != SILK_OK) {
        fprintf(stderr, "%s: out of memory\n", prog);
        silk_ctx_free(ctx);
        return 1;
    }

    optind = 1;
    while ((opt = getopt_long(argc, argv, "d:", long_options, NULL)) != -1) {
        switch (opt) {
        case 'd':
            data = optarg;
            break;
        case OPT_TARGET:
            target = optarg;
            break;
        case OPT_METADATA: {
            char *eq = strchr(optarg, '=');
            if (eq == NULL) {
                fprintf(stderr, "%s: --metadata wants KEY=VALUE, not %s\n", prog, optarg);
                goto out;
            }
            *eq = '\0';
            silk_status st = silk_ctx_set(ctx, optarg, eq + 1);
            *eq = '=';
            if (st != SILK_OK) {
                fprintf(stderr, "%s: bad metadata %s: %s\n", prog, optarg, silk_status_str(st));
                goto out;
            }
            break;
        }
        case OPT_TIMEOUT: {
            char *end;
            timeout_ms = strtoul(optarg, &end, 10);
            if (*end != '\0' || timeout_ms == 0 || timeout_ms > 86400000) {
                fprintf(stderr, "%s: bad --timeout %s\n", prog, optarg);
                goto out;
            }
            break;
        }
        case OPT_REGISTRY:
            setenv("SILK_REGISTRY", optarg, 1); /* for the channels too */
            break;
        case OPT_HELP:
            usage(stdout, prog);
            rc = 0;
            goto out;
        default:
            usage(stderr, prog);
            goto out;
        }
    }
    /* GNU getopt gathers the operands at the end: options may come anywhere. */
    int n_args = argc - optind;
    char **args = argv + optind;
    if (n_args == 1 && strcmp(args[0], "methods") == 0) {
        rc = list_methods(services, n_services);
        goto out;
    }
    if (n_args == 1 && strcmp(args[0], "list") == 0) {
        rc = list_instances(prog);
        goto out;
    }
    if (n_args == 2 && strcmp(args[0], "sessions") == 0) {
        rc = presence(prog, ctx, args[1]);
        goto out;
    }
    if (n_args >= 2 && n_args <= 4 && strcmp(args[0], "close-business") == 0) {
        rc = close_business(prog, ctx, args[1], n_args > 2 ? args[2] : NULL,
                            n_args > 3 ? args[3] : NULL);
        goto out;
    }
    if (n_args == 2 && strcmp(args[0], "health") == 0) {
        rc = health(prog, args[1], timeout_ms > 0 ? (uint32_t)timeout_ms : 2000);
        goto out;
    }
    if (n_args < 2 || n_args > 3 || strcmp(args[0], "call") != 0 || (n_args == 3 && data)) {
        usage(stderr, prog);
        goto out;
    }
    if (n_args == 3)
        data = args[2];

    size_t svc_index = 0;
    const silk_method_desc *m = find_method(services, n_services, args[1], &svc_index);
    if (m == NULL) {
        fprintf(stderr, "%s: no method %s here (see `%s list`)\n", prog, args[1], prog);
        goto out;
    }
    char *owned = NULL;
    size_t len;
    const char *json = "{}";
    if (data != NULL && data[0] == '@') {
        owned = read_all(data + 1, &len);
        if (owned == NULL) {
            fprintf(stderr, "%s: cannot read %s\n", prog, data + 1);
            goto out;
        }
        json = owned;
    } else if (data != NULL) {
        json = data;
    }
    char err[512];
    ProtobufCMessage *req = NULL, *resp = NULL;
    silk_status st = silk_json_to_message(m->input, json, strlen(json), &req, err, sizeof err);
    free(owned);
    rc = 1;
    if (st != SILK_OK) {
        fprintf(stderr, "%s: %s: %s\n", prog, silk_status_str(st), err);
        goto out;
    }
    if (timeout_ms > 0)
        silk_ctx_set_timeout(ctx, (uint32_t)timeout_ms);
    silk_channel *ch = NULL;
    st = target != NULL ? silk_channel_open(&ch, target)
                        : silk_channel_open_service(&ch, services[svc_index]);
    if (st == SILK_OK)
        st = silk_channel_call(ch, ctx, m, req, &resp);
    protobuf_c_message_free_unpacked(req, NULL);
    if (st != SILK_OK) {
        const char *why = silk_ctx_message(ctx);
        fprintf(stderr, "%s: %s: %s\n", prog, silk_status_str(st),
                why[0] != '\0' ? why : silk_status_str(st));
        silk_channel_close(ch);
        goto out;
    }
    char *out = NULL;
    st = silk_json_from_message(resp, &out, NULL, err, sizeof err);
    protobuf_c_message_free_unpacked(resp, NULL);
    silk_channel_close(ch);
    if (st != SILK_OK) {
        fprintf(stderr, "%s: %s: %s\n", prog, silk_status_str(st), err);
        goto out;
    }
    printf("%s\n", out);
    free(out);
    rc = 0;
out:
    silk_ctx_free(ctx);
    return rc;
}
