/* printer.c - a growable string buffer with printf, and the pieces of C every generator prints. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "silkgen.h"

static void *must(void *p)
{
    if (p == NULL) {
        fputs("protoc-gen-silk: out of memory\n", stderr);
        abort();
    }
    return p;
}

void silkgen_vprintf(silkgen_buf *buf, const char *fmt, va_list ap)
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
    silkgen_vprintf(buf, fmt, ap);
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

char *silkgen_format(const char *fmt, ...)
{
    silkgen_buf buf = {0};
    va_list ap;
    va_start(ap, fmt);
    silkgen_vprintf(&buf, fmt, ap);
    va_end(ap);
    return silkgen_buf_take(&buf);
}

void *silkgen_xcalloc(size_t n, size_t size)
{
    return must(calloc(n ? n : 1, size));
}

/* cstr_char writes the C string literal form of the byte at p into out (at least 5 bytes)
 * and returns its length. */
static size_t cstr_char(const unsigned char *p, char *out)
{
    if (*p == '"' || *p == '\\')
        return (size_t)sprintf(out, "\\%c", *p);
    if (*p < 0x20 || *p >= 0x7f || (*p == '?' && p[1] == '?'))
        return (size_t)sprintf(out, "\\%03o", *p); /* octal: never swallows a following digit */
    out[0] = (char)*p;
    out[1] = '\0';
    return 1;
}

void silkgen_print_cstr(silkgen_buf *buf, const char *s)
{
    char c[8];
    silkgen_printf(buf, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        cstr_char(p, c);
        silkgen_printf(buf, "%s", c);
    }
    silkgen_printf(buf, "\"");
}

void silkgen_print_cstr_lines(silkgen_buf *buf, const char *indent, const char *s)
{
    char c[8];
    size_t start = strlen(indent), col = start + 1; /* after the opening quote */
    silkgen_printf(buf, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        size_t n = cstr_char(p, c);
        if (col + n + 2 > SILKGEN_COLUMNS) { /* room for the closing quote and a ';' */
            silkgen_printf(buf, "\"\n%s\"", indent);
            col = start + 1;
        }
        silkgen_printf(buf, "%s", c);
        col += n;
    }
    silkgen_printf(buf, "\"");
}

/* print_comment_line prints one line of comment text after " *", defusing the two
 * sequences that would end the comment or trip -Wcomment. */
static void print_comment_line(silkgen_buf *buf, const char *line, size_t len)
{
    if (len > 0 && line[0] != ' ')
        silkgen_printf(buf, " ");
    for (size_t i = 0; i < len; i++) {
        bool opens = line[i] == '/' && i + 1 < len && line[i + 1] == '*';
        bool closes = line[i] == '/' && i > 0 && line[i - 1] == '*';
        silkgen_printf(buf, "%c", opens || closes ? ' ' : line[i]);
    }
}

void silkgen_print_proto_comment(silkgen_buf *buf, const char *indent, const char *text)
{
    if (text == NULL || text[strspn(text, " \t\r\n")] == '\0')
        return;
    size_t blank = 0; /* blank lines held back: printed only between lines of text */
    bool printed = false;
    silkgen_printf(buf, "%s/*\n", indent);
    for (const char *line = text; *line != '\0';) {
        size_t len = strcspn(line, "\r\n");
        size_t end = len;
        while (end > 0 && (line[end - 1] == ' ' || line[end - 1] == '\t'))
            end--;
        if (end == 0) {
            blank += printed;
        } else {
            for (; blank > 0; blank--)
                silkgen_printf(buf, "%s *\n", indent);
            printed = true;
            silkgen_printf(buf, "%s *", indent);
            print_comment_line(buf, line, end);
            silkgen_printf(buf, "\n");
        }
        line += len;
        if (*line == '\r')
            line++;
        if (*line == '\n')
            line++;
    }
    silkgen_printf(buf, "%s */\n", indent);
}

void silkgen_print_doc(silkgen_buf *buf, const char *indent, const char *fmt, ...)
{
    silkgen_buf text = {0};
    va_list ap;
    va_start(ap, fmt);
    silkgen_vprintf(&text, fmt, ap);
    va_end(ap);

    size_t col = strlen(indent) + 2; /* just after the opening mark */
    silkgen_printf(buf, "%s/*", indent);
    for (const char *w = text.data; w != NULL && *w != '\0';) {
        w += strspn(w, " ");
        size_t len = strcspn(w, " ");
        if (len == 0)
            break;
        bool last = w[len + strspn(w + len, " ")] == '\0';
        /* Room for the word and its space, and after the last word for the closing mark. */
        if (col > strlen(indent) + 2 && col + 1 + len + (last ? 3 : 0) > SILKGEN_COLUMNS) {
            silkgen_printf(buf, "\n%s *", indent);
            col = strlen(indent) + 2;
        }
        silkgen_printf(buf, " %.*s", (int)len, w);
        col += 1 + len;
        w += len;
    }
    silkgen_printf(buf, " */\n");
    silkgen_buf_fini(&text);
}

void silkgen_print_call(silkgen_buf *buf, const char *head, const char *const *params,
                        size_t n_params, const char *tail)
{
    size_t align = strlen(head) + 1, col = align;
    silkgen_printf(buf, "%s(", head);
    /* When a parameter cannot fit after the '(', all go on the next lines, indented by four
     * more than the head, as clang-format does. */
    for (size_t i = 0; i < n_params; i++) {
        size_t len = strlen(params[i]) + (i + 1 == n_params ? 1 + strcspn(tail, "\n") : 1);
        if (align + len > SILKGEN_COLUMNS) {
            align = strspn(head, " ") + 4;
            silkgen_printf(buf, "\n%*s", (int)align, "");
            col = align;
            break;
        }
    }
    for (size_t i = 0; i < n_params; i++) {
        bool last = i + 1 == n_params;
        /* The parameter, its ',' or the ')' and the tail's first line must fit. */
        size_t len = strlen(params[i]) + (last ? 1 + strcspn(tail, "\n") : 1);
        if (i > 0 && col + 1 + len > SILKGEN_COLUMNS) {
            silkgen_printf(buf, "\n%*s", (int)align, "");
            col = align;
        } else if (i > 0) {
            silkgen_printf(buf, " ");
            col++;
        }
        silkgen_printf(buf, "%s%s", params[i], last ? "" : ",");
        col += len;
    }
    silkgen_printf(buf, ")%s", tail);
}
