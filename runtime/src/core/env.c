/* env.c - silk's settings from the environment (env.h). */
#include <errno.h>
#include <stdlib.h>

#include <silk/log.h>

#include "core/env.h"

const char *silk__env_str(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : NULL;
}

bool silk__env_long(const char *name, long min, long max, long *out)
{
    const char *v = silk__env_str(name);
    if (v == NULL)
        return false;
    char *end = NULL;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || n < min || n > max) {
        silk_log(SILK_LOG_WARN, "env", "ignoring %s: not a number from %ld to %ld", name, min, max);
        return false;
    }
    *out = n;
    return true;
}
