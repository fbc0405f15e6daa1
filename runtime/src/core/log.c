/* log.c - silk's one logging module: `time level component message key=value` lines on stderr. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <silk/log.h>

#include "core/env.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static silk_log_level threshold = SILK_LOG_INFO;

static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

static void read_threshold(void)
{
    const char *env = silk__env_str("SILK_LOG");
    if (env == NULL)
        return;
    for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
        if (strcasecmp(env, level_names[i]) == 0)
            threshold = (silk_log_level)i;
    }
    if (strcasecmp(env, "warning") == 0)
        threshold = SILK_LOG_WARN;
}

bool silk_log_enabled(silk_log_level level)
{
    pthread_once(&once, read_threshold);
    return level >= threshold && level <= SILK_LOG_ERROR;
}

/* format_time writes the wall-clock time as "2024-05-01T12:00:00.123Z". */
static size_t format_time(char *buf, size_t cap)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    int m = snprintf(buf + n, cap - n, ".%03ldZ", ts.tv_nsec / 1000000);
    return n + (size_t)m;
}

/* escape_controls copies text[0..len) to out (cap bytes, cap > 0), control bytes (below 0x20,
 * and 0x7f) written as \xNN, so that a value a client chose (a business id with CR/LF) can
 * neither end a log line nor forge the next one. It returns the bytes written. */
static size_t escape_controls(const char *text, size_t len, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        bool control = c < 0x20 || c == 0x7f;
        if (o + (control ? 4 : 1) > cap)
            break;
        if (!control) {
            out[o++] = (char)c;
            continue;
        }
        out[o++] = '\\';
        out[o++] = 'x';
        out[o++] = hex[c >> 4];
        out[o++] = hex[c & 15];
    }
    return o;
}

void silk_log(silk_log_level level, const char *component, const char *fmt, ...)
{
    if (!silk_log_enabled(level))
        return;
    char line[2048], text[sizeof line]; /* a message may take the whole line */
    size_t cap = sizeof line - 1;       /* room for the newline */
    size_t n = format_time(line, cap);
    int m = snprintf(line + n, cap - n, " %s %s ", level_names[level],
                     component != NULL ? component : "-");
    n = m > 0 && (size_t)m < cap - n ? n + (size_t)m : cap;

    va_list ap;
    va_start(ap, fmt);
    m = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    size_t len = m < 0 ? 0 : (size_t)m < sizeof text ? (size_t)m : sizeof text - 1;
    n += escape_controls(text, len, line + n, cap - n);
    line[n++] = '\n';

    /* One write per line, so that lines from several threads do not interleave. */
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
}
