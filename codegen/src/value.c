/* value.c - JSON values as a tree, built by openapi.c and printed compact or indented. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "silkgen.h"

static silkgen_value *value_new(silkgen_value_kind kind, const char *text)
{
    silkgen_value *v = silkgen_xcalloc(1, sizeof *v);
    v->kind = kind;
    v->text = text != NULL ? silkgen_strdup(text) : NULL;
    return v;
}

silkgen_value *silkgen_object(void)
{
    return value_new(SILKGEN_OBJECT, NULL);
}

silkgen_value *silkgen_array(void)
{
    return value_new(SILKGEN_ARRAY, NULL);
}

silkgen_value *silkgen_string(const char *s)
{
    silkgen_value *v = value_new(SILKGEN_STRING, NULL);
    char *repaired = silk__utf8_repair(s, strlen(s), NULL);
    if (repaired == NULL)
        abort();
    v->text = repaired;
    return v;
}

silkgen_value *silkgen_literal(const char *text)
{
    return value_new(SILKGEN_LITERAL, text);
}

/* grow makes room for one more member or element in v. */
static void grow(silkgen_value *v)
{
    if (v->n < v->cap)
        return;
    v->cap = v->cap ? v->cap * 2 : 4;
    v->items = realloc(v->items, v->cap * sizeof *v->items);
    if (v->kind == SILKGEN_OBJECT)
        v->keys = realloc(v->keys, v->cap * sizeof *v->keys);
    if (v->items == NULL || (v->kind == SILKGEN_OBJECT && v->keys == NULL))
        abort();
}

/* member_index returns the index of obj's member key, or obj->n when it has none. */
static size_t member_index(const silkgen_value *obj, const char *key)
{
    size_t i = 0;
    while (i < obj->n && strcmp(obj->keys[i], key) != 0)
        i++;
    return i;
}

silkgen_value *silkgen_set(silkgen_value *obj, const char *key, silkgen_value *v)
{
    size_t i = member_index(obj, key);
    if (i < obj->n) {
        silkgen_value_free(obj->items[i]);
        obj->items[i] = v;
        return v;
    }
    grow(obj);
    obj->keys[obj->n] = silkgen_strdup(key);
    obj->items[obj->n++] = v;
    return v;
}

silkgen_value *silkgen_get(const silkgen_value *obj, const char *key)
{
    if (obj == NULL || obj->kind != SILKGEN_OBJECT)
        return NULL;
    size_t i = member_index(obj, key);
    return i < obj->n ? obj->items[i] : NULL;
}

silkgen_value *silkgen_push(silkgen_value *arr, silkgen_value *v)
{
    grow(arr);
    arr->items[arr->n++] = v;
    return v;
}

silkgen_value *silkgen_value_copy(const silkgen_value *v)
{
    silkgen_value *c = value_new(v->kind, v->text);
    for (size_t i = 0; i < v->n; i++) {
        if (v->kind == SILKGEN_OBJECT)
            silkgen_set(c, v->keys[i], silkgen_value_copy(v->items[i]));
        else
            silkgen_push(c, silkgen_value_copy(v->items[i]));
    }
    return c;
}

void silkgen_value_free(silkgen_value *v)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < v->n; i++) {
        silkgen_value_free(v->items[i]);
        if (v->keys != NULL)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->text);
    free(v);
}

/* print_string prints s as a JSON string: '"', '\\' and control bytes escaped, the rest (UTF-8,
 * repaired when the value was made) as it is. */
static void print_string(silkgen_buf *out, const char *s)
{
    silkgen_printf(out, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\')
            silkgen_printf(out, "\\%c", *p);
        else if (*p == '\n')
            silkgen_printf(out, "\\n");
        else if (*p == '\t')
            silkgen_printf(out, "\\t");
        else if (*p < 0x20 || *p == 0x7f)
            silkgen_printf(out, "\\u%04x", *p);
        else
            silkgen_printf(out, "%c", *p);
    }
    silkgen_printf(out, "\"");
}

/* print_value prints v at nesting depth (for the indented form). */
static void print_value(const silkgen_value *v, bool pretty, int depth, silkgen_buf *out)
{
    if (v->kind == SILKGEN_STRING) {
        print_string(out, v->text);
        return;
    }
    if (v->kind == SILKGEN_LITERAL) {
        silkgen_printf(out, "%s", v->text);
        return;
    }
    bool obj = v->kind == SILKGEN_OBJECT;
    silkgen_printf(out, "%c", obj ? '{' : '[');
    for (size_t i = 0; i < v->n; i++) {
        if (i > 0)
            silkgen_printf(out, ",");
        if (pretty)
            silkgen_printf(out, "\n%*s", 2 * (depth + 1), "");
        if (obj) {
            print_string(out, v->keys[i]);
            silkgen_printf(out, pretty ? ": " : ":");
        }
        print_value(v->items[i], pretty, depth + 1, out);
    }
    if (pretty && v->n > 0)
        silkgen_printf(out, "\n%*s", 2 * depth, "");
    silkgen_printf(out, "%c", obj ? '}' : ']');
}

void silkgen_value_print(const silkgen_value *v, bool pretty, silkgen_buf *out)
{
    print_value(v, pretty, 0, out);
}
