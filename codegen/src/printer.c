/* printer.c - a growable string buffer with printf, for writing generated code. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen.h"

static void *must(void *p)
{
    if (p == NULL) {
        fprintf(stderr, "protoc-gen-silk: out of memory\n");
        abort();
    }
    return p;
}

static void buf_vprintf(silkgen_buf *buf, const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    int need = vsnprintf(NULL, 0, fmt, ap);
    if (need < 0)
        abort();
    if (buf->len + (size_t)need + 1 > buf->cap) {
        size_t cap = buf->cap ? buf->cap : 256;
        while (cap < buf->len + (size_t)need + 1)
            cap *= 2;
        buf->data = must(realloc(buf->data, cap));
        buf->cap = cap;
    }
    vsnprintf(buf->data + buf->len, (size_t)need + 1, fmt, again);
    buf->len += (size_t)need;
    va_end(again);
}

void silkgen_printf(silkgen_buf *buf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(buf, fmt, ap);
    va_end(ap);
}

char *silkgen_buf_take(silkgen_buf *buf)
{
    char *text = buf->data ? buf->data : silkgen_strdup("");
    buf->data = NULL;
    buf->len = buf->cap = 0;
    return text;
}

void silkgen_buf_fini(silkgen_buf *buf)
{
    free(buf->data);
    buf->data = NULL;
    buf->len = buf->cap = 0;
}

char *silkgen_strdup(const char *s)
{
    return must(strdup(s));
}

char *silkgen_strdup_printf(const char *fmt, ...)
{
    silkgen_buf buf = {0};
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&buf, fmt, ap);
    va_end(ap);
    return silkgen_buf_take(&buf);
}
