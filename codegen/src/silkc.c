/* silkc.c - the CLI: runs protoc with protoc-c and protoc-gen-silk, both writing into one folder.
 */
#define _GNU_SOURCE /* asprintf */
#include <errno.h>
#include <limits.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Exit statuses, as --help documents them. */
enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2 };

static void usage(FILE *out)
{
    fprintf(out,
            "usage: silkc [-I DIR]... [--out DIR] [--openapi FILE] FILE.proto...\n"
            "\n"
            "Generates C for each FILE.proto into DIR: FILE.pb-c.h and FILE.pb-c.c (protoc-c's\n"
            "messages) and FILE.silk.h and FILE.silk.c (protoc-gen-silk's service descriptors,\n"
            "typed calls and handler tables). An output keeps its proto's path relative to the\n"
            "import dir that holds the proto. With --openapi it writes the OpenAPI 3.1 document\n"
            "of the protos' services, as silk-gateway serves them, into FILE.\n"
            "\n"
            "options:\n"
            "  -I DIR, --proto_path=DIR  an import dir, searched in order (repeatable); a\n"
            "                            proto's own folder is one when no -I holds it, and\n"
            "                            silk's protos (silk/options.proto ...) and the\n"
            "                            well-known types (google/protobuf/...) always are\n"
            "  -o DIR, --out=DIR         where to write; made if missing\n"
            "  --openapi=FILE            write the services' OpenAPI document (JSON) to FILE;\n"
            "                            --out, --openapi or both must be given\n"
            "  -h, --help                print this help and exit\n"
            "  --version                 print silkc's version and exit\n"
            "\n"
            "silkc runs protoc and protoc-gen-c from PATH and the protoc-gen-silk beside it;\n"
            "silk's protos are the installed ones (../share/silk/proto from silkc's folder),\n"
            "or the source tree's proto/ when silkc runs from a build tree.\n"
            "\n"
            "exit status:\n"
            "  0  generated\n"
            "  1  protoc or a generator failed (their errors are printed as they give them),\n"
            "     or a tool could not be run\n"
            "  2  usage error\n");
}

static void die(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

static void die(int status, const char *fmt, ...)
{
    va_list ap;
    fputs("silkc: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(status);
}

/* --- a growable argv --- */

typedef struct strv {
    char **items; /* NULL-terminated */
    size_t count;
} strv;

static void strv_addf(strv *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void strv_addf(strv *v, const char *fmt, ...)
{
    char *s = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    char **items = realloc(v->items, (v->count + 2) * sizeof *items);
    if (n < 0 || items == NULL)
        die(EXIT_FAILED, "out of memory");
    v->items = items;
    items[v->count++] = s;
    items[v->count] = NULL;
}

static void strv_fini(strv *v)
{
    for (size_t i = 0; i < v->count; i++)
        free(v->items[i]);
    free(v->items);
}

/* --- paths --- */

/* absolute returns path resolved to an absolute, symlink-free path (protoc maps files to
 * import dirs by comparing such paths), or path itself when it does not exist, for protoc
 * to report. Caller frees. */
static char *absolute(const char *path)
{
    char *real = realpath(path, NULL);
    return real ? real : strdup(path);
}

/* holds tells whether the folder dir contains file, both absolute. */
static bool holds(const char *dir, const char *file)
{
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    return strncmp(dir, file, n) == 0 && file[n] == '/';
}

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* mkdirs makes dir and any missing parents. */
static int mkdirs(const char *dir)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
        return errno = ENAMETOOLONG, -1;
    for (char *p = path + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0777) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    struct stat st;
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
        return -1;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return errno = ENOTDIR, -1;
    return 0;
}

/* self_dir returns the folder of this executable (the caller's to free), or NULL after saying
 * why. */
static char *self_dir(void)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        fprintf(stderr, "silkc: cannot find my own executable: %s\n", strerror(errno));
        return NULL;
    }
    self[n] = '\0';
    *strrchr(self, '/') = '\0';
    char *dir = strdup(self);
    if (dir == NULL)
        die(EXIT_FAILED, "out of memory");
    return dir;
}

/* plugin_path returns the protoc-gen-silk beside this executable in dir (the caller's to
 * free), or NULL after saying why. */
static char *plugin_path(const char *dir)
{
    char *plugin = NULL;
    if (asprintf(&plugin, "%s/protoc-gen-silk", dir) < 0)
        die(EXIT_FAILED, "out of memory");
    if (access(plugin, X_OK) != 0) {
        fprintf(stderr, "silkc: %s: %s (it is installed beside silkc)\n", plugin, strerror(errno));
        free(plugin);
        return NULL;
    }
    return plugin;
}

