/* log.h - silk's one logging module: `time level component message key=value ...` lines. */
#ifndef SILK_LOG_H
#define SILK_LOG_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* silk_log_level is how much a line matters; $SILK_LOG sets the threshold. */
typedef enum silk_log_level {
    SILK_LOG_DEBUG = 0,
    SILK_LOG_INFO,
    SILK_LOG_WARN,
    SILK_LOG_ERROR,
} silk_log_level;

/* silk_log writes one line to stderr when level is at least the threshold ($SILK_LOG:
 * debug, info, warn or error; info by default). component names the part ("server",
 * "gateway"); the message is printf-formatted and may end in key=value pairs. Control bytes in
 * the message (CR, LF, ESC, ...) are written as \xNN, so that no value can break a line.
 *
 * Any thread, callbacks included: each line, cut at 2 KiB, goes out in one write. */
void silk_log(silk_log_level level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* silk_log_enabled tells whether a line of that level would be written: a check before
 * formatting costly arguments. Any thread. */
bool silk_log_enabled(silk_log_level level);

#ifdef __cplusplus
}
#endif

#endif /* SILK_LOG_H */
