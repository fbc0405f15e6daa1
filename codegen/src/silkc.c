/* silkc.c - the CLI: runs protoc with protoc-c and protoc-gen-silk, both outputs in one folder. */
#include <errno.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

enum { EXIT_GENERATION = 1, EXIT_USAGE = 2 };

static void usage(FILE *out)
{
    fprintf(out,
            "usage: silkc [-I DIR]... --out DIR FILE.proto...\n"
            "\n"
            "Generates C for each FILE.proto into DIR: FILE.pb-c.{h,c} (protoc-c) and\n"
            "FILE.silk.{h,c} (protoc-gen-silk: service descriptors, typed calls, handler tables).\n"
            "Each output keeps the proto's path relative to the import dir that holds it.\n"
            "\n"
            "options:\n"
            "  -I, --proto_path DIR  an import dir (repeatable); a proto's own folder is one\n"
            "                        when no -I holds it; silk's protos and the well-known\n"
            "                        types are always importable\n"
            "  -o, --out DIR         where to write (made if missing)\n"
            "  -h, --help            this help\n"
            "  --version             silkc's version\n"
            "\n"
            "exit status: 0 generated, 1 protoc or generation failed (its errors are\n"
            "printed as protoc prints them), 2 usage error or a tool not found.\n");
}

/* self_dir writes the folder of this executable into dir. */
static int self_dir(char *dir, size_t size)
{
    ssize_t n = readlink("/proc/self/exe", dir, size - 1);
    if (n <= 0)
        return -1;
    dir[n] = '\0';
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        return -1;
    *slash = '\0';
    return 0;
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* silk_proto_dir is the source tree's proto/ inside a build tree, else the installed one. */
static const char *silk_proto_dir(void)
{
    static char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/silk/options.proto", SILK_SOURCE_PROTO_DIR);
    if (access(path, R_OK) == 0)
        return SILK_SOURCE_PROTO_DIR;
    return SILK_INSTALL_PROTO_DIR;
}

/* holds tells whether dir (an import dir) contains path. */
static int holds(const char *dir, const char *path)
{
    char rdir[PATH_MAX], rpath[PATH_MAX];
    if (realpath(dir, rdir) == NULL || realpath(path, rpath) == NULL)
        return 0;
    size_t n = strlen(rdir);
    return strncmp(rdir, rpath, n) == 0 && rpath[n] == '/';
}

typedef struct argv_buf {
    char **items;
    size_t count;
    size_t cap;
} argv_buf;

/* absolute returns path made absolute (protoc matches import dirs by string prefix, so every
 * path it sees is absolute); a path that does not exist is returned as it is. */
static const char *absolute(const char *path, char buf[PATH_MAX])
{
    return realpath(path, buf) ? buf : path;
}

static void push(argv_buf *a, const char *fmt, const char *arg)
{
    if (a->count + 2 > a->cap) {
        a->cap = a->cap ? a->cap * 2 : 32;
        a->items = realloc(a->items, a->cap * sizeof *a->items);
        if (a->items == NULL) {
            perror("silkc");
            exit(EXIT_USAGE);
        }
    }
    int n = snprintf(NULL, 0, fmt, arg);
    char *s = malloc((size_t)n + 1);
    if (s == NULL) {
        perror("silkc");
        exit(EXIT_USAGE);
    }
    snprintf(s, (size_t)n + 1, fmt, arg);
    a->items[a->count++] = s;
    a->items[a->count] = NULL;
}

static void argv_fini(argv_buf *a)
{
    for (size_t i = 0; i < a->count; i++)
        free(a->items[i]);
    free(a->items);
}

static int run(char **argv)
{
    pid_t pid;
    int err = posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ);
    if (err != 0) {
        fprintf(stderr, "silkc: cannot run %s: %s (install protobuf-compiler)\n", argv[0],
                strerror(err));
        return EXIT_USAGE;
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return EXIT_GENERATION;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : EXIT_GENERATION;
}

/* mkdirs makes dir and its parents. */
static int mkdirs(const char *dir)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0777) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(path, 0777) == 0 || errno == EEXIST ? 0 : -1;
}

int main(int argc, char **argv)
{
    const char *out = NULL;
    char abs[PATH_MAX];
    argv_buf includes = {0}, protos = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--version") == 0) {
            printf("silkc %s\n", SILK_VERSION);
            return 0;
        } else if ((strcmp(a, "-I") == 0 || strcmp(a, "--proto_path") == 0) && i + 1 < argc) {
            push(&includes, "%s", absolute(argv[++i], abs));
        } else if (strncmp(a, "-I", 2) == 0 && a[2] != '\0') {
            push(&includes, "%s", absolute(a + 2, abs));
        } else if ((strcmp(a, "-o") == 0 || strcmp(a, "--out") == 0) && i + 1 < argc) {
            out = argv[++i];
        } else if (a[0] == '-') {
            fprintf(stderr, "silkc: unknown option %s\n", a);
            usage(stderr);
            return EXIT_USAGE;
        } else {
            push(&protos, "%s", absolute(a, abs));
        }
    }
    if (out == NULL || protos.count == 0) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (mkdirs(out) != 0 || !is_dir(out)) {
        fprintf(stderr, "silkc: cannot make %s: %s\n", out, strerror(errno));
        return EXIT_USAGE;
    }
    char plugin[PATH_MAX];
    if (self_dir(plugin, sizeof plugin - 20) != 0) {
        fprintf(stderr, "silkc: cannot find my own folder\n");
        return EXIT_USAGE;
    }
    strcat(plugin, "/protoc-gen-silk");
    if (access(plugin, X_OK) != 0) {
        fprintf(stderr, "silkc: %s is missing\n", plugin);
        return EXIT_USAGE;
    }

    argv_buf cmd = {0};
    push(&cmd, "%s", "protoc");
    push(&cmd, "--plugin=protoc-gen-silk=%s", plugin);
    push(&cmd, "--c_out=%s", out);
    push(&cmd, "--silk_out=%s", out);
    for (size_t i = 0; i < includes.count; i++)
        push(&cmd, "-I%s", includes.items[i]);
    for (size_t i = 0; i < protos.count; i++) {
        int held = 0;
        for (size_t k = 0; k < includes.count && !held; k++)
            held = holds(includes.items[k], protos.items[i]);
        held = held || holds(silk_proto_dir(), protos.items[i]);
        if (!held) {
            char dir[PATH_MAX];
            snprintf(dir, sizeof dir, "%s", protos.items[i]);
            char *slash = strrchr(dir, '/');
            push(&cmd, "-I%s", slash ? (*slash = '\0', dir) : ".");
        }
    }
    push(&cmd, "-I%s", silk_proto_dir());
    push(&cmd, "-I%s", SILK_WKT_DIR);
    for (size_t i = 0; i < protos.count; i++)
        push(&cmd, "%s", protos.items[i]);
    int rc = run(cmd.items);
    argv_fini(&cmd);
    argv_fini(&includes);
    argv_fini(&protos);
    return rc;
}