/* silk_proto_dir returns where silk's own protos are (the caller's to free): the installed
 * copy found from this executable's folder dir (bin/../share/silk/proto), else the source
 * tree's proto/ when silkc runs from a build tree, else the configured install folder. */
static char *silk_proto_dir(const char *dir)
{
    char *installed = NULL, *found = NULL;
    if (asprintf(&installed, "%s/%s", dir, SILK_INSTALL_PROTO_DIR_FROM_BIN) < 0)
        die(EXIT_FAILED, "out of memory");
    char *options = NULL;
    if (asprintf(&options, "%s/silk/options.proto", installed) < 0)
        die(EXIT_FAILED, "out of memory");
    if (is_file(options))
        found = absolute(installed);
    else if (is_file(SILK_SOURCE_PROTO_DIR "/silk/options.proto"))
        found = strdup(SILK_SOURCE_PROTO_DIR);
    else
        found = strdup(SILK_INSTALL_PROTO_DIR);
    free(options);
    free(installed);
    if (found == NULL)
        die(EXIT_FAILED, "out of memory");
    return found;
}

/* run runs argv and waits for it; protoc's own output goes straight to ours. */
static int run(char *const *argv)
{
    pid_t pid;
    int err = posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ);
    if (err != 0) {
        fprintf(stderr, "silkc: cannot run %s: %s (install protobuf-compiler)\n", argv[0],
                strerror(err));
        return EXIT_FAILED;
    }
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "silkc: waiting for %s: %s\n", argv[0], strerror(errno));
            return EXIT_FAILED;
        }
    }
    if (WIFSIGNALED(status))
        fprintf(stderr, "silkc: %s was killed by signal %d\n", argv[0], WTERMSIG(status));
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? EXIT_OK : EXIT_FAILED;
}

/* option_value returns the value of an option given as "-I DIR", "-IDIR" or "--long=DIR"
 * (the short and long spellings given; shrt may be NULL: none), advancing *i past it; NULL
 * when argv[*i] is not the option. A missing value is a usage error. */
static const char *option_value(int argc, char **argv, int *i, const char *shrt, const char *lng)
{
    const char *a = argv[*i];
    size_t sl = shrt ? strlen(shrt) : 0, ll = strlen(lng);
    if ((shrt != NULL && strcmp(a, shrt) == 0) || strcmp(a, lng) == 0) {
        if (*i + 1 >= argc)
            die(EXIT_USAGE, "%s needs a value (see --help)", a);
        return argv[++*i];
    }
    if (strncmp(a, lng, ll) == 0 && a[ll] == '=')
        return a + ll + 1;
    if (shrt != NULL && strncmp(a, shrt, sl) == 0 && a[sl] != '\0')
        return a + sl;
    return NULL;
}

/* silkc_args is the command line, parsed. */
typedef struct silkc_args {
    const char *out;
    const char *openapi; /* the document's file, or NULL */
    strv includes;       /* absolute */
    strv protos;         /* absolute when they exist */
} silkc_args;

/* parse_args fills args from the command line. It returns -1 to go on, or the status to exit
 * with at once (--help, --version, a usage error). */
