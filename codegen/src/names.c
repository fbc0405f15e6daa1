/* names.c - protobuf-c's name mangling (so one program reads as one style) and silk's names. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "codegen.h"

/* to_camel is protobuf-c's ToCamel: "b_c" -> "BC", "outer" -> "Outer". */
static void to_camel(silkgen_buf *out, const char *piece, size_t len)
{
    int next_upper = 1;
    for (size_t i = 0; i < len; i++) {
        if (piece[i] == '_') {
            next_upper = 1;
        } else if (next_upper) {
            silkgen_printf(out, "%c", toupper((unsigned char)piece[i]));
            next_upper = 0;
        } else {
            silkgen_printf(out, "%c", piece[i]);
        }
    }
}

/* camel_to_lower is protobuf-c's CamelToLower: an '_' before an upper-case letter that
 * follows a lower-case one ("GetURL" -> "get_url", "HTTPThing" -> "httpthing"). */
static void camel_to_lower(silkgen_buf *out, const char *name, size_t len)
{
    int was_upper = 1;
    for (size_t i = 0; i < len; i++) {
        int is_upper = isupper((unsigned char)name[i]) != 0;
        if (is_upper && !was_upper)
            silkgen_printf(out, "_");
        silkgen_printf(out, "%c", tolower((unsigned char)name[i]));
        was_upper = is_upper;
    }
}

typedef void (*piece_fn)(silkgen_buf *out, const char *piece, size_t len);

/* join_pieces applies fn to each dot-separated piece of a full name, joined by "__". */
static char *join_pieces(const char *full_name, piece_fn fn)
{
    silkgen_buf out = {0};
    const char *p = full_name;
    while (*p != '\0') {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        if (len > 0) {
            if (out.len > 0)
                silkgen_printf(&out, "__");
            fn(&out, p, len);
        }
        p += len + (dot != NULL);
    }
    return silkgen_buf_take(&out);
}

char *silkgen_type_name(const char *full_name)
{
    return join_pieces(full_name, to_camel);
}

char *silkgen_lower_name(const char *full_name)
{
    return join_pieces(full_name, camel_to_lower);
}

char *silkgen_camel_to_lower(const char *name)
{
    silkgen_buf out = {0};
    camel_to_lower(&out, name, strlen(name));
    return silkgen_buf_take(&out);
}

char *silkgen_file_stem(const char *proto_path)
{
    size_t len = strlen(proto_path);
    if (len > 6 && strcmp(proto_path + len - 6, ".proto") == 0)
        len -= 6;
    return silkgen_strdup_printf("%.*s", (int)len, proto_path);
}

char *silkgen_file_ident(const char *proto_path)
{
    silkgen_buf out = {0};
    for (const char *p = proto_path; *p != '\0'; p++) {
        if (isalnum((unsigned char)*p))
            silkgen_printf(&out, "%c", *p);
        else
            silkgen_printf(&out, "_%x", (unsigned char)*p);
    }
    return silkgen_buf_take(&out);
}

char *silkgen_lowercase(const char *s)
{
    char *out = silkgen_strdup(s);
    for (char *p = out; *p != '\0'; p++)
        *p = (char)tolower((unsigned char)*p);
    return out;
}

/* service_slug is the service name lower-cased, without a trailing "AppService" or "Service". */
static char *service_slug(const char *service_name)
{
    static const char *const suffixes[] = {"AppService", "Service"};
    size_t len = strlen(service_name);
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        size_t n = strlen(suffixes[i]);
        if (len > n && strcmp(service_name + len - n, suffixes[i]) == 0) {
            len -= n;
            break;
        }
    }
    char *cut = silkgen_strdup_printf("%.*s", (int)len, service_name);
    char *slug = silkgen_lowercase(cut);
    free(cut);
    return slug;
}

char *silkgen_route(const char *route_template, const char *service_name)
{
    const char *tmpl = route_template && *route_template ? route_template : "api/{service}";
    char *slug = service_slug(service_name);
    silkgen_buf out = {0};
    for (const char *p = tmpl; *p != '\0';) {
        if (strncmp(p, "{service}", 9) == 0) {
            silkgen_printf(&out, "%s", slug);
            p += 9;
        } else {
            silkgen_printf(&out, "%c", *p++);
        }
    }
    free(slug);
    char *route = silkgen_buf_take(&out);
    size_t start = strspn(route, "/");
    size_t end = strlen(route);
    while (end > start && route[end - 1] == '/')
        end--;
    char *trimmed = silkgen_strdup_printf("%.*s", (int)(end - start), route + start);
    free(route);
    return trimmed;
}
