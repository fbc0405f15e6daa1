/* ctl.c - silk_ctl_main: silk-ctl's command line, calling linked services with JSON. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <silk/channel.h>
#include <silk/ctl.h>
#include <silk/ctx.h>
#include <silk/json.h>

static void usage(FILE *out, const char *prog)
{
    fprintf(out,
            "usage: %s call SERVICE/METHOD ['{json}' | -d '{json}' | -d @FILE | -d @-] [options]\n"
            "       %s list\n"
            "\n"
            "Calls a method of a service linked into this silk-ctl, through the registry, with\n"
            "the request given as proto3 JSON (default {}), and prints the reply as JSON.\n"
            "SERVICE is the full name (wstest.WsTest), METHOD the method's name (Echo).\n"
            "\n"
            "options:\n"
            "  -d, --data JSON|@FILE  the request; @- reads standard input\n"
            "  --target ADDRESS       call this nng address instead of resolving the service\n"
            "  --metadata KEY=VALUE   call metadata (repeatable): business-id=100\n"
            "  --timeout MS           the call's deadline (default: the method's, or 5000)\n"
            "  --help                 show this and exit\n"
            "\n"
            "exit status: 0 on success, 1 when the call fails (the status and message are\n"
            "printed on standard error), 2 for a bad command line.\n"
            "environment: SILK_REGISTRY, SILK_LOG\n",
            prog, prog);
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

static int list(const silk_service_desc *const *services, size_t n)
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

enum { OPT_TARGET = 256, OPT_METADATA, OPT_TIMEOUT, OPT_HELP };

static const struct option long_options[] = {
    {"data", required_argument, NULL, 'd'},
    {"target", required_argument, NULL, OPT_TARGET},
    {"metadata", required_argument, NULL, OPT_METADATA},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

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
    if (n_args == 1 && strcmp(args[0], "list") == 0) {
        rc = list(services, n_services);
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
    st = silk_channel_open(&ch, target ? target : services[svc_index]->name);
    if (st == SILK_OK)
        st = silk_call(ch, ctx, m, req, &resp);
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
