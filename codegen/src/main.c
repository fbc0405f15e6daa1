/* main.c - protoc-gen-silk: reads protoc's CodeGeneratorRequest, writes the response. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen.h"

static uint8_t *read_all(FILE *in, size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    uint8_t *data = malloc(cap);
    while (data != NULL) {
        n += fread(data + n, 1, cap - n, in);
        if (n < cap)
            break;
        uint8_t *bigger = realloc(data, cap * 2);
        if (bigger == NULL)
            free(data);
        data = bigger;
        cap *= 2;
    }
    *len = n;
    return data;
}

static const Google__Protobuf__FileDescriptorProto *find_file(const silkgen_ctx *g,
                                                              const char *name)
{
    for (size_t i = 0; i < g->req->n_proto_file; i++)
        if (strcmp(g->req->proto_file[i]->name, name) == 0)
            return g->req->proto_file[i];
    return NULL;
}

/* check_routes reports two services (among the files generated together) on one route. */
static void check_routes(silkgen_ctx *g)
{
    size_t n = 0;
    struct {
        const char *file;
        char *route;
        char *service;
    } seen[256];
    for (size_t i = 0; i < g->req->n_file_to_generate; i++) {
        const Google__Protobuf__FileDescriptorProto *f = find_file(g, g->req->file_to_generate[i]);
        for (size_t s = 0; f != NULL && s < f->n_service && n < 256; s++) {
            silkgen_service_opts opts;
            const Google__Protobuf__ServiceDescriptorProto *sp = f->service[s];
            silkgen_read_service_opts(sp->options ? &sp->options->base : NULL, &opts);
            char *route = silkgen_route(opts.route, sp->name);
            silkgen_service_opts_fini(&opts);
            for (size_t k = 0; k < n; k++)
                if (strcmp(seen[k].route, route) == 0)
                    silkgen_error(g, f->name, sp->name, "route \"%s\" is %s's already (%s)", route,
                                  seen[k].service, seen[k].file);
            seen[n].file = f->name;
            seen[n].route = route;
            seen[n].service = silkgen_strdup(sp->name);
            n++;
        }
    }
    for (size_t k = 0; k < n; k++) {
        free(seen[k].route);
        free(seen[k].service);
    }
}

static Google__Protobuf__Compiler__CodeGeneratorResponse__File *new_file(char *name, char *text)
{
    Google__Protobuf__Compiler__CodeGeneratorResponse__File *f = malloc(sizeof *f);
    if (f == NULL)
        abort();
    google__protobuf__compiler__code_generator_response__file__init(f);
    f->name = name;
    f->content = text;
    return f;
}

static void generate(silkgen_ctx *g, Google__Protobuf__Compiler__CodeGeneratorResponse *resp)
{
    size_t n = g->req->n_file_to_generate;
    resp->file = calloc(2 * n + 1, sizeof *resp->file);
    if (resp->file == NULL)
        abort();
    check_routes(g);
    for (size_t i = 0; i < n; i++) {
        const Google__Protobuf__FileDescriptorProto *f = find_file(g, g->req->file_to_generate[i]);
        if (f == NULL)
            continue;
        char *h_name, *h_text, *c_name, *c_text;
        silkgen_file_emit(g, f, &h_name, &h_text, &c_name, &c_text);
        resp->file[resp->n_file++] = new_file(h_name, h_text);
        resp->file[resp->n_file++] = new_file(c_name, c_text);
    }
}

static void response_fini(Google__Protobuf__Compiler__CodeGeneratorResponse *resp)
{
    for (size_t i = 0; i < resp->n_file; i++) {
        free(resp->file[i]->name);
        free(resp->file[i]->content);
        free(resp->file[i]);
    }
    free(resp->file);
    free(resp->error);
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        int version = strcmp(argv[1], "--version") == 0;
        fprintf(version ? stdout : stderr,
                version ? "protoc-gen-silk %s\n"
                        : "protoc-gen-silk %s: a protoc plugin; run it through protoc "
                          "(--silk_out=DIR) or silkc.\n",
                SILKGEN_VERSION_STRING);
        return version ? 0 : 2;
    }
    size_t len;
    uint8_t *data = read_all(stdin, &len);
    Google__Protobuf__Compiler__CodeGeneratorRequest *req =
        data ? google__protobuf__compiler__code_generator_request__unpack(NULL, len, data) : NULL;
    free(data);
    if (req == NULL) {
        fprintf(stderr, "protoc-gen-silk: cannot decode the CodeGeneratorRequest on stdin\n");
        return 1;
    }
    silkgen_ctx g = {.req = req};
    Google__Protobuf__Compiler__CodeGeneratorResponse resp =
        GOOGLE__PROTOBUF__COMPILER__CODE_GENERATOR_RESPONSE__INIT;
    generate(&g, &resp);
    if (g.errors.len > 0) {
        /* protoc prints the error with the plugin's name; no files are written. */
        resp.error = silkgen_buf_take(&g.errors);
        resp.error[strlen(resp.error) - 1] = '\0';
    }
    size_t out_len = google__protobuf__compiler__code_generator_response__get_packed_size(&resp);
    uint8_t *out = malloc(out_len ? out_len : 1);
    if (out == NULL)
        abort();
    google__protobuf__compiler__code_generator_response__pack(&resp, out);
    int ok = fwrite(out, 1, out_len, stdout) == out_len && fflush(stdout) == 0;
    free(out);
    response_fini(&resp);
    google__protobuf__compiler__code_generator_request__free_unpacked(req, NULL);
    return ok ? 0 : 1;
}
