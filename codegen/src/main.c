/* main.c - protoc-gen-silk: reads protoc's CodeGeneratorRequest on stdin, writes the response.
 *
 * Errors in the .proto files (an option silk cannot use, a streaming method) go to stderr,
 * one "file:line:column: element: what" line each, as compilers print them (protoc passes a
 * plugin's stderr through); the response's error, which protoc prints after "--silk_out: "
 * and turns into its own failure, counts them. The exit status is not 0 only when the plugin
 * itself cannot work (unreadable input, I/O).
 *
 * With the parameter "openapi" (--silk_opt=openapi, as silkc --openapi runs it) it writes one
 * file instead, openapi.json: the OpenAPI 3.1 document of every service of the files to
 * generate, from the same parts their descriptors carry. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "silkgen.h"

typedef Google__Protobuf__Compiler__CodeGeneratorRequest request;
typedef Google__Protobuf__Compiler__CodeGeneratorResponse response;
typedef Google__Protobuf__Compiler__CodeGeneratorResponse__File response_file;

/* read_all reads in to its end; NULL when memory is exhausted or reading fails. */
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
    if (data != NULL && ferror(in)) {
        free(data);
        data = NULL;
    }
    *len = n;
    return data;
}

static void add_file(response *resp, char *name, char *content)
{
    response_file *f = silkgen_xcalloc(1, sizeof *f);
    google__protobuf__compiler__code_generator_response__file__init(f);
    f->name = name;
    f->content = content;
    resp->file[resp->n_file++] = f;
}

/* generate fills resp for req: the files, or the errors. */
static void generate(const request *req, response *resp)
{
    silkgen_run run;
    silkgen_run_init(&run, req);
    resp->supported_features =
        GOOGLE__PROTOBUF__COMPILER__CODE_GENERATOR_RESPONSE__FEATURE__FEATURE_PROTO3_OPTIONAL;
    resp->has_supported_features = 1;
    bool openapi = req->parameter != NULL && strcmp(req->parameter, "openapi") == 0;
    if (req->parameter != NULL && *req->parameter != '\0' && !openapi)
        silkgen_error(&run, "protoc-gen-silk", "--silk_opt",
                      "takes only \"openapi\" (given \"%s\")", req->parameter);

    resp->file = silkgen_xcalloc(2 * req->n_file_to_generate + 1, sizeof *resp->file);
    if (openapi)
        add_file(resp, silkgen_strdup("openapi.json"), silkgen_openapi_generate(&run));
    for (size_t i = 0; i < req->n_file_to_generate && !openapi; i++) {
        const silkgen_file_proto *f = silkgen_find_file(&run, req->file_to_generate[i]);
        if (f == NULL) {
            silkgen_error(&run, req->file_to_generate[i], "file",
                          "is to be generated but protoc sent no descriptor of it");
            continue;
        }
        silkgen_file_output out[2];
        silkgen_file_generate(&run, f, out);
        add_file(resp, out[0].name, out[0].content);
        add_file(resp, out[1].name, out[1].content);
    }

    if (run.n_errors > 0) {
        char *errors = silkgen_buf_take(&run.errors);
        fputs(errors, stderr);
        free(errors);
        resp->error = silkgen_format("protoc-gen-silk: %zu error%s in the .proto files (above)",
                                     run.n_errors, run.n_errors == 1 ? "" : "s");
    }
    silkgen_run_fini(&run);
}

static void drop_files(response *resp)
{
    for (size_t i = 0; i < resp->n_file; i++) {
        free(resp->file[i]->name);
        free(resp->file[i]->content);
        free(resp->file[i]);
    }
    free(resp->file);
    resp->file = NULL;
    resp->n_file = 0;
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        if (strcmp(argv[1], "--version") == 0) {
            printf("protoc-gen-silk %s\n", SILKGEN_VERSION_STRING);
            return 0;
        }
        fprintf(argc == 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr,
                "protoc-gen-silk %s, a protoc plugin: run it through silkc, or through protoc\n"
                "as --plugin=protoc-gen-silk=PATH --silk_out=DIR (with --c_out=DIR).\n",
                SILKGEN_VERSION_STRING);
        return argc == 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
    }

    size_t len = 0;
    uint8_t *data = read_all(stdin, &len);
    request *req =
        data ? google__protobuf__compiler__code_generator_request__unpack(NULL, len, data) : NULL;
    free(data);
    if (req == NULL) {
        fprintf(stderr, "protoc-gen-silk: cannot read a CodeGeneratorRequest on stdin; this "
                        "program is run by protoc\n");
        return 1;
    }

    response resp = GOOGLE__PROTOBUF__COMPILER__CODE_GENERATOR_RESPONSE__INIT;
    generate(req, &resp);
    if (resp.error != NULL)
        drop_files(&resp); /* protoc would ignore them */

    size_t out_len = google__protobuf__compiler__code_generator_response__get_packed_size(&resp);
    uint8_t *out = silkgen_xcalloc(out_len, 1);
    google__protobuf__compiler__code_generator_response__pack(&resp, out);
    int rc = fwrite(out, 1, out_len, stdout) == out_len && fflush(stdout) == 0 ? 0 : 1;
    if (rc != 0)
        perror("protoc-gen-silk: writing the response");
    free(out);
    drop_files(&resp);
    free(resp.error);
    google__protobuf__compiler__code_generator_request__free_unpacked(req, NULL);
    return rc;
}
