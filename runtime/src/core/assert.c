/* assert.c - what a failed SILK__ASSERT does: say which check failed, where, and abort. */
#include <stdio.h>
#include <stdlib.h>

#include "core/assert.h"

void silk__assert_failed(const char *expr, const char *file, int line, const char *func)
{
    fprintf(stderr, "silk: %s:%d: %s: check failed: %s\n", file, line, func, expr);
    fflush(stderr);
    abort();
}
