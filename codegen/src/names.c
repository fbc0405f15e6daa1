/* names.c - protobuf-c's name mangling (so one program reads as one style), and silk's names. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "silkgen.h"

/* to_camel is protobuf-c's ToCamel on one piece of a name: "shop_v1" gives "ShopV1". */
static void to_camel(silkgen_buf *out, const char *piece, size_t len)
{
    bool next_upper = true;
    for (size_t i = 0; i < len; i++) {
        if (piece[i] == '_') {
            next_upper = true;
        } else {
            silkgen_printf(out, "%c", next_upper ? toupper((unsigned char)piece[i]) : piece[i]);
            next_upper = false;
        }
    }
}

/* camel_to_lower is protobuf-c's CamelToLower on one piece: an '_' goes before an upper-case
 * letter that follows anything but an upper-case letter ("GetURL" gives "get_url",
 * "HTTPAudit" gives "httpaudit", "V2Thing" gives "v2_thing"). */
static void camel_to_lower(silkgen_buf *out, const char *piece, size_t len)
{
    bool was_upper = true; /* no '_' in front */
    for (size_t i = 0; i < len; i++) {
        bool is_upper = isupper((unsigned char)piece[i]) != 0;
        if (is_upper && !was_upper)
            silkgen_printf(out, "_");
        silkgen_printf(out, "%c", tolower((unsigned char)piece[i]));
        was_upper = is_upper;
    }
}

/* override_full_name is protobuf-c's OverrideFullName: with (pb_c_file).c_package set, the
 * package part of a full name declared in file is replaced by it. */
static char *override_full_name(const char *full_name, const silkgen_file_proto *file)
{
    char *c_package = silkgen_c_package(file);
    if (c_package == NULL)
        return silkgen_strdup(full_name);
    const char *package = file->package ? file->package : "";
    size_t plen = strlen(package);
    if (strncmp(full_name, package, plen) != 0)
        plen = 0; /* not declared in file after all: keep the name as it is */
    char *name = silkgen_format("%s%s%s", c_package, plen == 0 ? "." : "", full_name + plen);
    free(c_package);
    return name;
}

/* join_pieces applies fn to each dot-separated piece of a full name, joined by "__", empty
 * pieces skipped, as protobuf-c's FullNameTo* do. */
static char *join_pieces(const char *full_name, const silkgen_file_proto *file,
                         void (*fn)(silkgen_buf *, const char *, size_t))
{
    char *name = override_full_name(full_name + (full_name[0] == '.'), file);
    silkgen_buf out = {0};
    for (const char *p = name; *p != '\0';) {
        size_t len = strcspn(p, ".");
        if (len > 0) {
            if (out.len > 0)
                silkgen_printf(&out, "__");
            fn(&out, p, len);
        }
        p += len + (p[len] == '.');
    }
    free(name);
    return silkgen_buf_take(&out);
}

char *silkgen_c_name(const char *full_name, const silkgen_file_proto *file)
{
    return join_pieces(full_name, file, to_camel);
}

char *silkgen_c_lower(const char *full_name, const silkgen_file_proto *file)
{
    return join_pieces(full_name, file, camel_to_lower);
}

char *silkgen_camel_to_lower(const char *name)
{
    silkgen_buf out = {0};
    camel_to_lower(&out, name, strlen(name));
    return silkgen_buf_take(&out);
}

bool silkgen_is_c_keyword(const char *name)
{
    /* C11's keywords that a lower-cased proto name can spell. */
    static const char *const keywords[] = {
        "auto",    "break",  "case",     "char",   "const",    "continue", "default",
        "do",      "double", "else",     "enum",   "extern",   "float",    "for",
        "goto",    "if",     "inline",   "int",    "long",     "register", "restrict",
        "return",  "short",  "signed",   "sizeof", "static",   "struct",   "switch",
        "typedef", "union",  "unsigned", "void",   "volatile", "while",
    };
    for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++)
        if (strcmp(name, keywords[i]) == 0)
            return true;
    return false;
}

/* has_suffix tells whether s ends with suffix (and is longer than it). */
static bool has_suffix(const char *s, size_t len, const char *suffix)
{
    size_t n = strlen(suffix);
    return len > n && strcmp(s + len - n, suffix) == 0;
}

char *silkgen_proto_stem(const char *proto_path)
{
    size_t len = strlen(proto_path);
    if (has_suffix(proto_path, len, ".protodevel"))
        len -= strlen(".protodevel");
    else if (has_suffix(proto_path, len, ".proto"))
        len -= strlen(".proto");
    return silkgen_format("%.*s", (int)len, proto_path);
}

char *silkgen_header_guard(const char *header_path)
{
    silkgen_buf out = {0};
    silkgen_printf(&out, "SILK_GENERATED_");
    for (const char *p = header_path; *p != '\0'; p++)
        silkgen_printf(&out, "%c", isalnum((unsigned char)*p) ? toupper((unsigned char)*p) : '_');
    return silkgen_buf_take(&out);
}

char *silkgen_service_slug(const char *service_name)
{
    size_t len = strlen(service_name);
    if (has_suffix(service_name, len, "AppService"))
        len -= strlen("AppService");
    else if (has_suffix(service_name, len, "Service"))
        len -= strlen("Service");
    char *slug = silkgen_format("%.*s", (int)len, service_name);
    for (char *p = slug; *p != '\0'; p++)
        *p = (char)tolower((unsigned char)*p);
    return slug;
}

/* trim_slashes returns s[0..len) without '/' at either end. Caller frees. */
static char *trim_slashes(const char *s, size_t len)
{
    while (len > 0 && *s == '/')
        s++, len--;
    while (len > 0 && s[len - 1] == '/')
        len--;
    return silkgen_format("%.*s", (int)len, s);
}

char *silkgen_route(const char *route_template, const char *service_name)
{
    static const char placeholder[] = "{service}";
    const char *tmpl = route_template && *route_template ? route_template : "api/{service}";
    char *slug = silkgen_service_slug(service_name);
    silkgen_buf out = {0};
    for (const char *p = tmpl; *p != '\0';) {
        const char *at = strstr(p, placeholder);
        size_t len = at ? (size_t)(at - p) : strlen(p);
        silkgen_printf(&out, "%.*s%s", (int)len, p, at ? slug : "");
        p += len + (at ? strlen(placeholder) : 0);
    }
    free(slug);
    char *expanded = silkgen_buf_take(&out);
    char *route = trim_slashes(expanded, strlen(expanded));
    free(expanded);
    return route;
}

char *silkgen_http_path(const char *route, const char *rel, const char *method_name)
{
    char *tail = rel ? trim_slashes(rel, strlen(rel)) : silkgen_strdup(method_name);
    if (rel == NULL)
        for (char *p = tail; *p != '\0'; p++)
            *p = (char)tolower((unsigned char)*p);
    char *path = silkgen_format("%s%s%s", route, *route && *tail ? "/" : "", tail);
    free(tail);
    return path;
}
