/* routes.c - which linked service a request is for: a WebSocket route or a method's web path. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http/routes.h"

/* ============================================================================
 * Web path templates
 *
 * A template is segments between '/': a literal, "*" (one segment), "**" (the rest of the
 * path: one or more segments, last in the template), or a variable: "{field}" takes one
 * segment, "{field=pattern}" the segments its pattern of literals, "*" and "**" matches, as in
 * "{path=**}" or "{name=shelves/ * /books/ *}" (without the spaces, which keep this comment
 * closed). A variable's value is the request path's text its segments matched.
 * ========================================================================== */

/* The most segments a template may have. */
#define MAX_ATOMS 32

typedef enum atom_kind { ATOM_LITERAL, ATOM_ONE, ATOM_REST } atom_kind;

/* One segment a template expects; var is the variable it belongs to, or -1. */
typedef struct atom {
    atom_kind kind;
    const char *text;
    size_t len;
    int var;
} atom;

typedef struct parsed_template {
    size_t n_atoms, n_vars;
    atom atoms[MAX_ATOMS];
    struct {
        const char *name;
        size_t len;
    } vars[SILK__GW_ROUTE_MAX_PARAMS];
} parsed_template;

/* add_atom appends the segment text[0..len) of variable var; false when there are too many
 * or "**" is not last. */
static bool add_atom(parsed_template *pt, const char *text, size_t len, int var)
{
    if (pt->n_atoms == MAX_ATOMS ||
        (pt->n_atoms > 0 && pt->atoms[pt->n_atoms - 1].kind == ATOM_REST))
        return false;
    atom_kind kind = len == 1 && text[0] == '*'                     ? ATOM_ONE
                     : len == 2 && text[0] == '*' && text[1] == '*' ? ATOM_REST
                                                                    : ATOM_LITERAL;
    pt->atoms[pt->n_atoms++] = (atom){.kind = kind, .text = text, .len = len, .var = var};
    return true;
}

/* add_pattern appends the '/'-separated segments of text[0..len) for variable var. */
static bool add_pattern(parsed_template *pt, const char *text, size_t len, int var)
{
    const char *end = text + len;
    for (const char *p = text;;) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        const char *stop = slash != NULL ? slash : end;
        if (stop == p || !add_atom(pt, p, (size_t)(stop - p), var))
            return false;
        if (slash == NULL)
            return true;
        p = slash + 1;
    }
}

/* add_variable appends the variable "{...}" at t (len bytes, braces included). */
static bool add_variable(parsed_template *pt, const char *t, size_t len)
{
    if (pt->n_vars == SILK__GW_ROUTE_MAX_PARAMS)
        return false;
    const char *inner = t + 1;
    size_t inner_len = len - 2;
    const char *eq = memchr(inner, '=', inner_len);
    size_t name_len = eq != NULL ? (size_t)(eq - inner) : inner_len;
    if (name_len == 0)
        return false;
    int var = (int)pt->n_vars++;
    pt->vars[var].name = inner;
    pt->vars[var].len = name_len;
    if (eq == NULL)
        return add_atom(pt, "*", 1, var);
    return add_pattern(pt, eq + 1, inner_len - name_len - 1, var);
}

/* parse_template splits a template into atoms; false when it is malformed (protoc-gen-silk
 * rejects such templates, so only hand-made descriptors have them). */
static bool parse_template(const char *t, parsed_template *pt)
{
    pt->n_atoms = pt->n_vars = 0;
    while (*t == '/')
        t++;
    while (*t != '\0') {
        size_t len;
        bool ok;
        if (*t == '{') {
            const char *close = strchr(t, '}');
            if (close == NULL)
                return false;
            len = (size_t)(close - t) + 1;
            ok = add_variable(pt, t, len);
        } else {
            len = strcspn(t, "/");
            ok = len > 0 && add_atom(pt, t, len, -1);
        }
        if (!ok || (t[len] != '/' && t[len] != '\0'))
            return false;
        t += len + (t[len] == '/');
    }
    return true;
}

/* has_empty_segment tells whether the segments in p[0..len) have an empty one. */
static bool has_empty_segment(const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] == '/' && (i == 0 || i + 1 == len || p[i + 1] == '/'))
            return true;
    return false;
}

/* match_atoms matches the request path (no leading '/', len bytes: one trailing '/' already
 * cut) against pt's atoms. It returns the number of literal segments matched, or -1; the
 * variables' values are written into out->params. */
