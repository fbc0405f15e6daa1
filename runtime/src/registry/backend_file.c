/* backend_file.c - the file registry: DIR/<service>/<id>, one small text file per instance.
 *
 * A record is `key=value` lines (silk__record_format) written to a temporary file and renamed
 * into place, so readers never see half of one. A heartbeat touches the file; a record whose
 * mtime is older than the TTL is stale: resolve skips it and removes it, with temporary files
 * a crash left behind. No daemon, no lock: the directory is the registry. Watchers poll. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/random.h"
#include "registry/backend.h"

typedef struct file_reg {
    char *dir;
    const silk__registry_conf *conf;
} file_reg;

/* mkdirs makes path and its parents, mode 0700; an existing directory is fine. */
static int mkdirs(const char *path)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(buf, 0700) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

static silk_status file_open(void **datap, const char *where, const silk__registry_conf *conf)
{
    /* "file:/dir" and "file:///dir" both name /dir. */
    if (strncmp(where, "//", 2) == 0)
        where += 2;
    if (where[0] == '\0')
        return SILK_INVALID_ARGUMENT;
    file_reg *r = calloc(1, sizeof *r);
    if (r == NULL || (r->dir = strdup(where)) == NULL) {
        free(r);
        return SILK_RESOURCE_EXHAUSTED;
    }
    if (mkdirs(r->dir) != 0) {
        free(r->dir);
        free(r);
        return SILK_UNAVAILABLE;
    }
    r->conf = conf;
    *datap = r;
    return SILK_OK;
}

static void file_close(void *data)
{
    file_reg *r = data;
    free(r->dir);
    free(r);
}

static silk_status record_path(const file_reg *r, char *buf, size_t cap, const char *service,
                               const char *id)
{
    int n = id != NULL ? snprintf(buf, cap, "%s/%s/%s", r->dir, service, id)
                       : snprintf(buf, cap, "%s/%s", r->dir, service);
    return n > 0 && (size_t)n < cap ? SILK_OK : SILK_INVALID_ARGUMENT;
}

/* write_record writes inst's record to path, whole or not at all. */
static int write_record(const char *path, const silk_instance *inst)
{
    char text[4096];
    int n = silk__record_format(text, sizeof text, inst);
    if (n < 0)
        return -1;
    FILE *f = fopen(path, "wx");
    if (f == NULL)
        return -1;
    size_t wrote = fwrite(text, 1, (size_t)n, f);
    if (fclose(f) != 0 || wrote != (size_t)n) {
        unlink(path);
        return -1;
    }
    return 0;
}

static silk_status file_reg_instance(void *data, const silk_instance *inst)
{
    file_reg *r = data;
    char dir[4096], path[4096], tmp[4096 + 64], rnd[17];
    if (record_path(r, dir, sizeof dir, inst->service, NULL) != SILK_OK ||
        record_path(r, path, sizeof path, inst->service, inst->id) != SILK_OK)
        return SILK_INVALID_ARGUMENT;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return SILK_UNAVAILABLE;
    silk__random_hex(rnd, 8);
    snprintf(tmp, sizeof tmp, "%s/.%s.%s.tmp", dir, inst->id, rnd);
    if (write_record(tmp, inst) != 0)
        return SILK_UNAVAILABLE;
    if (rename(tmp, path) != 0) {
        unlink(tmp);
        return SILK_UNAVAILABLE;
    }
    return SILK_OK;
}

static silk_status file_heartbeat(void *data, const char *service, const char *id)
{
    char path[4096];
    if (record_path(data, path, sizeof path, service, id) != SILK_OK)
        return SILK_INVALID_ARGUMENT;
    if (utimensat(AT_FDCWD, path, NULL, 0) == 0)
        return SILK_OK;
    return errno == ENOENT ? SILK_NOT_FOUND : SILK_UNAVAILABLE;
}

static silk_status file_dereg(void *data, const char *service, const char *id)
{
    char path[4096];
    if (record_path(data, path, sizeof path, service, id) != SILK_OK)
        return SILK_INVALID_ARGUMENT;
    if (unlink(path) == 0 || errno == ENOENT)
        return SILK_OK;
    return SILK_UNAVAILABLE;
}

static bool is_stale(const file_reg *r, const struct stat *st)
{
    int64_t mtime_ms = (int64_t)st->st_mtim.tv_sec * 1000 + st->st_mtim.tv_nsec / 1000000;
    return silk__wall_ms() - mtime_ms > r->conf->ttl_ms;
}

/* remove_stale_tmp removes a temporary file a crashed writer left, once older than the TTL. */
static void remove_stale_tmp(const file_reg *r, int dfd, const char *name)
{
    struct stat st;
    size_t n = strlen(name);
    if (name[0] != '.' || n < 5 || strcmp(name + n - 4, ".tmp") != 0)
        return;
    if (fstatat(dfd, name, &st, 0) == 0 && S_ISREG(st.st_mode) && is_stale(r, &st))
        unlinkat(dfd, name, 0);
}

/* read_record reads the record named id in the service directory dfd; 1 when it is live and
 * filled into text and inst, 0 when it is stale or unreadable. */
static int read_record(const file_reg *r, int dfd, const char *id, char *text, size_t cap,
                       silk_instance *inst)
{
    struct stat st;
    if (fstatat(dfd, id, &st, 0) != 0 || !S_ISREG(st.st_mode))
        return 0;
    if (is_stale(r, &st)) {
        unlinkat(dfd, id, 0); /* best effort: another reader may have removed it already */
        return 0;
    }
    int fd = openat(dfd, id, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, text, cap - 1);
    close(fd);
    if (n <= 0)
        return 0;
    text[n] = '\0';
    return silk__record_parse(text, inst) ? 1 : 0;
}

static silk_status file_resolve(void *data, const char *service, silk_instance_list *out)
{
    char dir[4096];
    if (record_path(data, dir, sizeof dir, service, NULL) != SILK_OK)
        return SILK_INVALID_ARGUMENT;
    DIR *d = opendir(dir);
    if (d == NULL)
        return errno == ENOENT ? SILK_OK : SILK_UNAVAILABLE;
    silk_status st = SILK_OK;
    struct dirent *e;
    while (st == SILK_OK && (e = readdir(d)) != NULL) {
        if (!silk__registry_valid_name(e->d_name)) {
            remove_stale_tmp(data, dirfd(d), e->d_name);
            continue;
        }
        char text[4096];
        silk_instance inst = {.service = (char *)service, .id = e->d_name};
        if (read_record(data, dirfd(d), e->d_name, text, sizeof text, &inst) == 1)
            st = silk__instance_list_add(out, &inst);
    }
    closedir(d);
    return st;
}

static silk_status file_services(void *data, silk__name_list *out)
{
    const file_reg *r = data;
    DIR *d = opendir(r->dir);
    if (d == NULL)
        return SILK_UNAVAILABLE;
    silk_status st = SILK_OK;
    struct dirent *e;
    while (st == SILK_OK && (e = readdir(d)) != NULL) {
        struct stat sb;
        if (silk__registry_valid_name(e->d_name) && fstatat(dirfd(d), e->d_name, &sb, 0) == 0 &&
            S_ISDIR(sb.st_mode))
            st = silk__name_list_add(out, e->d_name);
    }
    closedir(d);
    return st;
}

const silk__registry_ops silk__registry_file_ops = {
    .scheme = "file",
    .open = file_open,
    .close = file_close,
    .reg = file_reg_instance,
    .heartbeat = file_heartbeat,
    .dereg = file_dereg,
    .resolve = file_resolve,
    .services = file_services,
    .watch_poll_ms = 250,
};
