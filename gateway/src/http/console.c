/* console.c - GET /_silk/ (--console): the console page, its assets and the data it reads.
 *
 * The page (gateway/console/) and silk.js are compiled into the binary (console_assets.c,
 * written by cmake/SilkEmbed.cmake) and served to anyone: they hold no data. What the page
 * reads of the gateway - the OpenAPI document, the instances - is data, and with --jwt-key
 * needs the token, as /metrics does; config.json tells the page whether to ask for one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn/client.h"
#include "http/console.h"
#include "http/instances.h"

typedef silk__gw_client client;

/* What every console answer carries; the page's own headers add what it may load: itself
 * alone, no frames, no plugins, nothing from elsewhere. */
#define COMMON_HEADERS "X-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n"
#define PAGE_HEADERS                                                                               \
    "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; "           \
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "              \
    "frame-ancestors 'none'\r\n"

const silk__gw_console_asset *silk__gw_console_asset_find(const char *name)
{
    for (size_t i = 0; i < silk__gw_console_assets_count; i++)
        if (strcmp(silk__gw_console_assets[i].name, name) == 0)
            return &silk__gw_console_assets[i];
    return NULL;
}

/* etag_matches tells whether an If-None-Match value names etag (RFC 9110 13.1.2: "*", or a
 * list of entity tags compared weakly, so W/ is ignored). */
static bool etag_matches(const char *if_none_match, const char *etag)
{
    if (if_none_match == NULL)
        return false;
    if (strcmp(if_none_match, "*") == 0)
        return true;
    size_t n = strlen(etag);
    for (const char *p = if_none_match; (p = strstr(p, etag)) != NULL; p += n) {
        bool starts = p == if_none_match || p[-1] == ' ' || p[-1] == ',' || p[-1] == '/';
        bool ends = p[n] == '\0' || p[n] == ' ' || p[n] == ',';
        if (starts && ends)
            return true;
    }
    return false;
}

/* respond_asset answers one asset: 304 when the client has it, else the bytes. */
static int respond_asset(client *c, const silk__gw_console_asset *a, bool close)
{
    char headers[512];
    snprintf(headers, sizeof headers, "ETag: %s\r\nCache-Control: no-cache\r\n" COMMON_HEADERS "%s",
             a->etag, a->name[0] == '\0' ? PAGE_HEADERS : "");
    if (etag_matches(silk__gw_http_header_get(&c->http->req, "If-None-Match"), a->etag))
        return silk__gw_respond_typed(c, 304, headers, NULL, NULL, 0, close);
    return silk__gw_respond_typed(c, 200, headers, a->type, (const char *)a->data, a->len, close);
}

/* respond_data answers one of the data the page reads, JSON text (taken; NULL: out of
 * memory), never kept by a cache. */
static int respond_data(client *c, char *json, bool close)
{
    if (json == NULL)
        return -1;
    int rv = silk__gw_respond_typed(c, 200, "Cache-Control: no-store\r\n" COMMON_HEADERS,
                                    "application/json", json, strlen(json), close);
    free(json);
    return rv;
}

/* respond_named answers name, the path after "/_silk/": the data, or an asset, or 404. */
static int respond_named(client *c, const char *name, bool close)
{
    silk__gw *gw = c->loop->gw;
    int rv = 0;
    if (strcmp(name, "config.json") == 0)
        return respond_data(
            c, strdup(gw->opts.jwt ? "{\"tokenRequired\":true}" : "{\"tokenRequired\":false}"),
            close);
    if (strcmp(name, "openapi.json") == 0)
        return silk__gw_token_ok(c, close, &rv) ? respond_data(c, strdup(gw->openapi), close) : rv;
    if (strcmp(name, "instances") == 0)
        return silk__gw_token_ok(c, close, &rv)
                   ? respond_data(c, silk__gw_instances_json(gw), close)
                   : rv;
    const silk__gw_console_asset *a = silk__gw_console_asset_find(name);
    if (a != NULL)
        return respond_asset(c, a, close);
    char msg[300];
    snprintf(msg, sizeof msg, "no console asset %.200s", name);
    return silk__gw_respond_error(c, 404, SILK_NOT_FOUND, msg, NULL, close);
}

int silk__gw_console_respond(client *c, bool close)
{
    const char *path = c->http->req.path;
    if (!c->loop->gw->opts.console) {
        char msg[300];
        snprintf(msg, sizeof msg, "no route for %s %.200s", http_method_str(c->http->req.method),
                 path);
        return silk__gw_respond_error(c, 404, SILK_NOT_FOUND, msg, NULL, close);
    }
    while (*path == '/')
        path++;
    path += strlen(SILK__GW_CONSOLE_NAME); /* routes.c matched it */
    if (*path == '\0')
        return silk__gw_respond_typed(c, 301, "Location: /" SILK__GW_CONSOLE_NAME "/\r\n", NULL,
                                      NULL, 0, close);
    return respond_named(c, path + 1, close);
}