static int match_atoms(const char *path, size_t len, const parsed_template *pt, silk__gw_route *out)
{
    const char *first[SILK__GW_ROUTE_MAX_PARAMS] = {0}, *last[SILK__GW_ROUTE_MAX_PARAMS];
    const char *p = path, *end = path + len;
    int literals = 0;
    for (size_t i = 0; i < pt->n_atoms; i++) {
        const atom *a = &pt->atoms[i];
        if (p == NULL)
            return -1; /* the path ended before the template */
        const char *slash = memchr(p, '/', (size_t)(end - p));
        const char *stop = a->kind == ATOM_REST ? end : slash != NULL ? slash : end;
        size_t seg = (size_t)(stop - p);
        if (seg == 0 || (a->kind == ATOM_REST && has_empty_segment(p, seg)))
            return -1;
        if (a->kind == ATOM_LITERAL) {
            if (seg != a->len || strncasecmp(p, a->text, seg) != 0)
                return -1;
            literals++;
        }
        if (a->var >= 0) {
            if (first[a->var] == NULL)
                first[a->var] = p;
            last[a->var] = stop;
        }
        p = stop < end ? stop + 1 : NULL;
    }
    if (p != NULL)
        return -1; /* the path goes on */
    for (size_t k = 0; k < pt->n_vars; k++)
        out->params[k] = (silk__gw_route_param){.name = pt->vars[k].name,
                                                .name_len = pt->vars[k].len,
                                                .value = first[k],
                                                .value_len = (size_t)(last[k] - first[k])};
    out->n_params = pt->n_vars;
    return literals;
}

/* match_template matches a request path (without its leading '/') against a web path
 * template. It returns the number of literal segments matched, or -1 when it does not
 * match; params are filled. */
static int match_template(const char *path, const char *tmpl, silk__gw_route *out)
{
    parsed_template pt;
    if (!parse_template(tmpl, &pt))
        return -1;
    size_t len = strlen(path);
    /* One trailing '/' on the request is ignored: "a/b/" is "a/b". */
    if (len > 0 && path[len - 1] == '/')
        len--;
    return match_atoms(path, len, &pt, out);
}

static enum http_method http_method_of(silk_http_verb verb)
{
    switch (verb) {
    case SILK_HTTP_GET:
        return HTTP_GET;
    case SILK_HTTP_PUT:
        return HTTP_PUT;
    case SILK_HTTP_DELETE:
        return HTTP_DELETE;
    case SILK_HTTP_PATCH:
        return HTTP_PATCH;
    case SILK_HTTP_POST:
    default:
        return HTTP_POST;
    }
}

/* method_template returns a method's web path, or writes the default into buf. */
static const char *method_template(const silk_service_desc *svc, const silk_method_desc *m,
                                   char *buf, size_t size)
{
    if (m->http_path != NULL && m->http_path[0] != '\0')
        return m->http_path;
    size_t n = strlen(svc->route);
    if (n + 1 >= size)
        n = size - 1;
    memcpy(buf, svc->route, n);
    if (n + 1 < size)
        buf[n++] = '/';
    for (size_t i = 0; m->name[i] != '\0' && n + 1 < size; i++)
        buf[n++] = (char)tolower((unsigned char)m->name[i]);
    buf[n] = '\0';
    return buf;
}

/* cannot_match tells, without parsing tmpl, that it cannot match path (no leading '/', len
 * bytes: one trailing '/' already cut): the literal text that begins tmpl, up to its first
 * variable or wildcard and without a trailing '/', must begin path. This spares most
 * methods of a service the parsing and matching for each request. */
static bool cannot_match(const char *path, size_t len, const char *tmpl)
{
    while (*tmpl == '/')
        tmpl++;
    size_t n = strcspn(tmpl, "{*");
    while (n > 0 && tmpl[n - 1] == '/')
        n--;
    return n > len || strncasecmp(path, tmpl, n) != 0;
}

#define VERB(m) (1u << (unsigned)(m))