static int parse_args(int argc, char **argv, silkc_args *args)
{
    bool options_done = false;
    const char *v;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (options_done || a[0] != '-' || strcmp(a, "-") == 0) {
            char *path = absolute(a);
            strv_addf(&args->protos, "%s", path);
            free(path);
        } else if (strcmp(a, "--") == 0) {
            options_done = true;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return EXIT_OK;
        } else if (strcmp(a, "--version") == 0) {
            printf("silkc %s\n", SILK_VERSION);
            return EXIT_OK;
        } else if ((v = option_value(argc, argv, &i, "-I", "--proto_path")) != NULL) {
            char *path = absolute(v);
            strv_addf(&args->includes, "%s", path);
            free(path);
        } else if ((v = option_value(argc, argv, &i, "-o", "--out")) != NULL) {
            args->out = v;
        } else if ((v = option_value(argc, argv, &i, NULL, "--openapi")) != NULL) {
            args->openapi = v;
        } else {
            fprintf(stderr, "silkc: unknown option %s\n\n", a);
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if ((args->out == NULL && args->openapi == NULL) || args->protos.count == 0) {
        fprintf(stderr, "silkc: %s\n\n",
                args->protos.count == 0 ? "no .proto given" : "--out or --openapi is required");
        usage(stderr);
        return EXIT_USAGE;
    }
    return -1;
}

/* add_inputs adds the import dirs and the protos to a protoc command: -I for each import dir,
 * then for each proto no import dir holds its own folder (added to args->includes too), then
 * silk's protos and the well-known types, then the protos. */
static void add_inputs(strv *cmd, silkc_args *args, const char *silk_protos)
{
    for (size_t i = 0; i < args->includes.count; i++)
        strv_addf(cmd, "-I%s", args->includes.items[i]);
    for (size_t i = 0; i < args->protos.count; i++) {
        const char *p = args->protos.items[i];
        bool held = holds(silk_protos, p) || holds(SILK_WKT_DIR, p);
        for (size_t k = 0; k < args->includes.count && !held; k++)
            held = holds(args->includes.items[k], p);
        if (held)
            continue;
        const char *slash = strrchr(p, '/');
        char *dir = slash ? strndup(p, slash == p ? 1 : (size_t)(slash - p)) : strdup(".");
        if (dir == NULL)
            die(EXIT_FAILED, "out of memory");
        strv_addf(&args->includes, "%s", dir);
        strv_addf(cmd, "-I%s", dir);
        free(dir);
    }
    strv_addf(cmd, "-I%s", silk_protos);
    strv_addf(cmd, "-I%s", SILK_WKT_DIR);
    for (size_t i = 0; i < args->protos.count; i++)
        strv_addf(cmd, "%s", args->protos.items[i]);
}

/* generate_code runs protoc with protoc-c and protoc-gen-silk writing into args->out. */
static int generate_code(silkc_args *args, const char *plugin, const char *silk_protos)
{
    if (mkdirs(args->out) != 0) {
        fprintf(stderr, "silkc: cannot make %s: %s\n", args->out, strerror(errno));
        return EXIT_FAILED;
    }
    strv cmd = {0};
    strv_addf(&cmd, "protoc");
    strv_addf(&cmd, "--plugin=protoc-gen-silk=%s", plugin);
    strv_addf(&cmd, "--c_out=%s", args->out);
    strv_addf(&cmd, "--silk_out=%s", args->out);
    add_inputs(&cmd, args, silk_protos);
    int status = run(cmd.items);
    strv_fini(&cmd);
    return status;
}

/* generate_openapi runs protoc with protoc-gen-silk in its openapi mode, into a folder of
 * its own beside args->openapi, and renames the document into place: the file is replaced
 * whole or not at all. */
static int generate_openapi(silkc_args *args, const char *plugin, const char *silk_protos)
{
    char *file = strdup(args->openapi), *tmp = NULL, *written = NULL;
    if (file == NULL)
        die(EXIT_FAILED, "out of memory");
    char *slash = strrchr(file, '/');
    const char *dir = slash == NULL ? "." : slash == file ? "/" : (*slash = '\0', file);
    if (asprintf(&tmp, "%s/.silkc-openapi-XXXXXX", dir) < 0)
        die(EXIT_FAILED, "out of memory");
    if (mkdtemp(tmp) == NULL) {
        fprintf(stderr, "silkc: cannot write beside %s: %s\n", args->openapi, strerror(errno));
        free(tmp);
        free(file);
        return EXIT_FAILED;
    }
    strv cmd = {0};
    strv_addf(&cmd, "protoc");
    strv_addf(&cmd, "--plugin=protoc-gen-silk=%s", plugin);
    strv_addf(&cmd, "--silk_opt=openapi");
    strv_addf(&cmd, "--silk_out=%s", tmp);
    add_inputs(&cmd, args, silk_protos);
    int status = run(cmd.items);
    strv_fini(&cmd);
    if (asprintf(&written, "%s/openapi.json", tmp) < 0)
        die(EXIT_FAILED, "out of memory");
    if (status == EXIT_OK && rename(written, args->openapi) != 0) {
        fprintf(stderr, "silkc: cannot write %s: %s\n", args->openapi, strerror(errno));
        status = EXIT_FAILED;
    }
    unlink(written);
    rmdir(tmp);
    free(written);
    free(tmp);
    free(file);
    return status;
}

/* generate runs protoc over the protos for the outputs asked for; it returns the exit status. */
static int generate(silkc_args *args)
{
    char *self = self_dir();
    char *plugin = self ? plugin_path(self) : NULL;
    if (plugin == NULL) {
        free(self);
        return EXIT_FAILED;
    }
    char *silk_protos = silk_proto_dir(self);
    free(self);
    int status = EXIT_OK;
    if (args->out != NULL)
        status = generate_code(args, plugin, silk_protos);
    if (status == EXIT_OK && args->openapi != NULL)
        status = generate_openapi(args, plugin, silk_protos);
    free(plugin);
    free(silk_protos);
    return status;
}

int main(int argc, char **argv)
{
    silkc_args args = {0};
    int status = parse_args(argc, argv, &args);
    if (status < 0)
        status = generate(&args);
    strv_fini(&args.includes);
    strv_fini(&args.protos);
    return status;
}