silk__gw_route_kind silk__gw_route_find(const silk_service_desc *const *services, size_t n_services,
                                        enum http_method method, const char *path,
                                        silk__gw_route *out)
{
    memset(out, 0, sizeof *out);
    if (method == HTTP_HEAD)
        method = HTTP_GET;
    while (*path == '/')
        path++;
    if (strcmp(path, "healthz") == 0 || strcmp(path, "metrics") == 0) {
        out->allow = VERB(HTTP_GET) | VERB(HTTP_HEAD);
        out->kind = method != HTTP_GET ? SILK__GW_ROUTE_BAD_METHOD
                    : path[0] == 'h'   ? SILK__GW_ROUTE_HEALTH
                                       : SILK__GW_ROUTE_METRICS;
        return out->kind;
    }
    int best = -1;
    silk__gw_route r;
    size_t len = strlen(path);
    if (len > 0 && path[len - 1] == '/')
        len--;
    for (size_t i = 0; i < n_services; i++) {
        const silk_service_desc *svc = services[i];
        for (size_t j = 0; j < svc->n_methods; j++) {
            const silk_method_desc *m = &svc->methods[j];
            char buf[256];
            const char *tmpl = method_template(svc, m, buf, sizeof buf);
            if (cannot_match(path, len, tmpl))
                continue;
            memset(&r, 0, sizeof r);
            int score = match_template(path, tmpl, &r);
            if (score < 0)
                continue;
            enum http_method verb = http_method_of(m->http_verb);
            out->allow |= VERB(verb) | (verb == HTTP_GET ? VERB(HTTP_HEAD) : 0);
            if (verb != method || score <= best)
                continue;
            best = score;
            silk__gw_verbs allow = out->allow;
            *out = r;
            out->allow = allow;
            out->kind = SILK__GW_ROUTE_CALL;
            out->service_index = i;
            out->service = svc;
            out->method = m;
        }
        size_t rl = strlen(svc->route);
        if (svc->websocket && strncasecmp(path, svc->route, rl) == 0 &&
            (path[rl] == '\0' || (path[rl] == '/' && path[rl + 1] == '\0'))) {
            out->allow |= VERB(HTTP_GET) | VERB(HTTP_HEAD);
            if (method == HTTP_GET && best < 0) {
                silk__gw_verbs allow = out->allow;
                memset(out, 0, sizeof *out);
                out->allow = allow;
                out->kind = SILK__GW_ROUTE_WEBSOCKET;
                out->service_index = i;
                out->service = svc;
                best = 1000; /* the route itself wins over any method path */
            }
        }
    }
    if (out->kind == SILK__GW_ROUTE_NONE && out->allow != 0)
        out->kind = SILK__GW_ROUTE_BAD_METHOD;
    return out->kind;
}

char *silk__gw_route_allow(silk__gw_verbs allow, char *out, size_t out_size)
{
    static const enum http_method order[] = {HTTP_GET, HTTP_HEAD,  HTTP_POST,
                                             HTTP_PUT, HTTP_PATCH, HTTP_DELETE};
    size_t n = 0;
    if (out_size == 0)
        return out;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        if (!(allow & VERB(order[i])))
            continue;
        int w = snprintf(out + n, out_size - n, "%s%s", n ? ", " : "", http_method_str(order[i]));
        if (w < 0 || (size_t)w >= out_size - n)
            break;
        n += (size_t)w;
    }
    return out;
}

/* ============================================================================
 * The business id
 * ========================================================================== */

/* The names a business id goes by. */
static const char *const query_names[] = {"businessId", "bussinessId"};
static const char *const header_names[] = {"businessId", "bussinessId", "business-id"};

bool silk__gw_route_is_business_id_name(const char *name)
{
    for (size_t i = 0; i < sizeof query_names / sizeof query_names[0]; i++)
        if (strcasecmp(name, query_names[i]) == 0)
            return true;
    return strcasecmp(name, "business_id") == 0;
}

long silk__gw_route_business_id(const silk__gw_http_request *req, char *out, size_t out_size)
{
    for (size_t i = 0; i < sizeof query_names / sizeof query_names[0]; i++) {
        long n = silk__gw_http_query_get(req->query, query_names[i], out, out_size);
        if (n > 0 && n <= SILK__GW_BUSINESS_ID_MAX)
            return n;
    }
    for (size_t i = 0; i < sizeof header_names / sizeof header_names[0]; i++) {
        const char *v = silk__gw_http_header_get(req, header_names[i]);
        size_t n = v ? strlen(v) : 0;
        if (n > 0 && n <= SILK__GW_BUSINESS_ID_MAX && n < out_size) {
            memcpy(out, v, n + 1);
            return (long)n;
        }
    }
    return -1;
}
